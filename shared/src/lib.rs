//! Tessera's contracts, shared by the shell, the micro-apps, the deployer and the BFF.
//!
//! Everything outside the `browser` module is plain Rust with native unit tests: manifest
//! types and validation, the merge into published manifests, route matching, the app status
//! machine, lifecycle props, the event-bus envelope, the BFF sync protocol's types and the
//! decoding of BFF answers, the service worker's cache policy, and the outbox's
//! rules for offline commands.

pub mod auth;
pub mod bff;
pub mod bus;
pub mod cache_policy;
pub mod cohort;
pub mod connectivity;
pub mod lifecycle;
pub mod live;
pub mod manifest;
pub mod outbox;
pub mod overlay;
pub mod publish;
pub mod read_through;
pub mod routing;
pub mod sync;

#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "browser")]
pub mod js_value;
#[cfg(feature = "browser")]
pub mod outbox_client;
#[cfg(feature = "browser")]
pub mod outbox_store;
#[cfg(feature = "browser")]
pub mod replay;
#[cfg(feature = "browser")]
pub mod response_store;
#[cfg(feature = "browser")]
pub mod session_store;

pub use lifecycle::{AppStatus, Props, Session, ABI_VERSION, SUPPORTED_ABIS};
pub use manifest::{ManifestError, MfeManifest};
