//! How the page starts signed in, without the platform module: how users sign in (the BFF's
//! `GET /api/auth/config`, or the copy from the last start when offline) and the session that
//! is already there (the development session, or the tokens sign-in stored in IndexedDB).
//! Signing in, renewing and signing out are the platform module's (`shell/platform`'s `auth`).

use std::cell::Cell;
use tessera_contract::auth::{jwt_payload, AuthConfig, Claims, Tokens, CALLBACK_PATH, CONFIG_PATH};
use tessera_contract::Session;
use tessera_sdk::js::parse;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

const CONFIG_KEY: &str = "tessera.authConfig";
const DEV_CONFIG: &str = r#"{"mode":"dev"}"#;

thread_local! {
    static OIDC: Cell<bool> = const { Cell::new(false) };
}

// In `start.js`, with the start module's other JS: one file, one request.
#[wasm_bindgen(module = "/src/start.js")]
extern "C" {
    /// The stored tokens' JSON (`tessera_runtime::session_store`'s record), or `null`.
    fn stored_tokens(database: &str, store: &str, key: &str) -> js_sys::Promise;
}

fn warn(e: &str) {
    web_sys::console::warn_1(&format!("tessera sign-in: {e}").into());
}

/// Whether this site signs users in (it does not with development tokens).
pub fn can_sign_in() -> bool {
    OIDC.with(Cell::get)
}

/// How users sign in, as JSON, with the session the page starts with; `None` when only the
/// platform module can say (the user is coming back from the provider).
pub async fn start() -> (String, Option<Session>) {
    let (config, text) = config().await;
    OIDC.with(|o| o.set(matches!(config, AuthConfig::Oidc { .. })));
    let session = match config {
        AuthConfig::Dev => Some(crate::session::dev()),
        AuthConfig::Oidc { .. } => {
            let path = web_sys::window().and_then(|w| w.location().pathname().ok());
            if path.as_deref() == Some(CALLBACK_PATH) {
                None
            } else {
                Some(stored_session().await)
            }
        }
    };
    (text, session)
}

/// The session of the tokens sign-in stored, or nobody. The platform module reads them again
/// to keep them renewed; it drops a session it cannot verify.
async fn stored_session() -> Session {
    use tessera_contract::auth::session_store::{DATABASE, KEY, STORE};
    let stored = JsFuture::from(stored_tokens(DATABASE, STORE, KEY)).await;
    let Some(text) = stored.ok().and_then(|t| t.as_string()) else {
        return Session::default();
    };
    let session = parse::<Tokens>(&text).ok().and_then(|tokens| {
        let claims: Claims = parse(&jwt_payload(&tokens.id_token)?).ok()?;
        Some(claims.session(&tokens.id_token))
    });
    session.unwrap_or_default()
}

/// How users sign in, from the BFF; offline, the copy from the last start.
async fn config() -> (AuthConfig, String) {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    // The request `index.html` started, if it did: apps wait for this answer.
    let started = shell_common::js::take_started::<js_sys::Promise>("__tesseraAuthConfig")
        .unwrap_or_else(|| {
            crate::manifests::fetch_text(CONFIG_PATH, web_sys::RequestCache::NoStore)
        });
    let text = JsFuture::from(started)
        .await
        .map(|t| t.as_string().unwrap_or_default())
        .map_err(|e| shell_common::js::error_message(&e));
    match text.map(|t| (parse::<AuthConfig>(&t), t)) {
        Ok((Ok(config), text)) => {
            if let Some(s) = &storage {
                let _ = s.set_item(CONFIG_KEY, &text);
            }
            (config, text)
        }
        Ok((Err(e), _)) => {
            warn(&format!("{CONFIG_PATH}: {e}"));
            (AuthConfig::Dev, DEV_CONFIG.into())
        }
        Err(e) => {
            let cached = storage
                .and_then(|s| s.get_item(CONFIG_KEY).ok().flatten())
                .and_then(|t| Some((parse(&t).ok()?, t)));
            cached.unwrap_or_else(|| {
                warn(&format!(
                    "{CONFIG_PATH}: {e}; no copy from an earlier start"
                ));
                (AuthConfig::Dev, DEV_CONFIG.into())
            })
        }
    }
}
