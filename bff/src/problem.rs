//! Every error the API returns is an RFC 9457 problem document (`application/problem+json`).
//! Handlers return [`ApiError`]; the [`problemize`] middleware also turns the framework's own
//! plain-text rejections (bad path encoding, 405, …) into problems so clients parse one shape.

use axum::body::to_bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_contract::sync::{entity_etag, FieldError, Problem, PROBLEM_JSON};

/// Problem `type` URIs are relative (`/problems/<slug>`) so they resolve against wherever the
/// BFF is mounted.
const TYPE_PREFIX: &str = "/problems/";

/// Boxed so the `Err` side of every handler's `Result` stays one pointer wide.
#[derive(Debug)]
pub struct ApiError(Box<ProblemParts>);

#[derive(Debug)]
pub struct ProblemParts {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// The entity as it is now, for a 412; its version also becomes the response `ETag`.
    pub current: Option<(serde_json::Value, i64)>,
    /// A 401 for a token that was presented but failed: `WWW-Authenticate` then says
    /// `error="invalid_token"` with this description (RFC 6750).
    pub invalid_token: bool,
    /// RFC 9457 extension members, written next to the standard ones.
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Sent as `Retry-After` (seconds): the request may simply be sent again then.
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError(Box::new(ProblemParts {
            status,
            slug,
            title,
            detail: Some(detail.into()),
            errors: Vec::new(),
            current: None,
            invalid_token: false,
            extensions: serde_json::Map::new(),
            retry_after_secs: None,
        }))
    }

    /// Says in `Retry-After` when the same request may be sent again.
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.0.retry_after_secs = Some(secs);
        self
    }

    pub fn with_error(mut self, error: FieldError) -> Self {
        self.0.errors.push(error);
        self
    }

    /// Adds an extension member `name` (never one of the standard members).
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.0.extensions.insert(name.to_owned(), value);
        self
    }

    /// The entity as it is now, sent as `current` with its version as the `ETag`.
    pub fn with_current(mut self, current: serde_json::Value, version: i64) -> Self {
        self.0.current = Some((current, version));
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.0.status = status;
        self
    }

    /// Input that parsed but breaks a rule (422), naming each offending field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| e.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "Invalid input",
            detail,
        );
        err.0.errors = errors;
        err
    }

    /// A header or parameter that is missing or unreadable (400).
    pub fn bad_request(error: FieldError) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            error.detail.clone(),
        )
        .with_error(error)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    /// A bearer token that was presented and rejected; `detail` names what failed and must
    /// never contain the token.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        let mut err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "Invalid token",
            detail,
        );
        err.0.invalid_token = true;
        err
    }

    /// Tokens cannot be checked right now (the identity provider's keys are out of reach).
    pub fn identity_provider_unavailable(detail: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "identity-provider-unavailable",
            "Identity provider unavailable",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// The command named a version that is no longer current; `current` is what the client
    /// should merge with (absent when the entity does not exist).
    pub fn stale(detail: impl Into<String>, current: Option<(serde_json::Value, i64)>) -> Self {
        let mut err = ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "stale-version",
            "Version mismatch",
            detail,
        );
        err.0.current = current;
        err.with_error(FieldError::header(
            "If-Match",
            "does not name the current version",
        ))
    }

    pub fn precondition_required(detail: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if-match-required",
            "Precondition required",
            detail,
        )
        .with_error(FieldError::header(
            "If-Match",
            "required when updating an existing entity",
        ))
    }

    /// A failure that is ours, not the client's. The cause goes to the log, not to the client.
    pub fn internal(err: anyhow::Error) -> Self {
        eprintln!("tessera-bff: internal error: {err:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; it has been logged",
        )
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            kind: format!("{TYPE_PREFIX}{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            current: self.current.as_ref().map(|(v, _)| v.clone()),
        }
    }
}

impl ApiError {
    /// `Bearer`, or for a rejected token `Bearer error="invalid_token", error_description="…"`
    /// (the description limited to the characters RFC 6750 allows there).
    fn challenge(&self) -> HeaderValue {
        if !self.invalid_token {
            return HeaderValue::from_static("Bearer");
        }
        let description: String = self
            .detail
            .as_deref()
            .unwrap_or(self.title)
            .chars()
            .map(|c| match c {
                ' ' | '!' | '#'..='[' | ']'..='~' => c,
                _ => '\'',
            })
            .collect();
        HeaderValue::from_str(&format!(
            "Bearer error=\"invalid_token\", error_description=\"{description}\""
        ))
        .expect("visible ASCII")
    }
}

impl std::ops::Deref for ApiError {
    type Target = ProblemParts;

    fn deref(&self) -> &ProblemParts {
        &self.0
    }
}

impl From<anyhow::Error> for ApiError {
    /// A database's "not now" stays a `503` under the context a caller added.
    fn from(err: anyhow::Error) -> Self {
        match err.downcast_ref::<sqlx::Error>().and_then(transient_code) {
            Some(_) => ApiError::from(err.downcast::<sqlx::Error>().expect("just checked")),
            None => ApiError::internal(err),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match transient_code(&err) {
            Some(code) => {
                let mut busy = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database-busy",
                    "Database busy",
                    format!(
                        "the database gave up on this write ({code}: {err}); nothing of it was \
                         applied, send it again"
                    ),
                );
                busy.0.retry_after_secs = Some(1);
                busy
            }
            None => ApiError::internal(anyhow::Error::new(err).context("database")),
        }
    }
}

/// The code of a database error that only says "not now": PostgreSQL's deadlock victim and
/// serialization failure, SQLite's busy and locked. Two batches that change the same rows in
/// opposite orders deadlock on PostgreSQL; the loser's command is refused whole (its
/// savepoint or transaction rolled back) and can be sent again as it is.
fn transient_code(err: &sqlx::Error) -> Option<String> {
    const TRANSIENT: [&str; 6] = ["40P01", "40001", "5", "6", "261", "517"];
    let code = err.as_database_error()?.code()?;
    TRANSIENT
        .contains(&code.as_ref())
        .then(|| code.into_owned())
}

impl ApiError {
    /// The problem document as JSON, extension members included: the body of the response,
    /// and a batch command's result.
    pub fn to_problem_json(&self) -> serde_json::Value {
        let mut problem =
            serde_json::to_value(self.to_problem()).expect("a problem always serializes");
        if let Some(members) = problem.as_object_mut() {
            for (name, value) in &self.extensions {
                members.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        problem
    }

    /// The `ETag` the response carries: the version of `current`, if any.
    pub fn etag(&self) -> Option<String> {
        self.current
            .as_ref()
            .map(|(_, version)| entity_etag(*version))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.to_problem_json();
        let body = serde_json::to_vec(&problem).expect("a problem always serializes");
        let mut response =
            (self.status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
        let headers = response.headers_mut();
        if let Some(etag) = self.etag() {
            headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("digits"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, self.challenge());
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

pub async fn not_found_route() -> ApiError {
    ApiError::not_found("no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this path does not accept that method",
    )
}

/// Rewrites any error response that is not already a problem (axum's own rejections are plain
/// text) into one, keeping its status and its text as `detail`.
pub async fn problemize(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let title = status.canonical_reason().unwrap_or("Error");
    let detail = if text.trim().is_empty() {
        title.to_owned()
    } else {
        text
    };
    let mut problem = ApiError::new(status, "http", "Request rejected", detail).into_response();
    for (name, value) in parts.headers.iter() {
        if name == header::ALLOW {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::database_error;

    #[test]
    fn a_deadlock_or_busy_database_is_a_503_to_send_again_and_anything_else_a_500() {
        for code in ["40P01", "40001", "5", "517"] {
            let err = ApiError::from(database_error(code, "deadlock detected"));
            assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE, "{code}");
            assert_eq!(err.slug, "database-busy");
            let response = err.into_response();
            assert_eq!(response.headers()[header::RETRY_AFTER], "1", "{code}");
        }
        // Under the context a caller adds, too.
        let wrapped = anyhow::Error::new(database_error("40P01", "deadlock detected"))
            .context("writing a cart");
        assert_eq!(
            ApiError::from(wrapped).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let unique = ApiError::from(database_error("23505", "duplicate key"));
        assert_eq!(unique.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
