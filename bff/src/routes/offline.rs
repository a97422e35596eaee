//! `/api/offline`: the queries a caller needs answered offline, so a client can read them
//! ahead of time (through its read-through cache) without knowing the domain: every page of
//! the catalogue, every restaurant's menu, the caller's cart, orders and open orders.

use crate::identity::Caller;
use crate::problem::ApiError;
use crate::AppState;
use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sqlx::Row;
use tessera_contract::sync::{OfflineSet, Problem};

/// Bounds the list: a client warms at most this many restaurants' menus.
const MAX_RESTAURANTS: i64 = 500;
/// The page size the catalogue's pages are listed by: the list endpoint's default.
const PAGE: usize = 20;

#[utoipa::path(get, path = "/api/offline", tag = "meta",
    description = "Query paths (with their query strings) the caller should have cached to work offline, \
                   in the exact form the demo apps request them.",
    responses((status = 200, body = OfflineSet),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let ids: Vec<String> =
        sqlx::query("SELECT id FROM restaurants WHERE deleted = 0 ORDER BY id LIMIT $1")
            .bind(MAX_RESTAURANTS)
            .fetch_all(state.db.reader())
            .await
            .context("listing restaurants to cache offline")?
            .iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<Result<_, _>>()
            .context("reading restaurant ids")?;
    let open_orders: Vec<String> = sqlx::query(
        "SELECT id FROM orders WHERE owner = $1 AND next_step_at IS NOT NULL ORDER BY id LIMIT 100",
    )
    .bind(&caller.subject)
    .fetch_all(state.db.reader())
    .await
    .context("listing open orders to cache offline")?
    .iter()
    .map(|r| r.try_get::<String, _>("id"))
    .collect::<Result<_, _>>()
    .context("reading order ids")?;
    let mut queries = catalogue_pages(&ids, PAGE);
    queries.extend(ids.iter().map(|id| format!("/api/restaurants/{id}")));
    queries.push("/api/cart".into());
    queries.push("/api/orders".into());
    queries.extend(open_orders.iter().map(|id| format!("/api/orders/{id}")));
    Ok((
        [(header::CACHE_CONTROL, "private, no-store")],
        axum::Json(OfflineSet { queries }),
    ))
}

/// The catalogue's pages as the list endpoint serves them at its default size: the first
/// without a cursor, each next one after the last id of the page before. A full last page has
/// no next page (the list only names a cursor when more items follow).
fn catalogue_pages(ids: &[String], page: usize) -> Vec<String> {
    let mut pages = vec!["/api/restaurants".to_string()];
    let full_pages_before_last = ids.len().saturating_sub(1) / page;
    pages.extend(
        ids.chunks(page)
            .take(full_pages_before_last)
            .filter_map(|p| p.last())
            .map(|last| format!("/api/restaurants?cursor={last}")),
    );
    pages
}

#[cfg(test)]
mod tests {
    use super::catalogue_pages;

    #[test]
    fn every_page_the_list_links_to_is_named_once() {
        let ids: Vec<String> = (1..=7).map(|i| format!("r{i}")).collect();
        assert_eq!(catalogue_pages(&ids[..0], 3), ["/api/restaurants"]);
        assert_eq!(catalogue_pages(&ids[..3], 3), ["/api/restaurants"]);
        assert_eq!(
            catalogue_pages(&ids[..4], 3),
            ["/api/restaurants", "/api/restaurants?cursor=r3"]
        );
        assert_eq!(
            catalogue_pages(&ids[..6], 3),
            ["/api/restaurants", "/api/restaurants?cursor=r3"]
        );
        assert_eq!(
            catalogue_pages(&ids, 3),
            [
                "/api/restaurants",
                "/api/restaurants?cursor=r3",
                "/api/restaurants?cursor=r6"
            ]
        );
    }
}
