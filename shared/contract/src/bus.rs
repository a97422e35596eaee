//! The event-bus envelope. Events travel as `window` CustomEvents named `tessera:<topic>` whose
//! `detail` is the JSON text of an [`Envelope`]. Receivers ignore unknown fields and unknown types.

use serde::{Deserialize, Serialize};

/// Version of the envelope layout; bumped only for incompatible changes.
pub const ENVELOPE_VERSION: u32 = 1;
/// Prefix of every DOM event name on the bus.
pub const EVENT_PREFIX: &str = "tessera:";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Envelope layout version.
    pub v: u32,
    /// Event type, e.g. `cart.item-added`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique id, so receivers can drop duplicates.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The app that sent it, e.g. `@tessera/add-to-cart`.
    pub source: String,
    pub data: serde_json::Value,
}

impl Envelope {
    pub fn new(
        kind: impl Into<String>,
        id: impl Into<String>,
        timestamp: u64,
        source: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Envelope {
            v: ENVELOPE_VERSION,
            kind: kind.into(),
            id: id.into(),
            timestamp,
            source: source.into(),
            data,
        }
    }
}

/// The DOM event name for a topic: `cart` → `tessera:cart`.
pub fn event_name(topic: &str) -> String {
    format!("{EVENT_PREFIX}{topic}")
}

/// Well-known topics and payloads of the demo domain.
pub mod topics {
    use serde::{Deserialize, Serialize};

    pub const CART: &str = "cart";
    pub const ITEM_ADDED: &str = "cart.item-added";
    /// The outbox changed (a command queued, sent, confirmed, refused); `data` is an
    /// [`outbox::Summary`](crate::outbox::Summary). Views showing data that commands change
    /// read it again, so waiting commands and confirmed results both show.
    pub const OUTBOX: &str = "outbox";
    pub const OUTBOX_CHANGED: &str = "outbox.changed";
    /// Domain events from the BFF's live service, relayed by the shell; the envelope's type
    /// is the event's type and `data` the whole [`DomainEvent`](crate::sync::DomainEvent),
    /// each delivered once per page, in `seq` order.
    pub const LIVE: &str = "live";
    /// The signed-in user changed (signed in, renewed, signed out); `data` is the
    /// [`Session`](crate::Session) without its token. Mounted apps also get the new session
    /// through `update(props)`.
    pub const SESSION: &str = "session";
    pub const SESSION_CHANGED: &str = "session.changed";

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ItemAdded {
        pub restaurant_id: String,
        pub item_id: String,
        pub name: String,
        pub price_cents: i64,
        pub quantity: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Receivers (the SDK's `bus::subscribe`) read envelopes with the browser's `JSON.parse`;
    /// its browser tests cover malformed envelopes and layouts from the future.
    #[test]
    fn the_kind_is_written_as_type() {
        let env = Envelope::new(
            "cart.item-added",
            "e1",
            1_700_000_000_000,
            "@tessera/add-to-cart",
            json!({"x": 1}),
        );
        let text = serde_json::to_string(&env).unwrap();
        assert!(text.contains("\"type\":\"cart.item-added\""));
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), env);
        assert_eq!(event_name(topics::CART), "tessera:cart");
    }
}
