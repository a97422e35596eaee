#!/usr/bin/env node
// Tessera's OpenID Connect provider for development and tests: npm `oidc-provider` (a certified
// implementation) on 127.0.0.1 with one public client and two users.
//
//   node tests/oidc/provider.mjs [--port 0] [--redirect-uri URI]... [--post-logout-redirect-uri URI]...
//                                [--id-token-ttl SECONDS]
//
// Prints `oidc issuer http://127.0.0.1:PORT` on stdout once it listens (everything else goes
// to stderr). Flags fall back to environment variables: TESSERA_OIDC_PORT,
// TESSERA_OIDC_REDIRECT_URIS and TESSERA_OIDC_POST_LOGOUT_REDIRECT_URIS (comma-separated),
// TESSERA_OIDC_ID_TOKEN_TTL.
//
// - Client `tessera`: public (no secret, token_endpoint_auth_method none), authorization code
//   with PKCE (S256, required) and refresh tokens (rotated on use), redirect and post-logout
//   redirect URIs matched exactly, CORS allowed for their origins.
// - Users: alice / alice (roles ["customer"], name "Alice"), ada / ada (roles
//   ["customer","admin"], name "Ada"). Scopes `openid profile roles offline_access`; the ID
//   token carries `name` and `roles`, and a refresh token is issued whenever the client asks
//   for the code grant (offline_access or not, and without prompt=consent).
// - Login: GET /interaction/<uid> shows a form (`login`, `password`, a "Sign in" button);
//   consent is granted without asking (the client is first-party). Sign-out
//   (end_session_endpoint) ends the provider session without a confirmation page.
// - Keys: one RS256 key generated at start, published at jwks_uri. `POST /admin/rotate-keys`
//   (or SIGUSR2) adds a new RS256 key that signs from then on; the old ones stay published, so
//   tokens signed earlier still verify. The answer is `{"kid": NEW, "kids": [ALL]}`.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import Provider from "oidc-provider";

const USERS = {
  alice: { password: "alice", name: "Alice", roles: ["customer"] },
  ada: { password: "ada", name: "Ada", roles: ["customer", "admin"] },
};
const CLIENT_ID = "tessera";

const list = (value) => (value ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const { values: flags } = parseArgs({
  options: {
    port: { type: "string" },
    "redirect-uri": { type: "string", multiple: true },
    "post-logout-redirect-uri": { type: "string", multiple: true },
    "id-token-ttl": { type: "string" },
  },
});
const port = Number(flags.port ?? process.env.TESSERA_OIDC_PORT ?? 0);
const redirectUris = flags["redirect-uri"] ?? list(process.env.TESSERA_OIDC_REDIRECT_URIS);
const postLogoutRedirectUris =
  flags["post-logout-redirect-uri"] ?? list(process.env.TESSERA_OIDC_POST_LOGOUT_REDIRECT_URIS);
const idTokenTtl = Number(flags["id-token-ttl"] ?? process.env.TESSERA_OIDC_ID_TOKEN_TTL ?? 600);
if (redirectUris.length === 0) redirectUris.push("http://127.0.0.1:8080/auth/callback");
if (postLogoutRedirectUris.length === 0) postLogoutRedirectUris.push("http://127.0.0.1:8080/");
if (!Number.isInteger(port) || !(idTokenTtl > 0)) {
  console.error("usage: provider.mjs [--port N] [--redirect-uri URI]... [--post-logout-redirect-uri URI]... [--id-token-ttl SECONDS]");
  process.exit(2);
}
const allowedOrigins = new Set([...redirectUris, ...postLogoutRedirectUris].map((u) => new URL(u).origin));

const signingKey = () => ({
  ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }),
  kid: `rs256-${randomBytes(6).toString("hex")}`,
  alg: "RS256",
  use: "sig",
});
const keys = [signingKey()]; // the first signs
const cookieKeys = [randomBytes(32).toString("hex")];

// Sessions, grants, codes and tokens, in this process's memory (gone at exit), in one store
// that every Provider instance shares, so a key rotation (a new instance) keeps them.
const store = new Map();
class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }
  static get(key) {
    const entry = store.get(key);
    if (entry?.expiresAt < Date.now()) store.delete(key);
    else return entry?.value;
  }
  static set(key, value, expiresIn) {
    store.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
  }
  async upsert(id, payload, expiresIn) {
    const key = `${this.model}:${id}`;
    MemoryAdapter.set(key, payload, expiresIn);
    if (payload.grantId) {
      const grant = `grant:${payload.grantId}`;
      MemoryAdapter.set(grant, [...(MemoryAdapter.get(grant) ?? []), key]);
    }
    if (this.model === "Session") MemoryAdapter.set(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) MemoryAdapter.set(`userCode:${payload.userCode}`, id, expiresIn);
  }
  async find(id) {
    return MemoryAdapter.get(`${this.model}:${id}`);
  }
  async findByUid(uid) {
    const id = MemoryAdapter.get(`sessionUid:${uid}`);
    return id && this.find(id);
  }
  async findByUserCode(userCode) {
    const id = MemoryAdapter.get(`userCode:${userCode}`);
    return id && this.find(id);
  }
  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    store.delete(`${this.model}:${id}`);
  }
  async revokeByGrantId(grantId) {
    for (const key of MemoryAdapter.get(`grant:${grantId}`) ?? []) store.delete(key);
    store.delete(`grant:${grantId}`);
  }
}

const html = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:3rem auto}label,input,button{display:block;width:100%;margin:.3rem 0}.error{color:#b00}</style>
</head><body>${body}</body></html>`;
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function configuration() {
  return {
    adapter: MemoryAdapter,
    clients: [{
      client_id: CLIENT_ID,
      token_endpoint_auth_method: "none",
      application_type: "web",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
    }],
    jwks: { keys },
    cookies: { keys: cookieKeys },
    claims: { openid: ["sub"], profile: ["name"], roles: ["roles"] },
    scopes: ["openid", "offline_access"],
    // Claims of the granted scopes go into the ID token too (the shell reads them there).
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      const user = USERS[sub];
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, name: user.name, roles: user.roles }) };
    },
    // First-party client: every scope it asks for is granted, no consent page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope("openid profile roles offline_access");
      await grant.save();
      return grant;
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    clientBasedCORS: (_ctx, origin) => allowedOrigins.has(origin),
    pkce: { required: () => true },
    ttl: {
      IdToken: idTokenTtl,
      AccessToken: idTokenTtl,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // Sign out at once: the confirmation form, submitted with "yes".
        logoutSource: async (ctx, form) => {
          ctx.body = html("Signing out", `${form.replace("</form>", '<input type="hidden" name="logout" value="yes"></form>')}
<p>Signing out…</p><button type="submit" form="op.logoutForm">Sign out</button>
<script>document.getElementById("op.logoutForm").submit()</script>`);
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = html("Error", `<h1>${escape(out.error)}</h1><p>${escape(out.error_description ?? "")}</p>`);
    },
  };
}

const server = createServer();
await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
// Rotation builds a new Provider with the longer key list; sessions, grants and tokens live in
// the shared store above and the cookie keys stay the same, so signed-in users and issued
// refresh tokens carry on.
let provider = new Provider(issuer, configuration());
let handle = provider.callback();

async function rotate() {
  const key = signingKey();
  keys.unshift(key);
  provider = new Provider(issuer, configuration());
  handle = provider.callback();
  console.error(`oidc provider: signing with new key ${key.kid}`);
  return { kid: key.kid, kids: keys.map((k) => k.kid) };
}
process.on("SIGUSR2", () => void rotate());

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) req.destroy();
    });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

function loginPage(res, uid, error = "") {
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.end(html("Sign in", `<h1>Sign in to Tessera</h1>
${error ? `<p class="error">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<label>Username <input name="login" required autofocus></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button>
</form>
<p>Users: alice / alice (customer), ada / ada (customer, admin).</p>`));
}

async function interaction(req, res, path) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === "POST" && path.endsWith("/login")) {
    const form = await readForm(req);
    const login = form.get("login") ?? "";
    const user = USERS[login];
    if (!user || form.get("password") !== user.password) {
      res.statusCode = 400;
      return loginPage(res, details.uid, "Invalid username or password.");
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === "login") return loginPage(res, details.uid);
  // Consent (only reached when the client forces prompt=consent): granted, no questions.
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(" "));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
}

server.on("request", async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    if (path.startsWith("/interaction/")) return await interaction(req, res, path);
    if (path === "/admin/rotate-keys" && req.method === "POST") {
      res.setHeader("content-type", "application/json");
      return res.end(JSON.stringify(await rotate()));
    }
    return handle(req, res);
  } catch (err) {
    console.error(`oidc provider: ${req.method} ${path}: ${err.message}`);
    if (!res.headersSent) res.statusCode = err.statusCode ?? 500;
    res.end(html("Error", `<h1>${escape(err.message)}</h1>`));
  }
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
console.log(`oidc issuer ${issuer}`);
