//! The signed-in user as the platform module holds it: its token goes with every query and
//! every replayed command. Sign-in (`auth`) changes it; a change reaches what registered with
//! [`on_change`] here (the outbox, the read-ahead, the status bar's parts) and then the start
//! module (`bridge`), which tells the router, the apps and the bus.

use crate::bridge;
use shell_common::watched::Watched;
use tessera_contract::Session;

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
    SESSION.with(|s| s.set(session));
}

/// A new session (sign-in, renewal, sign-out): tells everything that holds the old one.
pub fn change(session: Session) {
    let same_user =
        current().id_token.as_deref().map(subject) == session.id_token.as_deref().map(subject);
    SESSION.with(|s| s.set(session.clone()));
    REACTIONS.with(|r| r.borrow().iter().for_each(|f| f(&session, same_user)));
    bridge::session_changed(&serde_json::to_string(&session).unwrap_or_default());
}

/// The user a token names.
pub fn subject(token: &str) -> Option<String> {
    tessera_runtime::read_through::token_subject(token)
}
