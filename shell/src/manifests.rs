//! Fetching the published manifests at start. They are read by the browser's `JSON.parse` and
//! the SDK's field readers: serde's deserializers for these types cost the start path 16 KB
//! gzip.

use tessera_contract::published::{AppsManifest, ImportMap, MountPointsManifest};
use tessera_sdk::FromJs;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub struct Manifests {
    pub import_map: ImportMap,
    pub apps: AppsManifest,
    pub mount_points: MountPointsManifest,
}

const URLS: [&str; 3] = ["/importmap.json", "/apps.json", "/mount-points.json"];

/// The requests `index.html` started before the shell loaded (promises of text), if it did.
fn started_by_page() -> Option<[js_sys::Promise; 3]> {
    let array: js_sys::Array = shell_common::js::take_started("__tesseraManifests")?;
    let promise = |i| array.get(i).dyn_into::<js_sys::Promise>().ok();
    Some([promise(0)?, promise(1)?, promise(2)?])
}

/// Requests a text (a promise of it) with the cache mode `cache`.
pub fn fetch_text(url: &'static str, cache: web_sys::RequestCache) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(fetch(url, cache))
}

async fn fetch(url: &str, cache: web_sys::RequestCache) -> Result<JsValue, JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_cache(cache);
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()).into());
    }
    JsFuture::from(response.text()?).await
}

async fn parse<T: FromJs>(url: &str, pending: js_sys::Promise) -> Result<T, String> {
    let text = JsFuture::from(pending)
        .await
        .map_err(|e| format!("{url}: {}", shell_common::js::error_message(&e)))?
        .as_string()
        .unwrap_or_default();
    tessera_sdk::js::parse(&text).map_err(|e| format!("{url}: {e}"))
}

/// The three manifests, from the page's early requests or fetched now, in parallel.
pub async fn load() -> Result<Manifests, String> {
    let [a, b, c] = started_by_page().unwrap_or_else(|| {
        // Manifests change with every deploy: always revalidate.
        URLS.map(|url| fetch_text(url, web_sys::RequestCache::NoCache))
    });
    Ok(Manifests {
        import_map: parse(URLS[0], a).await?,
        apps: parse(URLS[1], b).await?,
        mount_points: parse(URLS[2], c).await?,
    })
}
