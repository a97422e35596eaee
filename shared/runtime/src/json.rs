//! JSON text as serde_json's `Value`. In the page and the worker the browser parses it
//! (`JSON.parse`, then `tessera-wire` walks the result), so neither links serde_json's parser
//! and deserializers; natively (the outbox's and the BFF client's tests) serde_json does. The
//! rules that read answers call this and stay the same code in both.

use serde_json::Value;

/// `text` as a JSON value, or why it is none.
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
pub fn parse(text: &str) -> Result<Value, String> {
    tessera_wire::parse::<Value>(text)
}

/// `text` as a JSON value, or why it is none.
#[cfg(not(all(feature = "browser", target_arch = "wasm32")))]
pub fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Whether `text` is a JSON object (a command body the batch endpoint takes), without building
/// its value.
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
pub fn is_object(text: &str) -> bool {
    js_sys::JSON::parse(text).is_ok_and(|v| v.is_object() && !js_sys::Array::is_array(&v))
}

/// Whether `text` is a JSON object (a command body the batch endpoint takes).
#[cfg(not(all(feature = "browser", target_arch = "wasm32")))]
pub fn is_object(text: &str) -> bool {
    parse(text).is_ok_and(|v| v.is_object())
}
