//! Live updates against SQLite and PostgreSQL: the WebSocket's replay-then-live seam, topic and
//! viewer filtering, the long-poll twin, heartbeats, bad hellos, a restart mid-stream, and
//! several BFF instances sharing a database (PostgreSQL `LISTEN/NOTIFY`, or NATS).

mod common;

use common::live::{burst, seqs, Live, LiveClient};
use common::{config, Kind, TestDb, TestServer, ADMIN, ALICE, BOB};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

on_both_databases!(
    replay_then_live_has_no_gap_and_no_duplicate,
    long_poll_delivers_the_same_sequence,
    a_restart_mid_stream_loses_and_repeats_nothing,
);

async fn replay_then_live_has_no_gap_and_no_duplicate(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    burst(&s, 9).await;

    // Connect while a burst is committing: the seam between replay and live falls inside it.
    let writer = {
        let s2 = TestServer::attach(&s);
        tokio::spawn(async move { burst(&s2, 30).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut alice = LiveClient::connect(&s.base, ALICE, 0, &[]).await;
    assert_eq!(alice.next(WAIT).await, Live::Ready(0));
    let newest = writer.await.unwrap();
    let expected = s.events_as(ALICE).await;
    let got = alice.events_until(last_seq(&expected), WAIT).await;
    assert_eq!(seqs(&got), seqs(&expected), "Alice gets exactly her log");
    assert_eq!(got, expected, "events are sent as the log has them");
    assert!(
        got.iter()
            .all(|e| e["partitionKey"] != "cart:bob" && e["partitionKey"] != "cart:ada"),
        "never someone else's cart"
    );

    // Resuming from the middle gives exactly the rest.
    let middle = seqs(&expected)[expected.len() / 2];
    let mut again = LiveClient::connect(&s.base, ALICE, middle, &[]).await;
    let rest = again.events_until(last_seq(&expected), WAIT).await;
    let tail: Vec<i64> = seqs(&expected)
        .into_iter()
        .filter(|&q| q > middle)
        .collect();
    assert_eq!(seqs(&rest), tail);

    // Topics: only Alice's cart, from the start; then one live change arrives alone.
    let mut carts = LiveClient::connect(&s.base, ALICE, 0, &["cart"]).await;
    let alice_carts: Vec<Value> = expected
        .iter()
        .filter(|e| e["partitionKey"] == "cart:alice")
        .cloned()
        .collect();
    let only_cart = carts.events_until(last_seq(&alice_carts), WAIT).await;
    assert_eq!(only_cart, alice_carts);
    // A hello without a cursor starts from now: nothing of the past.
    let mut from_now = LiveClient::connect_raw(
        &s.base,
        Message::text(r#"{"type":"hello","token":"dev:alice:customer"}"#),
    )
    .await;
    assert_eq!(from_now.next(WAIT).await, Live::Ready(newest));
    assert_eq!(from_now.next(WAIT).await, Live::CaughtUp(newest));
    let admin_sees_all = s.all_events().await;
    let mut admin = LiveClient::connect(&s.base, ADMIN, 0, &[]).await;
    assert_eq!(
        seqs(&admin.events_until(newest, WAIT).await),
        seqs(&admin_sees_all)
    );

    let started = Instant::now();
    let newer = burst(&s, 2).await; // a menu item (public), then Alice's cart
    let live = carts.events_until(newer, WAIT).await;
    assert_eq!(seqs(&live), [newer]);
    assert_eq!(
        seqs(&from_now.events_until(newer, WAIT).await),
        [newer - 1, newer]
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    s.stop().await;
}

async fn long_poll_delivers_the_same_sequence(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let writer = {
        let s2 = TestServer::attach(&s);
        tokio::spawn(async move { burst(&s2, 24).await })
    };
    let mut got: Vec<Value> = Vec::new();
    let mut cursor = 0;
    let newest = loop {
        let answer = s
            .get(
                &format!("/api/live/poll?after={cursor}&wait=500&limit=7"),
                Some(ALICE),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let answer = answer.json();
        got.extend(answer["events"].as_array().unwrap().iter().cloned());
        cursor = answer["cursor"].as_i64().unwrap();
        if writer.is_finished() {
            let newest = tessera_bff::events::newest_seq(&s.state.db).await.unwrap();
            if cursor >= newest {
                break newest;
            }
        }
    };
    assert_eq!(
        cursor, newest,
        "the cursor moves past events Alice does not get"
    );
    let expected = s.events_as(ALICE).await;
    assert_eq!(got, expected);

    // A waiting poll answers as soon as an event commits, not at the end of its wait.
    let waiting = {
        let s2 = TestServer::attach(&s);
        tokio::spawn(async move {
            let started = Instant::now();
            let r = s2
                .get(
                    &format!("/api/live/poll?after={cursor}&wait=20000&topics=menu-item"),
                    Some(BOB),
                )
                .await;
            (r.json(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let committed = Instant::now();
    let seq = burst(&s, 1).await;
    let (answer, waited) = waiting.await.unwrap();
    assert_eq!(seqs(answer["events"].as_array().unwrap()), [seq]);
    assert!(
        waited >= Duration::from_millis(300),
        "it waited: {waited:?}"
    );
    assert!(
        committed.elapsed() < Duration::from_secs(2),
        "answered {:?} after the commit",
        committed.elapsed()
    );

    // Nothing new: an empty answer after the wait, with the same cursor.
    let started = Instant::now();
    let idle = s
        .get(&format!("/api/live/poll?after={seq}&wait=300"), Some(ALICE))
        .await
        .json();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(idle["events"], serde_json::json!([]));
    assert_eq!(idle["cursor"], seq);

    // Bad parameters name themselves; no token is a 401.
    let bad = s
        .get(
            "/api/live/poll?after=-1&wait=99999&topics=Bad&limit=0",
            Some(ALICE),
        )
        .await;
    let problem = bad.problem(400);
    let mut targets = common::error_targets(&problem);
    targets.sort();
    assert_eq!(
        targets,
        [
            "parameter:after",
            "parameter:limit",
            "parameter:topics",
            "parameter:wait"
        ]
    );
    s.get("/api/live/poll", None).await.problem(401);
    // Without a cursor: none of the past, and the cursor of now.
    let now = s.get("/api/live/poll?wait=5000", Some(ALICE)).await.json();
    assert_eq!(now["events"], serde_json::json!([]));
    assert_eq!(now["cursor"], seq);
    s.stop().await;
}

async fn a_restart_mid_stream_loses_and_repeats_nothing(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = TestServer::start(&db).await;
    let mut client = LiveClient::connect(&s.base, ALICE, 0, &[]).await;
    burst(&s, 12).await;
    let mut got = client
        .events_until(last_seq(&s.events_as(ALICE).await), WAIT)
        .await;
    let writer = {
        let s2 = TestServer::attach(&s);
        tokio::spawn(async move { burst(&s2, 12).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Stop the server mid-burst: open sockets are told where to resume.
    let stopped = s.stop_serving().await;
    let _ = writer.await; // some commands fail against the stopped server: fine
    let resume = loop {
        match client.next(WAIT).await {
            Live::Event(e) => got.push(e),
            Live::Heartbeat(_) | Live::CaughtUp(_) | Live::Ready(_) => {}
            Live::Closed(code, reason) => {
                assert_eq!(code, 1001, "{reason}");
                let r: Value = serde_json::from_str(&reason).unwrap();
                break r["resume"].as_i64().unwrap();
            }
        }
    };
    let held = seqs(&got).last().copied().unwrap_or(0);
    assert!(resume >= held);
    let s = stopped.restart().await;
    let mut client = LiveClient::connect(&s.base, ALICE, resume, &[]).await;
    let newest = burst(&s, 6).await;
    got.extend(
        client
            .events_until(last_seq(&s.events_as(ALICE).await), WAIT)
            .await,
    );
    assert!(newest > resume);
    assert_eq!(seqs(&got), seqs(&s.events_as(ALICE).await));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_hello_is_closed_with_the_reason() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = TestServer::start(&db).await;
    let cases: [(Message, u16, &str); 5] = [
        (Message::text("hello"), 1002, "JSON"),
        (
            Message::text(r#"{"type":"hello","token":"nope"}"#),
            4001,
            "invalid token",
        ),
        (Message::text(r#"{"type":"hello"}"#), 1002, "token"),
        (
            Message::text(r#"{"type":"hello","token":"dev:alice:customer","topics":["Orders"]}"#),
            4002,
            "\"Orders\"",
        ),
        (Message::binary(vec![1, 2, 3]), 1003, "binary"),
    ];
    for (first, code, needle) in cases {
        let shown = format!("{first:?}");
        let mut c = LiveClient::connect_raw(&s.base, first).await;
        match c.next(WAIT).await {
            Live::Closed(got, reason) => {
                assert_eq!(got, code, "{shown}: {reason}");
                assert!(reason.contains(needle), "{shown}: {reason:?}");
            }
            other => panic!("{shown}: expected a close, got {other:?}"),
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_flow_and_a_silent_peer_is_closed() {
    let db = TestDb::new(Kind::Sqlite).await;
    let mut cfg = config(&db.url, 3_600_000);
    cfg.live_heartbeat_ms = 200;
    let s = TestServer::start_config(cfg).await;
    let mut reading = LiveClient::connect(&s.base, ALICE, 0, &[]).await;
    assert_eq!(reading.next(WAIT).await, Live::Ready(0));
    assert!(matches!(reading.next(WAIT).await, Live::CaughtUp(_)));
    for _ in 0..4 {
        // Reading answers the server's pings, so the connection stays up.
        assert!(matches!(
            reading.next(Duration::from_secs(1)).await,
            Live::Heartbeat(_)
        ));
    }
    // A peer that reads nothing answers no ping and is closed after two heartbeats.
    let mut silent = LiveClient::connect(&s.base, ALICE, 0, &[]).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let closed = loop {
        match silent.next(WAIT).await {
            Live::Closed(code, reason) => break (code, reason),
            _ => continue,
        }
    };
    assert_eq!(closed.0, 4009, "{}", closed.1);
    assert!(closed.1.contains("resume"), "{}", closed.1);
    assert!(matches!(
        reading.next(Duration::from_secs(1)).await,
        Live::Heartbeat(_)
    ));
    s.stop().await;
}

/// Two BFF instances on one PostgreSQL database: a command on either reaches a client of the
/// other through `LISTEN/NOTIFY`. The instances' own polling is set to a minute, so an event
/// arriving in seconds came through the fan-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_share_live_updates() {
    let db = TestDb::new(Kind::Postgres).await;
    two_instances_share_live_updates(&db.url, "auto").await;
}

/// The same across two instances on one SQLite file, with NATS carrying the news.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_nats_share_live_updates() {
    let db = TestDb::new(Kind::Sqlite).await;
    let nats = common::nats::NatsServer::start();
    two_instances_share_live_updates(&db.url, &nats.url).await;
}

async fn two_instances_share_live_updates(url: &str, fanout: &str) {
    let start = || async {
        let mut cfg = config(url, 3_600_000);
        cfg.live_fanout = fanout.to_owned();
        cfg.live_poll_ms = 60_000;
        TestServer::start_config(cfg).await
    };
    let a = start().await;
    let b = start().await;
    let mut on_a = LiveClient::connect(&a.base, ALICE, 0, &["cart"]).await;
    let mut on_b = LiveClient::connect(&b.base, ALICE, 0, &["cart"]).await;
    for c in [&mut on_a, &mut on_b] {
        assert_eq!(c.next(WAIT).await, Live::Ready(0));
        assert!(matches!(c.next(WAIT).await, Live::CaughtUp(_)));
    }
    // Give the fan-out's subscriptions a moment to be in place on both.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, a_writes) in [true, false, true].into_iter().enumerate() {
        let (writer, reader) = if a_writes {
            (&a, &mut on_b)
        } else {
            (&b, &mut on_a)
        };
        let started = Instant::now();
        let cart = writer.get("/api/cart", Some(ALICE)).await.json();
        let r = writer
            .put(
                "/api/cart/items/pho-bo",
                ALICE,
                &common::key(),
                cart["version"].as_i64(),
                &format!(r#"{{"quantity": {}}}"#, i + 1),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
        let seq = tessera_bff::events::newest_seq(&writer.state.db)
            .await
            .unwrap();
        let got = reader.events_until(seq, Duration::from_secs(5)).await;
        assert_eq!(seqs(&got).last(), Some(&seq), "round {i}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "round {i}: {:?}",
            started.elapsed()
        );
    }
    // Each client also gets its own instance's commits.
    let log = seqs(&a.events_as(ALICE).await);
    for c in [&mut on_a, &mut on_b] {
        c.events_until(*log.last().unwrap(), WAIT).await;
    }
    a.stop().await;
    b.stop().await;
}

fn last_seq(events: &[Value]) -> i64 {
    events.last().map_or(0, |e| e["seq"].as_i64().unwrap())
}
