// Regional failover: two BFF processes, regions a and b, on one PostgreSQL (live events fan out
// through it), the site configured with both (`--region`). A user whose primary is a keeps
// working when a is killed: the service worker moves queries, commands and the live feed to b,
// commands clicked across the switch apply once, the live feed resumes from its cursor (an edit
// made while no socket was open still arrives, once), and the page comes back to a when a is
// started again. Prints the time to fail over and back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, contextAs, controlled, eventsOf, freePort, launch, newStore, renameDish, serve, until } from "./harness.mjs";
import { startPostgres } from "../lib/postgres.mjs";

let pg;
let browser;
let start;
const regions = {};

before(async () => {
  pg = await startPostgres();
  const store = newStore();
  const ports = { a: await freePort(), b: await freePort() };
  const flags = Object.entries(ports).flatMap(([name, port]) => ["--region", `${name}=http://127.0.0.1:${port}`]);
  start = async (name) => {
    regions[name] = await serve(store, { port: ports[name], args: ["--database-url", pg.url, ...flags] });
  };
  // One after the other: the first runs the migrations.
  await start("a");
  await start("b");
  browser = await launch();
});
after(async () => {
  await browser?.close();
  for (const r of Object.values(regions)) r.close();
  await pg?.close();
  cleanup();
});

/** The user's primary region among `count`, as `tessera_contract::regions::primary_for`. */
function primaryFor(subject, count) {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(subject)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % count;
}


test("a page moves to region b when a dies and back when a returns; commands apply once, the live feed resumes from its cursor", async () => {
  const subject = Array.from({ length: 50 }, (_, i) => `traveller-${i}`).find((s) => primaryFor(s, 2) === 0);
  const context = await contextAs(browser, subject);
  await context.addInitScript(() => {
    window.__live = [];
    window.addEventListener("tessera:live", (e) => window.__live.push(JSON.parse(e.detail)));
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e.stack ?? e)));
  await page.goto(regions.a.url + "/restaurants/pho-corner");
  const row = page.locator('.menu-item[data-item="pho-bo"]');
  await row.locator("button.add").waitFor();
  await controlled(page);
  const inRegion = (name) => page.locator(`.tessera-statusbar .tessera-region[data-region="${name}"]`)
    .waitFor({ timeout: 30_000 });
  await inRegion("a");
  await page.locator('.tessera-live[data-live="live"]').waitFor({ timeout: 10_000 });
  // The cart's count in the nav and an empty outbox: the parcel's own "n in cart" counts its
  // clicks only, and starts again when the menu is drawn anew (as it is when the live feed
  // comes back after a gap and the menu is read again).
  const add = async (n) => {
    await row.locator("button.add").click();
    await page.locator(".tessera-nav .badge", { hasText: String(n) }).waitFor({ timeout: 20_000 });
    await page.locator('.tessera-statusbar .tessera-outbox[data-pending="0"]').waitFor({ timeout: 20_000 });
  };
  await add(1);

  // Region a dies. An edit lands in b while the page has no socket; the user goes on adding.
  // (Not of the dish added: a renamed row mounts its add-to-cart parcel anew.)
  regions.a.child.kill("SIGKILL");
  const killedAt = Date.now();
  await renameDish(regions.b.url, "banh-mi", "Banh mi, edited in b");
  await add(2);
  await inRegion("b");
  const failover = Date.now() - killedAt;
  await add(3);

  const renamed = (name) => until(`the live event renaming banh-mi to ${name}`, () => page.evaluate((n) =>
    window.__live.filter((e) => e.type === "menu.item-updated" && e.data.data.name === n).length, name), 30_000);
  assert.equal(await renamed("Banh mi, edited in b"), 1, "the edit made without a socket arrived once");
  const cart = await (await fetch(`${regions.b.url}/api/cart`, { headers: { authorization: `Bearer dev:${subject}:customer` } })).json();
  assert.equal(cart.lines.find((l) => l.itemId.endsWith("pho-bo"))?.quantity, 3, JSON.stringify(cart));
  const changes = (await eventsOf(regions.b.url, subject)).filter((e) => e.type === "cart.updated");
  assert.equal(changes.length, 3, "each click applied once, whichever region it reached");

  // Region a is back: the page returns to it, and hears a's news.
  await start("a");
  const restartedAt = Date.now();
  await inRegion("a");
  const failback = Date.now() - restartedAt;
  await renameDish(regions.a.url, "banh-mi", "Banh mi, edited in a");
  assert.equal(await renamed("Banh mi, edited in a"), 1);
  const seqs = await page.evaluate(() => window.__live.map((e) => e.data.seq));
  assert.equal(new Set(seqs).size, seqs.length, "each live event once across both moves");
  assert.equal(await page.evaluate(() => performance.getEntriesByType("navigation").length), 1, "no reload");
  assert.deepEqual(errors, []);
  console.log(`# regional failover: to b ${failover} ms after a was killed, back to a ${failback} ms after it was started again`);
  await context.close();
});
