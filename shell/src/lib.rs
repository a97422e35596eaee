//! Tessera's shell: reads the published manifests, renders the layout and navigation mount
//! points, and loads, mounts and unmounts independently built micro-apps as the route changes.
//!
//! This crate is the start module, what `index.html` loads: only what draws the first page.
//! The data layer behind the apps' host services, sign-in sessions, live updates, the status
//! bar and the worker are the platform module's (`shell/platform`), which this one imports as
//! it begins (`platform`).

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
    // Downloads and compiles beside the manifests and the apps: their first queries need it.
    platform::import();
    overrides::init();
    wasm_bindgen_futures::spawn_local(async {
        let (manifests, (session, started)) =
            futures_util::future::join(manifests::load(), first_session()).await;
        session::init(session);
        rum::use_token(session::current().id_token);
        react_to_session_changes();
        platform::follow(started, overrides::show_in_status_bar);
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
                router::after_first_page(|| platform::call("afterFirstPage", JsValue::UNDEFINED));
            }
            Err(e) => view::fatal(&e),
        }
    });
}

/// The session the page starts with, and the platform module starting with it: the page's own
/// reading where it has one, else (back from the provider) the platform's.
async fn first_session() -> (Session, js_sys::Promise) {
    let (config, ours) = sign_in::start().await;
    let started = platform::begin(&config, ours.as_ref());
    let session = match ours {
        Some(s) => s,
        None => platform::session_of(started.clone())
            .await
            .unwrap_or_else(|e| {
                web_sys::console::error_1(&format!("tessera: {e}").into());
                Session::default()
            }),
    };
    (session, started)
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
