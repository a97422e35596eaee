// Load and activation timings in headless Chromium against the real CDN server, printed as
// figures (medians over fresh browser contexts), never asserted. Run by `cargo xtask bench`.
import { cleanup, launch, newStore, serve } from "../e2e/harness.mjs";
import { firstSeen, fmt, median } from "./stats.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 15);

// Resolves with the ms between clicking the nav link for `key` and the shell's mount mark.
function timeActivation(page, key, app) {
  return page.evaluate(([key, app]) => new Promise((resolve) => {
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
    document.querySelector(`.tessera-nav a[data-menu-key="${key}"]`).click();
  }), [key, app]);
}

const server = await serve(newStore());
const browser = await launch();
const cold = [], firstActivation = [], reactivation = [], wire = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(firstSeen, { navVisibleAt: ".tessera-nav" });
    const responses = [];
    page.on("requestfinished", (r) => responses.push(r));
    await page.goto(server.url + "/cart");
    await page.locator(".tessera-nav").waitFor();
    await page.locator(".cart").waitFor();
    cold.push(await page.evaluate(() => window.__marks.navVisibleAt));
    let bytes = 0;
    for (const r of responses) {
      const s = await r.sizes();
      bytes += s.responseBodySize + s.responseHeadersSize;
    }
    wire.push(bytes);
    firstActivation.push(await timeActivation(page, "restaurants", "@tessera/restaurants"));
    await timeActivation(page, "cart", "@tessera/cart");
    reactivation.push(await timeActivation(page, "restaurants", "@tessera/restaurants"));
    await context.close();
  }
} finally {
  await browser.close();
  server.close();
  cleanup();
}

console.log(`\nload timings, ${RUNS} fresh contexts, headless Chromium, loopback:`);
console.log(`  cold load of /cart to nav visible        ${fmt(cold, "ms")}`);
console.log(`  bytes on the wire for that load (gzip)   median ${(median(wire) / 1024).toFixed(1)} KB (index.html, shell, manifests, nav, cart)`);
console.log(`  first activation of restaurants          ${fmt(firstActivation, "ms")}`);
console.log(`  re-activation of restaurants             ${fmt(reactivation, "ms")}`);
