//! Tessera's shell: reads the published manifests, renders the layout and navigation mount
//! points, and loads, mounts and unmounts independently built micro-apps as the route changes.

mod auth;
mod connectivity;
mod host;
mod js;
mod lifecycle;
mod live;
mod manifests;
mod outbox;
mod parcels;
mod read_ahead;
mod registry;
mod router;
mod service_worker;
mod session;
mod update_prompt;
mod view;

use wasm_bindgen::prelude::*;

/// `window.__tessera`: the shell's debugging surface (`apps` holds every app's status).
pub(crate) fn debug_object() -> JsValue {
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

#[wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        let (manifests, session) =
            futures_util::future::join(manifests::load(), auth::start()).await;
        session::init(session);
        match manifests {
            Ok(m) => {
                let points = m
                    .mount_points
                    .mount_points
                    .iter()
                    .map(|mp| mp.name.clone())
                    .collect();
                view::mount_chrome(points);
                registry::install(m);
                router::start();
                let _ = js_sys::Reflect::set(&debug_object(), &"ready".into(), &true.into());
                service_worker::register();
                outbox::start(&session::current());
                live::start();
            }
            Err(e) => view::fatal(&e),
        }
    });
}
