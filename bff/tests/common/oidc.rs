//! A stand-in OpenID Connect issuer for tests: discovery and a JWKS served on 127.0.0.1 (the
//! key list can change mid-test, and every fetch is counted), and tokens signed here with the
//! fixed test keys in `tests/keys/` (generated with openssl for these tests only).

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const AUDIENCE: &str = "tessera";

/// A signing key: its `kid`, algorithm and private half.
#[derive(Clone)]
pub struct TestKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    pem: &'static [u8],
}

/// RS256, published from the start.
pub const KEY_A: TestKey = TestKey {
    kid: "key-a",
    alg: Algorithm::RS256,
    pem: include_bytes!("../keys/rsa-a.pem"),
};
/// RS256, published only after a rotation.
pub const KEY_B: TestKey = TestKey {
    kid: "key-b",
    alg: Algorithm::RS256,
    pem: include_bytes!("../keys/rsa-b.pem"),
};
/// ES256 (P-256), published from the start.
pub const KEY_C: TestKey = TestKey {
    kid: "key-c",
    alg: Algorithm::ES256,
    pem: include_bytes!("../keys/ec-c.pem"),
};
/// Never published: a forger's key.
pub const ATTACKER: TestKey = TestKey {
    kid: "key-attacker",
    alg: Algorithm::RS256,
    pem: include_bytes!("../keys/rsa-attacker.pem"),
};

impl TestKey {
    fn encoding(&self) -> EncodingKey {
        match self.alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(self.pem),
            _ => EncodingKey::from_rsa_pem(self.pem),
        }
        .expect("a test key")
    }

    /// The public JWK, as a provider publishes it.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding(), self.alg).expect("a JWK");
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.kid, claims)
    }

    /// Signed with this key but naming `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding()).expect("signing")
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Published {
    issuer: String,
    keys: Mutex<Vec<Jwk>>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

/// The issuer: `http://127.0.0.1:PORT`, serving discovery and `/jwks`.
pub struct TestIssuer {
    pub issuer: String,
    published: Arc<Published>,
    server: tokio::task::JoinHandle<()>,
}

impl TestIssuer {
    pub async fn start(keys: &[TestKey]) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let published = Arc::new(Published {
            issuer: issuer.clone(),
            keys: Mutex::new(keys.iter().map(TestKey::jwk).collect()),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(p): State<Arc<Published>>| async move {
                    p.discovery_fetches.fetch_add(1, Ordering::SeqCst);
                    Json(json!({
                        "issuer": p.issuer,
                        "jwks_uri": format!("{}/jwks", p.issuer),
                        "authorization_endpoint": format!("{}/auth", p.issuer),
                        "token_endpoint": format!("{}/token", p.issuer),
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    }))
                }),
            )
            .route(
                "/jwks",
                get(|State(p): State<Arc<Published>>| async move {
                    p.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = p.keys.lock().unwrap().clone();
                    Json(JwkSet { keys })
                }),
            )
            .with_state(published.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestIssuer {
            issuer,
            published,
            server,
        }
    }

    /// Publishes `keys` from now on (a rotation).
    pub fn publish(&self, keys: &[TestKey]) {
        *self.published.keys.lock().unwrap() = keys.iter().map(TestKey::jwk).collect();
    }

    pub fn jwks_fetches(&self) -> usize {
        self.published.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_fetches(&self) -> usize {
        self.published.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a token for `sub` with `roles`, valid for ten minutes from this issuer.
    pub fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": sub,
            "roles": roles,
            "name": sub,
            "iat": now,
            "exp": now + 600,
        })
    }

    /// A valid token signed with key A.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        KEY_A.sign(&self.claims(sub, roles))
    }

    pub fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
