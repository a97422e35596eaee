// A team's app from its own folder, outside this workspace: `tessera-deploy new` scaffolds it,
// `tessera-deploy build` builds it, `check` passes it, `publish` adds it to a running site
// without touching any other app's files, and the shell shows its menu entry and route, where
// it reads (query), writes (command through the outbox) and follows live events.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readyLine } from "../lib/ready.mjs";
import { BIN, cartWhen, cleanup, contextAs, deploy, freePort, launch, newStore, publish, serve } from "./harness.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const NAME = "@acme/quick-cart";

let browser;
let server;
let store;
let team;
let built;
let storeBefore;
let devPort;
let dev;

/** Every file of the store with a hash of its bytes, keyed by its path in the store. */
function storeFiles(dir) {
  const out = {};
  const walk = (d) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  // Outside the workspace, as a team's own repository would be.
  team = mkdtempSync(join(tmpdir(), "tessera-team-"));
  const app = join(team, "quick-cart");
  const created = deploy(["new", app, "--name", NAME]);
  assert.match(created, /created .*src\/lib\.rs/);
  // The workspace's lock (so the app links what the workspace tested, and the registry is not
  // asked again) and its target folder (the SDK and its dependencies are built once there).
  copyFileSync(join(ROOT, "Cargo.lock"), join(app, "Cargo.lock"));
  const out = execFileSync(BIN, ["build", app, "--out", join(team, "dist")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, CARGO_TARGET_DIR: join(ROOT, "target"), TESSERA_NODE_TOOLS: join(ROOT, "tests") },
  });
  built = out.match(/^built (.+)$/m)?.[1];
  assert.ok(built, out);
  store = newStore();
  storeBefore = storeFiles(store);
  devPort = await freePort();
  browser = await launch();
}, { timeout: 600_000 });

after(async () => {
  dev?.kill();
  server?.close();
  await browser?.close();
  cleanup();
  if (team) rmSync(team, { recursive: true, force: true });
});

function putItem(subject, quantity, version) {
  return fetch(server.url + "/api/cart/items/pho-bo", {
    method: "PUT",
    headers: {
      authorization: `Bearer dev:${subject}:customer`,
      "content-type": "application/json",
      "idempotency-key": crypto.randomUUID(),
      ...(version === undefined ? {} : { "if-match": `"${version}"` }),
    },
    body: JSON.stringify({ quantity }),
  });
}

describe("a team's app built outside the workspace", () => {
  test("its own browser test passes as scaffolded", { skip: !process.env.TESSERA_WASM_TEST_RUNNER && "TESSERA_WASM_TEST_RUNNER is not set" }, () => {
    const app = join(team, "quick-cart");
    const run = spawnSync("cargo", ["test", "--target", "wasm32-unknown-unknown", "--manifest-path", join(app, "Cargo.toml")], {
      encoding: "utf8",
      env: {
        ...process.env,
        CARGO_TARGET_DIR: join(ROOT, "target"),
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: process.env.TESSERA_WASM_TEST_RUNNER,
        WASM_BINDGEN_TEST_TIMEOUT: "60",
      },
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /test shows_the_cart_and_queues_one_more \.\.\. ok/);
    const fmt = spawnSync("cargo", ["fmt", "--check", "--manifest-path", join(app, "Cargo.toml")], { encoding: "utf8" });
    assert.equal(fmt.status, 0, "the scaffold is rustfmt-clean:\n" + fmt.stdout + fmt.stderr);
  });

  test("passes the contract check, and a broken copy fails it naming file and problem", () => {
    const ok = spawnSync(BIN, ["check", built], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /0 problems/);

    const broken = join(team, "broken", NAME);
    cpSync(built, broken, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(broken, "mfe.json"), "utf8"));
    const glue = join(broken, manifest.version, "quick_cart.js");
    writeFileSync(glue, readFileSync(glue, "utf8").replace(/export function unmount/, "function unmount") + "\nfetch('/x');\n");
    manifest.abi = 7;
    writeFileSync(join(broken, "mfe.json"), JSON.stringify(manifest));
    const bad = spawnSync(BIN, ["check", broken, "--budget-kb", "1"], { encoding: "utf8" });
    assert.equal(bad.status, 3, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /problem: .*mfe\.json: field `abi`/);
    assert.match(bad.stdout, /problem: .*quick_cart\.js: its content does not match its integrity/);
    assert.match(bad.stdout, /problem: .*quick_cart\.js: field `exports`: no unmount/);
    assert.match(bad.stdout, /warning: .*over the budget of 1024 B/);
  });

  test("publishes beside the others without changing their files, and runs in the shell", async () => {
    publish(store, built);
    const after = storeFiles(store);
    const own = (path) => path.startsWith(NAME + "/");
    // The site's manifests and snapshots are rewritten by every publish; bundles never are.
    const bundle = (path) => path.startsWith("@") && !own(path);
    for (const [path, hash] of Object.entries(storeBefore).filter(([p]) => bundle(p))) {
      assert.equal(after[path], hash, `${path} changed`);
    }
    assert.deepEqual(
      Object.keys(after).filter(bundle).sort(),
      Object.keys(storeBefore).filter(bundle).sort(),
      "no other app's file was added or removed",
    );
    assert.ok(Object.keys(after).some(own), "the team's bundle is in the store");

    // The site lets this browser override apps from the team's dev server (the next test).
    server = await serve(store, { args: ["--override-origin", `http://127.0.0.1:${devPort}`] });
    const subject = "tove";
    assert.equal((await putItem(subject, 1)).status, 201);
    const context = await contextAs(browser, subject);
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url + "/restaurants");
    // The menu shows the team's entry; following it mounts the app at its route.
    const link = page.locator('nav.tessera-nav a[href="/quick-cart"]');
    await link.waitFor({ timeout: 15_000 });
    assert.match(await link.innerText(), /Quick cart/);
    await link.click();
    const line = page.locator('li[data-item="pho-bo"]');
    await line.locator(".quantity", { hasText: "1" }).waitFor({ timeout: 15_000 });
    assert.equal(new URL(page.url()).pathname, "/quick-cart");

    // A command through the shell's outbox reaches the BFF.
    await line.locator("button.more").click();
    await line.locator(".quantity", { hasText: "2" }).waitFor({ timeout: 10_000 });
    const cart = await cartWhen(server.url, subject, (c) => c.lines.some((l) => l.itemId === "pho-bo" && l.quantity === 2));

    // A change made elsewhere arrives as a live event, and the app reads the cart again.
    const changed = await putItem(subject, 5, cart.version);
    assert.ok(changed.ok, `PUT answered ${changed.status}`);
    await line.locator(".quantity", { hasText: "5" }).waitFor({ timeout: 15_000 });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("the dev loop serves it, rebuilds on a change, and the site runs the change for this browser", async () => {
    const app = join(team, "quick-cart");
    dev = spawn(BIN, ["dev", app, "--addr", `127.0.0.1:${devPort}`, "--site", server.url], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, CARGO_TARGET_DIR: join(ROOT, "target"), TESSERA_NODE_TOOLS: join(ROOT, "tests") },
    });
    let printed = "";
    dev.stdout.on("data", (chunk) => (printed += chunk));
    const [, link] = await readyLine(dev, dev.stdout, /^open: (\S+)$/m, "tessera-deploy dev", 240_000);
    assert.ok(link.startsWith(server.url + "/?tessera-override="), link);

    const lib = join(app, "src/lib.rs");
    writeFileSync(lib, readFileSync(lib, "utf8").replace('el("h1").text("Quick cart")', 'el("h1").text("Quick cart, edited")'));
    const deadline = Date.now() + 240_000;
    while (!/^rebuilt /m.test(printed)) {
      assert.ok(Date.now() < deadline, `no rebuild after the change; it printed:\n${printed}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const edited = await contextAs(browser, "tove");
    const page = await edited.newPage();
    await page.goto(link.replace("/?", "/quick-cart?"));
    await page.locator("h1", { hasText: "Quick cart, edited" }).waitFor({ timeout: 20_000 });
    // Another browser still gets the published build.
    const other = await contextAs(browser, "tove");
    const published = await other.newPage();
    await published.goto(server.url + "/quick-cart");
    await published.locator("li[data-item='pho-bo']").waitFor({ timeout: 20_000 });
    assert.equal(await published.locator("h1", { hasText: "edited" }).count(), 0);
    await edited.close();
    await other.close();
  });
});
