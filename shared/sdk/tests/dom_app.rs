//! An app written with `micro_app!`'s `mount:` form and the SDK's DOM helpers, in a real
//! browser: the lifecycle exports per instance, slots, keyed rows and element listeners.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;
use tessera_sdk::dom::{el, Build, Keyed, Slot, View};
use tessera_sdk::{Host, Listener, Props};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: Named::mount);

/// Shows its props' name, and follows new props.
struct Named {
    shown: Element,
}

impl Named {
    fn mount(root: &HtmlElement, props: Props, _: Host) -> Named {
        let shown = el("p").attr("class", "name").text(&props.name);
        root.append_child(&shown).unwrap();
        Named { shown }
    }
}

impl View for Named {
    fn update(&mut self, props: Props) {
        self.shown.set_text_content(Some(&props.name));
    }
}

fn props(name: &str) -> JsValue {
    js_sys::JSON::parse(&format!(
        r#"{{"name":"{name}","basePath":"","abi":2,"session":{{"userName":null,"idToken":null,"roles":[]}}}}"#
    ))
    .unwrap()
}

fn element() -> HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let element: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&element).unwrap();
    element
}

#[wasm_bindgen_test]
fn each_instance_is_mounted_updated_and_emptied_on_its_own() {
    let (a, b) = (element(), element());
    mount(a.clone(), props("@t/one")).unwrap();
    mount(b.clone(), props("@t/two")).unwrap();
    assert_eq!(a.text_content().unwrap(), "@t/one");
    update(a.clone(), props("@t/three")).unwrap();
    assert_eq!(a.text_content().unwrap(), "@t/three");
    assert_eq!(b.text_content().unwrap(), "@t/two");
    unmount(a.clone()).unwrap();
    assert_eq!(a.child_element_count(), 0);
    assert_eq!(b.text_content().unwrap(), "@t/two");
    // Gone: an update for it changes nothing; a bad props object is refused by name.
    update(a.clone(), props("@t/four")).unwrap();
    assert_eq!(a.child_element_count(), 0);
    let err = mount(a.clone(), JsValue::NULL)
        .unwrap_err()
        .as_string()
        .unwrap();
    assert!(err.contains("invalid props"), "{err}");
    unmount(b.clone()).unwrap();
    assert_eq!(b.child_element_count(), 0);
}

#[wasm_bindgen_test]
fn a_slot_changes_only_its_own_place() {
    let parent = el("div").child(&el("h1"));
    let mut slot = Slot::new(&parent);
    parent.append_child(&el("footer")).unwrap();
    let tags = |p: &Element| {
        let mut out = vec![];
        let mut at = p.first_element_child();
        while let Some(e) = at {
            out.push(e.tag_name().to_lowercase());
            at = e.next_element_sibling();
        }
        out.join(" ")
    };
    slot.set(vec![el("p"), el("ul")]);
    assert_eq!(tags(&parent), "h1 p ul footer");
    slot.show(Some(el("em")));
    assert_eq!(tags(&parent), "h1 em footer");
    slot.show(None);
    assert_eq!(tags(&parent), "h1 footer");
}

#[wasm_bindgen_test]
fn keyed_rows_keep_what_is_unchanged_draw_what_is_new_and_follow_the_order() {
    let list = el("ul");
    let mut rows: Keyed<&str, Rc<()>> = Keyed::new(list.clone());
    let held = Rc::new(());
    let drawn = Cell::new(0);
    let draw = |k: &&str| {
        drawn.set(drawn.get() + 1);
        (el("li").text(k), held.clone())
    };
    rows.show(["a", "b", "c"], |k| *k, draw);
    assert_eq!(list.text_content().unwrap(), "abc");
    let (a, c) = (
        list.first_element_child().unwrap(),
        list.last_element_child().unwrap(),
    );
    rows.show(["c", "a", "d"], |k| *k, draw);
    assert_eq!(list.text_content().unwrap(), "cad");
    assert_eq!(drawn.get(), 4, "only d is drawn anew");
    assert_eq!(
        list.first_element_child().unwrap(),
        c,
        "c's row is the same element"
    );
    assert_eq!(
        a.next_element_sibling().unwrap().text_content().unwrap(),
        "d"
    );
    assert_eq!(Rc::strong_count(&held), 4, "b's row dropped what it held");
    rows.show([], |k: &&str| *k, draw);
    assert_eq!(list.child_element_count(), 0);
    assert_eq!(Rc::strong_count(&held), 1);
}

#[wasm_bindgen_test]
fn an_element_listener_hears_until_it_is_dropped() {
    let button: HtmlElement = el("button").unchecked_into();
    let clicks = Rc::new(Cell::new(0));
    let listener = Listener::on(&button, "click", {
        let clicks = clicks.clone();
        move |_| clicks.set(clicks.get() + 1)
    });
    button.click();
    assert_eq!(clicks.get(), 1);
    drop(listener);
    button.click();
    assert_eq!(clicks.get(), 1);
}
