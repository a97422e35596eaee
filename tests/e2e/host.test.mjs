// Lifecycle ABI 2 end to end: a plain-JS app with no data layer of its own reads and writes
// through the shell's `props.host` (queries with freshness, commands through the outbox that the
// BFF applies, read-your-writes while offline, failures with their `kind` and `problem`, live
// events, navigation), an ABI 1 app still runs under the ABI 2 shell, and an app declaring an
// ABI the shell does not speak is refused: by the deployer when its manifest says so, by the
// shell in the app's own mount point when only its module does.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cleanup, contextAs, controlled, eventsOf, fixture, launch, newStore, outboxEntries, publish, serve,
  statuses, until, waitForStatus,
} from "./harness.mjs";

const HOST_APP = "@fixture/host-js";

let browser;
let store;
let server;
before(async () => {
  browser = await launch();
  store = newStore();
  for (const f of ["host-js", "hello-v1", "abi-mismatch"]) publish(store, fixture(f));
  server = await serve(store);
});
// A test that fails leaves no context behind (offline, or with a busy page) for the next one.
const contexts = [];
afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
});
after(async () => {
  server?.close();
  await browser?.close();
  cleanup();
});

/** A page signed in as `subject` (a fresh context, on which `prepare` runs first) on `path`,
 * recording page errors and request paths. */
async function open(subject, path, prepare = async () => {}) {
  const context = await contextAs(browser, subject);
  contexts.push(context);
  await prepare(context);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const requests = [];
  page.on("request", (r) => requests.push(new URL(r.url()).pathname));
  await page.goto(server.url + path);
  return { context, page, errors, requests };
}

/** Opens the host-js app and waits until its mount has run every query. */
async function openHostApp(subject, prepare) {
  const opened = await open(subject, "/host-js", prepare);
  await opened.page.locator('.host-js[data-ready="true"]').waitFor({ timeout: 15_000 });
  await waitForStatus(opened.page, HOST_APP, "MOUNTED");
  return opened;
}

/** `GET path` at the BFF as the development user `subject`. */
async function bffGet(subject, path) {
  const r = await fetch(server.url + path, { headers: { authorization: `Bearer dev:${subject}:customer` } });
  return { status: r.status, body: await r.json() };
}

/** The server's cart line for `item` for `subject`, once the cart is at `version`. */
async function serverCartAt(subject, version) {
  return until(`the BFF's cart of ${subject} at version ${version}`, async () => {
    const { body } = await bffGet(subject, "/api/cart");
    return body.version === version ? body : null;
  });
}

/** Clicks the probe button with `path` and returns what host.query answered or rejected with. */
async function probe(page, path) {
  const result = page.locator(".probe-result");
  const seq = Number(await result.getAttribute("data-seq")) + 1;
  await page.locator(".probe-path").fill(path);
  await page.locator("button.probe").click();
  await page.locator(`.probe-result[data-seq="${seq}"]`).waitFor({ timeout: 15_000 });
  assert.equal(await result.getAttribute("data-path"), path);
  return JSON.parse(await result.textContent());
}

/** The outbox's entries once `check(entries)` holds (the outbox is written asynchronously). */
async function outboxWhen(page, what, check) {
  return until(`the outbox to hold ${what}`, async () => {
    const entries = await outboxEntries(page);
    return check(entries) ? entries : null;
  });
}

describe("lifecycle ABI 2: props.host for a plain-JS app", () => {
  test("host.query gives the app its data with freshness; host.version and host.session; failed queries reject with kind and problem", async () => {
    const { context, page, errors } = await openHostApp("hana");
    const info = page.locator(".host-info");
    assert.equal(await info.getAttribute("data-version"), "2", "host.version");
    assert.equal(await info.getAttribute("data-abi"), "2", "props.abi");
    assert.equal(await info.getAttribute("data-bff"), "/api/restaurants", "props.bff from mfe.json");
    // The session without the token.
    assert.deepEqual(JSON.parse(await page.locator(".host-session").textContent()), { userName: "hana", roles: ["customer"] });

    // The catalogue the app got through host.query is the BFF's.
    const list = page.locator(".restaurants");
    assert.equal(await list.getAttribute("data-state"), "ok");
    const expected = (await bffGet("hana", "/api/restaurants?limit=5")).body.items;
    assert.equal(expected.length, 5);
    assert.deepEqual(
      await list.locator("li").evaluateAll((lis) => lis.map((li) => [li.dataset.id, li.textContent])),
      expected.map((r) => [r.id, r.name]),
    );
    assert.equal(await list.getAttribute("data-from-cache"), "false", "answered by the server just now");
    const asOf = await list.getAttribute("data-as-of");
    assert.ok(asOf === "null" || Math.abs(Number(asOf) - Date.now()) < 60_000, `asOfMs ${asOf}`);

    // A 404: an Error with kind "problem" and the server's problem document.
    const missing = await bffGet("hana", "/api/restaurants/no-such-place");
    assert.equal(missing.status, 404);
    const queryError = page.locator(".query-error");
    assert.equal(await queryError.getAttribute("data-state"), "error");
    assert.equal(await queryError.getAttribute("data-is-error"), "true");
    assert.equal(await queryError.getAttribute("data-kind"), "problem");
    assert.equal(await queryError.getAttribute("data-status"), "404");
    assert.equal(await queryError.getAttribute("data-title"), missing.body.title);

    // More through the same functions: a good query, an answer that is not JSON (decode), a
    // malformed command (decode, nothing queued).
    const pho = await probe(page, "/api/restaurants/pho-corner");
    assert.equal(pho.state, "ok");
    assert.equal(pho.data.name, "Pho Corner");
    const html = await probe(page, "/");
    assert.equal(html.state, "error");
    assert.equal(html.isError, true);
    assert.equal(html.kind, "decode", JSON.stringify(html));
    assert.equal(html.problem, null);
    const denied = await probe(page, "/api/orders/not-mine");
    assert.equal(denied.kind, "problem", JSON.stringify(denied));
    assert.equal(denied.problem.status, (await bffGet("hana", "/api/orders/not-mine")).status);
    await page.locator("button.bad-command").click();
    const commandError = page.locator('.command-error[data-state="error"]');
    await commandError.waitFor();
    assert.equal(await commandError.getAttribute("data-kind"), "decode");
    assert.equal((await outboxEntries(page)).length, 0, "a malformed command is not queued");
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("with no network at all (no service worker), host.query rejects with kind network", async () => {
    // A browser without service workers (as on an insecure origin), so nothing answers offline.
    const { context, page, errors } = await openHostApp("nina", (c) => c.addInitScript(() => {
      delete Navigator.prototype.serviceWorker;
    }));
    assert.equal(await page.evaluate(() => "serviceWorker" in navigator), false);
    const online = await probe(page, "/api/restaurants?limit=2");
    assert.equal(online.state, "ok");
    assert.equal(online.freshness.fromCache, false);
    assert.equal(online.freshness.asOfMs, null, "no worker, no as-of time");
    await context.setOffline(true);
    const offline = await probe(page, "/api/restaurants?limit=2");
    assert.equal(offline.state, "error");
    assert.equal(offline.isError, true);
    assert.equal(offline.kind, "network", JSON.stringify(offline));
    assert.equal(offline.problem, null);
    await context.setOffline(false);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("host.command queues a command the BFF applies once; offline it shows on top of the saved answer and is sent on reconnecting", async () => {
    const subject = "cora";
    const { context, page, errors } = await openHostApp(subject);
    const cart = page.locator(".cart");
    assert.equal(await cart.getAttribute("data-state"), "ok");
    assert.equal(await cart.getAttribute("data-version"), "0");
    assert.equal(await cart.locator("li").count(), 0);
    // The worker controls the page and has read ahead what this user needs offline.
    await controlled(page);
    await page.waitForFunction(() => (window.__tessera.readAhead ?? 0) > 0, null, { timeout: 15_000 });

    // Online: queued, sent with its Idempotency-Key and If-Match, applied by the BFF.
    await page.locator("button.add").click();
    const queued = page.locator(".queued");
    await page.locator('.queued[data-count="1"]').waitFor({ timeout: 10_000 });
    const firstKey = await queued.getAttribute("data-key");
    assert.match(firstKey, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(await queued.getAttribute("data-id"), /^\d+$/);
    assert.equal(await queued.getAttribute("data-base-version"), "0");
    const applied = await serverCartAt(subject, 1);
    assert.deepEqual(applied.lines.map((l) => [l.itemId, l.quantity, l.restaurantId]), [["pho-bo", 1, "pho-corner"]]);
    assert.equal(applied.lastModifiedBy, subject);
    // host.onLive told the app, which read the cart again: the server's answer, nothing waiting.
    await page.locator('.live li[data-type="cart.updated"]').first().waitFor({ timeout: 15_000 });
    await page.locator('.cart[data-version="1"][data-pending="false"] li[data-item="pho-bo"][data-quantity="1"][data-pending="false"]').waitFor({ timeout: 10_000 });
    await outboxWhen(page, "nothing", (e) => e.length === 0);
    // The BFF recorded the command under the key the host returned: the same request with that
    // key is answered from the record, with a new key it is stale.
    const replay = async (key) => {
      const r = await fetch(`${server.url}/api/cart/items/pho-bo`, {
        method: "PUT",
        headers: {
          authorization: `Bearer dev:${subject}:customer`,
          "content-type": "application/json",
          "idempotency-key": key,
          "if-match": '"0"',
        },
        body: JSON.stringify({ quantity: 1 }),
      });
      return { status: r.status, body: await r.json() };
    };
    const recorded = await replay(firstKey);
    assert.equal(recorded.status, 201, JSON.stringify(recorded.body));
    assert.equal(recorded.body.version, 1);
    assert.equal((await replay(crypto.randomUUID())).status, 412);
    let events = (await eventsOf(server.url, subject)).filter((e) => e.type === "cart.updated");
    assert.equal(events.length, 1, "applied once");

    // Offline: the command waits in the outbox and shows on top of the saved copy of the cart.
    await context.setOffline(true);
    await page.locator("button.add").click();
    await page.locator('.queued[data-count="2"]').waitFor({ timeout: 10_000 });
    assert.equal(await queued.getAttribute("data-base-version"), "1");
    assert.equal(await queued.getAttribute("data-quantity"), "2");
    const secondKey = await queued.getAttribute("data-key");
    assert.notEqual(secondKey, firstKey);
    await page.locator('.cart[data-pending="true"] li[data-item="pho-bo"][data-quantity="2"][data-pending="true"]').waitFor({ timeout: 10_000 });
    // host.onOutbox told the app the command waits.
    await page.locator('.queued[data-waiting="1"]').waitFor({ timeout: 10_000 });
    assert.equal(await cart.getAttribute("data-from-cache"), "true", "the saved copy, read offline");
    assert.equal(await cart.getAttribute("data-version"), "1");
    assert.equal(await cart.locator("li").count(), 1);
    const waiting = await outboxWhen(page, "the waiting command", (e) => e.length === 1);
    assert.equal(waiting[0].idempotencyKey, secondKey);
    assert.equal(String(waiting[0].id), await queued.getAttribute("data-id"));
    assert.equal(waiting[0].entity, `cart@${subject}`);
    assert.equal(waiting[0].subject, subject);
    assert.equal(waiting[0].baseVersion, 1);
    assert.equal(waiting[0].label, "pho-bo × 2 (host-js)");
    assert.deepEqual(waiting[0].command, { method: "PUT", path: "/api/cart/items/pho-bo", body: '{"quantity":2}' });
    assert.equal((await bffGet(subject, "/api/cart")).body.version, 1, "nothing reached the BFF offline");

    // Back online: sent, applied once, and the app shows the server's cart again.
    await context.setOffline(false);
    const later = await serverCartAt(subject, 2);
    assert.deepEqual(later.lines.map((l) => [l.itemId, l.quantity]), [["pho-bo", 2]]);
    await outboxWhen(page, "nothing", (e) => e.length === 0);
    await page.locator('.queued[data-waiting="0"]').waitFor({ timeout: 10_000 });
    await page.locator("button.refresh").click();
    await page.locator('.cart[data-version="2"][data-pending="false"] li[data-item="pho-bo"][data-quantity="2"][data-pending="false"]').waitFor({ timeout: 10_000 });
    events = (await eventsOf(server.url, subject)).filter((e) => e.type === "cart.updated");
    assert.equal(events.length, 2, "each command applied once");
    assert.deepEqual(errors, []);
    await context.close();
  });
  test("while the live link is up, a query asked again is answered from memory, until a live event says the data changed; offline, the saved copy is remembered", async () => {
    const subject = "mona";
    const { context, page, errors } = await openHostApp(subject);
    // The worker controls the page (the offline read at the end needs its saved copy).
    await controlled(page);
    await page.waitForFunction(() => window.__tessera.live === "live", null, { timeout: 15_000 });
    const fromMemory = () => page.evaluate(() => window.__tessera.fromMemory ?? 0);
    const cart = page.locator(".cart");
    const read = async () => {
      const seq = Number(await cart.getAttribute("data-reads")) + 1;
      await page.locator("button.refresh").click();
      // At least this read: one the outbox or a live event started later may supersede it.
      await page.waitForFunction((n) => Number(document.querySelector(".cart").dataset.reads) >= n, seq, { timeout: 10_000 });
    };
    // A read once live asks the server (the mount's read can predate the link, and the
    // start's outbox announcements forget answers); one of the next ones comes from memory.
    await until("a read answered from memory", async () => {
      const before = await fromMemory();
      await read();
      return (await fromMemory()) === before + 1;
    }, 10_000);
    assert.equal(await cart.getAttribute("data-version"), "0");
    assert.equal(await cart.getAttribute("data-from-cache"), "false", "a current answer");

    // A change made elsewhere reaches the page as a live event: it forgets the answer, so the
    // app's read on the event shows the change (from memory it would still show version 0).
    const r = await fetch(`${server.url}/api/cart/items/pho-bo`, {
      method: "PUT",
      headers: {
        authorization: `Bearer dev:${subject}:customer`,
        "content-type": "application/json",
        "idempotency-key": crypto.randomUUID(),
      },
      body: JSON.stringify({ quantity: 3 }),
    });
    assert.equal(r.status, 201);
    await page.locator('.live li[data-type="cart.updated"]').first().waitFor({ timeout: 15_000 });
    await page.locator('.cart[data-version="1"] li[data-item="pho-bo"][data-quantity="3"]').waitFor({ timeout: 10_000 });
    const afterEvent = await fromMemory();
    await read();
    assert.equal(await fromMemory(), afterEvent + 1, "remembered again");
    assert.equal(await cart.getAttribute("data-version"), "1");

    // Offline, the first read goes to the worker's saved copy (the live answer is forgotten:
    // events can be missed from here on), and the next ones come from memory, still marked
    // as the saved copy.
    await context.setOffline(true);
    await read();
    assert.equal(await fromMemory(), afterEvent + 1);
    assert.equal(await cart.getAttribute("data-from-cache"), "true", "the worker's saved copy");
    await read();
    assert.equal(await fromMemory(), afterEvent + 2, "the saved copy, remembered");
    assert.equal(await cart.getAttribute("data-from-cache"), "true");
    assert.equal(await cart.getAttribute("data-version"), "1");
    await context.setOffline(false);
    assert.deepEqual(errors, []);
  });
  test("a first visit draws its first page before the shell's platform module loads; a browser that holds an outbox starts it at once", async () => {
    const PLATFORM = "/platform/tessera_platform.js";
    // The app's own queries: not the sign-in settings `index.html` asks for, nor the heartbeat.
    const query = (p) => p.startsWith("/api/") && !p.startsWith("/api/auth/") && p !== "/api/health";
    const { context, page, errors, requests } = await openHostApp("petra");
    // The status bar is the platform's: it comes after the first page.
    await page.locator(".tessera-statusbar").waitFor({ timeout: 15_000 });
    const platformAt = requests.findIndex((p) => p.endsWith(PLATFORM));
    const firstQueryAt = requests.findIndex(query);
    assert.ok(firstQueryAt >= 0, `the app asked for its data: ${requests.join(" ")}`);
    assert.ok(platformAt > firstQueryAt, `the platform after the first query: ${requests.join(" ")}`);
    // Its answer, straight from the BFF, in the host's form.
    const cart = page.locator(".cart");
    assert.equal(await cart.getAttribute("data-state"), "ok");
    assert.equal(await cart.getAttribute("data-from-cache"), "false");
    assert.equal(await cart.getAttribute("data-version"), "0");

    // The platform opened this browser's outbox: from now on a page's first answers may have
    // commands to show, so the next page starts the platform before it asks for data.
    await until("the outbox database exists", () => page.evaluate(async () =>
      (await indexedDB.databases()).some((d) => d.name === "tessera-outbox")), 10_000);
    const next = await context.newPage();
    const later = [];
    next.on("request", (r) => later.push(new URL(r.url()).pathname));
    await next.goto(server.url + "/host-js");
    await next.locator('.host-js[data-ready="true"]').waitFor({ timeout: 15_000 });
    const platformNext = later.findIndex((p) => p.endsWith(PLATFORM));
    const queryNext = later.findIndex(query);
    assert.ok(platformNext >= 0 && platformNext < queryNext, `the platform first: ${later.join(" ")}`);
    assert.deepEqual(errors, []);
  });
  test("a parcel mounted without input gets props.data null, one with input a JSON copy of it", async () => {
    const { page, errors } = await openHostApp("parcel-host");
    await page.click(".mount-parcels");
    const parcels = page.locator(".parcels[data-state]");
    await parcels.waitFor({ state: "attached", timeout: 15_000 });
    assert.equal(await parcels.getAttribute("data-state"), "ok", await parcels.textContent());
    assert.equal(await page.locator(".parcel-bare .hello").getAttribute("data-data"), "null");
    assert.equal(await page.locator(".parcel-given .hello").getAttribute("data-data"), '{"n":1,"list":[1,"x"]}');
    assert.deepEqual(errors, []);
  });

  test("callers that ask for the same query while its request is on the way share that request", async () => {
    const { context, page, errors } = await openHostApp("shay");
    const answers = await page.evaluate(async () => {
      const host = window.__tessera.host;
      const before = window.__tessera.sharedRequests ?? 0;
      // Never read in this page before: not in memory, so the first call asks the server.
      const path = "/api/restaurants/pho-corner";
      const all = await Promise.all([1, 2, 3, 4, 5].map(() => host.query(path)));
      return { shared: window.__tessera.sharedRequests - before, bodies: all.map((a) => JSON.stringify(a.data)) };
    });
    // At least the four later callers: the app's own reads (of the cart, on the start's
    // outbox announcements) may share requests meanwhile too, on the same counter.
    assert.ok(answers.shared >= 4, `one request for five callers (${answers.shared} shared)`);
    assert.equal(new Set(answers.bodies).size, 1, "the same answer for each");
    assert.match(answers.bodies[0], /pho-bo/);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe("ABIs across the shell", () => {
  test("an ABI 1 app still mounts under the ABI 2 shell, reached through host.navigate", async () => {
    const { context, page, errors } = await openHostApp("abe");
    await page.locator("button.go-hello").click();
    await page.locator(".hello", { hasText: "Hello from version 1" }).waitFor({ timeout: 10_000 });
    assert.equal(new URL(page.url()).pathname, "/hello");
    await waitForStatus(page, "@fixture/hello", "MOUNTED");
    await waitForStatus(page, HOST_APP, "NOT_MOUNTED");
    assert.equal(await page.locator(".host-js").count(), 0, "host-js unmounted");
    assert.equal(await page.evaluate(() => window.__tessera.apps["@fixture/hello"].error), null);
    // The page runs both ABIs side by side: the published set says so.
    const published = await (await fetch(server.url + "/apps.json")).json();
    assert.equal(published.apps["@fixture/hello"].abi, 1);
    assert.equal(published.apps[HOST_APP].abi, 2);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("the deployer refuses to publish an app whose manifest declares ABI 3, with a clear message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tessera-abi3-"));
    try {
      const app = join(dir, "@fixture", "host-js");
      cpSync(fixture("host-js"), app, { recursive: true });
      const mfe = JSON.parse(readFileSync(join(app, "mfe.json"), "utf8"));
      assert.equal(mfe.abi, 2);
      mfe.abi = 3;
      writeFileSync(join(app, "mfe.json"), JSON.stringify(mfe, null, 2));
      const appsBefore = readFileSync(join(store, "apps.json"), "utf8");
      const snapshotsBefore = readdirSync(join(store, "_tessera", "snapshots")).sort();
      let failure;
      try {
        publish(store, app);
      } catch (e) {
        failure = e;
      }
      assert.ok(failure, "publishing ABI 3 must fail");
      assert.equal(failure.status, 1);
      assert.match(failure.stderr, /field `abi`: unknown ABI 3 \(supported: \[1, 2\]\)/, failure.stderr);
      assert.equal(readFileSync(join(store, "apps.json"), "utf8"), appsBefore, "apps.json untouched");
      assert.deepEqual(readdirSync(join(store, "_tessera", "snapshots")).sort(), snapshotsBefore, "no new snapshot");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a module built for ABI 3 under a manifest saying 2 is refused in its own mount point; the other apps keep working", async () => {
    const { context, page, errors } = await open("mia", "/abi-mismatch");
    const error = page.locator('.tessera-app[data-app="@fixture/abi-mismatch"] .tessera-app-error');
    await error.waitFor({ timeout: 10_000 });
    const message = await error.textContent();
    assert.match(message, /@fixture\/abi-mismatch was built for ABI 3 but its manifest says 2$/, message);
    await waitForStatus(page, "@fixture/abi-mismatch", "BROKEN");
    assert.equal(await page.evaluate(() => window.__abiMismatchRan), undefined, "neither bootstrap nor mount ran");
    assert.equal(await page.locator(".abi-mismatch").count(), 0);
    await waitForStatus(page, "@tessera/nav", "MOUNTED");

    // The other apps: an ABI 2 Rust app, the ABI 2 plain-JS app and an ABI 1 app.
    await page.click('.tessera-nav a[data-menu-key="restaurants"]');
    await page.locator(".restaurant-list").waitFor({ timeout: 10_000 });
    await page.click('.tessera-nav a[data-menu-key="host-js"]');
    await page.locator('.host-js[data-ready="true"] .restaurants[data-state="ok"] li').first().waitFor({ timeout: 10_000 });
    await page.click('.tessera-nav a[data-menu-key="hello"]');
    await page.locator(".hello", { hasText: "Hello from version 1" }).waitFor({ timeout: 10_000 });
    // Back to the refused app: still refused, not retried.
    await page.goBack();
    await page.goBack();
    await page.goBack();
    await error.waitFor({ timeout: 10_000 });
    assert.equal(new URL(page.url()).pathname, "/abi-mismatch");
    assert.equal((await statuses(page))["@fixture/abi-mismatch"], "BROKEN");
    assert.equal(await page.evaluate(() => window.__abiMismatchRan), undefined);
    // The refusal shows in the mount point only: no page error, no unhandled rejection.
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("an app whose published entry says ABI 3 is refused without being fetched", async () => {
    const appsPath = join(store, "apps.json");
    const original = readFileSync(appsPath, "utf8");
    const apps = JSON.parse(original);
    assert.equal(apps.apps["@fixture/hello"].abi, 1);
    apps.apps["@fixture/hello"].abi = 3;
    writeFileSync(appsPath, JSON.stringify(apps));
    try {
      const { context, page, requests, errors } = await open("ivo", "/hello");
      const error = page.locator('.tessera-app[data-app="@fixture/hello"] .tessera-app-error');
      await error.waitFor({ timeout: 10_000 });
      assert.match(await error.textContent(), /@fixture\/hello speaks ABI 3; this shell speaks \[1, 2\]/);
      assert.equal((await statuses(page))["@fixture/hello"], "BROKEN");
      assert.equal(requests.filter((p) => p.startsWith("/@fixture/hello/")).length, 0);
      await page.click('.tessera-nav a[data-menu-key="host-js"]');
      await page.locator('.host-js[data-ready="true"]').waitFor({ timeout: 10_000 });
      // As above: no page error, no unhandled rejection.
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      writeFileSync(appsPath, original);
    }
  });
});
