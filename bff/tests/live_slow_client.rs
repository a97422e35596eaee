//! A live client that stops reading is cut off with its resume cursor, and the server does not
//! buffer the backlog for it. Its own test binary: it reads the process's peak memory, which
//! other tests running beside it would disturb.

mod common;

use common::live::{Live, LiveClient};
use common::{config, Kind, TestDb, TestServer, ALICE};
use serde_json::{json, Value};
use std::time::Duration;
use tessera_bff::events::{self, NewEvent};

const EVENTS: usize = 20_000;
const EVENT_BYTES: usize = 8_000;

/// Peak resident memory of this process, in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_with_its_cursor_and_memory_stays_bounded() {
    let db = TestDb::new(Kind::Sqlite).await;
    let mut cfg = config(&db.url, 3_600_000);
    cfg.live_heartbeat_ms = 2_000;
    let s = TestServer::start_config(cfg).await;

    // Far more than the server may keep for one client: 20,000 public events of 8 KB (160 MB
    // of data, twice that as frames), committed at once (written
    // before the client connects, so it is not silent for long before they come).
    let pad = "x".repeat(EVENT_BYTES);
    let mut tx = s.state.db.begin().await.unwrap();
    let mut newest = 0;
    for i in 0..EVENTS {
        let appended = events::append(
            &mut *tx,
            s.state.db.backend,
            NewEvent {
                kind: "test.filler",
                partition_key: format!("menu-item:filler-{i}"),
                source: "test",
                data: json!({ "pad": pad }),
                owner: None,
            },
        )
        .await
        .unwrap();
        let tessera_bff::write::Appended::Numbered(seq) = appended else {
            panic!("SQLite numbers an event as it appends it, got {appended:?}");
        };
        newest = seq;
    }
    // A socket with a small receive buffer, so the backlog piles up on the server's side.
    let addr = s.base.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(addr).await.unwrap();
    let url = format!("{}/api/live", s.base.replace("http", "ws"));
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let mut client = LiveClient { socket, held: 0 };
    use futures::SinkExt;
    client
        .socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "hello", "token": ALICE}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(client.next(Duration::from_secs(10)).await, Live::Ready(0));
    assert!(matches!(
        client.next(Duration::from_secs(10)).await,
        Live::CaughtUp(0)
    ));
    // The client reads nothing from here on.
    let before = peak_rss();
    tx.commit().await.unwrap();
    s.state.db.announce_commit(newest);
    // Its queue and the kernel's buffers fill at once; two heartbeats (4 s) later the writer
    // gives up, and the close then waits (two heartbeats at most) behind what the kernel holds.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let grew = peak_rss().saturating_sub(before);

    // Reading again: what the kernel held, then the close with the cursor of the last event.
    let mut got: Vec<Value> = Vec::new();
    let (code, reason) = loop {
        match client.next(Duration::from_secs(10)).await {
            Live::Event(e) => got.push(e),
            Live::Closed(code, reason) => break (code, reason),
            _ => {}
        }
    };
    assert_eq!(code, 4008, "too slow: {reason}");
    let resume: Value = serde_json::from_str(&reason).expect("the reason is JSON");
    let last = got.last().map_or(0, |e| e["seq"].as_i64().unwrap());
    assert_eq!(resume["resume"], last, "resume where the client stopped");
    assert!(
        got.len() < EVENTS / 2,
        "the client was cut long before the end ({} events)",
        got.len()
    );
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, no gap"
    );

    // While the client was stuck: the broadcast keeps at most 1,024 events, and the tailer and
    // a replay read 500 at a time, with their frames: about 80 MB at peak for events this size
    // whether 10,000 or 20,000 are pushed (measured), where buffering the backlog for the
    // client would take over 320 MB.
    eprintln!(
        "slow client: {} events before the cut; peak memory grew {} MB",
        got.len(),
        grew / 1_000_000
    );
    // The server let go of it.
    let waited = std::time::Instant::now();
    while s.state.live.connections() > 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the connection lingers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // And it resumes from there, getting the rest.
    let mut again = LiveClient::connect(&s.base, ALICE, last, &["menu-item"]).await;
    let rest = again.events_until(newest, Duration::from_secs(30)).await;
    assert_eq!(rest.len(), EVENTS - got.len());
    assert_eq!(rest[0]["seq"], last + 1);
    assert!(grew < 120_000_000, "peak memory grew by {grew} bytes");
    s.stop().await;
}
