//! Who is calling. Handlers only ever see [`Caller`]; how a bearer token becomes a caller is the
//! [`IdentityProvider`]'s business, so switching from development tokens to OIDC (JWT verified
//! against the provider's JWKS) adds a variant here and changes no handler.

use crate::problem::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tessera_shared::sync::{DevToken, ROLE_ADMIN};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Stable user id; becomes `lastModifiedBy` and owns carts and orders.
    pub subject: String,
    pub roles: Vec<String>,
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

#[derive(Clone, Debug)]
pub enum IdentityProvider {
    /// `Authorization: Bearer dev:<subject>:<role1>,<role2>`, unsigned: development and tests only.
    DevTokens,
}

impl IdentityProvider {
    /// Async because verifying a JWT may need to fetch the provider's keys first.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let value =
            authorization.ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))?;
        self.authenticate_token(token).await
    }

    /// A bare token, as a live connection's `hello` carries it.
    pub async fn authenticate_token(&self, token: &str) -> Result<Caller, ApiError> {
        let token = token.trim();
        match self {
            IdentityProvider::DevTokens => DevToken::parse(token)
                .map(|t| Caller {
                    subject: t.subject,
                    roles: t.roles,
                })
                .ok_or_else(|| {
                    ApiError::unauthorized("invalid token: expected dev:<subject>:<role1>,<role2>")
                }),
        }
    }
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
        for bad in [
            None,
            Some("dev:alice:x"),
            Some("Bearer nope"),
            Some("Basic abc"),
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
