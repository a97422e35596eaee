//! Lifecycle ABI 2's host services: the shell hands every app `props.host`, a JS object whose
//! functions run in the shell (one data layer for all apps), and these are the shapes that
//! cross the JS boundary. README "Lifecycle ABI" documents them for apps in any language.
//!
//! - `host.version`: the host API's version ([`HOST_VERSION`]);
//! - `host.query(path)` → `{data, freshness: {asOfMs, fromCache}}`: a site path read through the
//!   shell's cache and worker, with the user's waiting commands on top;
//! - `host.command(`[`CommandRequest`]`)` → [`Queued`]: saved in the outbox, sent when possible;
//! - `host.session()` → `{userName, roles}` (never the token: the shell sends it);
//! - `host.onLive(callback)` / `host.onSession(callback)` / `host.onOutbox(callback)` → a
//!   function that unsubscribes (`onOutbox` gets the outbox's summary each time a command is
//!   queued, sent, confirmed or refused: a view of data that commands change reads it again,
//!   so a confirmed command stops showing as waiting even if its live event came first);
//! - `host.navigate(path)`, `host.mountParcel(app, element, data)`,
//!   `host.unmountParcel(app, element)`.
//!
//! A failed call rejects with an `Error` whose `kind` is one of [`ErrorKind`]'s names and, for
//! `problem`, whose `problem` is the server's problem document.

use crate::bff::BffError;
use crate::overlay::Overlay;
use crate::sync::Problem;
use serde::{Deserialize, Serialize};

/// Where the host object sits in an app's props.
pub const HOST_FIELD: &str = "host";
/// The version of the host object's API; ABI 2 apps get at least this one.
pub const HOST_VERSION: u32 = 2;

/// Whether `path` names a resource of this site (`/api/cart?x=1`): the shell sends the user's
/// token with every host call, so it refuses anything that could leave the origin (`//host/x`,
/// `https://…`, a relative path the page's URL would resolve).
pub fn is_site_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// A command as an app hands it to `host.command`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandRequest {
    /// What to `PUT` to: a site path (`/api/cart/items/pho-corner/pho-bo`).
    pub path: String,
    /// The JSON body.
    pub body: serde_json::Value,
    /// The entity it changes (`cart`, `menu-item:pho-corner/pho-bo`): commands on one entity
    /// are sent in order. The shell scopes it to the signed-in user.
    pub entity: String,
    /// The entity version the change was based on (`If-Match`).
    #[serde(default)]
    pub base_version: Option<i64>,
    /// What the user did, in their words, for the outbox view.
    #[serde(default)]
    pub label: String,
    /// How the command shows in query answers until the server confirms it (their `query` is
    /// a site path like `path`).
    #[serde(default)]
    pub overlays: Vec<Overlay>,
}

/// What `host.command` answers once the command is saved on the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    /// Its place in the outbox.
    pub id: u64,
    /// The `Idempotency-Key` every send of it carries.
    pub idempotency_key: String,
}

/// How a failed host call says what went wrong (`error.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No HTTP answer (offline, server down).
    Network,
    /// An error status; `error.problem` holds the problem document.
    Problem,
    /// An answer or a payload that does not have the expected shape.
    Decode,
    /// The device could not save a command.
    Storage,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Network => "network",
            ErrorKind::Problem => "problem",
            ErrorKind::Decode => "decode",
            ErrorKind::Storage => "storage",
        }
    }

    /// A kind from its name; anything unknown (a newer shell's kind) counts as a network
    /// failure, the one an app already retries.
    pub fn parse(name: Option<&str>) -> ErrorKind {
        match name {
            Some("problem") => ErrorKind::Problem,
            Some("decode") => ErrorKind::Decode,
            Some("storage") => ErrorKind::Storage,
            _ => ErrorKind::Network,
        }
    }

    pub fn of(e: &BffError) -> ErrorKind {
        match e {
            BffError::Network(_) => ErrorKind::Network,
            BffError::Problem(_) => ErrorKind::Problem,
            BffError::Decode(_) => ErrorKind::Decode,
            BffError::Storage(_) => ErrorKind::Storage,
        }
    }

    /// The app's side: the error a rejection with this kind, message and problem stands for.
    /// A `problem` without a readable document keeps the message as its title.
    pub fn error(self, message: String, problem: Option<Problem>) -> BffError {
        match self {
            ErrorKind::Network => BffError::Network(message),
            ErrorKind::Decode => BffError::Decode(message),
            ErrorKind::Storage => BffError::Storage(message),
            ErrorKind::Problem => BffError::Problem(Box::new(problem.unwrap_or(Problem {
                kind: "about:blank".into(),
                title: message,
                status: 0,
                detail: None,
                errors: Vec::new(),
                current: None,
            }))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_cross_the_boundary_and_come_back_the_same() {
        let problem = Problem {
            kind: "https://tessera.dev/problems/stale-version".into(),
            title: "Stale version".into(),
            status: 412,
            detail: Some("the cart is at version 4".into()),
            errors: Vec::new(),
            current: Some(json!({"id": "cart", "version": 4})),
        };
        let all = [
            BffError::Network("offline".into()),
            BffError::Decode("bad".into()),
            BffError::Storage("full".into()),
            BffError::Problem(Box::new(problem.clone())),
        ];
        for e in all {
            let kind = ErrorKind::of(&e);
            let doc = match &e {
                BffError::Problem(p) => Some((**p).clone()),
                _ => None,
            };
            let message = match &e {
                BffError::Network(m) | BffError::Decode(m) | BffError::Storage(m) => m.clone(),
                BffError::Problem(p) => p.title.clone(),
            };
            assert_eq!(ErrorKind::parse(Some(kind.as_str())).error(message, doc), e);
        }
        assert_eq!(
            ErrorKind::parse(Some("from-the-future")),
            ErrorKind::Network
        );
        let bare = ErrorKind::Problem.error("HTTP 500".into(), None);
        assert_eq!(bare.to_string(), "HTTP 500");
    }

    #[test]
    fn only_paths_of_this_site_are_site_paths() {
        for ok in ["/api/cart", "/api/restaurants?limit=5", "/"] {
            assert!(is_site_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example/x",
            "https://evil.example/",
            "api/cart",
            "",
            "/\\evil.example",
        ] {
            assert!(!is_site_path(bad), "{bad}");
        }
    }

    #[test]
    fn command_requests_default_what_apps_may_leave_out() {
        let r: CommandRequest =
            serde_json::from_value(json!({"path": "/api/x", "body": {"a": 1}, "entity": "x"}))
                .unwrap();
        assert_eq!(r.base_version, None);
        assert!(r.overlays.is_empty() && r.label.is_empty());
        let bad = serde_json::from_value::<CommandRequest>(json!({"path": "/api/x"}));
        assert!(bad.unwrap_err().to_string().contains("body"));
    }
}
