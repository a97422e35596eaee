//! The read-through cache's IndexedDB store in a service worker, where the read-through cache
//! runs.
#![cfg(target_arch = "wasm32")]

#[path = "cases/response_store.rs"]
#[macro_use]
mod cases;

use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_service_worker);

response_store_tests!();

#[wasm_bindgen_test]
fn runs_in_a_service_worker_scope() {
    // Only a ServiceWorkerGlobalScope has `registration` and no `document`.
    let global = js_sys::global();
    assert!(js_sys::Reflect::has(&global, &"registration".into()).unwrap());
    assert!(!js_sys::Reflect::has(&global, &"document".into()).unwrap());
}
