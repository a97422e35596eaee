// Temporary: where a cold /restaurants load spends its time (resource timings, marks).
import { cleanup, launch, newStore, serve } from "../e2e/harness.mjs";
import { firstSeen, openAndWait, median } from "./stats.mjs";
const server = await serve(newStore());
const browser = await launch();
const rows = {};
const add = (k, v) => (rows[k] ??= []).push(v);
try {
  for (let i = 0; i < Number(process.env.N ?? 8); i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(firstSeen, { shown: ".restaurant-list li", nav: ".tessera-nav a", chrome: ".tessera-statusbar" });
    const marks = await openAndWait(page, server.url + "/restaurants");
    const t = await page.evaluate(() => {
      const out = {};
      const nav = performance.getEntriesByType("navigation")[0];
      out["html responseEnd"] = nav.responseEnd;
      out["domContentLoaded"] = nav.domContentLoadedEventEnd;
      for (const r of performance.getEntriesByType("resource")) {
        const name = new URL(r.name).pathname.replace(/\/[0-9a-f]{16}\//, "/H/");
        out[`res ${name} start`] = r.startTime;
        out[`res ${name} end`] = r.responseEnd;
      }
      for (const m of performance.getEntriesByType("mark")) out[`mark ${m.name}`] = m.startTime;
      for (const m of performance.getEntriesByType("measure")) out[`measure ${m.name} start`] = m.startTime, out[`measure ${m.name} end`] = m.startTime + m.duration;
      return out;
    });
    for (const [k, v] of Object.entries(t)) add(k, v);
    for (const [k, v] of Object.entries(marks)) add(`SEEN ${k}`, v);
    await context.close();
  }
} finally {
  await browser.close();
  await cleanup();
}
const list = Object.entries(rows).map(([k, v]) => [k, median(v), v.length]).sort((a, b) => a[1] - b[1]);
for (const [k, m, n] of list) console.log(`${m.toFixed(1).padStart(8)} ms  ${k} (n=${n})`);
process.exit(0);
