//! The HTTP API against SQLite and PostgreSQL: concurrency, idempotency, bad input, the event
//! log, the kitchen and the OpenAPI document.

mod common;

use common::{error_targets, key, TestDb, TestServer, ADMIN, ALICE, BOB};
use futures::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

on_both_databases!(
    two_writers_same_version_one_wins,
    same_command_a_hundred_times_has_one_effect,
    bad_input_is_a_problem_and_stores_nothing,
    other_customers_data_is_out_of_reach,
    every_accepted_command_appends_one_event,
    tailing_the_log_during_a_burst_skips_nothing,
    queries_revalidate_and_paginate,
    kitchen_delivers_orders_and_resumes_after_restart,
    openapi_lists_every_route,
    the_offline_set_names_what_the_apps_read,
    monitoring_reports_are_checked_bounded_and_summarised,
    a_command_answers_what_a_read_then_shows,
);

async fn two_writers_same_version_one_wins(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;

    // Two admins edit the same menu item from version 1.
    let path = "/api/restaurants/pho-corner/menu/pho-bo";
    let a = json!({"name": "Phở bò tái", "priceCents": 1350, "available": true}).to_string();
    let b = json!({"name": "Phở bò chín", "priceCents": 1390, "available": true}).to_string();
    let (ka, kb) = (key(), key());
    let (ra, rb) = tokio::join!(
        s.put(path, ADMIN, &ka, Some(1), &a),
        s.put(path, ADMIN, &kb, Some(1), &b)
    );
    let (winner, loser) = match (ra.status, rb.status) {
        (200, 412) => (ra, rb),
        (412, 200) => (rb, ra),
        other => panic!(
            "expected one 200 and one 412, got {other:?}: {} / {}",
            ra.text, rb.text
        ),
    };
    let problem = loser.problem(412);
    assert_eq!(
        problem["current"],
        winner.json(),
        "the 412 carries the winner's entity"
    );
    assert_eq!(loser.header("etag"), Some("\"2\""));
    assert_eq!(winner.json()["version"], 2);
    let item = s.menu_item("pho-corner", "pho-bo").await.unwrap();
    assert_eq!(item, winner.json());

    // Two tabs of one customer, both at cart version 1.
    let created = s
        .put(
            "/api/cart/items/banh-mi",
            ALICE,
            &key(),
            None,
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (k1, k2) = (key(), key());
    let (r1, r2) = tokio::join!(
        s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            &k1,
            Some(1),
            r#"{"quantity": 2}"#
        ),
        s.put(
            "/api/cart/items/goi-cuon",
            ALICE,
            &k2,
            Some(1),
            r#"{"quantity": 3}"#
        )
    );
    let statuses: BTreeSet<u16> = [r1.status, r2.status].into();
    assert_eq!(statuses, [200, 412].into(), "{} / {}", r1.text, r2.text);
    let (won, lost) = if r1.status == 200 { (r1, r2) } else { (r2, r1) };
    assert_eq!(lost.problem(412)["current"], won.json());
    assert_eq!(s.get("/api/cart", Some(ALICE)).await.json(), won.json());

    let events = s.all_events().await;
    assert_eq!(
        events.len(),
        3,
        "menu edit, cart create, one cart update: {events:?}"
    );
    s.stop().await;
}

/// Commands answer with the entity as they stored it, built without reading it back: the
/// answer must be what a read shows afterwards (a menu item created and updated, a cart with
/// lines from two restaurants).
async fn a_command_answers_what_a_read_then_shows(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let path = "/api/restaurants/pho-corner/menu/bun-cha";
    let created = s
        .put(
            path,
            ADMIN,
            &key(),
            None,
            r#"{"name": "  Bún chả  ", "priceCents": 1250, "available": false}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.json()["name"],
        "Bún chả",
        "the name is stored trimmed"
    );
    assert_eq!(
        s.menu_item("pho-corner", "bun-cha").await.unwrap(),
        created.json()
    );
    let updated = s
        .put(
            path,
            ADMIN,
            &key(),
            Some(1),
            r#"{"name": "Bún chả Hà Nội", "priceCents": 1300, "available": true}"#,
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["version"], 2);
    assert_eq!(
        s.menu_item("pho-corner", "bun-cha").await.unwrap(),
        updated.json()
    );
    // An item id another restaurant lists is refused, and nothing changes.
    let taken = s
        .put(
            "/api/restaurants/napoli/menu/bun-cha",
            ADMIN,
            &key(),
            None,
            r#"{"name": "x", "priceCents": 1, "available": true}"#,
        )
        .await;
    taken.problem(409);
    assert_eq!(
        s.menu_item("pho-corner", "bun-cha").await.unwrap(),
        updated.json()
    );

    let first = s
        .put(
            "/api/cart/items/bun-cha",
            ALICE,
            &key(),
            None,
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = s
        .put(
            "/api/cart/items/margherita",
            ALICE,
            &key(),
            Some(1),
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let cart = s.get("/api/cart", Some(ALICE)).await;
    assert_eq!(cart.json(), second.json());
    assert_eq!(cart.json()["lines"].as_array().map(Vec::len), Some(2));
}

async fn same_command_a_hundred_times_has_one_effect(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let k = key();
    let body = r#"{"quantity": 2}"#;
    let concurrent =
        join_all((0..50).map(|_| s.put("/api/cart/items/pho-bo", ALICE, &k, None, body))).await;
    let mut all = concurrent;
    for _ in 0..50 {
        all.push(s.put("/api/cart/items/pho-bo", ALICE, &k, None, body).await);
    }
    let first = &all[0];
    assert_eq!(first.status, 201, "{}", first.text);
    for r in &all {
        assert_eq!(
            (r.status, &r.text),
            (first.status, &first.text),
            "every answer is the original, byte for byte"
        );
        assert_eq!(r.header("etag"), Some("\"1\""));
    }
    // Whitespace and key order do not make it a different request.
    let same = s
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            &k,
            None,
            "{ \"quantity\" :2 }",
        )
        .await;
    assert_eq!((same.status, &same.text), (first.status, &first.text));

    let cart = s.get("/api/cart", Some(ALICE)).await.json();
    assert_eq!(cart["version"], 1);
    assert_eq!(cart["lines"][0]["quantity"], 2);
    assert_eq!(s.all_events().await.len(), 1);

    // The item leaves the menu; a replay of the applied command still answers what it did
    // (an outbox told 409 would mark a command the server applied as refused).
    let pho_bo = s.menu_item("pho-corner", "pho-bo").await.unwrap();
    let sold_out = s
        .put(
            "/api/restaurants/pho-corner/menu/pho-bo",
            ADMIN,
            &key(),
            pho_bo["version"].as_i64(),
            &json!({"name": pho_bo["name"], "priceCents": pho_bo["priceCents"], "available": false})
                .to_string(),
        )
        .await;
    assert_eq!(sold_out.status, 200, "{}", sold_out.text);
    let again = s.put("/api/cart/items/pho-bo", ALICE, &k, None, body).await;
    assert_eq!((again.status, &again.text), (first.status, &first.text));
    let fresh = s
        .put("/api/cart/items/pho-bo", ALICE, &key(), None, body)
        .await;
    assert_eq!(
        fresh.status, 409,
        "a new command for it is refused: {}",
        fresh.text
    );
    s.stop().await;
}

async fn bad_input_is_a_problem_and_stores_nothing(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let item = "/api/cart/items/pho-bo";
    let menu = "/api/restaurants/pho-corner/menu/pho-bo";

    let cases: Vec<(&str, common::Resp, u16, Vec<&str>)> = vec![
        (
            "malformed JSON",
            s.put(item, ALICE, &key(), None, r#"{"quantity": "#).await,
            400,
            vec!["pointer:"],
        ),
        (
            "wrong type",
            s.put(item, ALICE, &key(), None, r#"{"quantity": "two"}"#)
                .await,
            422,
            vec!["pointer:/quantity"],
        ),
        (
            "negative",
            s.put(item, ALICE, &key(), None, r#"{"quantity": -1}"#)
                .await,
            422,
            vec!["pointer:/quantity"],
        ),
        (
            "too many",
            s.put(item, ALICE, &key(), None, r#"{"quantity": 100}"#)
                .await,
            422,
            vec!["pointer:/quantity"],
        ),
        (
            "missing field",
            s.put(item, ALICE, &key(), None, r#"{}"#).await,
            422,
            vec!["pointer:/quantity"],
        ),
        (
            "unknown field",
            s.put(
                item,
                ALICE,
                &key(),
                None,
                r#"{"quantity": 1, "unitPriceCents": 1}"#,
            )
            .await,
            422,
            vec!["pointer:/unitPriceCents"],
        ),
        (
            "not an object",
            s.put(item, ALICE, &key(), None, r#"[1]"#).await,
            422,
            vec!["pointer:"],
        ),
        (
            "claims another lastModifiedBy",
            s.put(
                item,
                ALICE,
                &key(),
                None,
                r#"{"quantity": 1, "lastModifiedBy": "bob"}"#,
            )
            .await,
            422,
            vec!["pointer:/lastModifiedBy"],
        ),
        (
            "oversized body",
            s.put(
                item,
                ALICE,
                &key(),
                None,
                &format!(r#"{{"quantity": 1, "pad": "{}"}}"#, "x".repeat(70 * 1024)),
            )
            .await,
            413,
            vec![],
        ),
        (
            "bad id",
            s.put(
                "/api/cart/items/b%20d",
                ALICE,
                &key(),
                None,
                r#"{"quantity": 1}"#,
            )
            .await,
            400,
            vec!["parameter:itemId"],
        ),
        (
            "unknown item",
            s.put(
                "/api/cart/items/nope",
                ALICE,
                &key(),
                None,
                r#"{"quantity": 1}"#,
            )
            .await,
            404,
            vec!["parameter:itemId"],
        ),
        (
            "no token",
            s.raw(
                s.http
                    .put(format!("{}{item}", s.base))
                    .header("idempotency-key", "k")
                    .body("{}"),
            )
            .await,
            401,
            vec![],
        ),
        (
            "bad token",
            s.put(item, "admin", &key(), None, r#"{"quantity": 1}"#)
                .await,
            401,
            vec![],
        ),
        (
            "no idempotency key",
            s.raw(
                s.http
                    .put(format!("{}{item}", s.base))
                    .bearer_auth(ALICE)
                    .header("content-type", "application/json")
                    .body(r#"{"quantity": 1}"#),
            )
            .await,
            400,
            vec!["header:Idempotency-Key"],
        ),
        (
            "bad If-Match",
            s.raw(
                s.http
                    .put(format!("{}{item}", s.base))
                    .bearer_auth(ALICE)
                    .header("idempotency-key", "k")
                    .header("if-match", "v1"),
            )
            .await,
            400,
            vec!["header:If-Match"],
        ),
        (
            "not JSON",
            s.raw(
                s.http
                    .put(format!("{}{item}", s.base))
                    .bearer_auth(ALICE)
                    .header("idempotency-key", "k")
                    .header("content-type", "text/plain")
                    .body("quantity=1"),
            )
            .await,
            415,
            vec!["header:Content-Type"],
        ),
        (
            "create with a version",
            s.put(item, ALICE, &key(), Some(3), r#"{"quantity": 1}"#)
                .await,
            412,
            vec!["header:If-Match"],
        ),
        (
            "checkout of an empty cart",
            s.put("/api/cart/checkout/o-1", ALICE, &key(), None, "{}")
                .await,
            409,
            vec!["pointer:/lines"],
        ),
        (
            "menu edit by a customer",
            s.put(
                menu,
                ALICE,
                &key(),
                Some(1),
                r#"{"name": "x", "priceCents": 1, "available": true}"#,
            )
            .await,
            403,
            vec![],
        ),
        (
            "menu price of the wrong type",
            s.put(
                menu,
                ADMIN,
                &key(),
                Some(1),
                r#"{"name": "x", "priceCents": "cheap", "available": true}"#,
            )
            .await,
            422,
            vec!["pointer:/priceCents"],
        ),
        (
            "menu rules",
            s.put(
                menu,
                ADMIN,
                &key(),
                Some(1),
                r#"{"name": " ", "priceCents": -5, "available": true}"#,
            )
            .await,
            422,
            vec!["pointer:/name", "pointer:/priceCents"],
        ),
        (
            "menu update without If-Match",
            s.put(
                menu,
                ADMIN,
                &key(),
                None,
                r#"{"name": "x", "priceCents": 1, "available": true}"#,
            )
            .await,
            428,
            vec!["header:If-Match"],
        ),
        (
            "menu of a missing restaurant",
            s.put(
                "/api/restaurants/nope/menu/x",
                ADMIN,
                &key(),
                None,
                r#"{"name": "x", "priceCents": 1, "available": true}"#,
            )
            .await,
            404,
            vec![],
        ),
        (
            "unknown route",
            s.get("/api/nope", Some(ALICE)).await,
            404,
            vec![],
        ),
        (
            "unknown route under a base path",
            s.put("/api/cart/items", ALICE, &key(), None, "{}").await,
            404,
            vec![],
        ),
        (
            "wrong method",
            s.raw(
                s.http
                    .delete(format!("{}/api/cart", s.base))
                    .bearer_auth(ALICE),
            )
            .await,
            405,
            vec![],
        ),
        (
            "bad limit",
            s.get("/api/restaurants?limit=0", None).await,
            400,
            vec!["parameter:limit"],
        ),
        (
            "bad after",
            s.get("/api/events?after=-3", Some(ALICE)).await,
            400,
            vec!["parameter:after"],
        ),
        (
            "events need a token",
            s.get("/api/events", None).await,
            401,
            vec![],
        ),
    ];
    for (what, resp, status, targets) in &cases {
        assert_eq!(resp.status, *status, "{what}: {}", resp.text);
        let problem = resp.problem(*status);
        assert_eq!(error_targets(&problem), *targets, "{what}: {problem}");
    }

    // A key reused for a different request is refused and changes nothing.
    let k = key();
    assert_eq!(
        s.put(item, ALICE, &k, None, r#"{"quantity": 1}"#)
            .await
            .status,
        201
    );
    let reused = s
        .put(item, ALICE, &k, Some(1), r#"{"quantity": 5}"#)
        .await
        .problem(422);
    assert_eq!(error_targets(&reused), ["header:Idempotency-Key"]);
    let other_route = s
        .put(
            "/api/cart/items/banh-mi",
            ALICE,
            &k,
            Some(1),
            r#"{"quantity": 1}"#,
        )
        .await
        .problem(422);
    assert_eq!(error_targets(&other_route), ["header:Idempotency-Key"]);
    // Keys are per caller: another caller's use of `k` is a fresh command (tests/hardening.rs).

    // Only that one accepted command left a trace.
    let cart = s.get("/api/cart", Some(ALICE)).await.json();
    assert_eq!(
        (
            cart["version"].clone(),
            cart["lines"][0]["quantity"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(s.get("/api/cart", Some(BOB)).await.json()["version"], 0);
    let pho = s.get("/api/restaurants/pho-corner", None).await.json();
    assert_eq!(pho["menu"][0]["version"], 1);
    assert_eq!(pho["menu"][0]["priceCents"], 1290);
    assert_eq!(
        s.get("/api/orders", Some(ALICE)).await.json()["items"],
        json!([])
    );
    assert_eq!(s.all_events().await.len(), 1);
    s.stop().await;
}

async fn other_customers_data_is_out_of_reach(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    assert_eq!(
        s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            None,
            r#"{"quantity": 1}"#
        )
        .await
        .status,
        201
    );
    let order = s
        .put("/api/cart/checkout/alice-1", ALICE, &key(), Some(1), "{}")
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    assert_eq!(order.json()["version"], 1);
    assert_eq!(
        order.header("etag"),
        Some("\"2\""),
        "checkout's ETag is the emptied cart's version, which the next cart command is based on"
    );
    assert_eq!(
        s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            Some(2),
            r#"{"quantity": 1}"#
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.put(
            "/api/cart/items/banh-mi",
            BOB,
            &key(),
            None,
            r#"{"quantity": 2}"#
        )
        .await
        .status,
        201
    );
    let before = s.all_events().await;

    // Bob cannot read Alice's order (order ids are per owner: tests/hardening.rs).
    s.get("/api/orders/alice-1", Some(BOB)).await.problem(404);
    // His cart is his own: Alice's cart is not what he sees, and his writes do not touch hers.
    let bobs = s.get("/api/cart", Some(BOB)).await.json();
    assert_eq!(bobs["owner"], "bob");
    assert_eq!(bobs["lines"][0]["itemId"], "banh-mi");
    assert_eq!(
        s.get("/api/orders", Some(BOB)).await.json()["items"],
        json!([])
    );

    assert_eq!(
        s.get("/api/orders/alice-1", Some(ALICE)).await.json(),
        order.json()
    );
    assert_eq!(
        s.all_events().await,
        before,
        "the refused commands appended nothing"
    );
    // Bob's view of the log has the public events and his own only.
    let bob_events = s
        .get("/api/events?after=0&limit=100", Some(BOB))
        .await
        .json();
    let keys: Vec<&str> = bob_events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["partitionKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["cart:bob"]);
    s.stop().await;
}

async fn every_accepted_command_appends_one_event(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let mut accepted: Vec<(String, Value)> = Vec::new();
    let mut expect = |what: &str, r: common::Resp| {
        assert!(r.status == 200 || r.status == 201, "{what}: {}", r.text);
        accepted.push((what.to_owned(), r.json()));
    };
    expect(
        "cart.updated",
        s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            None,
            r#"{"quantity": 2}"#,
        )
        .await,
    );
    expect(
        "cart.updated",
        s.put(
            "/api/cart/items/banh-mi",
            ALICE,
            &key(),
            Some(1),
            r#"{"quantity": 1}"#,
        )
        .await,
    );
    assert_eq!(
        s.put(
            "/api/cart/items/banh-mi",
            ALICE,
            &key(),
            Some(1),
            r#"{"quantity": 4}"#
        )
        .await
        .status,
        412
    );
    expect(
        "cart.updated",
        s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            Some(2),
            r#"{"quantity": 0}"#,
        )
        .await,
    );
    expect(
        "menu.item-updated",
        s.put(
            "/api/restaurants/napoli/menu/calzone",
            ADMIN,
            &key(),
            None,
            r#"{"name": "Calzone", "priceCents": 1200, "available": true}"#,
        )
        .await,
    );
    expect(
        "menu.item-updated",
        s.put(
            "/api/restaurants/napoli/menu/calzone",
            ADMIN,
            &key(),
            Some(1),
            r#"{"name": "Calzone", "priceCents": 1250, "available": false}"#,
        )
        .await,
    );
    expect(
        "order.placed",
        s.put("/api/cart/checkout/o-77", ALICE, &key(), Some(3), "{}")
            .await,
    );

    let events = s.all_events().await;
    assert_eq!(events.len(), accepted.len(), "{events:#?}");
    let mut last_seq = 0;
    for (event, (kind, body)) in events.iter().zip(&accepted) {
        assert_eq!(event["type"], kind.as_str());
        let seq = event["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "seq increases");
        last_seq = seq;
        let data = if kind == "order.placed" {
            &event["data"]["order"]
        } else {
            &event["data"]
        };
        assert_eq!(
            data, body,
            "the event carries the entity as the command answered it"
        );
        assert!(
            event["id"].is_string()
                && event["timestamp"].is_string()
                && event["source"].is_string()
        );
    }
    assert_eq!(
        events[5]["data"]["cart"]["lines"],
        json!([]),
        "checkout empties the cart in the same event"
    );
    assert_eq!(events[5]["partitionKey"], "order:o-77");

    // Paging with after= walks the same log.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .get(&format!("/api/events?after={after}&limit=2"), Some(ADMIN))
            .await
            .json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        let next: i64 = page["nextCursor"].as_str().unwrap().parse().unwrap();
        if items.is_empty() {
            assert_eq!(next, after, "an empty page keeps the cursor");
            break;
        }
        assert_eq!(next, items.last().unwrap()["seq"].as_i64().unwrap());
        paged.extend(items.iter().cloned());
        after = next;
    }
    assert_eq!(paged, events);
    let tail = s
        .get(
            &format!("/api/events?after={}", events[3]["seq"]),
            Some(ADMIN),
        )
        .await
        .json();
    assert_eq!(tail["items"].as_array().unwrap()[..], events[4..]);
    s.stop().await;
}

async fn queries_revalidate_and_paginate(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;

    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = s
            .get(&format!("/api/restaurants?limit=3{cursor}"), None)
            .await;
        assert_eq!(r.status, 200);
        assert!(r.header("cache-control").unwrap().contains("no-cache"));
        let page = r.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert!(ids.len() >= 8, "{ids:?}");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "sorted, no repeats: {ids:?}"
    );
    assert!(ids.contains(&"pho-corner".to_owned()) && ids.contains(&"napoli".to_owned()));

    let pho = s.get("/api/restaurants/pho-corner", None).await;
    let body = pho.json();
    assert_eq!(body["name"], "Pho Corner");
    let menu: Vec<(&str, &str, i64)> = body["menu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["name"].as_str().unwrap(),
                i["priceCents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        menu[..2],
        [("pho-bo", "Phở bò", 1290), ("banh-mi", "Bánh mì", 810)]
    );
    let etag = pho.header("etag").unwrap().to_owned();
    assert_eq!(
        s.get_if_none_match("/api/restaurants/pho-corner", None, &etag)
            .await
            .status,
        304
    );
    s.put(
        "/api/restaurants/pho-corner/menu/banh-mi",
        ADMIN,
        &key(),
        Some(1),
        r#"{"name": "Bánh mì", "priceCents": 850, "available": true}"#,
    )
    .await;
    assert_eq!(
        s.get_if_none_match("/api/restaurants/pho-corner", None, &etag)
            .await
            .status,
        200,
        "a menu change changes the tag"
    );
    s.get("/api/restaurants/nope", None).await.problem(404);

    let empty = s.get("/api/cart", Some(ALICE)).await;
    assert_eq!(
        (empty.header("etag"), empty.json()["version"].clone()),
        (Some("\"0\""), json!(0))
    );
    assert_eq!(empty.header("cache-control"), Some("private, no-cache"));
    // "0" is the version of a cart never written, so If-Match: "0" creates it.
    assert_eq!(
        s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            Some(0),
            r#"{"quantity": 1}"#
        )
        .await
        .status,
        201
    );
    assert_eq!(
        s.get_if_none_match("/api/cart", Some(ALICE), "\"1\"")
            .await
            .status,
        304
    );
    assert_eq!(
        s.get_if_none_match("/api/cart", Some(ALICE), "\"0\"")
            .await
            .status,
        200
    );

    // Orders page newest first.
    let mut version = 1;
    for n in 0..5 {
        let r = s
            .put(
                "/api/cart/items/pho-bo",
                ALICE,
                &key(),
                Some(version),
                r#"{"quantity": 2}"#,
            )
            .await;
        if r.status == 201 || r.status == 200 {
            version = r.json()["version"].as_i64().unwrap();
        }
        let placed = s
            .put(
                &format!("/api/cart/checkout/ord-{n}"),
                ALICE,
                &key(),
                Some(version),
                "{}",
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.text);
        version += 1;
    }
    let first = s.get("/api/orders?limit=2", Some(ALICE)).await.json();
    let ids: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ord-4", "ord-3"]);
    let c = first["nextCursor"].as_str().unwrap();
    let rest = s
        .get(&format!("/api/orders?limit=10&cursor={c}"), Some(ALICE))
        .await
        .json();
    let ids: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ord-2", "ord-1", "ord-0"]);
    assert!(rest.get("nextCursor").is_none());
    let one = s.get("/api/orders/ord-0", Some(ALICE)).await;
    assert_eq!(
        (one.json()["totalCents"].clone(), one.header("etag")),
        (json!(2580), Some("\"1\""))
    );
    s.stop().await;
}

async fn kitchen_delivers_orders_and_resumes_after_restart(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    // A first server takes the order, then stops before the kitchen's first step is due.
    let first = TestServer::start_with(&db, 400).await;
    assert_eq!(
        first
            .put(
                "/api/cart/items/margherita",
                ALICE,
                &key(),
                None,
                r#"{"quantity": 1}"#
            )
            .await
            .status,
        201
    );
    assert_eq!(
        first
            .put("/api/cart/checkout/pizza-1", ALICE, &key(), Some(1), "{}")
            .await
            .status,
        201
    );
    first.stop().await;

    let s = TestServer::start_with(&db, 40).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let order = loop {
        let o = s.get("/api/orders/pizza-1", Some(ALICE)).await.json();
        if o["status"] == "delivered" {
            break o;
        }
        assert!(Instant::now() < deadline, "order stuck at {}", o["status"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(order["version"], 5);
    assert_eq!(order["lastModifiedBy"], "kitchen");
    let events = s.all_events().await;
    let trail: Vec<(String, String, i64)> = events
        .iter()
        .filter(|e| e["partitionKey"] == "order:pizza-1")
        .map(|e| {
            let o = if e["type"] == "order.placed" {
                &e["data"]["order"]
            } else {
                &e["data"]
            };
            (
                e["type"].as_str().unwrap().to_owned(),
                o["status"].as_str().unwrap().to_owned(),
                o["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, i64)> = [
        ("order.placed", "submitted", 1),
        ("order.status-changed", "accepted", 2),
        ("order.status-changed", "preparing", 3),
        ("order.status-changed", "out-for-delivery", 4),
        ("order.status-changed", "delivered", 5),
    ]
    .iter()
    .map(|(t, st, v)| (t.to_string(), st.to_string(), *v))
    .collect();
    assert_eq!(trail, expected);
    // Delivered is final.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(s.all_events().await.len(), events.len());
    s.stop().await;
}

async fn openapi_lists_every_route(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let doc = s.get("/api/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
        {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let served: BTreeSet<String> = [
        "GET /api/restaurants",
        "GET /api/restaurants/{id}",
        "PUT /api/restaurants/{id}/menu/{itemId}",
        "GET /api/cart",
        "PUT /api/cart/items/{itemId}",
        "PUT /api/cart/checkout/{orderId}",
        "POST /api/batch",
        "GET /api/orders",
        "GET /api/orders/{id}",
        "GET /api/events",
        "GET /api/live/poll",
        "GET /api/openapi.json",
        "GET /api/health",
        "GET /api/offline",
        "GET /api/auth/config",
        "POST /api/rum",
        "GET /api/rum/summary",
        "GET /api/push/key",
        "PUT /api/push/subscription",
        "DELETE /api/push/subscription",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, served);
    // These tests' BFF takes development tokens; browsers are told there is nothing to sign in to.
    let auth = s.get("/api/auth/config", None).await;
    assert_eq!(auth.status, 200);
    assert_eq!(auth.json(), json!({"mode": "dev"}));
    // Path parameters declare the id rule the handlers enforce, so clients and fuzzers know it.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
            {
                assert_eq!(
                    p["schema"]["pattern"],
                    tessera_contract::sync::ID_PATTERN,
                    "{path} {}",
                    p["name"]
                );
            }
        }
    }
    // Every documented operation is routed: none answers "no such route" or 405.
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let url = format!("{}{}", s.base, path.replace(['{', '}'], ""));
        let req = match method {
            "GET" => s.http.get(url),
            "POST" => s
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"commands": []}"#),
            _ => s
                .http
                .put(url)
                .header("idempotency-key", key())
                .header("content-type", "application/json")
                .body("{}"),
        };
        let r = s.raw(req.bearer_auth(ADMIN)).await;
        let routed = !(r.status == 405 || (r.status == 404 && r.text.contains("no such route")));
        assert!(
            routed,
            "{op} is documented but not routed: {} {}",
            r.status, r.text
        );
    }
    for schema in [
        "Problem",
        "Cart",
        "Order",
        "MenuItem",
        "DomainEvent",
        "PutCartItem",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    s.stop().await;
}

/// `count` changes of `token`'s cart, each on the version the one before made; the last version.
async fn cart_changes(s: &TestServer, token: &str, count: u32) -> i64 {
    let mut version = 0;
    for n in 0..count {
        let body = format!(r#"{{"quantity": {}}}"#, n % 3 + 1);
        let r = s
            .put(
                "/api/cart/items/pho-bo",
                token,
                &key(),
                Some(version),
                &body,
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
        version = r.json()["version"].as_i64().unwrap();
    }
    version
}

/// The seqs a reader following the log with `after=` sees until `done` and a page comes empty.
async fn tail_log(s: &TestServer, done: &std::sync::atomic::AtomicBool) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = 0i64;
    loop {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
        let page = s
            .get(&format!("/api/events?after={after}&limit=100"), Some(ADMIN))
            .await
            .json();
        for e in page["items"].as_array().unwrap() {
            seen.push(e["seq"].as_i64().unwrap());
        }
        after = page["nextCursor"].as_str().unwrap().parse().unwrap();
        if finished && page["items"].as_array().unwrap().is_empty() {
            return seen;
        }
    }
}

/// Every seq in the log.
async fn seqs(s: &TestServer) -> Vec<i64> {
    s.all_events()
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

async fn tailing_the_log_during_a_burst_skips_nothing(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = async {
        join_all((0..16).map(|c| {
            let s = &s;
            async move {
                let token = format!("dev:tail{c}:customer");
                cart_changes(s, &token, 8).await;
            }
        }))
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    // A reader that follows the log with after= while commits race: if seq order and commit
    // order differed, it would step over an event that committed late.
    let ((), seen) = tokio::join!(writers, tail_log(&s, &done));
    let all = seqs(&s).await;
    assert_eq!(all.len(), 16 * 8);
    assert_eq!(seen, all, "the tailing reader saw every event, in order");
    s.stop().await;
}

async fn the_offline_set_names_what_the_apps_read(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    assert_eq!(s.get("/api/offline", None).await.status, 401);
    let r = s.get("/api/offline", Some(ALICE)).await;
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").unwrap().contains("no-store"));
    let set: Vec<String> = r.json()["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap().to_owned())
        .collect();
    let list = s.get("/api/restaurants", None).await.json();
    assert!(list["nextCursor"].is_null(), "the seed fits one page");
    let mut wanted = vec!["/api/restaurants".to_owned()];
    wanted.extend(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("/api/restaurants/{}", r["id"].as_str().unwrap())),
    );
    wanted.extend(["/api/cart".to_owned(), "/api/orders".to_owned()]);
    assert_eq!(set, wanted, "no open orders yet");
    for q in &set {
        assert_eq!(s.get(q, Some(ALICE)).await.status, 200, "{q}");
    }
    s.stop().await;
}

/// Two BFF processes on one PostgreSQL number each other's queued events: a reader of either
/// sees every event once, in seq order, and a command's event is in the log when it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_number_events_in_order() {
    let db = TestDb::new(common::Kind::Postgres).await;
    let (a, b) = (TestServer::start(&db).await, TestServer::start(&db).await);
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = async {
        join_all((0..12).map(|c| {
            let (here, there) = if c % 2 == 0 { (&a, &b) } else { (&b, &a) };
            async move {
                let token = format!("dev:two{c}:customer");
                let version = cart_changes(here, &token, 6).await;
                // Answered means numbered: the other process's log already holds it.
                let mine = there.events_as(&token).await;
                let last = mine.last().expect("the writer's events are in the log");
                assert_eq!(last["data"]["version"], version, "{last}");
            }
        }))
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let ((), seen) = tokio::join!(writers, tail_log(&a, &done));
    let all = seqs(&b).await;
    assert_eq!(all.len(), 12 * 6);
    assert_eq!(
        seen, all,
        "the tailing reader saw every event once, in order"
    );
    a.stop().await;
    b.stop().await;
}

/// An event whose command committed but whose process died before numbering it is numbered
/// by the next process to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_dead_process_left_queued_are_numbered_at_start() {
    let db = TestDb::new(common::Kind::Postgres).await;
    let s = TestServer::start(&db).await;
    let before = s.all_events().await.len();
    let stopped = s.stop_serving().await;
    {
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO event_queue (id, type, timestamp, partition_key, source, data, owner) \
             VALUES ('left-behind', 'test.left', '2026-12-06T00:00:00Z', 'test:1', 'test', '{}', NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let s = stopped.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = s.all_events().await;
        if events.len() > before || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(events.len(), before + 1, "numbered once: {events:?}");
    assert_eq!(events.last().unwrap()["id"], "left-behind");
    s.stop().await;
}

async fn post_rum(s: &TestServer, token: Option<&str>, body: &Value) -> common::Resp {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/rum", s.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    s.raw(req).await
}

fn rum_report(version: &str, loads: &[f64], failure: Option<(&str, &str)>) -> Value {
    let mut samples =
        vec![json!({"app": "cart", "version": version, "metric": "view", "value": 1})];
    for load in loads {
        samples.push(json!({"app": "cart", "version": version, "metric": "load", "value": load}));
    }
    if let Some((metric, detail)) = failure {
        samples.push(json!({"app": "cart", "version": version, "metric": metric, "value": 1, "detail": detail}));
    }
    let cohort = if version == "v2" { "canary" } else { "" };
    json!({"shell": "shell-1", "cohort": cohort, "samples": samples})
}

async fn monitoring_reports_are_checked_bounded_and_summarised(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start_config(tessera_bff::Config {
        rum_reports_per_minute: 6,
        rum_max_samples: 40,
        ..common::config(&db.url, 3_600_000)
    })
    .await;
    let summary = |token: &'static str| {
        let s = &s;
        async move { s.get("/api/rum/summary?since=0", Some(token)).await }
    };

    // Two versions of one app, side by side; an error counts for its app and version only.
    let r = post_rum(
        &s,
        Some(ALICE),
        &rum_report("v1", &[10.0, 20.0, 30.0], None),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = post_rum(
        &s,
        Some(BOB),
        &rum_report("v2", &[50.5], Some(("error", "boom"))),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(summary(ALICE).await.status, 403);
    assert_eq!(
        post_rum(&s, None, &rum_report("v1", &[1.0], None))
            .await
            .status,
        401
    );
    let apps = summary(ADMIN).await.json()["apps"].clone();
    assert_eq!(apps.as_array().unwrap().len(), 2, "{apps}");
    assert_eq!(
        (
            apps[0]["version"].clone(),
            apps[0]["views"].clone(),
            apps[0]["failureRate"].clone()
        ),
        (json!("v1"), json!(1), json!(0.0))
    );
    let load = apps[0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "load")
        .unwrap();
    assert_eq!(
        (
            load["count"].clone(),
            load["p50"].clone(),
            load["p99"].clone()
        ),
        (json!(3), json!(20.0), json!(30.0))
    );
    assert_eq!(apps[1]["cohorts"], json!(["canary"]));
    assert_eq!(
        (apps[1]["failures"].clone(), apps[1]["failureRate"].clone()),
        (json!(1), json!(1.0))
    );
    assert_eq!(
        apps[1]["topErrors"],
        json!([{"detail": "boom", "count": 1}])
    );

    // Bad reports name what is wrong and store nothing.
    let mut bad = rum_report("v1", &[-5.0], None);
    bad["samples"][0]["app"] = json!("<script>");
    let r = post_rum(&s, Some(ALICE), &bad).await;
    assert_eq!(
        error_targets(&r.problem(422)),
        ["pointer:/samples/0/app", "pointer:/samples/1/value"]
    );
    let mut unknown = rum_report("v1", &[1.0], None);
    unknown["samples"][1]["metric"] = json!("fps");
    let r = post_rum(&s, Some(ALICE), &unknown).await;
    assert!(r.problem(422).to_string().contains("fps"), "{}", r.text);
    let many: Vec<Value> = (0..201)
        .map(|_| json!({"app": "cart", "version": "v1", "metric": "view", "value": 1}))
        .collect();
    let r = post_rum(&s, Some(ALICE), &json!({"shell": "s", "samples": many})).await;
    assert_eq!(error_targets(&r.problem(422)), ["pointer:/samples"]);
    let apps_after = summary(ADMIN).await.json()["apps"].clone();
    assert_eq!(apps_after, apps, "refused reports stored nothing");

    // Each caller may send a few a minute; the store keeps the newest samples only.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = post_rum(&s, Some(ALICE), &rum_report("v3", &[1.0; 9], None)).await;
        if r.status == 429 {
            assert!(r.header("retry-after").is_some(), "{}", r.text);
        }
        statuses.push(r.status);
    }
    // Alice's first report counted; refused ones (422) do not.
    assert_eq!(statuses, [204, 204, 204, 204, 204, 429], "{statuses:?}");
    let r = post_rum(&s, Some(BOB), &rum_report("v3", &[1.0; 60], None)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // The trim runs at most once a minute; a fresh server trims on its first report.
    let stopped = s.stop_serving().await;
    let s = stopped.restart().await;
    let r = post_rum(&s, Some(BOB), &rum_report("v4", &[2.0], None)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let apps = s.get("/api/rum/summary?since=0", Some(ADMIN)).await.json()["apps"].clone();
    let kept: u64 = apps
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["metrics"].as_array().unwrap().iter())
        .map(|m| m["count"].as_u64().unwrap())
        .sum();
    assert_eq!(kept, 40, "bounded to the newest 40 samples: {apps}");
    assert_eq!(apps.as_array().unwrap().last().unwrap()["version"], "v4");
    s.stop().await;
}
