//! Live updates: the messages of `GET /api/live` (a WebSocket) and `GET /api/live/poll` (its
//! long-poll twin), topic filters, and the client's rules for resuming without gaps or
//! duplicates and for choosing between the socket and long-polling.
//!
//! The log's `seq` is the cursor everywhere: a client that holds every event up to `seq`
//! resumes with `after = seq` and gets exactly the visible events after it, in order.

use crate::sync::DomainEvent;
use serde::{Deserialize, Serialize};

/// Most topics one subscription may name.
pub const MAX_TOPICS: usize = 64;
/// Longest topic, in bytes.
pub const MAX_TOPIC_LEN: usize = 200;
/// Longest wait a long-poll may ask for, in milliseconds.
pub const MAX_POLL_WAIT_MS: u64 = 30_000;

/// What a client sends. The first message must be `hello`; anything else first closes the
/// socket with [`close::UNAUTHORIZED`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    /// Authenticates (the bearer token, never in the URL, where logs would keep it), subscribes
    /// and resumes after `after` (0: from the start of the log; absent: from now on, for a
    /// client whose data is fresh and that has no cursor yet).
    #[serde(rename_all = "camelCase")]
    Hello {
        token: String,
        #[serde(default)]
        after: Option<i64>,
        #[serde(default)]
        topics: Vec<String>,
    },
    /// Renews the connection's authentication with a fresh token of the same subject (after
    /// `hello` only). A connection authenticated by an expiring token closes with
    /// [`close::TOKEN_EXPIRED`] once it has expired (plus the server's clock-skew leeway)
    /// unless a renewed token arrives first; the server does not answer a renewal it accepts.
    Auth { token: String },
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The hello was accepted; events after `cursor` follow.
    Ready {
        cursor: i64,
    },
    Event {
        event: DomainEvent,
    },
    /// Every event committed before the subscription started has been sent; what follows is live.
    CaughtUp {
        cursor: i64,
    },
    /// Sent when nothing else was for a heartbeat interval, so a client notices a dead server.
    Heartbeat {
        cursor: i64,
    },
}

/// A long-poll's answer: the visible events after the request's cursor (possibly none, when the
/// wait ran out), and the cursor to pass next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PollAnswer {
    pub events: Vec<DomainEvent>,
    pub cursor: i64,
}

/// WebSocket close codes (4000–4999 are the application's).
pub mod close {
    /// The `hello` or `auth` token was refused, or no `hello` came.
    pub const UNAUTHORIZED: u16 = 4001;
    /// A `hello` the server understood but cannot follow (bad topics or cursor); the reason
    /// says what was wrong.
    pub const BAD_MESSAGE: u16 = 4002;
    /// The connection's token expired (plus the server's leeway) without an `auth` renewal.
    pub const TOKEN_EXPIRED: u16 = 4401;
    /// A text message that is not JSON, or not a message of this protocol (RFC 6455 1002).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary message: the protocol is JSON text (RFC 6455 1003).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A message over the server's size limit (RFC 6455 1009).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The client read too slowly and its buffer filled; the reason is a [`super::Resume`].
    pub const TOO_SLOW: u16 = 4008;
    /// No message or pong within two heartbeats.
    pub const TIMED_OUT: u16 = 4009;
    /// The server is shutting down; the reason is a [`super::Resume`].
    pub const GOING_AWAY: u16 = 1001;
}

/// The reason text of a close that lets the client resume: `{"resume": <seq>}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub resume: i64,
}

/// Topic filters. A topic is an entity type (`order`, `menu-item`, `cart`) or one entity
/// (`order:7f3c…`), matched against an event's `partitionKey`; no topics means every event the
/// caller may see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topics(Vec<String>);

impl Topics {
    /// Validates `topics`; the error names the offending topic and what is wrong with it.
    pub fn parse<S: AsRef<str>>(topics: &[S]) -> Result<Topics, String> {
        if topics.len() > MAX_TOPICS {
            return Err(format!(
                "{} topics; at most {MAX_TOPICS} are allowed",
                topics.len()
            ));
        }
        let mut parsed = Vec::with_capacity(topics.len());
        for topic in topics {
            let topic = topic.as_ref();
            let (kind, id) = match topic.split_once(':') {
                Some((kind, id)) => (kind, Some(id)),
                None => (topic, None),
            };
            let kind_ok =
                !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
            let id_ok = id.is_none_or(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic() && b != b',')
            });
            if topic.len() > MAX_TOPIC_LEN || !kind_ok || !id_ok {
                return Err(format!(
                    "topic {topic:?} is not `<type>` or `<type>:<id>` (type: lowercase letters and \
                     '-'; id: visible ASCII without ','; at most {MAX_TOPIC_LEN} bytes)"
                ));
            }
            parsed.push(topic.to_owned());
        }
        Ok(Topics(parsed))
    }

    /// From the comma-separated form of a query parameter (`order,menu-item`).
    pub fn parse_list(list: &str) -> Result<Topics, String> {
        let topics: Vec<&str> = list.split(',').filter(|t| !t.is_empty()).collect();
        Topics::parse(&topics)
    }

    pub fn matches(&self, partition_key: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|t| {
                partition_key
                    .strip_prefix(t.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
            })
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The newest `seq` a client holds. Events arrive in order on one connection, but a reconnect
/// or a switch between socket and long-poll may repeat the seam: anything at or below the
/// cursor is a duplicate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor(pub i64);

impl Cursor {
    /// Whether `seq` is new; moves the cursor on when it is.
    pub fn accept(&mut self, seq: i64) -> bool {
        if seq > self.0 {
            self.0 = seq;
            true
        } else {
            false
        }
    }
}

/// How the client reaches the live service right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkMode {
    /// A socket is open and past its `ready`.
    Live,
    /// Long-polling, because sockets kept failing.
    Polling,
    /// Neither works right now; retrying with backoff.
    Offline,
}

impl LinkMode {
    /// Its serde name, as the status bar's `data-live` and the tabs' relay carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Live => "live",
            LinkMode::Polling => "polling",
            LinkMode::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<LinkMode> {
        [LinkMode::Live, LinkMode::Polling, LinkMode::Offline]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// Which transport to try next and when. Sockets are preferred; after [`Self::SOCKET_FAILURES`]
/// failures in a row the client long-polls, and tries a socket again every
/// [`Self::SOCKET_RETRY_MS`] while polling works.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkPolicy {
    socket_failures: u32,
    poll_failures: u32,
    polling_since_ms: Option<f64>,
}

/// The next attempt: a transport and how long to wait before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Socket { delay_ms: u64 },
    Poll { delay_ms: u64 },
}

impl LinkPolicy {
    pub const SOCKET_FAILURES: u32 = 3;
    pub const SOCKET_RETRY_MS: f64 = 60_000.0;

    /// A socket reached `ready`.
    pub fn socket_ready(&mut self) {
        *self = LinkPolicy::default();
    }

    /// A socket failed to open, or closed. A socket that had reached `ready` before closing
    /// counts as a fresh start (one failure), so a server restart is retried within a second
    /// (jittered, so a restart does not bring every client back in the same millisecond).
    pub fn socket_failed(&mut self, was_ready: bool) {
        self.socket_failures = if was_ready {
            1
        } else {
            self.socket_failures + 1
        };
    }

    /// A long-poll answered.
    pub fn poll_ok(&mut self, now_ms: f64) {
        self.poll_failures = 0;
        self.polling_since_ms.get_or_insert(now_ms);
    }

    pub fn poll_failed(&mut self) {
        self.poll_failures += 1;
    }

    /// What to do next. `jitter` in [0, 1) spreads many clients' retries apart.
    pub fn next(&mut self, now_ms: f64, jitter: f64) -> Attempt {
        if self.socket_failures < Self::SOCKET_FAILURES {
            // The first retry after a drop is immediate-ish; later ones back off.
            let delay_ms = match self.socket_failures {
                0 => 0,
                n => crate::backoff::backoff_ms(n, jitter).min(30_000),
            };
            return Attempt::Socket { delay_ms };
        }
        if let Some(since) = self.polling_since_ms {
            if self.poll_failures == 0 && now_ms - since >= Self::SOCKET_RETRY_MS {
                // Give the socket one more chance; a failure drops straight back to polling.
                self.polling_since_ms = None;
                self.socket_failures = Self::SOCKET_FAILURES - 1;
                return Attempt::Socket { delay_ms: 0 };
            }
        }
        let delay_ms = match self.poll_failures {
            0 => 0,
            n => crate::backoff::backoff_ms(n, jitter).min(30_000),
        };
        Attempt::Poll { delay_ms }
    }

    /// What the status bar shows, given whether a socket is open and ready now.
    pub fn mode(&self, socket_ready: bool) -> LinkMode {
        if socket_ready {
            LinkMode::Live
        } else if self.polling_since_ms.is_some() && self.poll_failures == 0 {
            LinkMode::Polling
        } else {
            LinkMode::Offline
        }
    }
}

#[cfg(test)]
mod tests;
