//! The page's event bus: `window` CustomEvents named `tessera:<topic>` whose `detail` is the
//! JSON text of an envelope (`tessera_contract::bus::Envelope`); the page keeps the last
//! envelopes per topic for apps that load later. Apps read and write envelopes as JS values
//! (the browser's `JSON.parse` and `JSON.stringify`); the shell, which has its own JSON, uses
//! the text-level [`publish_text`] and [`subscribe_text`].

use crate::js::{FromJs, JsValue, ToJs};
pub use tessera_contract::bus::{event_name, topics, ENVELOPE_VERSION, EVENT_PREFIX};
use tessera_wire::from_js;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One message on the bus, as an app reads it: `data` stays a JS value until the receiver
/// reads it as its own type ([`Envelope::data_as`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Envelope layout version.
    pub v: u32,
    /// Event type, e.g. `cart.item-added`.
    pub kind: String,
    /// Unique id, so receivers can drop duplicates.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The app that sent it, e.g. `@tessera/add-to-cart`.
    pub source: String,
    pub data: JsValue,
}

from_js!(to_js Envelope {
    v: "v",
    kind: "type",
    id: "id",
    timestamp: "timestamp",
    source: "source",
    data: "data",
});

impl Envelope {
    /// The payload as `T`, or `None` when it does not have that shape.
    pub fn data_as<T: FromJs>(&self) -> Option<T> {
        T::from_js(&self.data).ok()
    }
}

/// How many envelopes per topic the page keeps, so an app loaded later can catch up.
const REPLAY_LIMIT: u32 = 200;

/// The page's envelopes on `topic` (`globalThis.__tesseraBus[topic]`, made when missing). Not
/// `inline_js`: its file would be one more request for every app that links the SDK.
fn bus_log(topic: &str) -> js_sys::Array {
    use js_sys::{Array, Object, Reflect};
    fn member<T: JsCast>(of: &JsValue, key: &JsValue, make: fn() -> T) -> T {
        match Reflect::get(of, key)
            .ok()
            .and_then(|v| v.dyn_into::<T>().ok())
        {
            Some(found) => found,
            None => {
                let made = make();
                let _ = Reflect::set(of, key, made.as_ref());
                made
            }
        }
    }
    let all: Object = member(&js_sys::global(), &"__tesseraBus".into(), Object::new);
    member(&all, &topic.into(), Array::new)
}

fn window() -> web_sys::Window {
    web_sys::window().expect("no window: this code runs in a page")
}

/// A fresh unique id (time + randomness is enough to tell envelopes apart on one page).
pub fn new_id() -> String {
    let rand = (js_sys::Math::random() * 1e16) as u64;
    format!("{:x}-{rand:x}", js_sys::Date::now() as u64)
}

/// Publishes an envelope of `kind` with `data` (any value `JSON.stringify` can write) on
/// `tessera:<topic>` and records it for late subscribers.
pub fn publish(topic: &str, kind: &str, source: &str, data: &JsValue) -> Envelope {
    let env = Envelope {
        v: ENVELOPE_VERSION,
        kind: kind.to_string(),
        id: new_id(),
        timestamp: js_sys::Date::now() as u64,
        source: source.to_string(),
        data: data.clone(),
    };
    if let Ok(text) = js_sys::JSON::stringify(&env.to_js()) {
        publish_js_text(topic, &text);
    }
    env
}

/// Publishes the JSON text of an envelope on `tessera:<topic>` and records it for late
/// subscribers.
pub fn publish_text(topic: &str, text: &str) {
    publish_js_text(topic, &JsValue::from_str(text));
}

/// [`publish_text`] with the text already a JS string: a burst of live events copied each
/// envelope into wasm and out again twice.
fn publish_js_text(topic: &str, text: &JsValue) {
    let log = bus_log(topic);
    log.push(text);
    if log.length() > REPLAY_LIMIT {
        log.shift();
    }
    let init = web_sys::CustomEventInit::new();
    init.set_detail(text);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(&event_name(topic), &init) {
        let _ = window().dispatch_event(&event);
    }
}

/// An event listener (on `window` unless made with [`Listener::on`]); removed when dropped.
pub struct Listener {
    target: web_sys::EventTarget,
    name: String,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Listens to `name` on `window`.
    pub fn new(name: &str, f: impl FnMut(web_sys::Event) + 'static) -> Listener {
        Listener::on(&window(), name, f)
    }

    /// Listens to `name` on `target` (a button's `click`, say).
    pub fn on(
        target: &web_sys::EventTarget,
        name: &str,
        f: impl FnMut(web_sys::Event) + 'static,
    ) -> Listener {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let _ = target.add_event_listener_with_callback(name, callback.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
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
        let _ = self.target.remove_event_listener_with_callback(
            &self.name,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

/// Subscribes to a topic with the JSON text of each envelope. With `replay`, envelopes
/// published before the call are delivered first, oldest first.
pub fn subscribe_text(topic: &str, replay: bool, mut f: impl FnMut(String) + 'static) -> Listener {
    if replay {
        for text in bus_log(topic).iter().filter_map(|t| t.as_string()) {
            f(text);
        }
    }
    Listener::new(&event_name(topic), move |event| {
        let detail = event.dyn_ref::<web_sys::CustomEvent>().map(|e| e.detail());
        if let Some(text) = detail.and_then(|d| d.as_string()) {
            f(text);
        }
    })
}

/// Subscribes to a topic. With `replay`, envelopes published before the call are delivered
/// first, oldest first; malformed envelopes and ones from a future layout are skipped.
pub fn subscribe(topic: &str, replay: bool, mut f: impl FnMut(Envelope) + 'static) -> Listener {
    subscribe_text(topic, replay, move |text| {
        if let Some(env) = parse(&text) {
            f(env);
        }
    })
}

/// An envelope from its JSON text, read by the browser's `JSON.parse` (an app then carries no
/// JSON parser); `None` for anything a receiver ignores: malformed, or a layout from the future.
fn parse(text: &str) -> Option<Envelope> {
    let env = Envelope::from_js(&js_sys::JSON::parse(text).ok()?).ok()?;
    (env.v <= ENVELOPE_VERSION).then_some(env)
}

/// A domain event from the BFF's live service, as an app reads it: the contract's
/// `sync::DomainEvent` with `data` left a JS value.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvent {
    pub id: String,
    /// Its type, e.g. `order.status-changed` (`sync::event_types`).
    pub kind: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// The entity it is about, e.g. `order:7f3c…`.
    pub partition_key: String,
    pub source: String,
    pub data: JsValue,
    pub seq: i64,
}

from_js!(LiveEvent {
    id: "id",
    kind: "type",
    timestamp: "timestamp",
    partition_key: "partitionKey",
    source: "source",
    data: "data",
    seq: "seq",
});

/// Calls `f` with every live domain event the shell relays (topic [`topics::LIVE`]).
pub fn on_live(mut f: impl FnMut(LiveEvent) + 'static) -> Listener {
    subscribe(topics::LIVE, false, move |env| {
        if let Some(event) = env.data_as() {
            f(event);
        }
    })
}
