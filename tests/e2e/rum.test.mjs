// Real-user monitoring end to end: the shell reports per-app figures from a real page to the
// real BFF, a broken app shows as a failure of that app only, and what a page could not send
// offline arrives after it reconnects; the Operations app shows a version on trial beside the
// released one.
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

describe("the Operations app", () => {
  let server;
  before(async () => {
    const store = newStore();
    publish(store, fixture("hello-v1"));
    publish(store, fixture("hello-v2"), ["--cohort", "role:beta"]);
    server = await serve(store);
  });
  after(() => server?.close());

  /** Opens /hello as `subject`, sends the page's report and waits for the BFF to have it;
   * resolves with the version the page ran. */
  async function helloAs(subject, roles) {
    const context = await contextAs(browser, subject, roles);
    const page = await context.newPage();
    await page.goto(server.url + "/hello");
    await page.locator(".hello").waitFor({ timeout: 15_000 });
    const version = await page.evaluate(() => window.__tessera.apps["@fixture/hello"].version);
    await page.evaluate(() => window.__tessera.rumFlush());
    await figuresWhen(server.url, (a) => of(a, "@fixture/hello").some((f) => f.version === version));
    await context.close();
    return version;
  }

  test("admins see a cohort's version beside the released one; customers never see the app", async () => {
    const released = await helloAs("carl", ["customer"]);
    const trial = await helloAs("bea", ["customer", "beta"]);
    assert.notEqual(released, trial, "the beta tester runs the version on trial");

    const admin = await contextAs(browser, "ops", ["customer", "admin"]);
    const page = await admin.newPage();
    await page.goto(server.url + "/");
    await page.locator('.tessera-nav a[data-menu-key="operations"]').click();
    const hello = page.locator('.operations .app-figures[data-app="@fixture/hello"]');
    await hello.waitFor({ timeout: 15_000 });
    const heads = hello.locator("thead th[data-version]");
    assert.deepEqual(
      await heads.evaluateAll((ths) => ths.map((th) => th.dataset.version)),
      [released, trial],
      "the released version first, the one on trial beside it",
    );
    assert.match(await heads.nth(1).textContent(), /on trial/);
    assert.doesNotMatch(await heads.nth(0).textContent(), /on trial/);
    const views = hello.locator("tbody tr", { hasText: "Page views" }).locator("td");
    assert.deepEqual(await views.allTextContents(), ["1", "1"]);
    const load = await hello.locator("tbody tr", { hasText: "Load p50" }).locator("td").allTextContents();
    assert.ok(load.every((t) => /^[\d.]+ \/ [\d.]+ \/ [\d.]+ ms$/.test(t)), JSON.stringify(load));
    // One bar per version and plotted metric, in each version's color.
    const fills = await hello.locator("svg.plot rect").evaluateAll((rs) => rs.map((r) => r.getAttribute("fill")));
    assert.ok(fills.length >= 2 && new Set(fills).size === 2, JSON.stringify(fills));
    await admin.close();

    // A customer has no Operations entry, and its route mounts nothing for them.
    const customer = await contextAs(browser, "carl", ["customer"]);
    const other = await customer.newPage();
    await other.goto(server.url + "/admin/operations");
    await other.locator(".tessera-nav a").first().waitFor({ timeout: 15_000 });
    assert.equal(await other.locator('.tessera-nav a[data-menu-key="operations"]').count(), 0);
    assert.equal(await other.locator(".operations").count(), 0);
    const figures = await fetch(`${server.url}/api/rum/summary?since=0`, { headers: { authorization: "Bearer dev:carl:customer" } });
    assert.equal(figures.status, 403, "the BFF refuses the figures to a customer too");
    await customer.close();
  });
});
