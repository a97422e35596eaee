//! `/api/cart`: each caller's own cart. The owner is always the caller, so there is no way to
//! name, read or write someone else's cart.

use crate::events::NewEvent;
use crate::http::{
    check_id, check_last_modified_by, check_preconditions, conditional_json, Audience,
    CommandHeaders, JsonBody,
};
use crate::idempotency::{Applied, Command, Outcome};
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::routes::commands::{self, Prepared};
use crate::routes::restaurants::{load_menu_item, menu_item_from_columns, meta_from_row};
use crate::sql::{query, Row, Sql};
use crate::time::{now_ms, now_rfc3339};
use crate::AppState;
use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use tessera_contract::sync::{
    entity_etag, event_types, total_cents, Cart, CartLine, Checkout, EntityMeta, FieldError,
    MenuItem, Order, OrderStatus, Problem, PutCartItem, CURRENCY, MAX_QUANTITY,
};

const SOURCE: &str = "bff/cart";

#[utoipa::path(get, path = "/api/cart", tag = "cart",
    description = "The caller's cart. Before its first change it reads as version 0 with no lines.",
    responses((status = 200, body = Cart), (status = 304, description = "unchanged since the ETag in If-None-Match"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cart = load_cart(&mut state.db.reader(), &caller.subject).await?;
    let etag = entity_etag(cart.meta.version);
    Ok(conditional_json(
        &headers,
        Some(etag),
        &cart,
        Audience::Private,
    ))
}

#[utoipa::path(put, path = "/api/cart/items/{itemId}", tag = "cart",
    description = "Sets the quantity of a menu item in the caller's cart (0 removes it). Name and price come from the menu. \
                   If-Match: the cart version (\"0\" or none for a cart never written).",
    params(("itemId" = String, Path, description = "menu item id", pattern = r"^[A-Za-z0-9._-]{1,64}$"),
           ("Idempotency-Key" = String, Header, description = "unique per command; a retry reuses it"),
           ("If-Match" = Option<String>, Header, description = "the cart version being replaced")),
    request_body = PutCartItem,
    responses((status = 200, description = "updated", body = Cart), (status = 201, description = "cart created", body = Cart),
              (status = 412, description = "stale version; `current` holds the cart", body = Problem, content_type = "application/problem+json"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn put_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(item_id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<PutCartItem>,
) -> Result<Response, ApiError> {
    let put = PutItem::prepare(&caller, item_id, headers, body)?;
    commands::run_one(&state, Prepared::CartItem(put)).await
}

/// `PUT /api/cart/items/{itemId}`, checked and ready to run: alone (the handler above) or in
/// a batch, through the same steps.
pub(crate) struct PutItem {
    owner: String,
    item_id: String,
    quantity: u32,
    headers: CommandHeaders,
    pub command: Command,
}

impl PutItem {
    /// Everything that needs no database: ids, the body's rules, the idempotency fingerprint.
    pub fn prepare(
        caller: &Caller,
        item_id: String,
        headers: CommandHeaders,
        body: JsonBody<PutCartItem>,
    ) -> Result<PutItem, ApiError> {
        check_id("itemId", &item_id)?;
        check_last_modified_by(body.value.last_modified_by.as_deref(), &caller.subject)?;
        let quantity = body.value.quantity;
        if quantity > MAX_QUANTITY {
            return Err(ApiError::invalid(vec![FieldError::pointer(
                "/quantity",
                format!("must be from 0 to {MAX_QUANTITY}"),
            )]));
        }
        let command = Command::new(
            headers.idempotency_key.clone(),
            &caller.subject,
            "PUT",
            &format!("/api/cart/items/{item_id}"),
            &body.canonical,
        );
        Ok(PutItem {
            owner: caller.subject.clone(),
            item_id,
            quantity,
            headers,
            command,
        })
    }

    /// The menu item the line is for: 404 if it is on no menu, 409 if it cannot be ordered now.
    fn orderable(&self, item: Option<MenuItem>) -> Result<MenuItem, ApiError> {
        let item_id = &self.item_id;
        let item = item.filter(|i| !i.meta.deleted).ok_or_else(|| {
            ApiError::not_found(format!("no menu item {item_id:?}"))
                .with_error(FieldError::parameter("itemId", "not on any menu"))
        })?;
        if self.quantity > 0 && !item.available {
            return Err(
                ApiError::conflict(format!("{:?} is not available right now", item.name))
                    .with_error(FieldError::parameter("itemId", "not available")),
            );
        }
        Ok(item)
    }

    /// Whether the command's preconditions hold for the cart as it is.
    fn check(&self, before: &Cart) -> Result<(), ApiError> {
        let exists = before.meta.version > 0;
        check_preconditions(&self.headers, exists.then_some(before.meta.version), || {
            stale_cart(before)
        })
    }

    /// The change itself, conditional on the cart still being `before`.
    async fn write(
        self,
        conn: &mut impl Sql,
        item: MenuItem,
        before: Cart,
    ) -> Result<(Outcome, NewEvent), ApiError> {
        let PutItem {
            owner,
            item_id,
            quantity,
            ..
        } = self;
        let owner = &owner;
        let exists = before.meta.version > 0;
        let meta = bump_cart(&mut *conn, owner, before.meta.version).await?;
        if quantity == 0 {
            query("DELETE FROM cart_lines WHERE owner = $1 AND item_id = $2")
                .bind(owner)
                .bind(&item_id)
                .defer(&mut *conn)
                .await
                .context("removing a cart line")?;
        } else {
            query(
                "INSERT INTO cart_lines (owner, item_id, restaurant_id, name, unit_price_cents, quantity, position) \
                 VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(position), 0) + 1 FROM cart_lines WHERE owner = $1)) \
                 ON CONFLICT (owner, item_id) DO UPDATE SET quantity = excluded.quantity, name = excluded.name, \
                 unit_price_cents = excluded.unit_price_cents, restaurant_id = excluded.restaurant_id",
            )
            .bind(owner)
            .bind(&item_id)
            .bind(&item.restaurant_id)
            .bind(&item.name)
            .bind(item.price_cents)
            .bind(i64::from(quantity))
            .defer(&mut *conn)
            .await
            .context("writing a cart line")?;
        }
        // The cart as now stored, without reading it back (one statement less on the writer):
        // the line's write is deferred, nothing in this write reads it.
        let mut lines = before.lines;
        let position = lines.iter().position(|l| l.item_id == item_id);
        match (quantity, position) {
            (0, Some(i)) => {
                lines.remove(i);
            }
            (0, None) => {}
            (_, Some(i)) => {
                let line = &mut lines[i];
                line.quantity = quantity;
                line.name.clone_from(&item.name);
                line.unit_price_cents = item.price_cents;
                line.restaurant_id.clone_from(&item.restaurant_id);
            }
            (_, None) => lines.push(CartLine {
                item_id: item_id.clone(),
                restaurant_id: item.restaurant_id.clone(),
                name: item.name.clone(),
                unit_price_cents: item.price_cents,
                quantity,
            }),
        }
        let (cart, event) = updated_cart(owner, lines, meta)?;
        let status = if exists {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        let outcome = Outcome::json(status, &cart, Some(entity_etag(cart.meta.version)))?;
        Ok((outcome, event))
    }

    /// All of it inside `conn` (a batch's transaction).
    pub async fn apply(self, conn: &mut impl Sql) -> Result<Applied, ApiError> {
        let (item, before) = load_item_and_cart(conn, &self.owner, &self.item_id).await?;
        let item = self.orderable(item)?;
        self.check(&before)?;
        let (outcome, event) = self.write(conn, item, before).await?;
        Ok(Applied::Accepted { outcome, event })
    }
}

#[utoipa::path(put, path = "/api/cart/checkout/{orderId}", tag = "cart",
    description = "Turns the caller's cart into order `orderId` (client-generated) and empties the cart. \
                   If-Match (optional): the cart version the user saw.",
    params(("orderId" = String, Path, description = "client-generated order id, e.g. a UUID", pattern = r"^[A-Za-z0-9._-]{1,64}$"),
           ("Idempotency-Key" = String, Header, description = "unique per command; a retry reuses it"),
           ("If-Match" = Option<String>, Header, description = "the cart version being checked out")),
    request_body = Checkout,
    responses((status = 201, description = "order placed; its `ETag` is the emptied cart's version (the entity `If-Match` named), the order is at version 1", body = Order),
              (status = 409, description = "`/problems/cart-changed`: a line's price or availability changed since it was added; \
                  nothing was ordered, the cart now holds the menu's prices without unavailable lines (`current`, version bumped), \
                  `changes` lists each changed line. Also `/problems/conflict`: empty cart, or the caller already has an order with this id (order ids are per caller: another user's id is free)",
                  body = CartChangedProblem, content_type = "application/problem+json"),
              (status = 412, description = "the cart changed; `current` holds it", body = Problem, content_type = "application/problem+json"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<Checkout>,
) -> Result<Response, ApiError> {
    let checkout = PlaceOrder::prepare(&caller, order_id, headers, body)?;
    commands::run_one(&state, Prepared::Checkout(checkout)).await
}

/// `PUT /api/cart/checkout/{orderId}`, checked and ready to run: alone (the handler above) or
/// in a batch, through the same steps.
pub(crate) struct PlaceOrder {
    owner: String,
    order_id: String,
    headers: CommandHeaders,
    pub command: Command,
}

impl PlaceOrder {
    /// Everything that needs no database: ids, the body's rules, the idempotency fingerprint.
    pub fn prepare(
        caller: &Caller,
        order_id: String,
        headers: CommandHeaders,
        body: JsonBody<Checkout>,
    ) -> Result<PlaceOrder, ApiError> {
        check_id("orderId", &order_id)?;
        check_last_modified_by(body.value.last_modified_by.as_deref(), &caller.subject)?;
        if headers.create_only {
            return Err(ApiError::bad_request(FieldError::header(
                "If-None-Match",
                "checkout always creates; send If-Match with the cart version or nothing",
            )));
        }
        let command = Command::new(
            headers.idempotency_key.clone(),
            &caller.subject,
            "PUT",
            &format!("/api/cart/checkout/{order_id}"),
            &body.canonical,
        );
        Ok(PlaceOrder {
            owner: caller.subject.clone(),
            order_id,
            headers,
            command,
        })
    }

    /// The cart to order, if it is at the version sent (when one was) and not empty.
    async fn check(&self, conn: &mut impl Sql) -> Result<Cart, ApiError> {
        let cart = load_cart(&mut *conn, &self.owner).await?;
        if self
            .headers
            .if_match
            .is_some_and(|v| v != cart.meta.version)
        {
            Err(stale_cart(&cart))
        } else if cart.lines.is_empty() {
            Err(ApiError::conflict("the cart is empty")
                .with_error(FieldError::pointer("/lines", "no items to order")))
        } else {
            Ok(cart)
        }
    }

    /// The order, conditional on the cart still being `cart` and its prices still the menu's.
    async fn write(
        self,
        conn: &mut impl Sql,
        cart: Cart,
        kitchen_step_ms: u64,
    ) -> Result<(Outcome, NewEvent), ApiError> {
        let PlaceOrder {
            owner, order_id, ..
        } = self;
        let owner = &owner;
        // Again inside the transaction, so a menu change committed since the check above
        // cannot slip into the order (the next try then refreshes the cart).
        if !line_changes(&mut *conn, &cart.lines).await?.is_empty() {
            return Err(cart_changed(Vec::new(), None));
        }
        let now = now_rfc3339();
        let total = total_cents(&cart.lines);
        let lines = serde_json::to_string(&cart.lines).context("serializing order lines")?;
        let placed_ms = now_ms();
        // ON CONFLICT: a concurrent checkout with this id waits here for the other to commit,
        // instead of failing on the primary key.
        let created = query(
            "INSERT INTO orders (id, owner, status, lines, total_cents, placed_at, placed_ms, next_step_at, version, last_modified, last_modified_by, deleted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $6, $2, 0) ON CONFLICT DO NOTHING",
        )
        .bind(&order_id)
        .bind(owner)
        .bind(OrderStatus::Submitted.as_str())
        .bind(&lines)
        .bind(total)
        .bind(&now)
        .bind(placed_ms)
        .bind(placed_ms + kitchen_step_ms as i64)
        .execute(&mut *conn)
        .await
        .context("creating an order")?
        .rows_affected();
        if created == 0 {
            return Err(
                ApiError::conflict(format!("you already have an order {order_id:?}")).with_error(
                    FieldError::parameter("orderId", "already used by one of your orders"),
                ),
            );
        }
        let meta = bump_cart(&mut *conn, owner, cart.meta.version).await?;
        query("DELETE FROM cart_lines WHERE owner = $1")
            .bind(owner)
            .execute(&mut *conn)
            .await
            .context("emptying a cart")?;
        let emptied = Cart {
            owner: owner.clone(),
            lines: Vec::new(),
            total_cents: 0,
            currency: CURRENCY.to_owned(),
            meta,
        };
        let order = Order {
            id: order_id.clone(),
            owner: owner.clone(),
            status: OrderStatus::Submitted,
            lines: cart.lines,
            total_cents: total,
            currency: CURRENCY.to_owned(),
            placed_at: now.clone(),
            meta: EntityMeta {
                version: 1,
                last_modified: now,
                last_modified_by: owner.clone(),
                deleted: false,
            },
        };
        // One command, one event: it carries both entities it changed.
        let event = NewEvent {
            kind: event_types::ORDER_PLACED,
            partition_key: format!("order:{order_id}"),
            source: SOURCE,
            data: json!({ "order": &order, "cart": &emptied }),
            owner: Some(owner.clone()),
        };
        // The `ETag` is the version of the entity `If-Match` was about, the cart: an outbox
        // moves the cart's later commands onto it (the order's own version is always 1).
        let outcome = Outcome::json(
            StatusCode::CREATED,
            &order,
            Some(entity_etag(emptied.meta.version)),
        )?;
        Ok((outcome, event))
    }

    /// All of it inside `conn` (a batch's transaction). Changed prices refresh the cart there
    /// and refuse the checkout, keeping the refresh and its event, as alone.
    pub async fn apply(
        self,
        conn: &mut impl Sql,
        kitchen_step_ms: u64,
    ) -> Result<Applied, ApiError> {
        let cart = self.check(conn).await?;
        let changes = line_changes(conn, &cart.lines).await?;
        if !changes.is_empty() {
            return match refresh(conn, &self.owner, cart, &changes).await? {
                (error, Some(event)) => Ok(Applied::Refused { error, event }),
                (error, None) => Err(error),
            };
        }
        let (outcome, event) = self.write(conn, cart, kitchen_step_ms).await?;
        Ok(Applied::Accepted { outcome, event })
    }
}

/// One cart line whose menu item changed since it was added: what the `cart-changed` problem
/// lists in `changes`.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartLineChange {
    pub item_id: String,
    /// The item's name as the menu has it now (as the cart had it if the item is gone).
    pub name: String,
    /// The unit price the cart held.
    pub old_price_cents: i64,
    /// The unit price on the menu now; absent when the item is no longer on any menu.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_price_cents: Option<i64>,
    /// False when the item cannot be ordered now; the line was then removed from the cart.
    pub available: bool,
}

/// A checkout's `409` problem (documentation only: an ordinary problem, which for
/// `/problems/cart-changed` carries the extension member `changes`).
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartChangedProblem {
    /// `/problems/cart-changed`, or `/problems/conflict` (empty cart, order id in use)
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: Option<String>,
    errors: Option<Vec<FieldError>>,
    /// `cart-changed`: the cart as it is now (prices updated, unavailable lines removed); its
    /// version is the `ETag`.
    #[schema(value_type = Option<Object>)]
    current: Option<serde_json::Value>,
    /// `cart-changed`: what changed, one entry per line.
    changes: Option<Vec<CartLineChange>>,
}

/// The lines whose price or availability differ from the menu now.
async fn line_changes(
    conn: &mut impl Sql,
    lines: &[CartLine],
) -> Result<Vec<CartLineChange>, ApiError> {
    let mut changes = Vec::new();
    for line in lines {
        let item = load_menu_item(&mut *conn, &line.item_id).await?;
        let change = match item.filter(|i| !i.meta.deleted) {
            None => Some(CartLineChange {
                item_id: line.item_id.clone(),
                name: line.name.clone(),
                old_price_cents: line.unit_price_cents,
                new_price_cents: None,
                available: false,
            }),
            Some(item) if !item.available || item.price_cents != line.unit_price_cents => {
                Some(CartLineChange {
                    item_id: line.item_id.clone(),
                    name: item.name,
                    old_price_cents: line.unit_price_cents,
                    new_price_cents: Some(item.price_cents),
                    available: item.available,
                })
            }
            Some(_) => None,
        };
        changes.extend(change);
    }
    Ok(changes)
}

fn cart_changed(changes: Vec<CartLineChange>, current: Option<&Cart>) -> ApiError {
    let detail = if changes.is_empty() {
        "the menu changed while checking out; check out again to see what changed".to_owned()
    } else {
        let each: Vec<String> = changes
            .iter()
            .map(|c| {
                if c.available {
                    format!(
                        "{:?} now costs {} cents (was {})",
                        c.name,
                        c.new_price_cents.unwrap_or_default(),
                        c.old_price_cents
                    )
                } else {
                    format!(
                        "{:?} is no longer available (removed from the cart)",
                        c.name
                    )
                }
            })
            .collect();
        format!(
            "the cart changed since its items were added: {}; nothing was ordered",
            each.join("; ")
        )
    };
    let mut err = ApiError::new(StatusCode::CONFLICT, "cart-changed", "Cart changed", detail)
        .with_extension(
            "changes",
            serde_json::to_value(&changes).expect("changes serialize"),
        );
    if let Some(cart) = current {
        err = err.with_current(
            serde_json::to_value(cart).expect("carts serialize"),
            cart.meta.version,
        );
    }
    err
}

/// Brings the cart's lines up to the menu (new prices; unavailable items removed) with a
/// version bump and its `cart.updated` event, and answers the `cart-changed` problem that
/// carries the cart as it is now. The checkout's idempotency key is not recorded (nothing
/// was ordered), so the client may check out again under the same key. No event when the
/// cart moved on meanwhile: the problem is then a 412 and nothing changed.
async fn refresh(
    conn: &mut impl Sql,
    owner: &str,
    cart: Cart,
    changes: &[CartLineChange],
) -> Result<(ApiError, Option<NewEvent>), ApiError> {
    let meta = match bump_cart(&mut *conn, owner, cart.meta.version).await {
        Ok(meta) => meta,
        Err(stale) => return Ok((stale, None)),
    };
    let mut lines = cart.lines;
    for change in changes {
        match change.new_price_cents.filter(|_| change.available) {
            Some(price) => {
                query(
                    "UPDATE cart_lines SET unit_price_cents = $1, name = $2 WHERE owner = $3 AND item_id = $4",
                )
                .bind(price)
                .bind(&change.name)
                .bind(owner)
                .bind(&change.item_id)
                .execute(&mut *conn)
                .await
                .context("repricing a cart line")?;
                for line in lines.iter_mut().filter(|l| l.item_id == change.item_id) {
                    line.unit_price_cents = price;
                    line.name.clone_from(&change.name);
                }
            }
            None => {
                query("DELETE FROM cart_lines WHERE owner = $1 AND item_id = $2")
                    .bind(owner)
                    .bind(&change.item_id)
                    .execute(&mut *conn)
                    .await
                    .context("removing an unavailable cart line")?;
                lines.retain(|l| l.item_id != change.item_id);
            }
        }
    }
    let (cart, event) = updated_cart(owner, lines, meta)?;
    Ok((cart_changed(changes.to_vec(), Some(&cart)), Some(event)))
}

fn stale_cart(cart: &Cart) -> ApiError {
    ApiError::stale(
        "the cart changed since the version you sent",
        Some((
            serde_json::to_value(cart).expect("carts serialize"),
            cart.meta.version,
        )),
    )
}

/// Creates the cart row (version 1) or bumps its version, only if it is still at `expected`;
/// returns the new metadata.
/// `owner`'s cart as now stored, and the `cart.updated` event that carries it.
fn updated_cart(
    owner: &str,
    lines: Vec<CartLine>,
    meta: EntityMeta,
) -> Result<(Cart, NewEvent), ApiError> {
    let cart = Cart {
        owner: owner.to_owned(),
        total_cents: total_cents(&lines),
        lines,
        currency: CURRENCY.to_owned(),
        meta,
    };
    let event = NewEvent {
        kind: event_types::CART_UPDATED,
        partition_key: format!("cart:{owner}"),
        source: SOURCE,
        data: serde_json::to_value(&cart).context("serializing a cart")?,
        owner: Some(owner.to_owned()),
    };
    Ok((cart, event))
}

async fn bump_cart(tx: &mut impl Sql, owner: &str, expected: i64) -> Result<EntityMeta, ApiError> {
    let now = now_rfc3339();
    let written = if expected == 0 {
        query("INSERT INTO carts (owner, version, last_modified, last_modified_by, deleted) VALUES ($1, 1, $2, $1, 0) ON CONFLICT DO NOTHING")
            .bind(owner)
            .bind(&now)
            .execute(&mut *tx)
            .await
    } else {
        query("UPDATE carts SET version = version + 1, last_modified = $1, last_modified_by = $2 WHERE owner = $2 AND version = $3")
            .bind(&now)
            .bind(owner)
            .bind(expected)
            .execute(&mut *tx)
            .await
    }
    .context("writing a cart")?
    .rows_affected();
    if written == 0 {
        // A concurrent command won between our read and our write (PostgreSQL, read committed,
        // so this next statement sees the winner's commit). Reading through the transaction,
        // not the pool, so a burst of conflicts cannot exhaust the pool.
        return Err(stale_cart(&load_cart(&mut *tx, owner).await?));
    }
    Ok(EntityMeta {
        version: expected + 1,
        last_modified: now,
        last_modified_by: owner.to_owned(),
        deleted: false,
    })
}

/// The cart of `owner`, or an empty version-0 cart if it was never written. One statement, so
/// the version and the lines come from the same snapshot.
pub(crate) async fn load_cart(conn: &mut impl Sql, owner: &str) -> Result<Cart, ApiError> {
    let rows = query(
        "SELECT c.version, c.last_modified, c.last_modified_by, c.deleted, \
                l.item_id, l.restaurant_id, l.name, l.unit_price_cents, l.quantity \
         FROM carts c LEFT JOIN cart_lines l ON l.owner = c.owner WHERE c.owner = $1 ORDER BY l.position, l.item_id",
    )
    .bind(owner)
    .fetch_all(conn)
    .await
    .context("reading a cart")?;
    cart_from_rows(owner, &rows)
}

/// The menu item `item_id` (wherever it is listed, with its columns named `m_…`) and the cart
/// of `owner`, in one statement: a cart command needs both, and on PostgreSQL each statement
/// costs a round trip and an executor start.
async fn load_item_and_cart(
    conn: &mut impl Sql,
    owner: &str,
    item_id: &str,
) -> Result<(Option<MenuItem>, Cart), ApiError> {
    // One row at least (`one`), with NULLs for what is not there.
    let rows = query(
        "SELECT m.id AS m_id, m.restaurant_id AS m_restaurant_id, m.name AS m_name, \
                m.price_cents AS m_price_cents, m.available AS m_available, m.version AS m_version, \
                m.last_modified AS m_last_modified, m.last_modified_by AS m_last_modified_by, \
                m.deleted AS m_deleted, \
                c.version, c.last_modified, c.last_modified_by, c.deleted, \
                l.item_id, l.restaurant_id, l.name, l.unit_price_cents, l.quantity \
         FROM (SELECT 1 AS one) k \
         LEFT JOIN menu_items m ON m.id = $2 \
         LEFT JOIN carts c ON c.owner = $1 \
         LEFT JOIN cart_lines l ON l.owner = c.owner \
         ORDER BY l.position, l.item_id",
    )
    .bind(owner)
    .bind(item_id)
    .fetch_all(conn)
    .await
    .context("reading a menu item and a cart")?;
    let item = match rows.first() {
        Some(row) if row.try_get::<Option<String>, _>("m_id")?.is_some() => {
            Some(menu_item_from_columns(row, "m_")?)
        }
        _ => None,
    };
    Ok((item, cart_from_rows(owner, &rows)?))
}

/// A cart from rows of `carts` left-joined with its lines; no row, or a row without a cart
/// version, is the empty version-0 cart.
fn cart_from_rows(owner: &str, rows: &[Row]) -> Result<Cart, ApiError> {
    let meta = match rows.first() {
        Some(row) if row.try_get::<Option<i64>, _>("version")?.is_some() => meta_from_row(row)?,
        _ => EntityMeta {
            version: 0,
            last_modified: String::new(),
            last_modified_by: String::new(),
            deleted: false,
        },
    };
    let mut lines = Vec::new();
    for r in rows {
        let Some(item_id) = r.try_get::<Option<String>, _>("item_id")? else {
            continue;
        };
        lines.push(CartLine {
            item_id,
            restaurant_id: r.try_get("restaurant_id")?,
            name: r.try_get("name")?,
            unit_price_cents: r.try_get("unit_price_cents")?,
            quantity: u32::try_from(r.try_get::<i64, _>("quantity")?)
                .context("stored quantity out of range")?,
        });
    }
    Ok(Cart {
        owner: owner.to_owned(),
        total_cents: total_cents(&lines),
        lines,
        currency: CURRENCY.to_owned(),
        meta,
    })
}
