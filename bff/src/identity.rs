//! Who is calling. Handlers only ever see [`Caller`]; how a bearer token becomes a caller is the
//! [`IdentityProvider`]'s business: an OpenID Connect provider's JWTs checked against its JWKS
//! ([`oidc`]), and, for development and tests only, unsigned `dev:` tokens.

pub mod oidc;

use crate::config::Config;
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tessera_contract::auth::AuthConfig;
use tessera_contract::sync::{DevToken, ROLE_ADMIN};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Stable user id; becomes `lastModifiedBy` and owns carts and orders.
    pub subject: String,
    pub roles: Vec<String>,
    /// When the token stops being valid (its `exp`, seconds since the epoch, leeway not
    /// included); `None` for tokens that do not expire (development tokens).
    pub expires_at: Option<i64>,
}

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.has_role(ROLE_ADMIN) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("role {ROLE_ADMIN:?} required")))
        }
    }
}

#[derive(Debug)]
pub enum IdentityProvider {
    /// `Authorization: Bearer dev:<subject>:<role1>,<role2>`, unsigned: development and tests only.
    DevTokens,
    /// JWTs (the shell sends its ID token) signed by the issuer's keys, for its audience.
    Oidc(oidc::Verifier),
    /// Both: a token starting with `dev:` is a development token, anything else a JWT. For tests
    /// that mix signed-in browsers with scripted callers.
    OidcAndDevTokens(oidc::Verifier),
}

impl IdentityProvider {
    /// How browsers sign in to this BFF (`GET /api/auth/config`).
    pub fn auth_config(&self) -> AuthConfig {
        match self {
            IdentityProvider::DevTokens => AuthConfig::Dev,
            IdentityProvider::Oidc(v) | IdentityProvider::OidcAndDevTokens(v) => AuthConfig::Oidc {
                issuer: v.settings().issuer.clone(),
                client_id: v.settings().audience.clone(),
            },
        }
    }

    /// The provider the configuration asks for. Refuses a configuration that names none: the
    /// BFF never trusts tokens it cannot check unless told to with `--dev-tokens`.
    pub fn from_config(config: &Config) -> anyhow::Result<IdentityProvider> {
        let oidc = match &config.oidc_issuer {
            Some(issuer) => Some(oidc::Verifier::new(oidc::Settings {
                issuer: issuer.clone(),
                audience: config.oidc_audience.clone(),
                refetch_interval: std::time::Duration::from_millis(config.oidc_jwks_refetch_ms),
                leeway_secs: config.oidc_leeway_secs,
            })?),
            None => None,
        };
        if config.dev_tokens {
            eprintln!(
                "tessera-bff: WARNING: --dev-tokens is on: unsigned `dev:<subject>:<roles>` \
                 bearer tokens are accepted, so anyone can act as anyone, admins included. \
                 For local experiments and tests only; never expose this server."
            );
        }
        Ok(match (oidc, config.dev_tokens) {
            (Some(v), false) => IdentityProvider::Oidc(v),
            (Some(v), true) => IdentityProvider::OidcAndDevTokens(v),
            (None, true) => IdentityProvider::DevTokens,
            (None, false) => anyhow::bail!(
                "no identity provider configured: pass --oidc-issuer URL (and --oidc-audience, \
                 the client id the shell signs in with; default `tessera`) to accept tokens from \
                 an OpenID Connect provider, or --dev-tokens to accept unsigned development \
                 tokens (development only)"
            ),
        })
    }

    /// The JWT verifier, when OIDC is configured.
    pub fn verifier(&self) -> Option<&oidc::Verifier> {
        match self {
            IdentityProvider::DevTokens => None,
            IdentityProvider::Oidc(v) | IdentityProvider::OidcAndDevTokens(v) => Some(v),
        }
    }

    /// Async because verifying a JWT may need to fetch the provider's keys first.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let value =
            authorization.ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
        let token = bearer_credentials(value)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))?;
        self.authenticate_token(token).await
    }

    /// A bare token, as a live connection's `hello` carries it (a `Bearer ` prefix, in any
    /// case, is tolerated there too).
    pub async fn authenticate_token(&self, token: &str) -> Result<Caller, ApiError> {
        let token = token.trim();
        let token = bearer_credentials(token).unwrap_or(token).trim();
        if token.is_empty() {
            return Err(ApiError::unauthorized("empty bearer token"));
        }
        match self {
            IdentityProvider::DevTokens => dev_token(token),
            IdentityProvider::Oidc(verifier) => verifier.verify(token).await,
            IdentityProvider::OidcAndDevTokens(verifier) => {
                if token.starts_with("dev:") {
                    dev_token(token)
                } else {
                    verifier.verify(token).await
                }
            }
        }
    }
}

/// The credentials of an `Authorization` value with the `Bearer` scheme, which is matched
/// case-insensitively (RFC 9110, 11.1) and followed by one or more spaces.
pub fn bearer_credentials(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches(' '))
}

fn dev_token(token: &str) -> Result<Caller, ApiError> {
    DevToken::parse(token)
        .map(|t| Caller {
            subject: t.subject,
            roles: t.roles,
            expires_at: None,
        })
        .ok_or_else(|| {
            ApiError::invalid_token("invalid token: expected dev:<subject>:<role1>,<role2>")
        })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::unauthorized("Authorization is not ASCII"))
            })
            .transpose()?;
        state.identity.authenticate(header).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dev_tokens_become_callers() {
        let p = IdentityProvider::DevTokens;
        let c = p
            .authenticate(Some("Bearer dev:alice:customer,admin"))
            .await
            .unwrap();
        assert_eq!(c.subject, "alice");
        assert!(c.has_role("admin"));
        assert!(c.require_admin().is_ok());
        let c = p
            .authenticate(Some("Bearer dev:bob:customer"))
            .await
            .unwrap();
        assert_eq!(c.require_admin().unwrap_err().status, 403);
        for scheme in ["bearer", "BEARER", "BeArEr", "Bearer  "] {
            let c = p
                .authenticate(Some(&format!("{scheme} dev:carol:customer")))
                .await
                .unwrap();
            assert_eq!(c.subject, "carol", "{scheme:?}");
        }
        let c = p
            .authenticate_token("bearer dev:dan:customer")
            .await
            .unwrap();
        assert_eq!(c.subject, "dan");
        for bad in [
            None,
            Some("dev:alice:x"),
            Some("Bearer nope"),
            Some("Basic abc"),
            Some("Bearerdev:alice:x"),
            Some("Bearer "),
            Some("Bearer dev::x"),
        ] {
            assert_eq!(
                p.authenticate(bad).await.unwrap_err().status,
                401,
                "{bad:?}"
            );
        }
    }
}
