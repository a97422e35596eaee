//! Sign-in rules the shell follows, as plain Rust: how the BFF says which identity provider to
//! use, what a signed-in session holds and when to renew it, which claims become the session,
//! and whether a user may open an app.
//!
//! The BFF trusts only tokens it can verify, so it is the one place that names the provider:
//! `GET /api/auth/config` answers [`AuthConfig`]. The shell sends the ID token as the bearer of
//! every BFF call (the BFF checks it was issued for the client, by the issuer, and not expired).

use crate::lifecycle::Session;
use serde::{Deserialize, Serialize};

/// Where the shell reads [`AuthConfig`].
pub const CONFIG_PATH: &str = "/api/auth/config";
/// The path the provider sends the browser back to with the authorization code.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// The scopes the shell asks for: `roles` carries the user's roles in the ID token and
/// `offline_access` a refresh token for renewal without a redirect.
pub const SCOPES: [&str; 3] = ["profile", "roles", "offline_access"];
/// A session is renewed this long before its ID token expires.
pub const RENEW_BEFORE_MS: f64 = 60_000.0;

/// How users sign in, as the BFF is configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum AuthConfig {
    /// OpenID Connect: authorization code with PKCE at `issuer`, as the public client
    /// `client_id`.
    #[serde(rename_all = "camelCase")]
    Oidc { issuer: String, client_id: String },
    /// The BFF accepts unsigned development tokens (`dev:<subject>:<roles>`): local experiments
    /// and tests only.
    Dev,
}

/// Where the shell keeps the signed-in session's tokens: one record in IndexedDB (the
/// runtime's `session_store` writes it; the start module reads it without the runtime).
pub mod session_store {
    pub const DATABASE: &str = "tessera-session";
    pub const STORE: &str = "session";
    pub const KEY: &str = "current";
}

/// A signed-in session as the shell keeps it (in IndexedDB, never `localStorage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub id_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// When the ID token expires, in ms since the Unix epoch (its `exp`).
    pub expires_at_ms: f64,
}

/// What the shell reads out of a verified ID token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Roles, from the `roles` claim (a provider maps its groups or app roles onto it).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

impl Claims {
    /// The claims of a JWT's payload. No signature check: call it only on a token that was
    /// verified (the shell's sign-in verifies it; the BFF verifies every token it gets).
    pub fn of_verified(jwt: &str) -> Option<Claims> {
        serde_json::from_str(&jwt_payload(jwt)?).ok()
    }

    pub fn session(&self, id_token: &str) -> Session {
        Session {
            user_name: self
                .name
                .clone()
                .or_else(|| self.preferred_username.clone())
                .or_else(|| Some(self.sub.clone())),
            id_token: Some(id_token.to_owned()),
            roles: self.roles.clone(),
        }
    }
}

impl Tokens {
    /// How long to wait before renewing: [`RENEW_BEFORE_MS`] before expiry, or at half the
    /// remaining lifetime for short-lived tokens, so renewal never races expiry; 0 when due.
    pub fn renew_in_ms(&self, now_ms: f64) -> f64 {
        let left = self.expires_at_ms - now_ms;
        if left <= 0.0 {
            return 0.0;
        }
        (left - RENEW_BEFORE_MS).max(left / 2.0)
    }
}

/// Whether the user may open an app that needs `required` roles (all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Nobody is signed in: sign in first, then come back.
    SignIn,
    /// Signed in, but without a role the app needs.
    Forbidden,
}

pub fn access(required: &[String], session: &Session) -> Access {
    if required.iter().all(|r| session.has_role(r)) {
        Access::Allowed
    } else if session.id_token.is_none() {
        Access::SignIn
    } else {
        Access::Forbidden
    }
}

/// Only same-origin paths are returned to after sign-in (`/cart?x=1`), never another site.
pub fn safe_return_path(path: &str) -> &str {
    if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') {
        path
    } else {
        "/"
    }
}

/// A JWT's payload as text, for the caller to parse (the browser builds with the browser's
/// parser).
pub fn jwt_payload(jwt: &str) -> Option<String> {
    String::from_utf8(base64url_decode(jwt.split('.').nth(1)?)?).ok()
}

/// The user a bearer token names: a development token's subject (`dev:<subject>:<roles>`), or
/// an ID token's `sub`, read from its payload's JSON text by `sub_of` (each build brings its
/// own JSON reader).
pub fn token_subject(token: &str, sub_of: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    let token = token.trim();
    if let Some(rest) = token.strip_prefix("dev:") {
        let subject = rest.split(':').next().unwrap_or("");
        return (!subject.is_empty()).then(|| subject.to_string());
    }
    sub_of(&jwt_payload(token)?)
}

/// Unpadded base64url (RFC 4648 §5), as JWTs use it.
pub(crate) fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_names_its_subject() {
        let sub_of = |payload: &str| {
            let v: serde_json::Value = serde_json::from_str(payload).ok()?;
            v.get("sub")?.as_str().map(str::to_string)
        };
        assert_eq!(
            super::token_subject(" dev:bob:customer,admin ", sub_of).as_deref(),
            Some("bob")
        );
        assert_eq!(super::token_subject("dev::customer", sub_of), None);
        // {"sub":"u-1"}, as base64url, between a header and a signature.
        assert_eq!(
            super::token_subject("e30.eyJzdWIiOiJ1LTEifQ.sig", sub_of).as_deref(),
            Some("u-1")
        );
        assert_eq!(super::token_subject("not-a-jwt", sub_of), None);
    }

    use super::*;

    fn jwt(payload: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in payload.as_bytes().chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        format!("eyJhbGciOiJSUzI1NiJ9.{out}.c2ln")
    }

    #[test]
    fn claims_become_the_session() {
        let token = jwt(
            r#"{"sub":"ada","name":"Ada","roles":["customer","admin"],"exp":1700000000,"aud":"tessera"}"#,
        );
        let claims = Claims::of_verified(&token).unwrap();
        assert_eq!(claims.sub, "ada");
        assert_eq!(claims.exp, 1_700_000_000);
        let session = claims.session(&token);
        assert_eq!(session.user_name.as_deref(), Some("Ada"));
        assert!(session.has_role("admin"));
        assert_eq!(session.id_token.as_deref(), Some(token.as_str()));
        // No name: the username, then the subject.
        let bare = Claims::of_verified(&jwt(r#"{"sub":"u1","exp":1}"#)).unwrap();
        assert_eq!(bare.session("t").user_name.as_deref(), Some("u1"));
        assert!(bare.roles.is_empty());
        assert_eq!(Claims::of_verified("not-a-jwt"), None);
        assert_eq!(Claims::of_verified(&jwt(r#"{"name":"no sub"}"#)), None);
    }

    #[test]
    fn renewal_comes_before_expiry() {
        let t = Tokens {
            id_token: "t".into(),
            refresh_token: None,
            expires_at_ms: 600_000.0,
        };
        // Ten minutes left: a minute before expiry.
        assert_eq!(t.renew_in_ms(0.0), 540_000.0);
        // Ninety seconds left: at half, not 30 s, so a slow renewal still lands in time.
        assert_eq!(t.renew_in_ms(510_000.0), 45_000.0);
        assert_eq!(t.renew_in_ms(600_000.0), 0.0);
    }

    #[test]
    fn access_needs_every_role() {
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let customer = Session {
            user_name: Some("Alice".into()),
            id_token: Some("t".into()),
            roles: roles(&["customer"]),
        };
        assert_eq!(access(&[], &Session::default()), Access::Allowed);
        assert_eq!(access(&roles(&["customer"]), &customer), Access::Allowed);
        assert_eq!(access(&roles(&["admin"]), &customer), Access::Forbidden);
        assert_eq!(
            access(&roles(&["customer", "admin"]), &customer),
            Access::Forbidden
        );
        assert_eq!(
            access(&roles(&["admin"]), &Session::default()),
            Access::SignIn
        );
    }

    #[test]
    fn config_names_the_mode() {
        let oidc: AuthConfig = serde_json::from_str(
            r#"{"mode":"oidc","issuer":"http://127.0.0.1:9000","clientId":"tessera"}"#,
        )
        .unwrap();
        assert_eq!(
            oidc,
            AuthConfig::Oidc {
                issuer: "http://127.0.0.1:9000".into(),
                client_id: "tessera".into()
            }
        );
        assert_eq!(
            serde_json::from_str::<AuthConfig>(r#"{"mode":"dev"}"#).unwrap(),
            AuthConfig::Dev
        );
        assert!(serde_json::from_str::<AuthConfig>(r#"{"mode":"saml"}"#).is_err());
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return_path("/cart?x=1"), "/cart?x=1");
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "",
            "cart",
        ] {
            assert_eq!(safe_return_path(bad), "/", "{bad}");
        }
    }
}
