// Shared set-up for the end-to-end tests: stores published with the real deployer CLI, the
// real CDN server on 127.0.0.1, and Debian's Chromium driven by Playwright.
import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`cargo xtask test\``);
  return value;
}

export const BIN = required("TESSERA_DEPLOY_BIN");
export const DIST = required("TESSERA_DIST");
export const FIXTURES = process.env.TESSERA_FIXTURES ?? "";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

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

export function publish(store, dir) {
  return execFileSync(BIN, ["publish", dir, "--store", store], { encoding: "utf8", stdio: "pipe" });
}

const stores = [];
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

/** Starts the CDN server on an ephemeral port; resolves once it listens. */
export function serve(store) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ["serve", "--store", store, "--addr", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 10_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}`, close: () => child.kill() });
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
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

export function cleanup() {
  for (const s of stores.splice(0)) rmSync(s, { recursive: true, force: true });
}
