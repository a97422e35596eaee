// A synthetic check: a scripted user journey against any deployed Tessera site, in headless
// Chromium (Debian's, driven by playwright-core), with each step's time and failure. Run it as
// `cargo xtask synthetic <site URL> [options]` (which installs what it needs); see `--help`.
//
// Steps: open the site; sign in at the provider's login form (with --user/--password) or act as
// a development user (--dev-user, for a BFF started with --dev-tokens); every route the nav
// links to, and any --route; add the first available item of the first restaurant to the cart
// (shown, then taken by the server); reload that page offline (the service worker must answer). A step passes when the page has
// settled (no app loading, bootstrapping, mounting or unmounting, nothing with class `loading`
// shown) without an app going BROKEN or LOAD_ERROR and without an error alert in an app.
// Exit status: 0 when every step passed, 1 when one failed, 2 for a bad command line.
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const USAGE = `usage: cargo xtask synthetic <site URL> [options]
  --user NAME --password PASSWORD   sign in at the site's OpenID Connect provider's login form
  --dev-user SUBJECT[:ROLE,ROLE]    act as this development user (BFF with --dev-tokens);
                                    default customer role
  --route PATH                      a route to visit besides the nav's (repeatable)
  --report                          post the steps to the site's /api/rum as the signed-in user
                                    (or with --token TOKEN), for the Operations app
  --json                            print the result as JSON instead of a table
  --timeout-ms N                    how long one step may take (default 15000)`;

const STEP_NAME = /[^A-Za-z0-9._@/:-]/g;
const BUSY = ["LOADING", "BOOTSTRAPPING", "MOUNTING", "UNMOUNTING"];
const FAILED = ["BROKEN", "LOAD_ERROR"];

function usage(message) {
  if (message) console.error(`synthetic: ${message}\n`);
  console.error(USAGE);
  process.exit(2);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        user: { type: "string" },
        password: { type: "string" },
        "dev-user": { type: "string" },
        route: { type: "string", multiple: true, default: [] },
        report: { type: "boolean", default: false },
        token: { type: "string" },
        json: { type: "boolean", default: false },
        "timeout-ms": { type: "string", default: "15000" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) usage();
  if (positionals.length !== 1) usage(`name one site URL, not ${positionals.length}`);
  let site;
  try {
    site = new URL(positionals[0]);
  } catch {
    usage(`"${positionals[0]}" is not a URL`);
  }
  if (!["http:", "https:"].includes(site.protocol)) usage(`"${site}" is not an http(s) URL`);
  if (Boolean(v.user) !== Boolean(v.password)) usage("--user and --password go together");
  if (v.user && v["dev-user"]) usage("--user and --dev-user exclude each other");
  const timeout = Number(v["timeout-ms"]);
  if (!Number.isInteger(timeout) || timeout < 100) usage(`--timeout-ms ${v["timeout-ms"]}: a whole number of ms, at least 100`);
  for (const r of v.route) if (!r.startsWith("/")) usage(`--route ${r}: a path starting with /`);
  let dev = null;
  if (v["dev-user"]) {
    const [subject, roles = "customer"] = v["dev-user"].split(":");
    if (!/^[A-Za-z0-9._-]+$/.test(subject)) usage(`--dev-user ${v["dev-user"]}: a subject of letters, digits, '.', '_' or '-'`);
    dev = { userName: subject, idToken: `dev:${subject}:${roles}`, roles: roles.split(",") };
  }
  return { site: site.origin, ...v, dev, timeout, routes: v.route };
}

/** In the page: resolves with the ms (page clock) when it has settled, or rejects naming what
 * failed. `since` holds the statuses before the step: only new failures count. */
function settle([timeout, busy, failed, before]) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let calm = 0;
    const tick = () => {
      const apps = window.__tessera?.apps ?? {};
      const broken = Object.entries(apps).find(([n, a]) => failed.includes(a.status) && before[n] !== a.status);
      if (broken) return reject(new Error(`${broken[0]} is ${broken[1].status}: ${broken[1].error ?? "no error given"}`));
      const alert = [...document.querySelectorAll(".tessera-app-error, .parcel-error")].find((e) => e.checkVisibility());
      if (alert) return reject(new Error(`an app shows "${alert.textContent.trim()}"`));
      const settled = document.querySelector(".tessera-nav a")
        && !Object.values(apps).some((a) => busy.includes(a.status))
        && ![...document.querySelectorAll(".loading")].some((e) => e.checkVisibility());
      // Settled for two frames in a row: an activation the last step started is under way.
      calm = settled ? calm + 1 : 0;
      if (calm >= 2) return resolve(performance.now());
      if (performance.now() - start > timeout) {
        const what = Object.entries(apps).filter(([, a]) => busy.includes(a.status)).map(([n, a]) => `${n} ${a.status}`);
        return reject(new Error(`not settled after ${timeout} ms${what.length ? `: ${what.join(", ")}` : " (something shows .loading)"}`));
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

const statusesOf = (page) => page.evaluate(() =>
  Object.fromEntries(Object.entries(window.__tessera?.apps ?? {}).map(([n, a]) => [n, a.status])));

/** `act()` (a click, a reload) and the page settling after it, timed from just before it. */
async function timed(page, timeout, act) {
  const before = await statusesOf(page);
  const t0 = Date.now();
  await act();
  await page.waitForFunction(() => document.readyState !== "loading" && window.__tessera, null, { timeout });
  await page.evaluate(settle, [timeout, BUSY, FAILED, before]);
  return Date.now() - t0;
}

async function clickAndSettle(page, timeout, locator) {
  return timed(page, timeout, () => locator.click({ timeout }));
}

/** Fills the provider's login form (one page, or name then password) and waits to be back. */
async function signIn(page, opts) {
  await page.locator(".tessera-account button.sign-in").click({ timeout: opts.timeout });
  await page.waitForURL((url) => url.origin !== opts.site, { timeout: opts.timeout });
  const name = page.locator('input[name="login"], input[name="username"], input[type="email"], input[type="text"]').first();
  await name.fill(opts.user, { timeout: opts.timeout });
  const password = page.locator('input[type="password"]').first();
  if (!(await password.isVisible())) await name.press("Enter");
  await password.fill(opts.password, { timeout: opts.timeout });
  await password.press("Enter");
  await page.waitForURL((url) => url.origin === opts.site, { timeout: opts.timeout });
  await page.locator(".tessera-account .user").waitFor({ timeout: opts.timeout });
}

/** The signed-in user's token, as the shell sends it now (`window.__tessera.token`). */
function tokenOf(page) {
  return page.evaluate(() => window.__tessera?.token ?? null);
}

/** The shell's version as the page loaded it: the content hash in its bundle's URL. */
function shellVersion(page) {
  return page.evaluate(() => {
    const url = performance.getEntriesByType("resource").map((e) => e.name).find((n) => /\/shell\.js(\?|$)/.test(n));
    return url?.match(/\/([0-9a-f]{8,64})\/shell\.js/)?.[1] ?? "unknown";
  });
}

async function journey(opts) {
  const steps = [];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
  });
  let shell = "unknown";
  let token = opts.token ?? null;
  try {
    const context = await browser.newContext();
    // The check reports its own steps: its page views must not count as a real user's.
    await context.addInitScript(() => new MutationObserver((_, observer) => {
      const rum = document.querySelector('meta[name="tessera-rum"]');
      if (rum) {
        rum.content = "0";
        observer.disconnect();
      }
    }).observe(document, { childList: true, subtree: true }));
    if (opts.dev) await context.addInitScript((s) => localStorage.setItem("tessera.devSession", JSON.stringify(s)), opts.dev);
    const page = await context.newPage();
    const step = async (name, run) => {
      const t0 = Date.now();
      try {
        const ms = await run();
        steps.push({ name: name.replace(STEP_NAME, "-").slice(0, 54), ok: true, ms: ms ?? Date.now() - t0 });
        return true;
      } catch (e) {
        // Playwright prefixes what failed in the page with its own call: the step says it.
        const error = String(e?.message ?? e).split("\n")[0].replace(/^\w+\.\w+: (Error: )?/, "").slice(0, 300);
        steps.push({ name: name.replace(STEP_NAME, "-").slice(0, 54), ok: false, ms: Date.now() - t0, error });
        return false;
      }
    };

    const opened = await step("open", async () => {
      const response = await page.goto(opts.site + "/", { timeout: opts.timeout });
      if (!response?.ok()) throw new Error(`the page answered ${response?.status()}`);
      // Navigation start to settled, on the page's own clock.
      return Math.round(await page.evaluate(settle, [opts.timeout, BUSY, FAILED, {}]));
    });
    if (!opened) return { shell, steps, token };
    shell = await shellVersion(page);
    if (opts.user && !(await step("sign-in", () => signIn(page, opts).then(() => undefined)))) return { shell, steps, token };
    if (!token && opts.report) token = await tokenOf(page);

    const links = await page.locator(".tessera-nav a[data-menu-key]").evaluateAll((as) =>
      as.map((a) => ({ key: a.dataset.menuKey, path: new URL(a.href).pathname })));
    for (const { key, path } of links) {
      await step(`route:${path}`, () => clickAndSettle(page, opts.timeout, page.locator(`.tessera-nav a[data-menu-key="${key}"]`)));
    }
    for (const path of opts.routes) {
      await step(`route:${path}`, () => timed(page, opts.timeout, () => page.goto(opts.site + path, { timeout: opts.timeout })));
    }

    const atMenu = await step("open-restaurant", async () => {
      await page.goto(opts.site + "/restaurants", { timeout: opts.timeout });
      await page.evaluate(settle, [opts.timeout, BUSY, FAILED, {}]);
      return clickAndSettle(page, opts.timeout, page.locator(".restaurant-list .card a").first());
    });
    if (atMenu) {
      // The server's cart version before the click, to see it take the command.
      const user = await tokenOf(page);
      const cartVersion = async () => {
        const r = await fetch(`${opts.site}/api/cart`, { headers: { authorization: `Bearer ${user}` } });
        if (!r.ok) throw new Error(`GET /api/cart answered ${r.status}`);
        return (await r.json()).version;
      };
      let before = null;
      const added = await step("add-to-cart", async () => {
        before = user ? await cartVersion() : null;
        const badge = page.locator(".tessera-nav .badge");
        const count = async () => ((await badge.count()) ? Number(await badge.textContent()) : 0);
        const shownBefore = await count();
        const add = page.locator(".menu-item .add-to-cart button.add:not([disabled])").first();
        const t0 = Date.now();
        await add.click({ timeout: opts.timeout });
        await page.locator(".menu-item .add-to-cart .added").first().waitFor({ timeout: opts.timeout });
        const shown = Date.now() - t0;
        await page.waitForFunction((n) => Number(document.querySelector(".tessera-nav .badge")?.textContent ?? 0) > n,
          shownBefore, { timeout: opts.timeout });
        return shown;
      });
      // Shown at once from the outbox; this is the server taking it (its cart's version moves).
      if (added) {
        await step("add-to-cart-synced", async () => {
          if (before === null) throw new Error("no signed-in user whose cart to read");
          const t0 = Date.now();
          while ((await cartVersion()) <= before) {
            if (Date.now() - t0 > opts.timeout) throw new Error(`the server did not take the command within ${opts.timeout} ms`);
            await new Promise((r) => setTimeout(r, 50));
          }
          return Date.now() - t0;
        });
      }
      await step("offline-reload", async () => {
        await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
        await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: opts.timeout });
        await context.setOffline(true);
        try {
          return await timed(page, opts.timeout, () => page.reload({ timeout: opts.timeout }));
        } finally {
          await context.setOffline(false);
        }
      });
    }
    await context.close();
  } finally {
    await browser.close();
  }
  return { shell, steps, token };
}

/** `POST /api/rum` with one sample per step: a view, its time or its error. */
async function report(opts, shell, steps, token) {
  if (!token) throw new Error("no token to report with: sign in (--user, --dev-user) or pass --token");
  const version = shell.replace(STEP_NAME, "-").slice(0, 64) || "unknown";
  const samples = steps.flatMap((s) => {
    const app = `synthetic:${s.name}`;
    return [
      { app, version, metric: "view", value: 1 },
      s.ok ? { app, version, metric: "step", value: s.ms } : { app, version, metric: "error", value: 1, detail: s.error },
    ];
  });
  const r = await fetch(`${opts.site}/api/rum`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ shell: version, cohort: "synthetic", samples }),
  });
  if (!r.ok) throw new Error(`POST /api/rum answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
}

const opts = options();
let result;
try {
  result = await journey(opts);
} catch (e) {
  console.error(`synthetic: the check could not run: ${e.message}`);
  process.exit(1);
}
const { shell, steps, token } = result;
const failed = steps.filter((s) => !s.ok).length;
let reported = null;
if (opts.report) {
  try {
    await report(opts, shell, steps, token);
    reported = true;
  } catch (e) {
    reported = e.message;
  }
}
if (opts.json) {
  console.log(JSON.stringify({ site: opts.site, shell, steps, failed, reported }, null, 1));
} else {
  console.log(`synthetic check of ${opts.site} (shell ${shell})`);
  for (const s of steps) {
    console.log(`  ${s.ok ? "ok  " : "FAIL"}  ${s.name.padEnd(28)} ${String(s.ms).padStart(6)} ms${s.ok ? "" : `  ${s.error}`}`);
  }
  console.log(`${steps.length - failed} of ${steps.length} steps passed`);
  if (reported === true) console.log(`reported to ${opts.site}/api/rum`);
}
if (typeof reported === "string") console.error(`synthetic: not reported: ${reported}`);
process.exit(failed || typeof reported === "string" ? 1 : 0);
