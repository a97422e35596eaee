//! Findings of the "hostile probe" (issue 18), each pinned by a test, on SQLite and PostgreSQL.

mod common;

use common::live::{Live, LiveClient};
use common::oidc::{now, TestIssuer, KEY_A};
use common::{key, TestDb, TestServer, ADMIN, ALICE, BOB};
use futures::SinkExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

on_both_databases!(
    checkout_rechecks_prices_and_availability,
    idempotency_keys_are_per_caller,
    order_ids_reveal_nothing_about_other_users,
    bearer_scheme_is_case_insensitive,
    control_and_bidi_characters_are_refused,
    long_uris_and_large_headers_are_problems,
    migrations_3_and_4_keep_existing_keys_and_orders,
);

/// A live client after `ready` and `caught-up`.
async fn live_ready(base: &str, token: &str) -> LiveClient {
    let mut live = LiveClient::connect(base, token, 0, &[]).await;
    assert!(matches!(live.next(WAIT).await, Live::Ready(_)));
    assert!(matches!(live.next(WAIT).await, Live::CaughtUp(_)));
    live
}

const WAIT: Duration = Duration::from_secs(10);

/// Reads until a close (returned) or until `quiet` passes without one (`None`).
async fn close_within(live: &mut LiveClient, quiet: Duration) -> Option<(u16, String)> {
    let until = Instant::now() + quiet;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let next = tokio::time::timeout(left, live.next(WAIT)).await;
        match next {
            Err(_) => return None,
            Ok(Live::Closed(code, reason)) => return Some((code, reason)),
            Ok(_) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_protocol_violations_close_with_standard_codes() {
    let db = TestDb::new(common::Kind::Sqlite).await;
    let server = TestServer::start(&db).await;
    let cases: Vec<(Message, u16, &str)> = vec![
        (Message::text("not json"), 1002, "JSON"),
        (
            Message::text(r#"{"type":"subscribe","topics":[]}"#),
            1002,
            "subscribe",
        ),
        (
            Message::text(r#"{"type":"hello","token":"dev:alice:customer"}"#),
            1002,
            "hello",
        ),
        (Message::binary(vec![0, 1, 2]), 1003, "binary"),
        (Message::text("x".repeat(70 * 1024)), 1009, "limited"),
    ];
    for (message, code, needle) in cases {
        let shown = format!("{:.60}", format!("{message:?}"));
        let mut live = live_ready(&server.base, ALICE).await;
        live.socket.send(message).await.unwrap();
        let (got, reason) = close_within(&mut live, WAIT).await.expect("a close");
        assert_eq!(got, code, "{shown}: {reason}");
        assert!(reason.contains(needle), "{shown}: {reason}");
    }
    // Before the hello too: an oversized first message is a 1009, not a 4001.
    let mut live =
        LiveClient::connect_raw(&server.base, Message::text("x".repeat(70 * 1024))).await;
    let (got, reason) = close_within(&mut live, WAIT).await.expect("a close");
    assert_eq!(got, 1009, "{reason}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_socket_closes_when_its_token_expires_unless_renewed() {
    let issuer = TestIssuer::start(&[KEY_A]).await;
    let db = TestDb::new(common::Kind::Sqlite).await;
    let server = TestServer::start_config(tessera_bff::Config {
        oidc_issuer: Some(issuer.issuer.clone()),
        oidc_leeway_secs: 1,
        live_heartbeat_ms: 500,
        dev_tokens: false,
        ..common::config(&db.url, 3_600_000)
    })
    .await;
    let token = |sub: &str, lifetime: i64| {
        let mut claims = issuer.claims(sub, &["customer"]);
        claims["exp"] = json!(now() + lifetime);
        KEY_A.sign(&claims)
    };

    // Expires in 2 s, plus 1 s of leeway: closed with 4401 about 3 s in, not before.
    let started = Instant::now();
    let mut live = live_ready(&server.base, &token("alice", 2)).await;
    let (code, reason) = close_within(&mut live, WAIT)
        .await
        .expect("a close at expiry");
    assert_eq!((code, reason.as_str()), (4401, "token expired"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_900) && took < Duration::from_secs(6),
        "{took:?}"
    );

    // Renewed in time: it stays open past the first token's expiry.
    let mut live = live_ready(&server.base, &token("alice", 2)).await;
    let auth = json!({"type": "auth", "token": token("alice", 600)}).to_string();
    live.socket.send(Message::text(auth)).await.unwrap();
    assert_eq!(close_within(&mut live, Duration::from_secs(5)).await, None);
    // A renewal must be the same subject's, and valid.
    let auth = json!({"type": "auth", "token": token("bob", 600)}).to_string();
    live.socket.send(Message::text(auth)).await.unwrap();
    let (code, reason) = close_within(&mut live, WAIT).await.expect("a close");
    assert_eq!(code, 4001, "{reason}");
    // A subject is stored (owner, lastModifiedBy): one with a control character is refused.
    for sub in ["al\u{0}ice", "\u{202E}ecila"] {
        let r = server.get("/api/cart", Some(&token(sub, 600))).await;
        let p = r.problem(401);
        assert!(p["detail"].as_str().unwrap().contains("U+"), "{p}");
    }
    let mut live = live_ready(&server.base, &token("alice", 600)).await;
    let auth = json!({"type": "auth", "token": token("alice", -600)}).to_string();
    live.socket.send(Message::text(auth)).await.unwrap();
    let (code, reason) = close_within(&mut live, WAIT).await.expect("a close");
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains("expired"), "{reason}");
    server.stop().await;
    issuer.stop();
}

/// The admin sets `item` (of `restaurant`) to `price` and `available`, whatever its version.
async fn set_menu_item(
    server: &TestServer,
    restaurant: &str,
    item: &str,
    name: &str,
    price: i64,
    available: bool,
) {
    let path = format!("/api/restaurants/{restaurant}/menu/{item}");
    let version = server
        .menu_item(restaurant, item)
        .await
        .map(|i| i["version"].as_i64().unwrap());
    let body = json!({"name": name, "priceCents": price, "available": available}).to_string();
    let r = server.put(&path, ADMIN, &key(), version, &body).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
}

async fn add_to_cart(server: &TestServer, token: &str, item: &str, quantity: u32) -> Value {
    let cart = server.get("/api/cart", Some(token)).await.json();
    let version = cart["version"].as_i64().unwrap();
    let r = server
        .put(
            &format!("/api/cart/items/{item}"),
            token,
            &key(),
            Some(version),
            &json!({"quantity": quantity}).to_string(),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    r.json()
}

async fn checkout_rechecks_prices_and_availability(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::start(&db).await;
    set_menu_item(&server, "pho-corner", "pho-bo", "Phở bò", 100, true).await;
    set_menu_item(&server, "pho-corner", "banh-mi", "Bánh mì", 810, true).await;
    add_to_cart(&server, ALICE, "pho-bo", 2).await;
    let cart = add_to_cart(&server, ALICE, "banh-mi", 1).await;
    assert_eq!(cart["totalCents"], 2 * 100 + 810);
    let version = cart["version"].as_i64().unwrap();

    // Repriced and made unavailable by the admin while it sat in the cart.
    set_menu_item(&server, "pho-corner", "pho-bo", "Phở bò", 999_999, false).await;
    set_menu_item(&server, "pho-corner", "banh-mi", "Bánh mì", 900, true).await;

    let checkout_key = key();
    let r = server
        .put(
            "/api/cart/checkout/order-h18-1",
            ALICE,
            &checkout_key,
            Some(version),
            "{}",
        )
        .await;
    let p = r.problem(409);
    assert_eq!(p["type"], "/problems/cart-changed", "{p}");
    let changes = p["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{p}");
    let pho = changes.iter().find(|c| c["itemId"] == "pho-bo").unwrap();
    assert_eq!(pho["name"], "Phở bò");
    assert_eq!(pho["oldPriceCents"], 100);
    assert_eq!(pho["newPriceCents"], 999_999);
    assert_eq!(pho["available"], false);
    let banh = changes.iter().find(|c| c["itemId"] == "banh-mi").unwrap();
    assert_eq!(banh["oldPriceCents"], 810);
    assert_eq!(banh["newPriceCents"], 900);
    assert_eq!(banh["available"], true);

    // The cart no longer holds the stale price; the problem carries it as it is now.
    let current = &p["current"];
    assert_eq!(current["version"], version + 1, "{p}");
    assert_eq!(r.header("etag"), Some(&*format!("\"{}\"", version + 1)));
    let now = server.get("/api/cart", Some(ALICE)).await.json();
    assert_eq!(&now, current);
    let lines = now["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{now}");
    assert_eq!(lines[0]["itemId"], "banh-mi");
    assert_eq!(lines[0]["unitPriceCents"], 900);
    assert_eq!(now["totalCents"], 900);
    // Nothing was ordered; the cart change is in the log.
    assert_eq!(
        server
            .get("/api/orders/order-h18-1", Some(ALICE))
            .await
            .status,
        404
    );
    let events = server.all_events().await;
    assert_eq!(events.last().unwrap()["type"], "cart.updated");

    // The same key, now that the client has seen the new cart, orders at the menu's price.
    let r = server
        .put(
            "/api/cart/checkout/order-h18-1",
            ALICE,
            &checkout_key,
            Some(version + 1),
            "{}",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["totalCents"], 900);

    // Sent again (no If-Match) after the cart filled up and that item's price changed: the
    // order is replayed, and the refresh its check would have made is not kept.
    let refilled = add_to_cart(&server, ALICE, "banh-mi", 3).await;
    set_menu_item(&server, "pho-corner", "banh-mi", "Bánh mì", 950, true).await;
    let again = server
        .put(
            "/api/cart/checkout/order-h18-1",
            ALICE,
            &checkout_key,
            None,
            "{}",
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, r.text);
    assert_eq!(server.get("/api/cart", Some(ALICE)).await.json(), refilled);

    // The OpenAPI document describes the problem and its `changes`.
    let doc = server.get("/api/openapi.json", None).await.json();
    let conflict = &doc["paths"]["/api/cart/checkout/{orderId}"]["put"]["responses"]["409"];
    assert_eq!(
        conflict["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/CartChangedProblem",
        "{conflict}"
    );
    let change = &doc["components"]["schemas"]["CartLineChange"]["properties"];
    for member in [
        "itemId",
        "name",
        "oldPriceCents",
        "newPriceCents",
        "available",
    ] {
        assert!(change[member].is_object(), "{member}: {change}");
    }
    server.stop().await;
}

async fn idempotency_keys_are_per_caller(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::start(&db).await;
    let shared_key = key();
    let alice = server
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            &shared_key,
            None,
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(alice.status, 201, "{}", alice.text);
    // Bob, by chance or on purpose, sends Alice's key: a fresh command of his own, neither
    // her replay nor a 422 that would tell him the key exists.
    let bob = server
        .put(
            "/api/cart/items/pho-bo",
            BOB,
            &shared_key,
            None,
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(bob.status, 201, "{}", bob.text);
    assert_eq!(bob.header("idempotent-replayed"), None);
    assert_eq!(bob.json()["owner"], "bob");
    let bob_other_body = server
        .put(
            "/api/cart/items/banh-mi",
            BOB,
            &key(),
            Some(1),
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(bob_other_body.status, 200, "{}", bob_other_body.text);
    // Each still replays their own and gets a 422 for their own key on another request.
    let again = server
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            &shared_key,
            None,
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, alice.text);
    let again = server
        .put(
            "/api/cart/items/pho-bo",
            BOB,
            &shared_key,
            None,
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, bob.text);
    server
        .put(
            "/api/cart/items/pho-bo",
            BOB,
            &shared_key,
            None,
            r#"{"quantity": 3}"#,
        )
        .await
        .problem(422);

    // A key recorded before keys were per caller (subject '') still replays for the request,
    // caller included, that made it, and for nobody else.
    let legacy_key = key();
    let path = "/api/cart/items/goi-cuon";
    let command = tessera_bff::idempotency::Command::new(
        legacy_key.clone(),
        "alice",
        "PUT",
        path,
        r#"{"quantity":4}"#,
    );
    let mut tx = server.state.db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO idempotency (subject, key, fingerprint, status, body, etag, created_at) \
         VALUES ('', $1, $2, 200, '{\"legacy\":true}', NULL, '2026-01-01T00:00:00Z')",
    )
    .bind(&legacy_key)
    .bind(&command.fingerprint)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let replayed = server
        .put(path, ALICE, &legacy_key, Some(2), r#"{"quantity": 4}"#)
        .await;
    assert_eq!(replayed.status, 200);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.text, r#"{"legacy":true}"#);
    let fresh = server
        .put(path, BOB, &legacy_key, Some(2), r#"{"quantity": 4}"#)
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_eq!(fresh.header("idempotent-replayed"), None);
    assert_eq!(fresh.json()["owner"], "bob");
    server.stop().await;
}

async fn order_ids_reveal_nothing_about_other_users(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::start(&db).await;
    let alice_cart = add_to_cart(&server, ALICE, "pho-bo", 1).await;
    let alice_order = server
        .put(
            "/api/cart/checkout/dinner",
            ALICE,
            &key(),
            alice_cart["version"].as_i64(),
            "{}",
        )
        .await;
    assert_eq!(alice_order.status, 201, "{}", alice_order.text);

    // Bob neither sees Alice's order nor learns that its id is taken: checkout with it places
    // his own order, exactly as with an id nobody used.
    server
        .get("/api/orders/dinner", Some(BOB))
        .await
        .problem(404);
    let bob_cart = add_to_cart(&server, BOB, "banh-mi", 2).await;
    let bob_order = server
        .put(
            "/api/cart/checkout/dinner",
            BOB,
            &key(),
            bob_cart["version"].as_i64(),
            "{}",
        )
        .await;
    assert_eq!(bob_order.status, 201, "{}", bob_order.text);
    let bob_order = bob_order.json();
    assert_eq!(
        (
            bob_order["owner"].as_str(),
            bob_order["totalCents"].as_i64()
        ),
        (Some("bob"), Some(1620))
    );

    // Each reads their own; the kitchen moves each on its own.
    let alices = server.get("/api/orders/dinner", Some(ALICE)).await.json();
    assert_eq!(
        (alices["owner"].as_str(), alices["totalCents"].as_i64()),
        (Some("alice"), Some(1290))
    );
    assert_eq!(
        server.get("/api/orders/dinner", Some(BOB)).await.json(),
        bob_order
    );
    assert_eq!(
        server.get("/api/orders", Some(BOB)).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Reusing one's own id under a new key is still a 409.
    let again = add_to_cart(&server, ALICE, "goi-cuon", 1).await;
    server
        .put(
            "/api/cart/checkout/dinner",
            ALICE,
            &key(),
            again["version"].as_i64(),
            "{}",
        )
        .await
        .problem(409);
    server.stop().await;
}

async fn bearer_scheme_is_case_insensitive(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::start(&db).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = server
            .raw(
                server
                    .http
                    .get(format!("{}/api/cart", server.base))
                    .header("authorization", format!("{scheme} {ALICE}")),
            )
            .await;
        assert_eq!(r.status, 200, "{scheme}: {}", r.text);
        assert_eq!(r.json()["owner"], "alice");
    }
    let basic = server
        .raw(
            server
                .http
                .get(format!("{}/api/cart", server.base))
                .header("authorization", format!("Basic {ALICE}")),
        )
        .await;
    basic.problem(401);
    // The live socket's hello takes a bare token, and tolerates the scheme in any case too.
    for token in [
        ALICE.to_owned(),
        format!("BEARER {ALICE}"),
        format!("bearer {ALICE}"),
    ] {
        let mut live = LiveClient::connect(&server.base, &token, 0, &[]).await;
        assert!(
            matches!(live.next(Duration::from_secs(5)).await, Live::Ready(_)),
            "{token}"
        );
    }
    server.stop().await;
}

async fn control_and_bidi_characters_are_refused(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::start(&db).await;
    let path = "/api/restaurants/pho-corner/menu/h18-item";
    for (name, code_point) in [
        ("Pho\u{0}", "U+0000"),
        ("Bell\u{7}", "U+0007"),
        ("Tab\tbed", "U+0009"),
        ("Line\nbreak", "U+000A"),
        ("Esc\u{1b}[31m", "U+001B"),
        ("Del\u{7f}", "U+007F"),
        ("C1\u{85}", "U+0085"),
        ("C1\u{9b}", "U+009B"),
        ("evil\u{202E}gpj.exe", "U+202E"),
        ("\u{202A}embed", "U+202A"),
        ("iso\u{2066}late", "U+2066"),
        ("pop\u{2069}", "U+2069"),
    ] {
        let body = json!({"name": name, "priceCents": 100, "available": true}).to_string();
        let p = server
            .put(path, ADMIN, &key(), None, &body)
            .await
            .problem(422);
        assert_eq!(common::error_targets(&p), ["pointer:/name"], "{p}");
        let detail = p["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(code_point), "{name:?}: {detail}");
    }
    // Nothing was stored; ordinary text outside those ranges (accents, emoji, RTL letters) is.
    assert!(server.all_events().await.is_empty());
    let body = json!({"name": "Phở bò 🍜 فو", "priceCents": 100, "available": true}).to_string();
    let r = server.put(path, ADMIN, &key(), None, &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    server.stop().await;
}

async fn long_uris_and_large_headers_are_problems(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let server = TestServer::start(&db).await;
    // Just under the limit passes through to routing.
    let padding = "x".repeat(8 * 1024 - "/api/restaurants?pad=".len());
    let r = server
        .get(&format!("/api/restaurants?pad={padding}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let long = format!("/api/restaurants?pad={padding}xx");
    let p = server.get(&long, None).await.problem(414);
    assert_eq!(p["type"], "/problems/uri-too-long");
    let p = server
        .get(&format!("/api/{}", "a".repeat(20_000)), Some(ALICE))
        .await
        .problem(414);
    assert_eq!(p["type"], "/problems/uri-too-long");

    let mut req = server
        .http
        .get(format!("{}/api/cart", server.base))
        .bearer_auth(ALICE);
    for i in 0..5 {
        req = req.header(format!("x-padding-{i}"), "y".repeat(8 * 1024));
    }
    let p = server.raw(req).await.problem(431);
    assert_eq!(p["type"], "/problems/headers-too-large");
    let mut req = server
        .http
        .get(format!("{}/api/cart", server.base))
        .bearer_auth(ALICE);
    for i in 0..3 {
        req = req.header(format!("x-padding-{i}"), "y".repeat(8 * 1024));
    }
    assert_eq!(server.raw(req).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_mid_header_and_mid_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::new(common::Kind::Sqlite).await;
    let server = TestServer::start_config(tessera_bff::Config {
        http_header_timeout_ms: 500,
        http_body_timeout_ms: 500,
        ..common::config(&db.url, 3_600_000)
    })
    .await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let read_all = |mut tcp: tokio::net::TcpStream| async move {
        let started = Instant::now();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got))
            .await
            .expect("the server hangs up in time")
            .ok();
        (
            started.elapsed(),
            String::from_utf8_lossy(&got).into_owned(),
        )
    };

    // Stops in the middle of its headers: disconnected after the header timeout.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (took, answer) = read_all(tcp).await;
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(!answer.contains("200 OK"), "{answer}");

    // Stops in the middle of its body: a 408 problem, and the connection is closed.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /api/cart/items/pho-bo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n\
         Idempotency-Key: slow-1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n\
         {{\"quantity\""
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (took, answer) = read_all(tcp).await;
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("/problems/body-timeout"), "{answer}");
    assert_eq!(
        server.get("/api/cart", Some(ALICE)).await.json()["version"],
        0
    );

    // A client that does not pause is served as usual.
    let r = server
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            "slow-1",
            None,
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    server.stop().await;
}

/// A database as the BFF left it before migrations 3 and 4 (keys global, order ids global),
/// with a recorded key and an order, upgraded by the next start.
async fn migrations_3_and_4_keep_existing_keys_and_orders(kind: common::Kind) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let db = TestDb::new(kind).await;
    let schema = include_str!("../migrations/0001_schema.sql");
    let schema = match kind {
        common::Kind::Sqlite => schema.replace(
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "INTEGER PRIMARY KEY AUTOINCREMENT",
        ),
        common::Kind::Postgres => schema.to_owned(),
    };
    let key_path = "/api/cart/items/pho-bo";
    let old_key = key();
    let fingerprint = tessera_bff::idempotency::Command::new(
        old_key.clone(),
        "alice",
        "PUT",
        key_path,
        r#"{"quantity":1}"#,
    )
    .fingerprint;
    {
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let setup = format!(
            "{schema};\n{seed};\n\
             CREATE TABLE tessera_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL);\n\
             INSERT INTO tessera_migrations (version, description) VALUES (1, 'schema'), (2, 'seed');\n\
             INSERT INTO idempotency (key, fingerprint, status, body, etag, created_at) \
               VALUES ('{old_key}', '{fingerprint}', 201, '{{\"old\":true}}', '\"1\"', '2026-01-01T00:00:00Z');\n\
             INSERT INTO orders (id, owner, status, lines, total_cents, placed_at, placed_ms, next_step_at, version, last_modified, last_modified_by, deleted) \
               VALUES ('old-order', 'alice', 'delivered', '[]', 0, '2026-01-01T00:00:00Z', 1, NULL, 5, '2026-01-01T00:00:00Z', 'kitchen', 0);",
            seed = include_str!("../migrations/0002_seed.sql"),
        );
        sqlx::raw_sql(&setup).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let server = TestServer::start(&db).await;
    // The old key replays for the request that made it, and is invisible to anyone else.
    let replay = server
        .put(key_path, ALICE, &old_key, None, r#"{"quantity": 1}"#)
        .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, r#"{"old":true}"#);
    let bob = server
        .put(key_path, BOB, &old_key, None, r#"{"quantity": 1}"#)
        .await;
    assert_eq!(bob.status, 201, "{}", bob.text);
    assert_eq!(bob.header("idempotent-replayed"), None);
    // The old order is still Alice's, and only hers.
    let order = server
        .get("/api/orders/old-order", Some(ALICE))
        .await
        .json();
    assert_eq!(
        (order["owner"].as_str(), order["version"].as_i64()),
        (Some("alice"), Some(5))
    );
    server
        .get("/api/orders/old-order", Some(BOB))
        .await
        .problem(404);
    server.stop().await;
}

/// A site's service worker calls regions other than its own origin: any origin may call the
/// API with a bearer token, and no cookie is ever let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_origin_may_call_the_api_with_a_token_never_with_cookies() {
    let db = TestDb::new(common::Kind::Sqlite).await;
    let server = TestServer::start(&db).await;
    let origin = "https://shop.example.com";
    let preflight = server
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/cart/items/pho-corner~pho-bo", server.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key, if-match",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(header("access-control-allow-origin"), "*");
    assert!(header("access-control-allow-methods").contains("put"));
    for name in ["authorization", "idempotency-key", "if-match"] {
        assert!(
            header("access-control-allow-headers").contains(name),
            "{name}: {headers:?}"
        );
    }
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{headers:?}"
    );

    let answer = server
        .http
        .get(format!("{}/api/cart", server.base))
        .header("origin", origin)
        .header("authorization", format!("Bearer {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    // The ETag (a command's If-Match) must be readable from the other origin.
    assert_eq!(headers["access-control-expose-headers"], "*");
    server.stop().await;
}
