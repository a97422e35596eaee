//! Installing a precache set atomically, and retiring older sets once no open page uses them.
//!
//! A set is everything the site needs offline for one shell release and one state of the
//! published manifests. It lives in one cache named after it (`tessera-set-<hash>`), so a
//! later update can install the next set beside it while pages keep the one they started on.

use crate::scope::{self, all, caches, log, wait};
use std::cell::RefCell;
use tessera_contract::VecMap;
use tessera_runtime::cache_policy::{self, MANIFEST_URLS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    Cache, ClientQueryOptions, ClientType, RequestCache, RequestInit, Response, ResponseInit,
};

/// Where a worker records the set it installed, keyed by its stamp (the published set it was
/// rendered for), and which set each page started with: the browser stops idle workers at
/// any time, and the next start must still know both.
const META_CACHE: &str = "tessera-meta";
/// A JSON object: window client id → the set its navigation was answered from.
const CLIENTS_KEY: &str = "/_tessera/sw/clients";

thread_local! {
    static CURRENT_SET: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn meta_key() -> String {
    format!("/_tessera/sw/precache-set/{}", crate::shell().stamp)
}

/// A fetched file, held in memory until the whole set is in.
struct Fetched {
    url: String,
    body: js_sys::ArrayBuffer,
    content_type: Option<String>,
}

/// Fetches one URL for the set; anything but a 2xx fails the install, naming the URL.
async fn fetch_file(url: String) -> Result<Fetched, String> {
    let init = RequestInit::new();
    // Manifests and the page change with every deploy: revalidate them. Bundle files are
    // immutable, so whatever the HTTP cache holds for them is right.
    if !cache_policy::is_bundle_file(&url) {
        init.set_cache(RequestCache::NoCache);
    }
    let response: Response = wait(scope::global().fetch_with_str_and_init(&url, &init))
        .await
        .map_err(|e| format!("precaching {url}: {e}"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!(
            "precaching {url}: HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    let body = response
        .array_buffer()
        .map_err(|e| format!("precaching {url}: {}", scope::message(&e)))?;
    let body = wait(body)
        .await
        .map_err(|e| format!("precaching {url}: reading the body: {e}"))?;
    let content_type = response.headers().get("content-type").ok().flatten();
    Ok(Fetched {
        url,
        body: body.unchecked_into(),
        content_type,
    })
}

async fn fetch_all(urls: Vec<String>) -> Result<Vec<Fetched>, String> {
    // `scope::all` runs them concurrently; the results come back as JS values, so the fetched
    // files are kept on the Rust side, in order.
    let slots: Vec<RefCell<Option<Fetched>>> = urls.iter().map(|_| RefCell::new(None)).collect();
    let slots = std::rc::Rc::new(slots);
    let futures = urls
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let slots = slots.clone();
            async move {
                let f = fetch_file(url).await?;
                *slots[i].borrow_mut() = Some(f);
                Ok(JsValue::UNDEFINED)
            }
        })
        .collect();
    all(futures).await?;
    Ok(slots.iter().filter_map(|s| s.borrow_mut().take()).collect())
}

fn json(f: &Fetched) -> Result<JsValue, String> {
    let text = String::from_utf8(js_sys::Uint8Array::new(&f.body).to_vec())
        .map_err(|_| format!("{}: not UTF-8", f.url))?;
    js_sys::JSON::parse(&text).map_err(|e| format!("{}: {}", f.url, scope::message(&e)))
}

fn values(object: &JsValue) -> Vec<JsValue> {
    object
        .dyn_ref::<js_sys::Object>()
        .map(|o| js_sys::Object::values(o).to_vec())
        .unwrap_or_default()
}

fn get(object: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Each app's entry (`importmap.json` `imports`) and preloads (`apps.json` `apps.*.preload`).
fn app_files(import_map: &JsValue, apps: &JsValue) -> (Vec<String>, Vec<String>) {
    let entries = values(&get(import_map, "imports"))
        .iter()
        .filter_map(JsValue::as_string)
        .collect();
    let preloads = values(&get(apps, "apps"))
        .iter()
        .flat_map(|app| {
            // `preload` is optional: `Array.from(undefined)` would throw out of the install.
            get(app, "preload")
                .dyn_into::<js_sys::Array>()
                .map(|a| a.to_vec())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|u| u.as_string())
        })
        .collect();
    (entries, preloads)
}

/// Refuses a set that would not fit, before writing anything.
async fn check_quota(needed: f64) -> Result<(), String> {
    let storage = scope::global().navigator().storage();
    let Ok(estimate) = storage.estimate() else {
        return Ok(()); // No estimate to go by: the cache writes themselves will tell.
    };
    let estimate: web_sys::StorageEstimate = wait(estimate).await?.unchecked_into();
    let (usage, quota) = (
        estimate.get_usage().unwrap_or(0.0),
        estimate.get_quota().unwrap_or(f64::INFINITY),
    );
    if !cache_policy::quota_allows(usage, quota, needed) {
        return Err(format!(
            "the set needs {needed} bytes; {usage} of the {quota} bytes of storage are in use"
        ));
    }
    Ok(())
}

pub(crate) async fn open(name: &str) -> Result<Cache, String> {
    Ok(wait(caches()?.open(name)).await?.unchecked_into())
}

async fn put_all(cache: &Cache, files: Vec<Fetched>) -> Result<(), String> {
    let puts = files
        .into_iter()
        .map(|f| {
            let cache = cache.clone();
            async move {
                let headers = web_sys::Headers::new().map_err(|e| scope::message(&e))?;
                if let Some(ct) = &f.content_type {
                    let _ = headers.set("content-type", ct);
                }
                let init = ResponseInit::new();
                init.set_status(200);
                init.set_headers(&headers);
                let response = Response::new_with_opt_buffer_source_and_init(Some(&f.body), &init)
                    .map_err(|e| scope::message(&e))?;
                wait(cache.put_with_str(&f.url, &response))
                    .await
                    .map_err(|e| format!("caching {}: {e}", f.url))
            }
        })
        .collect();
    all(puts).await.map(|_| ())
}

/// Fetches the published manifests, computes the set, fetches every file of it in parallel and
/// writes them all to the set's cache; on any failure the partial cache is deleted. Returns the
/// set's name.
pub async fn install() -> Result<String, String> {
    let shell = crate::shell();
    let manifests = fetch_all(MANIFEST_URLS.map(String::from).to_vec()).await?;
    let (import_map, apps) = (json(&manifests[0])?, json(&manifests[1])?);
    let (entries, preloads) = app_files(&import_map, &apps);
    let set = cache_policy::precache_set(
        shell.files.iter().map(String::as_str),
        entries.iter().map(String::as_str),
        preloads.iter().map(String::as_str),
    );
    // The manifests are cached exactly as read, so the cached set is consistent with them.
    let rest: Vec<String> = set
        .urls
        .iter()
        .filter(|u| !MANIFEST_URLS.contains(&u.as_str()))
        .cloned()
        .collect();
    let mut files = fetch_all(rest).await?;
    files.extend(manifests);
    let bytes: f64 = files.iter().map(|f| f64::from(f.body.byte_length())).sum();
    check_quota(bytes).await?;

    let existed = wait(caches()?.has(&set.name))
        .await?
        .as_bool()
        .unwrap_or(false);
    let count = files.len();
    let written = async {
        let cache = open(&set.name).await?;
        put_all(&cache, files).await
    }
    .await;
    if let Err(e) = written {
        // Never leave half a set behind; a set that was already complete stays.
        if !existed {
            let _ = wait(caches()?.delete(&set.name)).await;
        }
        return Err(format!("installing {}: {e}", set.name));
    }
    remember(&set.name).await?;
    log(&format!(
        "tessera service worker: precached {count} files ({bytes} bytes) as {}",
        set.name
    ));
    Ok(set.name)
}

async fn remember(set: &str) -> Result<(), String> {
    CURRENT_SET.with(|c| *c.borrow_mut() = Some(set.to_string()));
    write_meta(&meta_key(), set).await
}

async fn read_meta(key: &str) -> Option<String> {
    let meta = open(META_CACHE).await.ok()?;
    let found = wait(meta.match_with_str(key)).await.ok()?;
    let response: Response = found.dyn_into().ok()?;
    wait(response.text().ok()?).await.ok()?.as_string()
}

async fn write_meta(key: &str, text: &str) -> Result<(), String> {
    let meta = open(META_CACHE).await?;
    let response = Response::new_with_opt_str(Some(text)).map_err(|e| scope::message(&e))?;
    wait(meta.put_with_str(key, &response)).await?;
    Ok(())
}

/// The set this worker installed, if it did.
pub async fn current_set() -> Option<String> {
    if let Some(set) = CURRENT_SET.with(|c| c.borrow().clone()) {
        return Some(set);
    }
    let text = read_meta(&meta_key()).await?;
    CURRENT_SET.with(|c| *c.borrow_mut() = Some(text.clone()));
    Some(text)
}

/// Which set each page started with. Unreadable records count as none, which keeps every set.
async fn client_records() -> VecMap<String, String> {
    let Some(text) = read_meta(CLIENTS_KEY).await else {
        return VecMap::new();
    };
    let Ok(parsed) = js_sys::JSON::parse(&text) else {
        return VecMap::new();
    };
    let Some(object) = parsed.dyn_ref::<js_sys::Object>() else {
        return VecMap::new();
    };
    js_sys::Object::entries(object)
        .iter()
        .filter_map(|pair| {
            let pair = js_sys::Array::from(&pair);
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

async fn write_client_records(records: &VecMap<String, String>) -> Result<(), String> {
    let object = js_sys::Object::new();
    for (client, set) in records {
        js_sys::Reflect::set(&object, &client.into(), &set.into())
            .map_err(|e| scope::message(&e))?;
    }
    let text = js_sys::JSON::stringify(&object)
        .map_err(|e| scope::message(&e))?
        .as_string()
        .unwrap_or_default();
    write_meta(CLIENTS_KEY, &text).await
}

/// Remembers that the page `client` started with this worker's set (its navigation was
/// answered by this worker).
pub async fn record_navigation(client: String) -> Result<(), String> {
    let Some(set) = current_set().await else {
        return Ok(());
    };
    let mut records = client_records().await;
    if records.get(&client) == Some(&set) {
        return Ok(());
    }
    records.insert(client, set);
    write_client_records(&records).await
}

/// Deletes the set caches `cache_policy::prune_sets` finds unused, and forgets closed pages.
pub async fn prune() -> Result<(), String> {
    let Some(current) = current_set().await else {
        return Ok(());
    };
    let names: Vec<String> = js_sys::Array::from(&wait(caches()?.keys()).await?)
        .iter()
        .filter_map(|n| n.as_string())
        .collect();
    let options = ClientQueryOptions::new();
    options.set_type(ClientType::Window);
    // A page the worker does not control (yet) may still import from a set.
    options.set_include_uncontrolled(true);
    let clients = wait(scope::global().clients().match_all_with_options(&options)).await?;
    let live: Vec<String> = js_sys::Array::from(&clients)
        .iter()
        .filter_map(|c| get(&c, "id").as_string())
        .collect();
    let registration = scope::global().registration();
    let pending = registration.installing().is_some() || registration.waiting().is_some();
    let records = client_records().await;
    let pruning = cache_policy::prune_sets(
        names.iter().map(String::as_str),
        &current,
        &live.iter().map(String::as_str).collect::<Vec<_>>(),
        &records,
        pending,
    );
    for name in &pruning.delete {
        wait(caches()?.delete(name)).await?;
        log(&format!(
            "tessera service worker: deleted {name}, which no open page uses"
        ));
    }
    if pruning.records != records {
        write_client_records(&pruning.records).await?;
    }
    Ok(())
}

/// Takes control of the open pages, then deletes the sets none of them started with.
pub async fn activate() -> Result<(), String> {
    current_set()
        .await
        .ok_or("activating a worker that recorded no precache set")?;
    wait(scope::global().clients().claim()).await?;
    if let Err(e) = prune().await {
        // A set left behind costs storage only; the next navigation prunes again.
        log(&format!("tessera service worker: pruning old sets: {e}"));
    }
    Ok(())
}
