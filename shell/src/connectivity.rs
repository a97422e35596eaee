//! The shell's heartbeat to the BFF and the status bar it drives. Changes are announced on the
//! bus (`connectivity.changed`) so apps can say their data is saved rather than live, and
//! mirrored to `window.__tessera.connectivity` for tests and the console.

use crate::bus::publish;
use leptos::prelude::*;
use tessera_contract::bff;
use tessera_runtime::connectivity::{self, Connectivity, Link, SavedOnScreen, SyncState};
use tessera_sdk::{on_location_change, Listener};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
    static STATE: ArcRwSignal<Connectivity> = ArcRwSignal::new(Connectivity::default());
    // Moves the "… ago" in the label on between heartbeats.
    static NOW: ArcRwSignal<u64> = ArcRwSignal::new(now());
    static SAVED: ArcRwSignal<SavedOnScreen> = ArcRwSignal::new(SavedOnScreen::default());
    static SYNC: ArcRwSignal<SyncState> = ArcRwSignal::new(SyncState {
        last_ok_ms: stored_last_sync(),
        ..SyncState::default()
    });
    // The precache set the controlling worker serves; `None` until one does.
    static SET: ArcRwSignal<Option<String>> = ArcRwSignal::new(None);
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
                &crate::debug::object(),
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
    match JsFuture::from(crate::js::with_timeout(&pending, TIMEOUT_MS, "heartbeat")).await {
        Ok(r) => r.dyn_into::<web_sys::Response>().is_ok_and(|r| r.ok()),
        Err(_) => false,
    }
}

fn record(change: impl FnOnce(&mut Connectivity) -> bool) {
    let state = STATE.with(|s| s.clone());
    let mut changed = false;
    let was = state.get_untracked().link;
    state.update(|c| changed = change(c));
    NOW.with(|n| n.set(now()));
    if changed {
        let c = state.get_untracked();
        // The server answers, first or again after a spell without it: bring the saved copy
        // up to date. Syncing only then keeps a start without the server from reporting a
        // failed sync it never had a chance of.
        if c.link == Link::Connected && was != Link::Connected {
            ON_RECONNECT.with(|r| r.borrow().iter().for_each(|f| f()));
        }
        let _ = js_sys::Reflect::set(
            &crate::debug::object(),
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
pub fn status_bar() -> impl IntoView {
    let (state, now) = (STATE.with(|s| s.clone()), NOW.with(|n| n.clone()));
    let (saved, sync, set) = (
        SAVED.with(|s| s.clone()),
        SYNC.with(|s| s.clone()),
        SET.with(|s| s.clone()),
    );
    let link = state.clone();
    let (age_now, sync_now) = (now.clone(), now.clone());
    let syncing = sync.clone();
    let shell_version = crate::service_worker::shell_version();
    view! {
        <div class="tessera-statusbar" role="status" data-link=move || link.get().link.as_str()>
            <span class="tessera-link">{move || state.get().label(now.get())}</span>
            {move || saved.get().label(age_now.get()).map(|text| view! {
                <span class="tessera-data-age">" · "{text}</span>
            })}
            " · "
            <span class="tessera-sync" data-syncing=move || syncing.get().running.to_string()>
                {move || sync.get().label(sync_now.get())}
            </span>
            {crate::outbox::status()}
            " · "
            {crate::live::status()}
            " · "
            {crate::auth::account()}
            {crate::push_opt_in::switch_view()}
            {crate::region::label()}
            " · "
            <span class="tessera-version">
                {move || connectivity::version_label(set.get().as_deref(), &shell_version)}
            </span>
        </div>
    }
}
