//! Fetching the published manifests at start.

use serde::de::DeserializeOwned;
use tessera_shared::publish::{AppsManifest, ImportMap, MountPointsManifest};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub struct Manifests {
    pub import_map: ImportMap,
    pub apps: AppsManifest,
    pub mount_points: MountPointsManifest,
}

fn start_fetch(url: &str) -> Result<js_sys::Promise, String> {
    let init = web_sys::RequestInit::new();
    // Manifests change with every deploy; always revalidate.
    init.set_cache(web_sys::RequestCache::NoCache);
    let window = web_sys::window().ok_or("no window")?;
    Ok(window.fetch_with_str_and_init(url, &init))
}

async fn finish<T: DeserializeOwned>(url: &str, pending: js_sys::Promise) -> Result<T, String> {
    let response: web_sys::Response = JsFuture::from(pending)
        .await
        .map_err(|e| format!("{url}: {}", crate::js::error_message(&e)))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|e| crate::js::error_message(&e))?)
        .await
        .map_err(|e| format!("{url}: {}", crate::js::error_message(&e)))?
        .as_string()
        .unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| format!("{url}: {e}"))
}

/// Fetches the three manifests in parallel.
pub async fn load() -> Result<Manifests, String> {
    let urls = ["/importmap.json", "/apps.json", "/mount-points.json"];
    let [a, b, c] = urls.map(start_fetch);
    Ok(Manifests {
        import_map: finish(urls[0], a?).await?,
        apps: finish(urls[1], b?).await?,
        mount_points: finish(urls[2], c?).await?,
    })
}
