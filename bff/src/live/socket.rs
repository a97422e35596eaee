//! `GET /api/live`: one WebSocket connection. The client's first message is a `hello` (token,
//! topics, resume cursor); the server answers `ready`, replays what the client missed, says
//! `caught-up`, and then sends events as they commit, with a heartbeat when idle.
//!
//! Writes go through a bounded queue drained by a writer task, so a client that reads slowly
//! costs at most `buffer` queued messages (which mostly share the broadcast's frames) plus the
//! kernel's socket buffers. While the queue is full the connection waits and the broadcast moves
//! on without it; it catches up from the database once there is room. A client that takes
//! no message for two heartbeats is closed with [`close::TOO_SLOW`] and the cursor of the last
//! message actually written.

use super::{visible_after, Hub, LiveEvent};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tessera_shared::live::{close, ClientMessage, Resume, ServerMessage, Topics};
use tessera_shared::sync::ROLE_ADMIN;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// How long a client has to send its `hello`.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Largest message a client may send (a `hello` with its token and topics).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Events replayed per database read while catching up.
const CATCH_UP_PAGE: usize = 500;

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| run(state, socket))
}

/// A message for the writer, with the cursor the client holds once it is written.
struct Outgoing {
    message: Message,
    cursor: i64,
}

async fn run(state: AppState, socket: WebSocket) {
    let hub = state.live.clone();
    let _counted = hub.connection_guard();
    let (mut sink, mut stream) = socket.split();
    let (viewer, topics, after) = match hello(&state, &mut stream).await {
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
    let (queue, queue_rx) = mpsc::channel(hub.settings.buffer.max(2));
    let writer = tokio::spawn(write(sink, queue_rx, after, hub.settings.heartbeat));
    let mut conn = Connection {
        state: &state,
        hub: &hub,
        viewer,
        topics,
        cursor: after,
        queue,
    };
    if let End::Close(code) = conn.serve(&mut events, &mut stream).await {
        // After what is queued, so the cursor is the client's once it reads the close.
        let cursor = conn.cursor;
        let _ = conn
            .enqueue(Outgoing {
                message: close_message(code, resume_reason(cursor)),
                cursor,
            })
            .await;
    }
    drop(conn);
    let _ = writer.await;
}

/// Reads and checks the `hello`: `(viewer, topics, after)`, where `viewer` is `None` for
/// admins, who see every event, and `after` is `None` for "from now on".
async fn hello(
    state: &AppState,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<(Option<String>, Topics, Option<i64>), (u16, String)> {
    let first = loop {
        match tokio::time::timeout(HELLO_WITHIN, stream.next()).await {
            Err(_) => return Err((close::UNAUTHORIZED, "no hello within 10 s".into())),
            Ok(None | Some(Err(_))) => {
                return Err((close::UNAUTHORIZED, "closed before hello".into()))
            }
            Ok(Some(Ok(Message::Text(text)))) => break text,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(_))) => {
                return Err((
                    close::BAD_MESSAGE,
                    "the hello must be a text message".into(),
                ))
            }
        }
    };
    let ClientMessage::Hello {
        token,
        after,
        topics,
    } = serde_json::from_str(first.as_str()).map_err(|e| {
        (
            close::UNAUTHORIZED,
            truncate(format!("the first message must be a hello: {e}")),
        )
    })?;
    let caller = state
        .identity
        .authenticate_token(&token)
        .await
        .map_err(|e| {
            (
                close::UNAUTHORIZED,
                truncate(e.detail.clone().unwrap_or_else(|| e.title.to_owned())),
            )
        })?;
    let topics = Topics::parse(&topics).map_err(|e| (close::BAD_MESSAGE, truncate(e)))?;
    if after.is_some_and(|a| a < 0) {
        return Err((close::BAD_MESSAGE, "after must be 0 or more".into()));
    }
    let viewer = (!caller.has_role(ROLE_ADMIN)).then_some(caller.subject);
    Ok((viewer, topics, after))
}

enum End {
    /// Close with this code and the resume cursor, after what is queued.
    Close(u16),
    /// The client went away, or the writer gave up on it (and closed it).
    Gone,
}

struct Connection<'a> {
    state: &'a AppState,
    hub: &'a Arc<Hub>,
    viewer: Option<String>,
    topics: Topics,
    /// The newest seq looked at (sent or not for this viewer).
    cursor: i64,
    queue: mpsc::Sender<Outgoing>,
}

impl Connection<'_> {
    async fn serve(
        &mut self,
        events: &mut broadcast::Receiver<Arc<LiveEvent>>,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
    ) -> End {
        if let Err(end) = self
            .say(&ServerMessage::Ready {
                cursor: self.cursor,
            })
            .await
        {
            return end;
        }
        if let Err(end) = self.catch_up().await {
            return end;
        }
        if let Err(end) = self
            .say(&ServerMessage::CaughtUp {
                cursor: self.cursor,
            })
            .await
        {
            return end;
        }
        let heartbeat = self.hub.settings.heartbeat;
        let mut last_heard = Instant::now();
        let mut tick = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        loop {
            tokio::select! {
                received = events.recv() => {
                    let step = match received {
                        Ok(event) => self.offer(&event).await,
                        // Fell out of the broadcast's buffer: the database has what was missed,
                        // and events at or below the cursor that the receiver then repeats are
                        // skipped by `offer`.
                        Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await,
                        Err(broadcast::error::RecvError::Closed) => Err(End::Close(close::GOING_AWAY)),
                    };
                    if let Err(end) = step {
                        return end;
                    }
                }
                incoming = stream.next() => match incoming {
                    // Pongs, and anything the client says, show it is alive; it has nothing else
                    // to say after its hello, and unknown messages are ignored for newer clients.
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::Gone,
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                _ = tick.tick() => {
                    if last_heard.elapsed() > heartbeat * 2 {
                        return End::Close(close::TIMED_OUT);
                    }
                    let ping = Outgoing { message: Message::Ping(Default::default()), cursor: self.cursor };
                    let beat = ServerMessage::Heartbeat { cursor: self.cursor };
                    if let Err(end) = self.enqueue(ping).await {
                        return end;
                    }
                    if let Err(end) = self.say(&beat).await {
                        return end;
                    }
                }
                _ = self.hub.closed() => return End::Close(close::GOING_AWAY),
            }
        }
    }

    /// Replays from the database everything after the cursor. Live events wait meanwhile in the
    /// broadcast; if it overflows, the next receive reports the lag and this runs again.
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
                self.send_event(&LiveEvent::new(logged)).await?;
            }
            self.cursor = cursor;
            if cursor == before || last_page {
                return Ok(());
            }
        }
    }

    /// A broadcast event: sent when it is new and for this client.
    async fn offer(&mut self, event: &LiveEvent) -> Result<(), End> {
        if event.seq() <= self.cursor {
            return Ok(());
        }
        if event.is_for(self.viewer.as_deref(), &self.topics) {
            self.send_event(event).await?;
        }
        self.cursor = event.seq();
        Ok(())
    }

    async fn send_event(&self, event: &LiveEvent) -> Result<(), End> {
        self.enqueue(Outgoing {
            message: Message::Text(event.frame.clone()),
            cursor: event.seq(),
        })
        .await
    }

    async fn say(&self, message: &ServerMessage) -> Result<(), End> {
        let text = serde_json::to_string(message).expect("server messages serialize");
        self.enqueue(Outgoing {
            message: Message::Text(text.into()),
            cursor: self.cursor,
        })
        .await
    }

    /// Waits while the queue is full; fails once the writer has given up on the client.
    async fn enqueue(&self, out: Outgoing) -> Result<(), End> {
        self.queue.send(out).await.map_err(|_| End::Gone)
    }
}

/// Drains the queue into the socket, flushing once per batch. A client that takes nothing for
/// two heartbeats stopped reading: the rest of the queue is dropped and the close carries the
/// cursor of the last message handed to the socket (everything handed over goes out before the
/// close).
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Outgoing>,
    mut written: i64,
    heartbeat: Duration,
) {
    let stall = heartbeat * 2;
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some(out) = next.take() {
            let is_close = matches!(out.message, Message::Close(_));
            match tokio::time::timeout(stall, sink.feed(out.message)).await {
                Ok(Ok(())) if is_close => {
                    let _ = tokio::time::timeout(stall, sink.flush()).await;
                    return;
                }
                Ok(Ok(())) => written = out.cursor,
                Ok(Err(_)) => return,
                Err(_) => return too_slow(sink, queue, written, stall).await,
            }
            next = queue.try_recv().ok();
        }
        match tokio::time::timeout(stall, sink.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => return too_slow(sink, queue, written, stall).await,
        }
    }
}

async fn too_slow(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    queue: mpsc::Receiver<Outgoing>,
    written: i64,
    stall: Duration,
) {
    drop(queue);
    let close = close_message(close::TOO_SLOW, resume_reason(written));
    let _ = tokio::time::timeout(stall, sink.send(close)).await;
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
