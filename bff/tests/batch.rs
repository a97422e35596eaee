//! `POST /api/batch` against SQLite and PostgreSQL: many commands in one transaction, each
//! answered as it would be alone; chained versions, partial success, exactly-once replays
//! (whole batches, single commands, keys repeated inside a batch), concurrency and limits.

mod common;

use common::{error_targets, key, Resp, TestServer, ADMIN, ALICE, BOB};
use futures::future::join_all;
use serde_json::{json, Value};

on_both_databases!(
    a_batch_applies_every_command_and_chains_versions,
    a_conflict_undoes_only_its_own_command,
    a_mixed_batch_answers_each_command_as_alone,
    replays_apply_nothing_twice,
    the_same_batch_sent_concurrently_applies_once,
    limits_and_malformed_batches_are_problems,
);

async fn batch(s: &TestServer, token: Option<&str>, body: &Value) -> Resp {
    let mut req = s
        .http
        .post(format!("{}/api/batch", s.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    s.raw(req).await
}

/// The results of a 200 batch answer.
fn results_of(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()["results"].as_array().unwrap().clone()
}

fn statuses(results: &[Value]) -> Vec<u64> {
    results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

fn cart_item(item: &str, quantity: u32, if_match: Option<i64>, key: &str) -> Value {
    let mut c = json!({
        "method": "PUT",
        "path": format!("/api/cart/items/{item}"),
        "idempotencyKey": key,
        "body": {"quantity": quantity},
    });
    if let Some(v) = if_match {
        c["ifMatch"] = json!(format!("\"{v}\""));
    }
    c
}

async fn a_batch_applies_every_command_and_chains_versions(kind: common::Kind) {
    let db = common::TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let items = ["pho-bo", "banh-mi", "goi-cuon", "pho-bo", "banh-mi"];
    let mut commands: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            // A fresh cart needs no If-Match; then each names the version the previous made.
            let if_match = (n > 0).then_some(n as i64);
            cart_item(item, n as u32 + 1, if_match, &key())
        })
        .collect();
    commands.push(json!({
        "method": "PUT", "path": "/api/cart/checkout/batch-order-1",
        "idempotencyKey": key(), "ifMatch": "\"5\"", "body": {},
    }));
    let r = batch(&s, Some(ALICE), &json!({ "commands": commands })).await;
    let results = results_of(&r);
    assert_eq!(
        statuses(&results),
        [201, 200, 200, 200, 200, 201],
        "{}",
        r.text
    );
    for (n, result) in results[..5].iter().enumerate() {
        let version = n as i64 + 1;
        assert_eq!(result["body"]["version"], version, "{result}");
        assert_eq!(result["etag"], format!("\"{version}\""));
        assert_eq!(result["replayed"], false);
    }
    assert_eq!(
        results[5]["etag"], "\"6\"",
        "checkout's ETag: the emptied cart's version"
    );
    // Lines as the chain left them: pho-bo 4, banh-mi 5, goi-cuon 3, then ordered.
    let order = &results[5]["body"];
    let quantities: Vec<(String, u64)> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["itemId"].as_str().unwrap().to_owned(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        quantities,
        [
            ("pho-bo".to_owned(), 4),
            ("banh-mi".to_owned(), 5),
            ("goi-cuon".to_owned(), 3)
        ]
    );
    let cart = s.get("/api/cart", Some(ALICE)).await.json();
    assert_eq!(cart["version"], 6);
    assert_eq!(cart["lines"], json!([]));
    let order_now = s.get("/api/orders/batch-order-1", Some(ALICE)).await;
    assert_eq!(order_now.json(), *order);

    // One event per command, in command order, exactly as single commands emit them.
    let events = s.all_events().await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [["cart.updated"; 5].as_slice(), &["order.placed"]].concat()
    );
    for (n, e) in events[..5].iter().enumerate() {
        assert_eq!(e["data"], results[n]["body"]);
        assert_eq!(e["partitionKey"], "cart:alice");
    }
    assert_eq!(events[5]["data"]["order"], *order);
    assert_eq!(events[5]["data"]["cart"]["version"], 6);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Bob saw none of it.
    assert!(s.events_as(BOB).await.is_empty());
    s.stop().await;
}

async fn a_conflict_undoes_only_its_own_command(kind: common::Kind) {
    let db = common::TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let first = s
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            None,
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);

    let stale_key = key();
    let r = batch(
        &s,
        Some(ALICE),
        &json!({"commands": [
            cart_item("banh-mi", 2, Some(1), &key()),
            // Stale: the command before moved the cart to 2.
            cart_item("goi-cuon", 3, Some(1), &stale_key),
            cart_item("goi-cuon", 4, Some(2), &key()),
            // Update without If-Match: 428, as alone.
            cart_item("pho-bo", 5, None, &key()),
        ]}),
    )
    .await;
    let results = results_of(&r);
    assert_eq!(statuses(&results), [200, 412, 200, 428], "{}", r.text);
    let stale = &results[1];
    assert_eq!(stale["body"]["status"], 412);
    assert_eq!(stale["body"]["type"], "/problems/stale-version");
    assert_eq!(
        stale["body"]["current"], results[0]["body"],
        "412 carries the cart as it is then"
    );
    assert_eq!(stale["etag"], "\"2\"");
    assert_eq!(error_targets(&results[3]["body"]), ["header:If-Match"]);

    let cart = s.get("/api/cart", Some(ALICE)).await.json();
    assert_eq!(cart, results[2]["body"]);
    assert_eq!(cart["version"], 3);
    let lines: Vec<(&str, u64)> = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["itemId"].as_str().unwrap(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [("pho-bo", 1), ("banh-mi", 2), ("goi-cuon", 4)]);
    assert_eq!(
        s.all_events().await.len(),
        3,
        "the single command and two of the batch"
    );

    // A refused command stored no key: its retry, fixed, applies.
    let retry = cart_item("goi-cuon", 3, Some(3), &stale_key);
    let again = batch(&s, Some(ALICE), &json!({ "commands": [retry] })).await;
    assert_eq!(statuses(&results_of(&again)), [200]);
    assert_eq!(s.all_events().await.len(), 4);

    // Menu items chain too: create, update at 1, a stale update at 1, update at 2.
    let menu = |if_match: Option<&str>, price: i64| {
        let mut c = json!({"method": "PUT", "path": "/api/restaurants/pho-corner/menu/bun-cha",
            "idempotencyKey": key(), "body": {"name": "Bún chả", "priceCents": price, "available": true}});
        if let Some(v) = if_match {
            c["ifMatch"] = json!(v);
        }
        c
    };
    let r = batch(
        &s,
        Some(ADMIN),
        &json!({"commands": [menu(None, 1100), menu(Some("\"1\""), 1150),
            menu(Some("\"1\""), 1) , menu(Some("\"2\""), 1200)]}),
    )
    .await;
    let results = results_of(&r);
    assert_eq!(statuses(&results), [201, 200, 412, 200], "{}", r.text);
    assert_eq!(results[2]["body"]["current"], results[1]["body"]);
    assert_eq!(results[3]["body"]["version"], 3);
    assert_eq!(results[3]["body"]["priceCents"], 1200);
    let events = s.all_events().await;
    assert_eq!(events.len(), 7);
    assert!(events[4..].iter().all(|e| e["type"] == "menu.item-updated"));
    s.stop().await;
}

async fn a_mixed_batch_answers_each_command_as_alone(kind: common::Kind) {
    let db = common::TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let menu = "/api/restaurants/pho-corner/menu/pho-bo";
    // Alice has pho-bo at 1290 in her cart; the admin reprices it.
    let added = s
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            &key(),
            None,
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    let repriced = batch(
        &s,
        Some(ADMIN),
        &json!({"commands": [{
            "method": "PUT", "path": menu, "idempotencyKey": key(), "ifMatch": "\"1\"",
            "body": {"name": "Phở bò", "priceCents": 1350, "available": true},
        }]}),
    )
    .await;
    let repriced = results_of(&repriced);
    assert_eq!(statuses(&repriced), [200], "{repriced:?}");
    assert_eq!(repriced[0]["body"]["priceCents"], 1350);

    let checkout_key = key();
    let r = batch(
        &s,
        Some(ALICE),
        &json!({"commands": [
            cart_item("banh-mi", 1, Some(1), &key()),
            {"method": "PUT", "path": "/api/cart/nope/x", "idempotencyKey": key()},
            {"method": "GET", "path": "/api/cart/items/pho-bo", "idempotencyKey": key()},
            {"method": "PUT", "path": "/api/cart/items/pho-bo?x=1", "idempotencyKey": key()},
            {"method": "PUT", "path": menu, "idempotencyKey": key(), "ifMatch": "\"2\"",
             "body": {"name": "x", "priceCents": 1, "available": true}},
            cart_item("pho-bo", 100, Some(2), &key()),
            cart_item("no-such-item", 1, Some(2), &key()),
            {"method": "PUT", "path": "/api/cart/items/goi-cuon", "idempotencyKey": "",
             "body": {"quantity": 1}},
            {"method": "PUT", "path": "/api/cart/items/goi-cuon", "idempotencyKey": key(),
             "ifMatch": "three", "body": {"quantity": 1}},
            {"method": "PUT", "path": "/api/cart/items/goi-cuon", "idempotencyKey": key(),
             "ifMatch": "\"2\"", "body": {"quantity": 1, "unitPriceCents": 1}},
            // The price changed since pho-bo was added: 409 cart-changed, and the cart is
            // refreshed (version 3) in the batch's transaction...
            {"method": "PUT", "path": "/api/cart/checkout/mixed-1", "idempotencyKey": checkout_key,
             "ifMatch": "\"2\"", "body": {}},
            // ... so the same checkout again, at the refreshed version, goes through.
            {"method": "PUT", "path": "/api/cart/checkout/mixed-1", "idempotencyKey": checkout_key,
             "ifMatch": "\"3\"", "body": {}},
        ]}),
    )
    .await;
    let results = results_of(&r);
    assert_eq!(
        statuses(&results),
        [200, 404, 405, 404, 403, 422, 404, 400, 400, 422, 409, 201],
        "{}",
        r.text
    );
    for result in &results[1..11] {
        let problem = &result["body"];
        assert_eq!(problem["status"], result["status"], "{problem}");
        assert!(problem["type"].as_str().unwrap().starts_with("/problems/"));
    }
    assert_eq!(error_targets(&results[1]["body"]), ["pointer:/path"]);
    assert_eq!(error_targets(&results[2]["body"]), ["pointer:/method"]);
    assert_eq!(error_targets(&results[5]["body"]), ["pointer:/quantity"]);
    assert_eq!(error_targets(&results[6]["body"]), ["parameter:itemId"]);
    assert_eq!(
        error_targets(&results[7]["body"]),
        ["header:Idempotency-Key"]
    );
    assert_eq!(error_targets(&results[8]["body"]), ["header:If-Match"]);
    assert_eq!(
        error_targets(&results[9]["body"]),
        ["pointer:/unitPriceCents"]
    );
    let changed = &results[10]["body"];
    assert_eq!(changed["type"], "/problems/cart-changed", "{changed}");
    assert_eq!(changed["changes"][0]["newPriceCents"], 1350);
    assert_eq!(changed["current"]["version"], 3);
    assert_eq!(results[10]["etag"], "\"3\"");
    let order = &results[11]["body"];
    assert_eq!(order["totalCents"], 2 * 1350 + 810, "{order}");

    // Applied: the cart line, the refresh, the order (plus the three before the batch).
    let events = s.all_events().await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "cart.updated",
            "menu.item-updated",
            "cart.updated",
            "cart.updated",
            "order.placed"
        ]
    );
    assert_eq!(s.get("/api/cart", Some(ALICE)).await.json()["version"], 4);
    let item = s.get("/api/restaurants/pho-corner", None).await.json()["menu"][0].clone();
    assert_eq!(
        item["priceCents"], 1350,
        "the customer's menu edit changed nothing"
    );

    // A batch in which nothing could apply still answers each command.
    let none = batch(
        &s,
        Some(ALICE),
        &json!({"commands": [{"method": "DELETE", "path": "/api/orders", "idempotencyKey": key()}]}),
    )
    .await;
    assert_eq!(statuses(&results_of(&none)), [404]);
    s.stop().await;
}

async fn replays_apply_nothing_twice(kind: common::Kind) {
    let db = common::TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let (k1, k2, k3) = (key(), key(), key());
    // A key recorded by a single command first.
    let single = s
        .put(
            "/api/cart/items/pho-bo",
            ALICE,
            &k1,
            None,
            r#"{"quantity": 1}"#,
        )
        .await;
    assert_eq!(single.status, 201, "{}", single.text);
    let body = json!({"commands": [
        cart_item("pho-bo", 1, None, &k1),
        cart_item("banh-mi", 2, Some(1), &k2),
        // The same key twice in one batch: the first result, replayed.
        cart_item("banh-mi", 2, Some(1), &k2),
        // ... and with another body, the key is refused (422) as alone.
        cart_item("banh-mi", 3, Some(2), &k2),
        {"method": "PUT", "path": "/api/cart/checkout/replayed-1", "idempotencyKey": k3,
         "ifMatch": "\"2\""},
    ]});
    let first = batch(&s, Some(ALICE), &body).await;
    let first = results_of(&first);
    assert_eq!(statuses(&first), [201, 200, 200, 422, 201], "{first:?}");
    let replayed: Vec<bool> = first
        .iter()
        .map(|r| r["replayed"].as_bool().unwrap())
        .collect();
    assert_eq!(replayed, [true, false, true, false, false]);
    assert_eq!(first[0]["body"], single.json());
    assert_eq!(first[2]["body"], first[1]["body"]);
    assert_eq!(error_targets(&first[3]["body"]), ["header:Idempotency-Key"]);
    let events = s.all_events().await.len();
    assert_eq!(events, 3);

    // The whole batch again: every answer as recorded, nothing applied.
    let again = batch(&s, Some(ALICE), &body).await;
    let again = results_of(&again);
    assert_eq!(statuses(&again), statuses(&first));
    for (a, f) in again.iter().zip(&first) {
        assert_eq!(a["body"], f["body"]);
        assert_eq!(a["etag"], f["etag"]);
    }
    assert!(again
        .iter()
        .enumerate()
        .all(|(n, r)| n == 3 || r["replayed"] == true));
    assert_eq!(s.all_events().await.len(), events);

    // One of its commands singly: the recorded answer, byte for byte as JSON.
    let one = s
        .put(
            "/api/cart/items/banh-mi",
            ALICE,
            &k2,
            Some(1),
            r#"{"quantity": 2}"#,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.header("idempotent-replayed"), Some("true"));
    assert_eq!(one.json(), first[1]["body"]);
    assert_eq!(one.header("etag"), Some("\"2\""));
    let order = s
        .put("/api/cart/checkout/replayed-1", ALICE, &k3, Some(2), "{}")
        .await;
    assert_eq!(
        (order.status, order.json()),
        (201, first[4]["body"].clone())
    );
    // Another caller's keys are invisible: Bob's batch with Alice's key is his own command.
    let bob = batch(
        &s,
        Some(BOB),
        &json!({"commands": [cart_item("pho-bo", 1, None, &k1)]}),
    )
    .await;
    let bob = results_of(&bob);
    assert_eq!(
        (bob[0]["status"].as_u64(), bob[0]["replayed"].as_bool()),
        (Some(201), Some(false))
    );
    assert_eq!(s.all_events().await.len(), events + 1);
    s.stop().await;
}

async fn the_same_batch_sent_concurrently_applies_once(kind: common::Kind) {
    let db = common::TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let n = 8;
    let commands: Vec<Value> = (0..n)
        .map(|i| {
            cart_item(
                ["pho-bo", "banh-mi"][i % 2],
                i as u32 + 1,
                (i > 0).then_some(i as i64),
                &key(),
            )
        })
        .collect();
    let body = json!({ "commands": commands });
    // Four copies of the batch, and its first command twice alone, all at once.
    let first_key = commands[0]["idempotencyKey"].as_str().unwrap();
    let (answers, singles) = tokio::join!(
        join_all((0..4).map(|_| batch(&s, Some(ALICE), &body))),
        join_all((0..2).map(|_| s.put(
            "/api/cart/items/pho-bo",
            ALICE,
            first_key,
            None,
            r#"{"quantity": 1}"#
        )))
    );
    let all: Vec<Vec<Value>> = answers.iter().map(results_of).collect();
    for single in &singles {
        assert_eq!(single.status, 201, "{}", single.text);
        assert_eq!(single.json(), all[0][0]["body"]);
    }
    let singles_fresh = singles
        .iter()
        .filter(|r| r.header("idempotent-replayed").is_none())
        .count();
    for results in &all {
        assert_eq!(statuses(results), statuses(&all[0]), "{results:?}");
        for (r, f) in results.iter().zip(&all[0]) {
            assert_eq!(r["body"], f["body"]);
        }
    }
    assert_eq!(statuses(&all[0])[0], 201);
    assert!(statuses(&all[0])[1..].iter().all(|s| *s == 200));
    // Each command was applied by exactly one of the requests.
    for i in 0..n {
        let mut fresh = all.iter().filter(|r| r[i]["replayed"] == false).count();
        if i == 0 {
            fresh += singles_fresh;
        }
        assert_eq!(fresh, 1, "command {i}: {all:?}");
    }
    assert_eq!(s.all_events().await.len(), n);
    assert_eq!(
        s.get("/api/cart", Some(ALICE)).await.json()["version"],
        n as i64
    );
    s.stop().await;
}

async fn limits_and_malformed_batches_are_problems(kind: common::Kind) {
    let db = common::TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let too_many: Vec<Value> = (0..101)
        .map(|_| cart_item("pho-bo", 1, None, &key()))
        .collect();
    let r = batch(&s, Some(ALICE), &json!({ "commands": too_many })).await;
    let p = r.problem(422);
    assert_eq!(error_targets(&p), ["pointer:/commands"]);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("100") && detail.contains("101"), "{detail}");

    let hundred: Vec<Value> = (0..100)
        .map(|i| cart_item("pho-bo", i % 9 + 1, (i > 0).then_some(i as i64), &key()))
        .collect();
    let r = batch(&s, Some(ALICE), &json!({ "commands": hundred })).await;
    assert!(statuses(&results_of(&r))
        .iter()
        .all(|s| *s == 200 || *s == 201));
    assert_eq!(s.all_events().await.len(), 100);

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not JSON", r#"{"commands": ["#.into(), 400, "pointer:"),
        ("not an object", "[]".into(), 422, "pointer:"),
        ("no commands", "{}".into(), 422, "pointer:/commands"),
        (
            "commands not a list",
            r#"{"commands": {}}"#.into(),
            422,
            "pointer:/commands",
        ),
        (
            "a command without a path",
            json!({"commands": [{"method": "PUT", "idempotencyKey": "k"}]}).to_string(),
            422,
            "pointer:/commands/0/path",
        ),
        (
            "a body that is not an object",
            json!({"commands": [cart_item("pho-bo", 1, None, "a"), {"method": "PUT",
                "path": "/api/cart/items/pho-bo", "idempotencyKey": "k", "body": [1]}]})
            .to_string(),
            422,
            "pointer:/commands/1/body",
        ),
        (
            "an unknown member",
            json!({"commands": [{"method": "PUT", "path": "/api/cart/items/pho-bo",
                "idempotencyKey": "k", "headers": {}}]})
            .to_string(),
            422,
            "pointer:/commands/0/headers",
        ),
    ];
    for (what, body, status, target) in cases {
        let r = s
            .raw(
                s.http
                    .post(format!("{}/api/batch", s.base))
                    .bearer_auth(ALICE)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        let p = r.problem(status);
        assert_eq!(error_targets(&p), [target], "{what}: {p}");
    }
    // Over the body limit every request has.
    let padding = "x".repeat(70 * 1024);
    let r = batch(
        &s,
        Some(ALICE),
        &json!({"commands": [{"method": "PUT", "path": "/api/cart/items/pho-bo",
            "idempotencyKey": key(), "body": {"quantity": 1, "note": padding}}]}),
    )
    .await;
    r.problem(413);
    // No token, wrong method, empty batch.
    batch(&s, None, &json!({"commands": []})).await.problem(401);
    s.get("/api/batch", Some(ALICE)).await.problem(405);
    let empty = batch(&s, Some(ALICE), &json!({"commands": []})).await;
    assert!(results_of(&empty).is_empty());
    assert_eq!(
        s.all_events().await.len(),
        100,
        "none of it applied anything"
    );

    let doc = s.get("/api/openapi.json", None).await.json();
    let op = &doc["paths"]["/api/batch"]["post"];
    assert!(op.is_object(), "the batch is documented");
    assert!(doc["components"]["schemas"]["BatchRequest"].is_object());
    assert!(doc["components"]["schemas"]["BatchResult"].is_object());
    s.stop().await;
}
