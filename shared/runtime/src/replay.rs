//! Sending the outbox: one replayer at a time per origin (a Web Lock that tabs and the service
//! worker all take), entries claimed and settled in IndexedDB transactions, each sent with its
//! user's token as stored at that moment. Used by the service worker on Background Sync and by
//! pages where the browser has no `SyncManager` (on start, on `online`, on a timer).
//!
//! A run sends batches: `POST /api/batch` with up to [`BATCH_MAX`] commands of one user
//! ([`Outbox::claim_batch`](crate::outbox::Outbox::claim_batch) says which, and on which
//! version each goes; [`Outbox::settle_batch`](crate::outbox::Outbox::settle_batch) what the
//! results do), up to `BATCHES_PER_USER` (3) batches in flight per user, on different
//! entities, and `PARALLEL_BATCHES` (4) in all, so another user's batch is never shut out. A
//! command that cannot ride in a batch
//! ([`Command::batchable`](crate::outbox::Command::batchable)) goes alone, as does every
//! command for the rest of a run whose BFF has no batch endpoint (`404` or `405`) or refused a
//! batch as a whole; alone, up to `PARALLEL` (6) sends are in flight, one
//! per entity. A batch carries more than one command of an entity only on a version an
//! answer in this run confirmed, so a run's first batch carries one per entity.
//!
//! Every change is announced on the `BroadcastChannel` [`CHANNEL`] as an
//! [`outbox::Summary`](crate::outbox::Summary), so every open page can show it. At a run's
//! end, the saved answers its applied commands changed are read again
//! ([`crate::write_through`]).

use crate::js_value::{error_text, field, request_lock, time_limit, web_locks};
use crate::outbox::{
    batch_body, outcome_of, read_batch, retry_after_ms, Answer, BatchAnswer, BatchItem, Confirmed,
    Entry, Outcome, Summary, BATCH_MAX, BATCH_PATH,
};
use crate::outbox_store::{Durability, Load, OutboxStore};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_contract::sync::{entity_etag, parse_version_tag};
use tessera_contract::{VecMap, VecSet};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The Web Lock whoever replays holds.
pub const LOCK: &str = "tessera-outbox-replay";
/// Where replayers and enqueuers announce the outbox's [`Summary`].
pub const CHANNEL: &str = "tessera-outbox";
/// The Background Sync tag pages register and the worker answers.
pub const SYNC_TAG: &str = "sync-outbox";
/// Commands sent alone in flight at once (for different entities).
const PARALLEL: usize = 6;
/// Batches in flight at once.
const PARALLEL_BATCHES: usize = 4;
/// Batches of one user in flight at once (their entities apart: an entity with a command in
/// flight waits, [`Outbox::claim_batch`](crate::outbox::Outbox::claim_batch)).
const BATCHES_PER_USER: usize = 3;
/// A send without an answer by then counts as a network failure (and is retried).
const SEND_TIMEOUT_MS: u32 = 15_000;
/// The same for a batch, which may carry [`BATCH_MAX`] commands.
const BATCH_TIMEOUT_MS: u32 = 30_000;
/// After a send that got through, a run waits for backed-off entries up to this long, so one
/// entity's hiccup does not end it; longer waits, and waits after sends that got nowhere
/// (offline: the run must not sit on the lock when `online` comes), are left to the next
/// trigger (timer, `online`, Background Sync).
const MAX_NAP_MS: u64 = 20_000;
/// A run stops by then: a sync event must settle within about three minutes.
const MAX_RUN_MS: u64 = 150_000;
/// At most one announcement per this long while a run goes on, the first this long after it
/// starts: a shorter run announces only its end. Every open page reads the whole outbox again
/// on one (and its apps read their data again), and IndexedDB runs those reads between the
/// replayer's writes, which wait for them. With one at a run's start and then every 200 ms, a
/// thousand commands on one entity drained about a quarter slower.
const ANNOUNCE_EVERY_MS: u64 = 1_000;

/// What a run achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Answers, one per command (alone or in a batch), that were no retry (applied,
    /// conflict, rejection; in a batch also a refusal of a command sent behind one that was
    /// not applied, which goes again).
    pub settled: usize,
    /// Commands that will be tried again.
    pub retried: usize,
    /// How the outbox stood when the run ended.
    pub summary: Summary,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

pub use crate::js_value::sleep_ms;

/// Tells every open page (and this one) how the outbox stands.
pub fn announce(summary: Summary) {
    announce_by(summary, None);
}

/// [`announce`], naming the connection whose write it announces (see [`announced_by`]).
pub fn announce_by(summary: Summary, by: Option<&str>) {
    let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) else {
        return;
    };
    if let Ok(data) = to_js(&summary) {
        if let Some(by) = by {
            let _ = js_sys::Reflect::set(&data, &"by".into(), &by.into());
        }
        let _ = channel.post_message(&data);
    }
    channel.close();
}

/// Who made an announcement read from [`CHANNEL`], if it says.
pub fn announced_by(data: &JsValue) -> Option<String> {
    field(data, "by").as_string()
}

fn to_js(summary: &Summary) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(summary).map_err(|e| JsValue::from_str(&e.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// Reads a message from [`CHANNEL`].
pub fn summary_from(data: &JsValue) -> Option<Summary> {
    tessera_wire::FromJs::from_js(data).ok()
}

thread_local! {
    /// Runs asked for through [`run_after_current`] in this page or worker, going or waiting
    /// for the lock.
    static ASKED: Cell<u32> = const { Cell::new(0) };
    /// The latest reconnection an ask carried that no run has started with yet: an ask left
    /// to a run already waiting hands it on (its entries backing off must go at once).
    static WAKE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Sends what waits now, or after the run already going (here, in another tab or in the
/// worker) if one is. One run going and one waiting cover every ask: the waiting one starts
/// after whatever later askers queued was saved, so it sends that, and further asks are left
/// to it. Pages and the worker ask on every command queued; a run that gave up on a held lock
/// left a command queued as the other run ended waiting for the next timer (15 s in a page
/// without Background Sync).
pub async fn run_after_current(reconnected: Option<u64>) -> Result<Option<Report>, String> {
    WAKE.with(|w| w.set(w.get().max(reconnected)));
    if ASKED.with(|a| a.get()) >= 2 {
        return Ok(None);
    }
    ASKED.with(|a| a.set(a.get() + 1));
    let ran = run(true, reconnected).await;
    ASKED.with(|a| a.set(a.get() - 1));
    ran
}

/// Runs a replay if no one else is (`wait: false`: returns `Ok(None)` at once when another tab
/// or the worker holds the lock), or after whoever is running finishes (`wait: true`).
/// `reconnected`: when the network came back (or the token was renewed), so entries backing
/// off from a failure before then are sent at once ([`crate::outbox::Outbox::wake`]); also
/// the latest one an ask left to this run carried ([`run_after_current`]).
pub async fn run(wait: bool, reconnected: Option<u64>) -> Result<Option<Report>, String> {
    let Some(locks) = web_locks() else {
        return Err("this browser has no Web Locks API, so replays cannot be coordinated".into());
    };
    let slot: Rc<RefCell<Option<Result<Report, String>>>> = Rc::default();
    let filled = slot.clone();
    let callback = Closure::once_into_js(move |lock: JsValue| -> js_sys::Promise {
        if lock.is_null() {
            return js_sys::Promise::resolve(&JsValue::UNDEFINED);
        }
        let reconnected = reconnected.max(WAKE.with(|w| w.take()));
        wasm_bindgen_futures::future_to_promise(async move {
            let result = run_locked(reconnected).await;
            *filled.borrow_mut() = Some(result);
            Ok(JsValue::UNDEFINED)
        })
    });
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(!wait))
        .map_err(|e| error_text(&e))?;
    let promise = request_lock(&locks, LOCK, &options, &callback)?;
    JsFuture::from(promise)
        .await
        .map_err(|e| format!("replay: {}", error_text(&e)))?;
    let result = slot.borrow_mut().take();
    result.transpose()
}

async fn run_locked(reconnected: Option<u64>) -> Result<Report, String> {
    let store = Rc::new(OutboxStore::open().await.map_err(|e| e.to_string())?);
    let mut changed = VecSet::new();
    let result = replay_all(&store, reconnected, &mut changed).await;
    let summary = store
        .read()
        .await
        .map(|o| o.summary(false))
        .unwrap_or_default();
    announce(summary);
    // After the announcement: the status bar does not wait for it.
    crate::write_through::refresh(&store, changed).await;
    store.close();
    result.map(|mut r| {
        r.summary = summary;
        r
    })
}

/// What came back for something in flight.
enum Flight {
    /// A command sent alone: its id, the key sent, what the answer means.
    Alone(u64, String, Outcome),
    /// A batch: whose, what it carried, what came back.
    Batch(String, Vec<BatchItem>, BatchAnswer),
}

/// Keeps batches (and commands sent alone) in flight: each answer is settled, and what may
/// go next claimed, in one transaction as soon as it comes, so one slow send does not hold up
/// the others. `changed` collects the queries (with their subject) the applied commands
/// changed.
async fn replay_all(
    store: &Rc<OutboxStore>,
    reconnected: Option<u64>,
    changed: &mut VecSet<(String, String)>,
) -> Result<Report, String> {
    let started = now_ms();
    let mut report = Report::default();
    let mut load = Load::Recover;
    let mut got_through = false;
    let mut in_flight = FuturesUnordered::new();
    let mut answered: Vec<Flight> = Vec::new();
    let mut announced_at = started;
    // Off for the rest of the run once the BFF turns a batch away as a whole.
    let mut batching = true;
    // Batches in flight per user, and how many commands are in flight alone.
    let mut busy: VecMap<String, usize> = VecMap::new();
    let mut alone = 0;
    // What this run's answers said about each entity's version (see `claim_batch`).
    let mut confirmed = Confirmed::new();
    loop {
        let now = now_ms();
        // Past the run's time, only what is in flight is still settled.
        let open = now <= started + MAX_RUN_MS;
        let settle = std::mem::take(&mut answered);
        for flight in &settle {
            match flight {
                Flight::Alone(..) => alone -= 1,
                Flight::Batch(subject, _, answer) => {
                    if let Some(n) = busy.get_mut(subject) {
                        *n -= 1;
                        if *n == 0 {
                            busy.remove(subject);
                        }
                    }
                    if let BatchAnswer::Unsupported(why) = answer {
                        if batching {
                            web_sys::console::info_1(
                                &format!("tessera outbox: sending commands one by one: {why}")
                                    .into(),
                            );
                        }
                        batching = false;
                    }
                }
            }
        }
        let (alone_room, batch_room) = if open {
            (
                PARALLEL - alone,
                PARALLEL_BATCHES - busy.values().sum::<usize>(),
            )
        } else {
            (0, 0)
        };
        let (claimed, batches, next_wake, summary, queries) = store
            .update(load, Durability::Relaxed, |o| {
                if let (Load::Recover, Some(at)) = (load, reconnected) {
                    o.wake(at);
                }
                let warn = |e: &dyn std::fmt::Display| {
                    web_sys::console::warn_1(&format!("tessera outbox: {e}").into())
                };
                for flight in settle {
                    match flight {
                        Flight::Alone(id, key, outcome) => {
                            if let Err(e) =
                                o.settle_sent(id, &key, outcome, now, js_sys::Math::random())
                            {
                                warn(&e);
                            }
                        }
                        Flight::Batch(_, items, answer) => {
                            let answers = match answer {
                                BatchAnswer::Results(answers) => answers,
                                BatchAnswer::Failed(outcome) => {
                                    vec![Answer::from(outcome); items.len()]
                                }
                                BatchAnswer::Unsupported(_) => {
                                    o.release_batch(&items);
                                    continue;
                                }
                            };
                            let errors = o.settle_batch(
                                &items,
                                answers,
                                now,
                                js_sys::Math::random,
                                &mut confirmed,
                            );
                            for e in errors {
                                warn(&e);
                            }
                        }
                    }
                }
                let mut batches = Vec::new();
                while batching && batches.len() < batch_room {
                    let full: VecSet<String> = busy
                        .iter()
                        .filter(|(_, n)| **n >= BATCHES_PER_USER)
                        .map(|(subject, _)| subject.clone())
                        .collect();
                    match o.claim_batch(now, BATCH_MAX, &full, &confirmed) {
                        Some(batch) => {
                            *busy.get_or_insert_with(batch.subject.clone(), || 0) += 1;
                            batches.push(batch);
                        }
                        None => break,
                    }
                }
                let singles: Vec<u64> = o
                    .ready(now)
                    .into_iter()
                    .filter(|id| !batching || o.get(*id).is_some_and(|e| !e.command.batchable()))
                    .take(alone_room)
                    .collect();
                let claimed: Vec<Entry> = singles
                    .into_iter()
                    .filter_map(|id| o.start_sending(id, now).ok().cloned())
                    .collect();
                let queries = o.take_confirmed_queries();
                (claimed, batches, o.next_wake_ms(), o.summary(true), queries)
            })
            .await
            .map_err(|e| e.to_string())?;
        changed.extend(queries);
        load = Load::AsIs;
        // Every page reads the outbox again on an announcement: one a second is enough for
        // the status bar, and the run's end is always announced (`run_locked`). Until a page
        // hears one, its copy may still hold commands confirmed since; their overlays set
        // what the server's answers already have.
        if now >= announced_at + ANNOUNCE_EVERY_MS {
            announce(summary);
            announced_at = now;
        }
        // Each send runs as its own task: polled only from this loop, it would stall while
        // the loop waits for IndexedDB, and its token read would miss its transaction's end.
        for e in claimed {
            alone += 1;
            let store = store.clone();
            let (sending, answer) = async move {
                let token = store.token(&e.subject).await.ok().flatten();
                let outcome = send(&e, token.as_deref()).await;
                Flight::Alone(e.id, e.idempotency_key, outcome)
            }
            .remote_handle();
            wasm_bindgen_futures::spawn_local(sending);
            in_flight.push(answer);
        }
        for batch in batches {
            let store = store.clone();
            let (sending, answer) = async move {
                let token = store.token(&batch.subject).await.ok().flatten();
                let answer = send_batch(&batch.items, token.as_deref()).await;
                Flight::Batch(batch.subject, batch.items, answer)
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
                    // The versions answered before the nap may have moved on meanwhile.
                    confirmed.clear();
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
        for flight in &answered {
            let mut count = |outcome: &Outcome| {
                if matches!(outcome, Outcome::Retry { .. }) {
                    report.retried += 1;
                } else {
                    report.settled += 1;
                    got_through = true;
                }
            };
            match flight {
                Flight::Alone(_, _, outcome) => count(outcome),
                Flight::Batch(_, _, BatchAnswer::Results(answers)) => {
                    answers.iter().for_each(|a| count(&a.outcome))
                }
                Flight::Batch(_, items, BatchAnswer::Failed(outcome)) => {
                    items.iter().for_each(|_| count(outcome))
                }
                // Given back, to go out alone at once.
                Flight::Batch(_, _, BatchAnswer::Unsupported(_)) => got_through = true,
            }
        }
    }
}

/// Sends a batch and says what came back.
async fn send_batch(items: &[BatchItem], token: Option<&str>) -> BatchAnswer {
    match try_send_batch(items, token).await {
        Ok(answer) => answer,
        Err(error) => BatchAnswer::Failed(Outcome::Retry {
            error,
            retry_after_ms: None,
        }),
    }
}

async fn try_send_batch(items: &[BatchItem], token: Option<&str>) -> Result<BatchAnswer, String> {
    let fail = |e: JsValue| format!("POST {BATCH_PATH}: {}", error_text(&e));
    let headers = web_sys::Headers::new().map_err(fail)?;
    headers.set("Accept", "application/json").map_err(fail)?;
    headers
        .set("Content-Type", "application/json")
        .map_err(fail)?;
    if let Some(t) = token {
        headers
            .set("Authorization", &format!("Bearer {t}"))
            .map_err(fail)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&batch_body(items)));
    init.set_headers(&headers);
    let (status, _, retry_after, content_type, text) =
        fetch(BATCH_PATH, &init, BATCH_TIMEOUT_MS, fail).await?;
    Ok(read_batch(
        items.len(),
        status,
        retry_after,
        &content_type,
        &text,
    ))
}

/// Fetches `url` with `init` and a timeout: the status, `ETag` version, `Retry-After` wait,
/// `Content-Type` and body.
async fn fetch(
    url: &str,
    init: &web_sys::RequestInit,
    timeout_ms: u32,
    fail: impl Fn(JsValue) -> String + Copy,
) -> Result<(u16, Option<i64>, Option<u64>, String, String), String> {
    time_limit(init, timeout_ms);
    let request = web_sys::Request::new_with_str_and_init(url, init).map_err(fail)?;
    let response: web_sys::Response = crate::bff_fetch::fetch(&request)
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
    Ok((status, version, retry_after, content_type, text))
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
    let (status, version, retry_after, content_type, text) =
        fetch(url, &init, SEND_TIMEOUT_MS, fail).await?;
    Ok(outcome_of(
        url,
        status,
        version,
        retry_after,
        &content_type,
        &text,
    ))
}
