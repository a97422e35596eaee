//! Real-user monitoring, for every app without it writing code: the lifecycle's steps become
//! per-app samples (load, first and later activation, mount, views, failures), errors are
//! attributed to the app whose files their stack names, the page's Web Vitals go to the apps
//! active when they are reported, and each app's wasm memory is sampled. Samples are sent as one
//! `POST /api/rum` per cohort (`tessera_contract::rum`) when the page is hidden or left, after
//! 10 s, and every 5 minutes; what cannot be sent (offline, signed out) waits in localStorage
//! for the next time. A page takes part with the probability `<meta name="tessera-rum">`
//! names (0 to 1; none: 0).
//!
//! The collecting is JavaScript: observers, listeners and `fetch(keepalive)` cost fewer bytes
//! there than through web-sys, and nothing of it is on the way to the first page.

use tessera_contract::lifecycle::LifecycleEvent;
use tessera_contract::AppStatus;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const S = [], A = {}, KEY = "tessera-rum", MAX_KEPT = 400;
let on = false, shell = "s", token = null, lcp = 0, cls = 0, inp = 0;
const clean = (t, n) => String(t).replace(/[\x00-\x1f\x7f-\x9f]+/g, " ").slice(0, n);
const name = (t) => (String(t).replace(/[^A-Za-z0-9._@/:-]/g, "-").slice(0, 64) || "-");
function push(app, metric, value, detail) {
  if (!on) return;
  const a = A[app] || {};
  const s = { app, version: a.version || shell, cohort: a.cohort || "", metric, value: Math.max(0, Math.round(value * 1000) / 1000) };
  if (detail) s.detail = clean(String(detail).split("\n")[0], 300);
  S.push(s);
}
function failure(stack, message) {
  const app = Object.keys(A).find((n) => A[n].files.some((f) => f && stack.includes(f))) || "page";
  push(app, "error", 1, message || "error");
}
function observe(type, f, extra) {
  try { new PerformanceObserver((l) => l.getEntries().forEach(f)).observe({ type, buffered: true, ...extra }); } catch {}
}
export function rum_start() {
  const m = document.querySelector('meta[name="tessera-rum"]');
  on = Math.random() < Number(m ? m.content : 0);
  let h = 2166136261;
  for (const c of import.meta.url) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  shell = "s" + (h >>> 0).toString(16);
  if (!on) return;
  observe("largest-contentful-paint", (e) => { lcp = e.startTime; });
  observe("layout-shift", (e) => { if (!e.hadRecentInput) cls += e.value; });
  observe("event", (e) => { if (e.interactionId) inp = Math.max(inp, e.duration); }, { durationThreshold: 16 });
  addEventListener("error", (e) => failure((e.error && e.error.stack) || e.filename || "", e.message));
  addEventListener("unhandledrejection", (e) => failure((e.reason && e.reason.stack) || "", (e.reason && e.reason.message) || e.reason));
  document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && flush());
  addEventListener("pagehide", flush);
  addEventListener("online", flush);
  setTimeout(flush, 10000);
  setInterval(flush, 300000);
  (window.__tessera ||= {}).rumFlush = flush;
}
export function rum_token(t) { token = t || null; }
export function rum_loading(app, version, cohort, files) {
  const a = (A[app] ||= { files: [] });
  a.version = name(version); a.cohort = cohort ? name(cohort) : ""; a.files = files.split(" ");
}
export function rum_loaded(app, exports) { if (A[app]) A[app].memory = exports && exports.memory; }
export function rum_event(app, event, status, error) {
  const a = (A[app] ||= { files: [] }), t = performance.now();
  if (event === "LoadStarted") a.load = t;
  else if (event === "Bootstrapped" && a.load) push(app, "load", t - a.load);
  else if (event === "MountStarted") a.mount = t;
  else if (event === "Mounted") {
    push(app, "view", 1);
    push(app, "mount", t - a.mount);
    if (a.shown) push(app, "activate", t - a.mount);
    else push(app, "activate-first", t - (a.load || a.mount));
    a.shown = a.active = true;
  } else if (event === "Unmounted") a.active = false;
  else if (event === "LoadFailed") push(app, "load-error", 1, error);
  else if (event === "LifecycleFailed" || event === "Refused") push(app, "error", 1, error);
  if (status === "BROKEN" && event !== "Refused") push(app, "broken", 1, error);
  if (status === "BROKEN") a.active = false;
}
function kept() { try { return JSON.parse(localStorage.getItem(KEY)) || []; } catch { return []; } }
function keep(samples) {
  try { localStorage.setItem(KEY, JSON.stringify(kept().concat(samples).slice(-MAX_KEPT))); } catch {}
}
function flush() {
  if (!on) return;
  const active = Object.keys(A).filter((n) => A[n].active);
  for (const app of active.length ? active : ["page"]) {
    if (lcp) push(app, "lcp", lcp);
    if (inp) push(app, "inp", inp);
    push(app, "cls", cls);
  }
  lcp = inp = cls = 0;
  for (const app in A) if (A[app].memory) push(app, "memory", A[app].memory.buffer.byteLength);
  const all = kept().concat(S.splice(0));
  try { localStorage.removeItem(KEY); } catch {}
  if (!token) return keep(all);
  const cohorts = {};
  for (const { cohort, ...s } of all) (cohorts[cohort] ||= []).push(s);
  for (const cohort in cohorts) {
    const samples = cohorts[cohort];
    for (let i = 0; i < samples.length; i += 200) {
      const part = samples.slice(i, i + 200);
      fetch("/api/rum", {
        method: "POST", keepalive: true,
        headers: { "content-type": "application/json", authorization: "Bearer " + token },
        body: JSON.stringify({ shell, cohort, samples: part }),
      }).then((r) => { if (r.status === 401 || r.status === 429 || r.status >= 500) throw r; })
        .catch(() => keep(part.map((s) => ({ ...s, cohort }))));
    }
  }
}
"#)]
extern "C" {
    fn rum_start();
    fn rum_token(token: Option<String>);
    fn rum_loading(app: &str, version: &str, cohort: &str, files: &str);
    fn rum_loaded(app: &str, exports: &JsValue);
    fn rum_event(app: &str, event: &str, status: &str, error: Option<String>);
}

/// Decides whether this page takes part and starts listening (errors, Web Vitals, leaving).
pub fn start() {
    rum_start();
}

/// The token reports are sent with (the BFF takes them from signed-in callers only).
pub fn use_token(token: Option<String>) {
    rum_token(token);
}

/// `app` starts loading `version` (of `cohort`, `""` for the released one) from `files`.
pub fn loading(app: &str, version: &str, cohort: &str, files: &[&str]) {
    rum_loading(app, version, cohort, &files.join(" "));
}

/// `app`'s module is instantiated; `exports` are its wasm exports (their `memory` is sampled).
pub fn loaded(app: &str, exports: &JsValue) {
    rum_loaded(app, exports);
}

/// `app` went through `event` into `status`.
pub fn event(app: &str, event: LifecycleEvent, status: AppStatus, error: Option<String>) {
    rum_event(app, event.name(), status.as_str(), error);
}
