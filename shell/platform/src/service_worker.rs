//! Registering the service worker (`/sw.js`, rendered by the deployer with this shell release).
//! It runs after the first render and never delays it: a page works without its worker, it
//! only loses offline support.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// How long to wait for a newly installed worker to take control.
const CONTROL_TIMEOUT_MS: i32 = 30_000;
/// How long the controlling worker has to say which set it serves.
const STATUS_TIMEOUT_MS: u32 = 3_000;

pub fn register() {
    let Some(window) = web_sys::window() else {
        return;
    };
    // `navigator.serviceWorker` is missing on insecure origins and in some embedded browsers.
    let container = window.navigator().service_worker();
    if container.is_undefined() {
        return;
    }
    let options = web_sys::RegistrationOptions::new();
    // A module worker: its shim imports the Rust worker's wasm-bindgen module statically.
    options.set_type("module");
    options.set_scope("/");
    let registered = container.register_with_options("/sw.js", &options);
    wasm_bindgen_futures::spawn_local(async move {
        match JsFuture::from(registered).await {
            Ok(registration) => crate::update_prompt::watch(registration.unchecked_into()),
            Err(e) => web_sys::console::warn_1(
                &format!(
                    "the service worker did not register (no offline support): {}",
                    shell_common::js::error_message(&e)
                )
                .into(),
            ),
        }
    });
}

/// Follows what the worker tells pages: the BFF region it moved to (`tessera:region`), and the
/// page to show after a click on a notification (`tessera:show`).
pub fn follow_messages() {
    let container = match web_sys::window() {
        Some(w) => w.navigator().service_worker(),
        None => return,
    };
    if container.is_undefined() {
        return;
    }
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
            let data = e.data();
            let field = |name: &str| {
                js_sys::Reflect::get(&data, &name.into())
                    .ok()
                    .and_then(|v| v.as_string())
            };
            match field("type").as_deref() {
                Some("tessera:region") => crate::region::show(Some(data.clone())),
                Some(tessera_contract::push::SHOW_MESSAGE) => {
                    let path = field("path").unwrap_or_default();
                    // Only a path of this site (the worker checked it too).
                    if tessera_contract::push::click_path(&path) == path
                        && tessera_sdk::current_path() != path
                    {
                        tessera_sdk::navigate(&path);
                    }
                }
                _ => {}
            }
        });
    let _ =
        container.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
    on_message.forget();
}

/// Whether a service worker controls the page, waiting for a new one to claim it.
pub async fn controlled() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let container = window.navigator().service_worker();
    if container.is_undefined() {
        return false;
    }
    if container.controller().is_some() {
        return true;
    }
    let claimed = js_sys::Promise::new(&mut |resolve, _| {
        let _ = container.add_event_listener_with_callback("controllerchange", &resolve);
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, CONTROL_TIMEOUT_MS);
    });
    let _ = JsFuture::from(claimed).await;
    container.controller().is_some()
}

/// The controlling worker's status (`tessera:sw-status`, see the worker's `on_message`):
/// `{shell, stamp, set, region}`, asked over a `MessageChannel`.
pub async fn status() -> Option<JsValue> {
    let controller = web_sys::window()?
        .navigator()
        .service_worker()
        .controller()?;
    let channel = web_sys::MessageChannel::new().ok()?;
    let reply = js_sys::Promise::new(&mut |resolve, _| {
        channel.port1().set_onmessage(Some(&resolve));
    });
    let message = js_sys::Object::new();
    js_sys::Reflect::set(&message, &"type".into(), &"tessera:sw-status".into()).ok()?;
    controller
        .post_message_with_transferable(&message, &js_sys::Array::of1(&channel.port2()))
        .ok()?;
    let event = JsFuture::from(shell_common::js::with_timeout(
        &reply,
        STATUS_TIMEOUT_MS,
        "the service worker's status",
    ))
    .await
    .ok()?;
    Some(event.unchecked_into::<web_sys::MessageEvent>().data())
}

/// This shell release's version, from the path its own module was loaded from
/// (`/@tessera/shell/<version>/…`).
pub fn shell_version() -> String {
    let url = shell_common::js::module_url();
    url.split('/')
        .skip_while(|segment| *segment != "shell")
        .nth(1)
        .filter(|v| !v.is_empty())
        .unwrap_or("dev")
        .to_string()
}
