//! The read-through cache's rules for BFF queries, apart from where records live (IndexedDB in
//! the browser): what `Cache-Control` allows, when a stored answer is served as is, served while
//! it is revalidated, or must be fetched, and what an offline client gets when nothing is stored.
//!
//! Records are kept per caller: on a shared device one user's cart must never answer another's
//! query, so the key holds the caller's subject (never the token itself).

use serde::{Deserialize, Serialize};
use std::fmt;
use tessera_contract::sync::Problem;

/// Response header telling the page when the server last confirmed the data (Unix ms).
pub const AS_OF_HEADER: &str = "x-tessera-as-of";
/// Response header telling the page where the answer came from: `network` or `cache`.
pub const SOURCE_HEADER: &str = "x-tessera-source";
/// On an answer the worker could not keep for offline use, why: `quota-exceeded` when the
/// origin's storage is full, `store-error` for anything else. The answer itself is good.
pub const NOT_SAVED_HEADER: &str = "x-tessera-not-saved";
/// Stored record layout; a record of another version is treated as corrupt and dropped.
pub const RECORD_VERSION: u32 = 1;

/// What a response's `Cache-Control` allows a private cache to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachePolicy {
    /// Never store it.
    pub no_store: bool,
    /// Store it, but revalidate before every use while online.
    pub no_cache: bool,
    /// Seconds it stays fresh after it was confirmed.
    pub max_age: Option<u64>,
    /// Seconds past freshness it may still be served while being revalidated.
    pub stale_while_revalidate: Option<u64>,
}

impl CachePolicy {
    /// Parses a `Cache-Control` value; unknown directives are ignored, as RFC 9111 asks. A
    /// missing header allows storing but gives no freshness: every online use revalidates.
    pub fn parse(header: Option<&str>) -> CachePolicy {
        let mut p = CachePolicy::default();
        for directive in header.unwrap_or("").split(',') {
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let seconds = || value.and_then(|v| v.parse::<u64>().ok());
            match name.to_ascii_lowercase().as_str() {
                "no-store" => p.no_store = true,
                "no-cache" => p.no_cache = true,
                "max-age" => p.max_age = seconds().or(Some(0)),
                "stale-while-revalidate" => p.stale_while_revalidate = seconds(),
                _ => {}
            }
        }
        p
    }
}

/// One stored answer to a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedResponse {
    pub v: u32,
    pub key: String,
    pub status: u16,
    pub content_type: String,
    pub etag: Option<String>,
    pub body: String,
    /// When the server last sent or confirmed (`304`) this body, Unix ms: the data's "as of".
    pub confirmed_at_ms: u64,
    pub policy: CachePolicy,
}

/// A stored record that cannot be used; the caller drops it and carries on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cached record {:?} is unusable: {}",
            self.key, self.problem
        )
    }
}

impl std::error::Error for CorruptRecord {}

impl CachedResponse {
    /// Reads a stored record, refusing anything that is not a whole record of this layout
    /// stored under `key`.
    pub fn decode(key: &str, text: &str) -> Result<CachedResponse, CorruptRecord> {
        let corrupt = |problem: String| CorruptRecord {
            key: key.to_string(),
            problem,
        };
        let r: CachedResponse = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        if r.v != RECORD_VERSION {
            return Err(corrupt(format!(
                "layout version {} (this code reads {RECORD_VERSION})",
                r.v
            )));
        }
        if r.key != key {
            return Err(corrupt(format!("it holds the answer for {:?}", r.key)));
        }
        Ok(r)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a record serialises")
    }

    fn age_s(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.confirmed_at_ms) / 1000
    }
}

/// The key of a query's record: method, caller and the path with its query string.
pub fn cache_key(subject: Option<&str>, path_and_query: &str) -> String {
    format!("GET {} {path_and_query}", subject.unwrap_or("-"))
}

/// Whether an answer may be stored at all: a successful `GET` answer the server did not mark
/// `no-store`.
pub fn storable(status: u16, policy: &CachePolicy) -> bool {
    status == 200 && !policy.no_store
}

/// What to do with a query while online.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The stored answer is fresh: serve it, no request.
    Serve,
    /// Serve the stored answer now and revalidate it in the background.
    ServeAndRevalidate { if_none_match: Option<String> },
    /// Ask the server and wait (conditionally, when there is an ETag to offer).
    Fetch { if_none_match: Option<String> },
}

pub fn decide(stored: Option<&CachedResponse>, now_ms: u64) -> Decision {
    let Some(r) = stored else {
        return Decision::Fetch {
            if_none_match: None,
        };
    };
    let if_none_match = r.etag.clone();
    let age = r.age_s(now_ms);
    let max_age = r.policy.max_age.unwrap_or(0);
    if !r.policy.no_cache && age < max_age {
        return Decision::Serve;
    }
    let grace = r.policy.stale_while_revalidate.unwrap_or(0);
    if !r.policy.no_cache && age < max_age.saturating_add(grace) {
        return Decision::ServeAndRevalidate { if_none_match };
    }
    Decision::Fetch { if_none_match }
}

/// The answer for a query that cannot reach the server: the stored one, whatever its age, or
/// a `503` problem saying the data was never loaded while online.
pub fn offline_answer(
    stored: Option<&CachedResponse>,
    path: &str,
) -> Result<CachedResponse, Box<Problem>> {
    stored.cloned().ok_or_else(|| {
        Box::new(Problem {
            kind: "/problems/not-available-offline".into(),
            title: "Not available offline".into(),
            status: 503,
            detail: Some(format!(
                "{path} was never loaded on this device while online; it will load when the connection returns"
            )),
            errors: Vec::new(),
            current: None,
        })
    })
}

/// What the server said to a query, as far as the cache cares.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    pub status: u16,
    pub cache_control: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// What to do with the server's answer to a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterAnswer {
    /// A new body to keep (and pass on, as of `confirmed_at_ms`).
    Store(CachedResponse),
    /// `304` to the cache's own `If-None-Match`: the stored body still holds, as of now. Keep
    /// and serve this updated record.
    Confirmed(CachedResponse),
    /// The server failed (5xx): the stored answer, however old, beats an error page.
    ServeStored,
    /// Pass the answer on and drop the stored one: the data is gone for this caller (`404`,
    /// `410`) or the server no longer lets it be stored.
    PassAndForget,
    /// Pass the answer on; the stored one stays (`401`, `403`, validation problems…).
    Pass,
}

/// Decides what the cache does with `answer` to the query under `key`; `body` is only read
/// when it is to be stored.
pub fn after_answer(
    key: &str,
    stored: Option<&CachedResponse>,
    answer: Answer<'_>,
    body: impl FnOnce() -> String,
    now_ms: u64,
) -> AfterAnswer {
    let policy = CachePolicy::parse(answer.cache_control);
    match answer.status {
        304 => match stored {
            Some(r) => AfterAnswer::Confirmed(CachedResponse {
                confirmed_at_ms: now_ms,
                policy,
                etag: answer.etag.map(str::to_string).or_else(|| r.etag.clone()),
                ..r.clone()
            }),
            None => AfterAnswer::Pass,
        },
        status if storable(status, &policy) => AfterAnswer::Store(CachedResponse {
            v: RECORD_VERSION,
            key: key.to_string(),
            status,
            content_type: answer
                .content_type
                .unwrap_or("application/json")
                .to_string(),
            etag: answer.etag.map(str::to_string),
            body: body(),
            confirmed_at_ms: now_ms,
            policy,
        }),
        200 | 404 | 410 => AfterAnswer::PassAndForget,
        status if status >= 500 && stored.is_some() => AfterAnswer::ServeStored,
        _ => AfterAnswer::Pass,
    }
}

/// The caller's subject from an `Authorization: Bearer …` value, to key their records: the
/// development token `dev:<subject>:<roles>`, or a JWT's `sub` claim. The token is not
/// verified here (the BFF does that); a token that names no subject keys as anonymous.
pub fn bearer_subject(authorization: Option<&str>) -> Option<String> {
    token_subject(authorization?.trim().strip_prefix("Bearer ")?)
}

/// The subject a bearer token names: the development token's, or a JWT's `sub` claim.
pub fn token_subject(token: &str) -> Option<String> {
    tessera_contract::auth::token_subject(token, |payload| {
        let claims = crate::json::parse(payload).ok()?;
        claims.get("sub")?.as_str().map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(policy: &str, confirmed_at_ms: u64) -> CachedResponse {
        CachedResponse {
            v: RECORD_VERSION,
            key: cache_key(Some("alice"), "/api/cart"),
            status: 200,
            content_type: "application/json".into(),
            etag: Some("\"3\"".into()),
            body: "{}".into(),
            confirmed_at_ms,
            policy: CachePolicy::parse(Some(policy)),
        }
    }

    #[test]
    fn cache_control_directives_parse_as_rfc_9111_has_them() {
        let p = CachePolicy::parse(Some(
            "private, Max-Age=60, stale-while-revalidate=\"30\", x-unknown=1",
        ));
        assert_eq!(
            p,
            CachePolicy {
                no_store: false,
                no_cache: false,
                max_age: Some(60),
                stale_while_revalidate: Some(30)
            }
        );
        assert!(CachePolicy::parse(Some("no-store")).no_store);
        assert!(CachePolicy::parse(Some("private, no-cache")).no_cache);
        assert_eq!(
            CachePolicy::parse(Some("max-age=junk")).max_age,
            Some(0),
            "an invalid max-age is stale"
        );
        assert_eq!(CachePolicy::parse(None), CachePolicy::default());
    }

    #[test]
    fn fresh_answers_are_served_stale_ones_revalidated_old_ones_fetched() {
        let t0 = 1_000_000;
        let r = record("max-age=60, stale-while-revalidate=30", t0);
        assert_eq!(decide(Some(&r), t0 + 59_000), Decision::Serve);
        assert_eq!(
            decide(Some(&r), t0 + 60_000),
            Decision::ServeAndRevalidate {
                if_none_match: Some("\"3\"".into())
            }
        );
        assert_eq!(
            decide(Some(&r), t0 + 90_000),
            Decision::Fetch {
                if_none_match: Some("\"3\"".into())
            }
        );
        assert_eq!(
            decide(None, t0),
            Decision::Fetch {
                if_none_match: None
            }
        );
        // The BFF's `no-cache`: stored for offline use, but always revalidated online.
        let r = record("private, no-cache", t0);
        assert_eq!(
            decide(Some(&r), t0),
            Decision::Fetch {
                if_none_match: Some("\"3\"".into())
            }
        );
        // A clock that went backwards does not make data fresher than fresh.
        assert_eq!(
            decide(Some(&record("max-age=10", t0)), t0 - 5_000),
            Decision::Serve
        );
    }

    #[test]
    fn only_successful_storable_answers_are_kept() {
        assert!(storable(
            200,
            &CachePolicy::parse(Some("private, no-cache"))
        ));
        assert!(!storable(200, &CachePolicy::parse(Some("no-store"))));
        assert!(!storable(404, &CachePolicy::default()));
        assert!(!storable(304, &CachePolicy::default()));
    }

    #[test]
    fn offline_without_a_record_is_a_clear_problem_not_a_hang() {
        let r = record("no-cache", 5);
        assert_eq!(offline_answer(Some(&r), "/api/cart").unwrap(), r);
        let p = offline_answer(None, "/api/orders").unwrap_err();
        assert_eq!((p.status, p.title.as_str()), (503, "Not available offline"));
        assert!(p.detail.unwrap().contains("/api/orders"));
    }

    #[test]
    fn records_are_per_caller_and_corrupt_ones_are_named() {
        assert_ne!(
            cache_key(Some("alice"), "/api/cart"),
            cache_key(Some("bob"), "/api/cart")
        );
        assert_eq!(
            cache_key(None, "/api/restaurants?limit=20"),
            "GET - /api/restaurants?limit=20"
        );
        let r = record("max-age=1", 7);
        let key = r.key.clone();
        assert_eq!(CachedResponse::decode(&key, &r.encode()).unwrap(), r);
        let err = CachedResponse::decode(&key, "{\"v\":1,\"key\":").unwrap_err();
        assert!(err.to_string().contains("GET alice /api/cart"), "{err}");
        let mut other = r.clone();
        other.key = cache_key(Some("bob"), "/api/cart");
        assert!(CachedResponse::decode(&key, &other.encode())
            .unwrap_err()
            .problem
            .contains("bob"));
        let mut future = r;
        future.v = 2;
        assert!(CachedResponse::decode(&key, &future.encode()).is_err());
    }

    fn answer(status: u16, cache_control: &'static str) -> Answer<'static> {
        Answer {
            status,
            cache_control: Some(cache_control),
            etag: Some("\"4\""),
            content_type: Some("application/json"),
        }
    }

    #[test]
    fn answers_are_stored_confirmed_or_forgotten_by_status() {
        let r = record("private, no-cache", 5);
        let key = r.key.clone();
        let body = || "{\"v\":4}".to_string();
        match after_answer(&key, Some(&r), answer(200, "private, no-cache"), body, 9) {
            AfterAnswer::Store(n) => {
                assert_eq!((n.body.as_str(), n.confirmed_at_ms), ("{\"v\":4}", 9));
                assert_eq!(n.etag.as_deref(), Some("\"4\""));
            }
            other => panic!("{other:?}"),
        }
        match after_answer(&key, Some(&r), answer(304, "max-age=5"), body, 9) {
            AfterAnswer::Confirmed(n) => {
                assert_eq!((n.body.as_str(), n.confirmed_at_ms), ("{}", 9));
                assert_eq!(n.policy.max_age, Some(5), "the 304's Cache-Control wins");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            after_answer(&key, None, answer(304, "no-cache"), body, 9),
            AfterAnswer::Pass
        );
        assert_eq!(
            after_answer(&key, Some(&r), answer(200, "no-store"), body, 9),
            AfterAnswer::PassAndForget
        );
        assert_eq!(
            after_answer(&key, Some(&r), answer(404, "no-store"), body, 9),
            AfterAnswer::PassAndForget
        );
        assert_eq!(
            after_answer(&key, Some(&r), answer(503, "no-store"), body, 9),
            AfterAnswer::ServeStored
        );
        assert_eq!(
            after_answer(&key, None, answer(503, "no-store"), body, 9),
            AfterAnswer::Pass
        );
        assert_eq!(
            after_answer(&key, Some(&r), answer(401, "no-store"), body, 9),
            AfterAnswer::Pass
        );
    }

    #[test]
    fn the_subject_comes_from_a_dev_token_or_a_jwt_sub() {
        assert_eq!(
            bearer_subject(Some("Bearer dev:alice:customer")).as_deref(),
            Some("alice")
        );
        // {"alg":"none"}.{"sub":"bob-1","roles":["admin"]}.sig
        let jwt = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2ItMSIsInJvbGVzIjpbImFkbWluIl19.c2ln";
        assert_eq!(bearer_subject(Some(jwt)).as_deref(), Some("bob-1"));
        assert_eq!(bearer_subject(Some("Bearer dev::customer")), None);
        assert_eq!(bearer_subject(Some("Bearer not.base64!.x")), None);
        assert_eq!(bearer_subject(Some("Basic YTpi")), None);
        assert_eq!(bearer_subject(None), None);
    }
}
