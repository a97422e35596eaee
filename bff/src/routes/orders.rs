//! `/api/orders`: the caller's orders, newest first. Someone else's order reads as 404, so ids
//! cannot be probed.

use crate::http::{check_id, conditional_json, Audience, PageParams};
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::routes::restaurants::meta_from_row;
use crate::sql::{query, Row, Sql};
use crate::AppState;
use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tessera_contract::sync::{
    entity_etag, FieldError, Order, OrderStatus, Page, Problem, CURRENCY,
};

const COLUMNS: &str = "id, owner, status, lines, total_cents, placed_at, placed_ms, version, last_modified, last_modified_by, deleted";

#[utoipa::path(get, path = "/api/orders", tag = "orders",
    params(("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 20)"),
           ("cursor" = Option<String>, Query, description = "nextCursor of the previous page")),
    responses((status = 200, description = "the caller's orders, newest first", body = Page<Order>),
              (status = 304, description = "unchanged since the ETag in If-None-Match"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: PageParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Cursor "<placed_ms>.<id>": the last order of the previous page, newest first.
    let (before_ms, before_id) = match &page.cursor {
        None => (i64::MAX, String::new()),
        Some(c) => c
            .split_once('.')
            .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
            .ok_or_else(|| {
                ApiError::bad_request(FieldError::parameter(
                    "cursor",
                    "not a cursor this server issued",
                ))
            })?,
    };
    let rows = query(format!(
        "SELECT {COLUMNS} FROM orders WHERE owner = $1 AND (placed_ms < $2 OR (placed_ms = $2 AND id < $3)) \
         ORDER BY placed_ms DESC, id DESC LIMIT $4"
    ))
    .bind(&caller.subject)
    .bind(before_ms)
    .bind(&before_id)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(&mut state.db.reader())
    .await
    .context("listing orders")?;
    let more = rows.len() > page.limit as usize;
    let rows = &rows[..rows.len().min(page.limit as usize)];
    let next_cursor = match rows.last() {
        Some(last) if more => Some(format!(
            "{}.{}",
            last.try_get::<i64, _>("placed_ms")?,
            last.try_get::<String, _>("id")?
        )),
        _ => None,
    };
    let items = rows
        .iter()
        .map(order_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(conditional_json(
        &headers,
        None,
        &Page { items, next_cursor },
        Audience::Private,
    ))
}

#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "order id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 200, body = Order), (status = 304, description = "unchanged since the ETag in If-None-Match"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_id("id", &id)?;
    let order = load_order(&mut state.db.reader(), &caller.subject, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("you have no order {id:?}")))?;
    Ok(conditional_json(
        &headers,
        Some(entity_etag(order.meta.version)),
        &order,
        Audience::Private,
    ))
}

/// `owner`'s order `id` (order ids are a namespace per owner).
pub(crate) async fn load_order(
    conn: &mut impl Sql,
    owner: &str,
    id: &str,
) -> Result<Option<Order>, ApiError> {
    let row = query(format!(
        "SELECT {COLUMNS} FROM orders WHERE owner = $1 AND id = $2"
    ))
    .bind(owner)
    .bind(id)
    .fetch_optional(conn)
    .await
    .context("reading an order")?;
    row.as_ref().map(order_from_row).transpose()
}

fn order_from_row(row: &Row) -> Result<Order, ApiError> {
    let status: String = row.try_get("status")?;
    let lines: String = row.try_get("lines")?;
    Ok(Order {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        status: OrderStatus::parse(&status)
            .with_context(|| format!("unknown stored order status {status:?}"))?,
        lines: serde_json::from_str(&lines).context("stored order lines are not valid")?,
        total_cents: row.try_get("total_cents")?,
        currency: CURRENCY.to_owned(),
        placed_at: row.try_get("placed_at")?,
        meta: meta_from_row(row)?,
    })
}
