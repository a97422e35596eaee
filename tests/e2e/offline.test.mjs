// Offline and installable: the Rust service worker precaches the published set, and the shell
// and every micro-app load with the network gone, including routes never visited online.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, launch, newStore, serve, statuses, waitForStatus } from "./harness.mjs";

let browser;
let server;
before(async () => {
  browser = await launch();
  server = await serve(newStore());
});
after(async () => {
  server?.close();
  await browser?.close();
  cleanup();
});

/** Waits until a service worker is active and controls the page. */
async function controlled(page) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
}

/** The worker's own account of its shell release and precache set. */
function workerStatus(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data);
    navigator.serviceWorker.controller.postMessage({ type: "tessera:sw-status" }, [channel.port2]);
  }));
}

/** Paths of every request in a cache. */
function cachedPaths(page, name) {
  return page.evaluate(async (n) => {
    const cache = await caches.open(n);
    return (await cache.keys()).map((r) => new URL(r.url).pathname);
  }, name);
}

/** Clicks a nav entry and waits for the app's own view to show the BFF error (offline, the
 * apps' data cannot load yet: the read-through cache is a later step), with the nav intact. */
async function offlineRoute(page, menuKey, app, view) {
  await page.click(`.tessera-nav a[data-menu-key="${menuKey}"]`);
  await page.locator(`${view} .tessera-app-error`).waitFor({ timeout: 10_000 });
  await waitForStatus(page, app, "MOUNTED");
  assert.equal(await page.locator(".tessera-nav a[data-menu-key]").count(), 2);
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

    // Online, the restaurants app shows its data.
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list").waitFor();

    // Stop the worker (so it must start again from its cached wasm) and go offline; the
    // context's offline mode covers the worker's own fetches too.
    const cdp = await context.newCDPSession(page);
    await cdp.send("ServiceWorker.enable");
    await cdp.send("ServiceWorker.stopAllWorkers");
    await context.setOffline(true);

    await page.reload();
    await page.locator(".tessera-nav").waitFor();
    await offlineRoute(page, "cart", "@tessera/cart", ".cart");
    await offlineRoute(page, "restaurants", "@tessera/restaurants", ".restaurants");
    // A deep link straight into an app route, offline: the cached page answers the navigation.
    await page.goto(server.url + "/restaurants/pho-corner");
    await page.locator(".restaurants .tessera-app-error").waitFor();
    const s = await statuses(page);
    assert.equal(s["@tessera/nav"], "MOUNTED");
    assert.equal(s["@tessera/restaurants"], "MOUNTED");

    // A cold offline start: a fresh page of the same context, the worker stopped again.
    await cdp.send("ServiceWorker.stopAllWorkers");
    const cold = await context.newPage();
    await cold.goto(server.url + "/restaurants");
    await cold.locator(".tessera-nav").waitFor();
    await cold.locator(".restaurants .tessera-app-error").waitFor();
    assert.ok(await cold.evaluate(() => navigator.serviceWorker.controller !== null), "served by the worker");
    await offlineRoute(cold, "cart", "@tessera/cart", ".cart");

    // Back online, the same page reads its data again.
    await context.setOffline(false);
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("the site is installable", async () => {
    const context = await browser.newContext();
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
