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

    /// Parses an envelope, returning `None` for anything a receiver should ignore: malformed
    /// JSON or an envelope version from the future.
    pub fn parse(text: &str) -> Option<Envelope> {
        let env: Envelope = serde_json::from_str(text).ok()?;
        (env.v <= ENVELOPE_VERSION).then_some(env)
    }

    /// The payload as `T`, or `None` when it does not have that shape.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.data.clone()).ok()
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

    #[test]
    fn round_trips_with_type_field() {
        let env = Envelope::new(
            "cart.item-added",
            "e1",
            1_700_000_000_000,
            "@tessera/add-to-cart",
            json!({"x": 1}),
        );
        let text = serde_json::to_string(&env).unwrap();
        assert!(text.contains("\"type\":\"cart.item-added\""));
        assert_eq!(Envelope::parse(&text), Some(env));
    }

    #[test]
    fn unknown_fields_are_ignored_and_bad_input_is_dropped() {
        let env = Envelope::parse(
            r#"{"v":1,"type":"t","id":"i","timestamp":0,"source":"s","data":null,"extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(env.kind, "t");
        assert_eq!(Envelope::parse("not json"), None);
        assert_eq!(Envelope::parse(r#"{"v":1}"#), None);
        assert_eq!(
            Envelope::parse(
                r#"{"v":2,"type":"t","id":"i","timestamp":0,"source":"s","data":null}"#
            ),
            None,
            "a future envelope layout must not be misread"
        );
    }

    #[test]
    fn typed_payloads() {
        let added = topics::ItemAdded {
            restaurant_id: "r1".into(),
            item_id: "m1".into(),
            name: "Pho".into(),
            price_cents: 1250,
            quantity: 2,
        };
        let env = Envelope::new(
            topics::ITEM_ADDED,
            "1",
            0,
            "t",
            serde_json::to_value(&added).unwrap(),
        );
        assert_eq!(env.data_as::<topics::ItemAdded>(), Some(added));
        assert_eq!(env.data_as::<u32>(), None);
        assert_eq!(event_name(topics::CART), "tessera:cart");
    }
}
