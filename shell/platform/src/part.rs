//! A place among a parent's nodes that comes and goes as a whole with a value the shell
//! follows (a part of the status bar with its " · ", the outbox panel, the update prompt).

use shell_common::watched::Watched;
use std::cell::RefCell;
use web_sys::{Element, Node};

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("the shell runs in a page")
}

/// A place among a parent's children whose nodes (text included: a part of the status bar
/// with its " · ") come and go as a whole.
pub struct Part {
    end: Node,
    shown: Vec<Node>,
}

impl Part {
    /// A part at the end of `parent`'s children, empty.
    pub fn new(parent: &Element) -> Part {
        let end: Node = document().create_text_node("").into();
        let _ = parent.append_child(&end);
        Part {
            end,
            shown: Vec::new(),
        }
    }

    /// A part at the end of `parent`'s children drawn by `draw` from `watched`'s value, now
    /// and after every change.
    pub fn follow<T: Clone + 'static>(
        parent: &Element,
        watched: &Watched<T>,
        draw: impl Fn(&T) -> Vec<Node> + 'static,
    ) {
        let part = RefCell::new(Part::new(parent));
        watched.follow(move |value| part.borrow_mut().set(draw(value)));
    }

    pub fn set(&mut self, nodes: Vec<Node>) {
        for old in self.shown.drain(..) {
            if let Some(parent) = old.parent_node() {
                let _ = parent.remove_child(&old);
            }
        }
        if let Some(parent) = self.end.parent_node() {
            for node in &nodes {
                let _ = parent.insert_before(node, Some(&self.end));
            }
        }
        self.shown = nodes;
    }
}

/// A text node, for a [`Part`].
pub fn text(text: &str) -> Node {
    document().create_text_node(text).into()
}
