//! An app written with `micro_app!`'s Leptos form (`view:`), in a real browser: mounted per
//! instance, props followed through the signal, its DOM removed on unmount.
#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use tessera_sdk::{Host, Props};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: named);

fn named(props: ArcRwSignal<Props>, _: Host) -> impl IntoView {
    view! { <p class="name">{move || props.get().name}</p> }
}

fn props(name: &str) -> JsValue {
    js_sys::JSON::parse(&format!(
        r#"{{"name":"{name}","basePath":"","abi":2,"session":{{"userName":null,"idToken":null,"roles":[]}}}}"#
    ))
    .unwrap()
}

#[wasm_bindgen_test]
async fn a_leptos_view_is_mounted_follows_its_props_and_goes() {
    let document = web_sys::window().unwrap().document().unwrap();
    let element: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&element).unwrap();
    mount(element.clone(), props("@t/one")).unwrap();
    assert_eq!(element.text_content().unwrap(), "@t/one");
    update(element.clone(), props("@t/two")).unwrap();
    // Leptos runs its effects on the next turn.
    let tick = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(tick).await.unwrap();
    assert_eq!(element.text_content().unwrap(), "@t/two");
    unmount(element.clone()).unwrap();
    assert_eq!(element.child_element_count(), 0);
}
