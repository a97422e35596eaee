//! `POST /api/batch`: many commands in one request and one transaction. Each command keeps its
//! own `Idempotency-Key` and preconditions and gets the answer it would get alone; one that is
//! refused undoes only itself (a savepoint per command), so a batch may partly succeed.
//!
//! The commands run through the same steps as the single-command routes ([`commands::run`]),
//! all inside the batch's transaction, so a later command sees what an earlier one did: its
//! `If-Match` is checked against the version the earlier one produced, and a key an earlier
//! one recorded replays.

use crate::http::{command_headers, parse_value, CommandHeaders, JsonBody};
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::routes::commands::{self, Answer, Prepared};
use crate::routes::{cart, restaurants};
use crate::AppState;
use anyhow::Context;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_contract::sync::{FieldError, Problem};

/// The most commands one batch may carry.
pub const MAX_COMMANDS: usize = 100;

/// What `POST /api/batch` takes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchRequest {
    /// The commands, applied in this order (at most 100).
    #[schema(max_items = 100)]
    pub commands: Vec<BatchCommand>,
}

/// One command, as it would be sent alone: method, path, the command headers and the body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchCommand {
    /// `PUT` (another method on a command path is a 405 for this command).
    pub method: String,
    /// A command route: `/api/cart/items/{itemId}`, `/api/cart/checkout/{orderId}` or
    /// `/api/restaurants/{id}/menu/{itemId}` (anything else is a 404 for this command).
    pub path: String,
    /// As the `Idempotency-Key` header: unique per command, reused by its retries.
    pub idempotency_key: String,
    /// As the `If-Match` header, e.g. `"3"` (quotes included).
    #[serde(default)]
    pub if_match: Option<String>,
    /// As the `If-None-Match` header: `*` for create only.
    #[serde(default)]
    pub if_none_match: Option<String>,
    /// The JSON body (absent or null: `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What `POST /api/batch` answers: one result per command, in order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

/// One command's answer: the status and body it would have had alone (a problem document for
/// a 4xx), and whether it is the recorded answer of an earlier use of its key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub status: u16,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub replayed: bool,
    /// The `ETag` it would have had: the entity's version (for a 412, that of `current`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl BatchResult {
    fn new(answer: Answer) -> Result<BatchResult, ApiError> {
        Ok(match answer {
            Answer::Done { outcome, replayed } => BatchResult {
                status: outcome.status.as_u16(),
                body: serde_json::from_str(&outcome.body)
                    .context("a recorded answer is not JSON")?,
                replayed,
                etag: outcome.etag,
            },
            Answer::Refused(error) => BatchResult {
                status: error.status.as_u16(),
                body: error.to_problem_json(),
                replayed: false,
                etag: error.etag(),
            },
        })
    }
}

#[utoipa::path(post, path = "/api/batch", tag = "batch",
    description = "Applies up to 100 commands in one transaction, in order. Each carries what it would carry alone \
                   (method, path, Idempotency-Key, If-Match, body) and gets the status and body it would get alone: \
                   a refused command (412 with `current`, 422, 404 for a path that is no command, …) changes nothing \
                   and does not undo the others. Later commands see earlier ones: If-Match chains, and a key used \
                   twice answers the first result. Keys are recorded as for single commands, so a batch or any of \
                   its commands may be replayed, alone or in another batch, without applying anything twice.",
    request_body = BatchRequest,
    responses((status = 200, description = "one result per command, in order", body = BatchResponse),
              (status = "4XX", description = "the batch itself is malformed or too large (more than 100 commands: 422)",
               body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    let commands = body.value.commands;
    if commands.len() > MAX_COMMANDS {
        return Err(ApiError::invalid(vec![FieldError::pointer(
            "/commands",
            format!(
                "a batch carries at most {MAX_COMMANDS} commands; this one has {}: split it",
                commands.len()
            ),
        )]));
    }
    let prepared = commands.into_iter().map(|c| prepare(&caller, c)).collect();
    let results = commands::run(&state, prepared)
        .await?
        .into_iter()
        .map(BatchResult::new)
        .collect::<Result<_, _>>()?;
    let mut response = axum::Json(BatchResponse { results }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// What the route's handler checks before touching the database, in the same order: route,
/// headers, body, the command's own rules.
fn prepare(caller: &Caller, command: BatchCommand) -> Result<Prepared, ApiError> {
    let route = route(&command.method, &command.path)?;
    let headers = headers(&command)?;
    let body = serde_json::Value::Object(command.body.unwrap_or_default());
    Ok(match route {
        Route::CartItem(item_id) => Prepared::CartItem(cart::PutItem::prepare(
            caller,
            item_id,
            headers,
            parse_value(body)?,
        )?),
        Route::Checkout(order_id) => Prepared::Checkout(cart::PlaceOrder::prepare(
            caller,
            order_id,
            headers,
            parse_value(body)?,
        )?),
        Route::MenuItem(restaurant_id, item_id) => {
            Prepared::MenuItem(restaurants::PutItem::prepare(
                caller,
                restaurant_id,
                item_id,
                headers,
                parse_value(body)?,
            )?)
        }
    })
}

enum Route {
    CartItem(String),
    Checkout(String),
    MenuItem(String, String),
}

const ROUTES: &str = "PUT /api/cart/items/{itemId}, PUT /api/cart/checkout/{orderId} or \
                      PUT /api/restaurants/{id}/menu/{itemId}";

/// The command route `path` names: 404 if none, 405 if not with `method`. Its ids are
/// percent-decoded, as the single command's route decodes them.
fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Option<Vec<String>> = path
        .strip_prefix("/api/")
        .filter(|p| !p.contains(['?', '#']))
        .and_then(|p| {
            p.split('/')
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .ok()
                        .map(String::from)
                })
                .collect()
        });
    let segments: Option<Vec<&str>> = segments
        .as_ref()
        .map(|s| s.iter().map(String::as_str).collect());
    let route = match segments.as_deref() {
        Some(["cart", "items", id]) if !id.is_empty() => Route::CartItem((*id).to_owned()),
        Some(["cart", "checkout", id]) if !id.is_empty() => Route::Checkout((*id).to_owned()),
        Some(["restaurants", restaurant, "menu", id])
            if !restaurant.is_empty() && !id.is_empty() =>
        {
            Route::MenuItem((*restaurant).to_owned(), (*id).to_owned())
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "{path:?} is not a command route; a batch carries {ROUTES} (no query string)"
            ))
            .with_error(FieldError::pointer("/path", "not a command route")))
        }
    };
    if method != "PUT" {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("commands are PUT; {method:?} is not"),
        )
        .with_error(FieldError::pointer("/method", "must be PUT")));
    }
    Ok(route)
}

/// The command's `idempotencyKey`, `ifMatch` and `ifNoneMatch`, read exactly as the headers of
/// a single command are.
fn headers(command: &BatchCommand) -> Result<CommandHeaders, ApiError> {
    let mut map = HeaderMap::new();
    for (name, label, value) in [
        (
            "idempotency-key",
            "Idempotency-Key",
            Some(&command.idempotency_key),
        ),
        ("if-match", "If-Match", command.if_match.as_ref()),
        (
            "if-none-match",
            "If-None-Match",
            command.if_none_match.as_ref(),
        ),
    ] {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value).map_err(|_| {
                ApiError::bad_request(FieldError::header(label, "must be visible ASCII"))
            })?;
            map.insert(name, value);
        }
    }
    command_headers(&map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: &str, path: &str) -> u16 {
        match route(method, path) {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        }
    }

    #[test]
    fn ids_in_a_path_are_percent_decoded() {
        let Ok(Route::MenuItem(restaurant, item)) =
            route("PUT", "/api/restaurants/pho%2Dcorner/menu/pho%20bo")
        else {
            panic!("a menu item route");
        };
        assert_eq!(
            (restaurant.as_str(), item.as_str()),
            ("pho-corner", "pho bo")
        );
        assert!(
            matches!(route("PUT", "/api/cart/items/pho%2Dbo"), Ok(Route::CartItem(id)) if id == "pho-bo")
        );
        assert_eq!(status("PUT", "/api/cart/items/%FF"), 404, "not UTF-8");
    }

    #[test]
    fn routes_are_the_command_routes_only() {
        assert_eq!(status("PUT", "/api/cart/items/pho-bo"), 200);
        assert_eq!(status("PUT", "/api/cart/checkout/o-1"), 200);
        assert_eq!(status("PUT", "/api/restaurants/r/menu/i"), 200);
        assert_eq!(status("POST", "/api/cart/items/pho-bo"), 405);
        assert_eq!(status("put", "/api/cart/items/pho-bo"), 405);
        for path in [
            "/api/cart/items/",
            "/api/cart/items",
            "/api/cart/items/a/b",
            "/api//cart/items/a",
            "api/cart/items/a",
            "/api/cart/items/a?x=1",
            "/api/cart/items/a#f",
            "/api/restaurants//menu/i",
            "/api/restaurants/r/menu/",
            "/api/cart",
            "/api/batch",
            "",
        ] {
            assert_eq!(status("PUT", path), 404, "{path:?}");
            assert_eq!(status("GET", path), 404, "{path:?}");
        }
    }
}
