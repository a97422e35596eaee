//! Where the page is, and moving it: the shell and every app's router follow `popstate`.

use crate::bus::Listener;
use wasm_bindgen::JsValue;

fn window() -> web_sys::Window {
    web_sys::window().expect("no window: this code runs in a page")
}

/// The current path (`/restaurants/7`).
pub fn current_path() -> String {
    window()
        .location()
        .pathname()
        .unwrap_or_else(|_| "/".into())
}

/// Calls `f` with the new path whenever the URL changes (the shell dispatches `popstate`
/// after every navigation it makes, so pushes are seen as well as back/forward).
pub fn on_location_change(mut f: impl FnMut(String) + 'static) -> Listener {
    Listener::new("popstate", move |_| f(current_path()))
}

/// Navigates within the page: pushes the URL and lets the shell and every app know.
pub fn navigate(path: &str) {
    let w = window();
    if let Ok(history) = w.history() {
        let _ = history.push_state_with_url(&JsValue::NULL, "", Some(path));
    }
    if let Ok(event) = web_sys::PopStateEvent::new("popstate") {
        let _ = w.dispatch_event(&event);
    }
}
