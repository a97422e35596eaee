// A stand-in push service for end-to-end tests: it plays the part of both the push service
// (RFC 8030) and the browser behind it, so a test can subscribe "browsers", let the server send,
// and read what arrived. Each message is held to what real push services and browsers hold it
// to: a VAPID token signed by the expected key (RFC 8292) and a payload that decrypts
// (RFC 8291, aes128gcm of RFC 8188). Only node's own crypto, so it checks the server's
// implementation against an independent one.
import { createServer } from "node:http";
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

// RFC 8292 §2: a token that lives longer than this may be refused.
const MAX_TOKEN_LIFE_S = 24 * 3600;
// RFC 8030 §7.2: push services must take bodies of 4096 octets, and may refuse longer ones.
const MAX_BODY = 4096;

/** Thrown by a check: the status to answer and why, both for the sender and for `refused`. */
class Refusal extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
const refuse = (status, message) => {
  throw new Refusal(status, message);
};

/**
 * Starts the stand-in on 127.0.0.1, on a port of its own. Pushes must be signed with
 * `vapidPublicKey` (base64url, 65-byte point) when it is given, with any key otherwise.
 *
 * - `subscribe(name)`: a new browser-shaped subscription `{ endpoint, keys: { p256dh, auth } }`
 *   at `url + "/push/" + name` (again: a new key, as a browser that subscribes anew).
 * - `received`: every message that passed, `{ name, payload, ttl, urgency, at }`, payload as text.
 * - `refused`: every push that did not, `{ name, status, reason, at }`.
 * - `attempts(name)`: how many pushes came for `name`, whatever the answer.
 * - `gone(name)`: from now on pushes to `name` are answered 410, as for an unsubscribed browser.
 */
export async function startPushEndpoint({ vapidPublicKey } = {}) {
  const subscriptions = new Map(); // name → { ecdh, auth }
  const gone = new Set();
  const received = [];
  const refused = [];
  const attempts = new Map();
  let url;

  function checkVapid(authorization) {
    // RFC 8292 §3: `vapid t=<JWT>, k=<key>`; parameters may come in either order.
    const match = /^vapid\s+(.*)$/i.exec(authorization ?? "");
    if (!match) refuse(401, "no `Authorization: vapid t=…, k=…` header");
    const params = Object.fromEntries(
      match[1].split(",").map((p) => p.trim()).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]),
    );
    const { t: token, k: key } = params;
    if (!token || !key) refuse(401, "the vapid authorization lacks t= or k=");
    if (vapidPublicKey && key !== vapidPublicKey) refuse(403, `k=${key} is not the key the subscription was made with`);

    const point = Buffer.from(key, "base64url");
    if (point.length !== 65 || point[0] !== 4) refuse(401, "k is not a 65-byte uncompressed P-256 point");
    const parts = token.split(".");
    if (parts.length !== 3) refuse(401, "t is not a JWT (header.claims.signature)");
    let header, claims;
    try {
      header = JSON.parse(Buffer.from(parts[0], "base64url"));
      claims = JSON.parse(Buffer.from(parts[1], "base64url"));
    } catch {
      refuse(401, "the JWT's header or claims are not JSON");
    }
    claims ??= {};
    if (header?.alg !== "ES256") refuse(401, `the JWT's alg is ${JSON.stringify(header.alg)}, not "ES256"`);

    let publicKey;
    try {
      // Node imports a raw point only by way of a JWK.
      publicKey = createPublicKey({
        key: { kty: "EC", crv: "P-256", x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) },
        format: "jwk",
      });
    } catch {
      refuse(401, "k is not a point on the P-256 curve");
    }
    // JWS signatures are r || s (RFC 7518 §3.4), not DER.
    const signed = verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`),
      { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(parts[2], "base64url"));
    if (!signed) refuse(401, "the JWT's signature does not verify with k");

    if (claims.aud !== url) refuse(401, `the JWT's aud is ${JSON.stringify(claims.aud)}, not this push service's origin ${url}`);
    const now = Date.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp <= now) refuse(401, `the JWT's exp ${claims.exp} is not in the future`);
    if (claims.exp > now + MAX_TOKEN_LIFE_S) refuse(401, `the JWT's exp ${claims.exp} is more than 24 h ahead`);
    if (typeof claims.sub !== "string" || !/^(mailto|https):/.test(claims.sub)) {
      refuse(401, `the JWT's sub ${JSON.stringify(claims.sub)} is not a mailto: or https: URI`);
    }
  }

  // What the browser does with the body: RFC 8188's header, then RFC 8291's keys.
  function decrypt(body, { ecdh, auth }) {
    if (body.length < 21) refuse(400, `the body is ${body.length} bytes, shorter than an aes128gcm header`);
    const salt = body.subarray(0, 16);
    const rs = body.readUInt32BE(16);
    const idlen = body[20];
    if (idlen !== 65) refuse(400, `the header's idlen is ${idlen}, not 65 (the sender's public key)`);
    const keyid = body.subarray(21, 86);
    const record = body.subarray(86);
    // RFC 8291 §4: one record, so all of it fits the record size; and it holds at least the
    // tag and the delimiter.
    if (record.length > rs) refuse(400, `the record is ${record.length} bytes, over the record size ${rs}: more than one record`);
    if (record.length < 17) refuse(400, `the record is ${record.length} bytes, too short for a tag and a delimiter`);

    let secret;
    try {
      secret = ecdh.computeSecret(keyid);
    } catch {
      refuse(400, "the header's keyid is not a P-256 point");
    }
    const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), ecdh.getPublicKey(), keyid]);
    const ikm = Buffer.from(hkdfSync("sha256", secret, auth, keyInfo, 32));
    const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
    const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));

    let plain;
    try {
      const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
      decipher.setAuthTag(record.subarray(-16));
      plain = Buffer.concat([decipher.update(record.subarray(0, -16)), decipher.final()]);
    } catch {
      refuse(400, "the record does not decrypt (wrong keys, or altered)");
    }
    // Padding is zeros after the delimiter; the last record's delimiter is 2.
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    if (end < 0 || plain[end] !== 2) refuse(400, "the record has no 0x02 delimiter: not a lone, last record");
    return plain.subarray(0, end).toString("utf8");
  }

  async function handle(req, res) {
    const name = /^\/push\/([^/?]+)$/.exec(req.url)?.[1];
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    }
    if (req.method !== "POST" || !name) return answer(res, 404, "not a push resource");
    attempts.set(name, (attempts.get(name) ?? 0) + 1);
    const subscription = subscriptions.get(name);
    try {
      if (gone.has(name)) refuse(410, `subscription ${name} is gone`);
      if (!subscription) refuse(404, `no subscription ${name}`);
      checkVapid(req.headers.authorization);
      if (req.headers["content-encoding"] !== "aes128gcm") {
        refuse(400, `Content-Encoding is ${JSON.stringify(req.headers["content-encoding"])}, not "aes128gcm"`);
      }
      const ttl = req.headers.ttl;
      if (ttl === undefined) refuse(400, "no TTL header");
      if (!/^\d+$/.test(ttl)) refuse(400, `the TTL header ${JSON.stringify(ttl)} is not a number of seconds`);
      if (size > MAX_BODY) refuse(413, `the body is ${size} bytes, over ${MAX_BODY}`);
      const payload = decrypt(Buffer.concat(chunks), subscription);
      const urgency = req.headers.urgency ?? "normal"; // RFC 8030 §5.3's default.
      received.push({ name, payload, ttl: Number(ttl), urgency, at: Date.now() });
      res.setHeader("location", `${url}/message/${received.length}`);
      return answer(res, 201, "");
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      // An unsubscribed browser is the sender's business, not a mistake of the message.
      if (err.status !== 410 && err.status !== 404) {
        refused.push({ name, status: err.status, reason: err.message, at: Date.now() });
      }
      return answer(res, err.status, err.message);
    }
  }

  function answer(res, status, text) {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
    res.end(text);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      refused.push({ name: null, status: 500, reason: String(err?.stack ?? err), at: Date.now() });
      if (!res.headersSent) answer(res, 500, String(err));
      else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    received,
    refused,
    subscribe(name) {
      const ecdh = createECDH("prime256v1");
      ecdh.generateKeys();
      const auth = randomBytes(16);
      subscriptions.set(name, { ecdh, auth });
      gone.delete(name);
      return { endpoint: `${url}/push/${name}`, keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) } };
    },
    gone: (name) => void gone.add(name),
    attempts: (name) => attempts.get(name) ?? 0,
    close() {
      // The sender's client keeps connections alive; without this close() waits on them.
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
