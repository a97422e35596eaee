//! Where the read-through cache keeps its records: IndexedDB (database `tessera-cache`, store
//! `responses`), usable from a page and from the service worker alike. Each record is stored as
//! the JSON text of a [`CachedResponse`] under its key, so a damaged record is recognised on read
//! and removed alone, leaving every other record as it was.

use crate::read_through::{CachedResponse, CorruptRecord};
use idb::builder::{DatabaseBuilder, ObjectStoreBuilder};
use idb::{Database, ObjectStore, Transaction, TransactionMode};
use std::fmt;
use wasm_bindgen::JsValue;

pub const DATABASE: &str = "tessera-cache";
const STORE: &str = "responses";
const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The browser's storage for this site is full; nothing was written.
    QuotaExceeded(String),
    /// A stored record could not be read; it has been removed.
    Corrupt(CorruptRecord),
    /// IndexedDB refused or failed otherwise (private mode, blocked upgrade, …).
    Unavailable(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::QuotaExceeded(e) => write!(f, "the offline cache is full ({e})"),
            StoreError::Corrupt(c) => write!(f, "{c}; it was removed"),
            StoreError::Unavailable(e) => write!(f, "the offline cache is unavailable ({e})"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Classifies what IndexedDB said, naming what was being done.
fn store_error(doing: &str, e: idb::Error) -> StoreError {
    classify(doing, &e.to_string())
}

/// `QuotaExceededError` is the one failure a caller handles differently (make room, or give up
/// caching); everything else is "unavailable".
pub fn classify(doing: &str, text: &str) -> StoreError {
    if text.contains("QuotaExceededError") || text.contains("quota") {
        StoreError::QuotaExceeded(format!("{doing}: {text}"))
    } else {
        StoreError::Unavailable(format!("{doing}: {text}"))
    }
}

/// Waits for `tx` to commit. Quota is often only reported then, as an abort whose reason is
/// on the transaction's `error`: it is named as such.
pub(crate) async fn commit(tx: Transaction, doing: &str) -> Result<(), StoreError> {
    let raw = web_sys::IdbTransaction::from(tx);
    let done = Transaction::from(raw.clone())
        .await
        .map_err(|e| store_error(doing, e))?;
    if !done.is_committed() {
        let why = raw
            .error()
            .map(|e| format!("{}: {}", e.name(), e.message()))
            .unwrap_or_else(|| "no reason given".into());
        return Err(classify(
            doing,
            &format!("the transaction was aborted ({why})"),
        ));
    }
    Ok(())
}

pub struct ResponseStore {
    db: Database,
}

impl ResponseStore {
    pub async fn open() -> Result<ResponseStore, StoreError> {
        ResponseStore::open_named(DATABASE).await
    }

    /// Opens (creating or upgrading) the database `name`; tests use their own names.
    pub async fn open_named(name: &str) -> Result<ResponseStore, StoreError> {
        let db = DatabaseBuilder::new(name)
            .version(SCHEMA_VERSION)
            .add_object_store(ObjectStoreBuilder::new(STORE))
            .build()
            .await
            .map_err(|e| store_error(&format!("opening IndexedDB {name:?}"), e))?;
        Ok(ResponseStore { db })
    }

    /// A transaction on the responses store, errors naming what it was for.
    fn begin(
        &self,
        mode: TransactionMode,
        doing: &str,
    ) -> Result<(Transaction, ObjectStore), StoreError> {
        let tx = self
            .db
            .transaction(&[STORE], mode)
            .map_err(|e| store_error(doing, e))?;
        let store = tx.object_store(STORE).map_err(|e| store_error(doing, e))?;
        Ok((tx, store))
    }

    /// The record for `key`, if one is stored. A record that cannot be read is deleted and
    /// reported as [`StoreError::Corrupt`]; the caller treats it as a miss.
    pub async fn get(&self, key: &str) -> Result<Option<CachedResponse>, StoreError> {
        let raw = {
            let (tx, store) = self.begin(TransactionMode::ReadOnly, "reading the offline cache")?;
            let doing = format!("reading {key:?}");
            let value = store
                .get(JsValue::from_str(key))
                .map_err(|e| store_error(&doing, e))?
                .await
                .map_err(|e| store_error(&doing, e))?;
            let _ = tx.await;
            value
        };
        let Some(raw) = raw else {
            return Ok(None);
        };
        let text = raw.as_string().ok_or_else(|| CorruptRecord {
            key: key.to_string(),
            problem: "it is not text".into(),
        });
        match text.and_then(|t| CachedResponse::decode(key, &t)) {
            Ok(record) => Ok(Some(record)),
            Err(corrupt) => {
                self.delete(key).await?;
                Err(StoreError::Corrupt(corrupt))
            }
        }
    }

    /// Stores `record` under its key, replacing what was there.
    pub async fn put(&self, record: &CachedResponse) -> Result<(), StoreError> {
        self.put_raw(&record.key, &JsValue::from_str(&record.encode()))
            .await
    }

    /// Writes any value under `key`: for `put`, and for tests that need a damaged record.
    pub async fn put_raw(&self, key: &str, value: &JsValue) -> Result<(), StoreError> {
        let doing = format!("storing {key:?}");
        let (tx, store) = self.begin(TransactionMode::ReadWrite, &doing)?;
        store
            .put(value, Some(&JsValue::from_str(key)))
            .map_err(|e| store_error(&doing, e))?
            .await
            .map_err(|e| store_error(&doing, e))?;
        commit(tx, &doing).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let doing = format!("deleting {key:?}");
        let (tx, store) = self.begin(TransactionMode::ReadWrite, &doing)?;
        store
            .delete(JsValue::from_str(key))
            .map_err(|e| store_error(&doing, e))?
            .await
            .map_err(|e| store_error(&doing, e))?;
        tx.await.map_err(|e| store_error(&doing, e))?;
        Ok(())
    }

    pub async fn count(&self) -> Result<u32, StoreError> {
        let (tx, store) = self.begin(TransactionMode::ReadOnly, "counting records")?;
        let n = store
            .count(None)
            .map_err(|e| store_error("counting records", e))?
            .await
            .map_err(|e| store_error("counting records", e))?;
        let _ = tx.await;
        Ok(n)
    }

    pub fn close(self) {
        self.db.close();
    }
}
