//! Reading BFF answers the same way everywhere: a success body as its JSON value, anything else
//! as a typed [`BffError`] carrying the server's problem document. The fetch itself is browser
//! glue (the client runtime's `bff_client`); this part is plain Rust.

use crate::sync::{Problem, PROBLEM_JSON};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum BffError {
    /// No HTTP answer at all (offline, server down, aborted).
    Network(String),
    /// An error status, with the server's problem document (or one made from the status when
    /// the body was not a problem document, e.g. from a proxy).
    Problem(Box<Problem>),
    /// A success status whose body is not what the contract says.
    Decode(String),
    /// A command could not be saved on this device (storage full or unavailable).
    Storage(String),
}

impl BffError {
    pub fn status(&self) -> Option<u16> {
        match self {
            BffError::Problem(p) => Some(p.status),
            _ => None,
        }
    }

    /// The entity as the server has it now, sent with a `412` when a command carried a stale
    /// version.
    pub fn current<T: DeserializeOwned>(&self) -> Option<T> {
        match self {
            BffError::Problem(p) if p.status == 412 => {
                serde_json::from_value(p.current.clone()?).ok()
            }
            _ => None,
        }
    }
}

impl fmt::Display for BffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BffError::Network(e) => write!(f, "the server cannot be reached ({e})"),
            BffError::Decode(e) => write!(f, "the server sent an unexpected answer ({e})"),
            BffError::Storage(e) => write!(f, "the change could not be saved on this device: {e}"),
            BffError::Problem(p) => {
                write!(f, "{}", p.title)?;
                if let Some(detail) = &p.detail {
                    write!(f, ": {detail}")?;
                }
                for e in &p.errors {
                    let field = e
                        .pointer
                        .as_ref()
                        .or(e.parameter.as_ref())
                        .or(e.header.as_ref());
                    match field {
                        Some(field) => write!(f, "; {field}: {}", e.detail)?,
                        None => write!(f, "; {}", e.detail)?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for BffError {}

/// Turns an HTTP answer into its JSON body or a typed error. `parse` reads JSON text: the
/// client runtime hands the browser's own parser in, so the page and the worker link no
/// second one; native code hands serde_json's.
pub fn decode(
    url: &str,
    status: u16,
    content_type: &str,
    body: &str,
    parse: impl Fn(&str) -> Result<Value, String>,
) -> Result<Value, BffError> {
    if (200..300).contains(&status) {
        return parse(body).map_err(|e| BffError::Decode(format!("{url}: {e}")));
    }
    let parsed = content_type
        .starts_with(PROBLEM_JSON)
        .then(|| parse(body).ok())
        .flatten()
        .and_then(|v| Problem::read(&v));
    Err(BffError::Problem(Box::new(
        parsed.unwrap_or_else(|| Problem::of_status(url, status)),
    )))
}

/// Bus topic and event type the BFF client announces each query's data with; `data` is a
/// [`DataLoaded`]. The status bar reads it to tell the user how old the data on screen is.
pub const DATA_TOPIC: &str = "data";
pub const DATA_LOADED: &str = "data.loaded";

/// Where a query's answer came from and how old it is, from the service worker's
/// `x-tessera-source` and `x-tessera-as-of` headers (`read_through`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freshness {
    /// When the server last sent or confirmed the data (Unix ms); `None` without a worker.
    pub as_of_ms: Option<u64>,
    /// Answered from the device's saved copy, not by the server just now.
    pub from_cache: bool,
}

impl Freshness {
    pub fn from_headers(as_of: Option<&str>, source: Option<&str>) -> Freshness {
        Freshness {
            as_of_ms: as_of.and_then(|v| v.trim().parse().ok()),
            from_cache: source.is_some_and(|s| s.trim() == "cache"),
        }
    }

    /// What an app shows above data from the saved copy (`clock` is the as-of time in the
    /// user's format); nothing for live data.
    pub fn notice(&self, clock: &str, now_ms: u64) -> Option<String> {
        if !self.from_cache {
            return None;
        }
        Some(match self.as_of_ms {
            Some(t) => format!(
                "Saved copy · as of {clock} ({})",
                age(now_ms.saturating_sub(t))
            ),
            None => "Saved copy".to_string(),
        })
    }
}

/// How old something is, as people say it: "just now", "40 s ago", "3 min ago", "2 h ago",
/// "3 days ago".
pub fn age(elapsed_ms: u64) -> String {
    let s = elapsed_ms / 1000;
    match s {
        0..=4 => "just now".into(),
        5..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => {
            let days = s / 86_400;
            format!("{days} day{} ago", if days == 1 { "" } else { "s" })
        }
    }
}

/// One query's data as announced on the bus.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataLoaded {
    /// The URL path and query that was read.
    pub path: String,
    pub freshness: Freshness,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Thing {
        id: String,
        version: i64,
    }

    fn serde_parse(text: &str) -> Result<Value, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn success_bodies_are_their_json() {
        let v = decode(
            "/api/x",
            200,
            "application/json",
            r#"{"id":"a","version":3}"#,
            serde_parse,
        )
        .unwrap();
        assert_eq!(v, json!({"id": "a", "version": 3}));
        let err = decode("/api/x", 200, "application/json", "{", serde_parse).unwrap_err();
        assert!(
            matches!(&err, BffError::Decode(m) if m.starts_with("/api/x: EOF")),
            "{err:?}"
        );
    }

    #[test]
    fn problems_keep_their_fields_and_a_412_carries_the_current_entity() {
        let body = json!({
            "type": "https://tessera.dev/problems/stale-version", "title": "Stale version", "status": 412,
            "detail": "the cart is at version 4", "current": {"id": "cart", "version": 4}
        });
        let err = decode(
            "/api/cart",
            412,
            "application/problem+json",
            &body.to_string(),
            serde_parse,
        )
        .unwrap_err();
        assert_eq!(err.status(), Some(412));
        assert_eq!(
            err.current::<Thing>(),
            Some(Thing {
                id: "cart".into(),
                version: 4
            })
        );
        assert_eq!(err.to_string(), "Stale version: the cart is at version 4");

        let body = json!({"type": "about:blank", "title": "Invalid body", "status": 422,
            "errors": [{"pointer": "/quantity", "detail": "must be at most 99"}]});
        let err = decode(
            "/api/cart",
            422,
            "application/problem+json; charset=utf-8",
            &body.to_string(),
            serde_parse,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid body; /quantity: must be at most 99"
        );
        assert_eq!(err.current::<Thing>(), None);
    }

    #[test]
    fn a_problem_reads_as_serde_reads_it() {
        let docs = [
            json!({"type": "t", "title": "Stale", "status": 412, "detail": "d",
                "current": {"id": "cart", "version": 4}}),
            json!({"type": "t", "title": "Invalid", "status": 422, "errors": [
                {"pointer": "/quantity", "detail": "too many"},
                {"header": "If-Match", "detail": "missing"}]}),
            json!({"type": "t", "title": "Gone", "status": 410, "current": null, "detail": null}),
            json!({"title": "No type", "status": 400}),
            json!({"type": "t", "title": "Status as text", "status": "400"}),
            json!({"type": "t", "title": "Status too big", "status": 70000}),
        ];
        for doc in docs {
            let theirs = serde_json::from_value::<crate::sync::Problem>(doc.clone()).ok();
            assert_eq!(crate::sync::Problem::read(&doc), theirs, "{doc}");
        }
    }

    #[test]
    fn an_error_without_a_problem_document_still_names_status_and_url() {
        let err = decode(
            "/api/cart",
            502,
            "text/html",
            "<h1>Bad gateway</h1>",
            serde_parse,
        )
        .unwrap_err();
        assert_eq!(err.status(), Some(502));
        assert_eq!(err.to_string(), "HTTP 502 from /api/cart");
    }

    #[test]
    fn saved_copies_say_how_old_they_are_and_live_data_says_nothing() {
        let saved = Freshness::from_headers(Some("1000000"), Some("cache"));
        assert_eq!(saved.as_of_ms, Some(1_000_000));
        assert_eq!(
            saved.notice("14:03", 1_000_000 + 300_000).as_deref(),
            Some("Saved copy · as of 14:03 (5 min ago)")
        );
        let live = Freshness::from_headers(Some("1000000"), Some("network"));
        assert_eq!(live.notice("14:03", 1_000_000), None);
        let no_worker = Freshness::from_headers(None, None);
        assert_eq!(no_worker, Freshness::default());
        assert_eq!(
            Freshness::from_headers(Some("junk"), Some("cache"))
                .notice("", 0)
                .as_deref(),
            Some("Saved copy")
        );
    }
}
