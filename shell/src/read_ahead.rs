//! Reading ahead what the user needs offline, so the service worker's read-through cache holds
//! it before the network goes: the BFF names the queries (`GET /api/offline`, it knows the
//! domain); the shell asks for each once a worker controls the page, a few at a time, in the
//! background. It runs at start; sign-in (the OIDC work) is to call [`start`] again with the
//! new session, since the cache is kept per user.

use tessera_shared::sync::OfflineSet;
use tessera_shared::Session;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

const OFFLINE_SET: &str = "/api/offline";
/// Requests in flight at once: enough to finish quickly, few enough to leave the connection
/// to whatever the user does meanwhile.
const PARALLEL: usize = 4;
/// How long to wait for a newly installed worker to take control.
const CONTROL_TIMEOUT_MS: i32 = 30_000;

pub fn start(session: Session) {
    wasm_bindgen_futures::spawn_local(async move {
        match read_ahead(&session).await {
            Ok(n) => {
                let _ = js_sys::Reflect::set(
                    &crate::debug_object(),
                    &"readAhead".into(),
                    &JsValue::from(n as u32),
                );
            }
            Err(e) => {
                web_sys::console::warn_1(&format!("reading ahead for offline use: {e}").into())
            }
        }
    });
}

/// Reads every query of the offline set; the number read.
async fn read_ahead(session: &Session) -> Result<usize, String> {
    let window = web_sys::window().ok_or("no window")?;
    if !controlled(&window).await {
        return Ok(0); // No worker, nowhere to keep the answers.
    }
    if !window.navigator().on_line() {
        return Ok(0);
    }
    let set: OfflineSet = serde_json::from_str(&get(&window, session, OFFLINE_SET).await?)
        .map_err(|e| format!("{OFFLINE_SET}: {e}"))?;
    for batch in set.queries.chunks(PARALLEL) {
        let reads: js_sys::Array = batch
            .iter()
            .map(|q| {
                let (window, session, q) = (window.clone(), session.clone(), q.clone());
                wasm_bindgen_futures::future_to_promise(async move {
                    // One query failing (a restaurant just removed) does not stop the rest.
                    if let Err(e) = get(&window, &session, &q).await {
                        web_sys::console::warn_1(&e.into());
                    }
                    Ok(JsValue::UNDEFINED)
                })
            })
            .collect();
        let _ = JsFuture::from(js_sys::Promise::all(&reads)).await;
    }
    Ok(set.queries.len())
}

/// Whether a service worker controls the page, waiting for a new one to claim it.
async fn controlled(window: &web_sys::Window) -> bool {
    let container = window.navigator().service_worker();
    if container.is_undefined() {
        return false;
    }
    if container.controller().is_some() {
        return true;
    }
    let claimed = js_sys::Promise::new(&mut |resolve, _| {
        let _ = container.add_event_listener_with_callback("controllerchange", &resolve);
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, CONTROL_TIMEOUT_MS);
    });
    let _ = JsFuture::from(claimed).await;
    container.controller().is_some()
}

async fn get(window: &web_sys::Window, session: &Session, path: &str) -> Result<String, String> {
    let fail = |e: JsValue| format!("{path}: {}", crate::js::error_message(&e));
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
