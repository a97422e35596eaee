//! What the platform module publishes on the event bus, written by serde (its own types, and
//! the runtime's, serialise with it anyway) over the SDK's text-level bus, so apps see the same
//! CustomEvents. The start module, which links no serde, publishes through the SDK's
//! `bus::publish` instead. Both subscribe through the SDK's `bus::subscribe`, whose envelopes
//! are read by the browser's `JSON.parse`: no serde deserializer for them in the shell.

use tessera_contract::bus::Envelope;

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
