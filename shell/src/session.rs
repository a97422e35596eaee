//! The signed-in user every app receives in its props, whose token goes to every BFF call.
//!
//! Until OpenID Connect sign-in lands this is a development session: the reference BFF accepts
//! development tokens `dev:<subject>:<role,role>`. A page can act as someone else by storing a
//! session as JSON under `localStorage["tessera.devSession"]`, e.g.
//! `{"userName":"Bob","idToken":"dev:bob:customer,admin","roles":["customer","admin"]}`.

use tessera_shared::Session;

const STORAGE_KEY: &str = "tessera.devSession";

fn default_session() -> Session {
    Session {
        user_name: Some("Alice".into()),
        id_token: Some("dev:alice:customer".into()),
        roles: vec!["customer".into()],
    }
}

/// The stored development session, or Alice (a customer) when none is stored or it is invalid.
pub fn current() -> Session {
    let stored = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    match stored.map(|text| serde_json::from_str::<Session>(&text)) {
        Some(Ok(session)) => session,
        Some(Err(e)) => {
            web_sys::console::warn_1(
                &format!("tessera: ignoring localStorage {STORAGE_KEY}: {e}").into(),
            );
            default_session()
        }
        None => default_session(),
    }
}
