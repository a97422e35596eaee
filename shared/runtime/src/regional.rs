//! The service worker's side of regions (`tessera_contract::regions`): every BFF request the
//! worker makes (replays) or forwards for a page (queries, commands, the heartbeat, live polls)
//! goes to the region in use. A request that gets no answer (or a gateway's 502 or 504) counts
//! against its region and is sent again, on the next region once [`Failover`] moves; while away
//! from the user's primary the worker asks the primary's `/api/health` every second and moves
//! back once it answers. Every move is told to the pages (`{type: "tessera:region", name,
//! origin}`): the status bar shows the region and the live connection follows it.
//!
//! A command sent again after a move applies once: its idempotency key is in the database the
//! regions share. Nothing is sent again, and no region blamed, when the browser says it is
//! offline or the caller gave up on the request.

use crate::js_value::{error_text, global_fetch, navigator_online, sleep_ms, time_limit};
use std::cell::{Cell, RefCell};
use tessera_contract::regions::{self, Failover, Region, FAIL_AFTER, PROBE_EVERY_MS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCache, RequestCredentials, RequestInit, RequestMode};

/// The heartbeat and the probes: a region that takes longer has failed.
const HEALTH_TIMEOUT_MS: u32 = 2_000;
/// Between sending a request again to the same region.
const RETRY_MS: u64 = 150;

thread_local! {
    static FAILOVER: RefCell<Option<Failover>> = const { RefCell::new(None) };
    static PROBING: Cell<bool> = const { Cell::new(false) };
}

/// `request` sent to `origin` (its path and query kept), within `timeout_ms` if not 0. Rust,
/// not a JS snippet: the worker's package has no room for snippets.
async fn forward(request: &Request, origin: &str, timeout_ms: u32) -> Result<JsValue, JsValue> {
    let url = web_sys::Url::new(&request.url())?;
    let init = RequestInit::new();
    let method = request.method();
    init.set_method(&method);
    init.set_headers(&request.headers());
    if method != "GET" && method != "HEAD" {
        init.set_body(&JsFuture::from(request.clone()?.array_buffer()?).await?);
    }
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::Omit);
    if request.cache() != RequestCache::OnlyIfCached {
        init.set_cache(request.cache());
    }
    if timeout_ms > 0 {
        time_limit(&init, timeout_ms);
    } else {
        init.set_signal(Some(&request.signal()));
    }
    let target = format!("{origin}{}{}", url.pathname(), url.search());
    JsFuture::from(global_fetch(&Request::new_with_str_and_init(
        &target, &init,
    )?))
    .await
}

/// Posts `message` to every window of the site.
async fn tell_pages(message: JsValue) -> Result<(), JsValue> {
    let clients: web_sys::Clients =
        js_sys::Reflect::get(&js_sys::global(), &"clients".into())?.unchecked_into();
    let options = web_sys::ClientQueryOptions::new();
    options.set_include_uncontrolled(true);
    options.set_type(web_sys::ClientType::Window);
    let windows = JsFuture::from(clients.match_all_with_options(&options)).await?;
    for window in js_sys::Array::from(&windows).iter() {
        window
            .unchecked_into::<web_sys::Client>()
            .post_message(&message)?;
    }
    Ok(())
}

/// Takes the site's regions (`self.tesseraRegions` in `sw.js`); without any, requests go to
/// this origin as before.
pub fn configure(setting: &str) -> Result<(), String> {
    let found = regions::parse(setting)?;
    FAILOVER.with(|f| *f.borrow_mut() = Failover::new(found));
    Ok(())
}

/// The region in use, if the site has regions.
pub fn current() -> Option<Region> {
    FAILOVER.with(|f| f.borrow().as_ref().map(|f| f.current().1.clone()))
}

/// `{type: "tessera:region", name, origin}` of the region in use, or `null`.
pub fn current_message() -> JsValue {
    let Some(region) = current() else {
        return JsValue::NULL;
    };
    let message = js_sys::Object::new();
    for (key, value) in [
        ("type", "tessera:region"),
        ("name", &region.name),
        ("origin", &region.origin),
    ] {
        let _ = js_sys::Reflect::set(&message, &key.into(), &value.into());
    }
    message.into()
}

fn with<T>(f: impl FnOnce(&mut Failover) -> T) -> Option<T> {
    FAILOVER.with(|slot| slot.borrow_mut().as_mut().map(f))
}

/// Something moved the client: the pages hear of it, and the primary is watched while away.
fn moved(to: Option<usize>) {
    if to.is_none() {
        return;
    }
    if let Some(region) = current() {
        web_sys::console::warn_1(
            &format!(
                "tessera service worker: now using region {} ({})",
                region.name, region.origin
            )
            .into(),
        );
    }
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = tell_pages(current_message()).await {
            web_sys::console::warn_1(
                &format!(
                    "tessera service worker: telling pages of the region: {}",
                    error_text(&e)
                )
                .into(),
            );
        }
    });
    watch_primary();
}

/// Asks the primary's health while away from it, until it is back.
fn watch_primary() {
    if PROBING.with(|p| p.replace(true)) {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        while let Some((index, origin)) =
            with(|f| f.to_probe().map(|i| (i, f.regions()[i].origin.clone()))).flatten()
        {
            sleep_ms(u64::from(PROBE_EVERY_MS)).await;
            let answered = match Request::new_with_str("/api/health") {
                Ok(probe) => forward(&probe, &origin, HEALTH_TIMEOUT_MS)
                    .await
                    .is_ok_and(|r| healthy(&r)),
                Err(_) => false,
            };
            let to = with(|f| {
                if answered {
                    f.answered(index)
                } else {
                    f.failed(index)
                }
            })
            .flatten();
            moved(to);
        }
        PROBING.with(|p| p.set(false));
    });
}

/// An answer from the region itself: a gateway's 502 or 504 says the BFF behind it is gone (a
/// 503 is the BFF's own "not now", which another region would not improve).
fn healthy(response: &JsValue) -> bool {
    response
        .dyn_ref::<web_sys::Response>()
        .is_some_and(|r| !matches!(r.status(), 502 | 504))
}

/// Sends `request` (a path of this origin) to the region in use, and again as above when it
/// gets no answer; without regions, to this origin.
pub async fn fetch(request: &Request) -> Result<JsValue, JsValue> {
    if current().is_none() {
        return JsFuture::from(global_fetch(request)).await;
    }
    let authorization = request.headers().get("authorization").ok().flatten();
    if let Some(subject) = crate::read_through::bearer_subject(authorization.as_deref()) {
        let count = with(|f| f.regions().len()).unwrap_or(1);
        moved(with(|f| f.prefer(regions::primary_for(Some(&subject), count))).flatten());
    }
    let health = web_sys::Url::new(&request.url()).is_ok_and(|u| u.pathname() == "/api/health");
    let timeout = if health { HEALTH_TIMEOUT_MS } else { 0 };
    let tries = FAIL_AFTER as usize * with(|f| f.regions().len()).unwrap_or(1);
    let mut outcome = Err(JsValue::from_str("no region was tried"));
    for _ in 0..tries {
        let Some((index, origin)) = with(|f| {
            let (i, r) = f.current();
            (i, r.origin.clone())
        }) else {
            break;
        };
        outcome = forward(request, &origin, timeout).await;
        if outcome.as_ref().is_ok_and(healthy) {
            moved(with(|f| f.answered(index)).flatten());
            return outcome;
        }
        // Offline, or the caller gave up on the request (a page that navigated away, a replay
        // past its time limit): no region is to blame.
        if !navigator_online() || request.signal().aborted() {
            break;
        }
        if let Err(e) = &outcome {
            web_sys::console::warn_1(
                &format!(
                    "tessera service worker: {origin} did not answer: {}",
                    error_text(e)
                )
                .into(),
            );
        }
        let to = with(|f| f.failed(index)).flatten();
        if to.is_none() {
            sleep_ms(RETRY_MS).await;
        }
        moved(to);
    }
    outcome
}
