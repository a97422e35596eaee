//! The sending side's cryptography of Web Push, in pure Rust: the message encryption of RFC 8291
//! (the `aes128gcm` content coding of RFC 8188) and the VAPID authorization of RFC 8292.
//!
//! Written here on RustCrypto rather than taken from the `web-push` crate because that one's
//! `ece` needs OpenSSL, which the machines this builds on do not have.

use anyhow::{anyhow, bail, Context, Result};
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::elliptic_curve::Generate;
use p256::{PublicKey, SecretKey};
use reqwest::Url;
use sha2_0_11::Sha256;

/// Base64url as browsers write keys (`PushSubscription.toJSON()`): no padding out, and padding
/// tolerated in, since some client libraries add it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The record size written in the header. RFC 8291 §4 lets a sender use one record only, so
/// this is just the bound the receiver checks that record against.
const RECORD_SIZE: u32 = 4096;
/// salt(16) || rs(4) || idlen(1) || keyid: the sender's uncompressed public key (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
const TAG_LEN: usize = 16;
/// The longest plaintext one message carries. Push services need not take a body over 4096
/// octets (RFC 8030 §7.2), and the body also holds the header, the tag and the 0x02 delimiter:
/// 4096 − 86 − 16 − 1 = 3993 (RFC 8291 §4). A 4096-octet record alone would hold 4079, but
/// then the body would be 4182 octets, which a push service may refuse.
pub const MAX_PLAINTEXT: usize = 4096 - HEADER_LEN - TAG_LEN - 1;

/// How long a VAPID token is good for: RFC 8292 §2 caps it at 24 hours; half leaves room for
/// clocks that disagree.
pub const VAPID_LIFETIME_S: u64 = 12 * 3600;

/// The server's VAPID key (RFC 8292): an ECDSA P-256 key that signs every request to a push
/// service. Browsers bind a subscription to its public key, so replacing it orphans every
/// subscription.
#[derive(Clone)]
pub struct VapidKey(SigningKey);

// Only the public half: this ends up in logs.
impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VapidKey")
            .field(&self.public_key_base64url())
            .finish()
    }
}

impl VapidKey {
    /// The 32-byte private scalar, big-endian, base64url (what [`VapidKey::to_base64url`]
    /// writes, and what the `web-push` tools call the private key).
    ///
    /// A shorter one is read as the same number with its leading zero bytes left out: Node's
    /// `ECDH.getPrivateKey()` writes about one key in 256 in 31 bytes. Below 24 bytes it is no
    /// random key but a mistake.
    pub fn from_base64url(text: &str) -> Result<VapidKey> {
        // Keys come from flags and environment files, where a stray newline is easy to leave.
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| anyhow!("the VAPID private key is not base64url"))?;
        if !(24..=32).contains(&bytes.len()) {
            bail!(
                "the VAPID private key is {} bytes, not the 32 of a P-256 private key",
                bytes.len()
            );
        }
        SigningKey::from_slice(&bytes)
            .map(VapidKey)
            .map_err(|_| anyhow!("the VAPID private key is zero or not below the P-256 order"))
    }

    pub fn generate() -> VapidKey {
        VapidKey(SigningKey::generate())
    }

    /// The private scalar, for keeping the key: the secret, not for browsers.
    pub fn to_base64url(&self) -> String {
        B64.encode(self.0.to_bytes())
    }

    /// The 65-byte uncompressed public point: what browsers take as `applicationServerKey`.
    pub fn public_key_base64url(&self) -> String {
        B64.encode(self.0.verifying_key().to_sec1_point(false).as_bytes())
    }
}

/// Whether a subscription's keys can be encrypted for, so a bad one is refused when it is
/// handed over rather than failing every later delivery. The text says which key and why.
pub fn check_keys(p256dh: &str, auth: &str) -> std::result::Result<(), String> {
    ua_public_key(p256dh)?;
    auth_secret(auth)?;
    Ok(())
}

fn ua_public_key(p256dh: &str) -> std::result::Result<PublicKey, String> {
    let bytes = B64
        .decode(p256dh.trim())
        .map_err(|_| "keys.p256dh is not base64url".to_owned())?;
    // RFC 8291 §3.1 uses the uncompressed form only; a compressed point would decode below.
    if bytes.len() != 65 {
        return Err(format!(
            "keys.p256dh is {} bytes, not a 65-byte uncompressed P-256 point",
            bytes.len()
        ));
    }
    if bytes[0] != 0x04 {
        return Err("keys.p256dh does not start with 0x04: not an uncompressed point".to_owned());
    }
    PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| "keys.p256dh is not a point on the P-256 curve".to_owned())
}

fn auth_secret(auth: &str) -> std::result::Result<[u8; 16], String> {
    let bytes = B64
        .decode(auth.trim())
        .map_err(|_| "keys.auth is not base64url".to_owned())?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| format!("keys.auth is {} bytes, not 16", bytes.len()))
}

/// The body of a push message for the subscription with these keys (base64url, as the browser
/// gave them): RFC 8291 in one `aes128gcm` record, under a fresh key and salt, as the RFC
/// requires of every message.
pub fn encrypt(plaintext: &[u8], p256dh: &str, auth: &str) -> Result<Vec<u8>> {
    let ua_public = ua_public_key(p256dh).map_err(|why| anyhow!(why))?;
    let auth = auth_secret(auth).map_err(|why| anyhow!(why))?;
    encrypt_with(
        plaintext,
        &ua_public,
        &auth,
        &SecretKey::generate(),
        &<[u8; 16]>::generate(),
    )
}

/// [`encrypt`] with the ephemeral key and salt given, so the RFC's test vector can be checked.
/// Private because reusing either between messages gives the same key and nonce twice.
fn encrypt_with(
    plaintext: &[u8],
    ua_public: &PublicKey,
    auth: &[u8; 16],
    as_secret: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_PLAINTEXT {
        bail!(
            "a push message holds at most {MAX_PLAINTEXT} bytes, this one is {}",
            plaintext.len()
        );
    }
    let as_public = as_secret.public_key().to_sec1_point(false);
    let (cek, nonce) = derive(
        as_secret.diffie_hellman(ua_public).raw_secret_bytes(),
        auth,
        salt,
        ua_public.to_sec1_point(false).as_bytes(),
        as_public.as_bytes(),
    );
    let mut record = Vec::with_capacity(plaintext.len() + 1 + TAG_LEN);
    record.extend_from_slice(plaintext);
    // The last (and only) record's delimiter, with no padding after it.
    record.push(0x02);
    let ciphertext = seal(&cek, &nonce, &record)?;

    let mut body = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

/// RFC 8291 §3.4 then RFC 8188 §2.2–2.3: the content-encryption key and the nonce of the first
/// record (a lone record's sequence number is 0, so the nonce is used as derived).
fn derive(
    ecdh_secret: &[u8],
    auth: &[u8; 16],
    salt: &[u8; 16],
    ua_public: &[u8],
    as_public: &[u8],
) -> ([u8; 16], [u8; 12]) {
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    // These lengths are far below HKDF-SHA-256's limit of 255 × 32 bytes, so expand cannot fail.
    Hkdf::<Sha256>::new(Some(auth), ecdh_secret)
        .expand(&key_info, &mut ikm)
        .expect("32 bytes of HKDF output");
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes of HKDF output");
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes of HKDF output");
    (cek, nonce)
}

fn seal(cek: &[u8; 16], nonce: &[u8; 12], record: &[u8]) -> Result<Vec<u8>> {
    use aes_gcm::aead::{Aead, KeyInit};
    aes_gcm::Aes128Gcm::new(&(*cek).into())
        .encrypt(&(*nonce).into(), record)
        .map_err(|_| anyhow!("AES-128-GCM refused the record"))
}

/// The `Authorization` header for a request to `endpoint` (RFC 8292 §3):
/// `vapid t=<JWT>, k=<public key>`, the JWT signed ES256 and good for [`VAPID_LIFETIME_S`].
/// `subject` is the `sub` claim, a `mailto:` or `https:` contact for the push service.
pub fn vapid_authorization(
    key: &VapidKey,
    endpoint: &str,
    subject: &str,
    now_unix_s: u64,
) -> Result<String> {
    let claims = serde_json::json!({
        "aud": audience(endpoint)?,
        "exp": now_unix_s.saturating_add(VAPID_LIFETIME_S),
        "sub": subject,
    });
    let signing_input = format!(
        "{}.{}",
        B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#),
        B64.encode(serde_json::to_vec(&claims).context("writing the VAPID claims")?)
    );
    // JWS wants r || s (RFC 7518 §3.4), not DER.
    let signature: Signature = key.0.sign(signing_input.as_bytes());
    Ok(format!(
        "vapid t={signing_input}.{}, k={}",
        B64.encode(signature.to_bytes()),
        key.public_key_base64url()
    ))
}

/// The push service's origin, which is what it checks `aud` against: scheme, host and the port
/// only when it is not the scheme's default.
fn audience(endpoint: &str) -> Result<String> {
    let url = Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    match url {
        Some(url) => Ok(url.origin().ascii_serialization()),
        None => bail!("the push endpoint {endpoint:?} is not an absolute http(s) URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    fn b64(text: &str) -> Vec<u8> {
        B64.decode(text).unwrap()
    }

    /// The browser's side: undoes [`encrypt`] with the subscription's private key, checking the
    /// header on the way, as a push receiver would.
    fn decrypt(body: &[u8], ua_secret: &SecretKey, auth: &[u8; 16]) -> Vec<u8> {
        use aes_gcm::aead::{Aead, KeyInit};
        let salt: [u8; 16] = body[..16].try_into().unwrap();
        assert_eq!(u32::from_be_bytes(body[16..20].try_into().unwrap()), 4096);
        assert_eq!(body[20], 65);
        let as_public = PublicKey::from_sec1_bytes(&body[21..86]).unwrap();
        let (cek, nonce) = derive(
            ua_secret.diffie_hellman(&as_public).raw_secret_bytes(),
            auth,
            &salt,
            ua_secret.public_key().to_sec1_point(false).as_bytes(),
            &body[21..86],
        );
        let mut record = aes_gcm::Aes128Gcm::new(&cek.into())
            .decrypt(&nonce.into(), &body[86..])
            .expect("the record decrypts");
        let end = record.iter().rposition(|&b| b != 0).unwrap();
        assert_eq!(record[end], 0x02, "the last record's delimiter");
        record.truncate(end);
        record
    }

    #[test]
    fn rfc8291_appendix_a() {
        let as_secret =
            SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let ua_public = ua_public_key(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        )
        .unwrap();
        let auth = auth_secret("BTBZMqHH6r4Tts7J_aSIgg").unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &ua_public,
            &auth,
            &as_secret,
            &salt,
        )
        .unwrap();
        assert_eq!(
            B64.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
        // And the receiver's side of the same vector.
        let ua_secret =
            SecretKey::from_slice(&b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
        assert_eq!(
            decrypt(&body, &ua_secret, &auth),
            b"When I grow up, I want to be a watermelon"
        );
    }

    #[test]
    fn round_trip_with_fresh_keys() {
        let ua_secret = SecretKey::generate();
        let auth = <[u8; 16]>::generate();
        let p256dh = B64.encode(ua_secret.public_key().to_sec1_point(false).as_bytes());
        check_keys(&p256dh, &B64.encode(auth)).unwrap();

        let length = u32::generate() as usize % (MAX_PLAINTEXT + 1);
        let message = <[u8; MAX_PLAINTEXT]>::generate()[..length].to_vec();
        let body = encrypt(&message, &p256dh, &B64.encode(auth)).unwrap();
        assert_eq!(body.len(), HEADER_LEN + length + 1 + TAG_LEN);
        assert_eq!(decrypt(&body, &ua_secret, &auth), message);

        // Every message has a key and salt of its own.
        let again = encrypt(&message, &p256dh, &B64.encode(auth)).unwrap();
        assert_ne!(body[..86], again[..86]);
    }

    #[test]
    fn the_longest_message_fills_4096_bytes() {
        let ua_secret = SecretKey::generate();
        let p256dh = B64.encode(ua_secret.public_key().to_sec1_point(false).as_bytes());
        let auth = B64.encode([7u8; 16]);
        let body = encrypt(&[b'x'; MAX_PLAINTEXT], &p256dh, &auth).unwrap();
        assert_eq!((MAX_PLAINTEXT, body.len()), (3993, 4096));
        let err = encrypt(&[b'x'; MAX_PLAINTEXT + 1], &p256dh, &auth).unwrap_err();
        assert!(err.to_string().contains("at most 3993 bytes"), "{err}");
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        let good = VapidKey::generate().public_key_base64url();
        let auth = B64.encode([1u8; 16]);
        assert_eq!(check_keys(&good, &auth), Ok(()));
        // Padding is tolerated.
        assert_eq!(
            check_keys(&format!("{good}="), &format!("{auth}==")),
            Ok(())
        );

        let short_auth = check_keys(&good, &B64.encode([1u8; 15])).unwrap_err();
        assert_eq!(short_auth, "keys.auth is 15 bytes, not 16");
        let mut off_curve = b64(&good);
        off_curve[64] ^= 1;
        let off_curve = check_keys(&B64.encode(off_curve), &auth).unwrap_err();
        assert_eq!(off_curve, "keys.p256dh is not a point on the P-256 curve");
        let compressed = check_keys(&B64.encode([2u8; 33]), &auth).unwrap_err();
        assert!(
            compressed.contains("33 bytes, not a 65-byte uncompressed"),
            "{compressed}"
        );
        let mut not_uncompressed = b64(&good);
        not_uncompressed[0] = 0x06;
        let not_uncompressed = check_keys(&B64.encode(not_uncompressed), &auth).unwrap_err();
        assert!(
            not_uncompressed.contains("start with 0x04"),
            "{not_uncompressed}"
        );
        let not_b64 = check_keys("BCVx+/sr7N", &auth).unwrap_err();
        assert_eq!(not_b64, "keys.p256dh is not base64url");
        let not_b64 = check_keys(&good, "a$b").unwrap_err();
        assert_eq!(not_b64, "keys.auth is not base64url");
        // encrypt says the same.
        let err = encrypt(b"hi", &good, "AAAA").unwrap_err();
        assert_eq!(err.to_string(), "keys.auth is 3 bytes, not 16");
    }

    #[test]
    fn vapid_keys_round_trip_and_refuse_bad_text() {
        let key = VapidKey::generate();
        let again = VapidKey::from_base64url(&format!("{}\n", key.to_base64url())).unwrap();
        assert_eq!(again.public_key_base64url(), key.public_key_base64url());
        assert_eq!(b64(&key.public_key_base64url()).len(), 65);
        assert!(!format!("{key:?}").contains(&key.to_base64url()));

        // Leading zero bytes left out, as Node writes some keys.
        let mut padded = [0u8; 32];
        padded[1..].fill(0x5a);
        let short = VapidKey::from_base64url(&B64.encode(&padded[1..])).unwrap();
        assert_eq!(short.to_base64url(), B64.encode(padded));

        let err = |text: &str| VapidKey::from_base64url(text).unwrap_err().to_string();
        assert!(err("not base64!").contains("not base64url"));
        assert!(err(&B64.encode([1u8; 33])).contains("33 bytes, not the 32"));
        assert!(err(&B64.encode([1u8; 16])).contains("16 bytes, not the 32"));
        assert!(err("").contains("0 bytes, not the 32"));
        assert!(err(&B64.encode([0u8; 32])).contains("zero or not below the P-256 order"));
        assert!(err(&B64.encode([0xffu8; 32])).contains("zero or not below the P-256 order"));
    }

    /// Splits the header value and checks the signature; the claims for the caller to look at.
    fn verify(header: &str, key: &VapidKey) -> serde_json::Value {
        let (token, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("vapid t=…, k=…");
        assert_eq!(k, key.public_key_base64url());
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let jwt_header: serde_json::Value = serde_json::from_slice(&b64(parts[0])).unwrap();
        assert_eq!(
            jwt_header,
            serde_json::json!({"typ": "JWT", "alg": "ES256"})
        );
        let signature = Signature::from_slice(&b64(parts[2])).expect("a 64-byte r || s");
        VerifyingKey::from_sec1_bytes(&b64(k))
            .unwrap()
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with k");
        serde_json::from_slice(&b64(parts[1])).unwrap()
    }

    #[test]
    fn vapid_token_signs_the_endpoints_origin() {
        let key = VapidKey::generate();
        let now = 1_700_000_000;
        let header = vapid_authorization(
            &key,
            "https://fcm.googleapis.com/fcm/send/abc:def?x=1",
            "mailto:ops@example.com",
            now,
        )
        .unwrap();
        assert_eq!(
            verify(&header, &key),
            serde_json::json!({
                "aud": "https://fcm.googleapis.com",
                "exp": now + 43_200,
                "sub": "mailto:ops@example.com",
            })
        );

        for (endpoint, aud) in [
            ("http://127.0.0.1:8123/push/alice", "http://127.0.0.1:8123"),
            ("https://push.example:8443/p", "https://push.example:8443"),
            ("https://push.example:443/p", "https://push.example"),
        ] {
            let header = vapid_authorization(&key, endpoint, "https://example.com", now).unwrap();
            assert_eq!(verify(&header, &key)["aud"], aud);
        }
    }

    #[test]
    fn vapid_refuses_endpoints_that_are_not_http_urls() {
        let key = VapidKey::generate();
        for endpoint in [
            "",
            "/push/alice",
            "push.example/p",
            "ftp://push.example/p",
            "mailto:a@b",
        ] {
            let err = vapid_authorization(&key, endpoint, "mailto:a@b", 0).unwrap_err();
            assert!(
                err.to_string().contains("is not an absolute http(s) URL"),
                "{endpoint}: {err}"
            );
        }
    }
}
