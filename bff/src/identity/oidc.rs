//! OpenID Connect: bearer JWTs checked against the issuer's published signing keys.
//!
//! The keys come from the issuer's discovery document (`<issuer>/.well-known/openid-configuration`
//! names `jwks_uri`) and are cached. A token naming a key id (`kid`) the cache lacks refetches
//! the JWKS, at most once per refetch interval, so a stream of tokens with made-up key ids costs
//! the provider one request per interval, not one each. A cache older than ten minutes is
//! refreshed on its next use (keeping the old keys if that fails), so a key the provider retires
//! stops being trusted.
//!
//! A token passes when its signature verifies with an asymmetric key (RSA or EC) from that set,
//! `iss` is exactly the configured issuer, `aud` contains the configured audience, `sub` is set,
//! and `exp` and `nbf` hold within the configured clock skew ([`LEEWAY_SECS`] by default).
//! `sub` becomes the caller's subject and the `roles` claim (a list of strings; missing means
//! none) its roles.

use super::Caller;
use crate::problem::ApiError;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Clock skew tolerated on `exp` and `nbf` by default.
pub use crate::config::DEFAULT_OIDC_LEEWAY_SECS as LEEWAY_SECS;
/// Keys older than this are refetched on their next use.
const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// After a failed fetch, the next try waits at most this long (or the refetch interval).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Signature algorithms accepted: asymmetric only (never `HS*`, whose "key" would be public).
const ACCEPTED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

pub struct Settings {
    /// Compared exactly with `iss` (Auth0's issuers end in `/`, Keycloak's do not).
    pub issuer: String,
    pub audience: String,
    /// An unknown `kid` refetches the JWKS at most this often.
    pub refetch_interval: Duration,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

pub struct Verifier {
    settings: Settings,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<Keys>>>,
    /// Held while fetching, so concurrent misses make one request.
    fetch: tokio::sync::Mutex<FetchState>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("oidc::Verifier")
            .field("issuer", &self.settings.issuer)
            .field("audience", &self.settings.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct FetchState {
    /// From the discovery document; forgotten when fetching it fails, so discovery runs again.
    jwks_uri: Option<String>,
    next_allowed: Option<Instant>,
}

struct Keys {
    by_kid: HashMap<String, Arc<Key>>,
    all: Vec<Arc<Key>>,
    fetched: Instant,
}

struct Key {
    decoding: DecodingKey,
    /// The JWK's `alg`, when it names one.
    alg: Option<KeyAlgorithm>,
}

impl Key {
    fn fits(&self, alg: Algorithm) -> bool {
        self.decoding.family() == alg.family()
            && self.alg.is_none_or(|a| a == KeyAlgorithm::from(alg))
    }
}

impl Keys {
    /// The key a token names by `kid`; a token without `kid` may use the only key that fits.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).filter(|k| k.fits(alg)).cloned(),
            None => {
                let mut fitting = self.all.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(only.clone()),
                    _ => None,
                }
            }
        }
    }

    /// The signing keys of a JWKS document; encryption keys, symmetric keys and keys this
    /// library cannot use are skipped.
    fn parse(document: JwksDocument) -> Keys {
        let mut keys = Keys {
            by_kid: HashMap::new(),
            all: Vec::new(),
            fetched: Instant::now(),
        };
        for value in document.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
                || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            {
                continue;
            }
            let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let key = Arc::new(Key {
                decoding,
                alg: jwk.common.key_algorithm,
            });
            if let Some(kid) = jwk.common.key_id {
                keys.by_kid.insert(kid, key.clone());
            }
            keys.all.push(key);
        }
        keys
    }
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// A NumericDate, which may have a fraction. Required by the validation, which names it
    /// when it is missing (so it is optional here).
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    roles: Option<serde_json::Value>,
}

enum RefreshError {
    /// The last fetch was too recent.
    TooSoon,
    Failed,
}

impl Verifier {
    /// The issuer and the audience (the client id) tokens must name.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn new(settings: Settings) -> anyhow::Result<Verifier> {
        let url = reqwest::Url::parse(&settings.issuer)
            .map_err(|e| anyhow::anyhow!("--oidc-issuer {:?}: {e}", settings.issuer))?;
        match url.scheme() {
            "https" => {}
            "http" if matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
            "http" => eprintln!(
                "tessera-bff: WARNING: the OIDC issuer {} is plain HTTP: its keys can be \
                 tampered with on the way; use https outside a loopback setup",
                settings.issuer
            ),
            other => anyhow::bail!("--oidc-issuer must be an https URL, not {other}:"),
        }
        if settings.audience.is_empty() {
            anyhow::bail!("--oidc-audience must not be empty");
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client for OIDC discovery: {e}"))?;
        Ok(Verifier {
            settings,
            http,
            keys: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        })
    }

    /// Fetches the keys ahead of the first token, logging what it finds (or why it cannot).
    pub async fn warm_up(&self) {
        let _ = self.refresh(|_| true).await;
    }

    /// The caller a bearer token stands for, or why it does not.
    pub async fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let header = decode_header(token)
            .map_err(|_| ApiError::invalid_token("malformed token: not a signed JWT"))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(ApiError::invalid_token(format!(
                "unsupported signature algorithm {:?} (RSA and EC signatures are accepted)",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| self.rejection(e.kind()))?
            .claims;
        if claims.sub.is_empty() {
            return Err(ApiError::invalid_token("the token's sub claim is empty"));
        }
        // The subject is stored (owners, lastModifiedBy): no control or bidi characters.
        if let Some(c) = claims
            .sub
            .chars()
            .find(|c| crate::http::is_forbidden_char(*c))
        {
            return Err(ApiError::invalid_token(format!(
                "the token's sub claim contains the control character U+{:04X}",
                u32::from(c)
            )));
        }
        Ok(Caller {
            subject: claims.sub,
            roles: roles(claims.roles),
            expires_at: claims.exp.map(|exp| exp.floor() as i64),
        })
    }

    fn rejection(&self, kind: &ErrorKind) -> ApiError {
        ApiError::invalid_token(match kind {
            ErrorKind::ExpiredSignature => "expired: the token's exp has passed".to_owned(),
            ErrorKind::ImmatureSignature => {
                "not yet valid: the token's nbf is in the future".to_owned()
            }
            ErrorKind::InvalidIssuer => format!(
                "wrong issuer: the token was not issued by {}",
                self.settings.issuer
            ),
            ErrorKind::InvalidAudience => format!(
                "wrong audience: the token is not for {}",
                self.settings.audience
            ),
            ErrorKind::InvalidSignature => {
                "bad signature: the token does not verify with the issuer's key".to_owned()
            }
            ErrorKind::InvalidAlgorithm => {
                "the token's algorithm does not match its signing key".to_owned()
            }
            ErrorKind::MissingRequiredClaim(claim) => {
                format!("the token lacks the {claim} claim")
            }
            ErrorKind::InvalidClaimFormat(claim) => {
                format!("the token's {claim} claim is malformed")
            }
            ErrorKind::Json(_) => "malformed token: its claims are not as expected".to_owned(),
            _ => "malformed token".to_owned(),
        })
    }

    fn current(&self) -> Option<Arc<Keys>> {
        self.keys.read().expect("keys lock").clone()
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<Key>, ApiError> {
        let unknown = || {
            ApiError::invalid_token(
                "unknown key: the token is not signed with any of the issuer's current keys",
            )
        };
        if let Some(keys) = self.current() {
            if let Some(key) = keys.find(kid, alg) {
                if keys.fetched.elapsed() < KEYS_MAX_AGE {
                    return Ok(key);
                }
                // Old keys: refresh, but keep trusting this one if the provider is out of reach.
                return match self.refresh(|k| k.fetched.elapsed() < KEYS_MAX_AGE).await {
                    Ok(()) => self
                        .current()
                        .and_then(|k| k.find(kid, alg))
                        .ok_or_else(unknown),
                    Err(_) => Ok(key),
                };
            }
        }
        match self.refresh(|k| k.find(kid, alg).is_some()).await {
            Ok(()) => self
                .current()
                .and_then(|k| k.find(kid, alg))
                .ok_or_else(unknown),
            Err(RefreshError::TooSoon) if self.current().is_some() => Err(unknown()),
            Err(_) => Err(ApiError::identity_provider_unavailable(
                "the identity provider's signing keys could not be fetched; try again shortly",
            )),
        }
    }

    /// Refetches the keys unless `satisfied` already holds for the cached ones (another task
    /// may just have fetched them) or the last fetch was too recent.
    async fn refresh(&self, satisfied: impl Fn(&Keys) -> bool) -> Result<(), RefreshError> {
        let mut state = self.fetch.lock().await;
        if self.current().is_some_and(|k| satisfied(&k)) {
            return Ok(());
        }
        if state.next_allowed.is_some_and(|t| Instant::now() < t) {
            return Err(RefreshError::TooSoon);
        }
        let result = self.fetch_keys(&mut state).await;
        let interval = self.settings.refetch_interval;
        state.next_allowed = Some(
            Instant::now()
                + match result {
                    Ok(_) => interval,
                    Err(_) => interval.min(RETRY_AFTER_FAILURE),
                },
        );
        match result {
            Ok(keys) => {
                eprintln!(
                    "tessera-bff: OIDC issuer {}: {} signing key(s)",
                    self.settings.issuer,
                    keys.all.len()
                );
                *self.keys.write().expect("keys lock") = Some(Arc::new(keys));
                Ok(())
            }
            Err(e) => {
                eprintln!(
                    "tessera-bff: OIDC issuer {}: cannot fetch signing keys: {e:#}",
                    self.settings.issuer
                );
                Err(RefreshError::Failed)
            }
        }
    }

    async fn fetch_keys(&self, state: &mut FetchState) -> anyhow::Result<Keys> {
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let discovery: Discovery = self.get_json(&url).await?;
                if discovery.issuer != self.settings.issuer {
                    anyhow::bail!(
                        "{url} names the issuer {:?}; --oidc-issuer must be exactly that",
                        discovery.issuer
                    );
                }
                state.jwks_uri = Some(discovery.jwks_uri.clone());
                discovery.jwks_uri
            }
        };
        match self.get_json::<JwksDocument>(&jwks_uri).await {
            Ok(document) => Ok(Keys::parse(document)),
            Err(e) => {
                state.jwks_uri = None;
                Err(e)
            }
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("GET {url}: {status}");
        }
        response
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))
    }
}

/// The `roles` claim: a list of strings (other entries ignored) or one space-separated string.
fn roles(claim: Option<serde_json::Value>) -> Vec<String> {
    match claim {
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) if !s.is_empty() => Some(s),
                _ => None,
            })
            .collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_must_be_a_url_and_the_audience_set() {
        let settings = |issuer: &str, audience: &str| Settings {
            issuer: issuer.into(),
            audience: audience.into(),
            refetch_interval: Duration::from_secs(1),
            leeway_secs: LEEWAY_SECS,
        };
        assert!(Verifier::new(settings("https://id.example/realms/x", "tessera")).is_ok());
        assert!(Verifier::new(settings("http://127.0.0.1:8082", "tessera")).is_ok());
        assert!(Verifier::new(settings("id.example", "tessera")).is_err());
        assert!(Verifier::new(settings("ftp://id.example", "tessera")).is_err());
        assert!(Verifier::new(settings("https://id.example", "")).is_err());
    }

    #[test]
    fn a_rejection_names_the_failure_in_www_authenticate() {
        use axum::response::IntoResponse;
        let response = ApiError::invalid_token("say \"hi\" \\ é").into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\", error_description=\"say 'hi' ' '\""
        );
        let response = ApiError::unauthorized("missing Authorization header").into_response();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    #[test]
    fn roles_come_from_a_list_or_a_string() {
        assert_eq!(
            roles(Some(serde_json::json!(["customer", 3, "", "admin"]))),
            ["customer", "admin"]
        );
        assert_eq!(
            roles(Some(serde_json::json!("customer admin"))),
            ["customer", "admin"]
        );
        assert!(roles(None).is_empty());
        assert!(roles(Some(serde_json::json!({"admin": true}))).is_empty());
    }

    #[test]
    fn symmetric_and_encryption_keys_are_skipped() {
        let document: JwksDocument = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e", "use": "enc", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "s", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]}))
        .unwrap();
        let keys = Keys::parse(document);
        assert_eq!(keys.all.len(), 1);
        assert!(keys.find(Some("s"), Algorithm::ES256).is_some());
        assert!(keys.find(Some("s"), Algorithm::RS256).is_none());
        assert!(keys.find(None, Algorithm::ES256).is_some());
        assert!(keys.find(Some("h"), Algorithm::HS256).is_none());
    }
}
