//! Any JSON value as serde_json's `Value`, walked from what the browser's `JSON.parse` made
//! (and written back as plain JS values, for `JSON.stringify`):
//! the client runtime keeps query answers and overlay elements as `Value` (its pure logic is
//! tested natively), and with this the page and the worker link no JSON parser of their own.

use crate::{object, set, DecodeError, FromJs, JsValue, ToJs};
use serde_json::{Map, Number, Value};
use wasm_bindgen::JsCast;

/// As deep as serde_json reads (its recursion limit), so a hostile answer cannot overflow the
/// stack.
const MAX_DEPTH: usize = 128;

impl FromJs for Value {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        walk(value, MAX_DEPTH)
    }
}

impl ToJs for Value {
    fn to_js(&self) -> JsValue {
        match self {
            Value::Null => JsValue::NULL,
            Value::Bool(b) => JsValue::from_bool(*b),
            Value::Number(n) => n.as_f64().map_or(JsValue::NULL, JsValue::from_f64),
            Value::String(s) => JsValue::from_str(s),
            Value::Array(items) => items
                .iter()
                .map(ToJs::to_js)
                .collect::<js_sys::Array>()
                .into(),
            Value::Object(map) => {
                let o = object();
                for (key, value) in map {
                    set(&o, key, value.to_js());
                }
                o.into()
            }
        }
    }
}

fn walk(value: &JsValue, depth: usize) -> Result<Value, DecodeError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        return number(n).map(Value::Number);
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::String(s));
    }
    let Some(depth) = depth.checked_sub(1) else {
        return Err(DecodeError::expected("JSON nested at most 128 deep"));
    };
    if let Some(array) = value.dyn_ref::<js_sys::Array>() {
        let mut items = Vec::with_capacity(array.length() as usize);
        for (i, v) in array.iter().enumerate() {
            items.push(walk(&v, depth).map_err(|e| e.under(&format!("[{i}]")))?);
        }
        return Ok(Value::Array(items));
    }
    if value.is_object() && !value.is_function() {
        let mut map = Map::new();
        for key in js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()).iter() {
            let Some(key) = key.as_string() else { continue };
            let v = js_sys::Reflect::get(value, &JsValue::from_str(&key)).unwrap_or_default();
            map.insert(key.clone(), walk(&v, depth).map_err(|e| e.under(&key))?);
        }
        return Ok(Value::Object(map));
    }
    Err(DecodeError::expected("a JSON value"))
}

/// A whole number reads as an integer, as serde_json reads `3` (JS keeps no difference
/// between `3` and `3.0`); integers beyond 2^53 are not exact in JS to begin with.
fn number(n: f64) -> Result<Number, DecodeError> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        Ok(Number::from(n as i64))
    } else {
        Number::from_f64(n).ok_or(DecodeError::expected("a finite number"))
    }
}
