// Offline writes: commands go into the durable outbox first, show at once as "not sent yet",
// survive reloads, and reach the BFF exactly once when it can be reached again: by Background
// Sync in the worker, or (with SyncManager removed) by a replay in one elected page.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, contextAs, controlled, launch, newStore, serve } from "./harness.mjs";

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

/** Every event the BFF logged for `subject`, oldest first. */
async function eventsOf(subject) {
  const headers = { authorization: `Bearer dev:${subject}:customer` };
  const out = [];
  let after = 0;
  for (;;) {
    const page = await (await fetch(`${server.url}/api/events?after=${after}&limit=100`, { headers })).json();
    out.push(...page.items);
    if (page.items.length === 0) return out;
    after = Number(page.nextCursor);
  }
}

/** Clicks "Add to cart" on `item` and waits until the parcel says it is in the cart. */
async function add(page, item, times) {
  const row = page.locator(`.menu-item[data-item="${item}"]`);
  for (let i = 1; i <= times; i++) {
    await row.locator("button.add").click();
    await row.locator(".added", { hasText: `${i} in cart` }).waitFor({ timeout: 10_000 });
  }
}

const outbox = (page) => page.locator(".tessera-statusbar .tessera-outbox");

for (const variant of ["Background Sync", "no SyncManager"]) {
  describe(`outbox (${variant})`, () => {
    test("two tabs offline add 50 items and check out; after a reload and reconnecting, each command reaches the BFF once", async () => {
      const subject = variant === "Background Sync" ? "olivia" : "oscar";
      const context = await contextAs(browser, subject);
      if (variant === "no SyncManager") {
        await context.addInitScript(() => {
          delete window.SyncManager;
          delete ServiceWorkerRegistration.prototype.sync;
        });
      }
      const errors = [];
      const tab = async () => {
        const p = await context.newPage();
        p.on("pageerror", (e) => errors.push(String(e)));
        await p.goto(server.url + "/restaurants/pho-corner");
        await p.locator('.menu-item[data-item="pho-bo"] button.add').waitFor();
        return p;
      };
      const a = await tab();
      await controlled(a);
      // The read-ahead saved the cart for offline use.
      await a.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });
      const b = await tab();
      assert.equal(await a.evaluate(() => "SyncManager" in window), variant === "Background Sync");

      await context.setOffline(true);
      // 50 commands from two tabs into one outbox, interleaved per item pair.
      await Promise.all([
        add(a, "pho-bo", 13).then(() => add(a, "banh-mi", 12)),
        add(b, "goi-cuon", 13).then(() => add(b, "ca-phe-sua-da", 12)),
      ]);
      await outbox(a).and(a.locator('[data-pending="50"]')).waitFor({ timeout: 10_000 });
      assert.match(await outbox(b).textContent(), /50 changes not sent yet/);
      await a.locator(".tessera-nav .badge", { hasText: "50" }).waitFor({ timeout: 10_000 });
      assert.equal(await eventsOf(subject).then((e) => e.length), 0, "nothing reached the BFF offline");

      // A reload offline: the cart (from the saved copy) shows every waiting line as such.
      await b.goto(server.url + "/cart");
      await b.reload();
      await b.locator('.cart-lines[data-pending="true"]').waitFor({ timeout: 10_000 });
      const rows = await b.locator(".cart-lines tbody tr").evaluateAll((trs) =>
        trs.map((tr) => [tr.dataset.item, Number(tr.querySelector(".quantity").textContent), tr.dataset.pending]));
      assert.deepEqual(rows.sort(), [
        ["banh-mi", 12, "true"], ["ca-phe-sua-da", 12, "true"], ["goi-cuon", 13, "true"], ["pho-bo", 13, "true"],
      ]);
      const total = 13 * 1290 + 12 * 810 + 13 * 650 + 12 * 390;
      assert.match(await b.locator(".total").textContent(), new RegExp(`€${Math.floor(total / 100)}\\.${String(total % 100).padStart(2, "0")}`));

      // Checkout offline, then reload again: the order is shown as waiting to be placed.
      await b.locator("button.checkout").click();
      const waiting = b.locator(".order-pending code");
      await waiting.waitFor({ timeout: 10_000 });
      const orderId = await waiting.textContent();
      await b.reload();
      await b.locator(".order-pending code", { hasText: orderId }).waitFor({ timeout: 10_000 });
      await outbox(b).and(b.locator('[data-pending="51"]')).waitFor({ timeout: 10_000 });

      // Back online: the outbox drains, in order, once.
      const started = Date.now();
      await context.setOffline(false);
      await outbox(b).and(b.locator('[data-pending="0"]')).waitFor({ timeout: 60_000 });
      const drained = Date.now() - started;
      await b.locator(".order-placed code", { hasText: orderId }).waitFor({ timeout: 10_000 });
      await b.locator(".cart .empty").waitFor();

      const events = await eventsOf(subject);
      const kinds = events.map((e) => e.type);
      assert.equal(kinds.filter((k) => k === "cart.updated").length, 50, "each cart command applied once");
      assert.equal(kinds.filter((k) => k === "order.placed").length, 1, "the order placed once");
      assert.equal(kinds.indexOf("order.placed"), 50, "the checkout after every cart change");
      const headers = { authorization: `Bearer dev:${subject}:customer` };
      const order = await (await fetch(`${server.url}/api/orders/${orderId}`, { headers })).json();
      assert.deepEqual(order.lines.map((l) => [l.itemId, l.quantity]).sort(), [
        ["banh-mi", 12], ["ca-phe-sua-da", 12], ["goi-cuon", 13], ["pho-bo", 13],
      ]);
      assert.equal(order.totalCents, total);
      const cart = await (await fetch(`${server.url}/api/cart`, { headers })).json();
      assert.deepEqual(cart.lines, []);
      const left = await b.evaluate(() => new Promise((resolve) => {
        const open = indexedDB.open("tessera-outbox");
        open.onsuccess = () => {
          const req = open.result.transaction("entries").objectStore("entries").count();
          req.onsuccess = () => resolve(req.result);
        };
      }));
      assert.equal(left, 0, "the outbox is empty");
      assert.deepEqual(errors, []);
      console.log(`# ${variant}: 51 commands drained ${drained} ms after reconnecting`);
      await context.close();
    });
  });
}
