//! Apps, the shell and the runtime read and write the contract's types without serde; these
//! tests hold their JS forms to their serde forms, which the BFF and the deployer use: each value written by serde reads back equal
//! through `FromJs`, and each value an app writes with `ToJs` reads back equal through serde.
#![cfg(target_arch = "wasm32")]

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
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
use tessera_contract::sync::*;
use tessera_contract::{Props, Session};
use tessera_wire::{FromJs, ToJs};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn as_js<T: Serialize>(value: &T) -> JsValue {
    js_sys::JSON::parse(&serde_json::to_string(value).unwrap()).unwrap()
}

fn reads_as_serde_wrote_it<T: Serialize + FromJs + PartialEq + Debug>(value: T) {
    assert_eq!(T::from_js(&as_js(&value)).unwrap(), value);
}

/// The text of what `ToJs` writes, as `JSON.stringify` writes it.
fn stringified<T: ToJs>(value: &T) -> String {
    js_sys::JSON::stringify(&value.to_js())
        .unwrap()
        .as_string()
        .unwrap()
}

fn serde_reads_what_it_wrote<T: ToJs + DeserializeOwned + PartialEq + Debug>(value: T) {
    let text = stringified(&value);
    let back: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(back, value);
}

fn meta(version: i64) -> EntityMeta {
    EntityMeta {
        version,
        last_modified: "2026-12-04T08:00:00Z".into(),
        last_modified_by: "ann".into(),
        deleted: version % 2 == 0,
    }
}

fn line() -> CartLine {
    CartLine {
        item_id: "pho".into(),
        restaurant_id: "pho-corner".into(),
        name: "Phở bò".into(),
        unit_price_cents: 1290,
        quantity: 3,
    }
}

fn item() -> MenuItem {
    MenuItem {
        id: "pho".into(),
        restaurant_id: "pho-corner".into(),
        name: "Phở bò".into(),
        price_cents: 1290,
        available: true,
        meta: meta(4),
    }
}

fn restaurant() -> Restaurant {
    Restaurant {
        id: "pho-corner".into(),
        name: "Pho Corner".into(),
        cuisine: "Vietnamese".into(),
        currency: "EUR".into(),
        meta: meta(1),
    }
}

fn order(status: OrderStatus) -> Order {
    Order {
        id: "o-1".into(),
        owner: "ann".into(),
        status,
        lines: vec![line(), line()],
        total_cents: 7740,
        currency: "EUR".into(),
        placed_at: "2026-12-04T08:00:00Z".into(),
        meta: meta(2),
    }
}

#[wasm_bindgen_test]
fn contract_types_read_as_serde_writes_them() {
    reads_as_serde_wrote_it(Session {
        user_name: Some("ann".into()),
        id_token: None,
        roles: vec!["admin".into(), "customer".into()],
    });
    reads_as_serde_wrote_it(NavLink {
        app: "@tessera/cart".into(),
        meta: NavMeta {
            icon: Some("🛒".into()),
            required_role: None,
            order: -2,
            ..nav_link().meta
        },
    });
    reads_as_serde_wrote_it(tessera_contract::auth::AuthConfig::Dev);
    reads_as_serde_wrote_it(tessera_contract::auth::AuthConfig::Oidc {
        issuer: "http://127.0.0.1:9/realms/t".into(),
        client_id: "tessera-shell".into(),
    });
    reads_as_serde_wrote_it(OfflineSet {
        queries: vec!["/api/restaurants".into(), "/api/cart".into()],
    });
    // Claims only deserialise (the shell reads them out of a verified ID token).
    for payload in [
        r#"{"sub":"u1","name":"Ann","preferred_username":"ann","roles":["admin"],"exp":1780000000,"iss":"x"}"#,
        r#"{"sub":"u2","exp":1}"#,
    ] {
        let serde: tessera_contract::auth::Claims = serde_json::from_str(payload).unwrap();
        let js = js_sys::JSON::parse(payload).unwrap();
        assert_eq!(tessera_contract::auth::Claims::from_js(&js), Ok(serde));
    }
    for refresh_token in [None, Some("r-1".to_string())] {
        reads_as_serde_wrote_it(tessera_contract::auth::Tokens {
            id_token: "eyJ.x.y".into(),
            refresh_token,
            expires_at_ms: 1_780_000_000_123.0,
        });
    }
    for as_of_ms in [None, Some(1_780_000_000_123)] {
        reads_as_serde_wrote_it(DataLoaded {
            path: "/api/restaurants?page=2".into(),
            freshness: Freshness {
                as_of_ms,
                from_cache: as_of_ms.is_some(),
            },
        });
    }
    reads_as_serde_wrote_it(Queued {
        id: 9_007_199_254_740_991,
        idempotency_key: "k".into(),
    });
    reads_as_serde_wrote_it(Problem {
        kind: "about:blank".into(),
        title: "Invalid input".into(),
        status: 422,
        detail: Some("see errors".into()),
        errors: vec![FieldError::pointer("/quantity", "too many")],
        current: None,
    });
    reads_as_serde_wrote_it(restaurant());
    reads_as_serde_wrote_it(RestaurantDetail {
        restaurant: restaurant(),
        menu: vec![item()],
    });
    reads_as_serde_wrote_it(item());
    reads_as_serde_wrote_it(line());
    reads_as_serde_wrote_it(Cart {
        owner: "ann".into(),
        lines: vec![line()],
        total_cents: 3870,
        currency: "EUR".into(),
        meta: meta(3),
    });
    for status in [
        OrderStatus::Submitted,
        OrderStatus::Accepted,
        OrderStatus::Preparing,
        OrderStatus::OutForDelivery,
        OrderStatus::Delivered,
    ] {
        reads_as_serde_wrote_it(order(status));
    }
    reads_as_serde_wrote_it(Page {
        items: vec![order(OrderStatus::Accepted)],
        next_cursor: Some("c2".into()),
    });
    reads_as_serde_wrote_it(Page::<Order> {
        items: vec![],
        next_cursor: None,
    });
    reads_as_serde_wrote_it(Marked {
        value: item(),
        pending: true,
    });
    reads_as_serde_wrote_it(ItemAdded {
        restaurant_id: "pho-corner".into(),
        item_id: "pho".into(),
        name: "Phở bò".into(),
        price_cents: 1290,
        quantity: 2,
    });
    let figures = |metric| MetricFigures {
        metric,
        count: 3,
        p50: Some(12.5),
        p90: Some(40.0),
        p99: Some(97.25),
    };
    reads_as_serde_wrote_it(RumSummary {
        since: 1_780_000_000_000,
        apps: vec![AppFigures {
            app: "@tessera/cart".into(),
            version: "cart-3f2a".into(),
            cohorts: vec!["".into(), "trial".into()],
            views: 40,
            failures: 2,
            failure_rate: 0.05,
            // Every metric, so a name the SDK reads differently from serde fails here.
            metrics: Metric::ALL
                .into_iter()
                .map(figures)
                .chain([MetricFigures {
                    metric: Metric::View,
                    count: 40,
                    p50: None,
                    p90: None,
                    p99: None,
                }])
                .collect(),
            top_errors: vec![ErrorCount {
                detail: "boom".into(),
                count: 2,
            }],
        }],
    });
}

fn nav_link() -> NavLink {
    NavLink {
        app: "@tessera/cart".into(),
        meta: NavMeta {
            menu_key: "cart".into(),
            label: "Cart".into(),
            icon: None,
            route: "/cart".into(),
            required_role: Some("customer".into()),
            order: 3,
        },
    }
}

fn apps_manifest() -> AppsManifest {
    let entry = |version: &str| AppEntry {
        version: version.into(),
        abi: 2,
        specifier: "@tessera/cart".into(),
        roles: vec![],
        parcels: vec![],
        bff: None,
        preload: vec![],
        cohorts: vec![],
    };
    let full = AppEntry {
        roles: vec!["admin".into()],
        parcels: vec!["@tessera/add-to-cart".into()],
        bff: Some("/api".into()),
        preload: vec!["/@tessera/cart/1a2b/cart_bg.wasm".into()],
        cohorts: vec![
            CohortEntry {
                rule: CohortRule::Role("beta".into()),
                version: "cart-2".into(),
                entry: "/@tessera/cart/3c4d/cart.js".into(),
                integrity: "sha384-x".into(),
                preload: vec!["/@tessera/cart/3c4d/cart_bg.wasm".into()],
            },
            CohortEntry {
                rule: CohortRule::Percent(10),
                version: "cart-3".into(),
                entry: "/@tessera/cart/5e6f/cart.js".into(),
                integrity: "sha384-y".into(),
                preload: vec![],
            },
        ],
        ..entry("cart-1")
    };
    AppsManifest {
        schema: 1,
        apps: [
            ("@tessera/cart".to_string(), full),
            ("@tessera/nav".to_string(), entry("nav-1")),
        ]
        .into(),
        routes: RouteTree {
            always: vec![MountedApp {
                app: "@tessera/nav".into(),
                mount_point: "nav".into(),
            }],
            routes: vec![RouteNode {
                path: "/admin".into(),
                app: "@tessera/menu-admin".into(),
                mount_point: "main".into(),
                routes: vec![RouteNode {
                    path: "/admin/:id".into(),
                    app: "@tessera/cart".into(),
                    mount_point: "aside".into(),
                    routes: vec![],
                }],
            }],
            default: "/restaurants".into(),
            not_found: "main".into(),
        },
    }
}

#[wasm_bindgen_test]
fn the_published_manifests_read_as_the_deployer_writes_them() {
    reads_as_serde_wrote_it(apps_manifest());
    reads_as_serde_wrote_it(MountPointsManifest {
        schema: 1,
        mount_points: vec![
            MountPoint {
                name: "nav".into(),
                apps: vec!["@tessera/nav".into()],
                navigation: vec![],
            },
            MountPoint {
                name: "main".into(),
                apps: vec!["@tessera/cart".into()],
                navigation: vec![nav_link()],
            },
        ],
    });
    reads_as_serde_wrote_it(ImportMap {
        imports: [(
            "@tessera/cart".to_string(),
            "/@tessera/cart/1a2b/cart.js".to_string(),
        )]
        .into(),
        scopes: [(
            "/@tessera/".to_string(),
            [("a".to_string(), "/b.js".to_string())].into(),
        )]
        .into(),
        integrity: [(
            "/@tessera/cart/1a2b/cart.js".to_string(),
            "sha384-z".to_string(),
        )]
        .into(),
    });
    // serde leaves out empty maps; an import map with nothing but imports is spec-valid.
    reads_as_serde_wrote_it(ImportMap::default());
    let err = AppsManifest::from_js(
        &js_sys::JSON::parse(
            r#"{"schema":1,"apps":{"@tessera/cart":{"version":"1","abi":"2","specifier":"c"}},
                "routes":{"always":[],"routes":[],"default":"/","notFound":"main"}}"#,
        )
        .unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "apps.@tessera/cart.abi: expected an integer (u32)"
    );
    assert_eq!(
        tessera_wire::parse::<tessera_contract::auth::AuthConfig>(r#"{"mode":"saml"}"#),
        Err("mode: expected a mode of \"dev\" or \"oidc\"".into())
    );
    assert!(tessera_wire::parse::<OfflineSet>("{")
        .is_err_and(|e| e.starts_with("not JSON: ") && e.len() > "not JSON: ".len()));
    let err = CohortRule::from_js(&js_sys::JSON::parse(r#"{"share":10}"#).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "expected a cohort rule (role or percent)");
}

#[wasm_bindgen_test]
fn the_shell_writes_props_as_serde_writes_them() {
    let mut params = tessera_contract::routing::Params::new();
    params.insert("id".into(), "pho-corner".into());
    let mut with_icon = nav_link();
    with_icon.meta.icon = Some("🛒".into());
    with_icon.meta.required_role = None;
    let full = Props {
        name: "@tessera/restaurants".into(),
        base_path: "/restaurants".into(),
        abi: 2,
        session: Session {
            user_name: Some("Zoë \"Z\" \\ O'Neil".into()),
            id_token: Some("dev:zoe:customer,admin".into()),
            roles: vec!["customer".into(), "admin".into()],
        },
        params,
        navigation: vec![nav_link(), with_icon],
        data: serde_json::json!({"b": [1, 2.5, null, true], "a": {"line\nbreak": "x"}}),
        bff: Some("/api/restaurants".into()),
    };
    let bare = Props {
        name: "@tessera/nav".into(),
        base_path: String::new(),
        abi: 1,
        session: Session::default(),
        params: Default::default(),
        navigation: vec![],
        data: serde_json::Value::Null,
        bff: None,
    };
    for props in [full, bare] {
        assert_eq!(stringified(&props), serde_json::to_string(&props).unwrap());
    }
    serde_reads_what_it_wrote(Session::default());
    serde_reads_what_it_wrote(nav_link());
}

#[wasm_bindgen_test]
fn what_apps_write_serde_reads_back() {
    serde_reads_what_it_wrote(restaurant());
    serde_reads_what_it_wrote(item());
    serde_reads_what_it_wrote(line());
    serde_reads_what_it_wrote(order(OrderStatus::OutForDelivery));
    serde_reads_what_it_wrote(ItemAdded {
        restaurant_id: "r".into(),
        item_id: "i".into(),
        name: "n".into(),
        price_cents: 5,
        quantity: 1,
    });
    // Command bodies: the BFF denies unknown fields, so nothing extra may be written.
    serde_reads_what_it_wrote(PutCartItem {
        quantity: 2,
        last_modified_by: None,
    });
    serde_reads_what_it_wrote(PutMenuItem {
        name: "Phở gà".into(),
        price_cents: 1190,
        available: false,
        last_modified_by: Some("ann".into()),
    });
    serde_reads_what_it_wrote(Checkout::default());
}

#[wasm_bindgen_test]
fn a_wrong_shape_is_an_error_naming_where() {
    let bad = js_sys::JSON::parse(
        r#"{"items":[{"id":"o","owner":"a","status":"lost","lines":[],"totalCents":1,
            "currency":"EUR","placedAt":"x","version":1,"lastModified":"x","lastModifiedBy":"a"}]}"#,
    )
    .unwrap();
    let err = Page::<Order>::from_js(&bad).unwrap_err();
    assert_eq!(err.to_string(), "items[0].status: expected an order status");
    let missing = js_sys::JSON::parse(r#"{"lines":[{"itemId":"p"}]}"#).unwrap();
    let err = tessera_wire::field::<Vec<CartLine>>(&missing, "lines").unwrap_err();
    assert_eq!(err.to_string(), "lines[0].restaurantId: expected a value");
}

#[wasm_bindgen_test]
fn any_json_reads_as_serde_json_reads_it() {
    use serde_json::Value;
    let texts = [
        "null",
        "true",
        r#""caf\u00e9 \ud83c\udf5c \"quoted\"""#,
        "0",
        "-17",
        "9007199254740991",
        "0.5",
        "-1.25e-7",
        "1e300",
        "[]",
        "{}",
        r#"{"b": [1, {"c": null, "d": [true, false]}], "a": "x", "2": 2, "10": 10}"#,
        r#"{"dup": 1, "dup": 2}"#,
    ];
    for text in texts {
        let ours = tessera_wire::parse::<Value>(text).unwrap();
        let theirs: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs, "{text}");
        assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
    }
    // JS numbers keep no difference between 3 and 3.0: a whole number reads as an integer.
    assert_eq!(tessera_wire::parse::<Value>("3.0").unwrap(), Value::from(3));
}

#[wasm_bindgen_test]
fn json_too_deep_or_not_json_is_refused_by_name() {
    use serde_json::Value;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let err = tessera_wire::parse::<Value>(&deep).unwrap_err();
    assert!(
        err.ends_with("expected JSON nested at most 128 deep"),
        "{err}"
    );
    let err = tessera_wire::parse::<Value>("{\"a\": [1, ").unwrap_err();
    assert!(err.starts_with("not JSON"), "{err}");
    let err = Value::from_js(&JsValue::UNDEFINED).unwrap_err();
    assert_eq!(err.to_string(), "expected a JSON value");
}
