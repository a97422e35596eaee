//! Write-through of what a replay applied: once a run is over, the saved answers (the worker's
//! read-through cache) to the queries its confirmed commands changed are read again from the
//! server, so a page opened offline right after a sync shows the synced state, also where no
//! view read those queries again while online.
//!
//! Read again rather than patched with the commands' overlays: an overlay says how an answer
//! looks while its command waits (a checkout shows "order will be placed"), not what the
//! server answers once it is applied; and a saved answer patched after a fresher one was
//! stored would be confirmed by the server's `304` with the patch in it. One `GET` per query a
//! run changed, not one per command.

use crate::js_value::error_text;
use crate::outbox_store::OutboxStore;
use crate::read_through::{self, AfterAnswer, Answer};
use crate::response_store::ResponseStore;
use std::collections::BTreeSet;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `fetch` of whatever global this runs in (window or worker).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// Names a write-through read (the server's logs and the tests tell it from a view's read or
/// the read-ahead by it); a page's goes through the worker, which passes it on.
pub const HEADER: &str = "x-tessera-write-through";

fn warn(message: &str) {
    web_sys::console::warn_1(&format!("tessera outbox: saved answers: {message}").into());
}

/// Reads each `(subject, query)` again with the subject's stored token and keeps the answer as
/// the saved one (or drops the saved one where the answer says the data is gone).
pub async fn refresh(outbox: &OutboxStore, queries: BTreeSet<(String, String)>) {
    if queries.is_empty() {
        return;
    }
    let saved = match ResponseStore::open().await {
        Ok(saved) => saved,
        Err(e) => return warn(&e.to_string()),
    };
    for (subject, query) in queries {
        let token = outbox.token(&subject).await.ok().flatten();
        let key = read_through::cache_key(Some(&subject), &query);
        let stored = match read(&key, &query, token.as_deref()).await {
            Ok(AfterAnswer::Store(record)) => saved.put(&record).await,
            Ok(AfterAnswer::PassAndForget) => saved.delete(&key).await,
            Ok(_) => Ok(()),
            Err(e) => {
                warn(&e);
                continue;
            }
        };
        if let Err(e) = stored {
            warn(&e.to_string());
        }
    }
    saved.close();
}

/// `GET query` as `token`'s holder, and what the read-through cache does with the answer.
async fn read(key: &str, query: &str, token: Option<&str>) -> Result<AfterAnswer, String> {
    let fail = |e: JsValue| format!("GET {query}: {}", error_text(&e));
    let headers = web_sys::Headers::new().map_err(fail)?;
    headers.set("Accept", "application/json").map_err(fail)?;
    headers.set(HEADER, "1").map_err(fail)?;
    if let Some(t) = token {
        headers
            .set("Authorization", &format!("Bearer {t}"))
            .map_err(fail)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(query, &init).map_err(fail)?;
    let response: web_sys::Response = JsFuture::from(global_fetch(&request))
        .await
        .map_err(fail)?
        .unchecked_into();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let (cache_control, etag, content_type) = (
        header("cache-control"),
        header("etag"),
        header("content-type"),
    );
    // An answer the worker served from its saved copy (a page's replay reads through it) is
    // no news.
    if header(read_through::SOURCE_HEADER).as_deref() == Some("cache") {
        return Ok(AfterAnswer::Pass);
    }
    let body = JsFuture::from(response.text().map_err(fail)?)
        .await
        .map_err(fail)?
        .as_string()
        .unwrap_or_default();
    let answer = Answer {
        status: response.status(),
        cache_control: cache_control.as_deref(),
        etag: etag.as_deref(),
        content_type: content_type.as_deref(),
    };
    let now = js_sys::Date::now() as u64;
    Ok(read_through::after_answer(key, None, answer, || body, now))
}
