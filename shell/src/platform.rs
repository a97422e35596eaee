//! The platform module (`platform/tessera_platform.js` in the shell's bundle, the crate
//! `shell/platform`): the data layer behind the host services, sign-in sessions, live
//! updates and the status bar. It is imported as the start module begins, so it downloads and
//! compiles beside the manifests and the first page's apps, and started once the session is
//! known; nothing on the way to the first page waits for it except the apps' first queries
//! (and a return from the provider, whose session only it can finish).

use crate::session;
use shell_common::js::{bundle_url, error_message, PLATFORM_DIR};
use std::cell::RefCell;
use tessera_contract::Session;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
export function import_platform(url) {
  return import(url).then(async (m) => { await m.default(); return m; });
}
export function start_platform(module, bridge, config, session) {
  return module.then(async (m) => [m, await m.start(bridge, config, session)]);
}
export function module_of(started) { return started.then(([m]) => m); }
export function forward(started, name, measure) {
  return (arg) => {
    const start = performance.now();
    return started.then((m) => m[name](arg)).finally(() => {
      try { performance.measure(measure, { start, end: performance.now() }); } catch {}
    });
  };
}
"#)]
extern "C" {
    /// `import(url)`, then the module's wasm instantiated: the module namespace.
    fn import_platform(url: &str) -> js_sys::Promise;
    /// `module.start(bridge, config, session)`: `[module, session JSON]`.
    fn start_platform(
        module: &js_sys::Promise,
        bridge: &JsValue,
        config: &str,
        session: &str,
    ) -> js_sys::Promise;
    /// What [`start_platform`] gave resolves to: the module.
    fn module_of(started: &js_sys::Promise) -> js_sys::Promise;
    /// A function `(arg) => module[name](arg)` once the module started, timed as the User
    /// Timing measure `measure` from the call to its answer.
    pub fn forward(started: &js_sys::Promise, name: &str, measure: &str) -> js_sys::Function;
}

thread_local! {
    static IMPORTED: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    /// Resolves to the module once it started; rejects if it could not load or start.
    static STARTED: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
}

/// Starts downloading and compiling the module.
pub fn import() {
    let url = format!("{}{PLATFORM_DIR}/tessera_platform.js", bundle_url());
    IMPORTED.with(|i| *i.borrow_mut() = Some(import_platform(&url)));
}

/// Starts the module with the sign-in settings (`config`, JSON) and the session this module
/// begins with (`None`: the platform's is the first). Returns what resolves to the module and
/// the platform's session, for [`session_of`].
pub fn begin(config: &str, ours: Option<&Session>) -> js_sys::Promise {
    let module = IMPORTED
        .with(|i| i.borrow().clone())
        .unwrap_or_else(|| js_sys::Promise::reject(&"the platform module was not imported".into()));
    let ours = ours
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .unwrap_or_default();
    let started = start_platform(&module, &bridge(), config, &ours);
    STARTED.with(|s| *s.borrow_mut() = Some(module_of(&started)));
    started
}

/// The platform's session once it started ([`begin`]'s promise).
pub async fn session_of(started: js_sys::Promise) -> Result<Session, String> {
    let pair = JsFuture::from(started)
        .await
        .map_err(|e| format!("the platform module did not start: {}", error_message(&e)))?;
    let theirs = js_sys::Array::from(&pair)
        .get(1)
        .as_string()
        .unwrap_or_default();
    tessera_sdk::js::parse::<Session>(&theirs).map_err(|e| format!("the platform's session: {e}"))
}

/// Once the platform started, its session replaces the one the page began with if they differ
/// (a stored session it could not verify), and `then` runs.
pub fn follow(started: js_sys::Promise, then: impl FnOnce() + 'static) {
    wasm_bindgen_futures::spawn_local(async move {
        match session_of(started).await {
            Ok(theirs) => {
                session::change(theirs);
                then();
            }
            Err(e) => web_sys::console::error_1(&format!("tessera: {e}").into()),
        }
    });
}

/// The object the platform module calls back: `sessionChanged(json)`.
fn bridge() -> JsValue {
    let bridge = js_sys::Object::new();
    let changed = Closure::<dyn Fn(String)>::new(|json: String| {
        match tessera_sdk::js::parse::<Session>(&json) {
            Ok(s) => session::change(s),
            Err(e) => web_sys::console::error_1(
                &format!("tessera: a session from the platform module: {e}").into(),
            ),
        }
    });
    let _ = js_sys::Reflect::set(&bridge, &"sessionChanged".into(), &changed.into_js_value());
    bridge.into()
}

/// The module, once started (a promise that rejects if it could not load or start).
pub fn started() -> js_sys::Promise {
    STARTED
        .with(|s| s.borrow().clone())
        .unwrap_or_else(|| js_sys::Promise::reject(&"the platform module was not started".into()))
}

/// Calls `name(arg)` on the module once it started (the call waits for it).
pub fn call(name: &'static str, arg: JsValue) {
    let started = started();
    wasm_bindgen_futures::spawn_local(async move {
        match JsFuture::from(started).await {
            Ok(module) => {
                let f = js_sys::Reflect::get(&module, &name.into())
                    .ok()
                    .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
                if let Some(f) = f {
                    let _ = f.call1(&module, &arg);
                }
            }
            Err(e) => {
                web_sys::console::error_1(&format!("tessera: {name}: {}", error_message(&e)).into())
            }
        }
    });
}
