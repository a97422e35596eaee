//! The few things Rust cannot say to the browser directly.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// What `index.html` stored as `window[name]` for requests it started before the shell loaded
/// (a promise, or an array of them), taken once: a later caller fetches anew.
pub fn take_started<T: JsCast>(name: &str) -> Option<T> {
    let window = web_sys::window()?;
    let started = js_sys::Reflect::get(&window, &name.into()).ok()?;
    let _ = js_sys::Reflect::delete_property(&window, &name.into());
    started.dyn_into().ok()
}

/// The content of the page's `<meta name="{name}">`, which the server that served the page
/// wrote there.
pub fn meta(name: &str) -> Option<String> {
    web_sys::window()?
        .document()?
        .query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()??
        .get_attribute("content")
}

/// Runs `f` from a timer after `ms` (a task of its own, after what is queued now).
pub fn after_ms(ms: i32, f: impl FnOnce() + 'static) {
    let f = Closure::once_into_js(f);
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms);
    }
}

#[wasm_bindgen(inline_js = r#"
export function import_module(url) { return import(url); }
export function with_timeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}
export function module_url() { return import.meta.url; }
export function require_integrity(integrity) {
  const map = document.createElement("script");
  // The page's Content-Security-Policy admits inline scripts with the page's nonce only.
  map.nonce = document.querySelector("script[nonce]")?.nonce ?? "";
  map.type = "importmap";
  map.textContent = JSON.stringify({ integrity });
  document.head.append(map);
}
export function fetch_checked(url, integrity) {
  return fetch(url, integrity ? { integrity } : {}).then((r) => {
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r;
  });
}
export function with_lock(name, f) {
  return navigator.locks ? navigator.locks.request(name, () => f()) : f();
}
export function take_overrides(key, param) {
  let stored = {};
  try { stored = JSON.parse(localStorage.getItem(key) ?? "{}") ?? {}; } catch {}
  const url = new URL(location.href);
  const given = url.searchParams.getAll(param);
  if (given.length) {
    for (const value of given) {
      const at = value.indexOf("=");
      const app = value.slice(0, at);
      if (at < 0 || !/^@[^/]+\/[^/]+$/.test(app)) {
        console.warn(`tessera: ignoring ${param}=${value}: expected <@scope/app>=<url>`);
        continue;
      }
      const target = value.slice(at + 1).trim();
      if (target) stored[app] = target; else delete stored[app];
    }
    try {
      if (Object.keys(stored).length) localStorage.setItem(key, JSON.stringify(stored));
      else localStorage.removeItem(key);
    } catch {}
    url.searchParams.delete(param);
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
  return Object.entries(stored).filter(([, u]) => typeof u === "string");
}
export function clear_overrides(key) {
  try { localStorage.removeItem(key); } catch {}
  location.reload();
}
export function error_message(e) {
  if (e && typeof e === "object" && "message" in e) return String(e.message);
  return String(e);
}
"#)]
extern "C" {
    /// Dynamic `import()`: wasm-bindgen cannot emit it, and the shell must load bundles lazily.
    pub fn import_module(url: &str) -> js_sys::Promise;
    /// Rejects if `promise` has not settled within `ms`, so one hung app cannot stall routing.
    pub fn with_timeout(promise: &JsValue, ms: u32, what: &str) -> js_sys::Promise;
    /// Adds an import map whose `integrity` section is this object (URL → integrity): the
    /// browser then refuses to run a module at such a URL whose bytes do not match.
    pub fn require_integrity(integrity: &JsValue);
    /// `fetch(url, {integrity})`, rejecting on a mismatch or an HTTP error (no check when
    /// `integrity` is empty).
    pub fn fetch_checked(url: &str, integrity: &str) -> js_sys::Promise;
    /// Runs `f` (which returns a promise) holding the Web Lock `name`, so one tab at a time
    /// does it; without Web Locks it just runs.
    pub fn with_lock(name: &str, f: &js_sys::Function) -> js_sys::Promise;
    /// The URL this shell release's JS was loaded from.
    pub fn module_url() -> String;
    /// Moves `?<param>=<app>=<url>` out of the address bar into `localStorage[key]` (an empty
    /// URL removes that app's override) and returns the stored overrides, `[[app, url], …]`.
    /// In JS: the same in Rust cost the shell's start path 4 KB gzip.
    pub fn take_overrides(key: &str, param: &str) -> js_sys::Array;
    /// Forgets the overrides and loads the page again.
    pub fn clear_overrides(key: &str);
    /// A readable message from anything a JS function may throw.
    pub fn error_message(e: &JsValue) -> String;
}

/// The base URL of this shell release's files (`…/@tessera/shell/<version>`), from where this
/// code was loaded: a snippet at `<base>/snippets/…` or, in the platform module,
/// `<base>/platform/snippets/…`.
pub fn bundle_url() -> String {
    let url = module_url();
    let end = tessera_contract::find_text(&url, "/snippets/");
    let base = end.and_then(|end| url.get(..end)).unwrap_or(&url);
    base.strip_suffix(PLATFORM_DIR).unwrap_or(base).to_string()
}

/// The folder of the shell's bundle that holds the platform module.
pub const PLATFORM_DIR: &str = "/platform";
