//! The shell's part in offline writes: it hands the signed-in user's token to the outbox (so a
//! replay in the worker can send that user's commands later), gets replays going (at start, on
//! `online`, on a timer while commands wait), relays the outbox's announcements from other tabs
//! and the worker to this page's bus (`outbox.changed`), shows them in the status bar, and
//! opens the outbox from there: every waiting command, and the inbox of conflicts and
//! rejections with what the user can do about each.

use crate::bus::publish;
use leptos::prelude::*;
use tessera_contract::bus::topics;
use tessera_contract::Session;
use tessera_runtime::outbox::{Entry, EntryState, Resolution, Summary};
use tessera_runtime::{outbox_client, replay};
use tessera_sdk::Listener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How often a page looks whether waiting commands can go now (they may have backed off).
const RETRY_EVERY_MS: i32 = 15_000;
/// How long "All changes saved" stays.
const DRAINED_NOTICE_MS: i32 = 5_000;

thread_local! {
    static SUMMARY: ArcRwSignal<Summary> = ArcRwSignal::new(Summary::default());
    static DRAINED: ArcRwSignal<bool> = ArcRwSignal::new(false);
    static PANEL_OPEN: ArcRwSignal<bool> = ArcRwSignal::new(false);
}

pub fn start(session: &Session) {
    use_session(session);
    follow_announcements();
    // Sent from here as well as registered for Background Sync: after the network flapped,
    // Chromium's sync has already run and failed offline and waits out its own backoff, so a
    // registration alone left the commands for the retry timer (the flaps test showed it).
    Listener::new("online", |_| outbox_client::retry_now(true)).forget();
    let tick = Closure::<dyn FnMut()>::new(|| {
        if SUMMARY.with(|s| s.get_untracked().pending) > 0 {
            outbox_client::retry_now(false);
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

/// Hands the session's token to the outbox (replays read it when they send, so a renewed
/// token reaches commands already waiting) and sends what waits at once: commands backing off
/// after a 401 were waiting for exactly this.
pub fn use_session(session: &Session) {
    let subject = session
        .id_token
        .as_deref()
        .and_then(tessera_runtime::read_through::token_subject);
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
                    show(outbox.summary(false), false);
                }
                outbox_client::retry_now(true);
            }
            Err(e) => warn(&e.to_string()),
        }
    });
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
                let ours = outbox_client::heard(&e.data(), &summary);
                show(summary, ours);
            }
        });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    // Kept open for the page's lifetime.
    std::mem::forget(channel);
}

/// Shows how the outbox stands; `ours`: this page announced it (a command queued or decided
/// here, which changes no server answer).
fn show(summary: Summary, ours: bool) {
    let state = SUMMARY.with(|s| s.clone());
    let before = state.get_untracked();
    // A command confirmed meanwhile is in the server's answers now, not in remembered ones;
    // one only queued is overlaid on them.
    if !ours && !summary.only_queued_since(&before) {
        tessera_runtime::bff_client::answers_may_have_changed();
    }
    state.set(summary);
    let _ = js_sys::Reflect::set(
        &crate::debug::object(),
        &"outbox".into(),
        &js_sys::JSON::parse(&serde_json::to_string(&summary).unwrap_or_default())
            .unwrap_or(JsValue::NULL),
    );
    if summary.drained_since(&before) {
        let drained = DRAINED.with(|d| d.clone());
        drained.set(true);
        crate::js::after_ms(DRAINED_NOTICE_MS, move || drained.set(false));
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
/// saved" when the outbox empties. Clicking it opens the outbox.
pub fn status() -> impl IntoView {
    let summary = SUMMARY.with(|s| s.clone());
    let drained = DRAINED.with(|d| d.clone());
    let open = PANEL_OPEN.with(|o| o.clone());
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
            {move || text().map(|t| view! {
                " · "
                <button class="tessera-outbox-open" on:click={
                    let open = open.clone();
                    move |_| open.update(|o| *o = !*o)
                }>{t}</button>
            })}
        </span>
    }
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// Runs the user's decision on entry `id`; a failure shows in the panel.
fn decide(id: u64, problem: RwSignal<Option<String>>, what: Decision) {
    wasm_bindgen_futures::spawn_local(async move {
        let result = outbox_client::decide(move |o| match what {
            Decision::Retry => o.retry(id, now()),
            Decision::Discard => o.discard(id),
            Decision::Resolve(r) => o.resolve(id, r, now()),
        })
        .await;
        problem.try_set(result.err());
    });
}

enum Decision {
    Retry,
    Discard,
    Resolve(Resolution),
}

fn state_text(e: &Entry) -> &'static str {
    match e.state {
        EntryState::Pending if e.attempts > 0 => "Waiting to try again",
        EntryState::Pending => "Not sent yet",
        EntryState::Sending => "Sending…",
        EntryState::Done => "Saved",
        EntryState::Conflict => "Changed by someone else meanwhile",
        EntryState::Rejected => "Refused by the server",
    }
}

/// Pretty JSON for a body (the browser's `JSON.stringify` with two-space indents), or the
/// text as it is.
fn pretty(body: Option<&str>) -> String {
    let body = body.unwrap_or("");
    js_sys::JSON::parse(body)
        .and_then(|v| {
            js_sys::JSON::stringify_with_replacer_and_space(&v, &JsValue::NULL, &2.into())
        })
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_else(|| body.to_string())
}

fn entry_view(e: Entry, problem: RwSignal<Option<String>>) -> impl IntoView {
    let id = e.id;
    let state = e.state;
    let mine = pretty(e.command.body.as_deref());
    let theirs = e.theirs.as_ref().map(|t| pretty(t.body.as_deref()));
    let editing = RwSignal::new(None::<String>);
    let conflict = (state == EntryState::Conflict).then(|| {
        let mine_text = mine.clone();
        view! {
            <div class="conflict">
                <div><h4>"Mine"</h4><pre class="mine">{mine.clone()}</pre></div>
                <div><h4>"Theirs"</h4><pre class="theirs">{theirs.unwrap_or_default()}</pre></div>
            </div>
            <button class="keep-mine" on:click=move |_| decide(id, problem, Decision::Resolve(Resolution::KeepMine))>"Keep mine"</button>
            <button class="take-theirs" on:click=move |_| decide(id, problem, Decision::Resolve(Resolution::TakeTheirs))>"Take theirs"</button>
            <button class="edit-mine" on:click=move |_| editing.set(Some(mine_text.clone()))>"Edit"</button>
            {move || editing.get().map(|text| view! {
                <textarea class="edited" prop:value=text on:input=move |ev| editing.set(Some(event_target_value(&ev)))></textarea>
                <button class="send-edit" on:click=move |_| {
                    let text = editing.get_untracked().unwrap_or_default();
                    match tessera_runtime::json::parse(&text) {
                        Ok(v) => decide(id, problem, Decision::Resolve(Resolution::Edit { body: Some(v.to_string()) })),
                        Err(err) => problem.set(Some(format!("Not sent: the edited change cannot be read ({err})"))),
                    }
                }>"Send"</button>
            })}
        }
    });
    let retry = (state == EntryState::Rejected).then(|| view! {
        <button class="retry" on:click=move |_| decide(id, problem, Decision::Retry)>"Retry"</button>
    });
    let discard = matches!(state, EntryState::Pending | EntryState::Conflict | EntryState::Rejected).then(|| view! {
        <button class="discard" on:click=move |_| decide(id, problem, Decision::Discard)>"Discard"</button>
    });
    view! {
        <li class="outbox-entry" data-id=id.to_string() data-state=state.as_str()>
            <strong class="label">{if e.label.is_empty() { e.command.path.clone() } else { e.label.clone() }}</strong>
            " · "<span class="state">{state_text(&e)}</span>
            {e.error.clone().map(|err| view! { <p class="error">{err}</p> })}
            {conflict}
            {retry}
            {discard}
        </li>
    }
}

/// The outbox, opened from the status bar: the inbox first (it needs the user), then what
/// waits. Read again whenever the outbox changes while it is open.
pub fn panel() -> impl IntoView {
    let open = PANEL_OPEN.with(|o| o.clone());
    let summary = SUMMARY.with(|s| s.clone());
    let entries = RwSignal::new(Vec::<Entry>::new());
    let problem = RwSignal::new(None::<String>);
    let reads = StoredValue::new(0u64);
    let watching = open.clone();
    Effect::new(move |_| {
        let _ = summary.get();
        if !watching.get() {
            return;
        }
        reads.update_value(|n| *n += 1);
        let this = reads.get_value();
        wasm_bindgen_futures::spawn_local(async move {
            match outbox_client::snapshot().await {
                Ok(o) if reads.try_get_value() == Some(this) => {
                    let mut list: Vec<Entry> = o.inbox().cloned().collect();
                    list.extend(
                        o.entries()
                            .filter(|e| {
                                !matches!(e.state, EntryState::Conflict | EntryState::Rejected)
                            })
                            .cloned(),
                    );
                    // Unchanged entries keep their rows (and an edit in progress).
                    if entries.try_get_untracked().is_some_and(|l| l != list) {
                        entries.try_set(list);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    problem.try_set(Some(e.to_string()));
                }
            }
        });
    });
    let close = open.clone();
    move || {
        open.get().then(|| {
            let close = close.clone();
            view! {
                <section class="tessera-outbox-panel" aria-label="Changes on this device">
                    <h2>"Your changes"</h2>
                    <button class="close" on:click=move |_| close.set(false)>"Close"</button>
                    {move || problem.get().map(|p| view! { <p class="tessera-app-error" role="alert">{p}</p> })}
                    {move || entries.with(Vec::is_empty).then(|| view! {
                        <p class="empty">"Everything you changed has reached the server."</p>
                    })}
                    <ul>
                        <For
                            each=move || entries.get()
                            key=|e| (e.id, e.state, e.attempts, e.updated_at_ms)
                            children=move |e| entry_view(e, problem)
                        />
                    </ul>
                </section>
            }
        })
    }
}
