//! The signed-in user every app receives in its props. The start module begins with the
//! session it can read itself (`sign_in`); after that the platform module, which renews and
//! ends sessions, brings every change (`platform`'s bridge). A change reaches the bus
//! (`session.changed`) and whatever registered with [`on_change`] at start: the registry and
//! the router (mounted apps get `update(props)`, role gates are checked again).
//!
//! When the BFF runs with development tokens (`--dev-tokens`) there is no sign-in: a page acts
//! as the session stored as JSON under `localStorage["tessera.devSession"]`, e.g.
//! `{"userName":"Bob","idToken":"dev:bob:customer,admin","roles":["customer","admin"]}`, or
//! as Alice (a customer) when none is stored.

use std::cell::RefCell;
use tessera_contract::auth::Claims;
use tessera_contract::bus::topics;
use tessera_contract::Session;
use wasm_bindgen::JsValue;

const DEV_KEY: &str = "tessera.devSession";

type Reaction = Box<dyn Fn(&Session)>;

thread_local! {
    static SESSION: RefCell<Session> = RefCell::new(Session::default());
    static REACTIONS: RefCell<Vec<Reaction>> = const { RefCell::new(Vec::new()) };
}

/// Registers what follows every change of the session, in registration order.
pub fn on_change(f: impl Fn(&Session) + 'static) {
    REACTIONS.with(|r| r.borrow_mut().push(Box::new(f)));
}

/// The current session.
pub fn current() -> Session {
    SESSION.with(|s| s.borrow().clone())
}

/// Sets the session at start, before anything reads it.
pub fn init(session: Session) {
    show_token(session.id_token.as_deref());
    SESSION.with(|s| *s.borrow_mut() = session);
}

/// A new session (sign-in, renewal, sign-out): tells everything that holds the old one.
pub fn change(session: Session) {
    if current() == session {
        return;
    }
    show_token(session.id_token.as_deref());
    SESSION.with(|s| *s.borrow_mut() = session.clone());
    REACTIONS.with(|r| r.borrow().iter().for_each(|f| f(&session)));
    let public = Session {
        id_token: None,
        ..session
    };
    tessera_sdk::bus::publish(
        topics::SESSION,
        topics::SESSION_CHANGED,
        "@tessera/shell",
        &tessera_sdk::ToJs::to_js(&public),
    );
}

/// `window.__tessera.token`: the token the host services send now, on the shell's debugging
/// surface, so a test, a synthetic check or a developer can see that a renewal reached the page.
fn show_token(token: Option<&str>) {
    let value = token.map(JsValue::from).unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&shell_common::debug::object(), &"token".into(), &value);
}

/// The user a token names: a development token's, or an ID token's subject.
pub fn subject(token: &str) -> Option<String> {
    tessera_contract::auth::token_subject(token, |payload| {
        tessera_sdk::js::parse::<Claims>(payload)
            .ok()
            .map(|c| c.sub)
    })
}

/// The development session: the stored one, or Alice (a customer) when none is stored or it
/// is invalid.
pub fn dev() -> Session {
    let stored = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(DEV_KEY).ok().flatten());
    match stored.map(|text| tessera_sdk::js::parse::<Session>(&text)) {
        Some(Ok(session)) => session,
        Some(Err(e)) => {
            web_sys::console::warn_1(
                &format!("tessera: ignoring localStorage {DEV_KEY}: {e}").into(),
            );
            alice()
        }
        None => alice(),
    }
}

fn alice() -> Session {
    Session {
        user_name: Some("Alice".into()),
        id_token: Some("dev:alice:customer".into()),
        roles: vec!["customer".into()],
    }
}
