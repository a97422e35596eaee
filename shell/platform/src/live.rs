//! Live updates in the browser: one connection per browser, held by the tab that owns the Web
//! Lock `tessera-live`; it relays every event to the other tabs over the `BroadcastChannel`
//! `tessera-live`. Every tab puts the events on its bus (topic `live`, the event's type) and
//! shows the link's state (live, polling, offline) in the status bar.
//!
//! The leader prefers a WebSocket (`/api/live`) and falls back to long-polling
//! (`/api/live/poll`) as [`LinkPolicy`] says; it resumes from the newest seq any tab saw
//! (kept in `localStorage`), so a new leader picks up where the old one stopped, and drops
//! anything at or below it, so a seam never shows an event twice.

use futures_channel::mpsc;
use futures_util::StreamExt;
use shell_common::watched::Watched;
use tessera_contract::bus::topics;
use tessera_contract::live::{Attempt, ClientMessage, Cursor, LinkMode, LinkPolicy};
use tessera_sdk::js::{field, FromJs};
use tessera_sdk::LiveEvent;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const LOCK: &str = "tessera-live";
const CHANNEL: &str = "tessera-live";
const CURSOR_KEY: &str = "tessera.live.cursor";
/// How long one long-poll may wait on the server.
const POLL_WAIT_MS: u32 = 25_000;
/// A socket that hears nothing (not even a heartbeat) for this long is taken for dead.
const SILENCE_MS: i32 = 40_000;
/// While nobody is signed in there is nothing of theirs to follow; look again this often.
const SIGNED_OUT_CHECK_MS: u64 = 2_000;
/// During a burst of events the cursor is kept in `localStorage` at most this often: a write
/// per event cost a replay of a thousand commands 43 ms of the page's thread. A tab that
/// takes over after a crash resumes up to this much earlier (a page that closes saves it as
/// it goes).
const CURSOR_SAVE_MS: i32 = 500;

thread_local! {
    static MODE: Watched<LinkMode> = Watched::new(LinkMode::Offline);
    static CURSOR: std::cell::Cell<Cursor> = std::cell::Cell::new(Cursor(stored_cursor().unwrap_or(0)));
    /// Whether this tab holds the connection.
    static LEADER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether a save of the cursor is scheduled ([`save_cursor_soon`]).
    static SAVE_SCHEDULED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The open socket's news, for session changes to reach it.
    static OPEN_SOCKET: std::cell::RefCell<Option<mpsc::UnboundedSender<SocketNews>>> =
        const { std::cell::RefCell::new(None) };
}

/// A renewed token goes to the open socket (the server closes a socket whose token expired,
/// unless it is renewed on it); another user's session, or none, closes it, so the next one
/// authenticates as whoever is signed in now.
fn follow_session() {
    // The worker moved to another region: the socket follows, resuming from its cursor.
    crate::region::on_move(|| {
        OPEN_SOCKET.with(|open| {
            if let Some(tx) = open.borrow().as_ref() {
                let _ = tx.unbounded_send(SocketNews::Closed);
            }
        })
    });
    crate::session::on_change(|session, same_user| {
        tessera_runtime::bff_client::answers_may_have_changed();
        OPEN_SOCKET.with(|open| {
            if let Some(tx) = open.borrow().as_ref() {
                let news = match (&session.id_token, same_user) {
                    (Some(token), true) => SocketNews::Token(token.clone()),
                    _ => SocketNews::Closed,
                };
                let _ = tx.unbounded_send(news);
            }
        })
    });
}

/// A domain event as the server sent it: read (by the browser's `JSON.parse` and the SDK's
/// readers) only as far as the seq, and put on the bus as it came.
#[derive(Clone)]
struct Event {
    seq: i64,
    kind: String,
    value: JsValue,
}

impl Event {
    /// `None` for anything that is not a domain event.
    fn read(value: JsValue) -> Option<Event> {
        let LiveEvent { seq, kind, .. } = LiveEvent::from_js(&value).ok()?;
        Some(Event { seq, kind, value })
    }
}

/// What tabs say to each other, as JSON text: `{"kind":"event","event":…}`,
/// `{"kind":"mode","mode":"live"}` or `{"kind":"ask"}`.
enum Relay {
    Event(Event),
    Mode(LinkMode),
    /// A tab that just opened asks the leader for the mode.
    Ask,
}

impl Relay {
    /// The JSON text, as a JS string (never copied into wasm and back).
    fn to_text(&self) -> Option<JsValue> {
        let object = tessera_sdk::js::object();
        let kind = match self {
            Relay::Event(event) => {
                tessera_sdk::js::set(&object, "event", event.value.clone());
                "event"
            }
            Relay::Mode(mode) => {
                tessera_sdk::js::set(&object, "mode", mode.as_str().into());
                "mode"
            }
            Relay::Ask => "ask",
        };
        tessera_sdk::js::set(&object, "kind", kind.into());
        js_sys::JSON::stringify(&object).ok().map(JsValue::from)
    }

    fn parse(text: &str) -> Option<Relay> {
        let message = js_sys::JSON::parse(text).ok()?;
        match field::<String>(&message, "kind").ok()?.as_str() {
            "event" => Event::read(field(&message, "event").ok()?).map(Relay::Event),
            "mode" => LinkMode::parse(&field::<String>(&message, "mode").ok()?).map(Relay::Mode),
            "ask" => Some(Relay::Ask),
            _ => None,
        }
    }
}

pub fn start() {
    // The cursor is taken from `localStorage` now, before any event: taken lazily at the first
    // relayed event, it would already hold that event's seq (the leader stores it as it
    // relays) and the event would be dropped as seen.
    CURSOR.with(|_| {});
    // A save still scheduled when the page goes is made now.
    let flush = Closure::<dyn FnMut()>::new(|| {
        if SAVE_SCHEDULED.with(|s| s.get()) {
            store_held_cursor();
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("pagehide", flush.as_ref().unchecked_ref());
    }
    flush.forget();
    follow_session();
    let channel = web_sys::BroadcastChannel::new(CHANNEL).ok();
    if let Some(channel) = &channel {
        let answer = channel.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let text = e.data().as_string().unwrap_or_default();
                match Relay::parse(&text) {
                    Some(Relay::Event(event)) => deliver(event),
                    Some(Relay::Mode(mode)) => show(mode),
                    Some(Relay::Ask) if LEADER.with(|l| l.get()) => {
                        let mode = MODE.with(Watched::get);
                        post(&answer, &Relay::Mode(mode));
                    }
                    _ => {}
                }
            });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        post(channel, &Relay::Ask);
    }
    let lead = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        // Held for as long as this page lives: the promise never settles.
        wasm_bindgen_futures::future_to_promise(async move {
            lead(channel).await;
            Ok(JsValue::UNDEFINED)
        })
    });
    let locks = js_sys::Reflect::get(&navigator(), &"locks".into()).unwrap_or(JsValue::UNDEFINED);
    if locks.is_undefined() {
        warn("no Web Locks: every tab keeps its own live connection");
        let _ = lead
            .unchecked_ref::<js_sys::Function>()
            .call1(&JsValue::NULL, &JsValue::NULL);
        return;
    }
    let request = js_sys::Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(request) = request {
        let _ = request.call2(&locks, &LOCK.into(), &lead);
    }
}

fn post(channel: &web_sys::BroadcastChannel, message: &Relay) {
    if let Some(text) = message.to_text() {
        let _ = channel.post_message(&text);
    }
}

fn navigator() -> JsValue {
    js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED)
}

fn warn(e: &str) {
    web_sys::console::warn_1(&format!("tessera live: {e}").into());
}

fn stored_cursor() -> Option<i64> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(CURSOR_KEY)
        .ok()??
        .parse()
        .ok()
}

fn store_cursor(seq: i64) {
    if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
        let _ = storage.set_item(CURSOR_KEY, &seq.to_string());
    }
}

/// Saves the newest seq this tab holds.
fn store_held_cursor() {
    store_cursor(CURSOR.with(|c| c.get().0));
}

/// Keeps the cursor within [`CURSOR_SAVE_MS`].
fn save_cursor_soon() {
    if SAVE_SCHEDULED.with(|s| s.replace(true)) {
        return;
    }
    shell_common::js::after_ms(CURSOR_SAVE_MS, || {
        SAVE_SCHEDULED.with(|s| s.set(false));
        store_held_cursor();
    });
}

/// An event from the server or another tab: on the bus once, whoever delivered it.
fn deliver(event: Event) {
    let new = CURSOR.with(|c| {
        let mut cursor = c.get();
        let new = cursor.accept(event.seq);
        c.set(cursor);
        new
    });
    if !new {
        return;
    }
    tessera_runtime::bff_client::answers_may_have_changed();
    tessera_sdk::bus::publish(topics::LIVE, &event.kind, "@tessera/shell", &event.value);
}

fn show(mode: LinkMode) {
    // Only a socket hears every change as it happens; polling and offline ask the server.
    tessera_runtime::bff_client::live_link(mode == LinkMode::Live);
    MODE.with(|m| m.set(mode));
    let _ = js_sys::Reflect::set(
        &shell_common::debug::object(),
        &"live".into(),
        &mode.as_str().into(),
    );
}

/// The leader's loop: a socket while sockets work, long-polls while they do not.
async fn lead(channel: Option<web_sys::BroadcastChannel>) {
    LEADER.with(|l| l.set(true));
    let _ = js_sys::Reflect::set(
        &shell_common::debug::object(),
        &"liveLeader".into(),
        &true.into(),
    );
    let relay = |message: &Relay| {
        if let Some(channel) = &channel {
            post(channel, message);
        }
    };
    let set_mode = |mode: LinkMode| {
        show(mode);
        relay(&Relay::Mode(mode));
    };
    let on_event = |event: Event| {
        relay(&Relay::Event(event.clone()));
        deliver(event);
        save_cursor_soon();
    };
    let mut policy = LinkPolicy::default();
    loop {
        // Read at every attempt: the session's token is renewed, and users sign in and out.
        let Some(token) = crate::session::current().id_token else {
            set_mode(LinkMode::Offline);
            sleep_ms(SIGNED_OUT_CHECK_MS).await;
            continue;
        };
        let now = js_sys::Date::now();
        match policy.next(now, js_sys::Math::random()) {
            Attempt::Socket { delay_ms } => {
                sleep_ms(delay_ms).await;
                let was_ready = socket(&token, &mut policy, &set_mode, &on_event).await;
                policy.socket_failed(was_ready);
            }
            Attempt::Poll { delay_ms } => {
                sleep_ms(delay_ms).await;
                // Until a poll has answered, ask for an answer at once: it is what tells
                // "polling works" from "offline".
                let wait = if policy.mode(false) == LinkMode::Polling {
                    POLL_WAIT_MS
                } else {
                    0
                };
                match poll(&token, wait).await {
                    Ok(answer) => {
                        policy.poll_ok(js_sys::Date::now());
                        for event in answer.events.into_iter().filter_map(Event::read) {
                            on_event(event);
                        }
                        CURSOR.with(|c| {
                            let mut cursor = c.get();
                            cursor.accept(answer.cursor);
                            c.set(cursor)
                        });
                        store_cursor(answer.cursor);
                    }
                    Err(e) => {
                        warn(&e);
                        policy.poll_failed();
                    }
                }
            }
        }
        set_mode(policy.mode(false));
    }
}

fn held_cursor() -> Option<i64> {
    let held = CURSOR.with(|c| c.get().0);
    (held > 0 || stored_cursor().is_some()).then_some(held)
}

/// `path` at the region in use (the worker routes everything else; a socket it cannot), or at
/// this origin.
fn api_url(path: &str) -> String {
    let origin = crate::region::origin()
        .or_else(|| web_sys::window().and_then(|w| w.location().origin().ok()))
        .unwrap_or_default();
    format!("{origin}{path}")
}

enum SocketNews {
    Text(String),
    /// The session's token was renewed.
    Token(String),
    Closed,
}

/// One socket, from open to close. Returns whether it got as far as `ready`.
async fn socket(
    token: &str,
    policy: &mut LinkPolicy,
    set_mode: &dyn Fn(LinkMode),
    on_event: &dyn Fn(Event),
) -> bool {
    let url = api_url("/api/live").replacen("http", "ws", 1);
    let Ok(ws) = web_sys::WebSocket::new(&url) else {
        return false;
    };
    let (tx, mut rx) = mpsc::unbounded::<SocketNews>();
    let hello = ClientMessage::Hello {
        token: token.to_owned(),
        after: held_cursor(),
        topics: vec![],
    };
    let hello = serde_json::to_string(&hello).unwrap_or_default();
    let on_open = {
        let ws = ws.clone();
        Closure::<dyn FnMut()>::new(move || {
            let _ = ws.send_with_str(&hello);
        })
    };
    let on_message = {
        let tx = tx.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(text) = e.data().as_string() {
                let _ = tx.unbounded_send(SocketNews::Text(text));
            }
        })
    };
    let on_close = {
        let tx = tx.clone();
        Closure::<dyn FnMut()>::new(move || {
            let _ = tx.unbounded_send(SocketNews::Closed);
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    OPEN_SOCKET.with(|open| *open.borrow_mut() = Some(tx.clone()));
    let mut ready = false;
    // One timer for the socket, set again when it fires after news: one per message was a
    // timer made (and left to fire) for each event of a burst.
    let mut heard_at = js_sys::Date::now();
    let mut silence = Box::pin(sleep_ms(SILENCE_MS as u64));
    loop {
        let news = match futures_util::future::select(rx.next(), &mut silence).await {
            futures_util::future::Either::Left((Some(news), _)) => {
                heard_at = js_sys::Date::now();
                news
            }
            futures_util::future::Either::Left((None, _)) => SocketNews::Closed,
            futures_util::future::Either::Right(_) => {
                let quiet = (js_sys::Date::now() - heard_at) as u64;
                if quiet < SILENCE_MS as u64 {
                    silence = Box::pin(sleep_ms(SILENCE_MS as u64 - quiet));
                    continue;
                }
                // Silence: the server or the path to it is gone without a close.
                SocketNews::Closed
            }
        };
        match news {
            SocketNews::Closed => break,
            SocketNews::Token(token) => {
                let renewal = serde_json::to_string(&ClientMessage::Auth { token });
                let _ = ws.send_with_str(&renewal.unwrap_or_default());
            }
            SocketNews::Text(text) => {
                let message = js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL);
                match field::<String>(&message, "type").as_deref() {
                    Ok("ready") => {
                        ready = true;
                        policy.socket_ready();
                        set_mode(LinkMode::Live);
                    }
                    Ok("event") => {
                        if let Some(event) = field(&message, "event").ok().and_then(Event::read) {
                            on_event(event);
                        }
                    }
                    Ok("caught-up" | "heartbeat") => {
                        if let Ok(cursor) = field::<i64>(&message, "cursor") {
                            CURSOR.with(|c| {
                                let mut held = c.get();
                                held.accept(cursor);
                                c.set(held)
                            });
                            store_held_cursor();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    OPEN_SOCKET.with(|open| *open.borrow_mut() = None);
    ws.set_onopen(None);
    ws.set_onmessage(None);
    ws.set_onclose(None);
    ws.set_onerror(None);
    let _ = ws.close();
    ready
}

/// A long-poll's answer (`live::PollAnswer`), its events left as they came.
struct PollAnswer {
    events: Vec<JsValue>,
    cursor: i64,
}

async fn poll(token: &str, wait: u32) -> Result<PollAnswer, String> {
    let path = match held_cursor() {
        Some(after) => format!("/api/live/poll?after={after}&wait={wait}"),
        None => "/api/live/poll".to_owned(),
    };
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|_| "no Headers")?;
    let _ = headers.set("Authorization", &format!("Bearer {token}"));
    init.set_headers(&headers);
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str_and_init(&api_url(&path), &init))
            .await
            .map_err(|_| "long-poll: network error".to_owned())?
            .unchecked_into();
    if !response.ok() {
        return Err(format!("long-poll: HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| "long-poll: no body")?)
        .await
        .map_err(|_| "long-poll: body")?
        .as_string()
        .unwrap_or_default();
    let answer = js_sys::JSON::parse(&text).map_err(|_| "long-poll: not JSON".to_owned())?;
    let read = || -> Result<PollAnswer, tessera_sdk::DecodeError> {
        Ok(PollAnswer {
            events: field(&answer, "events")?,
            cursor: field(&answer, "cursor")?,
        })
    };
    read().map_err(|e| format!("long-poll: {e}"))
}

pub(crate) async fn sleep_ms(ms: u64) {
    if ms == 0 {
        return;
    }
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// The status bar's part: how live the data on screen is.
pub fn status() -> web_sys::Element {
    use tessera_sdk::dom::{el, Build};
    let part = el("span").attr("class", "tessera-live");
    let shown = part.clone();
    MODE.with(|m| {
        m.follow(move |mode| {
            let _ = shown.set_attribute("data-live", mode.as_str());
            shown.set_text_content(Some(match mode {
                LinkMode::Live => "Live",
                LinkMode::Polling => "Live (polling)",
                LinkMode::Offline => "Not live",
            }));
        })
    });
    part
}
