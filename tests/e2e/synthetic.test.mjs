// The synthetic check (`cargo xtask synthetic`, tests/synthetic/check.mjs) against a real site:
// its journey passes step by step and reports to the BFF for the Operations app; a broken app
// on a route fails that step, naming the app, with a non-zero exit; a bad command line is
// refused with what is wrong.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cartWhen, cleanup, fixture, newStore, publish, serve } from "./harness.mjs";

const CHECK = fileURLToPath(new URL("../synthetic/check.mjs", import.meta.url));

/** Runs the check with `args`; resolves with its exit code, stdout and stderr. */
function check(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHECK, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("synthetic checks", () => {
  let server;
  before(async () => {
    const store = newStore();
    publish(store, fixture("broken-mount"));
    server = await serve(store);
  });
  after(() => {
    server?.close();
    cleanup();
  });

  test("the journey passes step by step and is reported for the Operations app", async () => {
    const run = await check([server.url, "--dev-user", "syn:customer", "--report", "--json"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout);
    const names = result.steps.map((s) => s.name);
    for (const name of ["open", "route:/restaurants", "route:/cart", "open-restaurant", "add-to-cart", "add-to-cart-synced", "offline-reload"]) {
      assert.ok(names.includes(name), `${name} in ${names}`);
    }
    for (const s of result.steps) {
      assert.ok(s.ok && s.ms >= 0 && s.ms < 15_000, JSON.stringify(s));
    }
    assert.equal(result.reported, true);
    assert.match(result.shell, /^[0-9a-f]{8,64}$/, "the shell's version is its content hash");
    // The item really reached the BFF.
    await cartWhen(server.url, "syn", (c) => c.lines.length === 1);

    const r = await fetch(`${server.url}/api/rum/summary?since=0`, { headers: { authorization: "Bearer dev:ops:admin" } });
    const { apps } = await r.json();
    assert.deepEqual(apps.filter((a) => !a.app.startsWith("synthetic:")), [],
      "the check's own page is not counted as a real user's");
    const added = apps.find((a) => a.app === "synthetic:add-to-cart");
    assert.ok(added, JSON.stringify(apps.map((a) => a.app)));
    assert.deepEqual([added.version, added.cohorts, added.views, added.failures], [result.shell, ["synthetic"], 1, 0]);
    assert.equal(added.metrics.find((m) => m.metric === "step").count, 1);
  });

  test("a broken app fails its step, naming it, and the check exits non-zero", async () => {
    const run = await check([server.url, "--dev-user", "syn2", "--route", "/broken"]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /FAIL {2}route:\/broken .*@fixture\/broken-mount is BROKEN/);
    assert.match(run.stdout, /ok {4}route:\/restaurants/);
    assert.match(run.stdout, /of \d+ steps passed/);
  });

  test("a bad command line is refused with what is wrong", async () => {
    let run = await check([]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /name one site URL, not 0/);
    run = await check([server.url, "--timeout-ms", "soon"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--timeout-ms soon: a whole number of ms/);
    run = await check(["ftp://example.test"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /is not an http\(s\) URL/);
  });
});
