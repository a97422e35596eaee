// The walking skeleton end to end: the real shell and micro-apps, published by the real
// deployer, served by the real CDN server, in headless Chromium.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanup, contextAs, fixture, launch, newStore, publish, serve, statuses, waitForStatus,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  cleanup();
});

/** A page on a fresh context (signed in as `subject`, or the default Alice; `options` for
 * `browser.newContext`) that records every request URL. */
async function open(server, path = "/", subject, options = {}) {
  const context = subject ? await contextAs(browser, subject) : await browser.newContext(options);
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(new URL(r.url()).pathname));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url + path);
  await page.locator(".tessera-nav").waitFor();
  return { page, context, requests, errors };
}

describe("demo apps", () => {
  let server;
  before(async () => {
    server = await serve(newStore());
  });
  after(() => server?.close());

  test("nav is visible at / and / goes to the default route", async () => {
    const { page, context } = await open(server, "/");
    await page.locator(".restaurant-list").waitFor();
    assert.equal(new URL(page.url()).pathname, "/restaurants");
    const labels = await page.locator(".tessera-nav a[data-menu-key]").allTextContents();
    assert.deepEqual(labels.map((l) => l.trim()), ["🍽Restaurants", "🛒Cart"]);
    assert.equal(await page.locator('.tessera-nav a[aria-current="page"]').getAttribute("data-menu-key"), "restaurants");
    await context.close();
  });

  test("/restaurants mounts restaurants; the cart bundle loads only on first visit to /cart", async () => {
    const { page, context, requests } = await open(server, "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    const s = await statuses(page);
    assert.equal(s["@tessera/restaurants"], "MOUNTED");
    assert.equal(s["@tessera/nav"], "MOUNTED");
    assert.equal(s["@tessera/cart"], "NOT_LOADED");
    assert.equal(requests.filter((p) => p.startsWith("/@tessera/cart/")).length, 0, requests.join("\n"));
    // index.html starts the manifests' and the sign-in setup's requests while the shell loads;
    // the shell takes them over instead of asking again.
    for (const path of ["/importmap.json", "/apps.json", "/mount-points.json", "/api/auth/config"]) {
      assert.equal(requests.filter((p) => p === path).length, 1, `${path}:\n${requests.join("\n")}`);
    }

    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart").waitFor();
    assert.equal(new URL(page.url()).pathname, "/cart");
    const cartFiles = requests.filter((p) => p.startsWith("/@tessera/cart/"));
    assert.ok(cartFiles.some((p) => p.endsWith(".js")) && cartFiles.some((p) => p.endsWith(".wasm")), cartFiles.join("\n"));
    await waitForStatus(page, "@tessera/restaurants", "NOT_MOUNTED");

    // Back to restaurants and to the cart again: no second download of either bundle.
    const before = requests.length;
    await page.click('.tessera-nav a[data-menu-key="restaurants"]');
    await page.locator(".restaurant-list").waitFor();
    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart").waitFor();
    const again = requests.slice(before).filter((p) => p.startsWith("/@tessera/"));
    assert.deepEqual(again, [], "bundles are loaded once");
    await context.close();
  });

  test("a pointer on a link starts its apps' download, once, and only for apps the user may open", async () => {
    const { page, context, requests } = await open(server, "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    const cartFiles = () => requests.filter((p) => p.startsWith("/@tessera/cart/"));
    const adminFiles = () => requests.filter((p) => p.startsWith("/@tessera/menu-admin/"));
    assert.deepEqual(cartFiles(), []);
    // Alice is a customer: a link to the admins' menu editor downloads nothing.
    await page.evaluate(() => {
      const a = Object.assign(document.createElement("a"), { href: "/admin/menus", textContent: "menus" });
      document.body.append(a);
      a.dispatchEvent(new PointerEvent("pointerover", { bubbles: true }));
    });
    await page.locator('.tessera-nav a[data-menu-key="cart"]').dispatchEvent("pointerover");
    await page.waitForFunction(() => performance.getEntriesByType("resource").some((e) => e.name.endsWith("_bg.wasm") && e.name.includes("/@tessera/cart/") && e.responseEnd > 0));
    const early = cartFiles();
    assert.ok(early.some((p) => p.endsWith(".js")) && early.some((p) => p.endsWith(".wasm")), early.join("\n"));
    assert.equal((await statuses(page))["@tessera/cart"], "NOT_LOADED", "downloaded, not loaded");
    await page.locator('.tessera-nav a[data-menu-key="cart"]').dispatchEvent("pointerover");
    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart").waitFor();
    assert.deepEqual(cartFiles(), early, "the click used what the pointer started");
    assert.deepEqual(adminFiles(), []);
    await context.close();
  });

  test("sub-routes, back/forward and a reload on a deep link", async () => {
    const { page, context } = await open(server, "/restaurants");
    await page.click("text=Pho Corner");
    await page.locator("h1", { hasText: "Pho Corner" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/restaurants/pho-corner");
    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart").waitFor();

    await page.goBack();
    await page.locator("h1", { hasText: "Pho Corner" }).waitFor();
    await page.goBack();
    await page.locator(".restaurant-list").waitFor();
    assert.equal(new URL(page.url()).pathname, "/restaurants");
    await page.goForward();
    await page.locator("h1", { hasText: "Pho Corner" }).waitFor();

    await page.goto(server.url + "/restaurants/napoli");
    await page.locator("h1", { hasText: "Napoli Express" }).waitFor();
    await page.reload();
    await page.locator("h1", { hasText: "Napoli Express" }).waitFor();
    assert.equal(await page.locator(".tessera-nav").count(), 1);
    await context.close();
  });

  test("the add-to-cart parcel updates the cart through the event bus", async () => {
    const { page, context } = await open(server, "/restaurants/pho-corner", "parcel-tester");
    const pho = page.locator('.menu-item[data-item="pho-bo"]');
    await pho.locator("button.add").waitFor();
    await pho.locator('button[aria-label="One more"]').click();
    await pho.locator("button.add").click();
    await page.locator('.menu-item[data-item="banh-mi"] button.add').click();
    await pho.locator('.added[data-saved="true"]', { hasText: "2 in cart" }).waitFor();
    await page.locator(".tessera-nav .badge", { hasText: "3" }).waitFor();
    // One parcel instance per available menu item, as the BFF lists them.
    const menu = await (await fetch(`${server.url}/api/restaurants/pho-corner`)).json();
    const available = menu.menu.filter((i) => i.available && !i.deleted).length;
    assert.ok(available >= 2);
    const parcels = await page.evaluate(() => window.__tessera.apps["@tessera/add-to-cart"].parcels);
    assert.equal(parcels, available);

    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart-lines").waitFor();
    assert.equal(await page.locator('tr[data-item="pho-bo"] .quantity').textContent(), "2");
    assert.equal(await page.locator('tr[data-item="banh-mi"] .quantity').textContent(), "1");
    assert.match(await page.locator(".total").textContent(), /€33\.90/);
    await waitForStatus(page, "@tessera/add-to-cart", "NOT_MOUNTED");
    await context.close();
  });

  test("an unknown route shows the 404 page in main while nav keeps working", async () => {
    const { page, context } = await open(server, "/no/such/page");
    await page.locator(".tessera-not-found", { hasText: "Page not found" }).waitFor();
    await page.click('.tessera-nav a[data-menu-key="restaurants"]');
    await page.locator(".restaurant-list").waitFor();
    assert.equal(await page.locator(".tessera-not-found").count(), 0);
    await context.close();
  });
});

describe("failure isolation", () => {
  let server;
  let store;
  before(async () => {
    store = newStore();
    publish(store, fixture("broken-mount"));
    publish(store, fixture("hello-v1"));
    server = await serve(store);
  });
  after(() => server?.close());

  test("an app that throws in mount is BROKEN in its own mount point only", async () => {
    const { page, context } = await open(server, "/broken");
    const error = page.locator('.tessera-app[data-app="@fixture/broken-mount"] .tessera-app-error');
    await error.waitFor();
    assert.match(await error.textContent(), /fixture exploded in mount/);
    await waitForStatus(page, "@fixture/broken-mount", "BROKEN");
    assert.equal((await statuses(page))["@tessera/nav"], "MOUNTED");

    await page.click('.tessera-nav a[data-menu-key="restaurants"]');
    await page.locator(".restaurant-list").waitFor();
    await page.goBack();
    await error.waitFor();
    assert.equal((await statuses(page))["@fixture/broken-mount"], "BROKEN", "a broken app is not retried");
    await context.close();
  });

  test("a missing bundle file is a LOAD_ERROR, retried on the next activation", async () => {
    const helloDir = join(store, "@fixture", "hello");
    const { version } = JSON.parse(readFileSync(join(store, "apps.json"), "utf8")).apps["@fixture/hello"];
    const file = join(helloDir, version, "hello.js");
    renameSync(file, file + ".gone");
    const { page, context } = await open(server, "/hello");
    const error = page.locator('.tessera-app[data-app="@fixture/hello"] .tessera-app-error');
    await error.waitFor();
    assert.match(await error.textContent(), /could not load/);
    await waitForStatus(page, "@fixture/hello", "LOAD_ERROR");
    assert.equal((await statuses(page))["@tessera/nav"], "MOUNTED");

    renameSync(file + ".gone", file);
    await page.click('.tessera-nav a[data-menu-key="restaurants"]');
    await page.locator(".restaurant-list").waitFor();
    await page.click('.tessera-nav a[data-menu-key="hello"]');
    await page.locator(".hello", { hasText: "Hello from version 1" }).waitFor();
    await context.close();
  });

  test("a LOAD_ERROR is retried when the browser comes back online", async () => {
    // Without the service worker, which would load the app from its precache while offline
    // (that is tested in offline.test.mjs).
    const { page, context } = await open(server, "/restaurants", undefined, { serviceWorkers: "block" });
    await page.locator(".restaurant-list").waitFor();
    await context.setOffline(true);
    await page.click('.tessera-nav a[data-menu-key="hello"]');
    await waitForStatus(page, "@fixture/hello", "LOAD_ERROR");
    await context.setOffline(false);
    await page.locator(".hello", { hasText: "Hello from version 1" }).waitFor();
    await context.close();
  });

  test("an app with an ABI the shell does not speak is refused without being fetched", async () => {
    const appsPath = join(store, "apps.json");
    const original = readFileSync(appsPath, "utf8");
    const apps = JSON.parse(original);
    apps.apps["@fixture/hello"].abi = 3;
    writeFileSync(appsPath, JSON.stringify(apps));
    try {
      const { page, context, requests } = await open(server, "/hello");
      const error = page.locator('.tessera-app[data-app="@fixture/hello"] .tessera-app-error');
      await error.waitFor();
      assert.match(await error.textContent(), /speaks ABI 3; this shell speaks \[1, 2\]/);
      assert.equal((await statuses(page))["@fixture/hello"], "BROKEN");
      assert.equal(requests.filter((p) => p.startsWith("/@fixture/hello/")).length, 0);
      await context.close();
    } finally {
      writeFileSync(appsPath, original);
    }
  });

  test("an apps.json the shell cannot read stops the start, naming the file and the field", async () => {
    const appsPath = join(store, "apps.json");
    const original = readFileSync(appsPath, "utf8");
    const apps = JSON.parse(original);
    apps.apps["@fixture/hello"].abi = "2";
    writeFileSync(appsPath, JSON.stringify(apps));
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(server.url + "/hello");
      const fatal = page.locator(".tessera-fatal");
      await fatal.waitFor();
      assert.match(
        await fatal.textContent(),
        /\/apps\.json: apps\.@fixture\/hello\.abi: expected an integer \(u32\)/,
      );
      await context.close();
    } finally {
      writeFileSync(appsPath, original);
    }
  });

  test("a new version of one app is picked up on reload without rebuilding the shell", async () => {
    const { page, context } = await open(server, "/hello");
    await page.locator(".hello", { hasText: "Hello from version 1" }).waitFor();
    const shellBefore = readFileSync(join(store, "index.html"), "utf8");
    const mapBefore = JSON.parse(readFileSync(join(store, "importmap.json"), "utf8"));
    publish(store, fixture("hello-v2"));
    const mapAfter = JSON.parse(readFileSync(join(store, "importmap.json"), "utf8"));
    assert.equal(readFileSync(join(store, "index.html"), "utf8"), shellBefore, "the shell is untouched");
    for (const [spec, url] of Object.entries(mapBefore.imports)) {
      if (spec !== "@fixture/hello") assert.equal(mapAfter.imports[spec], url, `${spec} keeps its bundle`);
    }
    assert.notEqual(mapAfter.imports["@fixture/hello"], mapBefore.imports["@fixture/hello"]);
    await page.reload();
    await page.locator(".hello", { hasText: "Hello from version 2" }).waitFor();
    await context.close();
  });
});
