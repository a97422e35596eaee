//! Registering the service worker (`/sw.js`, rendered by the deployer with this shell release).
//! It runs after the first render and never delays it: a page works without its worker, it
//! only loses offline support.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
                    crate::js::error_message(&e)
                )
                .into(),
            ),
        }
    });
}
