// A long outbox whose commands end three ways, replayed in batches with the page open: an
// admin's thousand menu commands, queued offline, shuffled so that every batch mixes them:
//   - creates of new menu items, which the BFF applies;
//   - edits of items another admin changed meanwhile (`If-Match` on a version that is gone),
//     which come back as conflicts and wait in the inbox;
//   - edits the BFF refuses (a negative price), which are kept as rejected, with the reason.
// After reconnecting, every command is accounted for: each create applied exactly once (the
// event log), each conflict and each rejection in the outbox with what the server said, and
// the other admin's changes untouched. A batch in which some commands conflict or are
// refused applies the others.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendToOutbox as append, browserAndServer, contextAs, eventsOf, outboxEntries, queueOneClickOffline } from "./harness.mjs";
import { seeded } from "../lib/random.mjs";

const CREATES = 900;
const CONFLICTS = 50;
const REFUSALS = 50;
const SUBJECT = "mia";
const ROLES = ["customer", "admin"];
const OTHER = "Bearer dev:otto:admin";
const MENU = "/api/restaurants/pho-corner/menu";
const { seed: SEED, within } = seeded("TESSERA_MIXED_SEED");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let browser;
let server;
browserAndServer((b, s) => ([browser, server] = [b, s]));

/** `PUT {MENU}/{id}` as the other admin. */
async function putAsOther(id, body, ifMatch) {
  const headers = { authorization: OTHER, "content-type": "application/json", "idempotency-key": crypto.randomUUID() };
  if (ifMatch !== undefined) headers["if-match"] = `"${ifMatch}"`;
  const r = await fetch(`${server.url}${MENU}/${id}`, { method: "PUT", headers, body: JSON.stringify(body) });
  assert.ok(r.ok, `${id}: ${r.status} ${await r.text()}`);
}

test(`${CREATES + CONFLICTS + REFUSALS} queued commands of three outcomes drain in mixed batches, each accounted for`, async () => {
  const why = `(seed ${SEED}; rerun with TESSERA_MIXED_SEED=${SEED})`;
  // Items the other admin made at version 1; the user's edits will be based on that.
  const contested = Array.from({ length: CONFLICTS }, (_, i) => `mixed-c-${i}`);
  for (const id of contested) await putAsOther(id, { name: `Contested ${id}`, priceCents: 900, available: true });

  const context = await contextAs(browser, SUBJECT, ROLES);
  // One real click offline gives an entry's shape; it stays, and goes first.
  const { page, errors, first } = await queueOneClickOffline(context, server.url);
  assert.equal(first?.subject, SUBJECT, "the click queued a command of the user");

  // Meanwhile the other admin moves every contested item to version 2.
  for (const id of contested) await putAsOther(id, { name: `Theirs ${id}`, priceCents: 950, available: true }, 1);

  const command = (id, body, baseVersion, label) => ({
    ...first,
    idempotencyKey: crypto.randomUUID(),
    entity: `menu-item:${id}`,
    baseVersion,
    command: { method: "PUT", path: `${MENU}/${id}`, body: JSON.stringify(body) },
    label,
    overlays: [],
  });
  const queued = [
    ...Array.from({ length: CREATES }, (_, i) =>
      command(`mixed-a-${i}`, { name: `Dish ${i}`, priceCents: 500 + i, available: true }, null, `Dish ${i}: created`)),
    ...contested.map((id) => command(id, { name: `Mine ${id}`, priceCents: 990, available: true }, 1, `${id}: renamed`)),
    ...Array.from({ length: REFUSALS }, (_, i) =>
      command(`mixed-r-${i}`, { name: `Refused ${i}`, priceCents: -1, available: true }, null, `Refused ${i}: created`)),
  ];
  // Shuffled (Fisher-Yates on the seeded generator), so every batch of a hundred mixes them.
  for (let i = queued.length - 1; i > 0; i--) {
    const j = within(0, i);
    [queued[i], queued[j]] = [queued[j], queued[i]];
  }
  await append(page, queued);

  const start = Date.now();
  await context.setOffline(false);
  let left;
  for (;;) {
    left = await outboxEntries(page);
    if (left.every((e) => e.state === "conflict" || e.state === "rejected")) break;
    assert.ok(Date.now() - start < 120_000, `the outbox settles within 2 minutes ${why}: ` +
      `${left.filter((e) => e.state === "pending" || e.state === "sending").length} still to send`);
    await sleep(200);
  }
  const settled = Date.now() - start;

  const idOf = (e) => e.command.path.slice(MENU.length + 1);
  const conflicts = left.filter((e) => e.state === "conflict");
  const rejected = left.filter((e) => e.state === "rejected");
  assert.equal(left.length, CONFLICTS + REFUSALS, `only what needs the user is left ${why}`);
  assert.deepEqual(conflicts.map(idOf).sort(), [...contested].sort(), `each contested edit is a conflict ${why}`);
  for (const c of conflicts) {
    assert.equal(c.theirs?.version, 2, `${idOf(c)}: the conflict holds the server's version ${why}`);
    assert.equal(JSON.parse(c.theirs.body).name, `Theirs ${idOf(c)}`, `${idOf(c)}: and the server's entity ${why}`);
  }
  assert.deepEqual(
    rejected.map(idOf).sort(),
    Array.from({ length: REFUSALS }, (_, i) => `mixed-r-${i}`).sort(),
    `each refused command is kept as rejected ${why}`,
  );
  for (const r of rejected) assert.match(r.error ?? "", /422|priceCents/i, `${idOf(r)}: with the server's reason ${why}`);

  // Every create applied once, nothing else of the user's reached the menu.
  const events = await eventsOf(server.url, SUBJECT, ROLES.join(","));
  const applied = events.map((e) => e.data?.id).filter((id) => typeof id === "string" && id.startsWith("mixed-"));
  const creates = applied.filter((id) => id.startsWith("mixed-a-"));
  assert.equal(creates.length, CREATES, `each create appended one event ${why}`);
  assert.equal(new Set(creates).size, CREATES, `no create applied twice ${why}`);
  assert.equal(applied.filter((id) => id.startsWith("mixed-r-")).length, 0, `no refused command changed anything ${why}`);
  const menu = await (await fetch(`${server.url}/api/restaurants/pho-corner`)).json();
  const items = new Map(menu.menu.map((i) => [i.id, i]));
  for (const id of contested) {
    assert.equal(items.get(id)?.name, `Theirs ${id}`, `${id}: the other admin's change stands ${why}`);
    assert.equal(items.get(id)?.version, 2, `${id}: at the version they made ${why}`);
  }
  // The status bar's count is the inbox's.
  await page.waitForFunction((n) => window.__tessera?.outbox?.inbox === n && window.__tessera?.outbox?.pending === 0,
    CONFLICTS + REFUSALS, { timeout: 10_000 });
  assert.deepEqual(errors, [], `no page errors ${why}`);
  console.log(`# seed ${SEED}: ${queued.length} commands settled ${settled} ms after reconnecting: ` +
    `${CREATES} applied, ${conflicts.length} conflicts, ${rejected.length} rejected`);
  await context.close();
});
