//! Serves a store over HTTP as a CDN in front of it would: content-addressed bundles cached
//! forever, manifests and `index.html` revalidated (ETag, `304`), `index.html` for any path
//! without an extension (deep links), and nothing outside the store or under `_tessera/`.

use crate::store::{cache_control, content_type, validate_key, Store, INTERNAL_PREFIX};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;

/// The router that serves `store`; mount it at `/` (or nest it under other routes).
pub fn cdn_router<S: Store>(store: Arc<S>) -> Router {
    Router::new()
        .fallback(serve::<S>)
        .with_state(store)
        .layer(CompressionLayer::new().gzip(true).br(true))
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("not found: {what}\n"),
    )
        .into_response()
}

/// The store key for a request path, or `None` when the path cannot name a public object.
fn key_for(path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let key = decoded.trim_start_matches('/');
    let key = if key.is_empty() { "index.html" } else { key };
    if key.starts_with(INTERNAL_PREFIX) || validate_key(key).is_err() {
        return None;
    }
    Some(key.to_string())
}

/// A path the single-page app routes itself: its last segment has no extension.
fn is_app_route(key: &str) -> bool {
    !key.rsplit('/').next().unwrap_or(key).contains('.')
}

async fn serve<S: Store>(State(store): State<Arc<S>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = req.uri().path();
    let Some(mut key) = key_for(path) else {
        return not_found(path);
    };
    let mut object = match store.get(&key).await {
        Ok(o) => o,
        Err(e) => return server_error(&key, e),
    };
    if object.is_none() && is_app_route(&key) {
        key = "index.html".into();
        object = match store.get(&key).await {
            Ok(o) => o,
            Err(e) => return server_error(&key, e),
        };
    }
    let Some(object) = object else {
        return not_found(path);
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&key)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control(&key)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(etag) = HeaderValue::from_str(&object.etag) {
        headers.insert(header::ETAG, etag);
    }
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == object.etag || t.trim() == "*")
        });
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, Body::from(object.bytes)).into_response()
}

fn server_error(key: &str, e: anyhow::Error) -> Response {
    eprintln!("cdn: reading {key}: {e:#}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("could not read {key}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_map_to_public_keys_only() {
        assert_eq!(key_for("/").as_deref(), Some("index.html"));
        assert_eq!(key_for("/apps.json").as_deref(), Some("apps.json"));
        assert_eq!(
            key_for("/%40tessera/cart/abc/cart.js").as_deref(),
            Some("@tessera/cart/abc/cart.js")
        );
        for bad in [
            "/_tessera/registry.json",
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/%2e%2e%2fsecret",
            "/.hidden",
            "/a//b",
        ] {
            assert_eq!(key_for(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_extensionless_paths_fall_back_to_the_page() {
        assert!(is_app_route("restaurants/pho-corner"));
        assert!(!is_app_route("index.html"));
        assert!(!is_app_route("@tessera/cart/abc/missing.js"));
    }
}
