//! Real-user monitoring, for every app without it writing code: the lifecycle's steps become
//! per-app samples (load, first and later activation, mount, views, failures), errors are
//! attributed to the app whose files their stack names, the page's Web Vitals go to the apps
//! active when they are reported, and each app's wasm memory is sampled. Samples are sent as one
//! `POST /api/rum` per cohort (`tessera_contract::rum`) when the page is hidden or left, after
//! 10 s, and every 5 minutes; what cannot be sent (offline, signed out) waits in localStorage
//! for the next time. A page takes part with the probability `<meta name="tessera-rum">`
//! names (0 to 1; none: 0).
//!
//! The collecting is JavaScript: observers, listeners and `fetch(keepalive)` cost fewer bytes
//! there than through web-sys, and nothing of it is on the way to the first page.

use tessera_contract::lifecycle::LifecycleEvent;
use tessera_contract::AppStatus;
use wasm_bindgen::prelude::*;

// In `start.js`, with the start module's other JS: one file, one request.
#[wasm_bindgen(module = "/src/start.js")]
extern "C" {
    fn rum_start();
    fn rum_token(token: Option<String>);
    fn rum_loading(app: &str, version: &str, cohort: &str, files: &str);
    fn rum_loaded(app: &str, exports: &JsValue);
    fn rum_event(app: &str, event: &str, status: &str, error: Option<String>);
}

/// Decides whether this page takes part and starts listening (errors, Web Vitals, leaving).
pub fn start() {
    rum_start();
}

/// The token reports are sent with (the BFF takes them from signed-in callers only).
pub fn use_token(token: Option<String>) {
    rum_token(token);
}

/// `app` starts loading `version` (of `cohort`, `""` for the released one) from `files`.
pub fn loading(app: &str, version: &str, cohort: &str, files: &[&str]) {
    rum_loading(app, version, cohort, &files.join(" "));
}

/// `app`'s module is instantiated; `exports` are its wasm exports (their `memory` is sampled).
pub fn loaded(app: &str, exports: &JsValue) {
    rum_loaded(app, exports);
}

/// `app` went through `event` into `status`.
pub fn event(app: &str, event: LifecycleEvent, status: AppStatus, error: Option<String>) {
    rum_event(app, event.name(), status.as_str(), error);
}
