//! Tessera's client runtime: the data layer that lives once per page, in the shell, and once in
//! the service worker. Micro-apps never link it; they reach it through the shell's host
//! services (lifecycle ABI 2, `tessera_contract::host`).
//!
//! Plain Rust with native unit tests: the outbox's state machine (`outbox`), the read-through
//! cache's rules (`read_through`), the service worker's cache policy (`cache_policy`) and the
//! status bar's connectivity rules (`connectivity`), the page's memory of query answers
//! (`query_memory`), JSON text read by the browser's parser where there is one (`json`) and its one request per query at a time (`query_flights`). Behind the `browser` feature: the IndexedDB
//! stores (`outbox_store`, `response_store`, `session_store`), the replay (`replay`), a page's
//! side of the outbox (`outbox_client`), the BFF client (`bff_client`) and the outbox's records
//! read without serde (`js_forms`); in the service worker
//! only, the BFF's regions (`regional`).

pub mod cache_policy;
pub mod connectivity;
pub mod json;
pub mod outbox;
pub mod query_flights;
pub mod query_memory;
pub mod read_through;

#[cfg(feature = "browser")]
pub mod bff_client;
#[cfg(feature = "browser")]
mod bff_fetch;
#[cfg(feature = "browser")]
pub mod js_forms;
#[cfg(feature = "browser")]
pub mod js_value;
#[cfg(feature = "browser")]
pub mod outbox_client;
#[cfg(feature = "browser")]
pub mod outbox_handoff;
#[cfg(feature = "browser")]
pub mod outbox_journal;
#[cfg(feature = "browser")]
pub mod outbox_store;
#[cfg(feature = "worker")]
pub mod regional;
#[cfg(feature = "browser")]
pub mod replay;
#[cfg(feature = "browser")]
pub mod response_store;
#[cfg(feature = "browser")]
pub mod session_store;
#[cfg(feature = "browser")]
pub mod write_through;
