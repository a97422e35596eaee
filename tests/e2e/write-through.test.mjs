// Write-through: what a sync applied reaches the worker's saved answers, so a page opened
// offline right after it shows the synced values, whether or not a view read them again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { browserAndServer, contextAs, controlled } from "./harness.mjs";

let browser;
let server;
browserAndServer((b, s) => ([browser, server] = [b, s]));

const outbox = (page) => page.locator(".tessera-statusbar .tessera-outbox");

test("a page opened offline after a sync shows what the sync applied, though no view read it again", async () => {
  const context = await contextAs(browser, "cleo", ["customer", "admin"]);
  const errors = [];
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e.stack ?? e)));
  await page.goto(server.url + "/admin/menus/pho-corner");
  const row = page.locator('.menu-item[data-item="banh-mi"]');
  await row.locator("button.edit").waitFor();
  await controlled(page);
  await page.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });

  await context.setOffline(true);
  await row.locator("button.edit").click();
  await row.locator('input[name="name"]').fill("Banh mi, synced");
  await row.locator('input[name="price"]').fill("9.90");
  await row.locator("button.save").click();
  await row.locator(".name", { hasText: "Banh mi, synced" }).waitFor({ timeout: 10_000 });
  await outbox(page).and(page.locator('[data-pending="1"]')).waitFor({ timeout: 10_000 });

  // Away from every view of the restaurant, and with the reads that keep its saved copy
  // refused (the worker's revalidations, `If-None-Match`, for the read-ahead after
  // reconnecting or any view), only the sync's write-through (marked with its header; through
  // the worker when a page replays) can bring it up to date.
  await page.locator('.tessera-nav a[data-menu-key="cart"]').click();
  await page.locator(".cart").first().waitFor({ timeout: 10_000 });
  const restaurant = /\/api\/restaurants\/pho-corner(\?|$)/;
  // Write-through reads answered so far (the answer handed to whoever asked).
  let writeThroughs = 0;
  const refuseRevalidations = async (route) => {
    const headers = route.request().headers();
    if (headers["x-tessera-write-through"]) {
      await route.fulfill({ response: await route.fetch() });
      writeThroughs += 1;
      return;
    }
    return headers["if-none-match"] ? route.abort() : route.continue();
  };
  await context.route(restaurant, refuseRevalidations);
  await context.setOffline(false);
  await outbox(page).and(page.locator('[data-pending="0"]')).waitFor({ timeout: 30_000 });
  const menu = await (await fetch(`${server.url}/api/restaurants/pho-corner`)).json();
  const item = menu.menu.find((i) => i.id === "banh-mi");
  assert.deepEqual([item.name, item.priceCents], ["Banh mi, synced", 990], "the BFF applied it");
  // The run's write-through comes after its last announcement; going offline before its
  // answer arrived would make it fail (it is not tried again).
  const waited = Date.now() + 15_000;
  while (writeThroughs === 0) {
    assert.ok(Date.now() < waited, "the sync read the restaurant again (write-through)");
    await page.waitForTimeout(100);
  }

  // Its answer is stored a moment after it arrives; then look offline.
  const shown = page.locator('.menu-item[data-item="banh-mi"]');
  const deadline = Date.now() + 10_000;
  for (;;) {
    await context.setOffline(true);
    await context.unroute(restaurant);
    await page.goto(server.url + "/restaurants/pho-corner");
    await shown.locator(".name").waitFor({ timeout: 10_000 });
    if ((await shown.locator(".name").textContent()).includes("Banh mi, synced") || Date.now() > deadline) break;
    await context.setOffline(false);
    await context.route(restaurant, refuseRevalidations);
    await page.waitForTimeout(500);
  }
  assert.equal(await shown.locator(".name").textContent(), "Banh mi, synced", "the saved copy has the synced name");
  assert.match(await shown.locator(".price").textContent(), /9\.90/);
  assert.equal(await shown.getAttribute("data-pending"), "false", "confirmed, not waiting");
  assert.deepEqual(errors, []);
  await context.setOffline(false);
  await context.close();
});
