//! Web Push's sending path on SQLite and PostgreSQL, against a push service in the test that
//! records what reaches it: each step of an order reaches each opted-in browser exactly once,
//! also with two BFF processes on one PostgreSQL sending side by side, and a restart keeps the
//! server's VAPID key. (`tests/e2e/push.test.mjs` checks the signatures and decrypts the
//! payloads with an implementation of its own.)

mod common;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use common::{key, TestDb, TestServer};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_databases!(each_step_reaches_each_browser_once);

/// What reached the stand-in: `(browser, headers)`.
type Received = Arc<Mutex<Vec<(String, HeaderMap)>>>;

async fn push_service() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/push/{browser}",
            axum::routing::post(
                |State(r): State<Received>, Path(browser): Path<String>, headers: HeaderMap| async move {
                    r.lock().unwrap().push((browser, headers));
                    StatusCode::CREATED
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (host, received)
}

/// A browser-shaped subscription: a real P-256 point and a 16-byte secret.
fn subscription(host: &str, browser: &str) -> String {
    json!({
        "endpoint": format!("http://{host}/push/{browser}"),
        "expirationTime": null,
        "keys": {
            // The P-256 generator point, uncompressed.
            "p256dh": "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU",
            "auth": "AAECAwQFBgcICQoLDA0ODw",
        }
    })
    .to_string()
}

async fn queued(s: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM push_queue")
        .fetch_one(s.state.db.reader())
        .await
        .unwrap()
}

async fn each_step_reaches_each_browser_once(kind: common::Kind) {
    let db = TestDb::new(kind).await;
    let (host, received) = push_service().await;
    let config = tessera_bff::Config {
        push_hosts: vec![host.clone()],
        ..common::config(&db.url, 100)
    };
    let first = TestServer::start_config(config.clone()).await;
    // Two processes on one database send side by side (SQLite has one process).
    let second = match kind {
        common::Kind::Postgres => Some(TestServer::start_config(config).await),
        common::Kind::Sqlite => None,
    };
    let public_key = first.get("/api/push/key", None).await.json()["publicKey"].clone();
    if let Some(s) = &second {
        assert_eq!(
            s.get("/api/push/key", None).await.json()["publicKey"],
            public_key,
            "every process on the database signs with the key it keeps"
        );
    }
    let pat = "dev:pat:customer";
    for browser in ["phone", "laptop"] {
        let r = first
            .raw(
                first
                    .http
                    .put(format!("{}/api/push/subscription", first.base))
                    .bearer_auth(pat)
                    .header("content-type", "application/json")
                    .body(subscription(&host, browser)),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let orders = 3;
    for n in 0..orders {
        let cart = first.get("/api/cart", Some(pat)).await.json();
        let version = cart["version"].as_i64().unwrap();
        let put = first
            .put(
                "/api/cart/items/pho-bo",
                pat,
                &key(),
                Some(version),
                r#"{"quantity":1}"#,
            )
            .await;
        assert!([200, 201].contains(&put.status), "{}", put.text);
        let placed = first
            .put(
                &format!("/api/cart/checkout/o-{n}"),
                pat,
                &key(),
                None,
                "{}",
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.text);
    }
    // Four steps (accepted to delivered) of each order, to each browser.
    let expected = 4 * orders * 2;
    for _ in 0..300 {
        if received.lock().unwrap().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whatever else was on its way has arrived too.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), expected, "each notification once");
    for browser in ["phone", "laptop"] {
        assert_eq!(got.iter().filter(|(b, _)| b == browser).count(), 4 * orders);
    }
    for (_, headers) in &got {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        assert_eq!(header("content-encoding"), "aes128gcm");
        assert!(
            header("authorization").starts_with("vapid t="),
            "{headers:?}"
        );
        let ttl: i64 = header("ttl").parse().unwrap();
        assert!((1..=3600).contains(&ttl), "{ttl}");
    }
    assert_eq!(
        queued(&first).await,
        0,
        "every sent notification left the queue"
    );

    // Two senders claiming at the same moment never take the same notification.
    if let Some(s) = &second {
        let news = 200;
        for n in 0..news {
            sqlx::query(
                "INSERT INTO push_queue (endpoint, payload, queued_ms) VALUES ($1, $2, $3)",
            )
            .bind(format!("http://{host}/push/phone"))
            .bind(format!(
                r#"{{"title":"n{n}","body":"","url":"/","tag":"t"}}"#
            ))
            .bind(
                i64::try_from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis(),
                )
                .unwrap(),
            )
            .execute(first.state.db.reader())
            .await
            .unwrap();
        }
        // Both processes' own senders claim too: the queue is empty once every row was
        // delivered and settled.
        for _ in 0..400 {
            let (a, b) = tokio::join!(
                tessera_bff::push::sender::send_due(&first.state),
                tessera_bff::push::sender::send_due(&s.state)
            );
            let claimed = a.unwrap() + b.unwrap();
            if claimed == 0 && queued(&first).await == 0 {
                break;
            }
            if claimed == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert_eq!(
            received.lock().unwrap().len(),
            expected + news,
            "each sent once"
        );
    }

    // A restart signs with the same key: browsers' subscriptions stay valid.
    if let Some(s) = second {
        s.stop().await;
    }
    let restarted = first.stop_serving().await.restart().await;
    assert_eq!(
        restarted.get("/api/push/key", None).await.json()["publicKey"],
        public_key
    );
    restarted.stop().await;
}
