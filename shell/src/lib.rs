//! Tessera's shell: reads the published manifests, renders the layout and navigation mount
//! points, and loads, mounts and unmounts independently built micro-apps as the route changes.

mod auth;
mod bus;
mod connectivity;
mod debug;
mod host;
mod js;
mod lifecycle;
mod live;
mod manifests;
mod outbox;
mod overrides;
mod parcels;
mod part;
mod props;
mod push_opt_in;
mod read_ahead;
mod region;
mod registry;
mod router;
mod rum;
mod service_worker;
mod session;
mod update_prompt;
mod view;
mod watched;

use wasm_bindgen::prelude::*;

/// How long the work that waits for the first page waits for its apps' data, at most.
const ANSWERS_PATIENCE_MS: i32 = 2_000;

#[wasm_bindgen(start)]
pub fn start() {
    // First, so it sees the first page's loads (a few listeners; no request until later).
    rum::start();
    // In parallel with the manifests and the apps' bundles: the apps' first queries need it.
    tessera_runtime::outbox_client::open_early();
    overrides::init();
    service_worker::follow_messages();
    wasm_bindgen_futures::spawn_local(async {
        let (manifests, session) =
            futures_util::future::join(manifests::load(), auth::start()).await;
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
                connectivity::on_reconnect(|| read_ahead::start(session::current()));
                view::mount_chrome(points);
                registry::install(m);
                parcels::install();
                host::install();
                router::start();
                let _ = js_sys::Reflect::set(&debug::object(), &"ready".into(), &true.into());
                router::after_first_page(|| {
                    host::when_answered(
                        || {
                            service_worker::register();
                            push_opt_in::start();
                            outbox::start(&session::current());
                            live::start();
                        },
                        ANSWERS_PATIENCE_MS,
                    )
                });
            }
            Err(e) => view::fatal(&e),
        }
    });
}

/// What a new session (sign-in, renewal, sign-out) reaches, in this order: the registry (props
/// of apps mounted from now on), the outbox (replays send the new token), the router (mounted
/// apps get `update(props)`, role gates are checked again) and, for another user, the
/// read-ahead (the offline copy is kept per user).
fn react_to_session_changes() {
    session::on_change(|s, _| registry::with(|r| r.session = s.clone()));
    session::on_change(|s, _| outbox::use_session(s));
    session::on_change(|s, _| rum::use_token(s.id_token.clone()));
    session::on_change(|_, _| router::request_reroute());
    session::on_change(|s, same_user| {
        if !same_user {
            read_ahead::start(s.clone());
        }
    });
}
