//! A page shows a command the moment it takes it, before IndexedDB has committed it (a write
//! takes 5-30 ms over several round trips to the browser process). A page closed or reloaded
//! in that window would take the command with it while the user already saw it. So each
//! command is also written to `localStorage` first, synchronously, in the task that took it,
//! and removed once the outbox holds it (or refused it, and the caller was told). The copy is
//! the command as a waiting entry's JSON, the form the journal keeps too.
//!
//! A page holds a Web Lock named after itself for its lifetime. Whichever page opens the outbox
//! next puts back the commands of pages whose lock is gone, under one lock so two pages opened
//! together do not both put one back, and skips a command the outbox already holds (its page
//! went after the commit but before the removal). A command already sent and let go is put
//! back and sent again under its idempotency key, which the server answers as a replay.

use crate::js_value::{error_text, field, request_lock, web_locks};
use crate::outbox::{Entry, NewEntry};
use crate::outbox_store::OutboxStore;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use tessera_contract::sync::outbox_names::HANDOFF_PREFIX as PREFIX;
const PAGE_LOCK: &str = "tessera-outbox-page:";
const RECOVERY_LOCK: &str = "tessera-outbox-handoff";

fn warn(message: &str) {
    web_sys::console::warn_1(&format!("tessera outbox: {message}").into());
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn key(page: &str, new: &NewEntry) -> String {
    format!("{PREFIX}{page}:{}", new.idempotency_key)
}

/// The page of a hand-off key (page names hold no `:`).
fn page_of(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX)?
        .split_once(':')
        .map(|(page, _)| page)
}

/// Keeps `new` outside IndexedDB until [`release`]; false where it could not (no storage, or
/// it is full), and the command is then as safe as IndexedDB's commit makes it.
pub fn keep(page: &str, new: &NewEntry) -> bool {
    let kept = serde_json::to_string(&new.as_entry(js_sys::Date::now() as u64))
        .map_err(|e| e.to_string())
        .and_then(|text| {
            storage()
                .ok_or_else(|| "no localStorage".to_string())?
                .set_item(&key(page, new), &text)
                .map_err(|e| error_text(&e))
        });
    if let Err(e) = &kept {
        warn(&format!(
            "keeping {:?} until it is saved: {e}",
            new.idempotency_key
        ));
    }
    kept.is_ok()
}

/// The outbox holds `new` now, or refused it.
pub fn release(page: &str, new: &NewEntry) {
    if let Some(s) = storage() {
        let _ = s.remove_item(&key(page, new));
    }
}

/// Takes this page's lock, held until the page goes; resolves once it is held, so no other
/// page takes this page's commands for orphans.
pub async fn hold_page_lock(page: &str) -> Result<(), String> {
    let locks = web_locks().ok_or("this browser has no Web Locks API")?;
    let mut granted = None;
    let held = js_sys::Promise::new(&mut |resolve, _| granted = Some(resolve));
    let granted = granted.expect("the Promise executor runs at once");
    let callback = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        let _ = granted.call0(&JsValue::UNDEFINED);
        // Never settles: the lock goes with the page.
        js_sys::Promise::new(&mut |_, _| {})
    });
    // Shared: a page that opens its outbox twice at once takes it twice, never waits.
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"mode".into(), &"shared".into()).map_err(|e| error_text(&e))?;
    let _ = request_lock(&locks, &format!("{PAGE_LOCK}{page}"), &options, &callback)?;
    JsFuture::from(held)
        .await
        .map(|_| ())
        .map_err(|e| error_text(&e))
}

/// Names of the locks held now, by any page of this origin.
async fn held_locks(locks: &JsValue) -> Result<Vec<String>, String> {
    let query: js_sys::Function = field(locks, "query").unchecked_into();
    let snapshot = query
        .call0(locks)
        .map_err(|e| error_text(&e))?
        .unchecked_into::<js_sys::Promise>();
    let snapshot = JsFuture::from(snapshot).await.map_err(|e| error_text(&e))?;
    Ok(js_sys::Array::from(&field(&snapshot, "held"))
        .iter()
        .filter_map(|l| field(&l, "name").as_string())
        .collect())
}

/// Puts into `store` the commands of pages that went before their outbox held them. Returns
/// how many were put back.
pub async fn recover(store: Rc<OutboxStore>) -> Result<usize, String> {
    let Some(storage) = storage() else {
        return Ok(0);
    };
    if waiting(&storage).is_empty() {
        return Ok(0);
    }
    let locks = web_locks().ok_or("this browser has no Web Locks API")?;
    let slot = Rc::new(Cell::new(None));
    let filled = slot.clone();
    let callback = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        wasm_bindgen_futures::future_to_promise(async move {
            filled.set(Some(put_back(&store, &storage).await));
            Ok(JsValue::UNDEFINED)
        })
    });
    let done = request_lock(&locks, RECOVERY_LOCK, &js_sys::Object::new(), &callback)?;
    JsFuture::from(done).await.map_err(|e| error_text(&e))?;
    slot.take().unwrap_or(Ok(0))
}

/// Whether closed pages left commands here that the outbox does not hold yet.
pub fn any_waiting() -> bool {
    storage().is_some_and(|s| !waiting(&s).is_empty())
}

/// The hand-off keys `storage` holds.
fn waiting(storage: &web_sys::Storage) -> Vec<String> {
    (0..storage.length().unwrap_or(0))
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|k| k.starts_with(PREFIX))
        .collect()
}

async fn put_back(store: &OutboxStore, storage: &web_sys::Storage) -> Result<usize, String> {
    let keys = waiting(storage);
    let locks = web_locks().ok_or("this browser has no Web Locks API")?;
    let held = held_locks(&locks).await?;
    let orphans: Vec<String> = keys
        .into_iter()
        .filter(|k| page_of(k).is_some_and(|p| !held.contains(&format!("{PAGE_LOCK}{p}"))))
        .collect();
    if orphans.is_empty() {
        return Ok(0);
    }
    let outbox = store.read().await.map_err(|e| e.to_string())?;
    let mut restored = 0;
    for k in orphans {
        // Read again under the lock: a page that ran before this one may have taken it.
        let Some(text) = storage.get_item(&k).ok().flatten() else {
            continue;
        };
        match tessera_wire::parse::<Entry>(&text) {
            Ok(copy) if outbox.holds_key(&copy.idempotency_key) => {}
            Ok(copy) => {
                store
                    .enqueue(copy.into(), js_sys::Date::now() as u64)
                    .await
                    .map_err(|e| e.to_string())?;
                restored += 1;
            }
            Err(e) => warn(&format!(
                "dropping {k}, which cannot be read ({e}): {text:.200}"
            )),
        }
        let _ = storage.remove_item(&k);
    }
    Ok(restored)
}
