//! The event bus as the shell uses it: envelopes with `serde_json` payloads (the shell has its
//! JSON anyway), over the SDK's text-level bus, so apps see the same CustomEvents.

use tessera_contract::bus::Envelope;
use tessera_sdk::Listener;

/// Publishes `data` as an envelope of `kind` on `topic`.
pub fn publish(topic: &str, kind: &str, source: &str, data: serde_json::Value) {
    let env = Envelope::new(
        kind,
        tessera_sdk::bus::new_id(),
        js_sys::Date::now() as u64,
        source,
        data,
    );
    if let Ok(text) = serde_json::to_string(&env) {
        tessera_sdk::bus::publish_text(topic, &text);
    }
}

/// Subscribes to `topic`; envelopes a receiver ignores (malformed, from a future layout) are
/// skipped.
pub fn subscribe(topic: &str, replay: bool, mut f: impl FnMut(Envelope) + 'static) -> Listener {
    tessera_sdk::bus::subscribe_text(topic, replay, move |text| {
        if let Some(env) = Envelope::parse(&text) {
            f(env);
        }
    })
}
