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

use crate::js_value::{error_text, time_limit};
use crate::outbox_store::OutboxStore;
use tessera_contract::VecSet;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Names a write-through read (the server's logs and the tests tell it from a view's read or
/// the read-ahead by it); a page's goes through the worker, which passes it on.
pub const HEADER: &str = "x-tessera-write-through";

/// A read without an answer by then is given up (it runs inside the replay lock), as a
/// command's send is.
const TIMEOUT_MS: u32 = 15_000;

fn warn(message: &str) {
    web_sys::console::warn_1(&format!("tessera outbox: saved answers: {message}").into());
}

/// Reads each `(subject, query)` again with the subject's stored token, so the saved answer
/// is the server's: a page's read goes through the worker, which keeps the answer; the worker
/// keeps what it reads itself (or drops the saved answer where the data is gone).
pub async fn refresh(outbox: &OutboxStore, queries: VecSet<(String, String)>) {
    if queries.is_empty() {
        return;
    }
    #[cfg(feature = "worker")]
    let saved = match crate::response_store::ResponseStore::open().await {
        Ok(saved) => saved,
        Err(e) => return warn(&e.to_string()),
    };
    for (subject, query) in queries {
        let token = outbox.token(&subject).await.ok().flatten();
        let response = match get(&query, token.as_deref()).await {
            Ok(response) => response,
            Err(e) => {
                warn(&e);
                continue;
            }
        };
        #[cfg(feature = "worker")]
        keep(&saved, &subject, &query, response).await;
        #[cfg(not(feature = "worker"))]
        drop(response);
    }
    #[cfg(feature = "worker")]
    saved.close();
}

/// `GET query` as `token`'s holder.
async fn get(query: &str, token: Option<&str>) -> Result<web_sys::Response, String> {
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
    time_limit(&init, TIMEOUT_MS);
    let request = web_sys::Request::new_with_str_and_init(query, &init).map_err(fail)?;
    crate::bff_fetch::fetch(&request)
        .await
        .map(|r| r.unchecked_into())
        .map_err(fail)
}

/// Keeps `response` to `query` as `subject`'s saved answer, as the read-through cache would.
#[cfg(feature = "worker")]
async fn keep(
    saved: &crate::response_store::ResponseStore,
    subject: &str,
    query: &str,
    response: web_sys::Response,
) {
    use crate::read_through::{self, AfterAnswer, Answer};
    let key = read_through::cache_key(Some(subject), query);
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let (cache_control, etag, content_type) = (
        header("cache-control"),
        header("etag"),
        header("content-type"),
    );
    let body = match response.text() {
        Ok(text) => wasm_bindgen_futures::JsFuture::from(text)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(e) => return warn(&format!("GET {query}: {}", error_text(&e))),
    };
    let answer = Answer {
        status: response.status(),
        cache_control: cache_control.as_deref(),
        etag: etag.as_deref(),
        content_type: content_type.as_deref(),
    };
    let now = js_sys::Date::now() as u64;
    let stored = match read_through::after_answer(&key, None, answer, || body, now) {
        AfterAnswer::Store(record) => saved.put(&record).await,
        AfterAnswer::PassAndForget => saved.delete(&key).await,
        _ => Ok(()),
    };
    if let Err(e) = stored {
        warn(&e.to_string());
    }
}
