//! The platform module (`platform/tessera_platform.js` in the shell's bundle, the crate
//! `shell/platform`): the data layer behind the host services, sign-in sessions, live
//! updates and the status bar. The start module loads and starts it:
//! - at once when the first page needs it: back from the provider (only it can finish a
//!   sign-in), or when this browser may hold the user's commands (an outbox database, its
//!   journal or a closed page's hand-off exists), since the first answers must show them;
//! - otherwise once the first page's apps have their answers ([`after_first_page`]), and
//!   before that whenever something needs it (a command, a sign-in, an answer the first
//!   queries cannot give).
//!
//! Until it starts, the apps' queries go straight to `fetch` (the first queries, below):
//! with no outbox on this device there is nothing to show on them, and a first visit's page
//! draws without the platform's bytes. Anything but a JSON answer with a 2xx status is asked
//! again through the platform, which says what went wrong in the host's terms.

use crate::session;
use shell_common::js::{bundle_url, PLATFORM_DIR};
use tessera_contract::Session;
use wasm_bindgen::prelude::*;

// In `start.js`, with the start module's other JS: one file, one request.
#[wasm_bindgen(module = "/src/start.js")]
extern "C" {
    fn prepare(url: &str, bridge: &JsValue, config: &str, session: &str, on_started: &JsValue);
    /// Imports and starts the module, once: a promise of the module.
    fn begin() -> js_sys::Promise;
    /// `module[name](arg)` once the module started (starting it if it was not).
    fn call(name: &str, arg: &JsValue) -> js_sys::Promise;
    /// Looks whether this browser may hold commands in the outbox (`true` where it cannot
    /// tell), and starts the module if it may; first queries wait for the answer.
    fn check_outbox(handoff_prefix: &str, database: &str, journal: &str);
    /// A function `(arg, token, first) => module[name](arg)`, timed as the User Timing
    /// measure `measure` from the call to its answer. With `first`, a call before the module
    /// started is a first query: `fetch(arg)` with `token`, shared by the callers of a path.
    pub fn timed(name: &str, measure: &str) -> js_sys::Function;
    /// Runs `f` once no first query is on its way, or after `ms` at the latest.
    fn when_answered(f: &JsValue, ms: i32);
}

/// How long the work that waits for the first page waits for its apps' data, at most.
const ANSWERS_PATIENCE_MS: i32 = 2_000;

/// Readies the module's start with the sign-in settings (`config`, JSON) and the session this
/// module begins with (`None`: the platform's is the first). Once it started, its session
/// replaces the page's if they differ (a stored session it could not verify) and `then` runs.
pub fn prepare_start(config: &str, ours: Option<&Session>, then: impl FnOnce() + 'static) {
    let url = format!("{}{PLATFORM_DIR}/tessera_platform.js", bundle_url());
    let ours_json = ours
        .and_then(|s| js_sys::JSON::stringify(&tessera_sdk::ToJs::to_js(s)).ok())
        .map(String::from)
        .unwrap_or_default();
    let on_started = Closure::once_into_js(move |theirs: String| {
        adopt(&theirs);
        then();
    });
    prepare(&url, &bridge(), config, &ours_json, &on_started);
}

/// Looks whether this browser may hold commands in the outbox, and if it may, starts the
/// module at once: the first page's answers must show them. The first queries wait for the
/// look (a few ms); nothing else on the way to the first page does.
pub fn check_outbox_now() {
    use tessera_contract::sync::outbox_names::{journal_of, DATABASE, HANDOFF_PREFIX};
    check_outbox(HANDOFF_PREFIX, DATABASE, &journal_of(DATABASE));
}

/// The module's session when the page waits for it (back from the provider): starts it now.
pub async fn session_now() -> Session {
    if let Err(e) = wasm_bindgen_futures::JsFuture::from(begin()).await {
        warn(&format!(
            "the platform module did not start: {}",
            shell_common::js::error_message(&e)
        ));
    }
    session::current()
}

fn warn(e: &str) {
    web_sys::console::error_1(&format!("tessera: {e}").into());
}

/// The platform module's session (JSON) becomes the page's.
fn adopt(json: &str) {
    match tessera_sdk::js::parse::<Session>(json) {
        Ok(s) => session::change(s),
        Err(e) => warn(&format!("a session from the platform module: {e}")),
    }
}

/// The object the platform module calls back: `sessionChanged(json)`.
fn bridge() -> JsValue {
    let bridge = js_sys::Object::new();
    let changed = Closure::<dyn Fn(String)>::new(|json: String| adopt(&json));
    let _ = js_sys::Reflect::set(&bridge, &"sessionChanged".into(), &changed.into_js_value());
    bridge.into()
}

/// Calls `name(arg)` on the module, starting it if it was not.
pub fn invoke(name: &str, arg: JsValue) {
    let _ = call(name, &arg);
}

/// The first page is drawn: once its first queries are answered, the module starts (if it
/// did not) and begins what waits for the first page.
pub fn after_first_page() {
    let f = Closure::once_into_js(|| invoke("afterFirstPage", JsValue::UNDEFINED));
    when_answered(&f, ANSWERS_PATIENCE_MS);
}
