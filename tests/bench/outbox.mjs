// Outbox figures in headless Chromium against the real BFF + CDN server, printed, never
// asserted (only sanity-checked: a figure of a run that lost or repeated commands is no
// figure). Run by `cargo xtask bench` after offline.mjs, in one fresh persistent profile
// signed in as an admin:
//   1. enqueue: offline, CLICKS clicks on "Add to cart" (four dishes in turn); each click
//      reads the cart with the waiting commands on top and queues one command. Printed: the
//      durable write alone (the shell's `tessera:outbox-enqueue` User Timing measures) and
//      click → "N in cart" shown (timed in the page, from the click event to the text in the DOM);
//   2. reconnect → empty: back online, until the outbox in IndexedDB is empty (those CLICKS
//      commands are on one entity, the cart, so they go one after the other);
//   3. replay throughput, REPEATS rounds: ENTRIES commands written into the outbox offline,
//      copied from the shape of a real entry, then online until empty: (a) ENTRIES menu items
//      created, one entity each, so up to the replayer's parallelism go at once; (b) ENTRIES
//      cart changes, one entity, in order, each on the version the previous one makes. The
//      median of the rounds is printed last.
import { appendToOutbox, cleanup, controlled, eventsOf, launchWithProfile, newStore, outboxEntries as stored, serve } from "../e2e/harness.mjs";
import { median, pct } from "./stats.mjs";

const CLICKS = Number(process.env.BENCH_OUTBOX_CLICKS ?? 200);
const ENTRIES = Number(process.env.BENCH_OUTBOX_ENTRIES ?? 1000);
const SUBJECT = "ada";
const ROLES = ["customer", "admin"];
const TOKEN = `dev:${SUBJECT}:${ROLES.join(",")}`;
const ITEMS = ["pho-bo", "banh-mi", "goi-cuon", "ca-phe-sua-da"];
const T = 30_000;
const REPEATS = Number(process.env.BENCH_OUTBOX_REPEATS ?? 3);
const LIMIT_MS = Number(process.env.BENCH_OUTBOX_LIMIT_MS ?? 600_000); // for one drain

const watchdog = setTimeout(() => {
  console.error("outbox.mjs: gave up after 15 minutes");
  process.exit(1);
}, 15 * 60_000);
watchdog.unref();

const f1 = (x) => x.toFixed(1);
const spread = (xs) => `p50 ${f1(median(xs))} ms, p99 ${f1(pct(xs, 99))} ms, max ${f1(Math.max(...xs))} ms (n=${xs.length})`;

/** Resolves with the ms from now until the outbox holds no entry (polled in the page every
 * 10 ms, so the figure is at most that late). */
function untilEmpty(page, limitMs) {
  return page.evaluate((limit) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    const open = indexedDB.open("tessera-outbox");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const poll = () => {
        // The first key, not count(): Chromium counts by walking every record, and a poll
        // every 10 ms that walks a thousand entries kept the replayer's writes waiting.
        const req = db.transaction("entries").objectStore("entries").openKeyCursor();
        req.onsuccess = () => {
          const now = performance.now();
          if (req.result === null) {
            db.close();
            resolve(now - t0);
          } else if (now - t0 > limit) {
            db.close();
            reject(new Error(`the outbox still holds entries after ${limit} ms`));
          } else setTimeout(poll, 10);
        };
        req.onerror = () => reject(req.error);
      };
      poll();
    };
  }), limitMs);
}

/** [`untilEmpty`], or an error that shows what is left. */
async function drained(page) {
  try {
    return await untilEmpty(page, LIMIT_MS);
  } catch (e) {
    const left = (await stored(page)).slice(0, 10).map((x) => `#${x.id} ${x.state} after ${x.attempts} attempt(s): ${x.error ?? "no error"}`);
    console.log(`first left: ${left.join("; ")}`);
    throw e;
  }
}

/** Menu items the seeds created so far, so each round creates new ones. */
let seededItems = 0;

/** Queues `count` commands of `kind` shaped like `template` in one transaction, as the shell's
 * enqueue does: menu creates (one entity each), or cart changes on one entity, each on the
 * version the one before it makes from `cartVersion`. */
function seed(page, template, kind, count, cartVersion) {
  const now = Date.now();
  const entries = Array.from({ length: count }, (_, i) => {
    const e = { ...structuredClone(template), idempotencyKey: crypto.randomUUID(), state: "pending", attempts: 0,
      error: null, theirs: null, createdAtMs: now, updatedAtMs: now, notBeforeMs: 0, overlays: [] };
    if (kind === "menu") {
      const item = `bench-${++seededItems}`;
      e.entity = `menu-item:${item}`;
      e.baseVersion = null;
      e.label = `Bench dish ${i}: created`;
      e.command = { method: "PUT", path: `/api/restaurants/pho-corner/menu/${item}`,
        body: JSON.stringify({ name: `Bench dish ${i}`, priceCents: 500 + (i % 900), available: true }) };
    } else {
      e.baseVersion = cartVersion + i;
      const dish = ITEMS[i % ITEMS.length];
      const quantity = 1 + (Math.floor(i / ITEMS.length) % 50);
      e.label = `${dish} × ${quantity} in the cart`;
      e.command = { method: "PUT", path: `/api/cart/items/${dish}`, body: JSON.stringify({ quantity }) };
    }
    return e;
  });
  return appendToOutbox(page, entries);
}

/** In the page: times the next click on `item`'s "Add to cart" (from the click event's
 * timestamp) until its row's count reads `text` in the DOM, so Playwright's own work around
 * a click (actionability checks, round trips) is not counted. */
function watchClick({ item, text, total }) {
  const row = document.querySelector(`.menu-item[data-item="${item}"]`);
  const nav = document.querySelector(".tessera-nav");
  const watch = (window.__click = { clickedAt: NaN, shownAt: NaN, savedAt: NaN, badgeAt: NaN });
  row.querySelector("button.add").addEventListener("click", (e) => (watch.clickedAt = e.timeStamp), { capture: true, once: true });
  const observe = (root, seen, key) => {
    const observer = new MutationObserver(() => {
      if (seen()) {
        watch[key] = performance.now();
        observer.disconnect();
      }
    });
    observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
  };
  const added = () => row.querySelector(".added");
  observe(row, () => added()?.textContent === text, "shownAt");
  // Builds before the count showed at the click have no `data-saved`: shown is saved there.
  observe(row, () => added()?.textContent === text && added().dataset.saved !== "false", "savedAt");
  // The nav app's cart badge: another app, which reads the cart through the host on each
  // outbox change, so it shows when the shell's data layer has the command.
  observe(nav, () => nav.querySelector('a[data-menu-key="cart"] .badge')?.textContent === String(total), "badgeAt");
}

/** The page's count of `host.query` calls so far, and how many of them needed no request. */
function readCounts() {
  return {
    calls: performance.getEntriesByName("tessera:host-query").length,
    memory: window.__tessera.fromMemory ?? 0,
    shared: window.__tessera.sharedRequests ?? 0,
    // Builds before query_flights.rs made one request per call not answered from memory.
    requests: window.__tessera.queryRequests ?? performance.getEntriesByName("tessera:host-query").length - (window.__tessera.fromMemory ?? 0),
  };
}

const server = await serve(newStore());
const context = await launchWithProfile();
try {
  context.setDefaultTimeout(T);
  const session = { userName: SUBJECT, idToken: TOKEN, roles: ROLES };
  await context.addInitScript((s) => localStorage.setItem("tessera.devSession", JSON.stringify(s)), session);
  if (process.env.BENCH_OUTBOX_NO_SYNC) {
    // The fallback: replays by the page itself (as in browsers without Background Sync).
    await context.addInitScript(() => {
      delete window.SyncManager;
      delete ServiceWorkerRegistration.prototype.sync;
    });
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "warning" && console.log(`  page: ${m.text()}`));
  await page.goto(server.url + "/restaurants/pho-corner");
  await page.locator('.menu-item[data-item="pho-bo"] button.add').waitFor();
  await controlled(page);
  await page.waitForFunction(() => (window.__tessera?.readAhead ?? 0) > 0, null, { timeout: T });
  const sync = await page.evaluate(() => "SyncManager" in window);
  console.log(`# outbox bench: ${CLICKS} clicks, ${ENTRIES} seeded entries; replays by ${sync ? "Background Sync in the worker" : "the page"}`);

  // 1. Enqueue.
  await context.setOffline(true);
  const clickMs = [];
  const savedMs = [];
  const badgeMs = [];
  const here = {};
  for (let i = 0; i < CLICKS; i++) {
    const item = ITEMS[i % ITEMS.length];
    here[item] = (here[item] ?? 0) + 1;
    const row = page.locator(`.menu-item[data-item="${item}"]`);
    await page.evaluate(watchClick, { item, text: `${here[item]} in cart`, total: i + 1 });
    await row.locator("button.add").click();
    await row.locator('.added:not([data-saved="false"])', { hasText: new RegExp(`^${here[item]} in cart$`) }).waitFor({ timeout: 10_000 });
    await page.locator('.tessera-nav a[data-menu-key="cart"] .badge', { hasText: new RegExp(`^${i + 1}$`) }).waitFor({ timeout: 10_000 });
    const click = await page.evaluate(() => window.__click);
    clickMs.push(click.shownAt - click.clickedAt);
    savedMs.push(click.savedAt - click.clickedAt);
    badgeMs.push(click.badgeAt - click.clickedAt);
  }
  const measured = (name) => page.evaluate((n) => performance.getEntriesByName(n).map((e) => e.duration), name);
  const enqueueMs = await measured("tessera:outbox-enqueue");
  const acceptMs = await measured("tessera:outbox-accept");
  const queryMs = await measured("tessera:host-query");
  const commandMs = await measured("tessera:host-command");
  const memoryMs = await measured("tessera:query-from-memory");
  const template = (await stored(page))[0];
  console.log(`enqueue, taken (shown on the page's answers, announced, kept in localStorage until IndexedDB has it): ${acceptMs.length ? spread(acceptMs) : "not measured in this build"}`);
  console.log(`enqueue, the durable write alone (strict durability): ${enqueueMs.length ? spread(enqueueMs) : "no User Timing measures in this build"}`);
  console.log(`click → "N in cart" in the DOM (the click event's timestamp to the text changing; outbox growing from 0 to ${CLICKS}): ${spread(clickMs)}`);
  console.log(`click → "N in cart" marked saved (cart read with the waiting commands on top, enqueue, render): ${spread(savedMs)}`);
  console.log(`click → the nav's cart badge shows the new total in the DOM (another app, reading the cart through the host on the outbox change): ${spread(badgeMs)}`);
  console.log(`  host.query, every app's calls meanwhile (the clicked app's cart read, the others' reads on each change): ${queryMs.length ? spread(queryMs) : "not measured in this build"}`);
  console.log(`    of them answered from memory: ${memoryMs.length ? spread(memoryMs) : "none"}`);
  console.log(`  host.command (queued, durable, announced): ${commandMs.length ? spread(commandMs) : "not measured in this build"}`);

  // 2. Reconnect → empty, CLICKS commands on the cart.
  const before = (await eventsOf(server.url, SUBJECT, ROLES.join(","))).length;
  await context.setOffline(false);
  const drainMs = await drained(page);
  const cartEvents = (await eventsOf(server.url, SUBJECT, ROLES.join(","))).length - before;
  console.log(`reconnect → empty outbox, ${CLICKS} cart commands (one entity, in order): ${f1(drainMs)} ms, ` +
    `${f1((CLICKS * 1000) / drainMs)} commands/s; the BFF logged ${cartEvents} events for them`);

  // 3. Throughput of seeded outboxes, REPEATS times each (a single drain varies by a third
  // from run to run on a loaded two-core machine).
  const rates = { menu: [], cart: [] };
  for (let round = 0; round < REPEATS; round++) for (const kind of ["menu", "cart"]) {
    await context.setOffline(true);
    const cart = await (await fetch(`${server.url}/api/cart`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    const start = (await eventsOf(server.url, SUBJECT, ROLES.join(","))).length;
    await seed(page, template, kind, ENTRIES, cart.version);
    const reads = await page.evaluate(readCounts);
    await context.setOffline(false);
    // The page's `online` handler registers Background Sync (or replays itself).
    const ms = await drained(page);
    const events = (await eventsOf(server.url, SUBJECT, ROLES.join(","))).length - start;
    const what = kind === "menu" ? `${ENTRIES} menu items created (${ENTRIES} entities)` : `${ENTRIES} cart changes (one entity, in order)`;
    console.log(`replay, ${what}: reconnect → empty ${f1(ms)} ms, ${f1((ENTRIES * 1000) / ms)} entries/s; the BFF logged ${events} events`);
    rates[kind].push((ENTRIES * 1000) / ms);
    const after = await page.evaluate(readCounts);
    const calls = after.calls - reads.calls;
    const memory = after.memory - reads.memory;
    const shared = after.shared - reads.shared;
    const requests = after.requests - reads.requests;
    console.log(`  the apps' reads meanwhile: ${calls} host.query calls answered, ${memory} from memory, ${shared} sharing a request on its way; ${requests} requests`);
    const left = await stored(page);
    if (events !== ENTRIES || left.length) console.log(`  (not a clean run: ${events} events for ${ENTRIES} entries, ${left.length} left in the outbox)`);
  }
  for (const [kind, xs] of Object.entries(rates)) {
    console.log(`replay, ${kind === "menu" ? `${ENTRIES} entities` : "one entity"}, median of ${xs.length}: ${f1(median(xs))} entries/s (${xs.map(f1).join(" / ")})`);
  }
  if (errors.length) console.log(`page errors: ${errors.join("; ")}`);
} finally {
  await context.close();
  server.close();
  cleanup();
}
