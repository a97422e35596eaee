//! Times as the user reads them.

use tessera_contract::bff::Freshness;
use wasm_bindgen::JsValue;

/// A time of day in the user's locale ("14:03"), for as-of notices.
pub fn clock(unix_ms: u64) -> String {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
    js_sys::Date::new(&JsValue::from_f64(unix_ms as f64))
        .to_locale_time_string_with_options("default", &options)
        .into()
}

/// The notice an app shows above data from the saved copy, if it is one.
pub fn as_of_notice(freshness: &Freshness) -> Option<String> {
    let clock = freshness.as_of_ms.map(clock).unwrap_or_default();
    freshness.notice(&clock, js_sys::Date::now() as u64)
}
