//! Tessera's service worker, in Rust. `sw.js` (rendered by the deployer with the shell) is a
//! small ES module that registers the event listeners synchronously, as browsers require, and
//! hands each event to the functions exported here. What to do with a request is decided by
//! `tessera_runtime::cache_policy`, which is plain Rust with native tests.

mod api;
mod fetch;
mod notify;
mod precache;
mod scope;

use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The shell release and published set this worker belongs to: every publish stamps `sw.js`
/// anew, so two workers of one shell release (active and waiting) tell themselves apart by
/// the stamp.
#[derive(Clone, Default)]
pub(crate) struct Shell {
    pub version: String,
    pub stamp: String,
    /// Absolute URLs of the shell's bundle files, the worker's own among them.
    pub files: Vec<String>,
}

thread_local! {
    static SHELL: RefCell<Shell> = RefCell::default();
}

pub(crate) fn shell() -> Shell {
    SHELL.with(|s| s.borrow().clone())
}

/// Called once by `sw.js` after the module started, before any event is handed over. The
/// BFF's regions, if the site has them, are in `self.tesseraRegions` (see
/// `tessera_runtime::regional`).
#[wasm_bindgen]
pub fn configure(version: String, stamp: String, files: Vec<String>) {
    let regions = js_sys::Reflect::get(&js_sys::global(), &"tesseraRegions".into())
        .ok()
        .and_then(|r| r.as_string())
        .unwrap_or_default();
    if let Err(e) = tessera_runtime::regional::configure(&regions) {
        web_sys::console::error_1(
            &format!("tessera service worker: ignoring the site's regions: {e}").into(),
        );
    }
    SHELL.with(|s| {
        *s.borrow_mut() = Shell {
            version,
            stamp,
            files,
        }
    });
}

fn settle(result: Result<JsValue, String>) -> Result<JsValue, JsValue> {
    result.map_err(|e| {
        web_sys::console::error_1(&format!("tessera service worker: {e}").into());
        js_sys::Error::new(&e).into()
    })
}

/// `install`: caches the whole published set in one cache, or nothing (the promise rejects,
/// so the browser discards this worker and keeps the previous one).
#[wasm_bindgen]
pub fn on_install() -> js_sys::Promise {
    future_to_promise(async {
        settle(precache::install().await.map(|set| JsValue::from_str(&set)))
    })
}

/// `activate`: takes control of open pages and deletes the caches of older sets no open page
/// started with.
#[wasm_bindgen]
pub fn on_activate() -> js_sys::Promise {
    future_to_promise(async { settle(precache::activate().await.map(|_| JsValue::UNDEFINED)) })
}

/// `fetch`: a promise of the response when the worker answers the request, `undefined` when
/// the request should go to the network untouched.
#[wasm_bindgen]
pub fn on_fetch(event: &web_sys::FetchEvent) -> Option<js_sys::Promise> {
    fetch::respond(event)
}

/// `message`: `{type: "tessera:sw-status"}` on a `MessageChannel` is answered on its port with
/// `{type, shell, stamp, set, region}`: which shell release and precache set this worker serves
/// and the BFF region it uses (the status bar and the tests read it). `{type:
/// "tessera:skip-waiting"}`, sent by the shell to a waiting worker once the user accepted the
/// update, activates it. `{type: "tessera:page-started"}`, sent by each page once its shell
/// runs, prunes sets no page uses.
/// `{type: "tessera:replay", reconnected}`, from a page that would otherwise replay on its own
/// thread, sends the outbox (after a run already going, as Background Sync's would).
#[wasm_bindgen]
pub fn on_message(data: JsValue, ports: js_sys::Array) -> js_sys::Promise {
    future_to_promise(async move {
        let kind = js_sys::Reflect::get(&data, &"type".into())
            .ok()
            .and_then(|t| t.as_string());
        match kind.as_deref() {
            Some("tessera:sw-status") => {}
            Some("tessera:skip-waiting") => {
                scope::log("tessera service worker: the user accepted the update");
                let skipped = scope::global()
                    .skip_waiting()
                    .map_err(|e| js_sys::Error::new(&scope::message(&e)))?;
                return wasm_bindgen_futures::JsFuture::from(skipped).await;
            }
            Some(tessera_runtime::outbox_client::REPLAY_MESSAGE) => {
                let reconnected = js_sys::Reflect::get(&data, &"reconnected".into())
                    .ok()
                    .and_then(|at| at.as_f64())
                    .map(|at| at as u64);
                if let Err(e) = tessera_runtime::replay::run_after_current(reconnected).await {
                    scope::log(&format!(
                        "tessera service worker: outbox replay failed: {e}"
                    ));
                }
                return Ok(JsValue::UNDEFINED);
            }
            Some("tessera:page-started") => {
                if let Err(e) = precache::prune().await {
                    scope::log(&format!("tessera service worker: pruning old sets: {e}"));
                }
                return Ok(JsValue::UNDEFINED);
            }
            _ => return Ok(JsValue::UNDEFINED),
        }
        let set = precache::current_set().await;
        let reply = js_sys::Object::new();
        let put = |k: &str, v: JsValue| js_sys::Reflect::set(&reply, &k.into(), &v);
        put("type", "tessera:sw-status".into())?;
        put("shell", shell().version.into())?;
        put("stamp", shell().stamp.into())?;
        put("set", set.map(JsValue::from).unwrap_or(JsValue::NULL))?;
        put("region", tessera_runtime::regional::current_message())?;
        let port = ports.get(0);
        let post: js_sys::Function = js_sys::Reflect::get(&port, &"postMessage".into())?.into();
        post.call1(&port, &reply)?;
        Ok(JsValue::UNDEFINED)
    })
}

/// `push`: shows the notification the BFF sent (news of one of the user's orders).
#[wasm_bindgen]
pub fn on_push(event: &web_sys::PushEvent) -> js_sys::Promise {
    let event = event.clone();
    future_to_promise(async move { settle(notify::show(&event).await) })
}

/// `notificationclick`: shows the notification's page, in a window already showing it if any.
#[wasm_bindgen]
pub fn on_notification_click(event: &web_sys::NotificationEvent) -> js_sys::Promise {
    let event = event.clone();
    future_to_promise(async move { settle(notify::click(&event).await) })
}

/// `sync` (Background Sync): sends the outbox. The promise rejects while commands are still
/// waiting for the server, so the browser tries the sync again later (pages also retry on
/// their own timer).
#[wasm_bindgen]
pub fn on_sync(tag: String) -> js_sys::Promise {
    future_to_promise(async move {
        if tag != tessera_runtime::replay::SYNC_TAG {
            return Ok(JsValue::UNDEFINED);
        }
        // The browser fires it when the network returns (or at once when registered online).
        let report = tessera_runtime::replay::run(true, Some(js_sys::Date::now() as u64))
            .await
            .map_err(|e| {
                scope::log(&format!(
                    "tessera service worker: outbox replay failed: {e}"
                ));
                js_sys::Error::new(&e)
            })?;
        match report {
            Some(r) if r.summary.pending > 0 => Err(js_sys::Error::new(&format!(
                "{} commands still wait for the server",
                r.summary.pending
            ))
            .into()),
            _ => Ok(JsValue::UNDEFINED),
        }
    })
}
