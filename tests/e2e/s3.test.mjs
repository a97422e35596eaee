// Deploys to a real S3 API (moto's server on 127.0.0.1): every demo app published to a bucket
// with the deployer's CLI, the shell loading them through the BFF's CDN reading that bucket;
// rolling one app back changes what new page loads get and nothing else; a cohort release
// gives the new version to the users in the cohort only, the same answer every time.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { builtApps, cleanup, contextAs, deploy, fixture, freePort, launch, publish, serve } from "./harness.mjs";

const MOTO = process.env.TESSERA_MOTO_SERVER;
if (!MOTO) throw new Error("TESSERA_MOTO_SERVER is not set: run the tests with `cargo xtask test`");
const BUCKET = "tessera-e2e";
const STORE = `s3://${BUCKET}/site`;

let moto;
let env;
let browser;
let server;

async function startMoto() {
  const port = await freePort();
  const child = spawn(MOTO, ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${endpoint}/moto-api/`)).status > 0) return { child, endpoint };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill();
  throw new Error(`moto_server (${MOTO}) did not answer within 60 s`);
}

before(async () => {
  moto = await startMoto();
  const created = await fetch(`${moto.endpoint}/${BUCKET}`, { method: "PUT" });
  assert.equal(created.status, 200, await created.text());
  env = {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ALLOW_HTTP: "true",
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "tessera-e2e",
    AWS_SECRET_ACCESS_KEY: "tessera-e2e-secret",
  };
  for (const dir of builtApps()) publish(STORE, dir, [], env);
  publish(STORE, fixture("hello-v1"), [], env);
  browser = await launch();
  server = await serve(STORE, { env });
});

after(async () => {
  server?.close();
  await browser?.close();
  moto?.child.kill();
  cleanup();
});

/** The text the hello fixture shows to `subject` with `roles` in a fresh browser context. */
async function helloFor(subject, roles = ["customer"]) {
  const context = await contextAs(browser, subject, roles);
  const page = await context.newPage();
  await page.goto(server.url + "/hello");
  const text = await page.locator(".hello").textContent({ timeout: 15_000 });
  await context.close();
  return text;
}

const appsJson = async () => (await fetch(`${server.url}/apps.json`)).json();

/** The share of users a percent cohort admits: FNV-1a 64 over the app name, a 0 byte and the
 * subject, mod 100 (as `tessera_shared::cohort::percent_bucket` computes it). */
function bucket(app, subject) {
  let h = 0xcbf29ce484222325n;
  for (const b of [...Buffer.from(app), 0, ...Buffer.from(subject)]) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return Number(h % 100n);
}

describe("deploys to an S3 bucket", () => {
  test("the shell and every app load from the bucket", async () => {
    const context = await contextAs(browser, "sam");
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list .card").first().waitFor({ timeout: 15_000 });
    const status = () => page.evaluate(() => window.__tessera.apps);
    assert.equal((await status())["@tessera/restaurants"].status, "MOUNTED");
    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator(".cart h1").waitFor({ timeout: 15_000 });
    for (const app of ["@tessera/nav", "@tessera/cart"]) {
      assert.equal((await status())[app].status, "MOUNTED", app);
    }
    // Every file the live manifests name is in the bucket with its published hash (a problem
    // would make the command exit 3, and execFileSync throw).
    assert.match(deploy(["verify", "--store", STORE], env), /objects checked, 0 problems/);
    await context.close();
  });

  test("rolling one app back changes new page loads for that app only", async () => {
    publish(STORE, fixture("hello-v2"), [], env);
    assert.equal(await helloFor("rob"), "Hello from version 2");
    const before = await appsJson();
    deploy(["rollback", "@fixture/hello", "--store", STORE], env);
    assert.equal(await helloFor("rob"), "Hello from version 1");
    const after = await appsJson();
    for (const [name, entry] of Object.entries(after.apps)) {
      if (name !== "@fixture/hello") assert.equal(entry.version, before.apps[name].version, name);
    }
    assert.notEqual(after.apps["@fixture/hello"].version, before.apps["@fixture/hello"].version);
  });

  test("a cohort gets the new version, everyone else the released one, the same each time", async () => {
    // v1 is released (after the rollback above); v2 goes to beta testers first.
    publish(STORE, fixture("hello-v2"), ["--cohort", "role:beta"], env);
    assert.equal(await helloFor("bea", ["customer", "beta"]), "Hello from version 2");
    assert.equal(await helloFor("carl"), "Hello from version 1");
    assert.equal(await helloFor("bea", ["customer", "beta"]), "Hello from version 2", "the same again");

    // Half of all users, by a stable hash of the user: each sees the side the hash puts them on.
    deploy(["abort", "@fixture/hello", "--store", STORE], env);
    publish(STORE, fixture("hello-v2"), ["--cohort", "percent:50"], env);
    const users = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"];
    const expected = users.map((u) => (bucket("@fixture/hello", u) < 50 ? "Hello from version 2" : "Hello from version 1"));
    assert.ok(new Set(expected).size === 2, "the sample has users on both sides");
    for (const [i, u] of users.entries()) {
      assert.equal(await helloFor(u), expected[i], u);
    }
    assert.equal(await helloFor("u1"), expected[0], "the same user lands on the same side again");

    deploy(["promote", "@fixture/hello", "--store", STORE], env);
    assert.equal(await helloFor("carl"), "Hello from version 2", "promoted: everyone");
  });
});
