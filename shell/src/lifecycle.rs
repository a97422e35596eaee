//! Calling an app's module: loading it, and invoking its lifecycle functions with a timeout.

use crate::registry;
use shell_common::js;
use tessera_contract::lifecycle::LifecycleEvent as E;
use tessera_contract::{AppStatus, SUPPORTED_ABIS};
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

/// What loading an app fetches: its entry module and the files beside it, with the integrity
/// every one of them must have.
struct Bundle {
    /// The version this user gets, and whether it is a cohort's trial (`"trial"`), a local
    /// override (`"override"`) or the released one (`""`).
    version: String,
    cohort: String,
    entry: Option<String>,
    preload: Vec<String>,
    integrity: tessera_contract::VecMap<String, String>,
    /// A local override (`overrides`): no published integrity to check it against.
    overridden: bool,
}

/// The version this user gets (a cohort's, or the released one) and its files.
fn bundle_for(name: &str) -> (u32, Bundle) {
    let session = crate::session::current();
    let subject = session
        .id_token
        .as_deref()
        .and_then(crate::session::subject);
    registry::with(|s| {
        let Some(record) = s.records.get(name) else {
            return (
                0,
                Bundle {
                    version: String::new(),
                    cohort: String::new(),
                    entry: None,
                    preload: vec![],
                    integrity: Default::default(),
                    overridden: false,
                },
            );
        };
        let entry = &record.entry;
        if let Some(url) = crate::overrides::entry_for(name) {
            let bundle = Bundle {
                version: entry.version.clone(),
                cohort: "override".into(),
                entry: Some(url),
                preload: vec![],
                integrity: Default::default(),
                overridden: true,
            };
            return (entry.abi, bundle);
        }
        let chosen = tessera_contract::cohort::choose(
            name,
            &entry.cohorts,
            subject.as_deref(),
            &session.roles,
        );
        let (version, cohort) = match chosen {
            Some(c) => (c.version.clone(), "trial".to_owned()),
            None => (entry.version.clone(), String::new()),
        };
        let (url, preload) = match chosen {
            Some(cohort) => (Some(cohort.entry.clone()), cohort.preload.clone()),
            None => (
                s.manifests
                    .import_map
                    .imports
                    .get(&entry.specifier)
                    .cloned(),
                entry.preload.clone(),
            ),
        };
        let integrity = url
            .iter()
            .chain(&preload)
            .filter_map(|u| Some((u.clone(), s.manifests.import_map.integrity.get(u)?.clone())))
            .collect();
        (
            entry.abi,
            Bundle {
                version,
                cohort,
                entry: url,
                preload,
                integrity,
                overridden: false,
            },
        )
    })
}

async fn load_and_bootstrap(name: &str) -> Result<(), String> {
    let (abi, bundle) = bundle_for(name);
    let files: Vec<&str> = bundle
        .entry
        .iter()
        .chain(&bundle.preload)
        .map(String::as_str)
        .collect();
    crate::rum::loading(name, &bundle.version, &bundle.cohort, &files);
    registry::with_app(name, |r| r.running = Some(bundle.version.clone()));
    if !SUPPORTED_ABIS.contains(&abi) {
        let spoken: Vec<String> = SUPPORTED_ABIS.iter().map(u32::to_string).collect();
        let msg = format!(
            "{name} speaks ABI {abi}; this shell speaks [{}]",
            spoken.join(", ")
        );
        registry::fail(name, E::Refused, msg.clone());
        return Err(msg);
    }
    registry::transition(name, E::LoadStarted);
    let failed = registry::with_app(name, |r| r.failed_loads).unwrap_or_default();
    let preloaded = registry::with_app(name, |r| r.preloaded).unwrap_or_default();
    if failed == 0 && !preloaded {
        preload_files(&bundle, false);
    }
    let module = match load_module(name, &bundle, failed).await {
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
        let declared = call(name, &module, "abi", &[]).await.ok();
        if declared.as_ref().and_then(JsValue::as_f64) != Some(f64::from(abi)) {
            // Written by JS: Rust's float printing would cost the shell 14 KB.
            let declared = declared
                .and_then(|v| js_sys::JSON::stringify(&v).ok())
                .and_then(|v| v.as_string())
                .unwrap_or_else(|| "nothing".into());
            let msg = format!("{name} was built for ABI {declared} but its manifest says {abi}");
            registry::fail(name, E::Refused, msg.clone());
            return Err(msg);
        }
    }
    registry::with_app(name, |r| {
        r.module = Some(module.clone());
        r.error = None;
    });
    registry::transition(name, E::BootstrapStarted);
    let (props, _) = crate::props::props_object(&crate::props::base_props(name));
    if let Err(msg) = call(name, &module, "bootstrap", &[&props]).await {
        registry::fail(name, E::LifecycleFailed, msg.clone());
        return Err(msg);
    }
    registry::transition(name, E::Bootstrapped);
    Ok(())
}

/// Starts downloading the bundle of an app the user is about to open, once: its entry module
/// (checked against its integrity) and the files its load fetches. An app already loading or
/// loaded, one that failed, one from a local override or one this shell would refuse (its ABI)
/// is left alone.
pub fn preload(name: &str) {
    let untouched = registry::with_app(name, |r| {
        r.status == AppStatus::NotLoaded && r.failed_loads == 0 && !r.preloaded
    });
    if untouched != Some(true) {
        return;
    }
    let (abi, bundle) = bundle_for(name);
    if bundle.overridden || !SUPPORTED_ABIS.contains(&abi) {
        return;
    }
    registry::with_app(name, |r| r.preloaded = true);
    preload_files(&bundle, true);
}

/// Starts fetching a bundle's wasm and JS snippets now (and with `entry`, its entry module), in
/// parallel with its entry module, rather than after the entry has been parsed and has asked
/// for them.
fn preload_files(bundle: &Bundle, entry: bool) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Some(head) = document.head() else {
        return;
    };
    let entry = bundle.entry.iter().filter(|_| entry);
    for url in entry.chain(&bundle.preload) {
        let Ok(link) = document.create_element("link") else {
            continue;
        };
        let attrs: &[(&str, &str)] = if url.ends_with(".wasm") {
            // Matches the shell's own `fetch()` of the file, so the browser reuses it.
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
        // Chromium checks integrity on module preloads only (the wasm is checked when fetched).
        if let (false, Some(sri)) = (url.ends_with(".wasm"), bundle.integrity.get(url)) {
            let _ = link.set_attribute("integrity", sri);
        }
        let _ = link.set_attribute("href", url);
        let _ = head.append_child(&link);
    }
}

/// Imports the entry module and starts its wasm, refusing to run anything whose bytes do not
/// match the published integrity: the entry and its JS imports through the import map's
/// `integrity` (the browser checks them), the wasm through `fetch(url, {integrity})` handed to
/// wasm-bindgen's `init`.
async fn load_module(name: &str, bundle: &Bundle, failed: u32) -> Result<JsValue, String> {
    let entry = bundle
        .entry
        .as_deref()
        .ok_or_else(|| format!("{name} has no entry in importmap.json"))?;
    let mut sources = vec![entry];
    sources.extend(bundle.preload.iter().map(String::as_str));
    let unchecked = sources.iter().find(|u| !bundle.integrity.contains_key(**u));
    if let (Some(missing), false) = (unchecked, bundle.overridden) {
        return Err(format!(
            "{missing} has no integrity in importmap.json; it is not run"
        ));
    }
    // Browsers may cache a failed import: a retry asks for a fresh URL, with the same integrity.
    let url = match failed {
        0 => entry.to_string(),
        n => format!("{entry}?retry={n}"),
    };
    let js_files = sources
        .iter()
        .filter(|u| u.ends_with(".js"))
        .filter_map(|u| {
            let sri = bundle.integrity.get(*u)?.clone();
            let key = if *u == entry {
                url.clone()
            } else {
                u.to_string()
            };
            Some((key, sri))
        });
    let js_files: tessera_contract::VecMap<String, String> = js_files.collect();
    if !js_files.is_empty() {
        js::require_integrity(&tessera_sdk::ToJs::to_js(&js_files));
    }
    let module = JsFuture::from(js::with_timeout(
        &js::import_module(&url),
        LOAD_TIMEOUT_MS,
        &format!("loading {url}"),
    ))
    .await;
    let module = match module {
        Ok(m) => m,
        Err(e) if bundle.overridden => {
            return Err(format!(
                "could not load the override {url}: {}",
                js::error_message(&e)
            ))
        }
        Err(e) => return Err(load_failure(&url, &bundle.integrity[entry], &e).await),
    };
    // wasm-bindgen's default export instantiates the module's wasm; it gets the checked bytes.
    let wasm = bundle.preload.iter().find(|u| u.ends_with(".wasm"));
    let args = match wasm {
        Some(wasm) => {
            let options = js_sys::Object::new();
            let fetched = js::fetch_checked(wasm, &bundle.integrity[wasm]);
            let _ = js_sys::Reflect::set(&options, &"module_or_path".into(), &fetched);
            if let Err(e) = JsFuture::from(fetched.clone()).await {
                return Err(load_failure(wasm, &bundle.integrity[wasm], &e).await);
            }
            vec![JsValue::from(options)]
        }
        None => vec![],
    };
    let refs: Vec<&JsValue> = args.iter().collect();
    let exports = call_within(name, &module, "default", &refs, LOAD_TIMEOUT_MS).await?;
    crate::rum::loaded(name, &exports);
    Ok(module)
}

/// Why `url` could not be loaded: its bytes do not match `integrity` (the file was changed
/// after it was published), or the network or server failed.
async fn load_failure(url: &str, integrity: &str, error: &JsValue) -> String {
    let plain = JsFuture::from(js::fetch_checked(url, "")).await;
    let checked = JsFuture::from(js::fetch_checked(url, integrity)).await;
    match (plain, checked) {
        (Ok(_), Err(_)) => format!(
            "{url} does not match its published integrity ({integrity}): it was changed after \
             publishing and is not run"
        ),
        _ => format!("could not load {url}: {}", js::error_message(error)),
    }
}
