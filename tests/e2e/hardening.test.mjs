// What a manifest or a changed file in the store cannot do: markup in a menu label renders as
// text, and a bundle file changed after publishing is not run (its app shows the integrity
// error in its own mount point, the others keep working). The page runs under a
// Content-Security-Policy with a per-response nonce.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, contextAs, fixture, launch, newStore, publish, serve, waitForStatus } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  cleanup();
});

/** The folder in `store` holding the published bundle of `app`. */
function bundleDir(store, app) {
  const entry = JSON.parse(readFileSync(join(store, "importmap.json"), "utf8")).imports[app];
  return join(store, entry.slice(1, entry.lastIndexOf("/")));
}

describe("hardening", () => {
  test("markup in a manifest's menu label and icon is shown as text, never run", async () => {
    const store = newStore();
    publish(store, fixture("script-label"));
    const server = await serve(store);
    const context = await contextAs(browser, "xena");
    const page = await context.newPage();
    const violations = [];
    page.on("console", (m) => m.text().includes("Content Security Policy") && violations.push(m.text()));
    await page.goto(server.url + "/restaurants");
    const link = page.locator('.tessera-nav a[data-menu-key="script-label"]');
    await link.waitFor({ timeout: 10_000 });
    const text = await link.textContent();
    assert.ok(text.includes("<script>window.__injected = 1</script>"), text);
    assert.ok(text.includes("<b>!</b>"), text);
    assert.equal(await link.locator("img, script, b").count(), 0, "no element was made from the label");
    await link.click();
    await page.locator(".script-label").waitFor();
    assert.equal(await page.evaluate(() => window.__injected), undefined);
    assert.deepEqual(violations, [], "the page's own scripts all pass its policy");
    await context.close();
    server.close();
  });

  test("a bundle file changed after publishing is not run; its app shows why, the others keep working", async () => {
    const store = newStore();
    // restaurants: its wasm; cart: its entry module.
    const restaurants = bundleDir(store, "@tessera/restaurants");
    const wasm = readdirSync(restaurants).find((f) => f.endsWith(".wasm"));
    const bytes = readFileSync(join(restaurants, wasm));
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(restaurants, wasm), bytes);
    const cart = bundleDir(store, "@tessera/cart");
    writeFileSync(join(cart, "cart.js"), readFileSync(join(cart, "cart.js"), "utf8") + "\nwindow.__tampered = true;\n");
    const server = await serve(store);
    const context = await contextAs(browser, "tess");
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants");
    await waitForStatus(page, "@tessera/restaurants", "LOAD_ERROR");
    const error = await page.evaluate(() => window.__tessera.apps["@tessera/restaurants"].error);
    assert.match(error, new RegExp(`${wasm}.*does not match its published integrity`));
    await page.locator(".mp-main .tessera-app-error", { hasText: "does not match its published integrity" }).waitFor();
    // The broken app fails fast on its integrity check; nav may still be loading then.
    await waitForStatus(page, "@tessera/nav", "MOUNTED");

    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await waitForStatus(page, "@tessera/cart", "LOAD_ERROR");
    assert.match(
      await page.evaluate(() => window.__tessera.apps["@tessera/cart"].error),
      /cart\.js does not match its published integrity/,
    );
    assert.equal(await page.evaluate(() => window.__tampered), undefined, "the changed module never ran");
    await context.close();
    server.close();
  });
});
