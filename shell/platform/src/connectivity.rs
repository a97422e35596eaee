//! The shell's heartbeat to the BFF and the status bar it drives. Changes are announced on the
//! bus (`connectivity.changed`) so apps can say their data is saved rather than live, and
//! mirrored to `window.__tessera.connectivity` for tests and the console.

use crate::part::Part;
use shell_common::bus::publish;
use shell_common::watched::Watched;
use std::cell::RefCell;
use std::rc::Rc;
use tessera_contract::bff;
use tessera_runtime::connectivity::{self, Connectivity, Link, SavedOnScreen, SyncState};
use tessera_sdk::dom::{el, Build};
use tessera_sdk::{on_location_change, Listener};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Element;

const HEARTBEAT_URL: &str = "/api/health";
const INTERVAL_MS: i32 = 10_000;
/// A heartbeat slower than this counts as no answer: the user would not wait for it either.
const TIMEOUT_MS: u32 = 4_000;

thread_local! {
    static ON_RECONNECT: std::cell::RefCell<Vec<Box<dyn Fn()>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers what runs whenever the server answers, first or again after a spell without it.
pub fn on_reconnect(f: impl Fn() + 'static) {
    ON_RECONNECT.with(|r| r.borrow_mut().push(Box::new(f)));
}

thread_local! {
    static STATE: Watched<Connectivity> = Watched::new(Connectivity::default());
    // Moves the "… ago" in the label on between heartbeats.
    static NOW: Watched<u64> = Watched::new(now());
    static SAVED: Watched<SavedOnScreen> = Watched::new(SavedOnScreen::default());
    static SYNC: Watched<SyncState> = Watched::new(SyncState {
        last_ok_ms: stored_last_sync(),
        ..SyncState::default()
    });
    // The precache set the controlling worker serves; `None` until one does.
    static SET: Watched<Option<String>> = Watched::new(None);
}

/// Where the last completed sync's time is kept, so an offline start can still say it.
const LAST_SYNC_KEY: &str = "tessera.lastSync";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn stored_last_sync() -> Option<u64> {
    local_storage()?.get_item(LAST_SYNC_KEY).ok()??.parse().ok()
}

pub fn sync_started() {
    update_sync(SyncState::started);
}

pub fn sync_succeeded() {
    let at = now();
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(LAST_SYNC_KEY, &at.to_string());
    }
    update_sync(|s| s.succeeded(at));
}

pub fn sync_failed(why: String) {
    update_sync(|s| s.failed(why));
}

fn update_sync(change: impl FnOnce(&mut SyncState)) {
    SYNC.with(|s| s.update(change));
    NOW.with(|n| n.set(now()));
}

/// Asks the controlling worker, once there is one, which set this page runs on.
fn follow_version_set() {
    wasm_bindgen_futures::spawn_local(async {
        if crate::service_worker::controlled().await {
            let status = crate::service_worker::status().await;
            let field = |name: &str| {
                status
                    .as_ref()
                    .and_then(|s| js_sys::Reflect::get(s, &name.into()).ok())
            };
            crate::region::show(field("region"));
            let set = field("set").and_then(|s| s.as_string());
            let _ = js_sys::Reflect::set(
                &shell_common::debug::object(),
                &"versionSet".into(),
                &set.as_deref().map(JsValue::from).unwrap_or(JsValue::NULL),
            );
            SET.with(|s| s.set(set));
        }
    });
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

fn browser_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Starts the heartbeat: now, every 10 s, and whenever the browser says it is back online.
pub fn start() {
    follow_data_on_screen();
    follow_version_set();
    Listener::new("online", |_| check()).forget();
    Listener::new("offline", |_| record(Connectivity::browser_offline)).forget();
    let tick = Closure::<dyn FnMut()>::new(|| {
        NOW.with(|n| n.set(now()));
        check();
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            INTERVAL_MS,
        );
    }
    tick.forget();
    check();
}

fn check() {
    if !browser_online() {
        record(Connectivity::browser_offline);
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        let answered = heartbeat().await;
        let at = now();
        record(|c| {
            if answered {
                c.heartbeat_ok(at)
            } else {
                c.heartbeat_failed(browser_online())
            }
        });
    });
}

async fn heartbeat() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let init = web_sys::RequestInit::new();
    init.set_cache(web_sys::RequestCache::NoStore);
    let pending = window.fetch_with_str_and_init(HEARTBEAT_URL, &init);
    match JsFuture::from(shell_common::js::with_timeout(
        &pending,
        TIMEOUT_MS,
        "heartbeat",
    ))
    .await
    {
        Ok(r) => r.dyn_into::<web_sys::Response>().is_ok_and(|r| r.ok()),
        Err(_) => false,
    }
}

fn record(change: impl FnOnce(&mut Connectivity) -> bool) {
    let state = STATE.with(|s| s.clone());
    let mut changed = false;
    let was = state.get().link;
    state.update(|c| changed = change(c));
    NOW.with(|n| n.set(now()));
    if changed {
        let c = state.get();
        // The server answers, first or again after a spell without it: bring the saved copy
        // up to date. Syncing only then keeps a start without the server from reporting a
        // failed sync it never had a chance of.
        if c.link == Link::Connected && was != Link::Connected {
            ON_RECONNECT.with(|r| r.borrow().iter().for_each(|f| f()));
        }
        let _ = js_sys::Reflect::set(
            &shell_common::debug::object(),
            &"connectivity".into(),
            &c.link.as_str().into(),
        );
        let data = serde_json::to_value(c).unwrap_or_default();
        publish(
            connectivity::TOPIC,
            connectivity::CHANGED,
            "@tessera/shell",
            data,
        );
    }
}

/// Apps announce each query's freshness (`data.loaded`); a navigation replaces the screen.
fn follow_data_on_screen() {
    let saved = SAVED.with(|s| s.clone());
    let on_data = saved.clone();
    tessera_sdk::subscribe(bff::DATA_TOPIC, false, move |env| {
        if let Some(d) = env
            .data_as::<bff::DataLoaded>()
            .filter(|_| env.kind == bff::DATA_LOADED)
        {
            on_data.update(|s| s.loaded(&d.path, d.freshness));
        }
    })
    .forget();
    on_location_change(move |_| saved.update(SavedOnScreen::clear)).forget();
}

/// The status bar: how the app is connected, since when it works from saved data, how old the
/// saved data on screen is, how the last sync went, the BFF region in use and which version
/// set the page runs.
pub fn status_bar() -> Element {
    let link = el("span").attr("class", "tessera-link");
    let age = el("span").attr("class", "tessera-data-age");
    let sync = el("span").attr("class", "tessera-sync");
    let version = el("span").attr("class", "tessera-version");
    let bar = el("div")
        .attr("class", "tessera-statusbar")
        .attr("role", "status")
        .child(&link);
    let age_part = Rc::new(RefCell::new(Part::new(&bar)));
    let bar = bar.text(" · ").child(&sync);
    crate::outbox::status(&bar);
    let _ = bar.append_with_str_1(" · ");
    let _ = bar.append_child(&crate::live::status());
    let _ = bar.append_with_str_1(" · ");
    crate::auth::account(&bar);
    crate::push_opt_in::switch_view(&bar);
    crate::region::label(&bar);
    let bar = bar.text(" · ").child(&version);
    let shell_version = crate::service_worker::shell_version();
    let draw = {
        let bar = bar.clone();
        move || {
            let (state, now, sync_state) = (
                STATE.with(Watched::get),
                NOW.with(Watched::get),
                SYNC.with(Watched::get),
            );
            let _ = bar.set_attribute("data-link", state.link.as_str());
            link.set_text_content(Some(&state.label(now)));
            let shown = SAVED.with(Watched::get).label(now).map(|label| {
                age.set_text_content(Some(&format!(" · {label}")));
                age.clone().into()
            });
            age_part.borrow_mut().set(shown.into_iter().collect());
            let _ = sync.set_attribute("data-syncing", &sync_state.running.to_string());
            sync.set_text_content(Some(&sync_state.label(now)));
            let set = SET.with(Watched::get);
            version.set_text_content(Some(&connectivity::version_label(
                set.as_deref(),
                &shell_version,
            )));
        }
    };
    let draw = Rc::new(draw);
    STATE.with(|w| follow(w, &draw));
    NOW.with(|w| follow(w, &draw));
    SAVED.with(|w| follow(w, &draw));
    SYNC.with(|w| follow(w, &draw));
    SET.with(|w| follow(w, &draw));
    bar
}

/// Draws the status bar's own parts again when `watched` changes.
fn follow<T: Clone + 'static>(watched: &Watched<T>, draw: &Rc<impl Fn() + 'static>) {
    let draw = draw.clone();
    watched.follow(move |_| draw());
}
