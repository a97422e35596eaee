//! Web Push: what a browser sends to opt in to notifications of the user's orders (`PUT
//! /api/push/subscription`, the shape of `PushSubscription.toJSON()`), the server's public
//! VAPID key it subscribes with (`GET /api/push/key`), and the notification the service worker
//! shows (the push message's payload).

use crate::sync::{Order, OrderStatus};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `GET /api/push/key`: what `pushManager.subscribe` takes as `applicationServerKey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushKey {
    /// The uncompressed P-256 public key (65 bytes), base64url without padding.
    pub public_key: String,
}

/// `PUT /api/push/subscription`: a browser's push subscription, as `toJSON()` gives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSubscription {
    /// The push service's URL for this browser.
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub endpoint: String,
    /// When the push service will drop it (ms since the epoch), if it says.
    #[serde(default)]
    pub expiration_time: Option<f64>,
    pub keys: PushKeys,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The browser's P-256 public key (65 bytes uncompressed), base64url.
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub auth: String,
}

/// `DELETE /api/push/subscription`: the browser that opts out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Unsubscribe {
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub endpoint: String,
}

/// A push message's payload: what the service worker shows, and where a click leads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Notification {
    pub title: String,
    pub body: String,
    /// The site path a click opens (or focuses, if a page shows it).
    pub url: String,
    /// Notifications with one tag replace each other: one per order, its latest news.
    pub tag: String,
}

/// What a user is told when the kitchen moves `order`; `None` for a status nobody waits for
/// news of (a submitted order is the user's own doing).
pub fn order_notification(order: &Order) -> Option<Notification> {
    let title = match order.status {
        OrderStatus::Submitted => return None,
        OrderStatus::Accepted => "Your order was accepted",
        OrderStatus::Preparing => "Your order is being prepared",
        OrderStatus::OutForDelivery => "Your order is on its way",
        OrderStatus::Delivered => "Your order was delivered",
    };
    let items: u32 = order.lines.iter().map(|l| l.quantity).sum();
    let what = match order.lines.as_slice() {
        [one] if one.quantity == 1 => one.name.clone(),
        _ => format!("{items} items"),
    };
    let total = order.total_cents.max(0);
    Some(Notification {
        title: title.to_owned(),
        body: format!(
            "{what}, {}.{:02} {}",
            total / 100,
            total % 100,
            order.currency
        ),
        // The cart app lists the user's orders with their live status.
        url: "/cart".to_owned(),
        tag: format!("order-{}", order.id),
    })
}

/// Where a click on a notification leads: its `url` when that is a path of this site, the
/// site's root otherwise (a payload must never send the user to another site).
pub fn click_path(url: &str) -> &str {
    let own = url.starts_with('/') && !url.starts_with("//") && !url.contains('\\');
    if own && !url.chars().any(char::is_control) {
        url
    } else {
        "/"
    }
}

/// The worker's message to the window a click focuses, `{type, path}`: show `path` (the URL
/// the browser last recorded for a window need not follow the page's own navigations).
pub const SHOW_MESSAGE: &str = "tessera:show";

/// Which open window of the site a click focuses: the first one showing `path` (`windows` are
/// their paths with query and fragment); `None` opens a new one.
pub fn window_for(path: &str, windows: &[&str]) -> Option<usize> {
    let bare = |p: &str| p.split(['?', '#']).next().unwrap_or_default().to_owned();
    windows.iter().position(|w| bare(w) == bare(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{CartLine, EntityMeta};

    fn order(status: OrderStatus, quantities: &[u32]) -> Order {
        Order {
            id: "o-7".into(),
            owner: "ann".into(),
            status,
            lines: quantities
                .iter()
                .map(|&quantity| CartLine {
                    item_id: "pho".into(),
                    restaurant_id: "pho-corner".into(),
                    name: "Phở bò".into(),
                    unit_price_cents: 1290,
                    quantity,
                })
                .collect(),
            total_cents: 3870,
            currency: "EUR".into(),
            placed_at: "2026-12-06T12:00:00Z".into(),
            meta: EntityMeta {
                version: 2,
                last_modified: "2026-12-06T12:00:03Z".into(),
                last_modified_by: "kitchen".into(),
                deleted: false,
            },
        }
    }

    #[test]
    fn each_step_of_the_kitchen_tells_the_user() {
        assert_eq!(
            order_notification(&order(OrderStatus::Submitted, &[1])),
            None
        );
        let n = order_notification(&order(OrderStatus::Preparing, &[2, 1])).unwrap();
        assert_eq!(
            (
                n.title.as_str(),
                n.body.as_str(),
                n.url.as_str(),
                n.tag.as_str()
            ),
            (
                "Your order is being prepared",
                "3 items, 38.70 EUR",
                "/cart",
                "order-o-7"
            )
        );
        let one = order_notification(&order(OrderStatus::OutForDelivery, &[1])).unwrap();
        assert_eq!(one.body, "Phở bò, 38.70 EUR");
    }

    #[test]
    fn a_click_stays_on_the_site_and_reuses_a_window() {
        assert_eq!(click_path("/cart"), "/cart");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil",
            "cart",
            "/a\nb",
        ] {
            assert_eq!(click_path(elsewhere), "/", "{elsewhere}");
        }
        assert_eq!(
            window_for("/cart", &["/restaurants", "/cart#order-1"]),
            Some(1)
        );
        assert_eq!(window_for("/cart", &["/restaurants/7"]), None);
    }

    #[test]
    fn a_browser_subscription_reads_as_the_browser_writes_it() {
        let s: PushSubscription = serde_json::from_str(
            r#"{"endpoint":"https://fcm.googleapis.com/fcm/send/x","expirationTime":null,"keys":{"p256dh":"BPk","auth":"q1"}}"#,
        )
        .unwrap();
        assert_eq!((s.keys.p256dh.as_str(), s.expiration_time), ("BPk", None));
        assert!(serde_json::from_str::<PushSubscription>(
            r#"{"endpoint":"x","keys":{"p256dh":"a","auth":"b"},"extra":1}"#
        )
        .is_err());
    }
}
