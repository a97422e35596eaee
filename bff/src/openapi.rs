//! The OpenAPI document is assembled from the same `#[utoipa::path]` handlers the router is
//! built from (utoipa-axum registers both at once), so the two cannot drift apart.

use crate::problem::ApiError;
use crate::routes::{batch, cart, events, live, offline, orders, push, restaurants, rum};
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera BFF", description = "Queries (GET with ETag), idempotent commands (PUT with Idempotency-Key and If-Match) and the domain-event log. \
        Errors are application/problem+json. Development tokens: `Authorization: Bearer dev:<subject>:<role1>,<role2>`."),
    modifiers(&BearerAuth),
    tags((name = "restaurants"), (name = "cart"), (name = "batch"), (name = "orders"), (name = "events"), (name = "rum"), (name = "push"), (name = "meta"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The served document, rendered once.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// What `GET /api/health` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    /// The server's clock, RFC 3339.
    time: String,
}

#[utoipa::path(get, path = "/api/health", tag = "meta",
    description = "The clients' heartbeat: answers while the BFF can serve. Never cached.",
    responses((status = 200, description = "the BFF is up", body = Health)))]
async fn health() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(Health {
            status: "ok",
            time: crate::time::now_rfc3339(),
        }),
    )
}

#[utoipa::path(get, path = "/api/auth/config", tag = "meta",
    description = "How browsers sign in: the OpenID Connect issuer and the client id tokens must be issued to \
                   (the BFF accepts only ID tokens it verifies against that issuer's keys), or `dev` when it \
                   accepts development tokens.",
    responses((status = 200, description = "the sign-in configuration", body = tessera_contract::auth::AuthConfig)))]
async fn auth_config(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        axum::Json(state.identity.auth_config()),
    )
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
async fn document(Extension(doc): Extension<Document>) -> Result<impl IntoResponse, ApiError> {
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        doc.0.as_str().to_owned(),
    ))
}

/// Every API route with its documentation.
pub fn api() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(restaurants::list))
        .routes(routes!(restaurants::get))
        .routes(routes!(restaurants::put_menu_item))
        .routes(routes!(cart::get))
        .routes(routes!(cart::put_item))
        .routes(routes!(cart::checkout))
        .routes(routes!(batch::post))
        .routes(routes!(orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(events::list))
        .routes(routes!(live::poll))
        .routes(routes!(document))
        .routes(routes!(health))
        .routes(routes!(auth_config))
        .routes(routes!(offline::get))
        .routes(routes!(rum::post))
        .routes(routes!(rum::summary))
        .routes(routes!(push::key))
        .routes(routes!(push::subscribe, push::unsubscribe))
        .split_for_parts();
    // A WebSocket is not an HTTP operation OpenAPI can describe; `/api/live/poll` documents
    // the same events.
    (
        router.route(
            "/api/live",
            axum::routing::get(crate::live::socket::upgrade),
        ),
        doc,
    )
}
