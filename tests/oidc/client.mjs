// Helpers for tests and scripts that need the development OIDC provider: start it, and sign in
// the way a browser would (authorization code + PKCE through its login form) with plain fetch.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readyLine } from "../lib/ready.mjs";

export const PROVIDER = join(dirname(fileURLToPath(import.meta.url)), "provider.mjs");
export const CLIENT_ID = "tessera";
export const SCOPE = "openid profile roles offline_access";

/** Starts provider.mjs on an ephemeral port; resolves to `{issuer, rotate(), close()}` once it
 * prints its issuer. */
export async function startProvider({ redirectUris = [], postLogoutRedirectUris = [], idTokenTtl } = {}) {
  const args = [PROVIDER, "--port", "0"];
  for (const uri of redirectUris) args.push("--redirect-uri", uri);
  for (const uri of postLogoutRedirectUris) args.push("--post-logout-redirect-uri", uri);
  if (idTokenTtl) args.push("--id-token-ttl", String(idTokenTtl));
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const [, issuer] = await readyLine(child, child.stdout, /^oidc issuer (\S+)$/m, "the OIDC provider");
  return {
    issuer,
    /** Adds a signing key; resolves to `{kid, kids}`. */
    rotate: async () => (await fetch(`${issuer}/admin/rotate-keys`, { method: "POST" })).json(),
    close: () => child.kill(),
  };
}

/** The claims of a JWT, unverified (tests check what the provider put there). */
export function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

export function headerOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8"));
}

export async function discover(issuer) {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`discovery: ${res.status}`);
  return res.json();
}

/** A cookie jar that ignores paths and domains: enough for one provider on one host. Pass one
 * to `signIn` to keep the provider session (for a later sign-out, or a second sign-in). */
export function cookieJar() {
  const cookies = new Map();
  return {
    take(res) {
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(";");
        const i = pair.indexOf("=");
        const name = pair.slice(0, i).trim();
        if (/expires=Thu, 01 Jan 1970|max-age=0/i.test(line)) cookies.delete(name);
        else cookies.set(name, pair.slice(i + 1).trim());
      }
    },
    /** fetch with the jar's cookies, taking the ones the answer sets; redirects not followed. */
    async fetch(url, init = {}) {
      const res = await fetch(url, { ...init, redirect: "manual", headers: { ...init.headers, cookie: this.header() } });
      this.take(res);
      return res;
    },
    header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
  };
}

/** Signs `username` in through the login form and redeems the code; resolves to the token
 * endpoint's answer (`id_token`, `refresh_token`, `access_token`, `expires_in`). */
export async function signIn(issuer, { username, password = username, redirectUri, scope = SCOPE, params = {}, jar = cookieJar() }) {
  const config = await discover(issuer);
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(16).toString("base64url");
  const nonce = randomBytes(16).toString("base64url");
  const auth = new URL(config.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: "code",
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...params,
  });
  const go = (url, init) => jar.fetch(url, init);
  let res = await go(auth);
  for (let hop = 0; hop < 10; hop++) {
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get("location"), issuer);
      if (next.href.startsWith(redirectUri)) {
        const params = next.searchParams;
        if (params.get("error")) throw new Error(`${params.get("error")}: ${params.get("error_description")}`);
        if (params.get("state") !== state) throw new Error("state mismatch");
        const token = await fetch(config.token_endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "authorization_code",
            client_id: CLIENT_ID,
            code: params.get("code"),
            redirect_uri: redirectUri,
            code_verifier: verifier,
          }),
        });
        const body = await token.json();
        if (!token.ok) throw new Error(`token endpoint: ${token.status} ${JSON.stringify(body)}`);
        if (claimsOf(body.id_token).nonce !== nonce) throw new Error("nonce mismatch");
        return body;
      }
      res = await go(next);
      continue;
    }
    const page = await res.text();
    const action = page.match(/<form method="post" action="([^"]+)"/)?.[1];
    if (res.status !== 200 || !action) {
      const text = page.replace(/<style>.*<\/style>/s, "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
      throw new Error(`unexpected page ${res.status}: ${text.trim().slice(0, 300)}`);
    }
    res = await go(new URL(action, issuer), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ login: username, password }),
    });
  }
  throw new Error("too many redirects");
}

/** Redeems a refresh token; resolves to the token endpoint's answer. */
export async function refresh(issuer, refreshToken) {
  const { token_endpoint } = await discover(issuer);
  const res = await fetch(token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: refreshToken }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`refresh: ${res.status} ${JSON.stringify(body)}`);
  return body;
}
