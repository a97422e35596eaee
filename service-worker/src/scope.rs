//! The worker's global scope and the small promise helpers the strategies share.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CacheStorage, ServiceWorkerGlobalScope};

pub fn global() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub fn caches() -> Result<CacheStorage, String> {
    global()
        .caches()
        .map_err(|e| format!("no Cache API: {}", message(&e)))
}

pub use tessera_runtime::js_value::error_text as message;

/// Awaits a promise, turning a rejection into its message.
pub async fn wait(p: js_sys::Promise) -> Result<JsValue, String> {
    JsFuture::from(p).await.map_err(|e| message(&e))
}

/// A promise that resolves to `undefined` after `ms` milliseconds.
pub fn timer(ms: i32) -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _| {
        let _ = global().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    })
}

/// Runs futures concurrently, like `Promise.all`, failing with the first error.
pub async fn all<F>(futures: Vec<F>) -> Result<Vec<JsValue>, String>
where
    F: std::future::Future<Output = Result<JsValue, String>> + 'static,
{
    let promises: js_sys::Array = futures
        .into_iter()
        .map(|f| {
            wasm_bindgen_futures::future_to_promise(async move { f.await.map_err(JsValue::from) })
        })
        .collect();
    let done = wait(js_sys::Promise::all(&promises)).await?;
    Ok(js_sys::Array::from(&done).to_vec())
}

pub fn log(text: &str) {
    web_sys::console::log_1(&JsValue::from_str(text));
}
