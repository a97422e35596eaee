//! Request and response plumbing shared by the routes: JSON bodies whose errors name the field,
//! command headers, pagination parameters, and conditional (ETag) query responses.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tessera_contract::sync::{parse_version_tag, FieldError, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};

/// Request bodies larger than this are refused with 413 before they are read to the end.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Request targets (path and query) longer than this are refused with 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Request header sections larger than this (names, values and `: `/CRLF framing) are
/// refused with 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// 414 and 431 as problems, before routing. Requests beyond hyper's own hard limits (a
/// target over 64 KiB, more than 100 headers, or a head over about 400 KiB) never get this far:
/// hyper answers those itself, with an empty body.
pub async fn request_limits(
    req: Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "URI too long",
            format!("request targets are limited to {MAX_URI_BYTES} bytes; this one has {target}"),
        ));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request header fields too large",
            format!("request headers are limited to {MAX_HEADER_BYTES} bytes in all; these have {headers}"),
        ));
    }
    Ok(next.run(req).await)
}

/// A JSON request body parsed into `T`, plus its canonical text (keys sorted, no whitespace)
/// for idempotency fingerprints. An empty body reads as `{}`.
pub struct JsonBody<T> {
    pub value: T,
    pub canonical: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if is_timeout(&rejection) {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body-timeout",
                    "Request timeout",
                    "the request body stopped arriving; send it without pausing",
                )
            } else if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "body-too-large",
                    "Body too large",
                    format!("request bodies are limited to {BODY_LIMIT} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    "Bad request",
                    rejection.body_text(),
                )
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        if bytes != b"{}" {
            let is_json = content_type.as_deref().is_some_and(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "send the body as application/json",
                )
                .with_error(FieldError::header(
                    "Content-Type",
                    "must be application/json",
                )));
            }
        }
        parse_json(bytes)
    }
}

/// Whether reading the body failed because it stopped arriving (tower-http's body timeout).
fn is_timeout(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    use std::error::Error;
    let mut source: Option<&(dyn Error + 'static)> = Some(rejection);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Parses `bytes` as `T`, turning serde's complaint into a problem that names the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<JsonBody<T>, ApiError> {
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            format!("the body is not valid JSON: {e}"),
        )
        .with_error(FieldError::pointer("", e.to_string()))
    })?;
    parse_value(raw)
}

/// [`parse_json`] for a body already read as JSON (a batch command's `body`).
pub fn parse_value<T: DeserializeOwned>(raw: serde_json::Value) -> Result<JsonBody<T>, ApiError> {
    // serde would happily read a struct from an array (`[1]` as `{"quantity": 1}`).
    if !raw.is_object() {
        return Err(ApiError::invalid(vec![FieldError::pointer(
            "",
            "the body must be a JSON object",
        )]));
    }
    let canonical = raw.to_string();
    let value = serde_path_to_error::deserialize(raw).map_err(|e| {
        let message = e.inner().to_string();
        let mut pointer = json_pointer(e.path());
        // serde reports a missing member at its parent; name the member itself. (An unknown
        // member is already the last segment of the path.)
        if let Some(field) = quoted_after(&message, "missing field `") {
            pointer = format!("{pointer}/{}", escape_pointer(field));
        }
        ApiError::invalid(vec![FieldError::pointer(pointer, message)])
    })?;
    Ok(JsonBody { value, canonical })
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    rest.split('`').next()
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&escape_pointer(key));
            }
            Segment::Unknown => out.push_str("/?"),
        }
    }
    out
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The headers every command carries.
pub struct CommandHeaders {
    pub idempotency_key: String,
    /// `If-Match: <version>`: the version the client last saw.
    pub if_match: Option<i64>,
    /// `If-None-Match: *`: create only, fail if the entity exists.
    pub create_only: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        command_headers(&parts.headers)
    }
}

pub fn command_headers(headers: &HeaderMap) -> Result<CommandHeaders, ApiError> {
    let text = |name: &'static str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str().map_err(|_| {
                    ApiError::bad_request(FieldError::header(name, "must be visible ASCII"))
                })
            })
            .transpose()
    };
    let idempotency_key = text("idempotency-key")?
        .ok_or_else(|| {
            ApiError::bad_request(FieldError::header(
                "Idempotency-Key",
                "required on every command",
            ))
        })?
        .trim()
        .to_owned();
    if !tessera_contract::sync::is_valid_idempotency_key(&idempotency_key) {
        return Err(ApiError::bad_request(FieldError::header(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )));
    }
    let if_match = text("if-match")?
        .map(|v| {
            parse_version_tag(v).ok_or_else(|| {
                ApiError::bad_request(FieldError::header(
                    "If-Match",
                    "must be an entity version such as \"3\"",
                ))
            })
        })
        .transpose()?;
    let create_only = match text("if-none-match")? {
        None => false,
        Some(v) if v.trim() == "*" => true,
        Some(_) => {
            return Err(ApiError::bad_request(FieldError::header(
                "If-None-Match",
                "commands accept only \"*\" (create only)",
            )))
        }
    };
    if create_only && if_match.is_some() {
        return Err(ApiError::bad_request(FieldError::header(
            "If-None-Match",
            "cannot be combined with If-Match",
        )));
    }
    Ok(CommandHeaders {
        idempotency_key,
        if_match,
        create_only,
    })
}

/// How a command's preconditions apply to an entity that exists at `current` (or not at all):
/// creates need no `If-Match` (or `If-None-Match: *`, or `If-Match: "0"`, the version a query
/// reports for something not created yet), updates need the current version.
pub fn check_preconditions(
    headers: &CommandHeaders,
    current: Option<i64>,
    stale: impl FnOnce() -> ApiError,
) -> Result<(), ApiError> {
    match (current, headers.if_match, headers.create_only) {
        (None, None | Some(0), _) => Ok(()),
        (None, Some(_), _) => Err(stale()),
        (Some(_), _, true) => Err(stale()),
        (Some(_), None, false) => Err(ApiError::precondition_required(
            "this entity exists: send If-Match with the version you last saw",
        )),
        (Some(v), Some(expected), false) if v == expected => Ok(()),
        (Some(_), Some(_), false) => Err(stale()),
    }
}

/// `?limit=&cursor=` (and `?after=` for the event log).
pub struct PageParams {
    pub limit: u32,
    pub cursor: Option<String>,
    pub after: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut params = PageParams {
            limit: DEFAULT_PAGE_LIMIT,
            cursor: None,
            after: None,
        };
        let mut errors = Vec::new();
        for pair in parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => params.limit = n,
                    _ => errors.push(FieldError::parameter(
                        "limit",
                        format!("must be an integer from 1 to {MAX_PAGE_LIMIT}"),
                    )),
                },
                // Cursors are ids or numbers the server made; they never need percent-decoding.
                "cursor" if !value.is_empty() => params.cursor = Some(value.to_owned()),
                "after" => match value.parse::<i64>() {
                    Ok(n) if n >= 0 => params.after = Some(n),
                    _ => errors.push(FieldError::parameter(
                        "after",
                        "must be a non-negative event sequence number",
                    )),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(params)
        } else {
            Err(ApiError::invalid(errors).with_status(StatusCode::BAD_REQUEST))
        }
    }
}

/// Who may cache a query's answer: nobody but the caller, and always after revalidating.
#[derive(Clone, Copy)]
pub enum Audience {
    Public,
    Private,
}

/// A query answer with its `ETag`; `304 Not Modified` when `If-None-Match` already names it.
/// `etag` is the entity's version tag, or `None` to use a hash of the body (lists).
pub fn conditional_json(
    request_headers: &HeaderMap,
    etag: Option<String>,
    body: &impl serde::Serialize,
    audience: Audience,
) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::internal(
                anyhow::Error::new(e).context("serializing a query response"),
            )
            .into_response()
        }
    };
    let etag = etag.unwrap_or_else(|| {
        let digest = Sha256::digest(&bytes);
        format!(
            "\"h{}\"",
            digest[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    });
    let cache_control = match audience {
        Audience::Public => "no-cache",
        Audience::Private => "private, no-cache",
    };
    let matches = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("etag is ASCII"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Audience::Private = audience {
        headers.insert(header::VARY, HeaderValue::from_static("authorization"));
    }
    response
}

/// Rejects a path id that could not name an entity.
pub fn check_id(name: &'static str, id: &str) -> Result<(), ApiError> {
    if tessera_contract::sync::is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(FieldError::parameter(
            name,
            "must be 1 to 64 of A-Z a-z 0-9 . _ -",
        )))
    }
}

/// Whether `c` may not be stored in user text: C0 and C1 controls (NUL, BEL, ESC, even tab
/// and newline: names are one line), DEL, and the bidirectional embedding, override and
/// isolate controls (U+202A–U+202E, U+2066–U+2069) that can make text display other than it
/// reads.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// A 422 entry naming `pointer` and the first forbidden code point in `text`, if any.
pub fn check_text(pointer: &str, text: &str) -> Option<FieldError> {
    let (index, c) = text
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_char(*c))?;
    Some(FieldError::pointer(
        pointer,
        format!(
            "must not contain control or bidirectional-override characters: U+{:04X} at character {index}",
            u32::from(c)
        ),
    ))
}

/// A body may echo `lastModifiedBy`, but only as the caller: the server sets it from identity.
pub fn check_last_modified_by(claimed: Option<&str>, subject: &str) -> Result<(), ApiError> {
    match claimed {
        Some(claimed) if claimed != subject => Err(ApiError::invalid(vec![FieldError::pointer(
            "/lastModifiedBy",
            "is set by the server from your identity; it must be omitted or equal your own subject",
        )])),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_contract::sync::PutCartItem;

    fn pointer_of(body: &str) -> (StatusCode, String) {
        let err = parse_json::<PutCartItem>(body.as_bytes())
            .err()
            .expect("should fail");
        (err.status, err.errors[0].pointer.clone().unwrap())
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            pointer_of("{\"quantity\": \"two\"}"),
            (StatusCode::UNPROCESSABLE_ENTITY, "/quantity".into())
        );
        assert_eq!(
            pointer_of("{}"),
            (StatusCode::UNPROCESSABLE_ENTITY, "/quantity".into())
        );
        assert_eq!(
            pointer_of("{\"quantity\": 1, \"qty\": 2}"),
            (StatusCode::UNPROCESSABLE_ENTITY, "/qty".into())
        );
        assert_eq!(
            pointer_of("{\"quantity\": 1"),
            (StatusCode::BAD_REQUEST, "".into())
        );
        let ok = parse_json::<PutCartItem>(b"{ \"quantity\" : 2 }")
            .ok()
            .unwrap();
        assert_eq!(ok.value.quantity, 2);
        assert_eq!(ok.canonical, "{\"quantity\":2}");
    }

    #[test]
    fn preconditions_follow_create_and_update_rules() {
        let h = |if_match, create_only| CommandHeaders {
            idempotency_key: "k".into(),
            if_match,
            create_only,
        };
        let stale = || ApiError::stale("x", None);
        assert!(check_preconditions(&h(None, false), None, stale).is_ok());
        assert!(check_preconditions(&h(None, true), None, stale).is_ok());
        assert!(check_preconditions(&h(Some(0), false), None, stale).is_ok());
        assert_eq!(
            check_preconditions(&h(Some(1), false), None, stale)
                .unwrap_err()
                .status,
            412
        );
        assert_eq!(
            check_preconditions(&h(None, false), Some(1), stale)
                .unwrap_err()
                .status,
            428
        );
        assert_eq!(
            check_preconditions(&h(None, true), Some(1), stale)
                .unwrap_err()
                .status,
            412
        );
        assert_eq!(
            check_preconditions(&h(Some(1), false), Some(2), stale)
                .unwrap_err()
                .status,
            412
        );
        assert!(check_preconditions(&h(Some(2), false), Some(2), stale).is_ok());
    }

    #[test]
    fn etags_revalidate() {
        let mut req = HeaderMap::new();
        let r = conditional_json(
            &req,
            Some("\"3\"".into()),
            &serde_json::json!({"a": 1}),
            Audience::Private,
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "private, no-cache");
        req.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"3\""));
        let r = conditional_json(
            &req,
            Some("\"3\"".into()),
            &serde_json::json!({"a": 1}),
            Audience::Private,
        );
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let list = conditional_json(
            &HeaderMap::new(),
            None,
            &serde_json::json!([1]),
            Audience::Public,
        );
        assert!(list.headers()[header::ETAG]
            .to_str()
            .unwrap()
            .starts_with("\"h"));
    }
}
