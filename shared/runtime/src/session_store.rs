//! Where the shell keeps the signed-in session's tokens: IndexedDB (database `tessera-session`,
//! one record), so every tab and an offline start find them, and `localStorage` (readable by
//! any script synchronously and kept in plain files) never holds them. Sign-out deletes it.

use crate::response_store::{classify, commit, StoreError};
use idb::builder::{DatabaseBuilder, ObjectStoreBuilder};
use idb::{Database, TransactionMode};
use tessera_contract::auth::Tokens;
use wasm_bindgen::JsValue;

use tessera_contract::auth::session_store::{DATABASE, KEY, STORE};

pub struct SessionStore {
    db: Database,
}

fn failed(doing: &str) -> impl Fn(idb::Error) -> StoreError + '_ {
    move |e| classify(doing, &e.to_string())
}

impl SessionStore {
    pub async fn open() -> Result<SessionStore, StoreError> {
        let db = DatabaseBuilder::new(DATABASE)
            .version(1)
            .add_object_store(ObjectStoreBuilder::new(STORE))
            .build()
            .await
            .map_err(failed("opening the session store"))?;
        Ok(SessionStore { db })
    }

    /// The stored tokens; `None` when signed out or when the record cannot be read (then it
    /// is deleted: a damaged session means signing in again, nothing worse).
    pub async fn get(&self) -> Result<Option<Tokens>, StoreError> {
        let doing = "reading the session";
        let tx = self
            .db
            .transaction(&[STORE], TransactionMode::ReadOnly)
            .map_err(failed(doing))?;
        let value = tx
            .object_store(STORE)
            .map_err(failed(doing))?
            .get(JsValue::from_str(KEY))
            .map_err(failed(doing))?
            .await
            .map_err(failed(doing))?;
        let _ = tx.await;
        let Some(text) = value.and_then(|v| v.as_string()) else {
            return Ok(None);
        };
        match tessera_wire::parse::<Tokens>(&text) {
            Ok(tokens) => Ok(Some(tokens)),
            Err(_) => {
                self.clear().await?;
                Ok(None)
            }
        }
    }

    pub async fn put(&self, tokens: &Tokens) -> Result<(), StoreError> {
        let text = serde_json::to_string(tokens).unwrap_or_default();
        self.write("storing the session", Some(&text)).await
    }

    pub async fn clear(&self) -> Result<(), StoreError> {
        self.write("deleting the session", None).await
    }

    async fn write(&self, doing: &str, text: Option<&str>) -> Result<(), StoreError> {
        let tx = self
            .db
            .transaction(&[STORE], TransactionMode::ReadWrite)
            .map_err(failed(doing))?;
        let store = tx.object_store(STORE).map_err(failed(doing))?;
        let key = JsValue::from_str(KEY);
        match text {
            Some(text) => store
                .put(&JsValue::from_str(text), Some(&key))
                .map_err(failed(doing))?
                .await
                .map(|_| ())
                .map_err(failed(doing))?,
            None => store
                .delete(key)
                .map_err(failed(doing))?
                .await
                .map_err(failed(doing))?,
        }
        commit(tx, doing).await
    }
}
