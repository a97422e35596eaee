//! The JS forms of the contract's types an app (or the shell) reads and writes: the same field
//! names as their serde forms (`tests/forms.rs` compares the two in a browser), read and written
//! without serde. The shell reads its published manifests with these too, so the page's start
//! path carries no serde deserializer for them; an app links only the forms it calls.

use crate::{field, from_js, object, set, DecodeError, FromJs, JsValue, ToJs};
use tessera_contract::auth::{AuthConfig, Claims, Tokens};
use tessera_contract::bff::{DataLoaded, Freshness};
use tessera_contract::bus::topics::ItemAdded;
use tessera_contract::cohort::{CohortEntry, CohortRule};
use tessera_contract::host::Queued;
use tessera_contract::manifest::NavMeta;
use tessera_contract::overlay::Marked;
use tessera_contract::published::{
    AppEntry, AppsManifest, ImportMap, MountPoint, MountPointsManifest, MountedApp, NavLink,
    RouteNode, RouteTree,
};
use tessera_contract::rum::{AppFigures, ErrorCount, Metric, MetricFigures, RumSummary};
use tessera_contract::sync::{
    Cart, CartLine, Checkout, EntityMeta, FieldError, MenuItem, OfflineSet, Order, OrderStatus,
    Page, Problem, PutCartItem, PutMenuItem, Restaurant, RestaurantDetail,
};
use tessera_contract::{Props, Session};

from_js!(to_js Session { user_name: "userName", id_token: "idToken", roles: "roles" default });
from_js!(to_js NavLink {
    app: "app",
    meta: "meta"
});
from_js!(NavMeta {
    menu_key: "menuKey",
    label: "label",
    icon: "icon",
    route: "route",
    required_role: "requiredRole",
    order: "order" default,
});
from_js!(ImportMap {
    imports: "imports" default,
    scopes: "scopes" default,
    integrity: "integrity" default,
});
from_js!(AppsManifest {
    schema: "schema",
    apps: "apps",
    routes: "routes"
});
from_js!(AppEntry {
    version: "version",
    abi: "abi",
    specifier: "specifier",
    roles: "roles" default,
    parcels: "parcels" default,
    bff: "bff",
    preload: "preload" default,
    cohorts: "cohorts" default,
});
from_js!(CohortEntry {
    rule: "rule",
    version: "version",
    entry: "entry",
    integrity: "integrity",
    preload: "preload" default,
});
from_js!(RouteTree {
    always: "always",
    routes: "routes",
    default: "default",
    not_found: "notFound",
});
from_js!(MountedApp {
    app: "app",
    mount_point: "mountPoint"
});
from_js!(RouteNode {
    path: "path",
    app: "app",
    mount_point: "mountPoint",
    routes: "routes" default,
});
from_js!(MountPointsManifest {
    schema: "schema",
    mount_points: "mountPoints"
});
from_js!(MountPoint {
    name: "name",
    apps: "apps",
    navigation: "navigation"
});

/// `{"role": "beta"}` or `{"percent": 10}`, serde's form of an externally tagged enum.
impl FromJs for CohortRule {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        if let Some(role) = field::<Option<String>>(value, "role")? {
            return Ok(CohortRule::Role(role));
        }
        match field::<Option<u8>>(value, "percent")? {
            Some(percent) => Ok(CohortRule::Percent(percent)),
            None => Err(DecodeError::expected("a cohort rule (role or percent)")),
        }
    }
}

/// `{"mode": "dev"}` or `{"mode": "oidc", "issuer": …, "clientId": …}` (serde's internally
/// tagged form).
impl FromJs for AuthConfig {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        match field::<String>(value, "mode")?.as_str() {
            "dev" => Ok(AuthConfig::Dev),
            "oidc" => Ok(AuthConfig::Oidc {
                issuer: field(value, "issuer")?,
                client_id: field(value, "clientId")?,
            }),
            _ => Err(DecodeError::expected("a mode of \"dev\" or \"oidc\"").under("mode")),
        }
    }
}

from_js!(OfflineSet { queries: "queries" });
from_js!(Claims {
    sub: "sub",
    name: "name",
    preferred_username: "preferred_username",
    roles: "roles" default,
    exp: "exp",
});
from_js!(Tokens {
    id_token: "idToken",
    refresh_token: "refreshToken",
    expires_at_ms: "expiresAtMs",
});
from_js!(DataLoaded {
    path: "path",
    freshness: "freshness"
});
from_js!(Freshness {
    as_of_ms: "asOfMs",
    from_cache: "fromCache"
});
from_js!(Queued {
    id: "id",
    idempotency_key: "idempotencyKey"
});
from_js!(FieldError {
    pointer: "pointer",
    parameter: "parameter",
    header: "header",
    detail: "detail"
});

/// `current` (the entity a stale command lost to) is left out: conflicts reach the user
/// through the outbox's inbox, not through an app's query.
impl FromJs for Problem {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        Ok(Problem {
            kind: field(value, "type")?,
            title: field(value, "title")?,
            status: field::<u32>(value, "status")?
                .try_into()
                .map_err(|_| DecodeError::expected("an HTTP status"))?,
            detail: field(value, "detail")?,
            errors: crate::field_or_default(value, "errors")?,
            current: None,
        })
    }
}

from_js!(to_js EntityMeta {
    version: "version",
    last_modified: "lastModified",
    last_modified_by: "lastModifiedBy",
    deleted: "deleted" default,
});
from_js!(to_js Restaurant { id: "id", name: "name", cuisine: "cuisine", currency: "currency", meta: flatten });
from_js!(RestaurantDetail {
    restaurant: flatten,
    menu: "menu"
});
from_js!(to_js MenuItem {
    id: "id",
    restaurant_id: "restaurantId",
    name: "name",
    price_cents: "priceCents",
    available: "available",
    meta: flatten,
});
from_js!(to_js CartLine {
    item_id: "itemId",
    restaurant_id: "restaurantId",
    name: "name",
    unit_price_cents: "unitPriceCents",
    quantity: "quantity",
});
from_js!(to_js Cart {
    owner: "owner",
    lines: "lines",
    total_cents: "totalCents",
    currency: "currency",
    meta: flatten,
});
from_js!(to_js Order {
    id: "id",
    owner: "owner",
    status: "status",
    lines: "lines",
    total_cents: "totalCents",
    currency: "currency",
    placed_at: "placedAt",
    meta: flatten,
});
from_js!(to_js ItemAdded {
    restaurant_id: "restaurantId",
    item_id: "itemId",
    name: "name",
    price_cents: "priceCents",
    quantity: "quantity",
});

from_js!(RumSummary {
    since: "since",
    apps: "apps"
});
from_js!(AppFigures {
    app: "app",
    version: "version",
    cohorts: "cohorts",
    views: "views",
    failures: "failures",
    failure_rate: "failureRate",
    metrics: "metrics",
    top_errors: "topErrors",
});
from_js!(MetricFigures {
    metric: "metric",
    count: "count",
    p50: "p50",
    p90: "p90",
    p99: "p99",
});
from_js!(ErrorCount {
    detail: "detail",
    count: "count"
});

impl FromJs for Metric {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        value
            .as_string()
            .and_then(|s| Metric::parse(&s))
            .ok_or(DecodeError::expected("a RUM metric"))
    }
}

impl<T: FromJs> FromJs for Page<T> {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        Ok(Page {
            items: field(value, "items")?,
            next_cursor: field(value, "nextCursor")?,
        })
    }
}

/// An element as the user sees it, marked when a command still waiting in the outbox changed it.
impl<T: FromJs> FromJs for Marked<T> {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        Ok(Marked {
            value: T::from_js(value)?,
            pending: crate::field_or_default(value, "tesseraPending")?,
        })
    }
}

impl FromJs for OrderStatus {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        value
            .as_string()
            .and_then(|s| OrderStatus::parse(&s))
            .ok_or(DecodeError::expected("an order status"))
    }
}

impl ToJs for OrderStatus {
    fn to_js(&self) -> JsValue {
        JsValue::from_str(self.as_str())
    }
}

/// Command bodies leave out what is absent, as their serde forms do (the BFF denies unknown
/// fields, and `null` is not absent to it).
fn optional(object: &js_sys::Object, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        set(object, key, JsValue::from_str(v));
    }
}

impl ToJs for PutCartItem {
    fn to_js(&self) -> JsValue {
        let o = object();
        set(&o, "quantity", self.quantity.to_js());
        optional(&o, "lastModifiedBy", &self.last_modified_by);
        o.into()
    }
}

impl ToJs for PutMenuItem {
    fn to_js(&self) -> JsValue {
        let o = object();
        set(&o, "name", self.name.to_js());
        set(&o, "priceCents", self.price_cents.to_js());
        set(&o, "available", self.available.to_js());
        optional(&o, "lastModifiedBy", &self.last_modified_by);
        o.into()
    }
}

impl ToJs for Checkout {
    fn to_js(&self) -> JsValue {
        let o = object();
        optional(&o, "lastModifiedBy", &self.last_modified_by);
        o.into()
    }
}

/// As serde writes it: an absent icon or role is left out.
impl ToJs for NavMeta {
    fn to_js(&self) -> JsValue {
        let o = object();
        set(&o, "menuKey", self.menu_key.to_js());
        set(&o, "label", self.label.to_js());
        optional(&o, "icon", &self.icon);
        set(&o, "route", self.route.to_js());
        optional(&o, "requiredRole", &self.required_role);
        set(&o, "order", self.order.to_js());
        o.into()
    }
}

/// What the shell hands an app's lifecycle functions, as serde writes it (key order too), so
/// the shell's start module writes props without serde.
impl ToJs for Props {
    fn to_js(&self) -> JsValue {
        let o = object();
        set(&o, "name", self.name.to_js());
        set(&o, "basePath", self.base_path.to_js());
        set(&o, "abi", self.abi.to_js());
        set(&o, "session", self.session.to_js());
        set(&o, "params", self.params.to_js());
        set(&o, "navigation", self.navigation.to_js());
        set(&o, "data", self.data.to_js());
        set(&o, "bff", self.bff.to_js());
        o.into()
    }
}
