//! Lifecycle ABI 2's host services: the object every app gets as `props.host`, so no app
//! carries its own outbox, cache or HTTP client. Queries and commands go to the platform
//! module's data layer (a first page's queries before it started go straight to `fetch`, see
//! `platform`); the session, the event subscriptions, navigation and parcels are answered
//! here. The shapes are
//! `tessera_contract::host`'s.

use tessera_contract::bus::topics;
use tessera_contract::host::{is_site_path, HOST_FIELD, HOST_VERSION};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// User Timing measures of each `host.query` and `host.command` call, from the call to the
/// answer (the outbox benchmark reads them).
const QUERY_MEASURE: &str = "tessera:host-query";
const COMMAND_MEASURE: &str = "tessera:host-command";

/// Gives every app's props the host object.
pub fn install() {
    let host = build();
    // Also on `window.__tessera`, for benchmarks that time its calls.
    set(&shell_common::debug::object(), "host", &host);
    crate::props::provide(HOST_FIELD, host);
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &key.into(), value);
}

fn build() -> JsValue {
    let host: JsValue = js_sys::Object::new().into();
    set(&host, "version", &HOST_VERSION.into());
    let timed = crate::platform::timed("query", QUERY_MEASURE);
    let query = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |path: JsValue| {
        // Only a path of this site may go straight to `fetch`, with the user's token; the
        // platform refuses the others.
        let site = path.as_string().is_some_and(|p| is_site_path(&p));
        let token = site
            .then(|| crate::session::current().id_token)
            .flatten()
            .map_or(JsValue::NULL, JsValue::from);
        timed
            .call3(&JsValue::NULL, &path, &token, &site.into())
            .unwrap_or_default()
    });
    set(&host, "query", &query.into_js_value());
    let command = crate::platform::timed("command", COMMAND_MEASURE);
    set(&host, "command", &command);
    let session = Closure::<dyn Fn() -> JsValue>::new(public_session);
    set(&host, "session", &session.into_js_value());
    set(&host, "onLive", &listen(topics::LIVE));
    set(&host, "onSession", &listen(topics::SESSION));
    set(&host, "onOutbox", &listen(topics::OUTBOX));
    let navigate = Closure::<dyn Fn(String)>::new(|path: String| tessera_sdk::navigate(&path));
    set(&host, "navigate", &navigate.into_js_value());
    crate::parcels::attach(&host);
    host
}

/// `{userName, roles}`: the session without its token.
fn public_session() -> JsValue {
    let s = crate::session::current();
    let object: JsValue = js_sys::Object::new().into();
    let name = s.user_name.map(JsValue::from).unwrap_or(JsValue::NULL);
    set(&object, "userName", &name);
    let roles: js_sys::Array = s.roles.iter().map(|r| JsValue::from_str(r)).collect();
    set(&object, "roles", &roles);
    object
}

/// `onLive(callback)` / `onSession(callback)` / `onOutbox(callback)`: calls `callback` with
/// each event's data on `topic`; returns the function that stops it.
fn listen(topic: &'static str) -> JsValue {
    let on = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |callback: JsValue| {
        let Ok(callback) = callback.dyn_into::<js_sys::Function>() else {
            return JsValue::UNDEFINED;
        };
        let listener = tessera_sdk::subscribe(topic, false, move |env| {
            // A throwing callback is the app's problem, not the bus's.
            let _ = callback.call1(&JsValue::NULL, &env.data);
        });
        let mut held = Some(listener);
        Closure::<dyn FnMut()>::new(move || drop(held.take())).into_js_value()
    });
    on.into_js_value()
}
