//! The shell's sign-in machinery as a module of its own. The `openidconnect` crate (and the RSA
//! and elliptic-curve code it verifies ID tokens with) is larger than the rest of the shell, and
//! a page needs it only when the user signs in, when a token is renewed and at sign-out; a
//! start with a stored session needs none of it. So the shell imports this module on demand
//! (`auth/tessera_auth.js` in its bundle) and talks to it in JSON:
//!
//! - `authorize(issuer, clientId, returnTo)` → `{url, pending}`: where to send the user, and
//!   the one-time secrets (state, nonce, PKCE verifier) the tab keeps until it comes back;
//! - `finish(issuer, clientId, query, pending)` → `{tokens, returnTo}`: the provider's answer
//!   (the callback URL's query) checked against those secrets, the code exchanged, the ID token
//!   verified;
//! - `refresh(issuer, clientId, refreshToken)` → `{tokens}`, `{refused}` or `{unreachable}`;
//! - `endSession(issuer, clientId, idToken, returnTo)` → the provider's sign-out URL or `null`.

mod oidc;

use oidc::{Pending, Provider, Renewal};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

thread_local! {
    /// Providers discovered so far, by issuer and client.
    static PROVIDERS: RefCell<BTreeMap<(String, String), Rc<Provider>>> = RefCell::default();
}

async fn provider(issuer: &str, client_id: &str) -> Result<Rc<Provider>, String> {
    let key = (issuer.to_owned(), client_id.to_owned());
    if let Some(p) = PROVIDERS.with(|p| p.borrow().get(&key).cloned()) {
        return Ok(p);
    }
    let provider = Rc::new(Provider::discover(issuer, client_id).await?);
    PROVIDERS.with(|p| p.borrow_mut().insert(key, provider.clone()));
    Ok(provider)
}

fn text(value: serde_json::Value) -> String {
    value.to_string()
}

#[wasm_bindgen]
pub async fn authorize(
    issuer: String,
    client_id: String,
    return_to: String,
) -> Result<String, JsError> {
    let provider = provider(&issuer, &client_id)
        .await
        .map_err(|e| JsError::new(&e))?;
    let (url, pending) = provider.authorize(&return_to);
    let pending = serde_json::to_string(&pending).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(text(json!({ "url": url, "pending": pending })))
}

#[wasm_bindgen]
pub async fn finish(
    issuer: String,
    client_id: String,
    query: String,
    pending: String,
) -> Result<String, JsError> {
    let pending: Pending = serde_json::from_str(&pending)
        .map_err(|_| JsError::new("the sign-in this tab started was not kept"))?;
    let query = web_sys::UrlSearchParams::new_with_str(&query)
        .map_err(|_| JsError::new("unreadable callback URL"))?;
    if let Some(error) = query.get("error") {
        let why = query.get("error_description").unwrap_or_default();
        return Err(JsError::new(&format!("the provider said {error}: {why}")));
    }
    if query.get("state").as_deref() != Some(pending.state.as_str()) {
        return Err(JsError::new(
            "the answer does not belong to this sign-in (state mismatch)",
        ));
    }
    let code = query
        .get("code")
        .ok_or_else(|| JsError::new("the provider sent no code"))?;
    let provider = provider(&issuer, &client_id)
        .await
        .map_err(|e| JsError::new(&e))?;
    let tokens = provider
        .exchange(&code, &pending)
        .await
        .map_err(|e| JsError::new(&e))?;
    Ok(text(
        json!({ "tokens": tokens, "returnTo": pending.return_to }),
    ))
}

#[wasm_bindgen]
pub async fn refresh(issuer: String, client_id: String, refresh_token: String) -> String {
    let provider = match provider(&issuer, &client_id).await {
        Ok(p) => p,
        Err(e) => return text(json!({ "unreachable": e })),
    };
    match provider.refresh(&refresh_token).await {
        Ok(tokens) => text(json!({ "tokens": tokens })),
        Err(Renewal::Refused(e)) => text(json!({ "refused": e })),
        Err(Renewal::Unreachable(e)) => text(json!({ "unreachable": e })),
    }
}

#[wasm_bindgen(js_name = endSession)]
pub async fn end_session(
    issuer: String,
    client_id: String,
    id_token: String,
    return_to: String,
) -> Option<String> {
    provider(&issuer, &client_id)
        .await
        .ok()?
        .end_session(&id_token, &return_to)
}
