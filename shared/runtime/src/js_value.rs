//! Reading plain JS values the same way in pages and the service worker.

use wasm_bindgen::{JsCast, JsValue};

/// The text of a JS error (or whatever was thrown).
pub fn error_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// `target[key]`, `undefined` when absent or unreadable.
pub fn field(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `navigator.onLine`, taken as true where the browser does not say.
pub fn navigator_online() -> bool {
    field(&field(&js_sys::global(), "navigator"), "onLine").as_bool() != Some(false)
}
