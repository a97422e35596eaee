//! `/api/restaurants`: the catalogue, readable by anyone, and the admins' menu command.

use crate::events::NewEvent;
use crate::http::{
    check_id, check_last_modified_by, check_preconditions, check_text, conditional_json, Audience,
    CommandHeaders, JsonBody, PageParams,
};
use crate::idempotency::{Applied, Command, Outcome};
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::routes::commands::{self, Prepared};
use crate::sql::{query, Row, Sql};
use crate::time::now_rfc3339;
use crate::AppState;
use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_contract::sync::{
    entity_etag, event_types, EntityMeta, FieldError, MenuItem, Page, Problem, PutMenuItem,
    Restaurant, RestaurantDetail, CURRENCY,
};

const SOURCE: &str = "bff/restaurants";
const MAX_PRICE_CENTS: i64 = 1_000_000;

#[utoipa::path(get, path = "/api/restaurants", tag = "restaurants",
    params(("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 20)"),
           ("cursor" = Option<String>, Query, description = "nextCursor of the previous page")),
    responses((status = 200, description = "one page of restaurants, by id", body = Page<Restaurant>),
              (status = 304, description = "unchanged since the ETag in If-None-Match"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    page: PageParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rows = query(
        "SELECT id, name, cuisine, version, last_modified, last_modified_by, deleted FROM restaurants \
         WHERE deleted = 0 AND id > $1 ORDER BY id LIMIT $2",
    )
    .bind(page.cursor.as_deref().unwrap_or_default())
    .bind(i64::from(page.limit) + 1)
    .fetch_all(&mut state.db.reader())
    .await
    .context("listing restaurants")?;
    let mut items = rows
        .iter()
        .map(restaurant_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() > page.limit as usize {
        items.truncate(page.limit as usize);
        items.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(conditional_json(
        &headers,
        None,
        &Page { items, next_cursor },
        Audience::Public,
    ))
}

#[utoipa::path(get, path = "/api/restaurants/{id}", tag = "restaurants",
    params(("id" = String, Path, description = "restaurant id", pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 200, description = "the restaurant with its menu", body = RestaurantDetail),
              (status = 304, description = "unchanged since the ETag in If-None-Match"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_id("id", &id)?;
    let restaurant = load_restaurant(&mut state.db.reader(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no restaurant {id:?}")))?;
    let menu = query(
        "SELECT id, restaurant_id, name, price_cents, available, version, last_modified, last_modified_by, deleted \
         FROM menu_items WHERE restaurant_id = $1 AND deleted = 0 ORDER BY position, id",
    )
    .bind(&id)
    .fetch_all(&mut state.db.reader())
    .await
    .context("reading a menu")?
    .iter()
    .map(menu_item_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    // The detail spans several entities (the restaurant and each item), so its tag hashes them.
    Ok(conditional_json(
        &headers,
        None,
        &RestaurantDetail { restaurant, menu },
        Audience::Public,
    ))
}

#[utoipa::path(put, path = "/api/restaurants/{id}/menu/{itemId}", tag = "restaurants",
    description = "Creates or updates a menu item (role admin). Create: no If-Match (or If-None-Match: *). Update: If-Match with the item's version.",
    params(("id" = String, Path, description = "restaurant id", pattern = r"^[A-Za-z0-9._-]{1,64}$"), ("itemId" = String, Path, description = "menu item id, unique across restaurants", pattern = r"^[A-Za-z0-9._-]{1,64}$"),
           ("Idempotency-Key" = String, Header, description = "unique per command; a retry reuses it"),
           ("If-Match" = Option<String>, Header, description = "the item version being replaced")),
    request_body = PutMenuItem,
    responses((status = 200, description = "updated", body = MenuItem), (status = 201, description = "created", body = MenuItem),
              (status = 412, description = "stale version; `current` holds the item", body = Problem, content_type = "application/problem+json"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn put_menu_item(
    State(state): State<AppState>,
    caller: Caller,
    Path((restaurant_id, item_id)): Path<(String, String)>,
    headers: CommandHeaders,
    body: JsonBody<PutMenuItem>,
) -> Result<Response, ApiError> {
    let put = PutItem::prepare(&caller, restaurant_id, item_id, headers, body)?;
    commands::run_one(&state, Prepared::MenuItem(put)).await
}

/// `PUT /api/restaurants/{id}/menu/{itemId}`, checked and ready to run: alone (the handler
/// above) or in a batch, through the same steps.
pub(crate) struct PutItem {
    restaurant_id: String,
    item_id: String,
    input: PutMenuItem,
    subject: String,
    headers: CommandHeaders,
    pub command: Command,
}

impl PutItem {
    /// Everything that needs no database: the admin role, ids, the body's rules, the
    /// idempotency fingerprint.
    pub fn prepare(
        caller: &Caller,
        restaurant_id: String,
        item_id: String,
        headers: CommandHeaders,
        body: JsonBody<PutMenuItem>,
    ) -> Result<PutItem, ApiError> {
        caller.require_admin()?;
        check_id("id", &restaurant_id)?;
        check_id("itemId", &item_id)?;
        let input = &body.value;
        check_last_modified_by(input.last_modified_by.as_deref(), &caller.subject)?;
        let mut errors = Vec::new();
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::pointer("/name", "must be 1 to 100 characters"));
        }
        errors.extend(check_text("/name", &input.name));
        if !(0..=MAX_PRICE_CENTS).contains(&input.price_cents) {
            errors.push(FieldError::pointer(
                "/priceCents",
                format!("must be from 0 to {MAX_PRICE_CENTS} (EUR cents)"),
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        let path = format!("/api/restaurants/{restaurant_id}/menu/{item_id}");
        let command = Command::new(
            headers.idempotency_key.clone(),
            &caller.subject,
            "PUT",
            &path,
            &body.canonical,
        );
        Ok(PutItem {
            restaurant_id,
            item_id,
            input: body.value,
            subject: caller.subject.clone(),
            headers,
            command,
        })
    }

    /// The whole command in `conn`, a transaction: reads, preconditions, the conditional write.
    async fn write(self, conn: &mut impl Sql) -> Result<(Outcome, NewEvent), ApiError> {
        let PutItem {
            restaurant_id,
            item_id,
            input,
            subject,
            headers,
            ..
        } = self;
        let name = input.name.trim();
        // The restaurant (only whether it is there) and the item, in one statement: on
        // PostgreSQL each statement costs a round trip and an executor start.
        let row = query(
            "SELECT r.id AS r_id, m.id, m.restaurant_id, m.name, m.price_cents, m.available, \
                    m.version, m.last_modified, m.last_modified_by, m.deleted \
             FROM (SELECT 1 AS one) k \
             LEFT JOIN restaurants r ON r.id = $1 AND r.deleted = 0 \
             LEFT JOIN menu_items m ON m.id = $2",
        )
        .bind(&restaurant_id)
        .bind(&item_id)
        .fetch_one(&mut *conn)
        .await
        .context("reading a restaurant and a menu item")?;
        if row.try_get::<Option<String>, _>("r_id")?.is_none() {
            return Err(ApiError::not_found(format!(
                "no restaurant {restaurant_id:?}"
            )));
        }
        let current = match row.try_get::<Option<String>, _>("id")? {
            Some(_) => Some(menu_item_from_row(&row)?),
            None => None,
        };
        if let Some(item) = &current {
            if item.restaurant_id != restaurant_id {
                return Err(ApiError::conflict(format!(
                    "item id {item_id:?} belongs to restaurant {:?}",
                    item.restaurant_id
                )));
            }
        }
        let stale = |item: &Option<MenuItem>| {
            ApiError::stale(
                "the menu item changed since the version you sent",
                item.as_ref().map(|i| {
                    (
                        serde_json::to_value(i).expect("menu items serialize"),
                        i.meta.version,
                    )
                }),
            )
        };
        check_preconditions(&headers, current.as_ref().map(|i| i.meta.version), || {
            stale(&current)
        })?;

        let now = now_rfc3339();
        let written = match &current {
            Some(item) => query(
                "UPDATE menu_items SET name = $1, price_cents = $2, available = $3, version = version + 1, \
                 last_modified = $4, last_modified_by = $5 WHERE id = $6 AND version = $7",
            )
            .bind(name)
            .bind(input.price_cents)
            .bind(i64::from(input.available))
            .bind(&now)
            .bind(&subject)
            .bind(&item_id)
            .bind(item.meta.version)
            .execute(&mut *conn)
            .await
            .context("updating a menu item")?,
            None => query(
                "INSERT INTO menu_items (id, restaurant_id, position, name, price_cents, available, version, last_modified, last_modified_by, deleted) \
                 VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM menu_items WHERE restaurant_id = $2), $3, $4, $5, 1, $6, $7, 0) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&item_id)
            .bind(&restaurant_id)
            .bind(name)
            .bind(input.price_cents)
            .bind(i64::from(input.available))
            .bind(&now)
            .bind(&subject)
            .execute(&mut *conn)
            .await
            .context("creating a menu item")?,
        }
        .rows_affected();
        if written == 0 {
            // Another writer got there between our read and our write (PostgreSQL, read
            // committed, so this next statement sees the winner's commit).
            return Err(stale(&load_menu_item(&mut *conn, &item_id).await?));
        }
        // The item as now stored, without reading it back (one statement less): the write
        // set every field but `deleted`, which an update keeps.
        let item = MenuItem {
            id: item_id.clone(),
            restaurant_id,
            name: name.to_owned(),
            price_cents: input.price_cents,
            available: input.available,
            meta: EntityMeta {
                version: current.as_ref().map_or(1, |c| c.meta.version + 1),
                last_modified: now,
                last_modified_by: subject,
                deleted: current.as_ref().is_some_and(|c| c.meta.deleted),
            },
        };
        let event = NewEvent {
            kind: event_types::MENU_ITEM_UPDATED,
            partition_key: format!("menu-item:{item_id}"),
            source: SOURCE,
            data: serde_json::to_value(&item).context("serializing a menu item")?,
            owner: None,
        };
        let status = if current.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        let outcome = Outcome::json(status, &item, Some(entity_etag(item.meta.version)))?;
        Ok((outcome, event))
    }

    /// All of it inside `conn` (a batch's transaction).
    pub async fn apply(self, conn: &mut impl Sql) -> Result<Applied, ApiError> {
        let (outcome, event) = self.write(conn).await?;
        Ok(Applied::Accepted { outcome, event })
    }
}

pub(crate) fn meta_from_row(row: &Row) -> Result<EntityMeta, ApiError> {
    meta_from_columns(row, "")
}

/// [`meta_from_row`] from columns named `{prefix}version` and so on.
fn meta_from_columns(row: &Row, prefix: &str) -> Result<EntityMeta, ApiError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(EntityMeta {
        version: row.try_get(column("version"))?,
        last_modified: row.try_get(column("last_modified"))?,
        last_modified_by: row.try_get(column("last_modified_by"))?,
        deleted: row.try_get::<i64, _>(column("deleted"))? != 0,
    })
}

fn restaurant_from_row(row: &Row) -> Result<Restaurant, ApiError> {
    Ok(Restaurant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        cuisine: row.try_get("cuisine")?,
        currency: CURRENCY.to_owned(),
        meta: meta_from_row(row)?,
    })
}

fn menu_item_from_row(row: &Row) -> Result<MenuItem, ApiError> {
    menu_item_from_columns(row, "")
}

/// [`menu_item_from_row`] from columns named `{prefix}id` and so on (a join that reads other
/// entities' columns beside them).
pub(crate) fn menu_item_from_columns(row: &Row, prefix: &str) -> Result<MenuItem, ApiError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(MenuItem {
        id: row.try_get(column("id"))?,
        restaurant_id: row.try_get(column("restaurant_id"))?,
        name: row.try_get(column("name"))?,
        price_cents: row.try_get(column("price_cents"))?,
        available: row.try_get::<i64, _>(column("available"))? != 0,
        meta: meta_from_columns(row, prefix)?,
    })
}

async fn load_restaurant(conn: &mut impl Sql, id: &str) -> Result<Option<Restaurant>, ApiError> {
    let row = query("SELECT id, name, cuisine, version, last_modified, last_modified_by, deleted FROM restaurants WHERE id = $1 AND deleted = 0")
        .bind(id)
        .fetch_optional(conn)
        .await
        .context("reading a restaurant")?;
    row.as_ref().map(restaurant_from_row).transpose()
}

/// The menu item `id`, wherever it is listed; the cart uses this to price its lines.
pub(crate) async fn load_menu_item(
    conn: &mut impl Sql,
    id: &str,
) -> Result<Option<MenuItem>, ApiError> {
    let row = query(
        "SELECT id, restaurant_id, name, price_cents, available, version, last_modified, last_modified_by, deleted \
         FROM menu_items WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .context("reading a menu item")?;
    row.as_ref().map(menu_item_from_row).transpose()
}
