//! `GET /api/live`: one WebSocket connection. The client's first message is a `hello` (token,
//! topics, resume cursor); the server answers `ready`, replays what the client missed, says
//! `caught-up`, and then sends events as they commit, with a heartbeat when idle.
//!
//! One task per connection writes straight into the socket: frames gather in a small write
//! buffer and go out in one flush per batch of events. A client that reads slowly holds up only
//! its own task, while the broadcast moves on without it (it catches up from the database
//! afterwards), so it costs that buffer plus the kernel's socket buffers. A write that makes no
//! progress for two heartbeats means the client stopped reading: it is closed with
//! [`close::TOO_SLOW`] and the cursor of the last event handed to the socket.

use super::{visible_after, Hub, LiveEvent};
use crate::identity::Caller;
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tessera_contract::live::{close, ClientMessage, Resume, ServerMessage, Topics};
use tessera_contract::sync::ROLE_ADMIN;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How long a client has to send its `hello`.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Largest message a client may send (a `hello` with its token and topics).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
const READ_BUFFER: usize = 4 * 1024;
/// Frames gather up to this size before a write; a batch is flushed when it ends anyway.
const WRITE_BUFFER: usize = 16 * 1024;
/// Events replayed per database read while catching up.
const CATCH_UP_PAGE: usize = 500;
/// Broadcast events sent in one batch before a flush.
const BATCH: usize = 64;

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // tungstenite's default buffers are 128 KiB each way; a live client sends one small hello
    // and receives small frames, and 20,000 of them should not cost gigabytes.
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| run(state, socket))
}

async fn run(state: AppState, socket: WebSocket) {
    let hub = state.live.clone();
    let _counted = hub.connection_guard();
    let (mut sink, mut stream) = socket.split();
    let (caller, topics, after) = match hello(&state, &mut stream).await {
        Ok(hello) => hello,
        Err((code, reason)) => {
            let _ = sink.send(close_message(code, reason)).await;
            return;
        }
    };
    // Subscribe before replaying from the database: whatever commits from here on arrives on
    // `events`, and whatever committed before is in the database.
    let mut events = hub.subscribe();
    // "From now on" is what the tailer has broadcast: anything newer arrives on `events`.
    let after = after.unwrap_or_else(|| *hub.head().borrow());
    let mut conn = Connection {
        state: &state,
        hub: &hub,
        viewer: viewer_of(&caller),
        subject: caller.subject.clone(),
        expires: expiry(&state, &caller),
        topics,
        cursor: after,
        sink,
        stall: hub.settings.heartbeat * 2,
    };
    let (code, reason) = match conn.serve(&mut events, &mut stream).await {
        End::Close(code) => (code, None),
        End::Refuse(code, reason) => (code, Some(reason)),
        End::TooSlow => (close::TOO_SLOW, None),
        End::Gone => return,
    };
    // Everything before the close was handed to the socket first, so the cursor is the
    // client's once it reads the close.
    let close = close_message(code, reason.unwrap_or_else(|| resume_reason(conn.cursor)));
    let _ = tokio::time::timeout(conn.stall, conn.sink.send(close)).await;
}

/// Reads and checks the `hello`: `(caller, topics, after)`, where `after` is `None` for "from
/// now on".
async fn hello(
    state: &AppState,
    stream: &mut SplitStream<WebSocket>,
) -> Result<(Caller, Topics, Option<i64>), (u16, String)> {
    let first = loop {
        match tokio::time::timeout(HELLO_WITHIN, stream.next()).await {
            Err(_) => return Err((close::UNAUTHORIZED, "no hello within 10 s".into())),
            Ok(None) => return Err((close::UNAUTHORIZED, "closed before hello".into())),
            Ok(Some(Err(e))) => {
                return Err(
                    read_failure(&e).unwrap_or((close::UNAUTHORIZED, "closed before hello".into()))
                )
            }
            Ok(Some(Ok(Message::Text(text)))) => break text,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(_)))) => {
                return Err((close::UNAUTHORIZED, "closed before hello".into()))
            }
            Ok(Some(Ok(Message::Binary(_)))) => return Err(binary_message()),
        }
    };
    let ClientMessage::Hello {
        token,
        after,
        topics,
    } = parse_message(first.as_str())?
    else {
        return Err((
            close::PROTOCOL_ERROR,
            "the first message must be a hello".into(),
        ));
    };
    let caller = authenticate(state, &token).await?;
    let topics = Topics::parse(&topics).map_err(|e| (close::BAD_MESSAGE, truncate(e)))?;
    if after.is_some_and(|a| a < 0) {
        return Err((close::BAD_MESSAGE, "after must be 0 or more".into()));
    }
    Ok((caller, topics, after))
}

async fn authenticate(state: &AppState, token: &str) -> Result<Caller, (u16, String)> {
    state.identity.authenticate_token(token).await.map_err(|e| {
        (
            close::UNAUTHORIZED,
            truncate(e.detail.clone().unwrap_or_else(|| e.title.to_owned())),
        )
    })
}

/// A client message, or the close for one that is not JSON or not of this protocol.
fn parse_message(text: &str) -> Result<ClientMessage, (u16, String)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        (
            close::PROTOCOL_ERROR,
            truncate(format!("a message must be JSON: {e}")),
        )
    })?;
    serde_json::from_value(value).map_err(|e| {
        (
            close::PROTOCOL_ERROR,
            truncate(format!("not a message of this protocol: {e}")),
        )
    })
}

fn binary_message() -> (u16, String) {
    (
        close::UNSUPPORTED_DATA,
        "binary messages are not supported: send JSON text".into(),
    )
}

/// The close for a read that failed because of the client (a message over the size limit);
/// `None` when the connection is simply gone.
fn read_failure(error: &axum::Error) -> Option<(u16, String)> {
    let text = error.to_string();
    (text.contains("too long") || text.contains("Space limit")).then(|| {
        (
            close::MESSAGE_TOO_BIG,
            format!("messages are limited to {MAX_CLIENT_MESSAGE} bytes"),
        )
    })
}

/// `None` for admins, who see every event; else the subject whose private events are shown.
fn viewer_of(caller: &Caller) -> Option<String> {
    (!caller.has_role(ROLE_ADMIN)).then(|| caller.subject.clone())
}

/// When a connection authenticated as `caller` must close: its token's expiry plus the
/// configured leeway; `None` for tokens that do not expire.
fn expiry(state: &AppState, caller: &Caller) -> Option<Instant> {
    let exp = caller.expires_at?;
    let leeway = state
        .identity
        .verifier()
        .map_or(0, |v| v.settings().leeway_secs);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let until = Duration::from_secs(exp.max(0) as u64 + leeway).saturating_sub(now);
    Some(Instant::now() + until)
}

enum End {
    /// Close with this code and the resume cursor.
    Close(u16),
    /// Close with this code and reason (a protocol violation or an expired token).
    Refuse(u16, String),
    /// A write made no progress for two heartbeats.
    TooSlow,
    /// The client went away.
    Gone,
}

struct Connection<'a> {
    state: &'a AppState,
    hub: &'a Arc<Hub>,
    viewer: Option<String>,
    /// Who authenticated; a renewal must be the same subject.
    subject: String,
    /// When the token (plus leeway) runs out, unless renewed.
    expires: Option<Instant>,
    topics: Topics,
    /// The newest seq looked at; every event up to it that is for this client was handed to
    /// the socket.
    cursor: i64,
    sink: SplitSink<WebSocket, Message>,
    stall: Duration,
}

impl Connection<'_> {
    async fn serve(
        &mut self,
        events: &mut broadcast::Receiver<Arc<LiveEvent>>,
        stream: &mut SplitStream<WebSocket>,
    ) -> End {
        let cursor = self.cursor;
        if let Err(end) = self.say(&ServerMessage::Ready { cursor }).await {
            return end;
        }
        if let Err(end) = self.catch_up().await {
            return end;
        }
        let cursor = self.cursor;
        if let Err(end) = self.say(&ServerMessage::CaughtUp { cursor }).await {
            return end;
        }
        let heartbeat = self.hub.settings.heartbeat;
        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        // One future for the whole connection: making one per wake-up costs a watch
        // subscription each time, 20,000 times per event.
        let hub = self.hub.clone();
        let closed = hub.closed();
        tokio::pin!(closed);
        // Far enough away for a token that never expires.
        let expired = tokio::time::sleep_until(
            self.expires
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400)),
        );
        tokio::pin!(expired);
        loop {
            let step = tokio::select! {
                received = events.recv() => self.on_broadcast(received, events).await,
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Close(_))) | None => Err(End::Gone),
                    Some(Err(e)) => Err(read_failure(&e)
                        .map_or(End::Gone, |(code, reason)| End::Refuse(code, reason))),
                    Some(Ok(message)) => {
                        // Pongs, and anything the client says, show it is alive.
                        last_heard = Instant::now();
                        match self.on_message(message).await {
                            Ok(Some(renewed)) => {
                                expired.as_mut().reset(renewed);
                                Ok(())
                            }
                            Ok(None) => Ok(()),
                            Err(end) => Err(end),
                        }
                    }
                },
                _ = &mut expired, if self.expires.is_some() => {
                    Err(End::Refuse(close::TOKEN_EXPIRED, "token expired".into()))
                }
                _ = tick.tick() => {
                    if last_heard.elapsed() > heartbeat * 2 {
                        Err(End::Close(close::TIMED_OUT))
                    } else {
                        self.beat().await
                    }
                }
                _ = &mut closed => Err(End::Close(close::GOING_AWAY)),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// A message from the client after its hello: an `auth` renewal (returns the new expiry),
    /// or a ping or pong; anything else closes the connection.
    async fn on_message(&mut self, message: Message) -> Result<Option<Instant>, End> {
        let refuse = |(code, reason): (u16, String)| End::Refuse(code, reason);
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return Err(refuse(binary_message())),
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Ok(None),
        };
        match parse_message(text.as_str()).map_err(refuse)? {
            ClientMessage::Hello { .. } => Err(End::Refuse(
                close::PROTOCOL_ERROR,
                "hello was already sent; renew the token with auth".into(),
            )),
            ClientMessage::Auth { token } => {
                let caller = authenticate(self.state, &token).await.map_err(refuse)?;
                if caller.subject != self.subject {
                    return Err(End::Refuse(
                        close::UNAUTHORIZED,
                        "auth must renew the same subject's token".into(),
                    ));
                }
                self.viewer = viewer_of(&caller);
                self.expires = expiry(self.state, &caller);
                // A token that does not expire: far away, as at the start.
                Ok(Some(self.expires.unwrap_or_else(|| {
                    Instant::now() + Duration::from_secs(100 * 365 * 86_400)
                })))
            }
        }
    }

    /// A broadcast event and whatever else is already waiting, in one flush.
    async fn on_broadcast(
        &mut self,
        received: Result<Arc<LiveEvent>, broadcast::error::RecvError>,
        events: &mut broadcast::Receiver<Arc<LiveEvent>>,
    ) -> Result<(), End> {
        let mut next = Some(received);
        let mut batch = 0;
        while let Some(received) = next.take() {
            match received {
                Ok(event) => self.offer(&event).await?,
                // Fell out of the broadcast's buffer: the database has what was missed, and
                // events at or below the cursor that the receiver then repeats are skipped.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await?,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(End::Close(close::GOING_AWAY))
                }
            }
            batch += 1;
            if batch < BATCH {
                next = match events.try_recv() {
                    Ok(event) => Some(Ok(event)),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Some(Err(broadcast::error::RecvError::Lagged(n)))
                    }
                    Err(_) => None,
                };
            }
        }
        self.flush().await
    }

    /// Replays from the database everything after the cursor, as fast as the client reads.
    /// Live events wait meanwhile in the broadcast; if it overflows, the next receive reports
    /// the lag and this runs again.
    async fn catch_up(&mut self) -> Result<(), End> {
        loop {
            let before = self.cursor;
            let (found, cursor) = visible_after(
                self.state,
                self.cursor,
                CATCH_UP_PAGE,
                self.viewer.as_deref(),
                &self.topics,
            )
            .await
            .map_err(|_| End::Close(close::GOING_AWAY))?;
            let last_page = found.len() < CATCH_UP_PAGE;
            for logged in found {
                let event = LiveEvent::new(logged);
                self.feed(Message::Text(event.frame.clone())).await?;
                self.cursor = event.seq();
            }
            self.flush().await?;
            self.cursor = cursor;
            if cursor == before || last_page {
                return Ok(());
            }
        }
    }

    /// A broadcast event: handed to the socket when it is new and for this client.
    async fn offer(&mut self, event: &LiveEvent) -> Result<(), End> {
        if event.seq() <= self.cursor {
            return Ok(());
        }
        if event.is_for(self.viewer.as_deref(), &self.topics) {
            self.feed(Message::Text(event.frame.clone())).await?;
        }
        self.cursor = event.seq();
        Ok(())
    }

    async fn beat(&mut self) -> Result<(), End> {
        self.feed(Message::Ping(Default::default())).await?;
        let cursor = self.cursor;
        self.say(&ServerMessage::Heartbeat { cursor }).await
    }

    async fn say(&mut self, message: &ServerMessage) -> Result<(), End> {
        let text = serde_json::to_string(message).expect("server messages serialize");
        self.feed(Message::Text(text.into())).await?;
        self.flush().await
    }

    /// Into the write buffer; waits while it is full.
    async fn feed(&mut self, message: Message) -> Result<(), End> {
        match tokio::time::timeout(self.stall, self.sink.feed(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::TooSlow),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(self.stall, self.sink.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::TooSlow),
        }
    }
}

fn resume_reason(cursor: i64) -> String {
    serde_json::to_string(&Resume { resume: cursor }).expect("resume serializes")
}

fn close_message(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(truncate(reason)),
    }))
}

/// Close reasons are at most 123 bytes.
fn truncate(mut text: String) -> String {
    if text.len() > 123 {
        let mut end = 120;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}
