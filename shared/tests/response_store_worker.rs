//! The read-through cache's IndexedDB store in a service worker, where the read-through cache runs.
#![cfg(target_arch = "wasm32")]

#[path = "cases/response_store.rs"]
mod cases;

use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_service_worker);

#[wasm_bindgen_test]
async fn records_round_trip_and_replace_by_key() {
    cases::records_round_trip_and_replace_by_key().await
}

#[wasm_bindgen_test]
async fn a_corrupt_record_is_reported_removed_and_leaves_the_rest_intact() {
    cases::a_corrupt_record_is_reported_removed_and_leaves_the_rest_intact().await
}

#[wasm_bindgen_test]
async fn quota_errors_are_told_apart() {
    cases::quota_errors_are_told_apart().await
}

#[wasm_bindgen_test]
fn runs_in_a_service_worker_scope() {
    // Only a ServiceWorkerGlobalScope has `registration` and no `document`.
    let global = js_sys::global();
    assert!(js_sys::Reflect::has(&global, &"registration".into()).unwrap());
    assert!(!js_sys::Reflect::has(&global, &"document".into()).unwrap());
}
