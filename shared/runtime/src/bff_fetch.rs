//! `fetch` of a BFF path for the runtime's own requests (replays, write-through reads): in the
//! service worker to the region in use (`regional`); in a page through the worker, which does
//! the same.

use wasm_bindgen::JsValue;

pub(crate) async fn fetch(request: &web_sys::Request) -> Result<JsValue, JsValue> {
    #[cfg(feature = "worker")]
    return crate::regional::fetch(request).await;
    #[cfg(not(feature = "worker"))]
    wasm_bindgen_futures::JsFuture::from(crate::js_value::global_fetch(request)).await
}
