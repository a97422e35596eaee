//! The client's calls to the BFF, made once for every app by the shell (lifecycle ABI 2's
//! host services): queries with the session's bearer token, read through the service worker,
//! with the user's waiting commands on top (read-your-writes); commands into the outbox.

use crate::query_flights::{Board, Boarded};
use crate::query_memory::{Asked, QueryMemory};
use crate::read_through::{token_subject, AS_OF_HEADER, SOURCE_HEADER};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_contract::bff::{decode, BffError, Freshness};
use tessera_contract::host::CommandRequest;
use tessera_contract::Session;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A server's answer as it came, and the outbox when it was asked for (its overlay): what
/// memory keeps, and what the callers of one request share.
#[derive(Clone)]
struct Remembered {
    value: Value,
    freshness: Freshness,
    before: Option<crate::outbox::Outbox>,
}

/// A server's answer shared by the callers of one request ([`Board`]).
type Flight = Shared<LocalBoxFuture<'static, Result<Rc<Remembered>, BffError>>>;

thread_local! {
    static MEMORY: RefCell<QueryMemory<Remembered>> = RefCell::new(QueryMemory::default());
    static FROM_MEMORY: Cell<u64> = const { Cell::new(0) };
    static FLIGHTS: RefCell<Board<(String, String), Asked, Flight>> = RefCell::new(Board::default());
    static SHARED: Cell<u64> = const { Cell::new(0) };
    static REQUESTS: Cell<u64> = const { Cell::new(0) };
}

/// The User Timing measure of each query answered from memory (the outbox benchmark reads it).
pub const MEMORY_MEASURE: &str = "tessera:query-from-memory";

/// How many queries this page answered from memory (for tests and benchmarks).
pub fn answered_from_memory() -> u64 {
    FROM_MEMORY.with(|n| n.get())
}

/// How many queries took the answer of a request another caller made (for benchmarks).
pub fn answered_by_shared_request() -> u64 {
    SHARED.with(|n| n.get())
}

/// Another caller took the answer of a request on its way (the shell's own sharing of its
/// apps' calls counts here too).
pub fn shared_a_request() {
    SHARED.with(|n| n.set(n.get() + 1));
}

/// How many requests this page's queries made (for benchmarks).
pub fn query_requests() -> u64 {
    REQUESTS.with(|n| n.get())
}

/// The page's live link is up (`true`) or not: online, query answers are remembered only
/// while it is.
pub fn live_link(up: bool) {
    MEMORY.with(|m| m.borrow_mut().set_live(up));
}

/// How many times answers may have changed so far: a request that goes out while this is
/// unchanged answers as currently as a new one would ([`Board`]).
pub fn answers_generation() -> Asked {
    MEMORY.with(|m| m.borrow().asking())
}

/// A live event, an outbox change other than a command queued, or a session change: no
/// remembered answer is current.
pub fn answers_may_have_changed() {
    MEMORY.with(|m| m.borrow_mut().changed());
}

/// One user's view of the BFF.
#[derive(Clone, Debug)]
pub struct Bff {
    token: Option<String>,
    /// Whose commands these are (from the token), so only the user's own waiting commands
    /// show in their answers.
    subject: String,
}

/// A fresh `Idempotency-Key`: a random (version 4) UUID, drawn from the browser's
/// cryptographic generator and never from a counter, so no crash or restore can hand one out
/// twice. `crypto.randomUUID` exists only in secure contexts (https, localhost); elsewhere the
/// same 122 random bits come from `crypto.getRandomValues`.
pub fn new_idempotency_key() -> String {
    let crypto = crate::js_value::field(&js_sys::global(), "crypto");
    crate::js_value::field(&crypto, "randomUUID")
        .dyn_into::<js_sys::Function>()
        .ok()
        .and_then(|f| f.call0(&crypto).ok())
        .and_then(|id| id.as_string())
        .unwrap_or_else(|| uuid_v4(random_bytes(&crypto)))
}

/// 16 bytes from `crypto.getRandomValues` (present in every context that has IndexedDB;
/// `Math.random` only if a browser lacked it, never a fixed value).
fn random_bytes(crypto: &JsValue) -> [u8; 16] {
    let bytes = js_sys::Uint8Array::new_with_length(16);
    let filled = crate::js_value::field(crypto, "getRandomValues")
        .dyn_into::<js_sys::Function>()
        .is_ok_and(|f| f.call1(crypto, &bytes).is_ok());
    let mut out = [0; 16];
    if filled {
        bytes.copy_to(&mut out);
    } else {
        out.iter_mut()
            .for_each(|b| *b = (js_sys::Math::random() * 256.0) as u8);
    }
    out
}

/// RFC 9562's text form of a version 4 UUID made of `bytes`.
fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl Bff {
    pub fn new(session: &Session) -> Bff {
        Bff {
            subject: session
                .id_token
                .as_deref()
                .and_then(token_subject)
                .unwrap_or_default(),
            token: session.id_token.clone(),
        }
    }

    /// `GET url` (a site path), with the user's waiting commands applied to the answer;
    /// while the live link is up or the browser is offline, an answer nothing has changed
    /// since comes from memory ([`QueryMemory`]); otherwise callers share one request
    /// ([`Board`]).
    pub async fn query(&self, url: &str) -> Result<(Value, Freshness), BffError> {
        let started = crate::js_value::now();
        let credential = self.token.as_deref().unwrap_or_default();
        // Offline, a socket can look open for a while: going offline is noticed here first.
        let online = crate::js_value::navigator_online();
        let remembered = MEMORY.with(|m| {
            let mut m = m.borrow_mut();
            m.observe(online);
            m.recall(credential, url).cloned()
        });
        if let Some(Remembered {
            mut value,
            freshness,
            before,
        }) = remembered
        {
            crate::outbox_client::overlay(&self.subject, url, before.as_ref(), &mut value).await;
            FROM_MEMORY.with(|n| n.set(n.get() + 1));
            crate::js_value::measure(MEMORY_MEASURE, started);
            return Ok((value, freshness));
        }
        let key = (credential.to_owned(), url.to_owned());
        let (id, flight) = self.board(&key);
        let fetched = flight.await;
        FLIGHTS.with(|f| f.borrow_mut().landed(&key, id));
        let fetched = fetched?;
        let mut value = fetched.value.clone();
        crate::outbox_client::overlay(&self.subject, url, fetched.before.as_ref(), &mut value)
            .await;
        Ok((value, fetched.freshness))
    }

    /// The request whose answer the caller of `key` takes, and its id.
    fn board(&self, key: &(String, String)) -> (u64, Flight) {
        let now = answers_generation();
        let (id, behind) = match FLIGHTS.with(|f| f.borrow_mut().board(key.clone(), now)) {
            Boarded::Join(id, flight) => {
                shared_a_request();
                return (id, flight);
            }
            Boarded::Launch { id, behind } => (id, behind),
        };
        let (bff, key) = (self.clone(), key.clone());
        let flight = async move {
            if let Some(behind) = behind {
                let _ = behind.await;
            }
            let asked = answers_generation();
            FLIGHTS.with(|f| f.borrow_mut().took_off(&key, id, asked));
            bff.fetch(&key.0, &key.1, asked).await.map(Rc::new)
        }
        .boxed_local()
        .shared();
        FLIGHTS.with(|f| f.borrow_mut().launched(id, flight.clone()));
        (id, flight)
    }

    /// One request for `url`, remembered if it may be ([`QueryMemory::keep`]).
    async fn fetch(
        &self,
        credential: &str,
        url: &str,
        asked: Asked,
    ) -> Result<Remembered, BffError> {
        let online = crate::js_value::navigator_online();
        let (value, freshness, before) = loop {
            // The commands waiting when the request goes out: one the server applies while
            // the answer is on its way is either in the answer or still overlaid, never in
            // neither (which showed the value from before the user's edit for a moment).
            // Read before the request once the outbox is open. Until then (a page's first
            // queries: opening it on a new profile took 100-250 ms) the request goes at once
            // and the outbox is read after (unless there was none); if a command was let go
            // since the request went out, the answer may lack it as well: it goes again.
            let opened = crate::outbox_client::is_open();
            let went_out = js_sys::Date::now() as u64;
            let before = if opened {
                crate::outbox_client::snapshot().await.ok()
            } else {
                None
            };
            REQUESTS.with(|n| n.set(n.get() + 1));
            let (value, freshness) = self.send("GET", url).await?;
            if opened || crate::outbox_client::empty_until_open().await {
                break (value, freshness, before);
            }
            match crate::outbox_client::settled_snapshot().await {
                Ok((_, settled_at))
                    if crate::outbox::may_have_settled_since(settled_at, went_out) =>
                {
                    continue
                }
                Ok((outbox, _)) => break (value, freshness, Some(outbox)),
                Err(_) => break (value, freshness, None),
            }
        };
        let fetched = Remembered {
            value,
            freshness,
            before,
        };
        // Online, a saved copy means the server could not be reached: not current. Offline,
        // the saved copy is all there is until the browser is back.
        if freshness.from_cache != online {
            MEMORY.with(|m| {
                let mut m = m.borrow_mut();
                m.observe(crate::js_value::navigator_online());
                m.keep(asked, credential, url, fetched.clone())
            });
        }
        Ok(fetched)
    }

    /// Queues a command in the outbox and returns once it is saved on this device; it is
    /// sent as soon as the server can be reached, and its result (applied, conflict,
    /// rejection) is the outbox's to report.
    pub async fn command(&self, request: CommandRequest) -> Result<crate::outbox::Entry, BffError> {
        let new = crate::outbox::NewEntry {
            idempotency_key: new_idempotency_key(),
            entity: format!("{}@{}", request.entity, self.subject),
            subject: self.subject.clone(),
            base_version: request.base_version,
            command: crate::outbox::Command {
                method: "PUT".into(),
                path: request.path,
                body: Some(request.body.to_string()),
            },
            label: request.label,
            overlays: request.overlays,
        };
        crate::outbox_client::queue(new)
            .await
            .map_err(|e| BffError::Storage(e.to_string()))
    }

    async fn send(&self, method: &str, url: &str) -> Result<(Value, Freshness), BffError> {
        let network =
            |e: JsValue| BffError::Network(format!("{url}: {}", crate::js_value::error_text(&e)));
        let headers = web_sys::Headers::new().map_err(network)?;
        headers.set("Accept", "application/json").map_err(network)?;
        if let Some(token) = &self.token {
            headers
                .set("Authorization", &format!("Bearer {token}"))
                .map_err(network)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        init.set_headers(&headers);
        let window = web_sys::window().expect("the host's queries run in a page");
        let response: web_sys::Response =
            JsFuture::from(window.fetch_with_str_and_init(url, &init))
                .await
                .map_err(network)?
                .unchecked_into();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let content_type = header("content-type").unwrap_or_default();
        let freshness = Freshness::from_headers(
            header(AS_OF_HEADER).as_deref(),
            header(SOURCE_HEADER).as_deref(),
        );
        let text = JsFuture::from(response.text().map_err(network)?)
            .await
            .map_err(network)?
            .as_string()
            .unwrap_or_default();
        let value = decode(
            url,
            response.status(),
            &content_type,
            &text,
            crate::json::parse,
        )?;
        Ok((value, freshness))
    }
}
