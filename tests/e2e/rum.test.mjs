// Real-user monitoring end to end: the shell reports per-app figures from a real page to the
// real BFF, a broken app shows as a failure of that app only, and what a page could not send
// offline arrives after it reconnects.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
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

/** The BFF's per-app figures once `check(apps)` holds; fails after 15 s. */
async function figuresWhen(url, check) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await fetch(`${url}/api/rum/summary?since=0`, { headers: { authorization: "Bearer dev:ops:admin" } });
    assert.equal(r.status, 200, await r.clone().text());
    const { apps } = await r.json();
    if (check(apps)) return apps;
    if (Date.now() > deadline) throw new Error(`the figures never got there: ${JSON.stringify(apps, null, 1)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const of = (apps, app) => apps.filter((a) => a.app === app);
const metric = (figures, name) => figures.metrics.find((m) => m.metric === name);

describe("real-user monitoring", () => {
  let server;
  before(async () => {
    const store = newStore();
    publish(store, fixture("broken-mount"));
    server = await serve(store);
  });
  after(() => server?.close());

  test("a page view reports each app; a broken app fails alone; offline reports come later", async () => {
    const context = await contextAs(browser, "rum-user");
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list").waitFor();
    const versions = await page.evaluate(() =>
      Object.fromEntries(Object.entries(window.__tessera.apps).map(([n, a]) => [n, a.version])));
    await page.evaluate(() => window.__tessera.rumFlush());

    let apps = await figuresWhen(server.url, (a) =>
      of(a, "@tessera/restaurants").length && of(a, "@tessera/nav").length);
    for (const name of ["@tessera/restaurants", "@tessera/nav"]) {
      const [figures] = of(apps, name);
      assert.equal(figures.version, versions[name], `${name} reports the version it runs`);
      assert.equal(figures.views, 1, name);
      assert.equal(figures.failures, 0, name);
      for (const m of ["load", "activate-first", "mount"]) {
        const f = metric(figures, m);
        assert.ok(f && f.count === 1 && f.p50 >= 0 && f.p50 < 30_000, `${name} ${m}: ${JSON.stringify(f)}`);
      }
      assert.ok(metric(figures, "load").p50 > 0, `${name} took time to load`);
      // Each app's own wasm linear memory: at least one 64 KiB page.
      assert.ok(metric(figures, "memory").p50 >= 65_536, JSON.stringify(figures));
    }
    assert.equal(of(apps, "@tessera/cart").length, 0, "an app never shown reports nothing");

    // An app that throws in mount is a failure of that app, and only of it.
    await page.goto(server.url + "/broken");
    await waitForStatus(page, "@fixture/broken-mount", "BROKEN");
    await page.evaluate(() => window.__tessera.rumFlush());
    apps = await figuresWhen(server.url, (a) => of(a, "@fixture/broken-mount").length);
    const [broken] = of(apps, "@fixture/broken-mount");
    assert.equal(broken.views, 0);
    assert.ok(broken.failures >= 2, JSON.stringify(broken));
    assert.match(broken.topErrors[0].detail, /fixture exploded in mount/);
    assert.equal(of(apps, "@tessera/nav")[0].failures, 0, "nav did not fail");
    assert.equal((await statuses(page))["@tessera/nav"], "MOUNTED");

    // Offline: the report waits in the page's storage, and goes once the network is back.
    const navBefore = metric(of(apps, "@tessera/nav")[0], "memory").count;
    await context.setOffline(true);
    await page.evaluate(() => window.__tessera.rumFlush());
    await page.waitForFunction(() => JSON.parse(localStorage.getItem("tessera-rum") || "[]").length > 0);
    await context.setOffline(false);
    apps = await figuresWhen(server.url, (a) => metric(of(a, "@tessera/nav")[0], "memory").count > navBefore);
    await page.waitForFunction(() => localStorage.getItem("tessera-rum") === null);
    await context.close();
  });
});
