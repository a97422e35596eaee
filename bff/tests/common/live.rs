//! A live-updates client for tests: a WebSocket to `/api/live` that says hello and reads the
//! server's messages, and a burst of commands of every visibility to stream through it.

use super::{key, TestServer, ADMIN};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug, PartialEq)]
pub enum Live {
    Ready(i64),
    Event(Value),
    CaughtUp(i64),
    Heartbeat(i64),
    Closed(u16, String),
}

pub struct LiveClient {
    pub socket: Socket,
    /// The newest seq the client holds, from events and the server's cursors.
    pub held: i64,
}

impl LiveClient {
    pub async fn connect(base: &str, token: &str, after: i64, topics: &[&str]) -> LiveClient {
        let hello = json!({"type": "hello", "token": token, "after": after, "topics": topics});
        LiveClient::connect_raw(base, Message::text(hello.to_string())).await
    }

    /// Connects and sends `first` as the first message.
    pub async fn connect_raw(base: &str, first: Message) -> LiveClient {
        let url = format!("{}/api/live", base.replace("http://", "ws://"));
        let (mut socket, _) = tokio_tungstenite::connect_async(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        socket.send(first).await.expect("sending the hello");
        LiveClient { socket, held: 0 }
    }

    /// The next message, or panics after `within`.
    pub async fn next(&mut self, within: Duration) -> Live {
        loop {
            let message = tokio::time::timeout(within, self.socket.next())
                .await
                .expect("a live message in time");
            let message = match message {
                None => return Live::Closed(1006, "ended without a close frame".into()),
                Some(Err(e)) => return Live::Closed(1006, format!("{e}")),
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    return match v["type"].as_str().unwrap() {
                        "ready" => Live::Ready(v["cursor"].as_i64().unwrap()),
                        "caught-up" => Live::CaughtUp(v["cursor"].as_i64().unwrap()),
                        "heartbeat" => Live::Heartbeat(v["cursor"].as_i64().unwrap()),
                        "event" => Live::Event(v["event"].clone()),
                        other => panic!("unknown message type {other}: {v}"),
                    };
                }
                Message::Close(frame) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((u16::from(CloseCode::Status), String::new()));
                    return Live::Closed(code, reason);
                }
                _ => continue,
            }
        }
    }

    /// Events until the client holds `seq` (or panics after `within` without a message).
    /// Only the events read here count: see [`Self::next`] for the rest.
    pub async fn events_until(&mut self, seq: i64, within: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while self.held < seq {
            match self.next(within).await {
                Live::Event(e) => {
                    self.held = e["seq"].as_i64().unwrap();
                    out.push(e);
                }
                Live::Heartbeat(c) | Live::CaughtUp(c) | Live::Ready(c) => {
                    self.held = self.held.max(c)
                }
                Live::Closed(code, reason) => {
                    panic!("closed ({code} {reason}) before seq {seq}; got {out:?}")
                }
            }
        }
        out
    }
}

pub fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

/// A command of each kind in turn, `n` in all: a public menu item create (admin), and private
/// cart changes of Alice and of Bob. Returns the newest seq in the log.
pub async fn burst(s: &TestServer, n: usize) -> i64 {
    for i in 0..n {
        let r = match i % 3 {
            0 => {
                s.put(
                    &format!("/api/restaurants/pho-corner/menu/live-{}", key()),
                    ADMIN,
                    &key(),
                    None,
                    r#"{"name": "Special", "priceCents": 900, "available": true}"#,
                )
                .await
            }
            k => {
                let token = if k == 1 { super::ALICE } else { super::BOB };
                let cart = s.get("/api/cart", Some(token)).await.json();
                let version = cart["version"].as_i64().unwrap();
                s.put(
                    "/api/cart/items/pho-bo",
                    token,
                    &key(),
                    Some(version),
                    &format!(r#"{{"quantity": {}}}"#, 1 + i % 5),
                )
                .await
            }
        };
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
    }
    tessera_bff::events::newest_seq(&s.state.db).await.unwrap()
}
