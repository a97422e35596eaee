// Load and activation timings in headless Chromium against the real CDN server, printed as
// figures (medians over fresh browser contexts), never asserted. Run by `cargo xtask bench`.
import { cleanup, launch, newStore, serve } from "../e2e/harness.mjs";
import { firstSeen, fmt, median, openAndWait } from "./stats.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

// Resolves with the ms between clicking the nav link for `key` and the shell's mount mark. With
// `restMs`, the pointer comes onto the link that long before the click, as a hand's does.
function timeActivation(page, key, app, restMs = 0) {
  return page.evaluate(([key, app, restMs]) => new Promise((resolve) => {
    const link = document.querySelector(`.tessera-nav a[data-menu-key="${key}"]`);
    if (restMs) link.dispatchEvent(new PointerEvent("pointerover", { bubbles: true }));
    setTimeout(() => {
      const t0 = performance.now();
      const obs = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          if (e.name === `tessera:mounted:${app}` && e.startTime >= t0) {
            obs.disconnect();
            resolve(e.startTime - t0);
          }
        }
      });
      obs.observe({ type: "mark" });
      link.click();
    }, restMs);
  }), [key, app, restMs]);
}

/** The bytes on the wire (bodies and headers) of the page's `responses` that had ended `ms`
 * after its navigation began. What ends later (the platform module, after the first page's
 * answers) is not part of the load being timed, even when it ends before this looks. */
async function bytesUntil(page, responses, ms) {
  const until = (await page.evaluate(() => performance.timeOrigin)) + ms;
  let bytes = 0;
  for (const r of [...responses]) {
    const t = r.timing();
    if (t.startTime + t.responseEnd > until) continue;
    const s = await r.sizes();
    bytes += s.responseBodySize + s.responseHeadersSize;
  }
  return bytes;
}

/** Opens `path` in a fresh context; resolves with the ms from navigation start until an element
 * matching `selector` first appeared, and the bytes on the wire until then. With `rum` set,
 * the page is served with real-user monitoring on (`true`) or off (`false`): both go through
 * the same interception, so only the meta tag differs. */
async function coldLoad(path, selector, rum) {
  const context = await browser.newContext();
  if (rum !== undefined) {
    await context.route((url) => url.pathname === path, async (route) => {
      const response = await route.fetch();
      const body = (await response.text()).replace(
        /<meta name="tessera-rum" content="[^"]*">/,
        `<meta name="tessera-rum" content="${rum ? 1 : 0}">`,
      );
      await route.fulfill({ response, body });
    });
  }
  const page = await context.newPage();
  await page.addInitScript(firstSeen, { shown: selector });
  const responses = [];
  page.on("requestfinished", (r) => responses.push(r));
  const { shown: ms } = await openAndWait(page, server.url + path);
  const bytes = await bytesUntil(page, responses, ms);
  await context.close();
  return { ms, bytes };
}

/** Like a CDN edge, the server makes each bundle's brotli body once, in the background after
 * its first request, and serves gzip until then. One load of each page first, and a wait until
 * what they fetched comes in brotli: the figures are of the edge's steady state. */
async function warmUp() {
  const urls = new Set();
  for (const path of ["/restaurants", "/", "/cart"]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("requestfinished", (r) => urls.add(r.url()));
    await page.goto(server.url + path);
    await page.waitForTimeout(3000); // the platform module loads after the first page
    await context.close();
  }
  const coding = async (url) => {
    const r = await fetch(url, { headers: { "accept-encoding": "br, gzip" } }).catch(() => null);
    await r?.arrayBuffer().catch(() => null);
    return r?.headers.get("content-encoding") ?? "";
  };
  if ((await coding(server.url + "/")) !== "br") return; // a server that makes no brotli
  const deadline = Date.now() + 60_000;
  for (const url of [...urls].filter((u) => !new URL(u).pathname.startsWith("/api/"))) {
    while ((await coding(url)) === "gzip") {
      if (Date.now() > deadline) {
        console.error(`# warm-up: ${url} still comes in gzip after 60 s`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

const server = await serve(newStore());
const browser = await launch();
await warmUp();
const cold = [], firstActivation = [], firstActivationRested = [], reactivation = [], wire = [];
const restaurants = [], restaurantsWire = [], home = [], homeWire = [];
const rumOn = [], rumOff = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const list = await coldLoad("/restaurants", ".restaurant-list li");
    restaurants.push(list.ms);
    restaurantsWire.push(list.bytes);
    const nav = await coldLoad("/", ".tessera-nav a");
    home.push(nav.ms);
    homeWire.push(nav.bytes);
  }
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(firstSeen, { navVisibleAt: ".tessera-nav", cart: ".cart" });
    const responses = [];
    page.on("requestfinished", (r) => responses.push(r));
    const { navVisibleAt } = await openAndWait(page, server.url + "/cart");
    cold.push(navVisibleAt);
    wire.push(await bytesUntil(page, responses, navVisibleAt));
    firstActivation.push(await timeActivation(page, "restaurants", "@tessera/restaurants"));
    await timeActivation(page, "cart", "@tessera/cart");
    reactivation.push(await timeActivation(page, "restaurants", "@tessera/restaurants"));
    await context.close();
  }
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(firstSeen, { navVisibleAt: ".tessera-nav", cart: ".cart" });
    await openAndWait(page, server.url + "/cart");
    firstActivationRested.push(await timeActivation(page, "restaurants", "@tessera/restaurants", 150));
    await context.close();
  }
  // Real-user monitoring's own cost on a cold load, on and off alternated.
  for (let i = 0; i < RUNS; i++) {
    rumOn.push((await coldLoad("/restaurants", ".restaurant-list li", true)).ms);
    rumOff.push((await coldLoad("/restaurants", ".restaurant-list li", false)).ms);
  }
} finally {
  await browser.close();
  server.close();
  cleanup();
}

console.log(`\nload timings, ${RUNS} fresh contexts, headless Chromium, loopback:`);
console.log(`  cold load of /restaurants to the list    ${fmt(restaurants, "ms")}`);
console.log(`  bytes on the wire for it (as served)     median ${(median(restaurantsWire) / 1024).toFixed(1)} KB (index.html, shell, manifests, nav, restaurants, data)`);
console.log(`  cold load of / to nav visible            ${fmt(home, "ms")}`);
console.log(`  bytes on the wire for it (as served)     median ${(median(homeWire) / 1024).toFixed(1)} KB`);
console.log(`  cold load of /cart to nav visible        ${fmt(cold, "ms")}`);
console.log(`  bytes on the wire for it (as served)     median ${(median(wire) / 1024).toFixed(1)} KB (until nav is visible)`);
console.log(`  first activation of restaurants          ${fmt(firstActivation, "ms")}`);
console.log(`  the same, pointer on the link 150 ms first ${fmt(firstActivationRested, "ms")} (from the click)`);
console.log(`  re-activation of restaurants             ${fmt(reactivation, "ms")}`);
console.log(`  cold /restaurants, monitoring on         ${fmt(rumOn, "ms")}`);
console.log(`  cold /restaurants, monitoring off        ${fmt(rumOff, "ms")} (on − off, medians: ${(median(rumOn) - median(rumOff)).toFixed(1)} ms)`);
