//! The app SDK: everything a Tessera micro-app links, and nothing else.
//!
//! - [`micro_app!`] exports the lifecycle functions (`abi`, `bootstrap`, `mount`, `unmount`,
//!   `update`) so a team writes only its views;
//! - [`dom`]: views without a framework, for apps small enough to update their DOM by hand;
//! - [`bus`]: publish and subscribe on the page's event bus (`window` CustomEvents);
//! - [`location`]: the current path, its changes, and navigating;
//! - [`Reader`]: a view's reads of its data, one at a time, the newest answer shown;
//! - [`host`]: the shell's services (queries, commands through the outbox, parcels), called
//!   across the JS boundary through `props.host` (lifecycle ABI 2);
//! - [`js`] (the `tessera-wire` crate): props, answers and payloads read from plain JS values
//!   ([`FromJs`], [`from_js!`]) and command bodies written as them ([`ToJs`]), without serde.
//!
//! The data layer (outbox, replay, IndexedDB, fetch, live connection) lives once, in the
//! shell; an app pays only for its views and these thin calls. The contract's types are
//! re-exported, so an app depends on this crate alone.

mod app;
pub mod bus;
pub mod dom;
pub mod host;
mod kept;
pub mod location;
mod reader;
pub mod time;

pub use app::{parse_props, Navigation, Params, Props};
pub use bus::{on_live, publish, subscribe, Envelope, Listener, LiveEvent};
pub use host::{Bff, CommandSpec, Edit, Host, Overlay};
pub use kept::{keep, Kept};
pub use location::{current_path, navigate, on_location_change};
pub use reader::Reader;
pub use tessera_contract::overlay::{Marked, PENDING_FIELD};
pub use tessera_contract::{bff, lifecycle, routing, rum, sync, AppStatus, Session, ABI_VERSION};
pub use tessera_wire as js;
pub use tessera_wire::{from_js, DecodeError, FromJs, ToJs};
pub use time::as_of_notice;

/// What `micro_app!` expands to in the app's crate; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_family = "wasm")]
    pub use talc;
}

/// A fresh random UUID (`crypto.randomUUID()`), e.g. for an id the client chooses. Outside a
/// secure context (plain http on another host) browsers lack it: then a time-and-random id.
pub fn new_uuid() -> String {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).ok();
    crypto
        .and_then(|c| {
            let f = js_sys::Reflect::get(&c, &"randomUUID".into()).ok()?;
            js_sys::Function::from(f).call0(&c).ok()?.as_string()
        })
        .unwrap_or_else(bus::new_id)
}
