// The demo apps against the real BFF: the cart lives on the server per user, commands go
// through the sync protocol (idempotency key, If-Match), checkout places an order that the
// simulated kitchen moves on, and the BFF's errors show in the app that asked.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserAndServer, contextAs, outboxEntries } from "./harness.mjs";

let browser;
let server;
browserAndServer((b, s) => ([browser, server] = [b, s]));

async function page(subject, path) {
  const context = await contextAs(browser, subject);
  const p = await context.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(String(e)));
  await p.goto(server.url + path);
  await p.locator(".tessera-nav").waitFor();
  return { page: p, context, errors };
}

/** The caller's cart, read from the BFF as the browser would. */
async function cartOf(subject) {
  const res = await fetch(`${server.url}/api/cart`, { headers: { authorization: `Bearer dev:${subject}:customer` } });
  assert.equal(res.status, 200);
  return res.json();
}

describe("demo apps on the BFF", () => {
  test("the cart is stored per user on the server and survives a reload", async () => {
    const { page: p, context, errors } = await page("carol", "/restaurants/napoli");
    await p.locator('.menu-item[data-item="margherita"] button.add').click();
    await p.locator('.menu-item[data-item="margherita"] .added[data-saved="true"]', { hasText: "1 in cart" }).waitFor();
    await p.locator('.menu-item[data-item="tiramisu"] button.add').click();
    await p.locator(".tessera-nav .badge", { hasText: "2" }).waitFor();
    // The badge counts the changes the outbox holds; the server has them once it is empty.
    await p.locator('.tessera-outbox[data-pending="0"]').waitFor({ timeout: 10_000 }).catch(async (e) => {
      const outbox = (await outboxEntries(p)).map(({ id, state, attempts, notBeforeMs, error }) => ({ id, state, attempts, notBeforeMs, error }));
      const bar = await p.locator(".tessera-statusbar").textContent().catch(() => "(no status bar)");
      const controlled = await p.evaluate(() => !!navigator.serviceWorker.controller);
      throw new Error(`${e.message}\noutbox: ${JSON.stringify(outbox)}\nstatus bar: ${bar}\ncontrolled: ${controlled}, now ${Date.now()}`);
    });

    const stored = await cartOf("carol");
    assert.deepEqual(stored.lines.map((l) => [l.itemId, l.quantity]).sort(), [["margherita", 1], ["tiramisu", 1]]);
    assert.equal(stored.lastModifiedBy, "carol");
    assert.equal(stored.totalCents, 950 + 550);

    await p.goto(server.url + "/cart");
    await p.locator(".cart-lines").waitFor();
    assert.match(await p.locator(".total").textContent(), /€15\.00/);
    await p.reload();
    await p.locator('tr[data-item="tiramisu"] .quantity', { hasText: "1" }).waitFor();
    // The badge is read from the BFF at start, not only from this page's events.
    await p.locator(".tessera-nav .badge", { hasText: "2" }).waitFor();
    assert.deepEqual(errors, []);
    await context.close();

    const other = await page("dave", "/cart");
    await other.page.locator(".cart .empty").waitFor();
    assert.equal((await cartOf("dave")).lines.length, 0, "another user's cart is their own");
    await other.context.close();
  });

  test("removing a line and checking out place an order the kitchen moves on", async () => {
    const { page: p, context } = await page("erin", "/restaurants/pho-corner");
    const pho = p.locator('.menu-item[data-item="pho-bo"]');
    await pho.locator('button[aria-label="One more"]').click();
    await pho.locator("button.add").click();
    await pho.locator('.added[data-saved="true"]', { hasText: "2 in cart" }).waitFor();
    await p.locator('.menu-item[data-item="goi-cuon"] button.add').click();
    await p.locator(".tessera-nav .badge", { hasText: "3" }).waitFor();

    await p.click('.tessera-nav a[data-menu-key="cart"]');
    await p.locator('tr[data-item="goi-cuon"]').waitFor();
    await p.locator('tr[data-item="goi-cuon"] button', { hasText: "Remove" }).click();
    await p.locator('tr[data-item="goi-cuon"]').waitFor({ state: "detached" });
    await p.locator(".tessera-nav .badge", { hasText: "2" }).waitFor();
    assert.match(await p.locator(".total").textContent(), /€25\.80/);

    await p.locator("button.checkout").click();
    await p.locator(".order-placed", { hasText: "€25.80" }).waitFor();
    // The kitchen's steps reach the page live (no reload, no outbox change after the checkout).
    await p.locator(".order-placed .order-status", { hasText: "delivered" }).waitFor({ timeout: 15_000 });
    await p.locator(".cart .empty").waitFor();
    await p.locator(".tessera-nav .badge").waitFor({ state: "detached" });

    const orderId = await p.locator(".order-placed code").textContent();
    const headers = { authorization: "Bearer dev:erin:customer" };
    let order;
    for (let i = 0; i < 100; i++) {
      order = await (await fetch(`${server.url}/api/orders/${orderId}`, { headers })).json();
      if (order.status === "delivered") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(order.status, "delivered", "the kitchen delivers the order");
    assert.deepEqual(order.lines.map((l) => [l.itemId, l.quantity]), [["pho-bo", 2]]);
    const other = await fetch(`${server.url}/api/orders/${orderId}`, { headers: { authorization: "Bearer dev:mallory:customer" } });
    assert.equal(other.status, 404, "nobody else reads the order");
    await context.close();
  });

  test("the status bar reports the BFF heartbeat, not just the browser's network state", async () => {
    // Without the service worker, so that page.route sees the heartbeat requests.
    const context = await contextAs(browser, "gina", ["customer"], { serviceWorkers: "block" });
    const p = await context.newPage();
    await p.goto(server.url + "/restaurants");
    const bar = p.locator(".tessera-statusbar .tessera-link");
    await p.locator('.tessera-statusbar[data-link="connected"]').waitFor();
    assert.equal((await bar.textContent()).trim(), "Connected");

    await context.setOffline(true);
    await p.locator('.tessera-statusbar[data-link="offline"]').waitFor();
    assert.match(await bar.textContent(), /^Offline · showing saved data · last contact (just now|\d+ s ago)$/);
    await context.setOffline(false);
    await p.locator('.tessera-statusbar[data-link="connected"]').waitFor();

    // The network is up but the BFF does not answer: "online" by the browser's account.
    await p.route("**/api/health", (route) => route.abort("connectionrefused"));
    await p.evaluate(() => window.dispatchEvent(new Event("online")));
    await p.locator('.tessera-statusbar[data-link="unreachable"]').waitFor();
    assert.match(await bar.textContent(), /^Server unreachable · showing saved data/);
    assert.equal(await p.evaluate(() => window.__tessera.connectivity), "unreachable");
    await p.unroute("**/api/health");
    await p.evaluate(() => window.dispatchEvent(new Event("online")));
    await p.locator('.tessera-statusbar[data-link="connected"]').waitFor();
    await context.close();
  });

  test("the restaurant list reads a page at a time, each page once however often 'More' is clicked", async () => {
    // No worker, so the page's own requests can be rewritten: pages of 3 instead of the BFF's
    // 20, so the 8 restaurants take three pages.
    const context = await contextAs(browser, "gina", ["customer"], { serviceWorkers: "block" });
    await context.route("**/api/restaurants*", (route) => {
      const url = new URL(route.request().url());
      if (url.pathname !== "/api/restaurants") return route.continue();
      url.searchParams.set("limit", "3");
      return route.continue({ url: url.toString() });
    });
    const p = await context.newPage();
    await p.goto(server.url + "/restaurants");
    const cards = p.locator(".restaurant-list .card");
    const more = p.locator(".restaurants button.more");
    await more.waitFor();
    assert.equal(await cards.count(), 3);
    // Two clicks before the page comes: it is read and added once.
    await more.dblclick();
    await p.locator(".restaurants button.more:not([disabled])").waitFor();
    assert.equal(await cards.count(), 6);
    await more.click();
    await more.waitFor({ state: "detached" });
    const names = await p.locator(".restaurant-list .card a").allTextContents();
    assert.equal(names.length, 8);
    assert.equal(new Set(names).size, 8, names.join(", "));
    await context.close();
  });

  test("a restaurant the BFF does not know shows 'not found' in the restaurants app only", async () => {
    const { page: p, context } = await page("frank", "/restaurants/no-such-place");
    await p.locator(".restaurants h1", { hasText: "Restaurant not found" }).waitFor();
    await p.click('.tessera-nav a[data-menu-key="restaurants"]');
    await p.locator(".restaurant-list a", { hasText: "Pho Corner" }).waitFor();
    await context.close();
  });
});
