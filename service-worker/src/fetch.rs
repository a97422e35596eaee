//! Carrying out the strategy `tessera_runtime::cache_policy` picks for a request.

use crate::scope::{self, caches, wait};
use tessera_runtime::cache_policy::{self, Strategy, NETWORK_TIMEOUT_MS, PAGE_URL};
use tessera_runtime::regional;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{CacheQueryOptions, FetchEvent, Request, RequestMode, Response};

/// The response promise when the worker handles the event's request; `None` lets it through
/// untouched.
pub fn respond(event: &FetchEvent) -> Option<js_sys::Promise> {
    let request = event.request();
    let url = web_sys::Url::new(&request.url()).ok()?;
    let same_origin = url.origin() == scope::global().location().origin();
    let navigate = request.mode() == RequestMode::Navigate;
    let path = url.pathname();
    let strategy = cache_policy::strategy(&request.method(), same_origin, &path, navigate);
    if !strategy.handled() {
        // Commands, the heartbeat and the live feed are not cached, but they too go to the
        // region in use when the site has regions.
        let regional = same_origin && cache_policy::is_api(&path) && regional::current().is_some();
        return regional.then(|| future_to_promise(async move { regional::fetch(&request).await }));
    }
    if strategy == Strategy::Api {
        return Some(crate::api::respond(
            event,
            format!("{path}{}", url.search()),
        ));
    }
    let response = future_to_promise(async move {
        let response = match strategy {
            Strategy::CacheFirst => cache_first(request).await,
            Strategy::Navigation => network_first(request, PAGE_URL).await,
            _ => network_first(request, &path).await,
        };
        response.map_err(|e| js_sys::Error::new(&e).into())
    });
    if navigate {
        after_navigation(event, &response);
    }
    Some(response)
}

/// Records which set the new page starts with. The event is kept alive for it: the browser may
/// stop the worker as soon as it is idle. Pruning waits for the page's `tessera:page-started`:
/// until the new document runs, a reloaded page's old one is still a client.
fn after_navigation(event: &FetchEvent, response: &js_sys::Promise) {
    // Not in web-sys: the id of the client the navigation creates.
    let client = js_sys::Reflect::get(event, &"resultingClientId".into())
        .ok()
        .and_then(|c| c.as_string())
        .filter(|c| !c.is_empty());
    let Some(client) = client else {
        return;
    };
    let answered = response.clone();
    let work = future_to_promise(async move {
        let _ = wait(answered).await;
        if let Err(e) = crate::precache::record_navigation(client).await {
            scope::log(&format!(
                "tessera service worker: recording a page's set: {e}"
            ));
        }
        Ok(JsValue::UNDEFINED)
    });
    // Fails only when the event is already over (a cold start answering late); the records
    // then wait for the next navigation.
    let _ = event.wait_until(&work);
}

fn query(ignore_search: bool) -> CacheQueryOptions {
    let options = CacheQueryOptions::new();
    // The CDN varies on Accept-Encoding; the cached bodies are decoded, so any encoding fits.
    options.set_ignore_vary(true);
    options.set_ignore_search(ignore_search);
    options
}

async fn cached(key: &str, ignore_search: bool) -> Result<Option<Response>, String> {
    let found = wait(caches()?.match_with_str_and_options(key, &query(ignore_search))).await?;
    Ok(found.dyn_into().ok())
}

async fn network(request: &Request) -> Result<Response, String> {
    Ok(wait(scope::global().fetch_with_request(request))
        .await?
        .unchecked_into())
}

/// Content-addressed files never change: any cached copy is right. A file outside the set
/// (an app published after install) is fetched and added to this worker's set.
async fn cache_first(request: Request) -> Result<JsValue, String> {
    // The shell retries a failed import with a fresh query string; the file is the same.
    if let Some(hit) = cached(&request.url(), true).await? {
        return Ok(hit.into());
    }
    let response = network(&request).await?;
    if response.ok() {
        if let (Some(set), Ok(copy)) = (crate::precache::current_set().await, response.clone()) {
            let url = request.url();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(cache) = caches().map(|c| c.open(&set)) {
                    if let Ok(cache) = wait(cache).await {
                        let cache: web_sys::Cache = cache.unchecked_into();
                        let _ = wait(cache.put_with_str(&url, &copy)).await;
                    }
                }
            });
        }
    }
    Ok(response.into())
}

/// The network's answer when it comes within the timeout and is not a server error;
/// otherwise the set's copy under `key`; with no copy, whatever the network ends up saying.
/// The cached copy is not refreshed from the network: it must stay consistent with the
/// bundles of its set (refreshing sets is the update flow's job).
async fn network_first(request: Request, key: &str) -> Result<JsValue, String> {
    let fetched = scope::global().fetch_with_request(&request);
    let timer = scope::timer(NETWORK_TIMEOUT_MS);
    let raced = wait(js_sys::Promise::race(&js_sys::Array::of2(&fetched, &timer))).await;
    if let Ok(answer) = &raced {
        if let Some(response) = answer.dyn_ref::<Response>() {
            if response.status() < 500 {
                return Ok(answer.clone());
            }
        }
    }
    if let Some(copy) = own_copy(key).await? {
        return Ok(copy.into());
    }
    wait(fetched).await
}

/// The copy in this worker's own set. Every set holds the page and the manifests, and an older
/// set kept for a page still open must not answer for the current one (`caches.match` would
/// take the oldest cache first).
async fn own_copy(key: &str) -> Result<Option<Response>, String> {
    if let Some(set) = crate::precache::current_set().await {
        let cache = crate::precache::open(&set).await?;
        let found = wait(cache.match_with_str_and_options(key, &query(true))).await?;
        if let Ok(response) = found.dyn_into::<Response>() {
            return Ok(Some(response));
        }
    }
    cached(key, true).await
}
