//! Live updates. One tailer per process reads the log after the newest seq it has broadcast
//! whenever an event commits (in this process, or in another instance, which the fan-out
//! reports) and broadcasts each event to every connection with its JSON frame rendered once.
//! Connections filter by viewer and topic.
//!
//! The log is the only source of truth: a connection replays what it missed from the database,
//! then follows the broadcast, skipping anything at or below its cursor, so the seam has neither
//! gap nor duplicate; a connection that falls behind the broadcast's buffer catches up from the
//! database the same way. The fan-out only says "the log moved", so a lost notification delays
//! an event by at most [`Settings::poll`], and never loses or repeats one.

pub mod fanout;
pub mod socket;

use crate::events::{self, LoggedEvent};
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::ws::Utf8Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tessera_contract::live::{ServerMessage, Topics};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;

/// Events the broadcast keeps for connections that are momentarily busy; one further behind
/// reads the database instead.
const BROADCAST_CAPACITY: usize = 1024;
/// Events read from the log per query.
pub const PAGE: u32 = 500;

/// An event as every connection sends it.
#[derive(Debug)]
pub struct LiveEvent {
    pub logged: LoggedEvent,
    /// The `event` message's text, shared by every connection that sends it.
    pub frame: Utf8Bytes,
}

impl LiveEvent {
    pub fn new(logged: LoggedEvent) -> LiveEvent {
        let frame = serde_json::to_string(&ServerMessage::Event {
            event: logged.event.clone(),
        })
        .expect("events serialize");
        LiveEvent {
            logged,
            frame: frame.into(),
        }
    }

    pub fn seq(&self) -> i64 {
        self.logged.event.seq
    }

    /// Whether a connection of `viewer` (`None`: an admin) subscribed to `topics` gets it.
    pub fn is_for(&self, viewer: Option<&str>, topics: &Topics) -> bool {
        is_for(&self.logged, viewer, topics)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub heartbeat: Duration,
    /// The tailer reads the log this often even without a notification.
    pub poll: Duration,
}

pub struct Hub {
    events: broadcast::Sender<Arc<LiveEvent>>,
    /// The newest seq broadcast so far.
    head: watch::Sender<i64>,
    /// Another instance committed an event.
    nudge: Notify,
    /// Set once the server is shutting down; connections close with their resume cursor.
    closing: watch::Sender<bool>,
    connections: AtomicUsize,
    pub settings: Settings,
}

impl Hub {
    pub fn new(settings: Settings) -> Hub {
        Hub {
            events: broadcast::Sender::new(BROADCAST_CAPACITY),
            head: watch::Sender::new(0),
            nudge: Notify::new(),
            closing: watch::Sender::new(false),
            connections: AtomicUsize::new(0),
            settings,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.events.subscribe()
    }

    pub fn head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// The log may have moved elsewhere: read it now.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Asks every connection and long-poll to finish, with its resume cursor.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::close_all`] was called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        // Only an error when the hub is gone, which is just as closed.
        let _ = closing.wait_for(|c| *c).await;
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    fn connection_guard(self: &Arc<Hub>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }
}

struct ConnectionGuard(Arc<Hub>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts the tailer and the fan-out (which the configuration chose when the state was made).
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let fanout = fanout::start(&state);
        tail(&state).await;
        fanout.abort();
    })
}

async fn tail(state: &AppState) {
    let hub = &state.live;
    let mut head = loop {
        match events::newest_seq(&state.db).await {
            Ok(seq) => break seq,
            Err(err) => {
                report(&err);
                tokio::time::sleep(hub.settings.poll).await;
            }
        }
    };
    hub.head.send_replace(head);
    let mut commits = state.db.commits();
    loop {
        if let Err(err) = broadcast_new(state, &mut head).await {
            report(&err);
        }
        tokio::select! {
            _ = commits.changed() => {}
            _ = hub.nudge.notified() => {}
            _ = tokio::time::sleep(hub.settings.poll) => {}
            _ = hub.closed() => return,
        }
    }
}

/// Broadcasts every event after `head`, moving `head` on.
async fn broadcast_new(state: &AppState, head: &mut i64) -> Result<(), ApiError> {
    loop {
        let page = events::list_logged(&state.db, *head, PAGE).await?;
        let full = page.len() == PAGE as usize;
        for logged in page {
            *head = logged.event.seq;
            // No receivers is fine: nobody is listening.
            let _ = state.live.events.send(Arc::new(LiveEvent::new(logged)));
        }
        state.live.head.send_if_modified(|h| {
            let moved = *h != *head;
            *h = *head;
            moved
        });
        if !full {
            return Ok(());
        }
    }
}

fn is_for(logged: &LoggedEvent, viewer: Option<&str>, topics: &Topics) -> bool {
    events::visible(logged.owner.as_deref(), viewer) && topics.matches(&logged.event.partition_key)
}

fn report(err: &ApiError) {
    eprintln!(
        "tessera-bff: live: {}",
        err.detail.as_deref().unwrap_or(err.title)
    );
}

/// The events after `after` that `viewer` may see and `topics` select, at most `limit` of them,
/// and the cursor to resume from: the newest seq looked at, visible or not, so a client never
/// pages through other people's events twice.
pub async fn visible_after(
    state: &AppState,
    after: i64,
    limit: usize,
    viewer: Option<&str>,
    topics: &Topics,
) -> Result<(Vec<LoggedEvent>, i64), ApiError> {
    let mut cursor = after;
    let mut found = Vec::new();
    loop {
        let page = events::list_logged(&state.db, cursor, PAGE).await?;
        let full = page.len() == PAGE as usize;
        for logged in page {
            if found.len() == limit {
                return Ok((found, cursor));
            }
            cursor = logged.event.seq;
            if is_for(&logged, viewer, topics) {
                found.push(logged);
            }
        }
        if !full {
            return Ok((found, cursor));
        }
    }
}
