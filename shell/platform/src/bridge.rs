//! The start module's side of the page, as it handed it to [`crate::start`]: a JS object with
//! `sessionChanged(json)`, which brings a new session to the router and the apps.

use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    static BRIDGE: RefCell<JsValue> = const { RefCell::new(JsValue::UNDEFINED) };
}

pub fn keep(bridge: JsValue) {
    BRIDGE.with(|b| *b.borrow_mut() = bridge);
}

/// Tells the start module of a new session (sign-in, renewal, sign-out).
pub fn session_changed(session_json: &str) {
    BRIDGE.with(|b| {
        let b = b.borrow();
        let f = js_sys::Reflect::get(&b, &"sessionChanged".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match f {
            Some(f) => {
                let _ = f.call1(&b, &session_json.into());
            }
            None => web_sys::console::error_1(
                &"tessera: the start module gave no sessionChanged".into(),
            ),
        }
    });
}
