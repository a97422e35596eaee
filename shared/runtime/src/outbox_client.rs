//! A page's side of the outbox: queue a command durably, read answers with the waiting
//! commands on top (read-your-writes), and get the commands sent: by Background Sync in the
//! service worker where the browser has it, otherwise by a replay in this page.

use crate::js_value::{field, measure, now};
use crate::outbox::{Entry, NewEntry, Outbox};
use crate::outbox_store::{Durability, Load, OutboxStore};
use crate::replay;
use crate::response_store::StoreError;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

thread_local! {
    static STORE: RefCell<Option<Rc<OutboxStore>>> = const { RefCell::new(None) };
}

/// The page's connection to the outbox database, opened once.
pub async fn store() -> Result<Rc<OutboxStore>, StoreError> {
    if let Some(s) = STORE.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let opened = Rc::new(OutboxStore::open().await?);
    STORE.with(|s| *s.borrow_mut() = Some(opened.clone()));
    Ok(opened)
}

/// The User Timing measure of each durable write of a queued command (DevTools' Performance
/// panel shows it; the outbox benchmark reads it).
pub const ENQUEUE_MEASURE: &str = "tessera:outbox-enqueue";

/// Queues `new` durably, tells every page, and gets it sent.
pub async fn queue(new: NewEntry) -> Result<Entry, StoreError> {
    let store = store().await?;
    let started = now();
    let entry = store.enqueue(new, js_sys::Date::now() as u64).await?;
    measure(ENQUEUE_MEASURE, started);
    if let Ok(outbox) = store.read().await {
        replay::announce(outbox.summary(false));
    }
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
    replay::announce(summary);
    kick();
    Ok(())
}

/// The outbox as it is now (for the overlay and the outbox view).
pub async fn snapshot() -> Result<Outbox, StoreError> {
    store().await?.read().await
}

/// Applies `subject`'s waiting commands on `query` to `body`, an answer to a request that went
/// out when the outbox was `before`; how many applied.
pub async fn overlay(
    subject: &str,
    query: &str,
    before: Option<&Outbox>,
    body: &mut serde_json::Value,
) -> usize {
    match snapshot().await {
        Ok(now) => {
            let outbox = match before {
                Some(before) => now.since(before),
                None => now,
            };
            tessera_contract::overlay::apply(body, outbox.overlays_for(subject, query))
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
/// now if online, else when the network returns), otherwise replays in this page unless
/// another tab or the worker is already at it.
pub fn kick() {
    kick_for(false, false);
}

/// Sends what waits from this page now, Background Sync or not (still registering it, for
/// when the page closes): a sync whose last run left commands waiting is tried again on the
/// browser's own schedule, minutes later, which is too late for the page's retry timer and
/// for commands that were refused an expired token and now have a renewed one. Offline it
/// only registers the sync: a send now could only fail and push the next try further out.
/// `reconnected`: entries backing off go at once.
pub fn retry_now(reconnected: bool) {
    kick_for(reconnected, crate::js_value::navigator_online());
}

fn kick_for(reconnected: bool, here_too: bool) {
    wasm_bindgen_futures::spawn_local(async move {
        if has_background_sync() {
            match register_sync().await {
                Ok(()) if !here_too => return,
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
        if let Err(e) = replay::run(false, reconnected).await {
            web_sys::console::warn_1(&format!("tessera outbox: {e}").into());
        }
    });
}
