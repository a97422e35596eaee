// Local overrides: `tessera-deploy dev` serves a local build of cart, and one browser loads it
// in place of the published cart where the site allows overrides from that origin; another
// browser context keeps the published one, a site that does not allow overrides ignores it and
// says so, and a broken override fails in cart's own mount point only.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readyLine } from "../lib/ready.mjs";
import { BIN, cleanup, contextAs, freePort, launch, newStore, serve } from "./harness.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CART = "@tessera/cart";

let browser;
let dev;
let devOrigin;
let override;
let allowing;
let plain;

before(async () => {
  const port = await freePort();
  devOrigin = `http://127.0.0.1:${port}`;
  dev = spawn(BIN, ["dev", join(ROOT, "micro-apps/cart"), "--addr", `127.0.0.1:${port}`], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, TESSERA_NODE_TOOLS: join(ROOT, "tests") },
  });
  [, override] = await readyLine(dev, dev.stdout, /^override: (\S+)$/m, "tessera-deploy dev", 240_000);
  assert.equal(override, `${CART}=${devOrigin}/cart.js`);
  const store = newStore();
  allowing = await serve(store, { args: ["--override-origin", devOrigin] });
  plain = await serve(store);
  browser = await launch();
}, { timeout: 300_000 });

after(async () => {
  allowing?.close();
  plain?.close();
  dev?.kill();
  await browser?.close();
  cleanup();
});

/** Opens `path` on `server` in a fresh context; resolves the page, the cart files it
 * requested and the errors it threw. */
async function open(server, path) {
  const context = await contextAs(browser, "ola");
  const page = await context.newPage();
  const cartFiles = [];
  const errors = [];
  page.on("request", (r) => {
    if (/\/cart(_bg)?\.(js|wasm)/.test(r.url())) cartFiles.push(r.url());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url + path);
  return { context, page, cartFiles, errors };
}

const param = (value) => `?tessera-override=${encodeURIComponent(value)}`;
const cartShown = (page) => page.locator(`section[data-app="${CART}"] .empty`).waitFor({ timeout: 20_000 });

describe("local overrides", () => {
  test("one browser runs the local build of cart; another keeps the published one", async () => {
    const a = await open(allowing, "/cart" + param(override));
    await cartShown(a.page);
    assert.ok(a.cartFiles.length > 0 && a.cartFiles.every((u) => u.startsWith(devOrigin)), a.cartFiles.join("\n"));
    const notice = a.page.locator(`.tessera-statusbar .tessera-override[data-app="${CART}"]`);
    assert.equal(await notice.getAttribute("data-state"), "active");
    assert.match(await notice.innerText(), new RegExp(`Override: ${CART} from ${devOrigin}/cart.js`));
    // The parameter went into this browser's storage and out of the address bar.
    assert.equal(new URL(a.page.url()).search, "");
    assert.deepEqual(JSON.parse(await a.page.evaluate(() => localStorage.getItem("tessera.overrides"))), {
      [CART]: `${devOrigin}/cart.js`,
    });
    // A reload keeps it.
    a.cartFiles.length = 0;
    await a.page.reload();
    await cartShown(a.page);
    assert.ok(a.cartFiles.every((u) => u.startsWith(devOrigin)), a.cartFiles.join("\n"));

    const b = await open(allowing, "/cart");
    await cartShown(b.page);
    assert.ok(b.cartFiles.length > 0 && b.cartFiles.every((u) => u.startsWith(allowing.url + "/@tessera/cart/")), b.cartFiles.join("\n"));
    assert.equal(await b.page.locator(".tessera-override").count(), 0);

    // Clearing goes back to the published cart.
    a.cartFiles.length = 0;
    await Promise.all([a.page.waitForEvent("load"), a.page.locator("button.tessera-clear-overrides").click()]);
    await cartShown(a.page);
    assert.ok(a.cartFiles.every((u) => u.startsWith(allowing.url)), a.cartFiles.join("\n"));
    assert.equal(await a.page.locator(".tessera-override").count(), 0);
    assert.deepEqual([...a.errors, ...b.errors], []);
    await a.context.close();
    await b.context.close();
  });

  test("a site that does not allow overrides ignores one and says so", async () => {
    const c = await open(plain, "/cart" + param(override));
    await cartShown(c.page);
    assert.ok(c.cartFiles.length > 0 && c.cartFiles.every((u) => u.startsWith(plain.url)), c.cartFiles.join("\n"));
    const notice = c.page.locator(`.tessera-override[data-app="${CART}"]`);
    assert.equal(await notice.getAttribute("data-state"), "ignored");
    assert.match(await notice.innerText(), /ignored: this site does not allow overrides/);
    await c.context.close();
  });

  test("a broken override fails in its own mount point only", async () => {
    const d = await open(allowing, "/cart" + param(`${CART}=${devOrigin}/missing.js`));
    const error = d.page.locator(`section[data-app="${CART}"] .tessera-app-error`);
    await error.waitFor({ timeout: 20_000 });
    assert.match(await error.innerText(), /@tessera\/cart is unavailable: could not load the override/);
    // Everything else runs: the menu, and the other routes.
    await d.page.locator('nav.tessera-nav a[href="/restaurants"]').click();
    await d.page.locator(".restaurant-list, [data-app='@tessera/restaurants'] li").first().waitFor({ timeout: 20_000 });
    await d.context.close();
  });
});
