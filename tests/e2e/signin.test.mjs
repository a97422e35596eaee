// Sign-in with OpenID Connect, end to end: the development provider (npm oidc-provider), the
// BFF trusting only tokens that provider signed, and the shell doing code + PKCE through the
// provider's login form. A customer sees customer menus only and cannot open the admin app by
// typing its URL; an admin edits a menu; sign-out clears the session everywhere.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cleanup, freePort, launch, newStore, outboxEntries, serve } from "./harness.mjs";
import { claimsOf, startProvider } from "../oidc/client.mjs";

let browser;
let provider;
let server;

before(async () => {
  browser = await launch();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  provider = await startProvider({
    redirectUris: [`${origin}/auth/callback`],
    postLogoutRedirectUris: [`${origin}/`],
  });
  server = await serve(newStore(), { port, oidcIssuer: provider.issuer });
});

after(async () => {
  server?.close();
  provider?.close();
  await browser?.close();
  cleanup();
});

/** Fills the provider's login form; resolves once the browser is back on the shell. */
async function logIn(page, user, { issuer = provider.issuer, origin = server.url } = {}) {
  await page.waitForURL((url) => url.href.startsWith(issuer), { timeout: 15_000 });
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', user);
  await page.click('button[type="submit"]');
  await page.waitForURL((url) => url.href.startsWith(origin), { timeout: 15_000 });
}

/** A provider whose ID tokens live `ttl` seconds and a BFF trusting it with `env`; `run` gets
 * `{issuer, origin}`, and both are stopped after it. */
async function withShortLivedTokens(ttl, env, run) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const shortLived = await startProvider({
    redirectUris: [`${origin}/auth/callback`],
    postLogoutRedirectUris: [`${origin}/`],
    idTokenTtl: ttl,
  });
  const bff = await serve(newStore(), { port, oidcIssuer: shortLived.issuer, env });
  try {
    await run({ issuer: shortLived.issuer, origin });
  } finally {
    bff.close();
    shortLived.close();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What the page keeps in localStorage, as one string. */
const localStorageText = (page) => page.evaluate(() => JSON.stringify({ ...localStorage }));

/** The session record in IndexedDB, or null. */
const storedSession = (page) =>
  page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open("tessera-session");
    open.onerror = () => reject(open.error);
    open.onupgradeneeded = () => open.result.createObjectStore("session");
    open.onsuccess = () => {
      const db = open.result;
      const req = db.transaction("session").objectStore("session").get("current");
      req.onsuccess = () => {
        db.close();
        resolve(req.result ?? null);
      };
      req.onerror = () => reject(req.error);
    };
  }));

describe("sign-in with OpenID Connect", () => {
  test("a customer signs in at the provider, sees customer menus only and cannot open the admin app", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Signed out, the cart (customers only) sends the user to sign in, then back to it.
    await page.goto(server.url + "/cart");
    await logIn(page, "alice");
    await page.locator(".tessera-account .user", { hasText: "Alice" }).waitFor({ timeout: 15_000 });
    assert.equal(new URL(page.url()).pathname, "/cart");
    await page.locator(".cart h1", { hasText: "Your cart" }).waitFor();
    await page.locator(".cart .empty").waitFor({ timeout: 10_000 });
    // The nav shows what a customer may open; the admin's menu editor is not among it.
    await page.locator('.tessera-nav a[data-menu-key="cart"]').waitFor();
    assert.equal(await page.locator('.tessera-nav a[data-menu-key="menu-admin"]').count(), 0);
    // Commands carry the signed token: the item lands in Alice's cart on the server.
    await page.goto(server.url + "/restaurants/pho-corner");
    await page.locator('.menu-item[data-item="pho-bo"] button.add').click();
    await page.locator(".tessera-nav .badge", { hasText: "1" }).waitFor({ timeout: 10_000 });
    const token = JSON.parse(await storedSession(page)).idToken;
    assert.equal(claimsOf(token).sub, "alice");
    let cart;
    for (let i = 0; i < 100; i++) {
      cart = await (await fetch(`${server.url}/api/cart`, { headers: { authorization: `Bearer ${token}` } })).json();
      if (cart.lines?.length) break;
      await sleep(100);
    }
    assert.deepEqual(cart.lines.map((l) => [l.itemId, l.quantity]), [["pho-bo", 1]]);
    assert.equal(cart.lastModifiedBy, "alice");

    // Typing the admin app's URL: not opened, back home with a notice.
    await page.goto(server.url + "/admin/menus");
    await page.locator(".tessera-notice", { hasText: "needs the role admin" }).waitFor({ timeout: 10_000 });
    assert.notEqual(new URL(page.url()).pathname, "/admin/menus");
    assert.equal(await page.locator(".menu-admin").count(), 0);
    assert.notEqual(
      await page.evaluate(() => window.__tessera.apps["@tessera/menu-admin"].status),
      "MOUNTED",
    );

    // Tokens are kept in IndexedDB, never in localStorage.
    const stored = await storedSession(page);
    assert.ok(stored && JSON.parse(stored).idToken.startsWith("eyJ"));
    assert.ok(!(await localStorageText(page)).includes("eyJ"), "no token in localStorage");
    await context.close();
  });

  test("an admin signs in, edits a menu, and sign-out clears the session", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url + "/restaurants");
    await page.locator(".tessera-account button.sign-in").click();
    await logIn(page, "ada");
    await page.locator(".tessera-account .user", { hasText: "Ada" }).waitFor({ timeout: 15_000 });
    await page.locator('.tessera-nav a[data-menu-key="menu-admin"]').click();
    await page.locator(".menu-admin h1", { hasText: "Edit menus" }).waitFor({ timeout: 15_000 });
    await page.goto(server.url + "/admin/menus/pho-corner");
    const row = page.locator('.menu-item[data-item="pho-bo"]');
    await row.locator("button.edit").click();
    await row.locator('input[name="name"]').fill("Phở bò (signed in)");
    await row.locator("button.save").click();
    let item;
    for (let i = 0; i < 100; i++) {
      item = (await (await fetch(`${server.url}/api/restaurants/pho-corner`)).json()).menu.find((m) => m.id === "pho-bo");
      if (item.name === "Phở bò (signed in)") break;
      await sleep(100);
    }
    assert.equal(item.name, "Phở bò (signed in)");
    assert.equal(item.lastModifiedBy, "ada", "the BFF took the author from the verified token");

    // A second tab of the same browser is signed in too.
    const other = await context.newPage();
    await other.goto(server.url + "/restaurants");
    await other.locator(".tessera-account .user", { hasText: "Ada" }).waitFor({ timeout: 15_000 });

    await page.locator(".tessera-account button.sign-out").click();
    await page.waitForURL((url) => url.href.startsWith(`${server.url}/restaurants`), { timeout: 15_000 });
    await page.locator(".tessera-account button.sign-in").waitFor({ timeout: 15_000 });
    assert.equal(await storedSession(page), null, "the stored session is gone");
    // The other tab hears of it and drops its session too.
    await other.locator(".tessera-account button.sign-in").waitFor({ timeout: 15_000 });
    assert.equal(await other.locator('.tessera-nav a[data-menu-key="menu-admin"]').count(), 0);
    // The provider's session ended as well: the admin app asks for a login again.
    await page.goto(server.url + "/admin/menus");
    await page.waitForURL((url) => url.href.startsWith(provider.issuer), { timeout: 15_000 });
    await page.locator('input[name="login"]').waitFor();
    await context.close();
  });

  test("two tabs keep one session alive: renewed before it expires, by one tab, adopted by the other", async () => {
    await withShortLivedTokens(20, {}, async ({ issuer, origin }) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${origin}/cart`);
      await logIn(page, "alice", { issuer, origin });
      await page.locator(".tessera-account .user", { hasText: "Alice" }).waitFor({ timeout: 15_000 });
      const other = await context.newPage();
      await other.goto(`${origin}/restaurants`);
      await other.locator(".tessera-account .user", { hasText: "Alice" }).waitFor({ timeout: 15_000 });
      const first = JSON.parse(await storedSession(page));
      // Renewal is due at half the remaining lifetime: about 10 s after sign-in.
      let renewed;
      for (let i = 0; i < 300; i++) {
        renewed = JSON.parse((await storedSession(page)) ?? "null");
        if (renewed && renewed.idToken !== first.idToken) break;
        await sleep(100);
      }
      assert.notEqual(renewed.idToken, first.idToken, "the session was renewed");
      assert.ok(renewed.expiresAtMs > first.expiresAtMs);
      assert.equal(claimsOf(renewed.idToken).sub, "alice");
      // Both tabs now send the renewed token and are still signed in (a second refresh with
      // the spent refresh token would have been refused and ended the session).
      for (const p of [page, other]) {
        await p.waitForFunction((t) => window.__tessera.token === t, renewed.idToken, { timeout: 5_000 });
        assert.equal(await p.locator(".tessera-account button.sign-in").count(), 0);
      }
      const cart = await fetch(`${origin}/api/cart`, { headers: { authorization: `Bearer ${renewed.idToken}` } });
      assert.equal(cart.status, 200);
      await context.close();
    });
  });

  test("a command sent with an expired token waits, and goes through once the session is renewed", async () => {
    // No clock skew allowed: the BFF refuses the token the moment it expires.
    await withShortLivedTokens(20, { TESSERA_OIDC_LEEWAY_SECS: "0" }, async ({ issuer, origin }) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${origin}/cart`);
      await logIn(page, "alice", { issuer, origin });
      await page.locator(".tessera-account .user", { hasText: "Alice" }).waitFor({ timeout: 15_000 });
      const first = JSON.parse(await storedSession(page));
      await page.goto(`${origin}/restaurants/pho-corner`);
      const add = page.locator('.menu-item[data-item="pho-bo"] button.add');
      await add.waitFor({ timeout: 15_000 });
      await page.waitForFunction(() => (window.__tessera?.readAhead ?? 0) > 0, null, { timeout: 15_000 });

      // Offline, the add waits in the outbox; the renewal due halfway through the token's life
      // cannot reach the provider either, and is tried again 30 s later.
      await context.setOffline(true);
      await add.click();
      await page.locator(".tessera-statusbar .tessera-outbox[data-pending=\"1\"]").waitFor({ timeout: 10_000 });
      await sleep(first.expiresAtMs - Date.now() + 1_000);
      const refused = await fetch(`${origin}/api/cart`, { headers: { authorization: `Bearer ${first.idToken}` } });
      assert.equal(refused.status, 401, "the first token has expired");

      // Back online before the renewal's next try: the replay sends the expired token, the
      // BFF says 401, and the command waits to be sent again instead of failing.
      await context.setOffline(false);
      let entries;
      for (let i = 0; i < 100; i++) {
        entries = await outboxEntries(page);
        if (/401/.test(entries[0]?.error ?? "")) break;
        await sleep(100);
      }
      assert.equal(entries.length, 1, JSON.stringify(entries));
      // Waiting, or already on its way again: the worker's sync run, queued behind the page's
      // run, wakes every entry backing off (the browser says it is online) and sends it again
      // with the same token at once. Either way neither refused for good nor in the inbox.
      assert.ok(["pending", "sending"].includes(entries[0].state), JSON.stringify(entries));
      assert.match(entries[0].error, /401/, "it waits because the token was refused");
      assert.equal(await page.locator(".tessera-account button.sign-in").count(), 0, "still signed in");

      // The renewal's next try gets a fresh token, and the waiting command goes with it, once.
      const outbox = page.locator(".tessera-statusbar .tessera-outbox");
      await outbox.and(page.locator('[data-pending="0"]')).and(page.locator('[data-inbox="0"]')).waitFor({ state: "attached", timeout: 45_000 });
      const renewed = JSON.parse(await storedSession(page));
      assert.notEqual(renewed.idToken, first.idToken, "the session was renewed");
      const cart = await (await fetch(`${origin}/api/cart`, { headers: { authorization: `Bearer ${renewed.idToken}` } })).json();
      assert.deepEqual(cart.lines.map((l) => [l.itemId, l.quantity]), [["pho-bo", 1]]);
      assert.equal(cart.version, 1, "applied once");
      assert.deepEqual(await outboxEntries(page), []);
      await context.close();
    });
  });
});
