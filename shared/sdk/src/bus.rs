//! The page's event bus: `window` CustomEvents named `tessera:<topic>` whose `detail` is the
//! JSON text of an [`Envelope`]; the page keeps the last envelopes per topic for apps that
//! load later.

pub use tessera_contract::bus::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How many envelopes per topic the page keeps, so an app loaded later can catch up.
const REPLAY_LIMIT: u32 = 200;

#[wasm_bindgen(inline_js = r#"
export function bus_log(topic) {
  const all = (globalThis.__tesseraBus ||= {});
  return (all[topic] ||= []);
}
"#)]
extern "C" {
    fn bus_log(topic: &str) -> js_sys::Array;
}

fn window() -> web_sys::Window {
    web_sys::window().expect("no window: this code runs in a page")
}

/// A fresh unique id (time + randomness is enough to tell envelopes apart on one page).
pub fn new_id() -> String {
    let rand = (js_sys::Math::random() * 1e16) as u64;
    format!("{:x}-{rand:x}", js_sys::Date::now() as u64)
}

/// Publishes an envelope on `tessera:<topic>` and records it for late subscribers.
pub fn publish(topic: &str, kind: &str, source: &str, data: serde_json::Value) -> Envelope {
    let env = Envelope::new(kind, new_id(), js_sys::Date::now() as u64, source, data);
    let text = serde_json::to_string(&env).unwrap_or_default();
    let log = bus_log(topic);
    log.push(&JsValue::from_str(&text));
    if log.length() > REPLAY_LIMIT {
        log.shift();
    }
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&JsValue::from_str(&text));
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(&event_name(topic), &init) {
        let _ = window().dispatch_event(&event);
    }
    env
}

/// A listener on `window`; removed when dropped.
pub struct Listener {
    name: String,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    pub fn new(name: &str, f: impl FnMut(web_sys::Event) + 'static) -> Listener {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let _ = window().add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
        Listener {
            name: name.to_string(),
            callback,
        }
    }

    /// Keeps the listener for the life of the page.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = window().remove_event_listener_with_callback(
            &self.name,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

/// Subscribes to a topic. With `replay`, envelopes published before the call are delivered
/// first, oldest first; malformed envelopes and ones from a future layout are skipped.
pub fn subscribe(topic: &str, replay: bool, mut f: impl FnMut(Envelope) + 'static) -> Listener {
    if replay {
        for text in bus_log(topic).iter() {
            if let Some(env) = parse(&text) {
                f(env);
            }
        }
    }
    Listener::new(&event_name(topic), move |event| {
        let detail = event.dyn_ref::<web_sys::CustomEvent>().map(|e| e.detail());
        if let Some(env) = detail.as_ref().and_then(parse) {
            f(env);
        }
    })
}

/// An envelope from its JSON text, read by the browser's `JSON.parse` (an app then carries no
/// JSON parser); `None` for anything a receiver ignores: not text, malformed, or a layout from
/// the future.
fn parse(text: &JsValue) -> Option<Envelope> {
    let value = js_sys::JSON::parse(&text.as_string()?).ok()?;
    let env: Envelope = serde_wasm_bindgen::from_value(value).ok()?;
    (env.v <= ENVELOPE_VERSION).then_some(env)
}

/// Calls `f` with every live domain event the shell relays (topic [`topics::LIVE`]).
pub fn on_live(mut f: impl FnMut(tessera_contract::sync::DomainEvent) + 'static) -> Listener {
    subscribe(topics::LIVE, false, move |env| {
        if let Some(event) = env.data_as() {
            f(event);
        }
    })
}
