// Shared set-up for the end-to-end tests: stores published with the real deployer CLI, the
// real BFF (serving the API and the store as the CDN) on 127.0.0.1 with its own SQLite
// database, and Debian's Chromium driven by Playwright.
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { readyLine } from "../lib/ready.mjs";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`cargo xtask test\``);
  return value;
}

export const BIN = required("TESSERA_DEPLOY_BIN");
export const BFF_BIN = required("TESSERA_BFF_BIN");
export const DIST = required("TESSERA_DIST");
export const FIXTURES = process.env.TESSERA_FIXTURES ?? "";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** The packaged folders in dist/, the shell first (it must be published first). */
export function builtApps() {
  const scope = join(DIST, "@tessera");
  const dirs = readdirSync(scope).map((d) => join(scope, d));
  const shell = dirs.filter((d) => existsSync(join(d, "shell.json")));
  const apps = dirs.filter((d) => existsSync(join(d, "mfe.json"))).sort();
  return [...shell, ...apps];
}

/** A packaged fixture: FIXTURES/<label>/@fixture/<name>. */
export function fixture(label) {
  const scope = join(FIXTURES, label, "@fixture");
  const [name] = readdirSync(scope);
  return join(scope, name);
}

/** `tessera-deploy publish dir --store store [...extra]`, with `env` added to the environment. */
export function publish(store, dir, extra = [], env = {}) {
  return execFileSync(BIN, ["publish", dir, "--store", store, ...extra], {
    encoding: "utf8",
    stdio: "pipe",
    env: { ...process.env, ...env },
  });
}

/** Any other `tessera-deploy` command. */
export function deploy(args, env = {}) {
  return execFileSync(BIN, args, { encoding: "utf8", stdio: "pipe", env: { ...process.env, ...env } });
}

const stores = [];
export { freePort } from "../lib/ports.mjs";

/** A fresh store holding the shell and every demo app. */
export function newStore() {
  const store = mkdtempSync(join(tmpdir(), "tessera-e2e-"));
  stores.push(store);
  for (const dir of builtApps()) publish(store, dir);
  return store;
}

export function copyStoreFile(from, to) {
  cpSync(from, to);
}

/** Starts the BFF serving `store` on an ephemeral port (or `port`), with a fresh database (or
 * the one in `data`); resolves once it listens. The kitchen moves orders on every
 * `kitchenStepMs`. It accepts development tokens, or with `oidcIssuer` only tokens that
 * provider signed. `store` is a folder or an `s3://` URL (with the AWS variables in `env`);
 * `args` are more of the BFF's flags. The
 * answer's `child` is the process, `data` its database folder. */
export async function serve(store, { kitchenStepMs = 300, data, port = 0, oidcIssuer, env, args: extra = [] } = {}) {
  if (!data) {
    data = mkdtempSync(join(tmpdir(), "tessera-e2e-data-"));
    stores.push(data);
  }
  // Development tokens, unless the test signs users in at a real provider.
  const auth = oidcIssuer ? ["--oidc-issuer", oidcIssuer] : ["--dev-tokens"];
  const args = ["--store", store, "--data-dir", data, "--addr", `127.0.0.1:${port}`, "--kitchen-step-ms", String(kitchenStepMs), ...auth, ...extra];
  const child = spawn(BFF_BIN, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  const [, bound] = await readyLine(child, child.stdout, /http:\/\/127\.0\.0\.1:(\d+)\//, "the BFF");
  return { url: `http://127.0.0.1:${bound}`, port: Number(bound), data, child, close: () => child.kill() };
}

export const LAUNCH_ARGS = [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}

/** A browser with a profile on disk: `browser.newContext()` contexts are incognito, where
 * Chromium never offers to install an app. */
export function launchWithProfile() {
  const dir = mkdtempSync(join(tmpdir(), "tessera-profile-"));
  stores.push(dir);
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args: LAUNCH_ARGS });
}

/** Registers hooks that launch a browser and serve a fresh store before the file's tests,
 * and close both after; `ready(browser, server)` receives them. */
export function browserAndServer(ready) {
  let browser;
  let server;
  before(async () => {
    browser = await launch();
    server = await serve(newStore());
    ready(browser, server);
  });
  after(async () => {
    server?.close();
    await browser?.close();
    cleanup();
  });
}

/** Opens Pho Corner's menu (of the server at `url`) in a new page of `context` and waits until its worker controls it
 * and its read-ahead is done; then goes offline and queues one "Add to cart" of pho-bo by a
 * real click. Returns the page, the page errors it collects, and that outbox entry (the shape
 * of a real one, to write more beside it with [`appendToOutbox`]). */
export async function queueOneClickOffline(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${url}/restaurants/pho-corner`);
  await page.locator('.menu-item[data-item="pho-bo"] button.add').waitFor({ timeout: 30_000 });
  await controlled(page);
  await page.waitForFunction(() => (window.__tessera?.readAhead ?? 0) > 0, null, { timeout: 30_000 });
  await context.setOffline(true);
  const row = page.locator('.menu-item[data-item="pho-bo"]');
  await row.locator("button.add").click();
  await row.locator('.added[data-saved="true"]', { hasText: /^1 in cart$/ }).waitFor({ timeout: 10_000 });
  const [first] = await outboxEntries(page);
  return { page, errors, first };
}

/** Writes `entries` into the page's outbox after what is there, as the store's enqueue does
 * (ids from the counter, the generation moved on so every copy is read again). */
export const appendToOutbox = (page, entries) => page.evaluate((entries) => new Promise((resolve, reject) => {
  const open = indexedDB.open("tessera-outbox");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(["entries", "meta"], "readwrite", { durability: "strict" });
    const meta = tx.objectStore("meta");
    const next = meta.get("nextId");
    next.onsuccess = () => {
      let id = next.result;
      for (const e of entries) {
        tx.objectStore("entries").add(JSON.stringify({ ...e, id }), id);
        id += 1;
      }
      meta.put(id, "nextId");
      const generation = meta.get("generation");
      generation.onsuccess = () => meta.put((generation.result ?? 0) + 1, "generation");
    };
    tx.oncomplete = () => { db.close(); resolve(); };
    tx.onerror = () => reject(tx.error);
  };
}), entries);

/** The outbox's entries as stored in the page's IndexedDB (`tessera-outbox`), parsed. */
export function outboxEntries(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open("tessera-outbox");
    // Looking must not create the database: the shell's first open has to see it missing.
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = () => (open.error?.name === "AbortError" ? resolve([]) : reject(open.error));
    open.onsuccess = () => {
      const db = open.result;
      const req = db.transaction("entries").objectStore("entries").getAll();
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        db.close();
        resolve(req.result.map((text) => JSON.parse(text)));
      };
    };
  }));
}

/** Every app's status as the shell reports it on window.__tessera. */
export function statuses(page) {
  return page.evaluate(() => {
    const apps = window.__tessera?.apps ?? {};
    return Object.fromEntries(Object.entries(apps).map(([k, v]) => [k, v.status]));
  });
}

export async function waitForStatus(page, app, status) {
  await page.waitForFunction(
    ([a, s]) => window.__tessera?.apps?.[a]?.status === s,
    [app, status],
    { timeout: 10_000 },
  );
}

/** A browser context whose shell signs in as the development user `subject`. */
export async function contextAs(browser, subject, roles = ["customer"], options = {}) {
  const context = await browser.newContext(options);
  const session = { userName: subject, idToken: `dev:${subject}:${roles.join(",")}`, roles };
  await context.addInitScript((s) => localStorage.setItem("tessera.devSession", JSON.stringify(s)), session);
  return context;
}

export function cleanup() {
  for (const s of stores.splice(0)) rmSync(s, { recursive: true, force: true });
}

/** The BFF's (at `url`) cart of `subject` once `check(cart)` holds; fails after `ms`. */
export async function cartWhen(url, subject, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await fetch(url + "/api/cart", { headers: { authorization: `Bearer dev:${subject}:customer` } });
    const cart = await r.json();
    if (check(cart)) return cart;
    if (Date.now() > deadline) throw new Error(`the cart of ${subject} never got there: ${JSON.stringify(cart)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every event the BFF at `url` shows `subject` (admins see all), oldest first. */
export async function eventsOf(url, subject, roles = "customer") {
  const headers = { authorization: `Bearer dev:${subject}:${roles}` };
  const out = [];
  let after = 0;
  for (;;) {
    const page = await (await fetch(`${url}/api/events?after=${after}&limit=100`, { headers })).json();
    out.push(...page.items);
    if (page.items.length === 0) return out;
    after = Number(page.nextCursor);
  }
}

/** Waits until a service worker is active and controls the page. */
export async function controlled(page) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
}

/** The controlling worker's own account of its shell release, stamp and precache set. */
export function workerStatus(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data);
    navigator.serviceWorker.controller.postMessage({ type: "tessera:sw-status" }, [channel.port2]);
  }));
}

/** Polls `probe` every 100 ms until it returns a truthy value (which is returned); fails naming
 * `what` after `ms`. */
export async function until(what, probe, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await probe();
    if (last) return last;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An admin renames `item` of Phở Corner's menu, straight to the BFF at `url`. */
export async function renameDish(url, item, name) {
  const base = `${url}/api/restaurants/pho-corner`;
  const found = (await (await fetch(base)).json()).menu.find((i) => i.id === item);
  const r = await fetch(`${base}/menu/${item}`, {
    method: "PUT",
    headers: {
      authorization: "Bearer dev:ada:admin",
      "idempotency-key": randomUUID(),
      "if-match": `"${found.version}"`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ name, priceCents: found.priceCents, available: true }),
  });
  assert.equal(r.status, 200, await r.text());
}
