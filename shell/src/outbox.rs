//! The shell's part in offline writes: it hands the signed-in user's token to the outbox (so a
//! replay in the worker can send that user's commands later), gets replays going (at start, on
//! `online`, on a timer while commands wait), relays the outbox's announcements from other tabs
//! and the worker to this page's bus (`outbox.changed`), and shows them in the status bar.

use leptos::prelude::*;
use tessera_shared::browser::{publish, Listener};
use tessera_shared::bus::topics;
use tessera_shared::outbox::Summary;
use tessera_shared::{outbox_client, replay, Session};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How often a page looks whether waiting commands can go now (they may have backed off).
const RETRY_EVERY_MS: i32 = 15_000;
/// How long "All changes saved" stays.
const DRAINED_NOTICE_MS: i32 = 5_000;

thread_local! {
    static SUMMARY: ArcRwSignal<Summary> = ArcRwSignal::new(Summary::default());
    static DRAINED: ArcRwSignal<bool> = ArcRwSignal::new(false);
}

pub fn start(session: &Session) {
    let subject = session
        .id_token
        .as_deref()
        .and_then(|t| tessera_shared::read_through::bearer_subject(Some(&format!("Bearer {t}"))));
    let token = session.id_token.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match outbox_client::store().await {
            Ok(store) => {
                if let Some(subject) = &subject {
                    if let Err(e) = store.set_token(subject, token.as_deref()).await {
                        warn(&e.to_string());
                    }
                }
                if let Ok(outbox) = store.read().await {
                    show(outbox.summary(false));
                }
                outbox_client::kick();
            }
            Err(e) => warn(&e.to_string()),
        }
    });
    follow_announcements();
    Listener::new("online", |_| outbox_client::kick()).forget();
    let tick = Closure::<dyn FnMut()>::new(|| {
        if SUMMARY.with(|s| s.get_untracked().pending) > 0 {
            outbox_client::kick();
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            RETRY_EVERY_MS,
        );
    }
    tick.forget();
}

fn warn(e: &str) {
    web_sys::console::warn_1(&format!("tessera outbox: {e}").into());
}

fn follow_announcements() {
    let Ok(channel) = web_sys::BroadcastChannel::new(replay::CHANNEL) else {
        warn("no BroadcastChannel: this page will not see other tabs' changes");
        return;
    };
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
            if let Some(summary) = replay::summary_from(&e.data()) {
                show(summary);
            }
        });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    // Kept open for the page's lifetime.
    std::mem::forget(channel);
}

fn show(summary: Summary) {
    let state = SUMMARY.with(|s| s.clone());
    let before = state.get_untracked();
    state.set(summary);
    let _ = js_sys::Reflect::set(
        &crate::debug_object(),
        &"outbox".into(),
        &js_sys::JSON::parse(&serde_json::to_string(&summary).unwrap_or_default())
            .unwrap_or(JsValue::NULL),
    );
    if summary.drained_since(&before) {
        let drained = DRAINED.with(|d| d.clone());
        drained.set(true);
        let hide = Closure::once_into_js(move || drained.set(false));
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                hide.unchecked_ref(),
                DRAINED_NOTICE_MS,
            );
        }
    }
    let data = serde_json::to_value(summary).unwrap_or_default();
    publish(
        topics::OUTBOX,
        topics::OUTBOX_CHANGED,
        "@tessera/shell",
        data,
    );
}

/// The status bar's outbox part: what waits, what needs the user, and a short "All changes
/// saved" when the outbox empties.
pub fn status() -> impl IntoView {
    let summary = SUMMARY.with(|s| s.clone());
    let drained = DRAINED.with(|d| d.clone());
    let (pending, inbox, syncing) = (summary.clone(), summary.clone(), summary.clone());
    let text = move || {
        summary
            .get()
            .label()
            .or_else(|| drained.get().then(|| "All changes saved".to_string()))
    };
    view! {
        <span
            class="tessera-outbox"
            data-pending=move || pending.get().pending.to_string()
            data-inbox=move || inbox.get().inbox.to_string()
            data-syncing=move || syncing.get().syncing.to_string()
        >
            {move || text().map(|t| format!(" · {t}"))}
        </span>
    }
}
