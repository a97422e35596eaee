// Web Push from the BFF, end to end without a browser: a user's browsers opt in, the kitchen
// moves their order, and a stand-in push service (tests/lib/push-endpoint.mjs: node's own
// crypto, independent of the BFF's) checks each message's VAPID signature and decrypts its
// aes128gcm payload. A subscription the push service calls gone is removed, opting out stops
// the news, and endpoints outside --push-hosts are refused. Prints the send latency. Then the
// browser half: a message the BFF sent, delivered to the page's service worker through
// Chromium's DevTools protocol (this machine reaches no real push service), shows as a
// notification, a click on it shows the order's page, and a user opts in and out from the
// shell's status bar.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createECDH, randomUUID } from "node:crypto";
import { cleanup, contextAs, controlled, launch, newStore, serve, until } from "./harness.mjs";
import { startPushEndpoint } from "../lib/push-endpoint.mjs";
import { median, pct } from "../bench/stats.mjs";

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const STEPS = ["Your order was accepted", "Your order is being prepared", "Your order is on its way", "Your order was delivered"];

let push;
let server;
let publicKey;
before(async () => {
  // A key of the test's own, so the stand-in knows whose signatures to accept.
  const vapid = createECDH("prime256v1");
  vapid.generateKeys();
  publicKey = b64url(vapid.getPublicKey());
  push = await startPushEndpoint({ vapidPublicKey: publicKey });
  server = await serve(newStore(), {
    kitchenStepMs: 300,
    args: ["--push-hosts", new URL(push.url).host, "--vapid-private-key", b64url(vapid.getPrivateKey())],
  });
});
after(async () => {
  server?.close();
  await push?.close();
  cleanup();
});

const auth = (subject) => ({ authorization: `Bearer dev:${subject}:customer` });

async function call(method, path, subject, body, headers = {}) {
  const r = await fetch(server.url + path, {
    method,
    headers: { ...auth(subject), "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Puts one dish in `subject`'s cart and checks out; resolves with the order id. */
async function order(subject) {
  const cart = await call("GET", "/api/cart", subject);
  const put = await call("PUT", "/api/cart/items/pho-bo", subject, { quantity: 2 },
    { "idempotency-key": randomUUID(), "if-match": `"${cart.body.version}"` });
  assert.ok([200, 201].includes(put.status), JSON.stringify(put.body));
  const id = randomUUID();
  const placed = await call("PUT", `/api/cart/checkout/${id}`, subject, {}, { "idempotency-key": randomUUID() });
  assert.equal(placed.status, 201, JSON.stringify(placed.body));
  return id;
}

/** How long each wait of these tests may take. */
const WAIT = 20_000;

const newsOf = (name) => push.received.filter((m) => m.name === name).map((m) => ({ ...m, ...JSON.parse(m.payload) }));

describe("Web Push from the BFF", () => {
  test("every opted-in browser of the user hears each step of the order, in order", async () => {
    const key = await call("GET", "/api/push/key");
    assert.deepEqual(key.body, { publicKey });
    for (const name of ["pat-phone", "pat-laptop"]) {
      const r = await call("PUT", "/api/push/subscription", "pat", push.subscribe(name));
      assert.equal(r.status, 204, JSON.stringify(r.body));
    }
    const id = await order("pat");
    for (const name of ["pat-phone", "pat-laptop"]) {
      const news = await until(`${name} hears 4 steps`, () => newsOf(name).length >= 4 && newsOf(name), WAIT);
      assert.deepEqual(news.map((n) => n.title), STEPS, name);
      for (const n of news) {
        assert.equal(n.tag, `order-${id}`);
        assert.equal(n.url, "/cart");
        assert.match(n.body, /^2 items, 25\.80 EUR$/);
        assert.ok(Number(n.ttl) > 0 && Number(n.ttl) <= 3600, n.ttl);
      }
    }
    assert.deepEqual(push.refused, [], "every message had a valid signature and payload");

    // Send latency: the step's event in the log to the message at the push service.
    const events = await (await fetch(`${server.url}/api/events?after=0&limit=100`, { headers: auth("pat") })).json();
    const steps = events.items.filter((e) => e.type === "order.status-changed" && e.data.id === id);
    const latencies = newsOf("pat-phone").map((n, i) => n.at - Date.parse(steps[i].timestamp));
    console.log(`# push send latency, status change → push service: median ${median(latencies)} ms, max ${pct(latencies, 100)} ms (n=${latencies.length})`);
  });

  test("a subscription the push service calls gone is removed; opting out stops the news", async () => {
    const phone = push.subscribe("sam-phone");
    for (const [name, sub] of [["sam-phone", phone], ["sam-old", push.subscribe("sam-old")]]) {
      assert.equal((await call("PUT", "/api/push/subscription", "sam", sub)).status, 204, name);
    }
    push.gone("sam-old");
    await order("sam");
    await until("sam-phone hears 4 steps", () => newsOf("sam-phone").length >= 4, WAIT);
    const goneTries = push.attempts("sam-old");
    assert.equal(goneTries, 1, "tried once, then forgotten");
    await order("sam");
    await until("sam-phone hears the second order", () => newsOf("sam-phone").length >= 8, WAIT);
    assert.equal(push.attempts("sam-old"), goneTries, "a gone subscription is not tried again");

    const out = await call("DELETE", "/api/push/subscription", "sam", { endpoint: phone.endpoint });
    assert.equal(out.status, 204);
    const id = await order("sam");
    await until("the third order delivered", async () =>
      (await call("GET", `/api/orders/${id}`, "sam")).body?.status === "delivered", WAIT);
    await new Promise((r) => setTimeout(r, 1_500)); // the sender polls every second
    assert.equal(newsOf("sam-phone").length, 8, "nothing after opting out");
  });

  test("endpoints outside --push-hosts, bad keys and strangers are refused", async () => {
    const good = push.subscribe("x");
    const bad = async (body, pointer) => {
      const r = await call("PUT", "/api/push/subscription", "eve", body);
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.ok(r.body.errors.some((e) => e.pointer === pointer), JSON.stringify(r.body.errors));
    };
    await bad({ ...good, endpoint: "http://169.254.169.254/latest/meta-data" }, "/endpoint");
    await bad({ ...good, endpoint: "https://example.com/push" }, "/endpoint");
    await bad({ ...good, keys: { ...good.keys, p256dh: b64url(Buffer.alloc(65, 4)) } }, "/keys/p256dh");
    await bad({ ...good, keys: { ...good.keys, auth: "AAAA" } }, "/keys/auth");
    const anonymous = await fetch(server.url + "/api/push/subscription", {
      method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(good),
    });
    assert.equal(anonymous.status, 401);
  });
});

/** Hands `payload` to the worker of `page`'s origin as a push service would, through Chromium's
 * DevTools protocol; resolves with the notifications the worker then shows. A delivery is
 * handed over again after 5 s without a notification: about 1 run in 6 here, Chromium's
 * DevTools delivery never reached the worker's `push` listener (nothing logged, nothing shown).
 * The notification's tag makes a second delivery replace, not add to, the first. */
async function deliver(context, page, payload) {
  const cdp = await context.newCDPSession(page);
  const registration = new Promise((resolve) => cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
    const mine = registrations.find((r) => !r.isDeleted && r.scopeURL.startsWith(server.url));
    if (mine) resolve(mine.registrationId);
  }));
  await cdp.send("ServiceWorker.enable");
  const registrationId = await registration;
  const [worker] = context.serviceWorkers();
  const shown = () => worker.evaluate(() => self.registration.getNotifications()
    .then((ns) => ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))));
  for (let attempt = 1; ; attempt++) {
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: server.url, registrationId, data: payload });
    try {
      return await until("the notification shown", async () => {
        const all = await shown();
        return all.length > 0 && all;
      }, 5_000);
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
}

/** Clicks the notification shown, in the worker; resolves with what its handler did to windows
 * (`["focus", path]` or `["open", path]`) once it closed the notification. Only the browser's
 * own click may let a worker open or focus a window, and nothing here can click a notification:
 * the event is dispatched in the worker with the notification it showed, and `openWindow` and
 * `focus` record what they were asked instead of refusing it. */
async function click(context) {
  const [worker] = context.serviceWorkers();
  await worker.evaluate(async () => {
    self.__windows = [];
    self.clients.openWindow = async (url) => { self.__windows.push(["open", url]); return null; };
    WindowClient.prototype.focus = async function () {
      self.__windows.push(["focus", new URL(this.url).pathname]);
      return this;
    };
    const [notification] = await self.registration.getNotifications();
    // Untrusted, so the listener's `waitUntil` throws; the handler it was given runs all the same.
    self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
  });
  return until("the click handled", () => worker.evaluate(async () =>
    (await self.registration.getNotifications()).length === 0 && self.__windows.length > 0 && self.__windows), WAIT);
}

/** Headless Chromium reaches no push service (`subscribe` fails "Registration failed"), so the
 * page's `PushManager` hands out the stand-in's subscriptions instead, kept in localStorage as a
 * browser keeps its own; unsubscribing makes the stand-in answer 410, as a push service does. */
async function withStandInPushManager(context, asked) {
  await context.exposeBinding("__pushStandIn", (_, op, arg) => {
    if (op === "subscribe") {
      asked.push(arg);
      return push.subscribe(`browser-${asked.length}`);
    }
    push.gone(new URL(arg).pathname.split("/").pop());
  });
  await context.addInitScript(() => {
    const KEY = "test.pushSubscription";
    const wrap = (json) => json && {
      endpoint: json.endpoint,
      toJSON: () => json,
      unsubscribe: async () => {
        localStorage.removeItem(KEY);
        await window.__pushStandIn("unsubscribe", json.endpoint);
        return true;
      },
    };
    PushManager.prototype.getSubscription = async () => wrap(JSON.parse(localStorage.getItem(KEY)));
    PushManager.prototype.subscribe = async (options) => {
      const json = await window.__pushStandIn("subscribe", options.applicationServerKey);
      localStorage.setItem(KEY, JSON.stringify(json));
      return wrap(json);
    };
  });
}

describe("Web Push in the browser", () => {
  test("the service worker shows the notification the BFF sent", async () => {
    const browser = await launch();
    try {
      const context = await contextAs(browser, "nia");
      await context.grantPermissions(["notifications"], { origin: server.url });
      const page = await context.newPage();
      await page.goto(server.url + "/restaurants");
      await controlled(page);
      assert.equal((await call("PUT", "/api/push/subscription", "nia", push.subscribe("nia-browser"))).status, 204);
      const id = await order("nia");
      const [news] = await until("the BFF's first notification", () => newsOf("nia-browser").length && newsOf("nia-browser"), WAIT);
      const shown = await deliver(context, page, news.payload);
      assert.deepEqual(shown, [{ title: "Your order was accepted", body: "2 items, 25.80 EUR", tag: `order-${id}`, data: "/cart" }]);
      await context.close();
    } finally {
      await browser.close();
    }
  });

  test("a user opts in from the status bar, hears of the order with no page open, a click shows the order, opts out; the next user at the browser is not told", async () => {
    const browser = await launch();
    try {
      const context = await browser.newContext();
      // The first user until the page itself switches to another.
      await context.addInitScript(() => localStorage.getItem("tessera.devSession") ??
        localStorage.setItem("tessera.devSession", JSON.stringify({ userName: "Ola", idToken: "dev:ola:customer", roles: ["customer"] })));
      await context.grantPermissions(["notifications"], { origin: server.url });
      const asked = [];
      await withStandInPushManager(context, asked);
      const toggle = (page, state) => page.waitForSelector(`.tessera-push[data-push="${state}"]`, { timeout: WAIT });

      let page = await context.newPage();
      await page.goto(server.url + "/cart");
      await controlled(page);
      await toggle(page, "off");
      await page.click(".tessera-push button");
      await toggle(page, "on");
      assert.deepEqual(asked, [publicKey], "subscribed with the server's key");

      await page.close();
      assert.equal(context.pages().length, 0, "no page open");
      const id = await order("ola");
      const news = await until("ola's browser hears 4 steps", () => newsOf("browser-1").length >= 4 && newsOf("browser-1"), WAIT);
      assert.deepEqual(news.map((n) => n.title), STEPS);

      page = await context.newPage();
      await page.goto(server.url + "/cart");
      await toggle(page, "on");
      const shown = await deliver(context, page, news[3].payload);
      assert.deepEqual(shown, [{ title: "Your order was delivered", body: "2 items, 25.80 EUR", tag: `order-${id}`, data: "/cart" }]);
      // A click focuses the window showing the order's page, or opens one.
      assert.deepEqual(await click(context), [["focus", "/cart"]], "the open /cart window is focused");
      // Chromium still gives the window's URL as /cart after the shell's router moved it on: the
      // focused window is asked to show the order's page, and does.
      await page.locator('.tessera-nav a[data-menu-key="restaurants"]').click();
      await page.waitForURL("**/restaurants");
      await deliver(context, page, news[2].payload);
      assert.deepEqual(await click(context), [["focus", "/cart"]]);
      await page.waitForURL("**/cart", { timeout: WAIT });
      await deliver(context, page, news[1].payload);
      await page.close();
      assert.deepEqual(await click(context), [["open", "/cart"]], "no window open: one is opened");
      page = await context.newPage();
      await page.goto(server.url + "/cart");

      // Opting out tells the server: it does not even try this browser again.
      await toggle(page, "on");
      await page.click(".tessera-push button");
      await toggle(page, "off");
      const tried = push.attempts("browser-1");
      const next = await order("ola");
      await until("ola's second order delivered", async () =>
        (await call("GET", `/api/orders/${next}`, "ola")).body?.status === "delivered", WAIT);
      await new Promise((r) => setTimeout(r, 1_500)); // the sender polls every second
      assert.equal(push.attempts("browser-1"), tried, "no push after opting out");

      // Opted in again, then another user at this browser: the subscription is dropped at the push service.
      await toggle(page, "off");
      await page.click(".tessera-push button");
      await toggle(page, "on");
      await page.evaluate(() => localStorage.setItem("tessera.devSession",
        JSON.stringify({ userName: "Bob", idToken: "dev:bob:customer", roles: ["customer"] })));
      await page.reload();
      await toggle(page, "off");
      await order("ola");
      await until("the push service refused ola's news for the browser Bob now uses", () => push.attempts("browser-2") > 0, WAIT);
      assert.equal(newsOf("browser-2").length, 0, "nothing reached Bob's browser");
      await context.close();
    } finally {
      await browser.close();
    }
  });
});
