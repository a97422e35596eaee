//! The read-through cache's IndexedDB store in a page.
#![cfg(target_arch = "wasm32")]

#[path = "cases/response_store.rs"]
#[macro_use]
mod cases;

use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_browser);

response_store_tests!();

#[wasm_bindgen_test]
fn runs_in_a_page() {
    assert!(web_sys::window().and_then(|w| w.document()).is_some());
}
