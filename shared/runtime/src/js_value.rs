//! Reading plain JS values the same way in pages and the service worker.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

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

/// `performance.now()`, for [`measure`].
pub fn now() -> f64 {
    field(&js_sys::global(), "performance")
        .unchecked_into::<web_sys::Performance>()
        .now()
}

/// `performance.measure(name, {start, end: now})`, a User Timing measure that DevTools'
/// Performance panel shows and the benchmarks read; timing is never worth an error.
pub fn measure(name: &str, start: f64) {
    let performance = field(&js_sys::global(), "performance");
    let Ok(f) = field(&performance, "measure").dyn_into::<js_sys::Function>() else {
        return;
    };
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"start".into(), &start.into());
    let _ = js_sys::Reflect::set(&options, &"end".into(), &now().into());
    let _ = f.call2(&performance, &name.into(), &options);
}

#[wasm_bindgen]
extern "C" {
    /// `fetch` of whatever global this runs in (window or worker).
    #[wasm_bindgen(js_name = fetch)]
    pub(crate) fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// Resolves after `ms` milliseconds (`setTimeout` of whatever global this runs in).
pub async fn sleep_ms(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function = field(&js_sys::global(), "setTimeout").unchecked_into();
        let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from_f64(ms as f64));
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Gives up `init`'s request after `timeout_ms` (`AbortSignal.timeout`, where the browser has
/// it): a replay run holds the replay lock, so no request of its may hang.
pub(crate) fn time_limit(init: &web_sys::RequestInit, timeout_ms: u32) {
    let abort_signal = field(&js_sys::global(), "AbortSignal");
    if let Ok(timeout) = field(&abort_signal, "timeout").dyn_into::<js_sys::Function>() {
        if let Ok(signal) = timeout.call1(&abort_signal, &JsValue::from(timeout_ms)) {
            let _ = js_sys::Reflect::set(init, &"signal".into(), &signal);
        }
    }
}

/// `navigator.locks` of whatever global this runs in, if the browser has the Web Locks API.
pub(crate) fn web_locks() -> Option<JsValue> {
    let locks = field(&field(&js_sys::global(), "navigator"), "locks");
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}

/// `locks.request(name, options, callback)`: the promise of `callback`'s result.
pub(crate) fn request_lock(
    locks: &JsValue,
    name: &str,
    options: &js_sys::Object,
    callback: &JsValue,
) -> Result<js_sys::Promise, String> {
    let request: js_sys::Function = field(locks, "request").unchecked_into();
    request
        .call3(locks, &name.into(), options, callback)
        .map(|p| p.unchecked_into())
        .map_err(|e| format!("requesting lock {name}: {}", error_text(&e)))
}
