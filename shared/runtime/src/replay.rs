//! Sending the outbox: one replayer at a time per origin (a Web Lock that tabs and the service
//! worker all take), entries claimed and settled in IndexedDB transactions, each sent with its
//! user's token as stored at that moment. Used by the service worker on Background Sync and by
//! pages where the browser has no `SyncManager` (on start, on `online`, on a timer).
//!
//! Every change is announced on the `BroadcastChannel` [`CHANNEL`] as an
//! [`outbox::Summary`](crate::outbox::Summary), so every open page can show it.

use crate::js_value::{error_text, field};
use crate::outbox::{classify, retry_after_ms, Entry, Outcome, Summary};
use crate::outbox_store::{Durability, Load, OutboxStore};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use std::cell::RefCell;
use std::rc::Rc;
use tessera_contract::sync::{entity_etag, parse_version_tag};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The Web Lock whoever replays holds.
pub const LOCK: &str = "tessera-outbox-replay";
/// Where replayers and enqueuers announce the outbox's [`Summary`].
pub const CHANNEL: &str = "tessera-outbox";
/// The Background Sync tag pages register and the worker answers.
pub const SYNC_TAG: &str = "sync-outbox";
/// Sends in flight at once (for different entities).
const PARALLEL: usize = 6;
/// A send without an answer by then counts as a network failure (and is retried).
const SEND_TIMEOUT_MS: u32 = 15_000;
/// After a batch that got through, a run waits for backed-off entries up to this long, so one
/// entity's hiccup does not end it; longer waits, and waits after a batch that got nowhere
/// (offline: the run must not sit on the lock when `online` comes), are left to the next
/// trigger (timer, `online`, Background Sync).
const MAX_NAP_MS: u64 = 20_000;
/// A run stops by then: a sync event must settle within about three minutes.
const MAX_RUN_MS: u64 = 150_000;
/// At most one announcement per this long while a run goes on.
const ANNOUNCE_EVERY_MS: u64 = 200;

#[wasm_bindgen]
extern "C" {
    /// `fetch` of whatever global this runs in (window or worker).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// What a run achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Sends that reached a final answer (applied, conflict, rejection).
    pub settled: usize,
    /// Sends that will be tried again.
    pub retried: usize,
    /// How the outbox stood when the run ended.
    pub summary: Summary,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

pub async fn sleep_ms(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function = field(&js_sys::global(), "setTimeout").unchecked_into();
        let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from_f64(ms as f64));
    });
    let _ = JsFuture::from(promise).await;
}

/// Tells every open page (and this one) how the outbox stands.
pub fn announce(summary: Summary) {
    let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) else {
        return;
    };
    if let Ok(data) = to_js(&summary) {
        let _ = channel.post_message(&data);
    }
    channel.close();
}

fn to_js(summary: &Summary) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(summary).map_err(|e| JsValue::from_str(&e.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// Reads a message from [`CHANNEL`].
pub fn summary_from(data: &JsValue) -> Option<Summary> {
    let text = js_sys::JSON::stringify(data).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}

/// Runs a replay if no one else is (`wait: false`: returns `Ok(None)` at once when another tab
/// or the worker holds the lock), or after whoever is running finishes (`wait: true`).
/// `reconnected`: the network just came back, so entries backing off are sent at once.
pub async fn run(wait: bool, reconnected: bool) -> Result<Option<Report>, String> {
    let locks = field(&field(&js_sys::global(), "navigator"), "locks");
    if locks.is_undefined() || locks.is_null() {
        return Err("this browser has no Web Locks API, so replays cannot be coordinated".into());
    }
    let slot: Rc<RefCell<Option<Result<Report, String>>>> = Rc::default();
    let filled = slot.clone();
    let callback = Closure::once_into_js(move |lock: JsValue| -> js_sys::Promise {
        if lock.is_null() {
            return js_sys::Promise::resolve(&JsValue::UNDEFINED);
        }
        wasm_bindgen_futures::future_to_promise(async move {
            let result = run_locked(reconnected).await;
            *filled.borrow_mut() = Some(result);
            Ok(JsValue::UNDEFINED)
        })
    });
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(!wait))
        .map_err(|e| error_text(&e))?;
    let request: js_sys::Function = field(&locks, "request").unchecked_into();
    let promise: js_sys::Promise = request
        .call3(&locks, &LOCK.into(), &options, &callback)
        .map_err(|e| format!("requesting the replay lock: {}", error_text(&e)))?
        .unchecked_into();
    JsFuture::from(promise)
        .await
        .map_err(|e| format!("replay: {}", error_text(&e)))?;
    let result = slot.borrow_mut().take();
    result.transpose()
}

async fn run_locked(reconnected: bool) -> Result<Report, String> {
    let store = Rc::new(OutboxStore::open().await.map_err(|e| e.to_string())?);
    let result = replay_all(&store, reconnected).await;
    let summary = store
        .read()
        .await
        .map(|o| o.summary(false))
        .unwrap_or_default();
    announce(summary);
    store.close();
    result.map(|mut r| {
        r.summary = summary;
        r
    })
}

/// Keeps up to [`PARALLEL`] sends in flight (one per entity): each answer is settled, and the
/// next ready entries claimed, in one transaction as soon as it comes, so one slow send does
/// not hold up the others.
async fn replay_all(store: &Rc<OutboxStore>, reconnected: bool) -> Result<Report, String> {
    let started = now_ms();
    let mut report = Report::default();
    let mut load = Load::Recover;
    let mut got_through = false;
    let mut in_flight = FuturesUnordered::new();
    let mut answered: Vec<(u64, String, Outcome)> = Vec::new();
    let mut announced_at = 0;
    loop {
        let now = now_ms();
        // Past the run's time, only what is in flight is still settled.
        let room = if now > started + MAX_RUN_MS {
            0
        } else {
            PARALLEL - in_flight.len()
        };
        let settle = std::mem::take(&mut answered);
        let (claimed, next_wake, summary) = store
            .update(load, Durability::Relaxed, |o| {
                if load == Load::Recover && reconnected {
                    o.wake();
                }
                for (id, key, outcome) in settle {
                    if let Err(e) = o.settle_sent(id, &key, outcome, now, js_sys::Math::random()) {
                        web_sys::console::warn_1(&format!("tessera outbox: {e}").into());
                    }
                }
                let claimed: Vec<Entry> = o
                    .ready(now)
                    .into_iter()
                    .take(room)
                    .filter_map(|id| o.start_sending(id, now).ok().cloned())
                    .collect();
                (claimed, o.next_wake_ms(), o.summary(true))
            })
            .await
            .map_err(|e| e.to_string())?;
        load = Load::AsIs;
        // Every page reads the outbox again on an announcement: a few a second are enough
        // for the status bar, and the run's end is always announced (`run_locked`).
        if now >= announced_at + ANNOUNCE_EVERY_MS {
            announce(summary);
            announced_at = now;
        }
        for e in claimed {
            // Each send runs as its own task: polled only from this loop, it would stall
            // while the loop waits for IndexedDB, and its token read would miss its
            // transaction's end.
            let store = store.clone();
            let (sending, answer) = async move {
                let token = store.token(&e.subject).await.ok().flatten();
                let outcome = send(&e, token.as_deref()).await;
                (e.id, e.idempotency_key, outcome)
            }
            .remote_handle();
            wasm_bindgen_futures::spawn_local(sending);
            in_flight.push(answer);
        }
        if in_flight.is_empty() {
            match next_wake {
                Some(at)
                    if got_through
                        && at.saturating_sub(now) <= MAX_NAP_MS
                        && now + at.saturating_sub(now) < started + MAX_RUN_MS =>
                {
                    sleep_ms(at.saturating_sub(now).max(1)).await;
                    continue;
                }
                _ => return Ok(report),
            }
        }
        // Wait for one answer, and take every other that is already there.
        answered.extend(in_flight.next().await);
        while let Some(Some(more)) = in_flight.next().now_or_never() {
            answered.push(more);
        }
        got_through = false;
        for (_, _, outcome) in &answered {
            if matches!(outcome, Outcome::Retry { .. }) {
                report.retried += 1;
            } else {
                report.settled += 1;
                got_through = true;
            }
        }
    }
}

/// Sends one entry and says what its answer means.
async fn send(entry: &Entry, token: Option<&str>) -> Outcome {
    match try_send(entry, token).await {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Retry {
            error,
            retry_after_ms: None,
        },
    }
}

async fn try_send(entry: &Entry, token: Option<&str>) -> Result<Outcome, String> {
    let url = &entry.command.path;
    let fail = |e: JsValue| format!("{} {url}: {}", entry.command.method, error_text(&e));
    let headers = web_sys::Headers::new().map_err(fail)?;
    headers.set("Accept", "application/json").map_err(fail)?;
    headers
        .set("Idempotency-Key", &entry.idempotency_key)
        .map_err(fail)?;
    if let Some(v) = entry.base_version {
        headers.set("If-Match", &entity_etag(v)).map_err(fail)?;
    }
    if let Some(t) = token {
        headers
            .set("Authorization", &format!("Bearer {t}"))
            .map_err(fail)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(&entry.command.method);
    if let Some(body) = &entry.command.body {
        headers
            .set("Content-Type", "application/json")
            .map_err(fail)?;
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let abort_signal = field(&js_sys::global(), "AbortSignal");
    if let Ok(timeout) = field(&abort_signal, "timeout").dyn_into::<js_sys::Function>() {
        if let Ok(signal) = timeout.call1(&abort_signal, &JsValue::from(SEND_TIMEOUT_MS)) {
            let _ = js_sys::Reflect::set(&init, &"signal".into(), &signal);
        }
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(fail)?;
    let response: web_sys::Response = JsFuture::from(global_fetch(&request))
        .await
        .map_err(fail)?
        .unchecked_into();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let status = response.status();
    let version = header("etag").and_then(|t| parse_version_tag(&t));
    let retry_after = header("retry-after").and_then(|v| retry_after_ms(&v));
    let content_type = header("content-type").unwrap_or_default();
    let text = JsFuture::from(response.text().map_err(fail)?)
        .await
        .map_err(fail)?
        .as_string()
        .unwrap_or_default();
    let problem =
        tessera_contract::bff::decode::<serde_json::Value>(url, status, &content_type, &text).err();
    let message = problem.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let mut outcome = classify(status, version, retry_after, message);
    if let (Outcome::Conflict(theirs), Some(tessera_contract::bff::BffError::Problem(p))) =
        (&mut outcome, &problem)
    {
        if let Some(current) = &p.current {
            theirs.version = current
                .get("version")
                .and_then(|v| v.as_i64())
                .or(theirs.version);
            theirs.body = Some(current.to_string());
        }
    }
    Ok(outcome)
}
