//! Sign-in with OpenID Connect, as the BFF names the provider (`GET /api/auth/config`): the
//! authorization code flow with PKCE (full-page redirect, back at `/auth/callback`), the
//! tokens kept in IndexedDB (every tab and an offline start find them; `localStorage` never
//! holds them), renewal by refresh token before the ID token expires (one tab at a time under
//! the Web Lock `tessera-session`, the others adopt the result over the `BroadcastChannel`
//! `tessera-session`), and sign-out at the provider.

use crate::part::Part;
use crate::session;
use shell_common::watched::Watched;
use std::cell::{Cell, RefCell};
use tessera_contract::auth::{
    jwt_payload, safe_return_path, AuthConfig, Claims, Tokens, CALLBACK_PATH,
};
use tessera_contract::Session;
use tessera_runtime::session_store::SessionStore;
use tessera_sdk::dom::{el, Build};
use tessera_sdk::js::{field, parse};
use tessera_sdk::Listener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const PENDING_KEY: &str = "tessera.signIn";
const CHANNEL: &str = "tessera-session";
const LOCK: &str = "tessera-session";
/// After a renewal that could not reach the provider.
const RETRY_MS: f64 = 30_000.0;

thread_local! {
    static CONFIG: RefCell<Option<AuthConfig>> = const { RefCell::new(None) };
    /// The sign-in module (`auth/tessera_auth.js` in the shell's bundle), once imported.
    static MODULE: RefCell<Option<JsValue>> = const { RefCell::new(None) };
    static TOKENS: RefCell<Option<Tokens>> = const { RefCell::new(None) };
    /// Bumped by every new session, so an older renewal loop stops.
    static GENERATION: Cell<u32> = const { Cell::new(0) };
    static NOTICE: Watched<Option<String>> = Watched::new(None);
}

fn window() -> web_sys::Window {
    web_sys::window().expect("the shell runs in a page")
}

fn warn(e: &str) {
    web_sys::console::warn_1(&format!("tessera sign-in: {e}").into());
}

/// Something the user should know about their session (a failed sign-in, a refused role).
pub fn notify(text: impl Into<String>) {
    NOTICE.with(|n| n.set(Some(text.into())));
}

/// Whether this site signs users in (it does not with development tokens).
pub fn can_sign_in() -> bool {
    CONFIG.with(|c| matches!(*c.borrow(), Some(AuthConfig::Oidc { .. })))
}

/// The session the page starts with: the start module's (development tokens), or (OIDC) the
/// user coming back from the provider, the stored session, or nobody.
pub async fn start(config: AuthConfig, given: Option<Session>) -> Session {
    CONFIG.with(|c| *c.borrow_mut() = Some(config.clone()));
    if config == AuthConfig::Dev {
        return given.unwrap_or_default();
    }
    follow_other_tabs();
    let path = window().location().pathname().unwrap_or_default();
    let tokens = if path == CALLBACK_PATH {
        match finish_sign_in().await {
            Ok(tokens) => Some(tokens),
            Err(e) => {
                notify(format!("Sign-in failed: {e}"));
                replace_url("/");
                None
            }
        }
    } else {
        match SessionStore::open().await {
            Ok(store) => store.get().await.unwrap_or_else(|e| {
                warn(&e.to_string());
                None
            }),
            Err(e) => {
                warn(&e.to_string());
                None
            }
        }
    };
    match tokens {
        Some(tokens) => adopt(tokens, false),
        None => Session::default(),
    }
}

/// Why a renewal failed: the provider said no (the session is over), or could not be reached
/// (keep the session and try again later).
enum Renewal {
    Refused(String),
    Unreachable(String),
}

/// Calls `name(issuer, clientId, ...args)` in the sign-in module, importing it the first time:
/// the OpenID Connect code (and its crypto) is loaded only by pages that sign in, renew or sign
/// out, never on a start with a stored session.
async fn call(name: &str, args: &[&str]) -> Result<JsValue, String> {
    let Some(AuthConfig::Oidc { issuer, client_id }) = CONFIG.with(|c| c.borrow().clone()) else {
        return Err("this site has no sign-in provider".into());
    };
    let module = match MODULE.with(|m| m.borrow().clone()) {
        Some(m) => m,
        None => {
            let url = format!("{}/auth/tessera_auth.js", shell_common::js::bundle_url());
            let module = JsFuture::from(shell_common::js::import_module(&url))
                .await
                .map_err(|e| {
                    format!(
                        "loading the sign-in module: {}",
                        shell_common::js::error_message(&e)
                    )
                })?;
            let init: js_sys::Function = js_sys::Reflect::get(&module, &"default".into())
                .ok()
                .and_then(|f| f.dyn_into().ok())
                .ok_or("the sign-in module has no init")?;
            JsFuture::from(js_sys::Promise::resolve(
                &init.call0(&module).unwrap_or_default(),
            ))
            .await
            .map_err(|e| {
                format!(
                    "starting the sign-in module: {}",
                    shell_common::js::error_message(&e)
                )
            })?;
            MODULE.with(|m| *m.borrow_mut() = Some(module.clone()));
            module
        }
    };
    let f: js_sys::Function = js_sys::Reflect::get(&module, &name.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("the sign-in module has no {name}()"))?;
    let all: js_sys::Array = [issuer.as_str(), client_id.as_str()]
        .iter()
        .chain(args)
        .map(|a| JsValue::from_str(a))
        .collect();
    let returned = f
        .apply(&module, &all)
        .map_err(|e| shell_common::js::error_message(&e))?;
    JsFuture::from(js_sys::Promise::resolve(&returned))
        .await
        .map_err(|e| shell_common::js::error_message(&e))
}

/// A JSON answer of the sign-in module, as a JS value (`null` when it is not JSON).
fn json(value: JsValue) -> JsValue {
    value
        .as_string()
        .and_then(|t| js_sys::JSON::parse(&t).ok())
        .unwrap_or(JsValue::NULL)
}

/// A string field of a JS value, if it has one.
fn text_field(value: &JsValue, key: &str) -> Option<String> {
    field::<Option<String>>(value, key).ok().flatten()
}

/// `Claims::of_verified`, read by the browser's `JSON.parse` (the sign-in module, which
/// verified the token, links serde anyway; the platform module does not).
fn claims_of_verified(jwt: &str) -> Option<Claims> {
    parse(&jwt_payload(jwt)?).ok()
}

/// The `tokens` of an answer of the sign-in module.
fn tokens_of(answer: &JsValue) -> Option<Tokens> {
    field(answer, "tokens").ok()
}

/// Sends the user to the provider to sign in; they come back to `return_to`.
pub fn sign_in(return_to: &str) {
    let return_to = safe_return_path(return_to).to_owned();
    wasm_bindgen_futures::spawn_local(async move {
        let answer = match call("authorize", &[&return_to]).await {
            Ok(a) => json(a),
            Err(e) => return notify(format!("Cannot sign in right now: {e}")),
        };
        let (Some(url), Some(pending)) =
            (text_field(&answer, "url"), text_field(&answer, "pending"))
        else {
            return notify("Cannot sign in: the sign-in module answered nothing usable");
        };
        let stored = window()
            .session_storage()
            .ok()
            .flatten()
            .and_then(|s| s.set_item(PENDING_KEY, &pending).ok());
        if stored.is_none() {
            return notify("Cannot sign in: this browser refuses session storage");
        }
        let _ = window().location().assign(&url);
    });
}

/// The provider sent the user back: check its answer against what this tab started, exchange
/// the code, verify the ID token, keep the tokens.
async fn finish_sign_in() -> Result<Tokens, String> {
    let storage = window()
        .session_storage()
        .ok()
        .flatten()
        .ok_or("no session storage")?;
    let pending = storage
        .get_item(PENDING_KEY)
        .ok()
        .flatten()
        .ok_or("no sign-in was started in this tab")?;
    let _ = storage.remove_item(PENDING_KEY);
    let query = window().location().search().unwrap_or_default();
    let answer = json(call("finish", &[&query, &pending]).await?);
    let tokens = tokens_of(&answer).ok_or("the sign-in module returned no tokens")?;
    let store = SessionStore::open().await.map_err(|e| e.to_string())?;
    store.put(&tokens).await.map_err(|e| e.to_string())?;
    announce();
    let return_to = text_field(&answer, "returnTo");
    replace_url(safe_return_path(return_to.as_deref().unwrap_or("/")));
    Ok(tokens)
}

fn replace_url(path: &str) {
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(path));
    }
}

/// Makes `tokens` the session and keeps it renewed. `notify_others`: tell everything holding
/// the old session (false at start, when nothing does yet).
fn adopt(tokens: Tokens, notify_others: bool) -> Session {
    let Some(claims) = claims_of_verified(&tokens.id_token) else {
        warn("a stored session without a subject was ignored");
        return Session::default();
    };
    let session = claims.session(&tokens.id_token);
    TOKENS.with(|t| *t.borrow_mut() = Some(tokens.clone()));
    if notify_others {
        session::change(session.clone());
        tessera_runtime::outbox_client::kick();
    }
    keep_renewed(tokens);
    session
}

fn signed_out(notify_others: bool) {
    TOKENS.with(|t| *t.borrow_mut() = None);
    GENERATION.with(|g| g.set(g.get() + 1));
    if notify_others {
        session::change(Session::default());
    }
}

/// Renews `tokens` before they expire, until a newer session replaces them.
fn keep_renewed(tokens: Tokens) {
    let generation = GENERATION.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    wasm_bindgen_futures::spawn_local(async move {
        let mut wait = tokens.renew_in_ms(js_sys::Date::now());
        loop {
            crate::live::sleep_ms(wait as u64).await;
            if GENERATION.with(|g| g.get()) != generation {
                return;
            }
            match renew().await {
                // `adopt` started a new loop for the new tokens.
                Ok(()) => return,
                Err(Renewal::Refused(e)) => {
                    warn(&e);
                    forget_stored().await;
                    signed_out(true);
                    announce();
                    notify("Your session has ended. Sign in again to continue.");
                    return;
                }
                Err(Renewal::Unreachable(e)) => {
                    warn(&format!("renewal postponed: {e}"));
                    wait = RETRY_MS;
                }
            }
        }
    });
}

/// One renewal, in one tab at a time: a tab that finds the stored session newer than its own
/// (another tab renewed) adopts it instead of spending the refresh token again.
async fn renew() -> Result<(), Renewal> {
    let (tx, rx) = futures_channel::oneshot::channel::<Result<(), Renewal>>();
    let job = Closure::once_into_js(move || -> js_sys::Promise {
        wasm_bindgen_futures::future_to_promise(async move {
            let _ = tx.send(renew_locked().await);
            Ok(JsValue::UNDEFINED)
        })
    });
    let _ = JsFuture::from(shell_common::js::with_lock(LOCK, job.unchecked_ref())).await;
    rx.await
        .unwrap_or_else(|_| Err(Renewal::Unreachable("the renewal was dropped".into())))
}

async fn renew_locked() -> Result<(), Renewal> {
    let ours = TOKENS.with(|t| t.borrow().clone());
    let store = SessionStore::open()
        .await
        .map_err(|e| Renewal::Unreachable(e.to_string()))?;
    let stored = store.get().await.ok().flatten();
    match (&ours, stored) {
        (_, None) => return Err(Renewal::Refused("signed out in another tab".into())),
        (Some(ours), Some(stored)) if stored.expires_at_ms > ours.expires_at_ms => {
            adopt(stored, true);
            return Ok(());
        }
        _ => {}
    }
    let Some(refresh) = ours.and_then(|t| t.refresh_token) else {
        return Err(Renewal::Refused(
            "the provider issued no refresh token".into(),
        ));
    };
    let answer = json(
        call("refresh", &[&refresh])
            .await
            .map_err(Renewal::Unreachable)?,
    );
    let tokens = match (tokens_of(&answer), text_field(&answer, "refused")) {
        (Some(tokens), _) => tokens,
        (None, Some(why)) => return Err(Renewal::Refused(why)),
        (None, None) => {
            let why = text_field(&answer, "unreachable");
            return Err(Renewal::Unreachable(
                why.unwrap_or_else(|| "no answer".into()),
            ));
        }
    };
    store
        .put(&tokens)
        .await
        .map_err(|e| Renewal::Unreachable(e.to_string()))?;
    adopt(tokens, true);
    announce();
    Ok(())
}

async fn forget_stored() {
    if let Ok(store) = SessionStore::open().await {
        if let Err(e) = store.clear().await {
            warn(&e.to_string());
        }
    }
}

/// Signs out here, in every tab, and at the provider.
pub fn sign_out() {
    wasm_bindgen_futures::spawn_local(async {
        let id_token = TOKENS.with(|t| t.borrow().as_ref().map(|t| t.id_token.clone()));
        if let Some(subject) = id_token
            .as_deref()
            .and_then(tessera_runtime::read_through::token_subject)
        {
            // Waiting commands stay, unsent, until this user signs in again.
            if let Ok(store) = tessera_runtime::outbox_client::store().await {
                let _ = store.set_token(&subject, None).await;
            }
        }
        forget_stored().await;
        announce();
        let origin = window().location().origin().unwrap_or_default();
        let end = match id_token {
            Some(token) => call("endSession", &[&token, &format!("{origin}/")])
                .await
                .ok()
                .and_then(|url| url.as_string()),
            None => None,
        };
        match end {
            // The page leaves for the provider: nothing here needs to hear of it first (a
            // protected route would otherwise send the user straight back to sign in).
            Some(url) => {
                signed_out(false);
                let _ = window().location().assign(&url);
            }
            None => {
                tessera_sdk::navigate("/");
                signed_out(true);
            }
        }
    });
}

/// This page's name on the channel, so it does not act on its own announcements.
fn page_id() -> String {
    thread_local! {
        static ID: String = tessera_sdk::bus::new_id();
    }
    ID.with(String::clone)
}

/// Tells the other tabs the stored session changed.
fn announce() {
    if let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) {
        let _ = channel.post_message(&page_id().into());
        channel.close();
    }
}

/// Another tab signed in, renewed or signed out: take the stored session.
fn follow_other_tabs() {
    let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) else {
        return;
    };
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
            if e.data().as_string() == Some(page_id()) {
                return;
            }
            wasm_bindgen_futures::spawn_local(async {
                let Ok(store) = SessionStore::open().await else {
                    return;
                };
                let stored = store.get().await.ok().flatten();
                let ours = TOKENS.with(|t| t.borrow().as_ref().map(|t| t.id_token.clone()));
                match stored {
                    Some(tokens) if Some(&tokens.id_token) != ours.as_ref() => {
                        adopt(tokens, true);
                    }
                    Some(_) => {}
                    None if ours.is_some() => signed_out(true),
                    None => {}
                }
            });
        });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    std::mem::forget(channel);
}

/// The status bar's part: who is signed in, with sign-in and sign-out, and what the user
/// should know about their session.
pub fn account(bar: &web_sys::Element) {
    let part = el("span").attr("class", "tessera-account");
    let _ = bar.append_child(&part);
    let sign_out_button = el("button").attr("class", "sign-out").text("Sign out");
    Listener::on(&sign_out_button, "click", |_| sign_out()).forget();
    let sign_in_button = el("button").attr("class", "sign-in").text("Sign in");
    Listener::on(&sign_in_button, "click", |_| {
        sign_in(&tessera_sdk::current_path());
    })
    .forget();
    session::watched().follow(move |s| {
        part.set_text_content(None);
        let user = || {
            el("span")
                .attr("class", "user")
                .text(s.user_name.as_deref().unwrap_or_default())
        };
        match (s.id_token.is_some(), can_sign_in()) {
            (true, true) => {
                let _ = part.append_child(&user());
                let _ = part.append_with_str_1(" ");
                let _ = part.append_child(&sign_out_button);
            }
            (true, false) => {
                let _ = part.append_child(&user());
                let _ = part.append_with_str_1(" (development)");
            }
            (false, _) => {
                let _ = part.append_child(&sign_in_button);
            }
        }
    });
    let dismiss = el("button").attr("class", "dismiss").text("Dismiss");
    Listener::on(&dismiss, "click", |_| NOTICE.with(|n| n.set(None))).forget();
    let shown = el("span");
    let notice = el("div")
        .attr("class", "tessera-notice")
        .attr("role", "alert")
        .child(&shown)
        .text(" ")
        .child(&dismiss);
    NOTICE.with(|n| {
        Part::follow(bar, n, move |text| {
            shown.set_text_content(text.as_deref());
            text.as_ref()
                .map(|_| notice.clone().into())
                .into_iter()
                .collect()
        })
    });
}
