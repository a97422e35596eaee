import { launch, newStore, serve, cleanup } from "../e2e/harness.mjs";
import { firstSeen, openAndWait } from "./stats.mjs";
const server = await serve(newStore());
const browser = await launch();
// warm
for (let i = 0; i < 3; i++) { const c = await browser.newContext(); const p = await c.newPage(); await p.goto(server.url + "/restaurants"); await p.waitForTimeout(3000); await c.close(); }
await new Promise((r) => setTimeout(r, 8000));
for (let run = 0; run < 3; run++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(firstSeen, { shown: ".restaurant-list li", nav: ".tessera-nav a" });
  const r = await openAndWait(page, server.url + "/restaurants");
  const t = await page.evaluate(() => {
    const out = [];
    for (const e of performance.getEntriesByType("navigation")) out.push([e.startTime, e.responseEnd, "NAV " + e.name]);
    for (const e of performance.getEntriesByType("resource")) out.push([e.startTime, e.responseEnd, e.name.replace(location.origin, "") + " " + e.encodedBodySize]);
    for (const e of performance.getEntriesByType("mark")) out.push([e.startTime, e.startTime, "MARK " + e.name]);
    for (const e of performance.getEntriesByType("measure")) out.push([e.startTime, e.startTime + e.duration, "MEASURE " + e.name]);
    return out.sort((a, b) => a[0] - b[0]);
  });
  console.log("run", run, JSON.stringify(r));
  for (const [s, e, n] of t) console.log(s.toFixed(1).padStart(7), e.toFixed(1).padStart(7), n.slice(0, 110));
  await context.close();
}
await browser.close();
cleanup();
process.exit(0);
