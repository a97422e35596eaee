// Offline and installable: the Rust service worker precaches the published set, and the shell
// and every micro-app load with the network gone, including routes never visited online.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserAndServer, controlled, launchWithProfile, statuses, waitForStatus, workerStatus } from "./harness.mjs";

let browser;
let server;
browserAndServer((b, s) => ([browser, server] = [b, s]));

/** Paths of every request in a cache. */
function cachedPaths(page, name) {
  return page.evaluate(async (n) => {
    const cache = await caches.open(n);
    return (await cache.keys()).map((r) => new URL(r.url).pathname);
  }, name);
}

/** Clicks a nav entry and waits for the app's data from the saved copy, with its as-of time,
 * and the nav intact. */
async function offlineRoute(page, menuKey, app, view) {
  await page.click(`.tessera-nav a[data-menu-key="${menuKey}"]`);
  await savedData(page, view);
  await waitForStatus(page, app, "MOUNTED");
  assert.equal(await page.locator(".tessera-nav a[data-menu-key]").count(), 2);
}

/** Waits for the view's "Saved copy · as of …" notice and the status bar's data age. */
async function savedData(page, view) {
  const notice = page.locator(`${view} .tessera-as-of`);
  await notice.waitFor({ timeout: 10_000 });
  assert.match(await notice.textContent(), /^Saved copy · as of \d\d:\d\d\s?(AM|PM)? \((just now|\d+ s ago|\d+ min ago)\)$/);
  const bar = page.locator(".tessera-statusbar");
  await bar.locator(".tessera-data-age").waitFor();
  // "offline" when the browser admits it; after the worker is stopped through CDP, Chromium's
  // emulated navigator.onLine stays true, and the failed heartbeat says "unreachable".
  assert.match(await bar.getAttribute("data-link"), /^(offline|unreachable)$/);
  assert.match(await bar.locator(".tessera-link").textContent(), /^(Offline|Server unreachable) · showing saved data/);
  assert.match(await page.locator(".tessera-statusbar .tessera-data-age").textContent(), /data from (just now|\d+ s ago|\d+ min ago)/);
}

describe("offline", () => {
  test("the worker precaches the whole set; every route and a cold start work offline", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url + "/");
    await page.locator(".restaurant-list").waitFor();
    await controlled(page);

    const status = await workerStatus(page);
    assert.match(status.set, /^tessera-set-[0-9a-f]{16}$/);
    assert.match(status.shell, /^[0-9a-f]{16}$/);
    const setCaches = (await page.evaluate(() => caches.keys())).filter((n) => n.startsWith("tessera-set-"));
    assert.deepEqual(setCaches, [status.set], "one set, fully installed");
    const cached = await cachedPaths(page, status.set);
    const importMap = await (await fetch(server.url + "/importmap.json")).json();
    const apps = await (await fetch(server.url + "/apps.json")).json();
    const wanted = [
      "/", "/importmap.json", "/apps.json", "/mount-points.json", "/manifest.webmanifest",
      `/@tessera/shell/${status.shell}/shell_bg.wasm`,
      `/@tessera/shell/${status.shell}/sw/tessera_sw_bg.wasm`,
      ...Object.values(importMap.imports),
      ...Object.values(apps.apps).flatMap((a) => a.preload ?? []),
    ];
    for (const url of wanted) assert.ok(cached.includes(url), `${url} is precached`);
    assert.ok(Object.keys(importMap.imports).includes("@tessera/cart"));

    // Online, the restaurants app shows its data, live: no saved-copy notice.
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    assert.equal(await page.locator(".tessera-as-of").count(), 0);
    // The shell read ahead what the BFF says this user needs offline: menus never opened, the
    // cart never visited.
    await page.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });
    const offlineSet = await page.evaluate(() => window.__tessera.readAhead);
    assert.ok(offlineSet >= 10, `${offlineSet} queries read ahead`);
    // The status bar names the set the page runs on and says the read-ahead finished.
    const version = `Version ${status.set.slice("tessera-set-".length, "tessera-set-".length + 8)}`;
    const bar = page.locator(".tessera-statusbar");
    await bar.locator(".tessera-version", { hasText: version }).waitFor({ timeout: 10_000 });
    await bar.locator('.tessera-sync[data-syncing="false"]', { hasText: /^Synced (just now|\d+ s ago)$/ }).waitFor({ timeout: 10_000 });

    // Stop the worker (so it must start again from its cached wasm) and go offline; the
    // context's offline mode covers the worker's own fetches too.
    // Offline first: Playwright's setOffline waits on every worker target, and one that is
    // being stopped never answers.
    await context.setOffline(true);
    const cdp = await context.newCDPSession(page);
    await cdp.send("ServiceWorker.enable");
    await cdp.send("ServiceWorker.stopAllWorkers");

    await page.reload();
    await page.locator(".tessera-nav").waitFor();
    await offlineRoute(page, "cart", "@tessera/cart", ".cart");
    await offlineRoute(page, "restaurants", "@tessera/restaurants", ".restaurants");
    // A deep link straight into a menu never opened, offline: the cached page answers the
    // navigation and the read-ahead copy the query.
    await page.goto(server.url + "/restaurants/pho-corner");
    await page.locator(".restaurants .menu-item").first().waitFor();
    await savedData(page, ".restaurants");
    // A query never answered online is a clear "not available offline", not a hang.
    await page.goto(server.url + "/restaurants/no-such-place");
    await page.locator(".restaurants .tessera-app-error", { hasText: "Not available offline" }).waitFor();
    const never = await page.evaluate(() =>
      fetch("/api/orders/never-seen", { headers: { Authorization: "Bearer dev:alice:customer" } })
        .then(async (r) => ({ status: r.status, type: r.headers.get("content-type"), body: await r.json() })));
    assert.equal(never.status, 503);
    assert.equal(never.type, "application/problem+json");
    assert.equal(never.body.title, "Not available offline");
    // Offline, the bar still says when the last sync finished and which version runs.
    assert.match(await page.locator(".tessera-sync").textContent(), /^Synced (just now|\d+ s ago|\d+ min ago)$/);
    assert.equal(await page.locator(".tessera-version").textContent(), version);
    const s = await statuses(page);
    assert.equal(s["@tessera/nav"], "MOUNTED");
    assert.equal(s["@tessera/restaurants"], "MOUNTED");

    // A cold offline start: a fresh page of the same context, the worker stopped again.
    await cdp.send("ServiceWorker.stopAllWorkers");
    const cold = await context.newPage();
    await cold.goto(server.url + "/restaurants");
    await cold.locator(".tessera-nav").waitFor();
    await cold.locator(".restaurant-list").waitFor();
    await savedData(cold, ".restaurants");
    assert.ok(await cold.evaluate(() => navigator.serviceWorker.controller !== null), "served by the worker");
    await offlineRoute(cold, "cart", "@tessera/cart", ".cart");

    // Back online, the same page reads its data again.
    await context.setOffline(false);
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("storage quota: a set that does not fit is not installed; a full origin still answers and keeps what it saved", async () => {
    const context = await launchWithProfile();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("ServiceWorker.enable");
    const versions = new Map();
    cdp.on("ServiceWorker.workerVersionUpdated", ({ versions: vs }) => {
      for (const v of vs) versions.set(v.versionId, [...(versions.get(v.versionId) ?? []), v.status]);
    });
    // Far less than the set's megabytes: the worker must refuse it before writing anything.
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: 200 * 1024 });
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    const deadline = Date.now() + 20_000;
    while (![...versions.values()].some((s) => s.includes("redundant"))) {
      assert.ok(Date.now() < deadline, `the install neither failed nor finished: ${JSON.stringify([...versions])}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(![...versions.values()].flat().includes("activated"), "no worker activated");
    assert.deepEqual(await page.evaluate(() => caches.keys()), [], "no half-installed set");
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller), null);
    // Without its worker the page still works online.
    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart").waitFor();
    assert.match(await page.locator(".tessera-version").textContent(), /not saved for offline use$/);

    // With room, the set installs and the read-ahead fills the cache.
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url });
    await page.reload();
    await controlled(page);
    await page.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });
    // Now the origin is full: a query never saved is answered but not kept, and says why.
    const { usage } = await page.evaluate(() => navigator.storage.estimate());
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: Math.floor(usage / 2) });
    // IndexedDB keeps granting from the space it saw free for up to 30 s
    // (BucketContext::kBucketSpaceCacheTimeLimit) before it asks the quota manager again.
    await new Promise((r) => setTimeout(r, 31_000));
    const get = (path) => page.evaluate((p) =>
      fetch(p, { headers: { Authorization: "Bearer dev:alice:customer" } }).then(async (r) => ({
        status: r.status,
        source: r.headers.get("x-tessera-source"),
        notSaved: r.headers.get("x-tessera-not-saved"),
        body: await r.json(),
      })), path);
    const unsaved = await get("/api/restaurants?limit=2");
    assert.equal(unsaved.status, 200);
    assert.equal(unsaved.source, "network");
    assert.equal(unsaved.notSaved, "quota-exceeded");
    assert.equal(unsaved.body.items.length, 2);
    // Offline, what was saved before the origin filled up is all there; the refused one is not.
    await context.setOffline(true);
    const saved = await get("/api/restaurants");
    assert.equal(saved.status, 200);
    assert.equal(saved.source, "cache");
    assert.ok(saved.body.items.length > 2);
    const refused = await get("/api/restaurants?limit=2");
    assert.equal(refused.status, 503);
    assert.equal(refused.body.title, "Not available offline");
    await context.close();
  });

  test("the site is installable", async () => {
    const context = await launchWithProfile();
    const page = await context.newPage();
    await page.goto(server.url + "/");
    await page.locator(".tessera-nav").waitFor();
    await controlled(page);
    const manifest = await page.evaluate(() => fetch("/manifest.webmanifest").then((r) => r.json()));
    assert.equal(manifest.name, "Tessera Eats");
    for (const icon of manifest.icons) {
      const size = await page.evaluate(async (src) => {
        const bitmap = await createImageBitmap(await (await fetch(src)).blob());
        return `${bitmap.width}x${bitmap.height}`;
      }, icon.src);
      assert.equal(size, icon.sizes, icon.src);
    }
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
    assert.deepEqual(installabilityErrors, []);
    const { url, errors } = await cdp.send("Page.getAppManifest");
    assert.equal(new URL(url).pathname, "/manifest.webmanifest");
    assert.deepEqual(errors, []);
    await context.close();
  });
});
