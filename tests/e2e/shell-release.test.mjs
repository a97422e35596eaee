// A new shell release does not need new apps: ABI 2 apps, built once, keep reading and writing
// through the host services of a shell published after them. `cargo xtask e2e` packages the
// shell of the last build a second time, as a new release (`$TESSERA_FIXTURES/shell-next`).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cartWhen, cleanup, contextAs, FIXTURES, launch, newStore, publish, serve } from "./harness.mjs";

let browser;
let store;
let server;
before(async () => {
  browser = await launch();
  store = newStore();
  server = await serve(store);
});
after(async () => {
  server?.close();
  await browser?.close();
  cleanup();
});

const published = () => JSON.parse(readFileSync(join(store, "apps.json"), "utf8"));

/** Opens a restaurant's menu as `subject` in a fresh context; returns the page and the paths of
 * the bundle files it loaded. */
async function openMenu(subject) {
  const context = await contextAs(browser, subject);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const bundles = [];
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/@tessera/")) bundles.push(path);
  });
  await page.goto(server.url + "/restaurants/pho-corner");
  await page.locator('.menu-item[data-item="pho-bo"] button.add').waitFor({ timeout: 15_000 });
  return { context, page, bundles, errors };
}

const shellOf = (bundles) => bundles.find((p) => /^\/@tessera\/shell\/[^/]+\/shell\.js$/.test(p));
const appFiles = (bundles) => bundles.filter((p) => !p.startsWith("/@tessera/shell/")).sort();

describe("a shell release without app releases", () => {
  test("ABI 2 apps built for the old shell read and write through the new one", async () => {
    const before = await openMenu("rhea");
    const oldShell = shellOf(before.bundles);
    assert.ok(oldShell, `the page loaded a shell: ${before.bundles}`);
    await before.page.click('.menu-item[data-item="pho-bo"] button.add');
    await cartWhen(server.url, "rhea", (c) => c.version === 1);
    await before.context.close();
    const appsBefore = published().apps;

    publish(store, join(FIXTURES, "shell-next", "@tessera", "shell"));
    const appsAfter = published().apps;
    for (const [name, entry] of Object.entries(appsBefore)) {
      assert.equal(appsAfter[name]?.version, entry.version, `${name} was not republished`);
    }

    const after = await openMenu("rhea");
    const newShell = shellOf(after.bundles);
    assert.ok(newShell && newShell !== oldShell, `a new shell release runs: ${oldShell} → ${newShell}`);
    assert.deepEqual(
      appFiles(after.bundles).filter((p) => !before.bundles.includes(p)),
      [],
      "every app file the page loaded is one the old shell loaded too",
    );
    // The menu came through host.query; the add goes through host.command and the outbox.
    await after.page.click('.menu-item[data-item="pho-bo"] button.add');
    const cart = await cartWhen(server.url, "rhea", (c) => c.version === 2);
    assert.equal(cart.lines.find((l) => l.itemId === "pho-bo")?.quantity, 2);
    await after.page.locator(".tessera-nav .badge", { hasText: "2" }).waitFor({ timeout: 15_000 });
    assert.deepEqual(after.errors, []);
    assert.deepEqual(before.errors, []);
    await after.context.close();
  });
});
