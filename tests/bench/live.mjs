// Live figures in headless Chromium against the real BFF + CDN server, printed, never asserted
// (only sanity-checked: a run in which a tab missed or repeated an event is no figure). Run by
// `cargo xtask bench` after outbox.mjs.
//
// TABS customer tabs of one browser context show a menu (one tab holds the socket, the others
// hear it over a BroadcastChannel). EDITS times, an admin's `PUT` of a menu item's name is
// sent from Node, GAP_MS apart. In every tab an init script records when the `tessera:live`
// bus event for the edit arrived and when the item's new name was in the DOM. Printed, from
// the moment just before the `PUT` was sent (so the figures include the BFF's commit):
// → bus event, → DOM, per tab kind (leader, follower), and the `PUT`'s own round trip.
import { randomUUID } from "node:crypto";
import { cleanup, contextAs, launch, newStore, serve } from "../e2e/harness.mjs";
import { median, pct } from "./stats.mjs";

const TABS = Number(process.env.BENCH_LIVE_TABS ?? 2);
const EDITS = Number(process.env.BENCH_LIVE_EDITS ?? 200);
const GAP_MS = Number(process.env.BENCH_LIVE_GAP_MS ?? 100);

const watchdog = setTimeout(() => {
  console.error("live.mjs: gave up after 5 minutes");
  process.exit(1);
}, 5 * 60_000);
watchdog.unref();

const f1 = (x) => x.toFixed(1);
const spread = (xs) => `p50 ${f1(median(xs))} ms, p99 ${f1(pct(xs, 99))} ms, max ${f1(Math.max(...xs))} ms (n=${xs.length})`;

/** Init script: per edit name, when its bus event arrived and when the name was shown. */
function watch() {
  window.__bus = {};
  window.__dom = {};
  window.__seqs = [];
  const now = () => performance.timeOrigin + performance.now();
  window.addEventListener("tessera:live", (e) => {
    const env = JSON.parse(e.detail);
    window.__seqs.push(env.data.seq);
    if (env.type === "menu.item-updated") window.__bus[env.data.data.name] ??= now();
  });
  new MutationObserver(() => {
    const name = document.querySelector('.menu-item[data-item="pho-bo"] .name')?.textContent;
    if (name) window.__dom[name] ??= now();
  }).observe(document, { childList: true, subtree: true, characterData: true });
}

const browser = await launch();
const server = await serve(newStore());
try {
  const context = await contextAs(browser, "lena");
  await context.addInitScript(watch);
  const tabs = [];
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants/pho-corner");
    await page.locator('.tessera-live[data-live="live"]').waitFor({ timeout: 15_000 });
    await page.locator('.menu-item[data-item="pho-bo"] .name').waitFor();
    tabs.push(page);
  }
  const leader = await Promise.all(tabs.map((p) => p.evaluate(() => window.__tessera.liveLeader === true)));
  const base = `${server.url}/api/restaurants/pho-corner`;
  let version = (await (await fetch(base)).json()).menu.find((i) => i.id === "pho-bo").version;
  const sent = {};
  const roundTrip = [];
  for (let i = 0; i < EDITS; i++) {
    const name = `Phở bò live ${i}`;
    sent[name] = Date.now();
    const r = await fetch(`${base}/menu/pho-bo`, {
      method: "PUT",
      headers: {
        authorization: "Bearer dev:ada:admin",
        "idempotency-key": randomUUID(),
        "if-match": `"${version}"`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ name, priceCents: 1290, available: true }),
    });
    roundTrip.push(Date.now() - sent[name]);
    if (r.status !== 200) throw new Error(`edit ${i}: HTTP ${r.status} ${await r.text()}`);
    version = (await r.json()).version;
    await new Promise((res) => setTimeout(res, GAP_MS));
  }
  const last = `Phở bò live ${EDITS - 1}`;
  for (const p of tabs) await p.waitForFunction((n) => window.__dom[n] !== undefined, last, { timeout: 30_000, polling: 50 });
  const figures = { leader: { bus: [], dom: [] }, follower: { bus: [], dom: [] } };
  for (const [i, p] of tabs.entries()) {
    const { bus, dom, seqs } = await p.evaluate(() => ({ bus: window.__bus, dom: window.__dom, seqs: window.__seqs }));
    if (new Set(seqs).size !== seqs.length || seqs.some((s, j) => j > 0 && s <= seqs[j - 1])) {
      throw new Error(`tab ${i} got an event twice or out of order`);
    }
    const kind = leader[i] ? "leader" : "follower";
    for (const [name, at] of Object.entries(sent)) {
      if (bus[name] === undefined) throw new Error(`tab ${i} never got the event for ${name}`);
      figures[kind].bus.push(bus[name] - at);
      // A name replaced before it was rendered (a later edit won the frame) has no DOM time.
      if (dom[name] !== undefined) figures[kind].dom.push(dom[name] - at);
    }
  }
  console.log(`\nlive updates: ${EDITS} menu edits ${GAP_MS} ms apart, ${TABS} tabs of one customer (1 leader holding the socket)`);
  console.log(`  PUT round trip (Node → BFF → Node):  ${spread(roundTrip)}`);
  for (const kind of ["leader", "follower"]) {
    if (figures[kind].bus.length === 0) continue;
    console.log(`  ${kind}: PUT sent → bus event         ${spread(figures[kind].bus)}`);
    console.log(`  ${kind}: PUT sent → new name in DOM   ${spread(figures[kind].dom)}`);
  }
  await context.close();
} finally {
  server.close();
  await browser.close();
  cleanup();
}
