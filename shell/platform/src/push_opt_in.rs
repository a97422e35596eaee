//! "Notify me about my orders": a signed-in user opts this browser in to Web Push (the BFF then
//! sends each status change of their orders, also when no page is open; the worker shows it)
//! or out again. The status bar holds the switch once the worker is ready.
//!
//! The browser's subscription belongs to the user who made it (`localStorage["tessera.push"]`
//! names them): when another user, or nobody, is signed in, it is dropped at the push service,
//! so one person's order news never reaches the next person at this browser. A page that
//! starts opted in sends its subscription again, so a server that forgot it learns it anew.

use crate::part::{text, Part};
use crate::session;
use shell_common::watched::Watched;
use std::cell::RefCell;
use tessera_contract::Session;
use tessera_sdk::dom::{el, Build};
use tessera_sdk::Listener;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

// In JS: promises, permission prompts and `toJSON()` all the way; the same through web-sys
// would add glue for every call to the shell's bundle.
#[wasm_bindgen(inline_js = r#"
const KEY = "tessera.push";
const supported = () => "serviceWorker" in navigator && "PushManager" in self && "Notification" in self;
const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
async function send(method, token, body) {
  const r = await fetch("/api/push/subscription", {
    method, body: JSON.stringify(body),
    headers: { "content-type": "application/json", authorization: "Bearer " + token },
  });
  if (!r.ok) {
    const problem = await r.json().catch(() => ({}));
    throw new Error(problem.detail || problem.title || `the server answered HTTP ${r.status}`);
  }
}
export async function push_state(subject, token) {
  if (!supported()) return "unsupported";
  const { pushManager } = await navigator.serviceWorker.ready;
  const sub = await pushManager.getSubscription();
  const owner = localStorage.getItem(KEY);
  if (sub && owner !== subject) {
    await sub.unsubscribe();
    localStorage.removeItem(KEY);
    return Notification.permission === "denied" ? "denied" : "off";
  }
  if (Notification.permission === "denied") return "denied";
  if (!sub || !subject) return "off";
  send("PUT", token, sub.toJSON()).catch((e) => console.warn("tessera: push subscription not renewed:", e));
  return "on";
}
export async function push_opt_in(subject, token) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    throw new Error(permission === "denied"
      ? "notifications are blocked for this site in the browser's settings"
      : "the browser was not allowed to show notifications");
  }
  const { pushManager } = await navigator.serviceWorker.ready;
  const r = await fetch("/api/push/key", { cache: "no-store" });
  if (!r.ok) throw new Error(`the server has no push key (HTTP ${r.status})`);
  const { publicKey } = await r.json();
  let sub = await pushManager.getSubscription();
  // A subscription made for another server key cannot carry this server's messages.
  const made = sub?.options?.applicationServerKey;
  if (sub && made && b64url(made) !== publicKey) { await sub.unsubscribe(); sub = null; }
  sub ??= await pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: publicKey });
  await send("PUT", token, sub.toJSON());
  localStorage.setItem(KEY, subject);
}
export async function push_opt_out(token) {
  const { pushManager } = await navigator.serviceWorker.ready;
  const sub = await pushManager.getSubscription();
  localStorage.removeItem(KEY);
  if (!sub) return;
  // Dropped at the push service whatever the server says: the server forgets an endpoint the
  // push service calls gone, so opting out works offline too.
  const told = send("DELETE", token, { endpoint: sub.endpoint })
    .catch((e) => console.warn("tessera: the server was not told of the opt-out:", e));
  await Promise.all([told, sub.unsubscribe()]);
}
"#)]
extern "C" {
    /// `"unsupported"`, `"denied"`, `"on"` or `"off"` for `subject`, dropping another user's
    /// subscription first.
    fn push_state(subject: &str, token: &str) -> js_sys::Promise;
    fn push_opt_in(subject: &str, token: &str) -> js_sys::Promise;
    fn push_opt_out(token: &str) -> js_sys::Promise;
}

thread_local! {
    /// What the switch shows; `None` hides it (no worker yet, no push in this browser).
    static STATE: Watched<Option<&'static str>> = Watched::new(None);
}

fn signed_in(s: &Session) -> Option<(String, String)> {
    let token = s.id_token.clone()?;
    Some((session::subject(&token)?, token))
}

fn set(state: Option<&'static str>) {
    STATE.with(|s| s.set(state));
}

/// Finds this browser's state for the current user, now and after every change of user.
pub fn start() {
    refresh(&session::current());
    session::on_change(|s, same_user| {
        if !same_user {
            refresh(s);
        }
    });
}

fn refresh(s: &Session) {
    let (subject, token) = signed_in(s).unwrap_or_default();
    let asked = push_state(&subject, &token);
    wasm_bindgen_futures::spawn_local(async move {
        let state = match JsFuture::from(asked).await.map(|v| v.as_string()) {
            Ok(Some(state)) if state == "on" => Some("on"),
            Ok(Some(state)) if state == "off" => Some("off"),
            Ok(Some(state)) if state == "denied" => Some("denied"),
            Ok(_) => None,
            Err(e) => {
                web_sys::console::warn_1(
                    &format!(
                        "tessera: push state unknown: {}",
                        shell_common::js::error_message(&e)
                    )
                    .into(),
                );
                None
            }
        };
        set(state);
    });
}

fn switch(on: bool) {
    let Some((subject, token)) = signed_in(&session::current()) else {
        return;
    };
    set(Some("busy"));
    let asked = if on {
        push_opt_in(&subject, &token)
    } else {
        push_opt_out(&token)
    };
    wasm_bindgen_futures::spawn_local(async move {
        match JsFuture::from(asked).await {
            Ok(_) => set(Some(if on { "on" } else { "off" })),
            Err(e) => {
                crate::auth::notify(format!(
                    "Order notifications could not be turned {}: {}",
                    if on { "on" } else { "off" },
                    shell_common::js::error_message(&e)
                ));
                refresh(&session::current());
            }
        }
    });
}

/// The switch in the status bar, for a signed-in user of a browser that can be notified.
pub fn switch_view(bar: &web_sys::Element) {
    let part = std::rc::Rc::new(RefCell::new((Part::new(bar), None::<Listener>)));
    let draw = move || {
        let signed_in = session::current().id_token.is_some();
        let shown = STATE.with(Watched::get).filter(|_| signed_in);
        let mut part = part.borrow_mut();
        let Some(shown) = shown else {
            part.0.set(Vec::new());
            part.1 = None;
            return;
        };
        let (label, button) = match shown {
            "on" => ("Order notifications on ", Some(("Turn off", false))),
            "off" => ("", Some(("Notify me about my orders", true))),
            "busy" => ("Order notifications…", None),
            _ => ("Notifications blocked in this browser", None),
        };
        let switch_part = el("span")
            .attr("class", "tessera-push")
            .attr("data-push", shown)
            .text(label);
        part.1 = button.map(|(label, on)| {
            let b = el("button").attr("type", "button").text(label);
            let _ = switch_part.append_child(&b);
            Listener::on(&b, "click", move |_| switch(on))
        });
        part.0.set(vec![text(" · "), switch_part.into()]);
    };
    let draw = std::rc::Rc::new(draw);
    let again = draw.clone();
    STATE.with(|s| s.follow(move |_| again()));
    session::watched().follow(move |_| draw());
}
