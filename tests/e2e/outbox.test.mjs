// Offline writes: commands go into the durable outbox first, show at once as "not sent yet",
// survive reloads, and reach the BFF exactly once when it can be reached again: by Background
// Sync in the worker, or (with SyncManager removed) by a replay in one elected page.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserAndServer, contextAs, controlled, eventsOf, outboxEntries } from "./harness.mjs";

let browser;
let server;
browserAndServer((b, s) => ([browser, server] = [b, s]));

/** Clicks "Add to cart" on `item` and waits until the parcel says it is in the cart. */
async function add(page, item, times) {
  const row = page.locator(`.menu-item[data-item="${item}"]`);
  for (let i = 1; i <= times; i++) {
    await row.locator("button.add").click();
    await row.locator('.added[data-saved="true"]', { hasText: `${i} in cart` }).waitFor({ timeout: 10_000 });
  }
}

const outbox = (page) => page.locator(".tessera-statusbar .tessera-outbox");

/** Opens Phở Corner's menu in `page`, controlled by the worker, with its read-ahead done. */
async function openMenu(page) {
  await page.goto(server.url + "/restaurants/pho-corner");
  await page.locator('.menu-item[data-item="pho-bo"] button.add').waitFor();
  await controlled(page);
  await page.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });
}

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
      // (A replay attempt offline may show "Sending…" for a moment before it gives up.)
      await outbox(b).filter({ hasText: /50 changes not sent yet/ }).waitFor({ timeout: 10_000 });
      await a.locator(".tessera-nav .badge", { hasText: "50" }).waitFor({ timeout: 10_000 });
      assert.equal(await eventsOf(server.url, subject).then((e) => e.length), 0, "nothing reached the BFF offline");

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

      const events = await eventsOf(server.url, subject);
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
      assert.equal((await outboxEntries(b)).length, 0, "the outbox is empty");
      assert.deepEqual(errors, []);
      console.log(`# ${variant}: 51 commands drained ${drained} ms after reconnecting`);
      await context.close();
    });
  });
}

describe("outbox hand-off", () => {
  test("commands shown and the page reloaded before IndexedDB saved them are put back, and reach the BFF once", async () => {
    const subject = "hana";
    const context = await contextAs(browser, subject);
    const errors = [];
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    await openMenu(page);
    // One command queued and saved first, so the outbox's connection is open and warm.
    await context.setOffline(true);
    await add(page, "pho-bo", 1);
    await outbox(page).and(page.locator('[data-pending="1"]')).waitFor({ timeout: 10_000 });

    // Two clicks and a reload in one task: the page goes while IndexedDB is still writing.
    await page.evaluate(() => {
      for (const item of ["goi-cuon", "banh-mi"]) {
        document.querySelector(`.menu-item[data-item="${item}"] button.add`).click();
      }
      location.reload();
    });
    await page.waitForLoadState("load");
    await outbox(page).and(page.locator('[data-pending="3"]')).waitFor({ timeout: 10_000 });
    // The cart, read from the saved copy with the waiting commands on top, holds all three.
    await page.locator(".tessera-nav .badge", { hasText: "3" }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("tessera-outbox-accepted:"))), [],
      "nothing is left outside the outbox");

    await context.setOffline(false);
    await outbox(page).and(page.locator('[data-pending="0"]')).waitFor({ timeout: 30_000 });
    const events = await eventsOf(server.url, subject);
    const added = events.filter((e) => e.type === "cart.updated").length;
    assert.equal(added, 3, "each command applied once");
    const headers = { authorization: `Bearer dev:${subject}:customer` };
    const cart = await (await fetch(`${server.url}/api/cart`, { headers })).json();
    assert.deepEqual(cart.lines.map((l) => [l.itemId, l.quantity]).sort(), [["banh-mi", 1], ["goi-cuon", 1], ["pho-bo", 1]]);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe("outbox reconnect", () => {
  test("the network back while a replay runs: commands backing off go as soon as that run ends, not at their backoff's end", async () => {
    const subject = "ravi";
    const context = await contextAs(browser, subject);
    await context.addInitScript(() => {
      delete window.SyncManager;
      delete ServiceWorkerRegistration.prototype.sync;
    });
    const page = await context.newPage();
    await openMenu(page);
    await context.setOffline(true);
    await add(page, "pho-bo", 1);
    // Every start replays at once: offline, each fails and doubles the command's backoff.
    const backoff = async () => {
      const [entry] = await outboxEntries(page);
      return { attempts: entry.attempts, wait: entry.notBeforeMs - Date.now() };
    };
    for (let i = 0; i < 8 && (await backoff()).wait < 20_000; i++) {
      const attempts = (await backoff()).attempts;
      await page.reload();
      // Until that start's replay has failed the command and set its backoff.
      for (let t = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
        const [entry] = await outboxEntries(page);
        if (entry.attempts > attempts && entry.state === "pending" && entry.notBeforeMs > Date.now()) break;
        assert.ok(Date.now() - t < 10_000, `a start offline tries the command once: ${JSON.stringify(entry)}`);
      }
    }
    const before = await backoff();
    assert.ok(before.wait > 20_000, `the command backs off for a while first: ${JSON.stringify(before)}`);

    // A replay is running (the test holds its lock) when the network comes back.
    await page.evaluate(() => {
      navigator.locks.request("tessera-outbox-replay", () => new Promise((r) => (window.__releaseReplay = r)));
    });
    await page.waitForFunction(() => typeof window.__releaseReplay === "function");
    await context.setOffline(false);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await eventsOf(server.url, subject)).length, 0, "nothing goes while the lock is held");
    const released = Date.now();
    await page.evaluate(() => window.__releaseReplay());
    await outbox(page).and(page.locator('[data-pending="0"]')).waitFor({ timeout: 10_000 });
    const ms = Date.now() - released;
    assert.ok(ms < before.wait - 5_000, `sent ${ms} ms after the running replay ended, not at the backoff's end (${before.wait} ms)`);
    assert.equal((await eventsOf(server.url, subject)).filter((e) => e.type === "cart.updated").length, 1);
    await context.close();
  });
});

describe("outbox conflicts", () => {
  test("two admins edit the same menu items offline; the second gets one conflict each, and keep mine, take theirs and edit end as promised", async () => {
    const admin = async (subject) => {
      const context = await contextAs(browser, subject, ["customer", "admin"]);
      const p = await context.newPage();
      await p.goto(server.url + "/admin/menus/pho-corner");
      await p.locator('.menu-item[data-item="pho-bo"] button.edit').waitFor();
      await controlled(p);
      await p.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });
      return { context, page: p };
    };
    const edit = async (p, item, name, price) => {
      const row = p.locator(`.menu-item[data-item="${item}"]`);
      await row.locator("button.edit").click();
      await row.locator('input[name="name"]').fill(name);
      await row.locator('input[name="price"]').fill(price);
      await row.locator("button.save").click();
      await row.locator(".name", { hasText: name }).waitFor({ timeout: 10_000 });
      assert.equal(await row.getAttribute("data-pending"), "true");
    };
    const ada = await admin("ada");
    const bea = await admin("bea");
    await ada.context.setOffline(true);
    await bea.context.setOffline(true);
    for (const [item, who] of [["pho-bo", "keep"], ["banh-mi", "take"], ["goi-cuon", "edit"]]) {
      await edit(ada.page, item, `Ada ${who}`, "11.00");
      await edit(bea.page, item, `Bea ${who}`, "12.50");
    }
    await outbox(ada.page).and(ada.page.locator('[data-pending="3"]')).waitFor({ timeout: 10_000 });

    await ada.context.setOffline(false);
    await outbox(ada.page).and(ada.page.locator('[data-pending="0"]')).waitFor({ timeout: 30_000 });
    await bea.context.setOffline(false);
    await outbox(bea.page).and(bea.page.locator('[data-pending="0"][data-inbox="3"]')).waitFor({ timeout: 30_000 });
    assert.match(await outbox(bea.page).textContent(), /3 need your attention/);

    // The inbox: exactly one conflict per item, mine beside theirs.
    await bea.page.locator(".tessera-outbox-open").click();
    const panel = bea.page.locator(".tessera-outbox-panel");
    await panel.locator('.outbox-entry[data-state="conflict"]').nth(2).waitFor({ timeout: 10_000 });
    assert.equal(await panel.locator(".outbox-entry").count(), 3);
    const entry = (who) => panel.locator(".outbox-entry", { hasText: `Bea ${who}` });
    assert.match(await entry("keep").locator("pre.mine").textContent(), /Bea keep/);
    assert.match(await entry("keep").locator("pre.theirs").textContent(), /Ada keep/);

    await entry("keep").locator("button.keep-mine").click();
    await entry("take").locator("button.take-theirs").click();
    await entry("edit").locator("button.edit-mine").click();
    const edited = entry("edit").locator("textarea.edited");
    await edited.fill((await edited.inputValue()).replace("Bea edit", "Bea edited"));
    await entry("edit").locator("button.send-edit").click();
    await outbox(bea.page).and(bea.page.locator('[data-pending="0"][data-inbox="0"]')).waitFor({ timeout: 30_000 });
    await panel.locator(".empty").waitFor({ timeout: 10_000 });

    const menu = await (await fetch(`${server.url}/api/restaurants/pho-corner`)).json();
    const byId = Object.fromEntries(menu.menu.map((i) => [i.id, i]));
    assert.deepEqual([byId["pho-bo"].name, byId["pho-bo"].priceCents, byId["pho-bo"].lastModifiedBy], ["Bea keep", 1250, "bea"]);
    assert.deepEqual([byId["banh-mi"].name, byId["banh-mi"].priceCents, byId["banh-mi"].lastModifiedBy], ["Ada take", 1100, "ada"]);
    assert.deepEqual([byId["goi-cuon"].name, byId["goi-cuon"].priceCents, byId["goi-cuon"].lastModifiedBy], ["Bea edited", 1250, "bea"]);
    // Ada's three edits, and Bea's kept and edited ones: nothing twice, nothing of "take theirs".
    const updates = (await eventsOf(server.url, "ada", "customer,admin")).filter((e) => e.type === "menu.item-updated");
    assert.deepEqual(updates.map((e) => e.data.name).sort(), ["Ada edit", "Ada keep", "Ada take", "Bea edited", "Bea keep"]);
    assert.deepEqual(updates.map((e) => e.partitionKey).sort(),
      ["menu-item:banh-mi", "menu-item:goi-cuon", "menu-item:goi-cuon", "menu-item:pho-bo", "menu-item:pho-bo"]);
    await ada.context.close();
    await bea.context.close();
  });
});
