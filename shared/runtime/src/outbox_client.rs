//! A page's side of the outbox: queue a command durably, read answers with the waiting
//! commands on top (read-your-writes), and get the commands sent: by Background Sync in the
//! service worker where the browser has it, otherwise by a replay in this page.

use crate::js_value::{field, measure, now};
use crate::outbox::{Entry, NewEntry, Outbox, Summary};
use crate::outbox_handoff;
use crate::outbox_store::{Durability, Load, OutboxStore};
use crate::replay;
use crate::response_store::StoreError;
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

thread_local! {
    static STORE: RefCell<Option<Rc<OutboxStore>>> = const { RefCell::new(None) };
    /// Commands taken from this page's apps that IndexedDB is still saving.
    static ACCEPTED: RefCell<Vec<NewEntry>> = const { RefCell::new(Vec::new()) };
    /// Names this page's connection in its announcements, so it knows its own from others',
    /// and its hand-off of commands not saved yet ([`outbox_handoff`]).
    /// 53 random bits as an integer: formatting the float would link Rust's float printing.
    static ANNOUNCER: String =
        format!("page-{:x}", (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64);
    /// Whether this page holds its hand-off lock, so commands can show before they are saved.
    static HANDING_OFF: Cell<bool> = const { Cell::new(false) };
    /// The read of the outbox on its way, and the store's epoch when it began ([`snapshot`]).
    static READING: RefCell<Option<(u64, SharedRead)>> = const { RefCell::new(None) };
    /// Whether this browser held no outbox when the page started ([`open_early`]).
    static NONE_AT_START: RefCell<Option<Shared<LocalBoxFuture<'static, bool>>>> =
        const { RefCell::new(None) };
    /// The opening of [`STORE`] on its way ([`store`]).
    static OPENING: RefCell<Option<SharedOpen>> = const { RefCell::new(None) };
}

type SharedRead = Shared<LocalBoxFuture<'static, Result<Outbox, StoreError>>>;
type SharedOpen = Shared<LocalBoxFuture<'static, Result<Rc<OutboxStore>, StoreError>>>;

fn warn(message: &str) {
    web_sys::console::warn_1(&format!("tessera outbox: {message}").into());
}

fn announce(summary: Summary) {
    ANNOUNCER.with(|by| replay::announce_by(summary, Some(by)));
}

/// An announcement heard on the outbox channel: unless this page's connection made it, the
/// outbox may have changed under the page's copy. Whether this page made it (its
/// announcements are of commands queued or decided here, which change no server answer).
pub fn heard(data: &JsValue, summary: &Summary) -> bool {
    let ours = replay::announced_by(data).is_some_and(|by| ANNOUNCER.with(|me| *me == by));
    if !ours {
        if let Some(store) = STORE.with(|s| s.borrow().clone()) {
            store.heard_elsewhere(summary.syncing);
        }
    }
    ours
}

/// The page's connection to the outbox database, opened once: callers that come while it
/// opens share that opening (three apps' first queries each opened one, and each waited
/// for three connections, locks and recoveries).
pub async fn store() -> Result<Rc<OutboxStore>, StoreError> {
    if let Some(s) = STORE.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let opening = OPENING.with(|o| o.borrow().clone()).unwrap_or_else(|| {
        let opening = open().boxed_local().shared();
        OPENING.with(|o| *o.borrow_mut() = Some(opening.clone()));
        opening
    });
    let opened = opening.await;
    // A failed opening is not kept: the next caller tries again.
    OPENING.with(|o| *o.borrow_mut() = None);
    opened
}

/// Whether the page's connection to the outbox is open (a read of it will not wait for that).
pub fn is_open() -> bool {
    STORE.with(|s| s.borrow().is_some())
}

/// [`snapshot`], and when the outbox as read last let entries go ([`OutboxStore::settled_at`]).
pub async fn settled_snapshot() -> Result<(Outbox, u64), StoreError> {
    let outbox = snapshot().await?;
    let store = store().await?;
    Ok((outbox, store.settled_at()))
}

/// Opens the outbox now, before anything asks for it, and looks whether this browser holds
/// one at all. An answer waits for the outbox (its waiting commands go on it), and on a new
/// profile opening it (creating the database and the journal's cache, taking the page's
/// lock) took 100-250 ms, which a cold page's first queries spent waiting after their answers
/// had come. Where there was no outbox when the page started, [`empty_until_open`] lets them
/// go on without it.
pub fn open_early() {
    let none = none_at_start().boxed_local().shared();
    NONE_AT_START.with(|n| *n.borrow_mut() = Some(none));
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = store().await {
            warn(&format!("opening the outbox: {e}"));
        }
    });
}

/// No outbox database, no journal and no hand-off from a closed page: nothing of this user
/// (or any) waits on this device. `false` wherever the browser cannot tell.
async fn none_at_start() -> bool {
    if outbox_handoff::any_waiting() {
        return false;
    }
    let idb = field(&js_sys::global(), "indexedDB");
    let Ok(databases) = field(&idb, "databases").dyn_into::<js_sys::Function>() else {
        return false;
    };
    let Ok(listed) = databases
        .call0(&idb)
        .and_then(|p| p.dyn_into::<js_sys::Promise>())
    else {
        return false;
    };
    let Ok(listed) = JsFuture::from(listed).await else {
        return false;
    };
    let named = |d: JsValue| field(&d, "name").as_string();
    if js_sys::Array::from(&listed)
        .iter()
        .any(|d| named(d).as_deref() == Some(crate::outbox_store::DATABASE))
    {
        return false;
    }
    !crate::outbox_journal::Journal::of(crate::outbox_store::DATABASE)
        .exists()
        .await
}

/// While the outbox is still opening: whether it held nothing when this page started, so an
/// answer has no commands to show on it yet (this page queues none before it opens). A
/// command another tab queues meanwhile shows once the page hears of it, as it would after.
pub async fn empty_until_open() -> bool {
    if is_open() {
        return false;
    }
    let Some(none) = NONE_AT_START.with(|n| n.borrow().clone()) else {
        return false;
    };
    none.await && !is_open()
}

async fn open() -> Result<Rc<OutboxStore>, StoreError> {
    // Looked at before this opening creates the database.
    if let Some(none) = NONE_AT_START.with(|n| n.borrow().clone()) {
        none.await;
    }
    let opened = Rc::new(OutboxStore::open().await?);
    // Before this page keeps anything outside IndexedDB, and before it looks for what closed
    // pages left there.
    let page = ANNOUNCER.with(|p| p.clone());
    if let Err(e) = outbox_handoff::hold_page_lock(&page).await {
        warn(&format!("commands are shown only once saved: {e}"));
    } else {
        HANDING_OFF.with(|h| h.set(true));
    }
    match outbox_handoff::recover(opened.clone()).await {
        Ok(0) => {}
        Ok(n) => {
            warn(&format!(
                "{n} command(s) a closed page had shown but not saved were put in the outbox"
            ));
            if let Ok(outbox) = opened.read().await {
                announce(outbox.summary(false));
            }
            kick();
        }
        Err(e) => warn(&format!(
            "putting back what closed pages had not saved: {e}"
        )),
    }
    STORE.with(|s| *s.borrow_mut() = Some(opened.clone()));
    Ok(opened)
}

/// The User Timing measure of each durable write of a queued command (DevTools' Performance
/// panel shows it; the outbox benchmark reads it).
pub const ENQUEUE_MEASURE: &str = "tessera:outbox-enqueue";
/// The same for taking a command: shown on this page's answers, announced, and kept in
/// `localStorage` until IndexedDB has it (where the page can keep it).
pub const ACCEPT_MEASURE: &str = "tessera:outbox-accept";

/// Queues `new` durably, tells every page, and gets it sent. From the moment it is taken, and
/// before IndexedDB has it, it shows: its edits go on this page's answers and, where the page's
/// copy of the outbox is current, the page hears of it at once (the user sees what they did
/// in the frame they did it; the promise still means "saved"). If saving fails, it goes from
/// the answers again and the caller gets the error.
pub async fn queue(new: NewEntry) -> Result<Entry, StoreError> {
    let store = store().await?;
    let key = new.idempotency_key.clone();
    let taken = now();
    // Shown before it is saved only where a page closed meanwhile cannot take it along.
    let kept =
        HANDING_OFF.with(|h| h.get()) && ANNOUNCER.with(|page| outbox_handoff::keep(page, &new));
    if kept {
        ACCEPTED.with(|a| a.borrow_mut().push(new.clone()));
        if let Some(outbox) = store.current() {
            announce(ACCEPTED.with(|a| outbox.summary_with(&a.borrow())));
        }
        measure(ACCEPT_MEASURE, taken);
    }
    let started = now();
    let saved = store.enqueue(new.clone(), js_sys::Date::now() as u64).await;
    if kept {
        ACCEPTED.with(|a| a.borrow_mut().retain(|n| n.idempotency_key != key));
        ANNOUNCER.with(|page| outbox_handoff::release(page, &new));
    }
    if saved.is_ok() {
        measure(ENQUEUE_MEASURE, started);
    }
    if let Ok(outbox) = snapshot().await {
        announce(ACCEPTED.with(|a| outbox.summary_with(&a.borrow())));
    }
    let entry = saved?;
    kick();
    Ok(entry)
}

/// Applies the user's decision on an entry (retry, discard, resolve), tells every page, and
/// gets the outbox sent again.
pub async fn decide(
    f: impl FnOnce(&mut Outbox) -> Result<(), crate::outbox::OutboxError>,
) -> Result<(), String> {
    let store = store().await.map_err(|e| e.to_string())?;
    let summary = store
        .update(Load::AsIs, Durability::Strict, |o| {
            f(o).map(|()| o.summary(false))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    announce(summary);
    kick();
    Ok(())
}

/// The outbox as it is now (for the overlay and the outbox view): the page's copy while no
/// other writer has announced a change since, else read from the database, by one read for
/// every caller while nothing changes (during a replay, each query's overlay needs it, and
/// each read loads and parses every entry).
pub async fn snapshot() -> Result<Outbox, StoreError> {
    let store = store().await?;
    if let Some(outbox) = store.current() {
        return Ok(outbox);
    }
    let epoch = store.epoch();
    let on_its_way = READING.with(|r| {
        r.borrow()
            .as_ref()
            .filter(|(at, _)| *at == epoch)
            .map(|(_, read)| read.clone())
    });
    let read = on_its_way.unwrap_or_else(|| {
        let read = async move { store.read().await }.boxed_local().shared();
        READING.with(|r| *r.borrow_mut() = Some((epoch, read.clone())));
        read
    });
    let outbox = read.clone().await;
    // Done: later callers read anew (a replayer elsewhere writes between its announcements).
    READING.with(|r| {
        let mut r = r.borrow_mut();
        if r.as_ref().is_some_and(|(_, on)| on.ptr_eq(&read)) {
            *r = None;
        }
    });
    outbox
}

/// Applies `subject`'s waiting commands on `query` to `body`, an answer to a request that went
/// out when the outbox was `before`; how many applied.
pub async fn overlay(
    subject: &str,
    query: &str,
    before: Option<&Outbox>,
    body: &mut serde_json::Value,
) -> usize {
    if empty_until_open().await {
        return 0;
    }
    match snapshot().await {
        Ok(now) => {
            let outbox = match before {
                Some(before) => now.since(before),
                None => now,
            };
            ACCEPTED.with(|a| {
                let accepted = a.borrow();
                tessera_contract::overlay::apply(
                    body,
                    outbox.overlays_with(&accepted, subject, query),
                )
            })
        }
        Err(e) => {
            web_sys::console::warn_1(
                &format!("tessera outbox: no overlay for {query}: {e}").into(),
            );
            0
        }
    }
}

/// Whether this page can leave replays to Background Sync: a worker controls it and the
/// browser has `SyncManager` (tests remove it to exercise the fallback).
pub fn has_background_sync() -> bool {
    let global = js_sys::global();
    let container = field(&field(&global, "navigator"), "serviceWorker");
    field(&container, "controller").is_truthy() && !field(&global, "SyncManager").is_undefined()
}

/// The message that has the controlling worker replay now (see the worker's `on_message`);
/// `reconnected` as [`replay::run`] takes it.
pub const REPLAY_MESSAGE: &str = "tessera:replay";

/// Asks the worker controlling this page to replay; whether the message went.
fn ask_worker_to_replay(reconnected: Option<u64>) -> bool {
    let container = field(&field(&js_sys::global(), "navigator"), "serviceWorker");
    let worker = field(&container, "controller");
    let Ok(post) = field(&worker, "postMessage").dyn_into::<js_sys::Function>() else {
        return false;
    };
    let message = js_sys::Object::new();
    let at = reconnected.map_or(JsValue::NULL, |ms| JsValue::from_f64(ms as f64));
    let built = js_sys::Reflect::set(&message, &"type".into(), &REPLAY_MESSAGE.into())
        .and_then(|_| js_sys::Reflect::set(&message, &"reconnected".into(), &at));
    built.is_ok() && post.call1(&worker, &message).is_ok()
}

async fn register_sync() -> Result<(), JsValue> {
    let container = field(&field(&js_sys::global(), "navigator"), "serviceWorker");
    let ready: js_sys::Promise = field(&container, "ready").dyn_into()?;
    let registration = JsFuture::from(ready).await?;
    let sync = field(&registration, "sync");
    let register: js_sys::Function = field(&sync, "register").dyn_into()?;
    let registered: js_sys::Promise = register
        .call1(&sync, &replay::SYNC_TAG.into())?
        .dyn_into()?;
    JsFuture::from(registered).await.map(|_| ())
}

/// Gets the outbox sent: registers Background Sync where it exists (the browser fires it
/// when the network returns), and online has a replay run now, after any already running: by
/// the worker where it has Background Sync, else in this page. Online, the sync alone was not
/// enough: registered while the worker's sync event for an earlier command still ran, it did
/// not fire again for more than 10 s (seen in e2e `bff.test.mjs`, about one run in six).
pub fn kick() {
    kick_for(None, crate::js_value::navigator_online());
}

/// Sends what waits from this page now, Background Sync or not (still registering it, for
/// when the page closes): a sync whose last run left commands waiting is tried again on the
/// browser's own schedule, minutes later, which is too late for the page's retry timer and
/// for commands that were refused an expired token and now have a renewed one. Offline it
/// only registers the sync: a send now could only fail and push the next try further out.
/// `reconnected`: the network or the token is back, so entries backing off from a failure
/// before now go at once; such a replay runs after one already running (in any tab or the
/// worker), which may have started, and failed its sends, before the network was back.
pub fn retry_now(reconnected: bool) {
    let at = reconnected.then(|| js_sys::Date::now() as u64);
    kick_for(at, crate::js_value::navigator_online());
}

fn kick_for(reconnected: Option<u64>, here_too: bool) {
    wasm_bindgen_futures::spawn_local(async move {
        if has_background_sync() {
            match register_sync().await {
                Ok(()) if !here_too => return,
                // Sent by the worker, off this page's thread: replaying here, a page showing
                // the changed data spent its frames on the replay's transactions and parsing
                // beside its own reads and renders, and the replay waited for the page.
                Ok(()) if ask_worker_to_replay(reconnected) => return,
                Ok(()) => {}
                Err(e) => web_sys::console::warn_1(
                    &format!(
                        "tessera outbox: Background Sync refused ({}); replaying here",
                        e.as_string().unwrap_or_else(|| format!("{e:?}"))
                    )
                    .into(),
                ),
            }
        }
        if let Err(e) = replay::run_after_current(reconnected).await {
            warn(&e);
        }
    });
}
