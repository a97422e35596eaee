// Updates: a publish (here of one micro-app) changes /sw.js; the new worker installs its whole
// set beside the old one and waits; every open page keeps the set it started with (offline
// too) and offers a reload; the old set goes once no page uses it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, controlled, fixture, launch, newStore, publish, serve, workerStatus } from "./harness.mjs";

let browser;
let server;
let store;
before(async () => {
  browser = await launch();
  store = newStore();
  publish(store, fixture("hello-v1"));
  server = await serve(store);
});
after(async () => {
  server?.close();
  await browser?.close();
  cleanup();
});

function setCaches(page) {
  return page.evaluate(async () => (await caches.keys()).filter((n) => n.startsWith("tessera-set-")).sort());
}

const reloadButton = (page) => page.getByRole("button", { name: "Reload" });

/** Clicks the prompt's Reload and waits for the page to load again and the shell to start. */
/** The status bar's version for a set: the first 8 hex digits of its hash. */
const versionOf = (set) => `Version ${set.slice("tessera-set-".length).slice(0, 8)}`;

async function acceptUpdate(page) {
  await Promise.all([page.waitForEvent("load", { timeout: 15_000 }), reloadButton(page).click()]);
  await page.locator(".tessera-nav").waitFor();
  await controlled(page);
}

describe("updates", () => {
  test("a new set waits for the user; open pages keep theirs until they reload", async () => {
    const context = await browser.newContext();
    const errors = [];
    const a = await context.newPage();
    a.on("pageerror", (e) => errors.push(String(e)));
    await a.goto(server.url + "/");
    await a.locator(".restaurant-list").waitFor();
    await controlled(a);
    const old = await workerStatus(a);
    assert.deepEqual(await setCaches(a), [old.set]);
    // `a` loaded before any worker existed: reload it so the worker answers its navigation
    // and records the set it starts with (a page with no record keeps every set).
    await a.reload();
    await a.locator(".restaurant-list").waitFor();
    const b = await context.newPage();
    b.on("pageerror", (e) => errors.push(String(e)));
    await b.goto(server.url + "/restaurants");
    await b.locator(".restaurant-list").waitFor();
    await controlled(b);
    for (const page of [a, b]) await page.evaluate(() => { window.__beforeUpdate = true; });
    assert.equal(await reloadButton(a).count(), 0, "no prompt before a publish");
    await b.locator(".tessera-version", { hasText: versionOf(old.set) }).waitFor({ timeout: 10_000 });

    // Only a micro-app is published; the shell stays the same release.
    publish(store, fixture("hello-v2"));
    await a.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r.update()));
    await reloadButton(a).waitFor({ timeout: 30_000 });
    await reloadButton(b).waitFor({ timeout: 10_000 });
    assert.ok(await a.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r.waiting !== null)));
    assert.equal((await workerStatus(a)).set, old.set, "the old worker still serves");
    const both = await setCaches(a);
    assert.equal(both.length, 2, `the new set is installed beside the old one: ${both}`);
    const fresh = both.find((n) => n !== old.set);

    // `b` accepts: the waiting worker takes over and `b` reloads onto the new set.
    await acceptUpdate(b);
    assert.equal(await b.evaluate(() => window.__beforeUpdate), undefined, "b reloaded");
    const now = await workerStatus(b);
    assert.equal(now.set, fresh);
    await b.locator(".tessera-version", { hasText: versionOf(fresh) }).waitFor({ timeout: 10_000 });
    assert.notEqual(versionOf(fresh), versionOf(old.set));
    assert.equal(now.shell, old.shell);
    assert.notEqual(now.stamp, old.stamp);

    // `a` did not ask: it was not reloaded, and its set is kept although the worker changed.
    // Give the worker time to prune after b started (it must keep the set a uses).
    await a.waitForTimeout(2_000);
    assert.equal(await a.evaluate(() => window.__beforeUpdate), true, "a was not reloaded");
    assert.equal((await workerStatus(a)).set, fresh, "the new worker took a over");
    assert.deepEqual(await setCaches(a), [old.set, fresh].sort());
    // Offline, `a` lazy-loads an app it never showed, from the set it started with.
    await context.setOffline(true);
    await a.click('.tessera-nav a[data-menu-key="hello"]');
    await a.locator(".hello", { hasText: "Hello from version 1" }).waitFor({ timeout: 10_000 });
    await context.setOffline(false);

    // `a` accepts too (the new worker is active already: a plain reload) and gets version 2;
    // with no page left on it, the old set is deleted.
    await acceptUpdate(a);
    await a.locator(".hello", { hasText: "Hello from version 2" }).waitFor();
    assert.equal((await workerStatus(a)).set, fresh);
    const deadline = Date.now() + 20_000;
    while ((await setCaches(a)).includes(old.set) && Date.now() < deadline) await a.waitForTimeout(500);
    assert.deepEqual(await setCaches(a), [fresh], "the old set is gone once no page uses it");
    assert.deepEqual(errors, []);
    await context.close();
  });
});
