//! Where the outbox lives: IndexedDB database `tessera-outbox`, shared by every tab and the
//! service worker. Store `entries` holds each entry as JSON text under its id; `meta` holds the
//! id counter; `tokens` holds each signed-in user's bearer token, so a replay (perhaps in the
//! worker, long after the page closed) reads the token fresh when it sends.
//!
//! Every change is one read-modify-write transaction over the whole outbox, so a replay in one
//! context and the user's retry or discard in another never overwrite each other: IndexedDB
//! runs overlapping read-write transactions one after the other.

use crate::outbox::{Applied, Change, Entry, NewEntry, Outbox};
use crate::response_store::{classify, commit, StoreError};
use idb::builder::{DatabaseBuilder, ObjectStoreBuilder};
use idb::{Database, Transaction, TransactionMode};
use wasm_bindgen::JsValue;

pub const DATABASE: &str = "tessera-outbox";
const ENTRIES: &str = "entries";
const META: &str = "meta";
const TOKENS: &str = "tokens";
const NEXT_ID: &str = "nextId";
/// The version steps of the user's confirmed commands ([`crate::outbox::Applied`]), as JSON.
const APPLIED: &str = "applied";
const SCHEMA_VERSION: u32 = 1;

fn failed(doing: &str) -> impl Fn(idb::Error) -> StoreError + '_ {
    move |e| classify(doing, &e.to_string())
}

pub struct OutboxStore {
    db: Database,
}

/// Whether a loaded outbox is being taken over after a restart (entries left `sending` are
/// sent again) or read while its replayer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    Recover,
    AsIs,
}

impl OutboxStore {
    pub async fn open() -> Result<OutboxStore, StoreError> {
        OutboxStore::open_named(DATABASE).await
    }

    /// Opens (creating) the database `name`; tests use their own names.
    pub async fn open_named(name: &str) -> Result<OutboxStore, StoreError> {
        let db = DatabaseBuilder::new(name)
            .version(SCHEMA_VERSION)
            .add_object_store(ObjectStoreBuilder::new(ENTRIES))
            .add_object_store(ObjectStoreBuilder::new(META))
            .add_object_store(ObjectStoreBuilder::new(TOKENS))
            .build()
            .await
            .map_err(failed(&format!("opening IndexedDB {name:?}")))?;
        Ok(OutboxStore { db })
    }

    fn begin(
        &self,
        stores: &[&str],
        mode: TransactionMode,
        doing: &str,
    ) -> Result<Transaction, StoreError> {
        self.db.transaction(stores, mode).map_err(failed(doing))
    }

    /// Reads every entry inside `tx`. An entry that cannot be read is left where it is (it is
    /// somebody's change; a later version may read it) and reported on the console.
    async fn entries_in(tx: &Transaction, doing: &str) -> Result<Vec<Entry>, StoreError> {
        let store = tx.object_store(ENTRIES).map_err(failed(doing))?;
        let raw = store
            .get_all(None, None)
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        let mut out = Vec::with_capacity(raw.len());
        for value in raw {
            let text = value.as_string().unwrap_or_default();
            match serde_json::from_str::<Entry>(&text) {
                Ok(e) => out.push(e),
                Err(e) => web_sys::console::warn_1(
                    &format!(
                        "tessera outbox: skipping an entry that cannot be read ({e}): {text:.200}"
                    )
                    .into(),
                ),
            }
        }
        Ok(out)
    }

    /// The remembered version steps inside `tx` (none when unreadable: they only save
    /// conflicts, never data).
    async fn applied_in(tx: &Transaction, doing: &str) -> Result<Applied, StoreError> {
        let meta = tx.object_store(META).map_err(failed(doing))?;
        let raw = meta
            .get(JsValue::from_str(APPLIED))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        Ok(raw
            .and_then(|v| v.as_string())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    async fn write_applied(
        tx: &Transaction,
        outbox: &mut Outbox,
        doing: &str,
    ) -> Result<(), StoreError> {
        let Some(applied) = outbox.take_applied() else {
            return Ok(());
        };
        let text = serde_json::to_string(&applied)
            .map_err(|e| StoreError::Unavailable(format!("{doing}: {e}")))?;
        let meta = tx.object_store(META).map_err(failed(doing))?;
        meta.put(&JsValue::from_str(&text), Some(&JsValue::from_str(APPLIED)))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        Ok(())
    }

    /// A snapshot of the outbox, for display and overlays.
    pub async fn read(&self) -> Result<Outbox, StoreError> {
        let doing = "reading the outbox";
        let tx = self.begin(&[ENTRIES], TransactionMode::ReadOnly, doing)?;
        let entries = Self::entries_in(&tx, doing).await?;
        let _ = tx.await;
        Ok(Outbox::load(entries))
    }

    /// Queues a command durably: when this returns `Ok`, the entry is on disk.
    pub async fn enqueue(&self, new: NewEntry, now_ms: u64) -> Result<Entry, StoreError> {
        let doing = "saving a change in the outbox";
        let tx = self.begin(&[ENTRIES, META], TransactionMode::ReadWrite, doing)?;
        let meta = tx.object_store(META).map_err(failed(doing))?;
        let next = meta
            .get(JsValue::from_str(NEXT_ID))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?
            .and_then(|v| v.as_f64())
            .map_or(1, |n| n as u64);
        let applied = Self::applied_in(&tx, doing).await?;
        let mut outbox = Outbox::default().with_applied(applied);
        let entry = outbox.enqueue(next, new, now_ms).clone();
        meta.put(
            &JsValue::from_f64((next + 1) as f64),
            Some(&JsValue::from_str(NEXT_ID)),
        )
        .map_err(failed(doing))?
        .await
        .map_err(failed(doing))?;
        Self::write(&tx, outbox.take_changed(), doing).await?;
        commit(tx, doing).await?;
        Ok(entry)
    }

    /// Loads the outbox, lets `f` change it, and writes back what changed, in one transaction.
    pub async fn update<R>(
        &self,
        load: Load,
        f: impl FnOnce(&mut Outbox) -> R,
    ) -> Result<R, StoreError> {
        let doing = "updating the outbox";
        let tx = self.begin(&[ENTRIES, META], TransactionMode::ReadWrite, doing)?;
        let entries = Self::entries_in(&tx, doing).await?;
        let applied = Self::applied_in(&tx, doing).await?;
        let mut outbox = match load {
            Load::Recover => Outbox::recover(entries),
            Load::AsIs => Outbox::load(entries),
        }
        .with_applied(applied);
        let result = f(&mut outbox);
        Self::write(&tx, outbox.take_changed(), doing).await?;
        Self::write_applied(&tx, &mut outbox, doing).await?;
        commit(tx, doing).await?;
        Ok(result)
    }

    async fn write(tx: &Transaction, changes: Vec<Change>, doing: &str) -> Result<(), StoreError> {
        let store = tx.object_store(ENTRIES).map_err(failed(doing))?;
        for change in changes {
            match change {
                Change::Put(e) => {
                    let text = serde_json::to_string(&e)
                        .map_err(|err| StoreError::Unavailable(format!("{doing}: {err}")))?;
                    store
                        .put(
                            &JsValue::from_str(&text),
                            Some(&JsValue::from_f64(e.id as f64)),
                        )
                        .map_err(failed(doing))?
                        .await
                        .map_err(failed(doing))?;
                }
                Change::Delete(id) => {
                    store
                        .delete(JsValue::from_f64(id as f64))
                        .map_err(failed(doing))?
                        .await
                        .map_err(failed(doing))?;
                }
            }
        }
        Ok(())
    }

    /// Remembers `subject`'s current token (`None`: signed out, forget it).
    pub async fn set_token(&self, subject: &str, token: Option<&str>) -> Result<(), StoreError> {
        let doing = "saving the session for background sync";
        let tx = self.begin(&[TOKENS], TransactionMode::ReadWrite, doing)?;
        let store = tx.object_store(TOKENS).map_err(failed(doing))?;
        let key = JsValue::from_str(subject);
        match token {
            Some(t) => store
                .put(&JsValue::from_str(t), Some(&key))
                .map_err(failed(doing))?
                .await
                .map(|_| ()),
            None => store.delete(key).map_err(failed(doing))?.await,
        }
        .map_err(failed(doing))?;
        commit(tx, doing).await
    }

    /// `subject`'s token as last stored.
    pub async fn token(&self, subject: &str) -> Result<Option<String>, StoreError> {
        let doing = "reading the session for background sync";
        let tx = self.begin(&[TOKENS], TransactionMode::ReadOnly, doing)?;
        let store = tx.object_store(TOKENS).map_err(failed(doing))?;
        let value = store
            .get(JsValue::from_str(subject))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        let _ = tx.await;
        Ok(value.and_then(|v| v.as_string()))
    }

    pub fn close(self) {
        self.db.close();
    }
}
