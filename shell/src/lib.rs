//! Tessera's shell: reads the published manifests, renders the layout and navigation mount
//! points, and loads, mounts and unmounts independently built micro-apps as the route changes.
//!
//! This crate is the start module, what `index.html` loads: only what draws the first page.
//! The data layer behind the apps' host services, sign-in sessions, live updates, the status
//! bar and the worker are the platform module's (`shell/platform`), which this one loads after
//! the first page, or at once when that page needs it (`platform`).

mod host;
mod lifecycle;
mod manifests;
mod overrides;
mod parcels;
mod platform;
mod props;
mod registry;
mod router;
mod rum;
mod session;
mod sign_in;
mod view;

use tessera_contract::Session;
use wasm_bindgen::prelude::*;

// The start module reads no query answers (the platform module does, with std's allocator:
// talc there made `host.query`'s p99 worse); here talc is the smaller allocator.
tessera_sdk::small_allocator!();

#[wasm_bindgen(start)]
pub fn start() {
    // First, so it sees the first page's loads (a few listeners; no request until later).
    rum::start();
    overrides::init();
    wasm_bindgen_futures::spawn_local(async {
        let (manifests, session) =
            futures_util::future::join(manifests::load(), first_session()).await;
        session::init(session);
        rum::use_token(session::current().id_token);
        react_to_session_changes();
        match manifests {
            Ok(m) => {
                let points = m
                    .mount_points
                    .mount_points
                    .iter()
                    .map(|mp| mp.name.clone())
                    .collect();
                view::mount_chrome(points);
                registry::install(m);
                parcels::install();
                host::install();
                router::start();
                let _ = js_sys::Reflect::set(
                    &shell_common::debug::object(),
                    &"ready".into(),
                    &true.into(),
                );
                router::after_first_page(platform::after_first_page);
            }
            Err(e) => view::fatal(&e),
        }
    });
}

/// The session the page starts with: the page's own reading where it has one, else (back from
/// the provider) the platform module's, which then starts at once. It starts at once too
/// when this browser may hold commands in the outbox (see `platform`).
async fn first_session() -> Session {
    platform::check_outbox_now();
    let (config, ours) = sign_in::start().await;
    platform::prepare_start(&config, ours.as_ref(), overrides::show_in_status_bar);
    match ours {
        Some(s) => s,
        None => platform::session_now().await,
    }
}

/// What a new session (sign-in, renewal, sign-out) reaches here, in this order: the registry
/// (props of apps mounted from now on), real-user monitoring and the router (mounted apps get
/// `update(props)`, role gates are checked again). The platform module's own parts (the
/// outbox, the read-ahead) heard of it first.
fn react_to_session_changes() {
    session::on_change(|s| registry::with(|r| r.session = s.clone()));
    session::on_change(|s| rum::use_token(s.id_token.clone()));
    session::on_change(|_| router::request_reroute());
}
