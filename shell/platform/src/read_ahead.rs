//! Reading ahead what the user needs offline, so the service worker's read-through cache holds
//! it before the network goes: the BFF names the queries (`GET /api/offline`, it knows the
//! domain); the shell asks for each once a worker controls the page, a few at a time, in the
//! background. It runs whenever the heartbeat finds the server (at start and after each
//! spell without it) and when another user signs in, since the cache is kept per user.

use tessera_contract::sync::OfflineSet;
use tessera_contract::Session;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const OFFLINE_SET: &str = "/api/offline";
/// Requests in flight at once: enough to finish quickly, few enough to leave the connection
/// to whatever the user does meanwhile.
const PARALLEL: usize = 4;

thread_local! {
    static RUNNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn start(session: Session) {
    if session.id_token.is_none() || RUNNING.with(|r| r.replace(true)) {
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        run(session).await;
        RUNNING.with(|r| r.set(false));
    });
}

async fn run(session: Session) {
    if !crate::service_worker::controlled().await {
        return; // No worker, nowhere to keep the answers.
    }
    if !web_sys::window().is_some_and(|w| w.navigator().on_line()) {
        return;
    }
    crate::connectivity::sync_started();
    match read_ahead(&session).await {
        Ok(n) => {
            crate::connectivity::sync_succeeded();
            let _ = js_sys::Reflect::set(
                &shell_common::debug::object(),
                &"readAhead".into(),
                &JsValue::from(n as u32),
            );
        }
        Err(e) => {
            web_sys::console::warn_1(&format!("reading ahead for offline use: {e}").into());
            crate::connectivity::sync_failed(e);
        }
    }
}

/// Reads every query of the offline set; the number read.
async fn read_ahead(session: &Session) -> Result<usize, String> {
    let window = web_sys::window().ok_or("no window")?;
    let text = get(&window, session, OFFLINE_SET).await?;
    let OfflineSet { queries } =
        tessera_sdk::js::parse(&text).map_err(|e| format!("{OFFLINE_SET}: {e}"))?;
    let failures = std::rc::Rc::new(std::cell::Cell::new(0usize));
    for batch in queries.chunks(PARALLEL) {
        let reads: js_sys::Array = batch
            .iter()
            .map(|q| {
                let (window, session, q) = (window.clone(), session.clone(), q.clone());
                let failures = failures.clone();
                wasm_bindgen_futures::future_to_promise(async move {
                    // One query failing (a restaurant just removed) does not stop the rest.
                    if let Err(e) = get(&window, &session, &q).await {
                        web_sys::console::warn_1(&e.into());
                        failures.set(failures.get() + 1);
                    }
                    Ok(JsValue::UNDEFINED)
                })
            })
            .collect();
        let _ = JsFuture::from(js_sys::Promise::all(&reads)).await;
    }
    match failures.get() {
        0 => Ok(queries.len()),
        n => Err(format!("{n} of {} queries failed", queries.len())),
    }
}

async fn get(window: &web_sys::Window, session: &Session, path: &str) -> Result<String, String> {
    let fail = |e: JsValue| format!("{path}: {}", shell_common::js::error_message(&e));
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(fail)?;
    headers.set("Accept", "application/json").map_err(fail)?;
    if let Some(token) = &session.id_token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(fail)?;
    }
    init.set_headers(&headers);
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(fail)?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{path}: HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(fail)?)
        .await
        .map_err(fail)?;
    Ok(text.as_string().unwrap_or_default())
}
