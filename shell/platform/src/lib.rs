//! The shell's platform module: what the start module (`shell`) loads after the first page (or
//! at once when that page needs it, see the start module's `platform`) and calls through the
//! functions below. It holds the data layer behind the apps' host
//! services (queries, commands through the outbox), sign-in sessions, live updates, the
//! status bar with its panels, read-ahead and the worker's registration, so that the start
//! path carries none of it. It tells the start module of a new session through the `bridge`
//! it was started with.

mod auth;
mod bridge;
mod connectivity;
mod host;
mod live;
mod outbox;
mod part;
mod push_opt_in;
mod read_ahead;
mod region;
mod service_worker;
mod session;
mod update_prompt;

use tessera_contract::auth::AuthConfig;
use tessera_contract::Session;
use wasm_bindgen::prelude::*;

/// How long the work that waits for the first page waits for its apps' data, at most.
const ANSWERS_PATIENCE_MS: i32 = 2_000;

/// Starts the platform: `config` is how users sign in (`GET /api/auth/config`'s JSON, as the
/// start module read it), `session` the session the start module begins with (JSON; empty
/// when it waits for this one, on the way back from the provider). Resolves to the session
/// (JSON) once sign-in has settled it; the status bar and its panels are drawn by then.
#[wasm_bindgen]
pub async fn start(bridge: JsValue, config: String, session: String) -> Result<JsValue, JsValue> {
    bridge::keep(bridge);
    tessera_runtime::outbox_client::open_early();
    service_worker::follow_messages();
    let config = tessera_sdk::js::parse::<AuthConfig>(&config)
        .map_err(|e| JsValue::from_str(&format!("the sign-in settings: {e}")))?;
    let given = tessera_sdk::js::parse::<Session>(&session).ok();
    let session = auth::start(config, given).await;
    session::init(session.clone());
    react_to_session_changes();
    connectivity::on_reconnect(|| read_ahead::start(session::current()));
    draw_chrome();
    Ok(serde_json::to_string(&session).unwrap_or_default().into())
}

/// The status bar, the outbox panel and the update prompt, after the page's layout.
fn draw_chrome() {
    let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    else {
        return;
    };
    let _ = body.append_child(&connectivity::status_bar());
    outbox::panel(&body);
    update_prompt::update_prompt(&body);
    connectivity::start();
}

/// What a new session reaches in this module: the outbox (replays send the new token) and, for
/// another user, the read-ahead (the offline copy is kept per user).
fn react_to_session_changes() {
    session::on_change(|s, _| outbox::use_session(s));
    session::on_change(|s, same_user| {
        if !same_user {
            read_ahead::start(s.clone());
        }
    });
}

/// `host.query(path)` of ABI 2 (see `host`).
#[wasm_bindgen]
pub fn query(path: JsValue) -> js_sys::Promise {
    host::query(path)
}

/// `host.command(request)` of ABI 2 (see `host`).
#[wasm_bindgen]
pub fn command(request: JsValue) -> js_sys::Promise {
    host::command(request)
}

/// The first page is drawn: once its apps have their answers, register the worker and start
/// push, the outbox's replays and live updates.
#[wasm_bindgen(js_name = afterFirstPage)]
pub fn after_first_page() {
    host::when_answered(
        || {
            service_worker::register();
            push_opt_in::start();
            outbox::start(&session::current());
            live::start();
        },
        ANSWERS_PATIENCE_MS,
    );
}

/// Sends the user to the provider to sign in; they come back to `return_to`.
#[wasm_bindgen(js_name = signIn)]
pub fn sign_in(return_to: String) {
    auth::sign_in(&return_to);
}

/// Shows the user something about their session (a refused role).
#[wasm_bindgen]
pub fn notify(text: String) {
    auth::notify(text);
}
