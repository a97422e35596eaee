//! Where the outbox lives: IndexedDB database `tessera-outbox`, shared by every tab and the
//! service worker. Store `entries` holds each entry as JSON text under its id; `meta` holds the
//! id counter; `tokens` holds each signed-in user's bearer token, so a replay (perhaps in the
//! worker, long after the page closed) reads the token fresh when it sends.
//!
//! Every change is one read-modify-write transaction over the whole outbox, so a replay in one
//! context and the user's retry or discard in another never overwrite each other: IndexedDB
//! runs overlapping read-write transactions one after the other. Every write also moves
//! `meta.generation` on, so a context whose last copy has the current generation uses it
//! instead of reading and parsing every entry again (a replay of 1,000 entries would
//! otherwise parse the whole outbox twice per send).
//!
//! What the user did (a queued command, a decision on a conflict) is committed with `strict`
//! durability: Chromium's default has been `relaxed` since Chrome 121, which fires `complete`
//! while the data is still being written, so a crash right after the user saw "not sent yet"
//! could lose the change. The replayer's own bookkeeping stays relaxed: losing a claim or a
//! settle only sends a command again, under its idempotency key.
//!
//! Strict durability does not survive Chromium deleting a corrupted database after a crash;
//! each queued command is also kept in a journal outside IndexedDB ([`crate::outbox_journal`]),
//! and an open puts back what such a deletion took.

use crate::outbox::{Applied, Change, Entry, NewEntry, Outbox};
use crate::outbox_journal::Journal;
use crate::response_store::{classify, commit, StoreError};
use idb::builder::{DatabaseBuilder, ObjectStoreBuilder};
use idb::{CursorDirection, Database, Transaction, TransactionMode};
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::*;

pub use tessera_contract::sync::outbox_names::DATABASE;
const ENTRIES: &str = "entries";
const META: &str = "meta";
const TOKENS: &str = "tokens";
const NEXT_ID: &str = "nextId";
/// The version steps of the user's confirmed commands ([`crate::outbox::Applied`]), as JSON.
const APPLIED: &str = "applied";
/// Moved on by every write (anyone who writes the outbox must move it on).
const GENERATION: &str = "generation";
/// When this database was created (ms since the epoch): a database without it was created by
/// this open, so the journal's commands, if any, were lost with the one before.
const BORN: &str = "born";
/// When a write last let entries go (ms since the epoch, the writer's clock): a read of the
/// outbox that began after a request went out misses a command confirmed in between, which
/// the answer may also lack ([`OutboxStore::settled_at`]).
const SETTLED_AT: &str = "settledAt";
const SCHEMA_VERSION: u32 = 1;

fn failed(doing: &str) -> impl Fn(idb::Error) -> StoreError + '_ {
    move |e| classify(doing, &e.to_string())
}

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for the one call web-sys has only as unstable.
    #[wasm_bindgen(js_name = IDBDatabase)]
    type RawDatabase;

    /// `IDBDatabase.transaction(stores, mode, {durability})`.
    #[wasm_bindgen(catch, method, js_name = transaction)]
    fn transaction_with_options(
        this: &RawDatabase,
        stores: &js_sys::Array,
        mode: &str,
        options: &js_sys::Object,
    ) -> Result<web_sys::IdbTransaction, JsValue>;
}

pub struct OutboxStore {
    db: Database,
    /// The same connection, for transactions with options the `idb` crate cannot pass.
    raw: web_sys::IdbDatabase,
    /// The outbox as this connection last read or wrote it, and the generation it had then.
    cached: RefCell<Option<Cached>>,
    /// Whether `cached` is the outbox as it is now, with no read of the database.
    trust: Cell<Trust>,
    /// Write transactions this connection began (see [`OutboxStore::epoch`]).
    writes: Cell<u64>,
    journal: Journal,
}

/// What this connection has heard of other writers (other tabs, the worker, a replay in this
/// page on its own connection), each of which announces its changes on
/// [`crate::replay::CHANNEL`]. The cached outbox is current while nothing was heard since the
/// read or write that made it, and no replay is running (a replay announces a few times a
/// second, not at every write).
#[derive(Clone, Copy, Debug, Default)]
struct Trust {
    /// Announcements by other writers heard so far.
    heard: u64,
    /// `heard` when the read or write behind `cached` began.
    cached_at: Option<u64>,
    replaying_elsewhere: bool,
}

struct Cached {
    generation: u64,
    outbox: Outbox,
    settled_at: u64,
}

/// Whether a read-write transaction's `complete` waits until its data is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The user's own input: lost only with the disk.
    Strict,
    /// The replayer's bookkeeping, which a re-send under the same key repairs.
    Relaxed,
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
        let journal = Journal::of(name);
        // The journal is read before the database, not before it opens: side by side, as
        // both are slow on a new profile (Cache Storage's first use about 60 ms, creating the
        // database about 90 ms), and a page's first queries wait for this.
        let (journaled, db) = futures_util::future::join(
            journal.entries(),
            DatabaseBuilder::new(name)
                .version(SCHEMA_VERSION)
                .add_object_store(ObjectStoreBuilder::new(ENTRIES))
                .add_object_store(ObjectStoreBuilder::new(META))
                .add_object_store(ObjectStoreBuilder::new(TOKENS))
                .build(),
        )
        .await;
        let mut db = db.map_err(failed(&format!("opening IndexedDB {name:?}")))?;
        // The builder's `versionchange` handler (close, so a newer schema can open) must
        // outlive the `Database` given up here.
        db.forget_callbacks();
        let raw: web_sys::IdbDatabase = db.into();
        let store = OutboxStore {
            db: Database::from(raw.clone()),
            raw,
            cached: RefCell::new(None),
            trust: Cell::new(Trust::default()),
            writes: Cell::new(0),
            journal,
        };
        let reconciled = match journaled {
            Ok(journaled) => store.reconcile(journaled).await,
            Err(e) => Err(StoreError::Unavailable(e)),
        };
        match reconciled {
            Ok(0) => {}
            Ok(n) => warn(&format!(
                "tessera outbox: the browser lost the outbox database {name:?}; {n} command(s) \
                 were put back from its journal"
            )),
            Err(e) => warn(&format!("tessera outbox: {e}")),
        }
        Ok(store)
    }

    /// Puts the journal's commands back into a database created by this open (the one before
    /// was lost), or drops the journal's copies of commands the outbox let go. Returns how
    /// many commands were put back. `journaled` was read before anything of the database.
    async fn reconcile(&self, journaled: Vec<Entry>) -> Result<usize, StoreError> {
        let doing = "checking the outbox against its journal";
        // Read-only first: almost every open finds the database born and every journaled
        // entry in it, and a read-write transaction cost every page start an fsync.
        let read = self.begin_read(&[ENTRIES, META], doing)?;
        let (born, stored) = (
            Self::number_in(&read, BORN, doing).await?,
            Self::keys_in(&read, doing).await?,
        );
        let _ = read.await;
        if born > 0 {
            let gone: Vec<u64> = journaled
                .iter()
                .filter(|e| !stored.contains(&e.id))
                .map(|e| e.id)
                .collect();
            if !gone.is_empty() {
                self.journal
                    .forget(&gone)
                    .await
                    .map_err(StoreError::Unavailable)?;
            }
            return Ok(0);
        }
        // A new database (or one the browser lost): its birth, and what the journal has that
        // it lacks. With nothing to put back, a birth lost in a crash is only written again.
        let durability = if journaled.is_empty() {
            Durability::Relaxed
        } else {
            Durability::Strict
        };
        let tx = self.begin_write(&[ENTRIES, META], durability, doing)?;
        let stored = Self::keys_in(&tx, doing).await?;
        let missing = journaled.iter().filter(|e| !stored.contains(&e.id));
        let mut restored = 0;
        for entry in missing {
            Self::add_new(&tx, entry, doing).await?;
            restored += 1;
        }
        Self::put_number(&tx, BORN, js_sys::Date::now() as u64, doing).await?;
        if restored > 0 {
            let counted = Self::number_in(&tx, NEXT_ID, doing).await?;
            let next = counted.max(Self::last_id_in(&tx, doing).await? + 1);
            Self::put_number(&tx, NEXT_ID, next, doing).await?;
            let generation = Self::number_in(&tx, GENERATION, doing).await?;
            Self::put_number(&tx, GENERATION, generation + 1, doing).await?;
        }
        commit(tx, doing).await?;
        Ok(restored)
    }

    /// The ids of the entries stored, inside `tx`.
    async fn keys_in(
        tx: &Transaction,
        doing: &str,
    ) -> Result<tessera_contract::VecSet<u64>, StoreError> {
        Ok(tx
            .object_store(ENTRIES)
            .map_err(failed(doing))?
            .get_all_keys(None, None)
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?
            .iter()
            .filter_map(|k| k.as_f64())
            .map(|k| k as u64)
            .collect())
    }

    fn begin_read(&self, stores: &[&str], doing: &str) -> Result<Transaction, StoreError> {
        self.db
            .transaction(stores, TransactionMode::ReadOnly)
            .map_err(failed(doing))
    }

    fn begin_write(
        &self,
        stores: &[&str],
        durability: Durability,
        doing: &str,
    ) -> Result<Transaction, StoreError> {
        self.writes.set(self.writes.get() + 1);
        let js_failed = |e: JsValue| classify(doing, &crate::js_value::error_text(&e));
        let names: js_sys::Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        let options = js_sys::Object::new();
        let value = match durability {
            Durability::Strict => "strict",
            Durability::Relaxed => "relaxed",
        };
        js_sys::Reflect::set(&options, &"durability".into(), &value.into()).map_err(js_failed)?;
        self.raw
            .unchecked_ref::<RawDatabase>()
            .transaction_with_options(&names, "readwrite", &options)
            .map(Transaction::from)
            .map_err(js_failed)
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
            match tessera_wire::parse::<Entry>(&text) {
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

    /// The highest entry id stored (0 when there is none).
    async fn last_id_in(tx: &Transaction, doing: &str) -> Result<u64, StoreError> {
        let store = tx.object_store(ENTRIES).map_err(failed(doing))?;
        let last = store
            .open_key_cursor(None, Some(CursorDirection::Prev))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        Ok(last
            .and_then(|c| c.key().ok())
            .and_then(|k| k.as_f64())
            .map_or(0, |n| n as u64))
    }

    /// Stores a new entry under its id, failing (and so aborting the transaction) if that id
    /// is taken.
    async fn add_new(tx: &Transaction, entry: &Entry, doing: &str) -> Result<(), StoreError> {
        let text = serde_json::to_string(entry)
            .map_err(|e| StoreError::Unavailable(format!("{doing}: {e}")))?;
        tx.object_store(ENTRIES)
            .map_err(failed(doing))?
            .add(
                &JsValue::from_str(&text),
                Some(&JsValue::from_f64(entry.id as f64)),
            )
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        Ok(())
    }

    /// A number kept in `meta` (0 when absent).
    async fn number_in(tx: &Transaction, key: &str, doing: &str) -> Result<u64, StoreError> {
        let meta = tx.object_store(META).map_err(failed(doing))?;
        Ok(meta
            .get(JsValue::from_str(key))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?
            .and_then(|v| v.as_f64())
            .map_or(0, |n| n as u64))
    }

    async fn put_number(
        tx: &Transaction,
        key: &str,
        value: u64,
        doing: &str,
    ) -> Result<(), StoreError> {
        let meta = tx.object_store(META).map_err(failed(doing))?;
        meta.put(
            &JsValue::from_f64(value as f64),
            Some(&JsValue::from_str(key)),
        )
        .map_err(failed(doing))?
        .await
        .map_err(failed(doing))?;
        Ok(())
    }

    /// The outbox inside `tx` at `generation`: this connection's copy when it is that
    /// generation's (and no recovery is asked for), else read from the store.
    async fn outbox_in(
        &self,
        tx: &Transaction,
        generation: u64,
        load: Load,
        doing: &str,
    ) -> Result<Outbox, StoreError> {
        let cached = self.cached.borrow_mut().take();
        if let Some(c) = cached.filter(|c| c.generation == generation && load == Load::AsIs) {
            return Ok(c.outbox);
        }
        let entries = Self::entries_in(tx, doing).await?;
        let applied = Self::applied_in(tx, doing).await?;
        Ok(match load {
            Load::Recover => Outbox::recover(entries),
            Load::AsIs => Outbox::load(entries),
        }
        .with_applied(applied))
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
            .and_then(|t| crate::js_forms::applied(&t).ok())
            .unwrap_or_default())
    }

    /// Writes the version steps if they changed; whether they did.
    async fn write_applied(
        tx: &Transaction,
        outbox: &mut Outbox,
        doing: &str,
    ) -> Result<bool, StoreError> {
        let Some(applied) = outbox.take_applied() else {
            return Ok(false);
        };
        let text = serde_json::to_string(&applied)
            .map_err(|e| StoreError::Unavailable(format!("{doing}: {e}")))?;
        let meta = tx.object_store(META).map_err(failed(doing))?;
        meta.put(&JsValue::from_str(&text), Some(&JsValue::from_str(APPLIED)))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        Ok(true)
    }

    /// Another writer announced a change (`replaying`: its replay runs on): the cached outbox
    /// is read again before it is used.
    pub fn heard_elsewhere(&self, replaying: bool) {
        let mut t = self.trust.get();
        t.heard += 1;
        t.replaying_elsewhere = replaying;
        self.trust.set(t);
    }

    /// The outbox as it is now, with no read of the database, if nothing may have changed it
    /// since this connection last read or wrote it (see [`Trust`]).
    pub fn current(&self) -> Option<Outbox> {
        let t = self.trust.get();
        if t.replaying_elsewhere || t.cached_at != Some(t.heard) {
            return None;
        }
        self.cached.borrow().as_ref().map(|c| c.outbox.clone())
    }

    /// Moves on with every write this connection begins and every change another writer
    /// announces: a read begun at the same epoch sees everything this page knows of (IndexedDB
    /// runs a read begun after a write after it).
    pub fn epoch(&self) -> u64 {
        self.trust.get().heard + self.writes.get()
    }

    /// Notes that `cached` was made by a read or write that began when `heard` announcements
    /// had been heard (`None`: there is no cache).
    fn cached_since(&self, heard: Option<u64>) {
        let mut t = self.trust.get();
        t.cached_at = heard;
        self.trust.set(t);
    }

    /// When the outbox as this connection last read or wrote it had last let entries go
    /// (confirmed or discarded), by the clock of the writer that did; 0 if never or unread.
    pub fn settled_at(&self) -> u64 {
        self.cached.borrow().as_ref().map_or(0, |c| c.settled_at)
    }

    /// A snapshot of the outbox, for display and overlays.
    pub async fn read(&self) -> Result<Outbox, StoreError> {
        let heard = self.trust.get().heard;
        let doing = "reading the outbox";
        let tx = self.begin_read(&[ENTRIES, META], doing)?;
        let generation = Self::number_in(&tx, GENERATION, doing).await?;
        let settled_at = Self::number_in(&tx, SETTLED_AT, doing).await?;
        let outbox = self.outbox_in(&tx, generation, Load::AsIs, doing).await?;
        let _ = tx.await;
        *self.cached.borrow_mut() = Some(Cached {
            generation,
            outbox: outbox.clone(),
            settled_at,
        });
        self.cached_since(Some(heard));
        Ok(outbox)
    }

    /// Queues a command durably: when this returns `Ok`, the entry is on disk.
    pub async fn enqueue(&self, new: NewEntry, now_ms: u64) -> Result<Entry, StoreError> {
        let heard = self.trust.get().heard;
        let doing = "saving a change in the outbox";
        let tx = self.begin_write(&[ENTRIES, META], Durability::Strict, doing)?;
        let generation = Self::number_in(&tx, GENERATION, doing).await?;
        // The counter alone would do if it never went backwards; the last stored id guards
        // it anyway (one key read), and `add` refuses to overwrite: an id handed out twice
        // would silently replace a waiting command, which is a lost command.
        let counted = Self::number_in(&tx, NEXT_ID, doing).await?;
        let next = counted.max(Self::last_id_in(&tx, doing).await? + 1).max(1);
        // Only the id counter, the last key and the version steps are read: queueing stays
        // as fast with a thousand entries waiting as with none.
        let applied = Self::applied_in(&tx, doing).await?;
        let mut outbox = Outbox::default().with_applied(applied);
        let entry = outbox.enqueue(next, new, now_ms).clone();
        Self::put_number(&tx, NEXT_ID, next + 1, doing).await?;
        Self::add_new(&tx, &entry, doing).await?;
        Self::put_number(&tx, GENERATION, generation + 1, doing).await?;
        let mut cached = self.cached.borrow_mut().take();
        self.cached_since(None);
        commit(tx, doing).await?;
        // A cache of the generation this transaction found is the outbox as it stood then.
        if let Some(c) = cached.as_mut().filter(|c| c.generation == generation) {
            c.outbox.insert_stored(entry.clone());
            c.generation = generation + 1;
            *self.cached.borrow_mut() = cached;
            self.cached_since(Some(heard));
        }
        // The command is safe in the outbox; without its copy it is only exposed to a lost
        // database, so a failure here is reported, not the user's.
        if let Err(e) = self.journal.record(&entry).await {
            warn(&format!("tessera outbox: {e}"));
        }
        Ok(entry)
    }

    /// Loads the outbox, lets `f` change it, and writes back what changed, in one transaction.
    pub async fn update<R>(
        &self,
        load: Load,
        durability: Durability,
        f: impl FnOnce(&mut Outbox) -> R,
    ) -> Result<R, StoreError> {
        let heard = self.trust.get().heard;
        let doing = "updating the outbox";
        let tx = self.begin_write(&[ENTRIES, META], durability, doing)?;
        let mut generation = Self::number_in(&tx, GENERATION, doing).await?;
        let mut outbox = self.outbox_in(&tx, generation, load, doing).await?;
        let result = f(&mut outbox);
        let changes = outbox.take_changed();
        let wrote = !changes.is_empty();
        let deleted: Vec<u64> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete(id) => Some(*id),
                Change::Put(_) => None,
            })
            .collect();
        Self::write(&tx, changes, doing)?;
        let settled_at = if deleted.is_empty() {
            Self::number_in(&tx, SETTLED_AT, doing).await?
        } else {
            let now = js_sys::Date::now() as u64;
            Self::put_number(&tx, SETTLED_AT, now, doing).await?;
            now
        };
        if Self::write_applied(&tx, &mut outbox, doing).await? || wrote {
            generation += 1;
            Self::put_number(&tx, GENERATION, generation, doing).await?;
        }
        commit(tx, doing).await?;
        *self.cached.borrow_mut() = Some(Cached {
            generation,
            outbox,
            settled_at,
        });
        self.cached_since(Some(heard));
        // A copy left behind (this fails, or the browser stops first) is dropped by the next
        // open, which finds no entry behind it; so nothing waits for it (a replay's settle of
        // a batch of a hundred waited 5-60 ms here).
        if !deleted.is_empty() {
            let journal = self.journal.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = journal.forget(&deleted).await {
                    warn(&format!("tessera outbox: {e}"));
                }
            });
        }
        Ok(result)
    }

    /// Puts and deletes `changes` in `tx`. The requests are made at once and not awaited one
    /// by one: each await waited for the IndexedDB backend's answer and then for the thread's
    /// next turn, some two hundred times for each replayed batch (a hundred settled, a hundred
    /// claimed). IndexedDB runs them in order; a failed one aborts the transaction, which the
    /// commit reports.
    fn write(tx: &Transaction, changes: Vec<Change>, doing: &str) -> Result<(), StoreError> {
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
                        .map_err(failed(doing))?;
                }
                Change::Delete(id) => {
                    store
                        .delete(JsValue::from_f64(id as f64))
                        .map_err(failed(doing))?;
                }
            }
        }
        Ok(())
    }

    /// Remembers `subject`'s current token (`None`: signed out, forget it).
    pub async fn set_token(&self, subject: &str, token: Option<&str>) -> Result<(), StoreError> {
        let doing = "saving the session for background sync";
        let tx = self.begin_write(&[TOKENS], Durability::Relaxed, doing)?;
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
        let tx = self.begin_read(&[TOKENS], doing)?;
        let store = tx.object_store(TOKENS).map_err(failed(doing))?;
        let value = store
            .get(JsValue::from_str(subject))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        let _ = tx.await;
        Ok(value.and_then(|v| v.as_string()))
    }

    /// Closes the connection once its transactions are done.
    pub fn close(&self) {
        self.db.close();
    }
}

fn warn(message: &str) {
    web_sys::console::warn_1(&message.into());
}
