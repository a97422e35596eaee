// Live updates: a change an admin makes in one browser shows in another browser's tabs within
// a second, each tab gets each event exactly once (one tab holds the socket, the others hear it
// over a BroadcastChannel), orders follow the kitchen without a reload, a BFF restart
// mid-stream loses and repeats nothing, and with WebSockets blocked the long-poll fallback
// delivers the same sequence as the log.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserAndServer, contextAs, eventsOf, newStore, outboxEntries, renameDish, serve } from "./harness.mjs";

let browser;
let server;
browserAndServer((b, s) => ([browser, server] = [b, s]));

/** Records every `tessera:live` bus event with the (wall-clock) time it arrived. */
function recordLive(context) {
  return context.addInitScript(() => {
    window.__live = [];
    window.addEventListener("tessera:live", (e) => {
      window.__live.push({ at: performance.timeOrigin + performance.now(), env: JSON.parse(e.detail) });
    });
  });
}


const liveSeqs = (page) => page.evaluate(() => window.__live.map((l) => l.env.data.seq));

async function openLive(context, path) {
  const page = await context.newPage();
  await page.goto(server.url + path);
  // The first tab holds the socket; later ones hear the mode from it.
  await page.locator('.tessera-live[data-live="live"]').waitFor({ timeout: 10_000 });
  return page;
}

describe("live updates", () => {
  test("an admin's menu edit in one browser shows in every tab of another within a second, each event once", async () => {
    const admin = await contextAs(browser, "ada", ["customer", "admin"]);
    const editor = await admin.newPage();
    await editor.goto(server.url + "/admin/menus/pho-corner");
    const customer = await contextAs(browser, "lena");
    await recordLive(customer);
    const tabs = [await openLive(customer, "/restaurants/pho-corner"), await openLive(customer, "/restaurants/pho-corner")];
    const row = editor.locator('.menu-item[data-item="pho-bo"]');
    for (let round = 1; round <= 3; round++) {
      const name = `Phở bò ${round}`;
      // The admin's own previous edit has settled on their page (sent and confirmed): its name
      // shows and nothing waits. "Nothing waits" alone also held for a moment before the page
      // had read its own queued edit; the editor opened then was closed by that read.
      let settled = row.and(editor.locator('[data-pending="false"]'));
      if (round > 1) {
        settled = settled.filter({ has: editor.locator(".name", { hasText: new RegExp(`^Phở bò ${round - 1}$`) }) });
      }
      await settled.waitFor({ timeout: 10_000 });
      await row.locator("button.edit").click();
      await row.locator('input[name="name"]').fill(name);
      const clicked = Date.now();
      await row.locator("button.save").click();
      for (const [i, p] of tabs.entries()) {
        // Polling, not animation frames: a background tab gets none.
        await p.waitForFunction(
          (n) => document.querySelector('.menu-item[data-item="pho-bo"] .name')?.textContent === n,
          name,
          { timeout: 5_000, polling: 20 },
        );
        const shown = Date.now() - clicked;
        assert.ok(shown < 1_000, `round ${round}, tab ${i}: shown ${shown} ms after the admin's click`);
      }
    }
    const [a, b] = await Promise.all(tabs.map(liveSeqs));
    assert.deepEqual(a, b, "both tabs hold the same events");
    assert.equal(new Set(a).size, a.length, "each event once");
    const updates = (await Promise.all(tabs.map((p) => p.evaluate(() =>
      window.__live.filter((l) => l.env.type === "menu.item-updated").map((l) => l.env.data.data.name)))));
    for (const names of updates) assert.deepEqual(names, ["Phở bò 1", "Phở bò 2", "Phở bò 3"]);

    // The tab holding the connection closes: the other takes the lock and resumes from the
    // newest event it heard, so an edit made meanwhile still arrives, once.
    const leaders = await Promise.all(tabs.map((p) => p.evaluate(() => window.__tessera.liveLeader === true)));
    assert.equal(leaders.filter(Boolean).length, 1, "exactly one tab holds the connection");
    const survivor = tabs[leaders.indexOf(false)];
    await tabs[leaders.indexOf(true)].close();
    await renameDish(server.url, "pho-bo", "Phở bò after handover");
    await survivor.waitForFunction(
      () => document.querySelector('.menu-item[data-item="pho-bo"] .name')?.textContent === "Phở bò after handover",
      null,
      { timeout: 10_000, polling: 50 },
    );
    assert.equal(await survivor.evaluate(() => window.__tessera.liveLeader), true);
    const after = await liveSeqs(survivor);
    assert.equal(new Set(after).size, after.length, "each event once across the handover");
    await admin.close();
    await customer.close();
  });

  test("an order follows the kitchen live, with no reload", async () => {
    const context = await contextAs(browser, "olga");
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants/pho-corner");
    await page.locator('.tessera-live[data-live="live"]').waitFor({ timeout: 10_000 });
    await page.locator('.menu-item[data-item="pho-bo"] button.add').click();
    await page.locator(".tessera-nav .badge", { hasText: "1" }).waitFor({ timeout: 10_000 });
    await page.click('.tessera-nav a[data-menu-key="cart"]');
    await page.locator("button.checkout").click();
    // Every status the kitchen moves the order through, as the page shows it.
    await page.evaluate(() => {
      window.__statuses = [];
      new MutationObserver(() => {
        const s = document.querySelector(".orders .order")?.dataset.status;
        if (s && window.__statuses.at(-1) !== s) window.__statuses.push(s);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    try {
      await page.locator('.orders .order[data-status="delivered"]').waitFor({ timeout: 15_000 });
    } catch (e) {
      // What the page showed, what it still holds and what the server did: enough to tell a
      // command never sent from an event never heard.
      const shown = await page.evaluate(() => ({
        statuses: window.__statuses,
        live: document.querySelector(".tessera-live")?.dataset.live,
        layout: document.querySelector(".tessera-layout")?.innerText,
        statusbar: document.querySelector(".tessera-statusbar")?.innerText,
      }));
      const outbox = (await outboxEntries(page)).map(({ id, state, label, error, baseVersion }) => ({ id, state, label, error, baseVersion }));
      const events = (await eventsOf(server.url, "olga")).map((ev) => `${ev.seq} ${ev.type ?? ev.kind}`);
      throw new Error(`${e.message}\n${JSON.stringify({ shown, outbox, events }, null, 1)}`);
    }
    const seen = await page.evaluate(() => window.__statuses);
    assert.equal(seen.at(-1), "delivered");
    assert.ok(seen.length >= 3, `the order moved on screen step by step: ${seen.join(" → ")}`);
    assert.equal(await page.evaluate(() => performance.getEntriesByType("navigation").length), 1);
    await context.close();
  });

  test("a BFF restart mid-stream: afterwards the page holds every event of the log exactly once", async () => {
    const store = newStore();
    let bff = await serve(store);
    const { port, data } = bff;
    const context = await contextAs(browser, "rita");
    await recordLive(context);
    const page = await context.newPage();
    await page.goto(bff.url + "/restaurants/pho-corner");
    await page.locator('.tessera-live[data-live="live"]').waitFor({ timeout: 10_000 });
    // Edits keep coming while the server is killed and started again; the ones the dead
    // server refuses are simply not made.
    let stop = false;
    let made = 0;
    const edits = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await renameDish(`http://127.0.0.1:${port}`, "pho-bo", `Phở bò restart ${i}`);
          made++;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    await page.waitForFunction(() => window.__live.length >= 5, null, { timeout: 10_000, polling: 20 });
    bff.child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    bff = await serve(store, { data, port });
    await page.waitForFunction((n) => window.__live.length >= n, (await liveSeqs(page)).length + 5, { timeout: 15_000, polling: 50 });
    stop = true;
    await edits;
    const log = (await eventsOf(bff.url, "rita")).map((e) => e.seq);
    await page.waitForFunction((n) => window.__live.at(-1)?.env.data.seq >= n, log.at(-1), { timeout: 10_000, polling: 50 });
    const seqs = await liveSeqs(page);
    assert.ok(made > 5, `${made} edits made`);
    assert.deepEqual(seqs, log.slice(log.indexOf(seqs[0])), "the page's events are the log's, in order, once each");
    bff.close();
    await context.close();
  });

  test("with WebSockets blocked, long-polling delivers the same events as the log", async () => {
    const context = await contextAs(browser, "paul");
    await context.routeWebSocket(/\/api\/live/, (ws) => ws.close());
    await recordLive(context);
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants/pho-corner");
    await page.locator('.tessera-live[data-live="polling"]').waitFor({ timeout: 15_000 });
    for (let round = 1; round <= 3; round++) {
      await renameDish(server.url, "pho-bo", `Phở bò poll ${round}`);
      await page.waitForFunction((n) => window.__live.length >= n, round, { timeout: 5_000, polling: 50 });
    }
    const seqs = await liveSeqs(page);
    const log = (await eventsOf(server.url, "paul")).map((e) => e.seq);
    assert.deepEqual(seqs, log.slice(log.indexOf(seqs[0])));
    assert.equal(seqs.length, 3);
    await context.close();
  });
});
