// Service worker (PWA) figures in headless Chromium against the real BFF + CDN server, printed,
// never asserted. Run by `cargo xtask bench` after load.mjs. Each run is a fresh persistent
// profile (incognito contexts treat service workers and storage differently):
//   1. precache: navigation start of `/` until the worker controls the page, and what the
//      `tessera-set-*` caches then hold;
//   2. (first run only) BFF query latency from the page: `GET /api/restaurants` through the
//      worker with its read-through cache warm, then the same from a context with service
//      workers blocked;
//   3. cold offline start: with the read-ahead done, offline and the worker stopped, a new page
//      on `/restaurants` until the nav and the restaurants list (from the saved copy) appear.
import { cleanup, launch, launchWithProfile, newStore, serve } from "../e2e/harness.mjs";
import { firstSeen, fmt, median } from "./stats.mjs";

const RUNS = Number(process.env.BENCH_OFFLINE_RUNS ?? 5);
const FETCHES = Number(process.env.BENCH_FETCHES ?? 200);
const WARM_UP = 10;
const T = 30_000; // every wait and evaluate gives up after this long
const QUERY = "/api/restaurants";
const MARKS = { navVisibleAt: ".tessera-nav", listAt: ".restaurant-list li" };

// Nothing below may hang the bench: a last resort in case a browser stops answering.
const watchdog = setTimeout(() => {
  console.error(`offline.mjs: gave up after ${(RUNS + 2) * 2} minutes`);
  process.exit(1);
}, (RUNS + 2) * 120_000);
watchdog.unref();

/** `promise`, or a rejection naming `what` after `ms`. */
function within(promise, what, ms = T) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Init script: `window.__controlledAt`, the ms since navigation start at which a service
 * worker took control of the page (0 when one controlled it from the start). */
function markControl() {
  const sw = navigator.serviceWorker;
  if (!sw) return;
  if (sw.controller) window.__controlledAt = 0;
  sw.addEventListener("controllerchange", () => {
    window.__controlledAt ??= performance.now();
  });
}

/** Sizes of every response in every `tessera-set-*` cache, as stored (decoded bodies). */
function precached(page) {
  return within(page.evaluate(async () => {
    const names = (await caches.keys()).filter((n) => n.startsWith("tessera-set-"));
    let bytes = 0, files = 0;
    for (const name of names) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        bytes += (await (await cache.match(req)).blob()).size;
        files += 1;
      }
    }
    return { sets: names.length, bytes, files };
  }), "reading the precache");
}

/** `n` sequential timed GETs of `QUERY` from the page (after a few untimed ones), with where
 * each answer says it came from and the HTTP responses Chromium saw for them meanwhile (the
 * page's, and the worker's own requests to the BFF). */
async function timeQueries(page, authorization, n) {
  const run = (count) => within(page.evaluate(async ({ query, authorization, count }) => {
    const ms = [], sources = {}, statuses = {};
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const r = await fetch(query, { headers: { authorization } });
      await r.text();
      ms.push(performance.now() - t0);
      const source = r.headers.get("x-tessera-source") ?? "(no header)";
      sources[source] = (sources[source] ?? 0) + 1;
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    return { ms, sources, statuses, controlled: navigator.serviceWorker?.controller != null };
  }, { query: QUERY, authorization, count }), `${count} fetches of ${QUERY}`, 120_000);
  await run(WARM_UP);
  const seen = {};
  const record = (r) => {
    if (new URL(r.url()).pathname !== QUERY) return;
    const key = `${r.request().serviceWorker() ? "worker" : "page"} ${r.status()}`;
    seen[key] = (seen[key] ?? 0) + 1;
  };
  page.context().on("response", record);
  try {
    return { ...(await run(n)), seen };
  } finally {
    page.context().off("response", record);
  }
}

/** `n` sequential timed `host.query(QUERY)` calls through the shell (`window.__tessera.host`)
 * once the live link is up, and how many the shell answered from memory; null in a build
 * without it. */
async function timeHostQueries(page, n) {
  const live = await page.waitForFunction(() => window.__tessera?.live === "live", null, { timeout: T })
    .then(() => true, () => false);
  return within(page.evaluate(async ({ query, count, warmUp, live }) => {
    const host = window.__tessera?.host;
    if (!host || !live) return null;
    for (let i = 0; i < warmUp; i++) await host.query(query);
    const ms = [];
    const before = window.__tessera.fromMemory ?? 0;
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await host.query(query);
      ms.push(performance.now() - t0);
    }
    return { ms, fromMemory: (window.__tessera.fromMemory ?? 0) - before };
  }, { query: QUERY, count: n, warmUp: WARM_UP, live }), `${n} host.query calls of ${QUERY}`, 120_000);
}

const counts = (o) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");

const server = await serve(newStore());
const controlMs = [], bytes = [], files = [], navMs = [], listMs = [];
const checks = { oneSet: 0, stopped: 0, controlledOffline: 0, savedCopy: 0 };
let viaWorker, viaNetwork, viaMemory, bearer;
try {
  for (let i = 0; i < RUNS; i++) {
    const context = await within(launchWithProfile(), "launching a browser with a fresh profile");
    try {
      context.setDefaultTimeout(T);
      context.setDefaultNavigationTimeout(T);
      await context.addInitScript(markControl);
      await context.addInitScript(firstSeen, MARKS);
      // The shell's own bearer token, as it sends it to the BFF.
      context.on("request", (r) => {
        const auth = r.headers().authorization;
        if (auth && new URL(r.url()).pathname.startsWith("/api/")) bearer ??= auth;
      });

      // 1. Precache.
      const page = await context.newPage();
      await page.goto(server.url + "/");
      await page.waitForFunction(() => window.__controlledAt !== undefined, null, { timeout: T });
      controlMs.push(await within(page.evaluate(() => window.__controlledAt), "reading the control time"));
      const p = await precached(page);
      bytes.push(p.bytes);
      files.push(p.files);
      if (p.sets === 1) checks.oneSet += 1;
      // The shell reads ahead the offline set once the worker controls the page.
      await page.waitForFunction(() => (window.__tessera?.readAhead ?? 0) > 0, null, { timeout: T });

      // 2. Cached GETs through the worker (once).
      if (i === 0) {
        if (!bearer) throw new Error("the shell sent no Authorization header to the BFF");
        viaWorker = await timeQueries(page, bearer, FETCHES);
        viaMemory = await timeHostQueries(page, FETCHES);
      }

      // 3. Cold offline start. Offline before stopping the worker: Playwright's setOffline waits
      // on every worker target, and one being stopped never answers.
      const cold = await context.newPage();
      await page.close();
      await within(context.setOffline(true), "going offline");
      const cdp = await within(context.newCDPSession(cold), "opening a CDP session");
      const running = new Map();
      cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) => {
        for (const v of versions) running.set(v.versionId, v.runningStatus);
      });
      await within(cdp.send("ServiceWorker.enable"), "ServiceWorker.enable");
      await within(cdp.send("ServiceWorker.stopAllWorkers"), "ServiceWorker.stopAllWorkers");
      const deadline = Date.now() + 5_000;
      while ([...running.values()].some((s) => s !== "stopped") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (running.size > 0 && [...running.values()].every((s) => s === "stopped")) checks.stopped += 1;
      await cold.goto(server.url + "/restaurants");
      await cold.locator(".restaurant-list li").first().waitFor({ timeout: T });
      await cold.locator(".tessera-nav").waitFor({ timeout: T });
      const marks = await within(cold.evaluate(() => ({
        ...window.__marks,
        controlled: navigator.serviceWorker.controller !== null,
        savedCopy: document.querySelector(".restaurants .tessera-as-of") !== null,
      })), "reading the cold start marks");
      navMs.push(marks.navVisibleAt);
      listMs.push(marks.listAt);
      if (marks.controlled) checks.controlledOffline += 1;
      if (marks.savedCopy) checks.savedCopy += 1;
      await within(cdp.detach(), "closing the CDP session");
    } finally {
      await within(context.close(), "closing the browser").catch((e) => console.error(String(e)));
    }
  }

  // 2b. The same GETs with no service worker involved.
  const browser = await within(launch(), "launching a browser");
  try {
    const context = await browser.newContext({ serviceWorkers: "block" });
    context.setDefaultTimeout(T);
    context.setDefaultNavigationTimeout(T);
    const page = await context.newPage();
    await page.goto(server.url + "/");
    await page.locator(".restaurant-list li").first().waitFor({ timeout: T });
    viaNetwork = await timeQueries(page, bearer, FETCHES);
    await context.close();
  } finally {
    await within(browser.close(), "closing the browser").catch((e) => console.error(String(e)));
  }
} finally {
  server.close();
  cleanup();
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const ms99 = (xs) => fmt(xs, "ms", [99]).replace("median", "p50");
console.log(`\nservice worker, ${RUNS} fresh persistent profiles, headless Chromium, loopback:`);
console.log(`  load of / to the worker controlling the page   ${fmt(controlMs, "ms")}`);
console.log(`  precached (tessera-set-* caches, as stored)    median ${kb(median(bytes))} in ${median(files)} files (min ${kb(Math.min(...bytes))}, max ${kb(Math.max(...bytes))}; one set in ${checks.oneSet}/${RUNS})`);
console.log(`  GET ${QUERY}, ${FETCHES} sequential fetches from the page (after ${WARM_UP} untimed), Authorization: ${bearer}:`);
console.log(`    through the worker, read-through cache warm  ${ms99(viaWorker.ms)}; x-tessera-source: ${counts(viaWorker.sources)}; page got ${counts(viaWorker.statuses)}; Chromium saw ${counts(viaWorker.seen)}; controlled ${viaWorker.controlled}`);
console.log(`    host.query while live (the shell's memory)  ${viaMemory ? `${ms99(viaMemory.ms)}; ${viaMemory.fromMemory} of ${viaMemory.ms.length} from memory` : "not in this build (or the live link never came up)"}`);
console.log(`    no worker (serviceWorkers: "block")          ${ms99(viaNetwork.ms)}; x-tessera-source: ${counts(viaNetwork.sources)}; page got ${counts(viaNetwork.statuses)}; Chromium saw ${counts(viaNetwork.seen)}; controlled ${viaNetwork.controlled}`);
console.log(`  cold offline start of /restaurants (worker stopped in ${checks.stopped}/${RUNS}, page controlled in ${checks.controlledOffline}/${RUNS}, saved copy shown in ${checks.savedCopy}/${RUNS}):`);
console.log(`    to nav visible                               ${fmt(navMs, "ms")}`);
console.log(`    to restaurants list rendered                 ${fmt(listMs, "ms")}`);
