//! The signed-in user every app receives in its props, whose token goes to every BFF call. It
//! changes when the user signs in or out and when its token is renewed (by sign-in); a
//! change reaches the bus (`session.changed`) and whatever registered with [`on_change`] at
//! start: the registry and the router (mounted apps get `update(props)`), the outbox (its
//! replays read the new token) and the read-ahead. It depends on no other part of the shell.
//!
//! When the BFF runs with development tokens (`--dev-tokens`) there is no sign-in: a page acts
//! as the session stored as JSON under `localStorage["tessera.devSession"]`, e.g.
//! `{"userName":"Bob","idToken":"dev:bob:customer,admin","roles":["customer","admin"]}`, or
//! as Alice (a customer) when none is stored.

use crate::bus::publish;
use crate::watched::Watched;
use tessera_contract::bus::topics;
use tessera_contract::Session;
use wasm_bindgen::JsValue;

const DEV_KEY: &str = "tessera.devSession";

/// Called with the new session and whether it is the same user as before.
type Reaction = Box<dyn Fn(&Session, bool)>;

thread_local! {
    static SESSION: Watched<Session> = Watched::new(Session::default());
    static REACTIONS: std::cell::RefCell<Vec<Reaction>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers what follows every change of the session, in registration order.
pub fn on_change(f: impl Fn(&Session, bool) + 'static) {
    REACTIONS.with(|r| r.borrow_mut().push(Box::new(f)));
}

/// The current session.
pub fn current() -> Session {
    SESSION.with(|s| s.get())
}

/// The session, for views that follow it.
pub fn watched() -> Watched<Session> {
    SESSION.with(|s| s.clone())
}

/// Sets the session at start, before anything reads it.
pub fn init(session: Session) {
    show_token(session.id_token.as_deref());
    SESSION.with(|s| s.set(session));
}

/// A new session (sign-in, renewal, sign-out): tells everything that holds the old one.
pub fn change(session: Session) {
    let same_user =
        current().id_token.as_deref().map(subject) == session.id_token.as_deref().map(subject);
    show_token(session.id_token.as_deref());
    SESSION.with(|s| s.set(session.clone()));
    REACTIONS.with(|r| r.borrow().iter().for_each(|f| f(&session, same_user)));
    let public = Session {
        id_token: None,
        ..session.clone()
    };
    publish(
        topics::SESSION,
        topics::SESSION_CHANGED,
        "@tessera/shell",
        serde_json::to_value(&public).unwrap_or_default(),
    );
}

/// `window.__tessera.token`: the token the host services send now, on the shell's debugging
/// surface, so a test or a developer can see that a renewal reached the page.
fn show_token(token: Option<&str>) {
    let value = token.map(JsValue::from).unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&crate::debug::object(), &"token".into(), &value);
}

/// The user a token names.
pub fn subject(token: &str) -> Option<String> {
    tessera_runtime::read_through::token_subject(token)
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
