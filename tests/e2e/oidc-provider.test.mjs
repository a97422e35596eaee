// The development OIDC provider (tests/oidc/provider.mjs) as a client sees it: discovery, JWKS,
// code + PKCE through its login form, the ID token's claims and signature, refresh, CORS for the
// shell's origin, key rotation; the same in Chromium (login form filled by Playwright, the token
// exchange from a page on another origin, sign-out); then the real BFF started with
// --oidc-issuer accepting its ID tokens and rejecting everything else.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, createPublicKey, randomBytes, randomUUID, verify } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readyLine } from "../lib/ready.mjs";
import { claimsOf, cookieJar, discover, headerOf, refresh, signIn, startProvider } from "../oidc/client.mjs";

const SHELL = "http://127.0.0.1:8123";
const REDIRECT = `${SHELL}/auth/callback`;
const ID_TOKEN_TTL = 120;

let provider;
before(async () => {
  provider = await startProvider({
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [`${SHELL}/`],
    idTokenTtl: ID_TOKEN_TTL,
  });
});
after(() => provider?.close());

async function jwks() {
  const { jwks_uri } = await discover(provider.issuer);
  return (await fetch(jwks_uri)).json();
}

/** Checks an RS256 JWT's signature against the provider's published keys. */
async function signatureVerifies(jwt) {
  const { kid } = headerOf(jwt);
  const jwk = (await jwks()).keys.find((k) => k.kid === kid);
  assert.ok(jwk, `kid ${kid} is published`);
  const [h, p, s] = jwt.split(".");
  return verify("sha256", Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(s, "base64url"));
}

describe("the development OIDC provider", () => {
  test("publishes discovery and an RS256 JWKS", async () => {
    const config = await discover(provider.issuer);
    assert.equal(config.issuer, provider.issuer);
    assert.match(provider.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    for (const scope of ["openid", "profile", "roles", "offline_access"]) assert.ok(config.scopes_supported.includes(scope), scope);
    assert.deepEqual(config.code_challenge_methods_supported, ["S256"]);
    assert.ok(config.end_session_endpoint && config.token_endpoint && config.revocation_endpoint);
    const { keys } = await jwks();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kty, "RSA");
    assert.equal(keys[0].alg, "RS256");
    assert.ok(keys[0].kid);
    assert.equal(keys[0].d, undefined, "no private parts");
  });

  test("signs alice in through the login form: ID token with name and roles, a refresh token", async () => {
    const tokens = await signIn(provider.issuer, { username: "alice", password: "alice", redirectUri: REDIRECT });
    assert.ok(tokens.refresh_token, "a refresh token");
    const claims = claimsOf(tokens.id_token);
    assert.equal(claims.iss, provider.issuer);
    assert.equal(claims.aud, "tessera");
    assert.equal(claims.sub, "alice");
    assert.equal(claims.name, "Alice");
    assert.deepEqual(claims.roles, ["customer"]);
    assert.equal(claims.exp - claims.iat, ID_TOKEN_TTL);
    assert.equal(headerOf(tokens.id_token).alg, "RS256");
    assert.ok(await signatureVerifies(tokens.id_token));

    const ada = claimsOf((await signIn(provider.issuer, { username: "ada", redirectUri: REDIRECT })).id_token);
    assert.deepEqual([ada.sub, ada.name, ada.roles], ["ada", "Ada", ["customer", "admin"]]);
  });

  test("prompt=consent is granted without a page, with offline_access", async () => {
    const tokens = await signIn(provider.issuer, { username: "ada", redirectUri: REDIRECT, params: { prompt: "consent" } });
    assert.deepEqual(tokens.scope.split(" ").sort(), ["offline_access", "openid", "profile", "roles"]);
    assert.ok(tokens.refresh_token);
  });

  test("a wrong password, a missing PKCE challenge and a foreign redirect URI are refused", async () => {
    await assert.rejects(signIn(provider.issuer, { username: "alice", password: "ada", redirectUri: REDIRECT }), /400/);
    await assert.rejects(signIn(provider.issuer, { username: "mallory", password: "x", redirectUri: REDIRECT }), /400/);
    await assert.rejects(
      signIn(provider.issuer, { username: "alice", redirectUri: REDIRECT, params: { code_challenge: "", code_challenge_method: "" } }),
      /invalid_request/,
    );
    await assert.rejects(signIn(provider.issuer, { username: "alice", redirectUri: `${SHELL}/elsewhere` }), /redirect_uri/);
  });

  test("refresh gives a new ID token and a new refresh token; the used one is spent", async () => {
    const first = await signIn(provider.issuer, { username: "alice", redirectUri: REDIRECT });
    const renewed = await refresh(provider.issuer, first.refresh_token);
    assert.equal(claimsOf(renewed.id_token).sub, "alice");
    assert.deepEqual(claimsOf(renewed.id_token).roles, ["customer"]);
    assert.notEqual(renewed.refresh_token, first.refresh_token, "rotated");
    await assert.rejects(refresh(provider.issuer, first.refresh_token), /invalid_grant/);
  });

  test("the token endpoint answers CORS requests from the shell's origin only", async () => {
    const { refresh_token } = await signIn(provider.issuer, { username: "alice", redirectUri: REDIRECT });
    const { token_endpoint } = await discover(provider.issuer);
    // A preflight is answered for any origin; the request itself only for the client's.
    const post = (origin, token) =>
      fetch(token_endpoint, {
        method: "POST",
        headers: { origin, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "refresh_token", client_id: "tessera", refresh_token: token }),
      });
    const foreign = await post("http://127.0.0.1:9", refresh_token);
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
    const own = await post(SHELL, refresh_token);
    assert.equal(own.status, 200, await own.clone().text());
    assert.equal(own.headers.get("access-control-allow-origin"), SHELL);
  });

  test("sign-out ends the provider session and returns to the shell", async () => {
    const jar = cookieJar();
    const tokens = await signIn(provider.issuer, { username: "ada", redirectUri: REDIRECT, jar });
    // Signed in: the next authorization skips the form (whatever username we would type).
    assert.equal(claimsOf((await signIn(provider.issuer, { username: "x", redirectUri: REDIRECT, jar })).id_token).sub, "ada");
    const { end_session_endpoint } = await discover(provider.issuer);
    const url = `${end_session_endpoint}?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: `${SHELL}/` })}`;
    const page = await (await jar.fetch(url)).text();
    const action = page.match(/action="([^"]+)"/)[1];
    const xsrf = page.match(/name="xsrf" value="([^"]+)"/)[1];
    assert.match(page, /name="logout" value="yes"/, "the page signs out without asking");
    const done = await jar.fetch(action, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ xsrf, logout: "yes" }),
    });
    assert.equal(done.headers.get("location"), `${SHELL}/`);
    await assert.rejects(signIn(provider.issuer, { username: "x", redirectUri: REDIRECT, jar }), /400/, "the form again");
  });

  test("rotation adds a signing key; tokens signed before still verify", async () => {
    const before = await signIn(provider.issuer, { username: "alice", redirectUri: REDIRECT });
    const { kid, kids } = await provider.rotate();
    assert.equal(kids.length, 2);
    assert.deepEqual((await jwks()).keys.map((k) => k.kid), kids);
    assert.notEqual(headerOf(before.id_token).kid, kid);
    assert.ok(await signatureVerifies(before.id_token));
    const renewed = await refresh(provider.issuer, before.refresh_token);
    assert.equal(headerOf(renewed.id_token).kid, kid, "the new key signs");
    assert.ok(await signatureVerifies(renewed.id_token));
  });
});

/** The BFF on a fresh SQLite database, trusting only `issuer`; resolves once it listens. */
async function startBff(issuer) {
  const bin = process.env.TESSERA_BFF_BIN;
  assert.ok(bin, "TESSERA_BFF_BIN is not set: run the tests with `cargo xtask test`");
  const data = mkdtempSync(join(tmpdir(), "tessera-oidc-data-"));
  const args = ["--data-dir", data, "--addr", "127.0.0.1:0", "--oidc-issuer", issuer, "--oidc-jwks-refetch-ms", "100"];
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  const [, url] = await readyLine(child, child.stdout, /listening on (http:\/\/127\.0\.0\.1:\d+)\//, "the BFF");
  return {
    url,
    close: () => {
      child.kill();
      rmSync(data, { recursive: true, force: true });
    },
  };
}

describe("the BFF with --oidc-issuer", () => {
  let bff;
  before(async () => {
    bff = await startBff(provider.issuer);
  });
  after(() => bff?.close());

  const call = (path, token, init = {}) =>
    fetch(`${bff.url}${path}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    });
  const put = (path, token, body, ifMatch) =>
    call(path, token, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        "idempotency-key": randomUUID(),
        ...(ifMatch ? { "if-match": `"${ifMatch}"` } : {}),
      },
      body: JSON.stringify(body),
    });

  test("accepts the provider's ID tokens: the user's sub is lastModifiedBy, roles gate admin commands", async () => {
    const alice = (await signIn(provider.issuer, { username: "alice", redirectUri: REDIRECT })).id_token;
    const ada = (await signIn(provider.issuer, { username: "ada", redirectUri: REDIRECT })).id_token;

    const cart = await call("/api/cart", alice);
    assert.equal(cart.status, 200, await cart.clone().text());
    const added = await put("/api/cart/items/pho-bo", alice, { quantity: 2 });
    assert.equal(added.status, 201, await added.clone().text());
    assert.equal((await added.json()).lastModifiedBy, "alice");

    const menu = "/api/restaurants/pho-corner/menu/pho-bo";
    const item = { name: "Phở bò", priceCents: 1390, available: true };
    const refused = await put(menu, alice, item, 1);
    assert.equal(refused.status, 403);
    const edited = await put(menu, ada, item, 1);
    assert.equal(edited.status, 200, await edited.clone().text());
    assert.equal((await edited.json()).lastModifiedBy, "ada");
  });

  test("rejects no token, a development token and a tampered token, naming what failed", async () => {
    const none = await call("/api/cart");
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), "Bearer");

    const dev = await call("/api/cart", "dev:ada:admin");
    assert.equal(dev.status, 401);
    assert.match(dev.headers.get("www-authenticate"), /^Bearer error="invalid_token", error_description="malformed token/);

    const token = (await signIn(provider.issuer, { username: "alice", redirectUri: REDIRECT })).id_token;
    const [h, p, s] = token.split(".");
    const forged = Buffer.from(JSON.stringify({ ...claimsOf(token), roles: ["customer", "admin"] })).toString("base64url");
    const tampered = await call("/api/cart", `${h}.${forged}.${s}`);
    assert.equal(tampered.status, 401);
    const problem = await tampered.json();
    assert.match(problem.detail, /bad signature/);
    assert.ok(!JSON.stringify(problem).includes(s), "the token is not echoed");
  });

  test("after the provider rotates its key, tokens signed with the new key are accepted", async () => {
    const { kid } = await provider.rotate();
    const tokens = await signIn(provider.issuer, { username: "ada", redirectUri: REDIRECT });
    assert.equal(headerOf(tokens.id_token).kid, kid);
    await new Promise((r) => setTimeout(r, 150)); // past the BFF's refetch interval
    const res = await call("/api/cart", tokens.id_token);
    assert.equal(res.status, 200, await res.text());
  });
});

describe("in a browser", () => {
  // A stand-in for the shell on its own origin: its callback page redeems the code with fetch
  // (a cross-origin call to the token endpoint) and shows the answer in data-result.
  let shell;
  let shellUrl;
  let idp;
  let browser;
  before(async () => {
    shell = createServer((req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      if (!req.url.startsWith("/auth/callback")) return res.end("<!DOCTYPE html><title>shell</title><p>home</p>");
      res.end(`<!DOCTYPE html><title>callback</title><script type="module">
        const params = new URLSearchParams(location.search);
        const { token_endpoint } = await (await fetch(${JSON.stringify("ISSUER")} + "/.well-known/openid-configuration")).json();
        const res = await fetch(token_endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "authorization_code", client_id: "tessera", code: params.get("code"),
            redirect_uri: location.origin + location.pathname, code_verifier: sessionStorage.getItem("verifier"),
          }),
        });
        document.body.dataset.result = JSON.stringify({ status: res.status, body: await res.json() });
      </script>`.replace('"ISSUER"', JSON.stringify(idp.issuer)));
    });
    await new Promise((resolve) => shell.listen(0, "127.0.0.1", resolve));
    shellUrl = `http://127.0.0.1:${shell.address().port}`;
    idp = await startProvider({ redirectUris: [`${shellUrl}/auth/callback`], postLogoutRedirectUris: [`${shellUrl}/`] });
    const { launch } = await import("./harness.mjs");
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    idp?.close();
    shell?.close();
  });

  /** Goes to the authorization endpoint as the shell would (PKCE verifier in sessionStorage). */
  async function startSignIn(page) {
    const verifier = randomBytes(32).toString("base64url");
    await page.goto(`${shellUrl}/`);
    await page.evaluate((v) => sessionStorage.setItem("verifier", v), verifier);
    const { authorization_endpoint } = await discover(idp.issuer);
    await page.goto(`${authorization_endpoint}?${new URLSearchParams({
      client_id: "tessera",
      response_type: "code",
      redirect_uri: `${shellUrl}/auth/callback`,
      scope: "openid profile roles offline_access",
      state: "s1",
      nonce: "n1",
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
    })}`);
  }

  async function submitLogin(page, username, password) {
    await page.fill('input[name="login"]', username);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
  }

  async function callbackResult(page) {
    await page.waitForURL(`${shellUrl}/auth/callback?**`);
    await page.waitForSelector("body[data-result]", { state: "attached" });
    return JSON.parse(await page.getAttribute("body", "data-result"));
  }

  test("Playwright fills the login form; the page redeems the code across origins; sign-out ends the session", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await startSignIn(page);
    await submitLogin(page, "ada", "ada");
    const result = await callbackResult(page);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    const claims = claimsOf(result.body.id_token);
    assert.deepEqual([claims.sub, claims.name, claims.roles, claims.nonce], ["ada", "Ada", ["customer", "admin"], "n1"]);
    assert.ok(result.body.refresh_token);

    // Still signed in at the provider: no form the second time.
    await startSignIn(page);
    assert.equal(claimsOf((await callbackResult(page)).body.id_token).sub, "ada");

    const { end_session_endpoint } = await discover(idp.issuer);
    const hint = result.body.id_token;
    await page.goto(`${end_session_endpoint}?${new URLSearchParams({ id_token_hint: hint, post_logout_redirect_uri: `${shellUrl}/` })}`);
    await page.waitForURL(`${shellUrl}/`);

    // Signed out: the form again, and a wrong password stays on it.
    await startSignIn(page);
    await submitLogin(page, "alice", "wrong");
    await page.waitForSelector("text=Invalid username or password.");
    await submitLogin(page, "alice", "alice");
    assert.equal(claimsOf((await callbackResult(page)).body.id_token).sub, "alice");
    await context.close();
  });
});
