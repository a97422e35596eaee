//! The BFF sync protocol as data: entity metadata, problem details (RFC 9457), the domain-event
//! envelope, pages, the demo domain's DTOs, and the small rules (ETags, ids, dev tokens) that
//! clients and the server must agree on.
//!
//! Response types accept unknown fields so older clients keep working when the server grows;
//! command bodies reject them so a typo (`"quantiy"`) is a 422, not a silently ignored field.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Every price is in this currency, in integer cents.
pub const CURRENCY: &str = "EUR";
/// The largest page a list endpoint returns, whatever `limit` asks for.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// The page size when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;
/// The most of one item a cart holds; a bound keeps totals far from overflow.
pub const MAX_QUANTITY: u32 = 99;
/// Prefix of development bearer tokens: `dev:<subject>:<role1>,<role2>`.
pub const DEV_TOKEN_PREFIX: &str = "dev:";
/// The role allowed to edit menus.
pub const ROLE_ADMIN: &str = "admin";

/// Event types the BFF appends to its log.
pub mod event_types {
    pub const MENU_ITEM_UPDATED: &str = "menu.item-updated";
    pub const CART_UPDATED: &str = "cart.updated";
    pub const ORDER_PLACED: &str = "order.placed";
    pub const ORDER_STATUS_CHANGED: &str = "order.status-changed";
}

/// What every entity carries for sync: an optimistic-concurrency version (starting at 1), when
/// and by whom it last changed (the subject of the caller's identity, never a body field), and a
/// soft-delete flag so deletions replicate like any other change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityMeta {
    pub version: i64,
    /// RFC 3339, UTC.
    pub last_modified: String,
    pub last_modified_by: String,
    #[serde(default)]
    pub deleted: bool,
}

/// One page of a cursor-paginated list. Pass `nextCursor` back as `?cursor=` for the next page;
/// it is absent on the last page.
/// `GET /api/offline`: what a client reads ahead so the caller can work offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OfflineSet {
    /// Absolute paths with query strings, exactly as the apps request them.
    pub queries: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An RFC 9457 problem document. `errors` names each offending input; `current` carries the
/// entity as it is now when a command lost an optimistic-concurrency race (412).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub current: Option<serde_json::Value>,
}

impl Problem {
    /// What an error status without a problem document (from a proxy, say) stands for.
    pub fn of_status(url: &str, status: u16) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: format!("HTTP {status} from {url}"),
            status,
            detail: None,
            errors: Vec::new(),
            current: None,
        }
    }

    /// A problem document from its JSON value, read field by field (the browser bundles parse
    /// JSON with the browser's parser and carry no serde deserializer). `None` where serde
    /// would refuse it: `type`, `title` or `status` missing or of the wrong kind.
    pub fn read(v: &serde_json::Value) -> Option<Problem> {
        let text = |key| text_field(v, key);
        Some(Problem {
            kind: text("type")?,
            title: text("title")?,
            status: v.get("status")?.as_u64()?.try_into().ok()?,
            detail: text("detail"),
            errors: (v.get("errors").and_then(serde_json::Value::as_array))
                .map(|all| all.iter().filter_map(FieldError::read).collect())
                .unwrap_or_default(),
            current: v.get("current").filter(|c| !c.is_null()).cloned(),
        })
    }
}

/// The string at `key` of a JSON object, if it is one.
fn text_field(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// One offending input: a body member (`pointer`, a JSON pointer such as `/quantity`), a query
/// parameter (`parameter`) or a header (`header`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FieldError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    pub detail: String,
}

impl FieldError {
    fn read(v: &serde_json::Value) -> Option<FieldError> {
        let text = |key| text_field(v, key);
        Some(FieldError {
            pointer: text("pointer"),
            parameter: text("parameter"),
            header: text("header"),
            detail: text("detail")?,
        })
    }

    pub fn pointer(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: Some(pointer.into()),
            parameter: None,
            header: None,
            detail: detail.into(),
        }
    }
    pub fn parameter(name: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: None,
            parameter: Some(name.into()),
            header: None,
            detail: detail.into(),
        }
    }
    pub fn header(name: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            pointer: None,
            parameter: None,
            header: Some(name.into()),
            detail: detail.into(),
        }
    }
}

/// One entry of the append-only domain-event log. `seq` is global and strictly increasing in
/// commit order, so `GET /api/events?after=<seq>` never skips an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// The entity the event is about, e.g. `order:7f3c…`; events of one partition are ordered.
    pub partition_key: String,
    /// The BFF component that produced it, e.g. `bff/cart`.
    pub source: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    pub seq: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Restaurant {
    pub id: String,
    pub name: String,
    pub cuisine: String,
    pub currency: String,
    #[serde(flatten)]
    pub meta: EntityMeta,
}

/// A restaurant with its menu, as `GET /api/restaurants/{id}` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestaurantDetail {
    #[serde(flatten)]
    pub restaurant: Restaurant,
    pub menu: Vec<MenuItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MenuItem {
    /// Unique across restaurants, so a cart line can name an item by id alone.
    pub id: String,
    pub restaurant_id: String,
    pub name: String,
    pub price_cents: i64,
    pub available: bool,
    #[serde(flatten)]
    pub meta: EntityMeta,
}

/// Body of `PUT /api/restaurants/{id}/menu/{itemId}` (admins only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutMenuItem {
    pub name: String,
    pub price_cents: i64,
    pub available: bool,
    /// Optional echo of the metadata; when present it must be the caller's own subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub item_id: String,
    pub restaurant_id: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: u32,
}

/// The caller's cart. A cart nobody has written yet reads as version 0 with no lines; the first
/// `PUT` creates it (version 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    pub owner: String,
    pub lines: Vec<CartLine>,
    pub total_cents: i64,
    pub currency: String,
    #[serde(flatten)]
    pub meta: EntityMeta,
}

/// Body of `PUT /api/cart/items/{itemId}`: the wanted quantity; 0 removes the line. Name and
/// price always come from the menu.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutCartItem {
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
}

/// Body of `PUT /api/cart/checkout/{orderId}` (may be `{}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum OrderStatus {
    Submitted,
    Accepted,
    Preparing,
    OutForDelivery,
    Delivered,
}

impl OrderStatus {
    /// The state the kitchen moves an order to next; `None` once delivered.
    pub fn next(self) -> Option<OrderStatus> {
        use OrderStatus::*;
        match self {
            Submitted => Some(Accepted),
            Accepted => Some(Preparing),
            Preparing => Some(OutForDelivery),
            OutForDelivery => Some(Delivered),
            Delivered => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        use OrderStatus::*;
        match self {
            Submitted => "submitted",
            Accepted => "accepted",
            Preparing => "preparing",
            OutForDelivery => "out-for-delivery",
            Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        use OrderStatus::*;
        [Submitted, Accepted, Preparing, OutForDelivery, Delivered]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub owner: String,
    pub status: OrderStatus,
    pub lines: Vec<CartLine>,
    pub total_cents: i64,
    pub currency: String,
    /// RFC 3339, UTC.
    pub placed_at: String,
    #[serde(flatten)]
    pub meta: EntityMeta,
}

/// Sum of the lines in cents.
pub fn total_cents(lines: &[CartLine]) -> i64 {
    lines
        .iter()
        .map(|l| l.unit_price_cents * i64::from(l.quantity))
        .sum()
}

/// The strong ETag of an entity at `version`: `"<version>"`.
pub fn entity_etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` (or `ETag`) value names. Accepts `"3"`, `3` and the weak `W/"3"`,
/// since clients and proxies differ in what they send back.
pub fn parse_version_tag(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    let n: i64 = v.parse().ok()?;
    (n >= 0 && !v.starts_with('+')).then_some(n)
}

/// [`is_valid_id`] as a regular expression, as the OpenAPI document states it for path
/// parameters (utoipa takes only literals there; a BFF test checks each one equals this).
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// Whether `id` may name an entity: 1 to 64 of `A-Z a-z 0-9 . _ -`, so ids are safe in paths,
/// partition keys and log lines. Client-generated UUIDs qualify.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `key` is a usable `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn is_valid_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// A development identity: `dev:<subject>:<role1>,<role2>` as a bearer token. Only for local
/// development and tests; a deployed BFF verifies OIDC JWTs instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevToken {
    pub subject: String,
    pub roles: Vec<String>,
}

impl DevToken {
    pub fn parse(token: &str) -> Option<DevToken> {
        let rest = token.strip_prefix(DEV_TOKEN_PREFIX)?;
        let (subject, roles) = rest.split_once(':').unwrap_or((rest, ""));
        if !is_valid_id(subject) {
            return None;
        }
        let roles: Vec<String> = roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        if !roles.iter().all(|r| is_valid_id(r)) {
            return None;
        }
        Some(DevToken {
            subject: subject.to_owned(),
            roles,
        })
    }

    pub fn encode(&self) -> String {
        format!(
            "{DEV_TOKEN_PREFIX}{}:{}",
            self.subject,
            self.roles.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_tags_parse_in_every_form_clients_send() {
        assert_eq!(parse_version_tag("\"3\""), Some(3));
        assert_eq!(parse_version_tag("3"), Some(3));
        assert_eq!(parse_version_tag(" W/\"12\" "), Some(12));
        assert_eq!(parse_version_tag(&entity_etag(7)), Some(7));
        assert_eq!(parse_version_tag("\"-1\""), None);
        assert_eq!(parse_version_tag("+4"), None);
        assert_eq!(parse_version_tag("*"), None);
        assert_eq!(parse_version_tag("\"abc\""), None);
    }

    #[test]
    fn ids_are_path_safe() {
        assert!(is_valid_id("pho-bo"));
        assert!(is_valid_id("7f3c2a4e-1b2c-4d5e-8f90-a1b2c3d4e5f6"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id("phở"));
        assert!(!is_valid_id(&"x".repeat(65)));
        assert!(is_valid_idempotency_key("k-1:2"));
        assert!(!is_valid_idempotency_key("has space"));
        assert!(!is_valid_idempotency_key(""));
    }

    #[test]
    fn dev_tokens_round_trip_and_reject_junk() {
        let t = DevToken::parse("dev:alice:customer,admin").unwrap();
        assert_eq!(t.subject, "alice");
        assert_eq!(t.roles, vec!["customer", "admin"]);
        assert_eq!(DevToken::parse(&t.encode()), Some(t));
        assert_eq!(
            DevToken::parse("dev:bob").unwrap().roles,
            Vec::<String>::new()
        );
        assert_eq!(
            DevToken::parse("dev:bob:").unwrap().roles,
            Vec::<String>::new()
        );
        assert!(DevToken::parse("alice:admin").is_none());
        assert!(DevToken::parse("dev::admin").is_none());
        assert!(DevToken::parse("dev:a b:admin").is_none());
    }

    #[test]
    fn order_status_walks_to_delivered_and_stops() {
        let mut s = OrderStatus::Submitted;
        let mut seen = vec![s.as_str()];
        while let Some(n) = s.next() {
            assert_eq!(OrderStatus::parse(n.as_str()), Some(n));
            seen.push(n.as_str());
            s = n;
        }
        assert_eq!(
            seen,
            [
                "submitted",
                "accepted",
                "preparing",
                "out-for-delivery",
                "delivered"
            ]
        );
        assert_eq!(
            serde_json::to_value(OrderStatus::OutForDelivery).unwrap(),
            json!("out-for-delivery")
        );
    }

    #[test]
    fn entities_flatten_their_metadata_and_ignore_unknown_fields() {
        let item: MenuItem = serde_json::from_value(json!({
            "id": "pho-bo", "restaurantId": "pho-corner", "name": "Phở bò", "priceCents": 1290,
            "available": true, "version": 2, "lastModified": "2026-01-01T00:00:00Z",
            "lastModifiedBy": "admin", "deleted": false, "somethingNew": 1
        }))
        .unwrap();
        assert_eq!(item.meta.version, 2);
        let back = serde_json::to_value(&item).unwrap();
        assert_eq!(back["lastModifiedBy"], "admin");
        assert!(back.get("meta").is_none());
    }

    #[test]
    fn commands_reject_unknown_fields() {
        assert!(
            serde_json::from_value::<PutCartItem>(json!({"quantity": 1, "quantiy": 2})).is_err()
        );
        assert!(serde_json::from_value::<PutCartItem>(json!({"quantity": -1})).is_err());
        let c: Checkout = serde_json::from_value(json!({})).unwrap();
        assert_eq!(c, Checkout::default());
    }

    #[test]
    fn totals_multiply_by_quantity() {
        let line = |p, q| CartLine {
            item_id: "i".into(),
            restaurant_id: "r".into(),
            name: "n".into(),
            unit_price_cents: p,
            quantity: q,
        };
        assert_eq!(total_cents(&[line(1290, 2), line(810, 1)]), 3390);
        assert_eq!(total_cents(&[]), 0);
    }

    #[test]
    fn problems_skip_empty_members() {
        let p = Problem {
            kind: "about:blank".into(),
            title: "Not Found".into(),
            status: 404,
            detail: None,
            errors: vec![],
            current: None,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"type": "about:blank", "title": "Not Found", "status": 404})
        );
        let e = FieldError::pointer("/quantity", "must be at most 99");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"pointer": "/quantity", "detail": "must be at most 99"})
        );
    }
}

/// Where a browser keeps the outbox: the client runtime writes these, and the shell's start
/// module looks for them to know whether the first page's answers may have commands to show.
pub mod outbox_names {
    /// The outbox's IndexedDB database.
    pub const DATABASE: &str = "tessera-outbox";
    /// The Cache Storage cache that journals each command of the outbox `database` as it is
    /// queued.
    pub fn journal_of(database: &str) -> String {
        format!("{database}-journal")
    }
    /// The `localStorage` keys of commands a closing page handed off.
    pub const HANDOFF_PREFIX: &str = "tessera-outbox-accepted:";
}
