//! Tessera's reference Backend-for-Frontend: the demo domain's queries and commands over the
//! sync protocol (versions, ETags, idempotent commands, problem details, an event log), on
//! SQLite by default and PostgreSQL at scale.
//!
//! Embedding: [`AppState::connect`], then [`router`] (mount it anywhere), [`kitchen::spawn`],
//! [`live::spawn`] and [`push::sender::spawn`];
//! or [`serve`] for all of it on its own listener.

pub mod config;
pub mod db;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod kitchen;
pub mod live;
pub mod openapi;
pub mod pg_writer;
pub mod problem;
pub mod push;
pub mod routes;
pub mod sequencer;
pub mod server;
pub mod sql;
pub mod time;
pub mod write;
pub mod writer;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::Extension;
use std::sync::Arc;

pub use config::Config;
pub use db::Db;
pub use identity::{Caller, IdentityProvider};
pub use write::Backend;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// For connections of its own (PostgreSQL `LISTEN`).
    pub database_url: String,
    pub identity: Arc<IdentityProvider>,
    pub kitchen_step_ms: u64,
    pub live: Arc<live::Hub>,
    pub fanout: live::fanout::Fanout,
    /// A request body that sends nothing for this long is answered 408.
    pub body_timeout: std::time::Duration,
    /// Real-user monitoring's bounds and allowances.
    pub rum: Arc<routes::rum::Rum>,
    pub push: Arc<push::Push>,
}

impl AppState {
    /// Connects to the configured database and brings its schema up to date.
    /// Refuses a configuration without an identity provider (see [`IdentityProvider::from_config`]).
    pub async fn connect(config: &Config) -> anyhow::Result<AppState> {
        let identity = Arc::new(IdentityProvider::from_config(config)?);
        if identity.verifier().is_some() {
            // The provider's keys, fetched off the start path (and logged) before the first token.
            let identity = identity.clone();
            tokio::spawn(async move {
                if let Some(verifier) = identity.verifier() {
                    verifier.warm_up().await;
                }
            });
        }
        let database_url = config.database_url();
        let db = Db::connect(&database_url, config.max_connections).await?;
        let fanout = live::fanout::Fanout::parse(&config.live_fanout, db.backend)?;
        let push = Arc::new(push::Push::start(config, &db).await?);
        let live = Arc::new(live::Hub::new(live::Settings {
            heartbeat: std::time::Duration::from_millis(config.live_heartbeat_ms.max(10)),
            poll: std::time::Duration::from_millis(config.live_poll_ms.max(10)),
        }));
        Ok(AppState {
            db,
            database_url,
            identity,
            kitchen_step_ms: config.kitchen_step_ms.max(1),
            live,
            fanout,
            body_timeout: std::time::Duration::from_millis(config.http_body_timeout_ms.max(1)),
            rum: Arc::new(routes::rum::Rum::new(
                config.rum_max_samples,
                config.rum_retention_hours,
                config.rum_reports_per_minute,
            )),
            push,
        })
    }
}

/// The whole API under `/api`, with problem+json for every error, including unknown routes (404)
/// and wrong methods (405).
pub fn router(state: AppState) -> axum::Router {
    let (api, doc) = openapi::api();
    let doc = openapi::Document(Arc::new(
        doc.to_pretty_json()
            .expect("the OpenAPI document serializes"),
    ));
    api.fallback(problem::not_found_route)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(http::BODY_LIMIT))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.body_timeout,
        ))
        .layer(axum::middleware::map_response(problem::problemize))
        .layer(axum::middleware::from_fn(http::request_limits))
        .layer(cross_origin())
        .with_state(state)
}

/// Pages of the site call the API of another region than the one serving them (see
/// `tessera_contract::regions`), so any origin may: the API authenticates by bearer token
/// only, never by cookie, so a foreign page gains nothing it could not do with the token.
/// `Authorization` is mirrored, as browsers never let a wildcard cover it.
fn cross_origin() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowMethods, Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(Any)
        .max_age(std::time::Duration::from_secs(600))
}

/// The API under `/api` and the object store's CDN everywhere else, its pages under `policy`.
pub fn with_cdn(
    api: axum::Router,
    store: &str,
    policy: tessera_deployer::cdn::SecurityPolicy,
) -> anyhow::Result<axum::Router> {
    use tower::ServiceExt;
    let store = Arc::new(tessera_deployer::store::AnyStore::open(
        store,
        &tessera_deployer::s3::S3Options::default(),
    )?);
    let cdn = tessera_deployer::cdn::cdn_router_with(store, policy);
    Ok(
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let path = req.uri().path();
            let target = if path == "/api" || path.starts_with("/api/") {
                api.clone()
            } else {
                cdn.clone()
            };
            async move {
                target
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|never| match never {})
            }
        }),
    )
}

/// Runs the BFF on `config.addr` until Ctrl-C or SIGTERM: migrations, the kitchen, the API. Prints
/// `listening on http://ADDR/` once the socket is bound (tests wait for that line).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = AppState::connect(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let kitchen = kitchen::spawn(state.clone());
    let live = live::spawn(state.clone());
    let push = push::sender::spawn(state.clone());
    eprintln!(
        "tessera-bff: {} at {}",
        state.db.backend.name(),
        db::redact(&config.database_url())
    );
    let app = match &config.store {
        None => router(state.clone()),
        Some(store) => with_cdn(
            router(state.clone()),
            store,
            tessera_deployer::cdn::SecurityPolicy {
                bundle_origins: Vec::new(),
                // The sign-in provider: discovery, keys, tokens.
                connect_origins: config
                    .oidc_issuer
                    .iter()
                    .filter_map(|i| origin_of(i))
                    .collect(),
                override_origins: config.override_origins.clone(),
                regions: tessera_contract::regions::distinct(config.regions.clone())
                    .map_err(|e| anyhow::anyhow!("--region: {e}"))?,
            },
        )?,
    };
    println!("listening on http://{addr}/");
    server::serve_http(
        listener,
        app,
        std::time::Duration::from_millis(config.http_header_timeout_ms.max(1)),
        {
            let live = state.live.clone();
            async move {
                shutdown_signal().await;
                // Open sockets close with their resume cursor; waiting long-polls answer now.
                live.close_all();
            }
        },
    )
    .await;
    kitchen.abort();
    live.abort();
    push.abort();
    state.db.close().await;
    Ok(())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// Ctrl-C, or SIGTERM from a process manager.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
