//! BFF queries (`GET /api/…`) through the read-through cache: the rules are
//! `tessera_runtime::read_through`, the records live in IndexedDB (`response_store`). Every
//! answer that comes from a record says so (`x-tessera-source: cache`) and when the server last
//! confirmed it (`x-tessera-as-of`), so the page can show the data's age.

use crate::scope::{self, message, wait};
use std::cell::RefCell;
use std::rc::Rc;
use tessera_runtime::cache_policy::NETWORK_TIMEOUT_MS;
use tessera_runtime::read_through::{
    self, AfterAnswer, Answer, CachedResponse, Decision, AS_OF_HEADER, NOT_SAVED_HEADER,
    SOURCE_HEADER,
};
use tessera_runtime::regional;
use tessera_runtime::response_store::{ResponseStore, StoreError};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{FetchEvent, Headers, Request, RequestInit, Response, ResponseInit};

thread_local! {
    // One connection for the worker's life: opening IndexedDB per request costs milliseconds.
    static STORE: RefCell<Option<Rc<ResponseStore>>> = const { RefCell::new(None) };
}

/// The open store, or `None` when IndexedDB is unusable: queries then go to the network as if
/// there were no cache.
async fn store() -> Option<Rc<ResponseStore>> {
    if let Some(s) = STORE.with(|s| s.borrow().clone()) {
        return Some(s);
    }
    match ResponseStore::open().await {
        Ok(s) => {
            let s = Rc::new(s);
            STORE.with(|slot| *slot.borrow_mut() = Some(s.clone()));
            Some(s)
        }
        Err(e) => {
            warn(&e);
            None
        }
    }
}

fn warn(e: &StoreError) {
    web_sys::console::warn_1(&format!("tessera service worker: {e}").into());
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// One query on its way through the cache.
struct Query {
    request: Request,
    key: String,
    path_and_query: String,
    store: Option<Rc<ResponseStore>>,
    stored: Option<CachedResponse>,
}

pub fn respond(event: &FetchEvent, path_and_query: String) -> js_sys::Promise {
    let event = event.clone();
    future_to_promise(async move {
        answer(event, path_and_query)
            .await
            .map_err(|e| js_sys::Error::new(&e).into())
    })
}

async fn answer(event: FetchEvent, path_and_query: String) -> Result<JsValue, String> {
    let request = event.request();
    let headers = request.headers();
    // A caller that revalidates by itself holds its own copy: answer it straight.
    if headers.has("if-none-match").unwrap_or(false) {
        return regional::fetch(&request).await.map_err(|e| message(&e));
    }
    let authorization = headers.get("authorization").ok().flatten();
    let subject = read_through::bearer_subject(authorization.as_deref());
    let key = read_through::cache_key(subject.as_deref(), &path_and_query);
    let store = store().await;
    let stored = match &store {
        Some(s) => match s.get(&key).await {
            Ok(found) => found,
            Err(e) => {
                warn(&e);
                None
            }
        },
        None => None,
    };
    let query = Rc::new(Query {
        request,
        key,
        path_and_query,
        store,
        stored,
    });
    match read_through::decide(query.stored.as_ref(), now()) {
        Decision::Serve => from_record(query.stored.as_ref().expect("served"), "cache", None),
        Decision::ServeAndRevalidate { if_none_match } => {
            let later = query.clone();
            let revalidation = future_to_promise(async move {
                let _ = fetch(&later, if_none_match).await;
                Ok(JsValue::UNDEFINED)
            });
            let _ = event.wait_until(&revalidation);
            from_record(query.stored.as_ref().expect("served"), "cache", None)
        }
        Decision::Fetch { if_none_match } => {
            let fetched = future_to_promise({
                let query = query.clone();
                async move { fetch(&query, if_none_match).await.map_err(JsValue::from) }
            });
            if query.stored.is_none() {
                return wait(fetched).await;
            }
            // A slow network should not hold up data the user already has: past the timeout,
            // the record answers and the fetch finishes in the background to refresh it.
            let timer = scope::timer(NETWORK_TIMEOUT_MS);
            let raced = wait(js_sys::Promise::race(&js_sys::Array::of2(&fetched, &timer))).await;
            match raced {
                Ok(answer) if !answer.is_undefined() => Ok(answer),
                _ => {
                    let _ = event.wait_until(&fetched);
                    from_record(query.stored.as_ref().expect("stored"), "cache", None)
                }
            }
        }
    }
}

/// Asks the server (conditionally when a record has an ETag) and applies its answer to the
/// cache; with no answer at all, the record or the "not available offline" problem.
async fn fetch(query: &Query, if_none_match: Option<String>) -> Result<JsValue, String> {
    let request = match &if_none_match {
        Some(tag) => conditional(&query.request, tag)?,
        // `Request::clone` (the Fetch API's, not `Clone`): a GET has no body to use up, but a
        // revalidation may run after the page's own fetch.
        None => query.request.clone().map_err(|e| message(&e))?,
    };
    let response: Response = match regional::fetch(&request).await {
        Ok(r) => r.unchecked_into(),
        Err(_) => {
            return match read_through::offline_answer(query.stored.as_ref(), &query.path_and_query)
            {
                Ok(record) => from_record(&record, "cache", None),
                Err(problem) => problem_response(&problem),
            }
        }
    };
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let status = response.status();
    let body = if status == 200 {
        let text = response.text().map_err(|e| message(&e))?;
        Some(wait(text).await?.as_string().unwrap_or_default())
    } else {
        None
    };
    let (cache_control, etag, content_type) = (
        header("cache-control"),
        header("etag"),
        header("content-type"),
    );
    let answer = Answer {
        status,
        cache_control: cache_control.as_deref(),
        etag: etag.as_deref(),
        content_type: content_type.as_deref(),
    };
    let body_text = body.clone();
    let after = read_through::after_answer(
        &query.key,
        query.stored.as_ref(),
        answer,
        move || body_text.unwrap_or_default(),
        now(),
    );
    match after {
        AfterAnswer::Store(record) | AfterAnswer::Confirmed(record) => {
            let mut not_saved = None;
            if let Some(store) = &query.store {
                if let Err(e) = store.put(&record).await {
                    warn(&e);
                    not_saved = Some(match e {
                        StoreError::QuotaExceeded(_) => "quota-exceeded",
                        _ => "store-error",
                    });
                }
            }
            from_record(&record, "network", not_saved)
        }
        AfterAnswer::ServeStored => {
            from_record(query.stored.as_ref().expect("stored"), "cache", None)
        }
        AfterAnswer::PassAndForget => {
            if let Some(store) = &query.store {
                if let Err(e) = store.delete(&query.key).await {
                    warn(&e);
                }
            }
            pass(response, body)
        }
        AfterAnswer::Pass => pass(response, body),
    }
}

/// The original request with the record's ETag to revalidate against.
fn conditional(request: &Request, etag: &str) -> Result<Request, String> {
    let headers = Headers::new_with_headers(&request.headers()).map_err(|e| message(&e))?;
    headers
        .set("if-none-match", etag)
        .map_err(|e| message(&e))?;
    let init = RequestInit::new();
    init.set_headers(&headers);
    Request::new_with_request_and_init(request, &init).map_err(|e| message(&e))
}

/// The server's response as it came (its body, if read, put back).
fn pass(response: Response, body: Option<String>) -> Result<JsValue, String> {
    let Some(body) = body else {
        return Ok(response.into());
    };
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_headers(&response.headers());
    Ok(Response::new_with_opt_str_and_init(Some(&body), &init)
        .map_err(|e| message(&e))?
        .into())
}

fn from_record(
    record: &CachedResponse,
    source: &str,
    not_saved: Option<&str>,
) -> Result<JsValue, String> {
    let as_of = record.confirmed_at_ms.to_string();
    let mut headers = vec![
        ("content-type", record.content_type.as_str()),
        (AS_OF_HEADER, as_of.as_str()),
        (SOURCE_HEADER, source),
    ];
    if let Some(etag) = &record.etag {
        headers.push(("etag", etag));
    }
    if let Some(why) = not_saved {
        headers.push((NOT_SAVED_HEADER, why));
    }
    made(record.status, &headers, &record.body)
}

fn problem_response(problem: &tessera_contract::sync::Problem) -> Result<JsValue, String> {
    let body = serde_json::to_string(problem).map_err(|e| e.to_string())?;
    made(
        problem.status,
        &[
            ("content-type", "application/problem+json"),
            (SOURCE_HEADER, "cache"),
        ],
        &body,
    )
}

/// A response the worker makes up itself.
fn made(status: u16, headers: &[(&str, &str)], body: &str) -> Result<JsValue, String> {
    let h = Headers::new().map_err(|e| message(&e))?;
    for (name, value) in headers {
        h.set(name, value).map_err(|e| message(&e))?;
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&h);
    Ok(Response::new_with_opt_str_and_init(Some(body), &init)
        .map_err(|e| message(&e))?
        .into())
}
