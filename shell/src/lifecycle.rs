//! Calling an app's module: loading it, and invoking its lifecycle functions with a timeout.

use crate::js;
use crate::registry;
use tessera_shared::lifecycle::{LifecycleEvent as E, Props};
use tessera_shared::{AppStatus, SUPPORTED_ABIS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const LOAD_TIMEOUT_MS: u32 = 20_000;
const LIFECYCLE_TIMEOUT_MS: u32 = 5_000;
const REQUIRED_EXPORTS: [&str; 3] = ["bootstrap", "mount", "unmount"];

/// Calls `module[name](...args)`, awaiting a returned promise, and turns a throw, a rejection
/// or a timeout into a message.
pub async fn call(
    app: &str,
    module: &JsValue,
    name: &str,
    args: &[&JsValue],
) -> Result<JsValue, String> {
    call_within(app, module, name, args, LIFECYCLE_TIMEOUT_MS).await
}

async fn call_within(
    app: &str,
    module: &JsValue,
    name: &str,
    args: &[&JsValue],
    timeout_ms: u32,
) -> Result<JsValue, String> {
    let what = format!("{app} {name}()");
    let f: js_sys::Function = js_sys::Reflect::get(module, &name.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("{what}: not exported"))?;
    let array: js_sys::Array = args.iter().copied().collect();
    let returned = f
        .apply(module, &array)
        .map_err(|e| format!("{what} threw: {}", js::error_message(&e)))?;
    JsFuture::from(js::with_timeout(&returned, timeout_ms, &what))
        .await
        .map_err(|e| format!("{what} failed: {}", js::error_message(&e)))
}

pub fn has_export(module: &JsValue, name: &str) -> bool {
    js_sys::Reflect::get(module, &name.into())
        .map(|f| f.is_function())
        .unwrap_or(false)
}

/// The props object for an app: the typed props as JSON, plus the shell's parcel functions.
pub fn props_object(props: &Props) -> (JsValue, String) {
    let text = serde_json::to_string(props).unwrap_or_default();
    let object = js_sys::JSON::parse(&text).unwrap_or_else(|_| js_sys::Object::new().into());
    crate::parcels::attach(&object);
    (object, text)
}

pub fn base_props(name: &str) -> Props {
    registry::with(|s| Props {
        name: name.to_string(),
        base_path: String::new(),
        abi: tessera_shared::ABI_VERSION,
        session: s.session.clone(),
        params: Default::default(),
        navigation: s.manifests.mount_points.navigation(),
        data: serde_json::Value::Null,
        bff: s.records.get(name).and_then(|r| r.entry.bff.clone()),
    })
}

/// A promise that settles once the app is loaded and bootstrapped. Started once and shared, so
/// a route and several parcels asking at once load the bundle once; a failed load is forgotten
/// so that the next activation retries it.
pub fn ready(name: &str) -> Option<js_sys::Promise> {
    let existing = registry::with_app(name, |r| r.ready.clone())?;
    if let Some(p) = existing {
        return Some(p);
    }
    let owned = name.to_string();
    let promise = wasm_bindgen_futures::future_to_promise(async move {
        let result = load_and_bootstrap(&owned).await;
        if result.is_err() && registry::status(&owned) == Some(AppStatus::LoadError) {
            registry::with_app(&owned, |r| r.ready = None);
        }
        crate::router::request_reroute();
        result
            .map(|_| JsValue::UNDEFINED)
            .map_err(|e| js_sys::Error::new(&e).into())
    });
    registry::with_app(name, |r| {
        r.ready = Some(promise.clone());
        r.retry = false;
    });
    Some(promise)
}

async fn load_and_bootstrap(name: &str) -> Result<(), String> {
    let (abi, url) = registry::with(|s| {
        let abi = s.records.get(name).map(|r| r.entry.abi).unwrap_or_default();
        let specifier = s.records.get(name).map(|r| r.entry.specifier.clone());
        let url = specifier.and_then(|sp| s.manifests.import_map.imports.get(&sp).cloned());
        let failed = s
            .records
            .get(name)
            .map(|r| r.failed_loads)
            .unwrap_or_default();
        let url = match (url, failed) {
            (Some(u), n) if n > 0 => Some(format!("{u}?retry={n}")),
            (u, _) => u,
        };
        (abi, url)
    });
    if !SUPPORTED_ABIS.contains(&abi) {
        let msg = format!("{name} speaks ABI {abi}; this shell speaks {SUPPORTED_ABIS:?}");
        registry::fail(name, E::Refused, msg.clone());
        return Err(msg);
    }
    registry::transition(name, E::LoadStarted);
    let (preload, first_try) =
        registry::with_app(name, |r| (r.entry.preload.clone(), r.failed_loads == 0))
            .unwrap_or_default();
    if first_try {
        preload_files(&preload);
    }
    let module = match load_module(name, url).await {
        Ok(m) => m,
        Err(msg) => {
            registry::with_app(name, |r| r.failed_loads += 1);
            registry::fail(name, E::LoadFailed, msg.clone());
            return Err(msg);
        }
    };
    registry::transition(name, E::Loaded);
    if let Some(missing) = REQUIRED_EXPORTS.iter().find(|f| !has_export(&module, f)) {
        let msg = format!("{name} does not export the lifecycle function {missing}()");
        registry::fail(name, E::Refused, msg.clone());
        return Err(msg);
    }
    if has_export(&module, "abi") {
        let declared = call(name, &module, "abi", &[])
            .await
            .ok()
            .and_then(|v| v.as_f64());
        if declared != Some(f64::from(abi)) {
            let msg = format!("{name} was built for ABI {declared:?} but its manifest says {abi}");
            registry::fail(name, E::Refused, msg.clone());
            return Err(msg);
        }
    }
    registry::with_app(name, |r| {
        r.module = Some(module.clone());
        r.error = None;
    });
    registry::transition(name, E::BootstrapStarted);
    let (props, _) = props_object(&base_props(name));
    if let Err(msg) = call(name, &module, "bootstrap", &[&props]).await {
        registry::fail(name, E::LifecycleFailed, msg.clone());
        return Err(msg);
    }
    registry::transition(name, E::Bootstrapped);
    Ok(())
}

/// Starts fetching a bundle's wasm and JS snippets now, in parallel with its entry module, rather
/// than after the entry has been parsed and has asked for them.
fn preload_files(urls: &[String]) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Some(head) = document.head() else {
        return;
    };
    for url in urls {
        let Ok(link) = document.create_element("link") else {
            continue;
        };
        let attrs: &[(&str, &str)] = if url.ends_with(".wasm") {
            // Matches wasm-bindgen's own `fetch()` of the file, so the browser reuses it.
            &[
                ("rel", "preload"),
                ("as", "fetch"),
                ("type", "application/wasm"),
                ("crossorigin", "anonymous"),
            ]
        } else {
            &[("rel", "modulepreload")]
        };
        for (k, v) in attrs {
            let _ = link.set_attribute(k, v);
        }
        let _ = link.set_attribute("href", url);
        let _ = head.append_child(&link);
    }
}

async fn load_module(name: &str, url: Option<String>) -> Result<JsValue, String> {
    let url = url.ok_or_else(|| format!("{name} has no entry in importmap.json"))?;
    let module = JsFuture::from(js::with_timeout(
        &js::import_module(&url),
        LOAD_TIMEOUT_MS,
        &format!("loading {url}"),
    ))
    .await
    .map_err(|e| format!("could not load {url}: {}", js::error_message(&e)))?;
    // wasm-bindgen's default export instantiates the module's wasm next to its JS.
    call_within(name, &module, "default", &[], LOAD_TIMEOUT_MS).await?;
    Ok(module)
}
