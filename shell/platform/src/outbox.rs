//! The shell's part in offline writes: it hands the signed-in user's token to the outbox (so a
//! replay in the worker can send that user's commands later), gets replays going (at start, on
//! `online`, on a timer while commands wait), relays the outbox's announcements from other tabs
//! and the worker to this page's bus (`outbox.changed`), shows them in the status bar, and
//! opens the outbox from there: every waiting command, and the inbox of conflicts and
//! rejections with what the user can do about each.

use crate::part::{text, Part};
use shell_common::bus::publish;
use shell_common::watched::Watched;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_contract::bus::topics;
use tessera_contract::Session;
use tessera_runtime::outbox::{Entry, EntryState, Resolution, Summary};
use tessera_runtime::{outbox_client, replay};
use tessera_sdk::dom::{el, Build, Keyed};
use tessera_sdk::Listener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

/// How often a page looks whether waiting commands can go now (they may have backed off).
const RETRY_EVERY_MS: i32 = 15_000;
/// How long "All changes saved" stays.
const DRAINED_NOTICE_MS: i32 = 5_000;

thread_local! {
    static SUMMARY: Watched<Summary> = Watched::new(Summary::default());
    static DRAINED: Watched<bool> = Watched::new(false);
    static PANEL_OPEN: Watched<bool> = Watched::new(false);
}

pub fn start(session: &Session) {
    use_session(session);
    follow_announcements();
    // Sent from here as well as registered for Background Sync: after the network flapped,
    // Chromium's sync has already run and failed offline and waits out its own backoff, so a
    // registration alone left the commands for the retry timer (the flaps test showed it).
    Listener::new("online", |_| outbox_client::retry_now(true)).forget();
    let tick = Closure::<dyn FnMut()>::new(|| {
        if SUMMARY.with(|s| s.get().pending) > 0 {
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
    let before = state.get();
    // A command confirmed meanwhile is in the server's answers now, not in remembered ones;
    // one only queued is overlaid on them.
    if !ours && !summary.only_queued_since(&before) {
        tessera_runtime::bff_client::answers_may_have_changed();
    }
    state.set(summary);
    let _ = js_sys::Reflect::set(
        &shell_common::debug::object(),
        &"outbox".into(),
        &js_sys::JSON::parse(&serde_json::to_string(&summary).unwrap_or_default())
            .unwrap_or(JsValue::NULL),
    );
    if summary.drained_since(&before) {
        DRAINED.with(|d| d.set(true));
        shell_common::js::after_ms(DRAINED_NOTICE_MS, || DRAINED.with(|d| d.set(false)));
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
pub fn status(bar: &Element) {
    let part = el("span").attr("class", "tessera-outbox");
    let _ = bar.append_child(&part);
    let open = el("button").attr("class", "tessera-outbox-open");
    Listener::on(&open, "click", |_| {
        PANEL_OPEN.with(|o| o.update(|o| *o = !*o))
    })
    .forget();
    let shown = Rc::new(RefCell::new(Part::new(&part)));
    let draw = move || {
        let (summary, drained) = (SUMMARY.with(Watched::get), DRAINED.with(Watched::get));
        let _ = part.set_attribute("data-pending", &summary.pending.to_string());
        let _ = part.set_attribute("data-inbox", &summary.inbox.to_string());
        let _ = part.set_attribute("data-syncing", &summary.syncing.to_string());
        let label = summary
            .label()
            .or_else(|| drained.then(|| "All changes saved".to_string()));
        let nodes = match label {
            Some(label) => {
                open.set_text_content(Some(&label));
                vec![text(" · "), open.clone().into()]
            }
            None => Vec::new(),
        };
        shown.borrow_mut().set(nodes);
    };
    let draw = Rc::new(draw);
    let again = draw.clone();
    SUMMARY.with(|s| s.follow(move |_| again()));
    DRAINED.with(|d| d.follow(move |_| draw()));
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// Runs the user's decision on entry `id`; a failure shows in the panel.
fn decide(id: u64, what: Decision) {
    wasm_bindgen_futures::spawn_local(async move {
        let result = outbox_client::decide(move |o| match what {
            Decision::Retry => o.retry(id, now()),
            Decision::Discard => o.discard(id),
            Decision::Resolve(r) => o.resolve(id, r, now()),
        })
        .await;
        PROBLEM.with(|p| p.set(result.err()));
    });
}

thread_local! {
    /// What went wrong reading the outbox or acting on an entry, shown atop the panel.
    static PROBLEM: Watched<Option<String>> = Watched::new(None);
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

/// A button that runs `f` when clicked, for as long as the row holding the listener lives.
fn button(class: &str, label: &str, held: &mut Vec<Listener>, f: impl Fn() + 'static) -> Element {
    let b = el("button").attr("class", class).text(label);
    held.push(Listener::on(&b, "click", move |_| f()));
    b
}

/// One entry's row, with the listeners it holds.
fn entry_view(e: &Entry) -> (Element, Vec<Listener>) {
    let (id, state) = (e.id, e.state);
    let mut held = Vec::new();
    let label = if e.label.is_empty() {
        &e.command.path
    } else {
        &e.label
    };
    let row = el("li")
        .attr("class", "outbox-entry")
        .attr("data-id", &id.to_string())
        .attr("data-state", state.as_str())
        .child(&el("strong").attr("class", "label").text(label))
        .text(" · ")
        .child(&el("span").attr("class", "state").text(state_text(e)));
    if let Some(err) = &e.error {
        let _ = row.append_child(&el("p").attr("class", "error").text(err));
    }
    if state == EntryState::Conflict {
        let mine = pretty(e.command.body.as_deref());
        let theirs = e.theirs.as_ref().map(|t| pretty(t.body.as_deref()));
        let side = |title: &str, class: &str, body: &str| {
            el("div")
                .child(&el("h4").text(title))
                .child(&el("pre").attr("class", class).text(body))
        };
        let conflict = el("div")
            .attr("class", "conflict")
            .child(&side("Mine", "mine", &mine))
            .child(&side(
                "Theirs",
                "theirs",
                theirs.as_deref().unwrap_or_default(),
            ));
        let keep = button("keep-mine", "Keep mine", &mut held, move || {
            decide(id, Decision::Resolve(Resolution::KeepMine))
        });
        let take = button("take-theirs", "Take theirs", &mut held, move || {
            decide(id, Decision::Resolve(Resolution::TakeTheirs))
        });
        // The editor is drawn with the row and shown by "Edit", before the Discard button.
        let area: web_sys::HtmlTextAreaElement =
            el("textarea").attr("class", "edited").unchecked_into();
        let edited = area.clone();
        let send = button("send-edit", "Send", &mut held, move || {
            send_edit(id, &edited.value())
        });
        let (row_at, mine) = (row.clone(), mine.clone());
        let edit = button("edit-mine", "Edit", &mut held, move || {
            area.set_value(&mine);
            let discard = row_at.query_selector(".discard").ok().flatten();
            for node in [area.unchecked_ref::<Element>(), &send] {
                let _ = row_at.insert_before(node, discard.as_ref().map(|d| d.as_ref()));
            }
        });
        for node in [&conflict, &keep, &take, &edit] {
            let _ = row.append_child(node);
        }
    }
    if state == EntryState::Rejected {
        let retry = button("retry", "Retry", &mut held, move || {
            decide(id, Decision::Retry)
        });
        let _ = row.append_child(&retry);
    }
    if matches!(
        state,
        EntryState::Pending | EntryState::Conflict | EntryState::Rejected
    ) {
        let discard = button("discard", "Discard", &mut held, move || {
            decide(id, Decision::Discard)
        });
        let _ = row.append_child(&discard);
    }
    (row, held)
}

/// Sends the user's edit of a conflicting change as its resolution, if it reads as JSON.
fn send_edit(id: u64, text: &str) {
    match tessera_runtime::json::parse(text) {
        Ok(v) => decide(
            id,
            Decision::Resolve(Resolution::Edit {
                body: Some(v.to_string()),
            }),
        ),
        Err(err) => PROBLEM.with(|p| {
            p.set(Some(format!(
                "Not sent: the edited change cannot be read ({err})"
            )))
        }),
    }
}

/// The panel's rows, by what they show of their entry, with their buttons' listeners.
type Rows = Keyed<(u64, EntryState, u32, u64), Vec<Listener>>;

/// The outbox, opened from the status bar: the inbox first (it needs the user), then what
/// waits. Read again whenever the outbox changes while it is open.
pub fn panel(parent: &Element) {
    let close = el("button").attr("class", "close").text("Close");
    Listener::on(&close, "click", |_| PANEL_OPEN.with(|o| o.set(false))).forget();
    let list = el("ul");
    let panel = el("section")
        .attr("class", "tessera-outbox-panel")
        .attr("aria-label", "Changes on this device")
        .child(&el("h2").text("Your changes"))
        .child(&close);
    PROBLEM.with(|p| {
        Part::follow(&panel, p, |shown| {
            let alert = shown.as_ref().map(|text| {
                el("p")
                    .attr("class", "tessera-app-error")
                    .attr("role", "alert")
                    .text(text)
                    .into()
            });
            alert.into_iter().collect()
        })
    });
    let empty = Rc::new(RefCell::new(Part::new(&panel)));
    let _ = panel.append_child(&list);
    let rows: Rc<RefCell<Rows>> = Rc::new(RefCell::new(Keyed::new(list)));
    let reads = Rc::new(Cell::new(0u64));
    let read = move || {
        if !PANEL_OPEN.with(Watched::get) {
            return;
        }
        let this = reads.get() + 1;
        reads.set(this);
        let (reads, rows, empty) = (reads.clone(), rows.clone(), empty.clone());
        wasm_bindgen_futures::spawn_local(async move {
            match outbox_client::snapshot().await {
                // A later read is on its way: its entries are the current ones.
                Ok(_) if reads.get() != this => {}
                Ok(o) => {
                    let mut list: Vec<&Entry> = o.inbox().collect();
                    list.extend(o.entries().filter(|e| {
                        !matches!(e.state, EntryState::Conflict | EntryState::Rejected)
                    }));
                    let note = list.is_empty().then(|| {
                        el("p")
                            .attr("class", "empty")
                            .text("Everything you changed has reached the server.")
                            .into()
                    });
                    empty.borrow_mut().set(note.into_iter().collect());
                    // Unchanged entries keep their rows (and an edit in progress).
                    rows.borrow_mut().show(
                        list,
                        |e| (e.id, e.state, e.attempts, e.updated_at_ms),
                        |e| entry_view(e),
                    );
                }
                Err(e) => PROBLEM.with(|p| p.set(Some(e.to_string()))),
            }
        });
    };
    let read = Rc::new(read);
    let again = read.clone();
    SUMMARY.with(|s| s.follow(move |_| again()));
    PANEL_OPEN.with(|o| {
        Part::follow(parent, o, move |open| {
            read();
            open.then(|| panel.clone().into()).into_iter().collect()
        })
    });
}
