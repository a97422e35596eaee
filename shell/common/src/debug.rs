//! The shell's debugging surface, `window.__tessera`: what tests and developers read.

use wasm_bindgen::prelude::*;

/// `window.__tessera`: the shell's debugging surface (`apps` holds every app's status).
pub fn object() -> JsValue {
    let global: JsValue = js_sys::global().into();
    let key = JsValue::from_str("__tessera");
    match js_sys::Reflect::get(&global, &key) {
        Ok(obj) if obj.is_object() => obj,
        _ => {
            let obj: JsValue = js_sys::Object::new().into();
            let _ = js_sys::Reflect::set(&global, &key, &obj);
            obj
        }
    }
}
