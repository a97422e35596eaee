//! A second copy of each queued command, outside IndexedDB, for the day IndexedDB loses them.
//!
//! Chromium keeps an origin's IndexedDB in one LevelDB. A browser killed while LevelDB was
//! appending to its log can leave a torn record; on the next start Chromium finds the checksum
//! mismatch and, rather than repair it, deletes the origin's databases ("IndexedDB recovering
//! from a corrupted (and deleted) database"). Every command still waiting in the outbox went
//! with them, even those committed with strict durability. The durability test's kills hit
//! this about once in a few hundred restarts; a user whose browser crashes hits it too.
//!
//! So each command, once committed to the outbox, is also written to a Cache Storage cache
//! (another engine, one file per entry), and deleted from it when the outbox lets it go. A
//! database that opens without its birth mark was created just now: if the journal holds
//! commands, the database was lost, and they go back into the outbox under their own ids
//! and idempotency keys. A command the server had already applied is answered as a replay of
//! its key, never applied twice.
//!
//! The journal is written after the outbox (the id is only known once the transaction has
//! it), so a journal entry always has its outbox entry behind it, or had one: an open reads
//! the journal before the database, and deletes what the database no longer holds.

use crate::js_value::{error_text, field};
use crate::outbox::Entry;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Where each entry is kept, under the journal's cache, by id.
const PATH: &str = "/__tessera/outbox-journal/";

/// The journal of the outbox database `database`.
#[derive(Clone)]
pub struct Journal {
    cache_name: String,
}

async fn wait(promise: js_sys::Promise, doing: &str) -> Result<wasm_bindgen::JsValue, String> {
    JsFuture::from(promise)
        .await
        .map_err(|e| format!("{doing}: {}", error_text(&e)))
}

impl Journal {
    pub fn of(database: &str) -> Journal {
        Journal {
            cache_name: tessera_contract::sync::outbox_names::journal_of(database),
        }
    }

    /// The journal's cache; `None` where the global has no Cache Storage (an insecure
    /// context, where the outbox goes on with IndexedDB alone), or where there is no journal
    /// yet and `create` is false (reading one must not make it).
    async fn cache(&self, create: bool) -> Result<Option<web_sys::Cache>, String> {
        let doing = "opening the outbox journal";
        let caches = field(&js_sys::global(), "caches");
        if caches.is_undefined() || caches.is_null() {
            return Ok(None);
        }
        let caches: web_sys::CacheStorage = caches.unchecked_into();
        if !create && !wait(caches.has(&self.cache_name), doing).await?.is_truthy() {
            return Ok(None);
        }
        let cache = wait(caches.open(&self.cache_name), doing).await?;
        Ok(Some(cache.unchecked_into()))
    }

    /// Whether the journal exists (an error counts as yes: it may).
    pub async fn exists(&self) -> bool {
        self.cache(false).await.map_or(true, |c| c.is_some())
    }

    /// Keeps a copy of `entry` as it was queued.
    pub async fn record(&self, entry: &Entry) -> Result<(), String> {
        let doing = "writing the outbox journal";
        let Some(cache) = self.cache(true).await? else {
            return Ok(());
        };
        let text = serde_json::to_string(entry).map_err(|e| format!("{doing}: {e}"))?;
        let response = web_sys::Response::new_with_opt_str(Some(&text))
            .map_err(|e| format!("{doing}: {}", error_text(&e)))?;
        wait(
            cache.put_with_str(&format!("{PATH}{}", entry.id), &response),
            doing,
        )
        .await?;
        Ok(())
    }

    /// Drops the copies of the entries `ids`, which the outbox let go.
    pub async fn forget(&self, ids: &[u64]) -> Result<(), String> {
        let Some(cache) = self.cache(false).await? else {
            return Ok(());
        };
        // All at once: one after another, a replayed batch of a hundred spent most of its
        // time here, waiting for each delete in turn.
        let deletes: js_sys::Array = ids
            .iter()
            .map(|id| cache.delete_with_str(&format!("{PATH}{id}")))
            .collect();
        wait(
            js_sys::Promise::all(&deletes),
            "trimming the outbox journal",
        )
        .await?;
        Ok(())
    }

    /// Every entry the journal holds, oldest first. A copy that cannot be read is skipped and
    /// reported (its outbox entry, if any, is still there).
    pub async fn entries(&self) -> Result<Vec<Entry>, String> {
        let doing = "reading the outbox journal";
        let Some(cache) = self.cache(false).await? else {
            return Ok(Vec::new());
        };
        let responses = js_sys::Array::from(&wait(cache.match_all(), doing).await?);
        // By id, so oldest first; a B-tree of entries is linked anyway, a sort of them is not.
        let mut out = std::collections::BTreeMap::new();
        for response in responses.iter() {
            let response: web_sys::Response = response.unchecked_into();
            let text = response
                .text()
                .map_err(|e| format!("{doing}: {}", error_text(&e)))?;
            let text = wait(text, doing).await?.as_string().unwrap_or_default();
            match tessera_wire::parse::<Entry>(&text) {
                Ok(e) => {
                    out.insert(e.id, e);
                }
                Err(e) => web_sys::console::warn_1(
                    &format!("tessera outbox: skipping a journal copy that cannot be read ({e}): {text:.200}")
                        .into(),
                ),
            }
        }
        Ok(out.into_values().collect())
    }
}
