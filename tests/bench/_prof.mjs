import { cleanup, launch, newStore, serve } from "../e2e/harness.mjs";
import { writeFileSync } from "node:fs";
const server = await serve(newStore());
const browser = await launch();
try {
  for (let i = 0; i < 3; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") console.log("console:", m.text().slice(0, 300)); });
    const cdp = await context.newCDPSession(page);
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
    await cdp.send("Profiler.start");
    await page.goto(server.url + "/restaurants");
    await page.locator(".restaurant-list li").first().waitFor({ timeout: 5000 });
    const { profile } = await cdp.send("Profiler.stop");
    const t = await page.evaluate(() => performance.now());
    if (i === 2) writeFileSync("/tmp/prof.json", JSON.stringify(profile));
    await context.close();
  }
} finally { await browser.close(); server.close(); cleanup(); }
