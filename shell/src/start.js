// The start module's JavaScript, in one file: wasm-bindgen makes a file of each `inline_js`,
// and each file is one more request on the way to the first page. Each section belongs to
// the Rust module named in its heading, which declares what it imports from here.

// --- How the page starts signed in (`sign_in.rs`): the tokens sign-in stored.

export function stored_tokens(database, store, key) {
  return new Promise((resolve) => {
    let open;
    try { open = indexedDB.open(database, 1); } catch { return resolve(null); }
    open.onupgradeneeded = () => open.result.createObjectStore(store);
    open.onerror = () => resolve(null);
    open.onsuccess = () => {
      const db = open.result;
      const done = (value) => { db.close(); resolve(value); };
      try {
        const get = db.transaction(store).objectStore(store).get(key);
        get.onsuccess = () => done(typeof get.result === "string" ? get.result : null);
        get.onerror = () => done(null);
      } catch { done(null); }
    };
  });
}

// --- Loading and starting the platform module, and the first queries (`platform.rs`).

let prepared;
const args = new Promise((resolve) => { prepared = resolve; });
let started = null;
let checked = Promise.resolve(true);
export function prepare(url, bridge, config, session, on_started) {
  prepared({ url, bridge, config, session, on_started });
}
export function begin() {
  if (!started) {
    started = args.then(async ({ url, bridge, config, session, on_started }) => {
      const m = await import(url);
      await m.default();
      on_started(await m.start(bridge, config, session));
      return m;
    });
    started.catch((e) => console.error("tessera: the platform module did not start", e));
  }
  return started;
}
export function call(name, arg) {
  return begin().then((m) => m[name](arg));
}
export function check_outbox(handoff_prefix, database, journal) {
  const may = () => {
    for (let i = 0; i < localStorage.length; i++) {
      if (localStorage.key(i)?.startsWith(handoff_prefix)) return true;
    }
    if (!indexedDB.databases) return true;
    return indexedDB.databases()
      .then((all) => all.some((d) => d.name === database) || (globalThis.caches ? caches.has(journal) : false));
  };
  checked = Promise.resolve().then(may).catch(() => true).then((held) => { if (held) begin(); });
}
const flying = new Map();
let waiting = [];
function landed(path) {
  flying.delete(path);
  if (flying.size === 0) { const now = waiting; waiting = []; now.forEach((f) => f()); }
}
async function fetched(path, token) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(path, { headers });
  if (!r.ok) return null;
  const asOf = r.headers.get("x-tessera-as-of")?.trim() ?? "";
  return {
    data: JSON.parse(await r.text()),
    freshness: {
      asOfMs: /^\d+$/.test(asOf) ? Number(asOf) : null,
      fromCache: r.headers.get("x-tessera-source")?.trim() === "cache",
    },
  };
}
function first_query(path, token) {
  let answer = flying.get(path);
  if (!answer) {
    answer = checked
      .then(() => (started ? null : fetched(path, token)))
      .catch(() => null)
      .finally(() => landed(path));
    flying.set(path, answer);
  }
  return answer;
}
export function timed(name, measure) {
  return (arg, token, first) => {
    const start = performance.now();
    const answer = first && !started
      ? first_query(arg, token).then((a) => a ?? call(name, arg))
      : call(name, arg);
    return answer.finally(() => {
      try { performance.measure(measure, { start, end: performance.now() }); } catch {}
    });
  };
}
export function when_answered(f, ms) {
  let done = false;
  const once = () => { if (!done) { done = true; f(); } };
  setTimeout(once, ms);
  if (flying.size === 0) setTimeout(once, 0); else waiting.push(() => setTimeout(once, 0));
}

// --- Real-user monitoring (`rum.rs`).

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
