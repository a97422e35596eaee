//! Views without a framework: a handful of DOM calls for apps whose views are small enough to
//! update by hand. A Leptos hello world is about 34 KB gzip before the app's own code; an app
//! written with these helpers pays only for the DOM calls it makes (nav went from 60 to 30 KB
//! gzip). An app keeps the elements it changes and sets them when its data or props change; [`micro_app!`](crate::micro_app)'s `mount:` form clears the mount point when
//! the app is unmounted, and dropping the [`View`] it returned drops its listeners.

use crate::Props;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::{Element, HtmlElement, Node};

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("no document: this code runs in a page")
}

/// A new element, `<tag>`.
pub fn el(tag: &str) -> Element {
    document()
        .create_element(tag)
        .expect("an element name the app chose")
}

/// A new SVG element, `<tag>` in the SVG namespace (a plot's `svg`, `rect`, `line`, `text`).
pub fn svg(tag: &str) -> Element {
    document()
        .create_element_ns(Some("http://www.w3.org/2000/svg"), tag)
        .expect("an element name the app chose")
}

/// Building an element in one expression: `el("a").attr("href", "/").text("Home")`.
pub trait Build: Sized {
    /// Sets an attribute.
    fn attr(self, name: &str, value: &str) -> Self;
    /// Appends a text node.
    fn text(self, text: &str) -> Self;
    /// Appends a child node.
    fn child(self, node: &Node) -> Self;
}

impl Build for Element {
    fn attr(self, name: &str, value: &str) -> Self {
        let _ = self.set_attribute(name, value);
        self
    }

    fn text(self, text: &str) -> Self {
        let _ = self.append_with_str_1(text);
        self
    }

    fn child(self, node: &Node) -> Self {
        let _ = self.append_child(node);
        self
    }
}

/// Sets an attribute, or removes it for `None` (`aria-current`, `hidden`, `disabled`).
pub fn set_attr(el: &Element, name: &str, value: Option<&str>) {
    let _ = match value {
        Some(v) => el.set_attribute(name, v),
        None => el.remove_attribute(name),
    };
}

/// The mark beside what a command still waiting in the outbox changed ([`crate::Marked`]'s
/// `pending`): the same words in every app.
pub fn pending_mark() -> Element {
    el("span")
        .attr("class", "pending-mark")
        .attr("title", "Saved on this device; not sent yet")
        .text(" · not sent yet")
}

/// Replaces an element's children with `nodes`.
pub fn replace_children(el: &Element, nodes: &[Element]) {
    el.set_text_content(None);
    for node in nodes {
        let _ = el.append_child(node);
    }
}

/// A place among a parent's children whose elements change as a whole (a loading notice, then
/// the list; a badge shown or not), marked by an empty text node so its neighbours stay put.
pub struct Slot {
    end: Node,
    shown: Vec<Element>,
}

impl Slot {
    /// A slot at the end of `parent`'s children, empty.
    pub fn new(parent: &Element) -> Slot {
        let end: Node = document().create_text_node("").into();
        let _ = parent.append_child(&end);
        Slot {
            end,
            shown: Vec::new(),
        }
    }

    /// Shows `elements` in the slot instead of what it showed.
    pub fn set(&mut self, elements: Vec<Element>) {
        for old in self.shown.drain(..) {
            old.remove();
        }
        if let Some(parent) = self.end.parent_node() {
            for el in &elements {
                let _ = parent.insert_before(el, Some(&self.end));
            }
        }
        self.shown = elements;
    }

    /// Shows one element, or nothing.
    pub fn show(&mut self, element: Option<Element>) {
        self.set(element.into_iter().collect());
    }
}

/// A mounted instance of an app, as [`micro_app!`](crate::micro_app) keeps it: told of new
/// props, dropped on unmount (with its listeners and timers).
pub trait View {
    /// The shell's new props for this instance (a session or route change); ignored unless
    /// the view says otherwise.
    fn update(&mut self, _props: Props) {}
}

/// A view that keeps nothing and ignores new props.
impl View for () {}

/// An app's mounted instances, by mount point: one module serves many (parcels).
#[doc(hidden)]
#[derive(Default)]
pub struct Instances(RefCell<Vec<(HtmlElement, Box<dyn View>)>>);

impl Instances {
    pub const fn new() -> Self {
        Self(RefCell::new(Vec::new()))
    }

    pub fn add(&self, element: HtmlElement, view: Box<dyn View>) {
        self.0.borrow_mut().push((element, view));
    }

    /// Takes the instance mounted at `element` out of the list, so what it does next (its
    /// drop, its update) may mount or unmount others (a parcel of the same app). The shell
    /// mounts one instance per element at a time.
    fn take(&self, element: &HtmlElement) -> Option<(HtmlElement, Box<dyn View>)> {
        let mut all = self.0.borrow_mut();
        let i = all.iter().position(|(el, _)| el == element)?;
        Some(all.swap_remove(i))
    }

    /// Drops the instance mounted at `element`.
    pub fn remove(&self, element: &HtmlElement) {
        drop(self.take(element));
    }

    /// Hands `props` to the instance mounted at `element`.
    pub fn update(&self, element: &HtmlElement, props: Props) {
        if let Some((element, mut view)) = self.take(element) {
            view.update(props);
            self.add(element, view);
        }
    }
}

/// A framework-free view that empties its mount point when dropped (unmounted), after which its
/// own fields (listeners, timers) go.
#[doc(hidden)]
pub struct Emptied<V> {
    element: HtmlElement,
    view: V,
}

impl<V: View> Emptied<V> {
    pub fn new(element: &HtmlElement, view: V) -> Self {
        Self {
            element: element.clone(),
            view,
        }
    }
}

impl<V: View> View for Emptied<V> {
    fn update(&mut self, props: Props) {
        self.view.update(props);
    }
}

impl<V> Drop for Emptied<V> {
    fn drop(&mut self) {
        self.element.set_text_content(None);
    }
}

/// A list's rows keyed by what they show. [`show`](Keyed::show) draws only the rows whose key
/// is new, keeps the others as they are (with what they hold: an open editor, a mounted
/// parcel), puts them in order and drops the rest, so a read that changes one item of a
/// thousand redraws one row.
pub struct Keyed<K, R> {
    list: Element,
    rows: Vec<Row<K, R>>,
}

struct Row<K, R> {
    key: K,
    element: Element,
    _held: R,
}

impl<K, R> Drop for Row<K, R> {
    fn drop(&mut self) {
        self.element.remove();
    }
}

impl<K: PartialEq, R> Keyed<K, R> {
    /// Rows in `list` (a `<ul>`, a `<tbody>`), none yet.
    pub fn new(list: Element) -> Self {
        Self {
            list,
            rows: Vec::new(),
        }
    }

    /// Shows a row per item, in order: the row of an item whose `key` is shown already stays,
    /// the others are drawn by `draw` (an element and what the row holds until it goes).
    pub fn show<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> K,
        mut draw: impl FnMut(&T) -> (Element, R),
    ) {
        let mut old: Vec<Option<Row<K, R>>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        // Where the next row most likely is among the old ones: after the last one found.
        let mut next = 0;
        for item in items {
            let k = key(&item);
            let is = |r: &Option<Row<K, R>>| r.as_ref().is_some_and(|r| r.key == k);
            let at = if old.get(next).is_some_and(is) {
                Some(next)
            } else {
                old.iter().position(is)
            };
            let row = match at.and_then(|at| {
                next = at + 1;
                old[at].take()
            }) {
                Some(row) => row,
                None => {
                    let (element, held) = draw(&item);
                    Row {
                        key: k,
                        element,
                        _held: held,
                    }
                }
            };
            self.rows.push(row);
        }
        // Rows no longer shown: removed, with what they held.
        drop(old);
        // In order: each row before the first one not yet in its place.
        let mut here = self.list.first_element_child();
        for row in &self.rows {
            if here.as_ref() == Some(&row.element) {
                here = row.element.next_element_sibling();
            } else {
                let _ = self
                    .list
                    .insert_before(&row.element, here.as_ref().map(|e| e.as_ref()));
            }
        }
    }
}

/// What an app shows at `<base>` (a list) and at `<base>/:id` (one item), drawn again only
/// when the id changes: the page drawn lives as long as it is shown, so dropping it (at the
/// next id, or when the app is unmounted with this) drops its listeners and what it mounted.
pub struct Pages {
    _location: crate::Listener,
    _shown: Rc<RefCell<Shown>>,
}

impl View for Pages {}

/// The id shown (`None`: the list) and its page.
type Shown = (Option<String>, Option<Box<dyn Any>>);

impl Pages {
    /// Shows in `container` what `draw(container, id)` draws for the current path, and again
    /// whenever the id in the path changes.
    pub fn new(
        container: Element,
        base: String,
        draw: impl Fn(&Element, Option<&str>) -> Box<dyn Any> + 'static,
    ) -> Pages {
        let shown: Rc<RefCell<Shown>> = Rc::default();
        let show = {
            let shown = shown.clone();
            move |path: &str| {
                // The shell unmounts the app when the path leaves its base; until then the
                // page shown stays.
                if !path.starts_with(base.as_str()) {
                    return;
                }
                let id = tessera_contract::routing::segment_after(&base, path);
                let mut shown = shown.borrow_mut();
                if shown.1.is_some() && shown.0 == id {
                    return;
                }
                // The old page's listeners and parcels go before the new page draws.
                shown.1 = None;
                container.set_text_content(None);
                let page = draw(&container, id.as_deref());
                *shown = (id, Some(page));
            }
        };
        show(&crate::current_path());
        Pages {
            _location: crate::on_location_change(move |p| show(&p)),
            _shown: shown,
        }
    }
}
