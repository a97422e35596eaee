//! The cart at its own route, as the user sees it: the BFF's cart with the changes still
//! waiting in the outbox on top (marked "not sent yet"), removal, and checkout into an order.
//! Commands go through the outbox, so all of it works offline; the view reads the cart again
//! whenever the outbox changes. Below the cart, the user's recent orders follow the kitchen
//! live: each `order.*` event from the BFF's live service updates its order on screen at once.

use leptos::prelude::*;
use tessera_sdk::bus::topics;
use tessera_sdk::js::{self, FromJs, JsValue, ToJs};
use tessera_sdk::sync::{
    event_types, total_cents, CartLine, Checkout, EntityMeta, Order, Page, PutCartItem,
};
use tessera_sdk::{as_of_notice, new_uuid, on_live, subscribe, CommandSpec, Host, LiveEvent};
use tessera_sdk::{Edit, Marked, Overlay, Props, Reader};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: cart);

/// How many of the user's orders the cart shows.
const RECENT_ORDERS: usize = 5;

/// The order an `order.placed` or `order.status-changed` event carries.
fn live_order(event: &LiveEvent) -> Option<Order> {
    match event.kind.as_str() {
        event_types::ORDER_PLACED => js::field(&event.data, "order").ok(),
        event_types::ORDER_STATUS_CHANGED => Order::from_js(&event.data).ok(),
        _ => None,
    }
}

/// `shown` with `news` merged in: per order the highest version wins (a live event may
/// arrive before or after a read that already holds it), newest placed first.
fn newest(shown: &[Order], news: Vec<Order>) -> Vec<Order> {
    let mut all: Vec<Order> = shown.to_vec();
    for order in news {
        match all.iter_mut().find(|o| o.id == order.id) {
            Some(o) if o.meta.version < order.meta.version => *o = order,
            Some(_) => {}
            None => all.push(order),
        }
    }
    all.sort_by(|a, b| b.placed_at.cmp(&a.placed_at).then_with(|| b.id.cmp(&a.id)));
    all.truncate(RECENT_ORDERS);
    all
}

fn price(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}€{}.{:02}", cents / 100, cents % 100)
}

/// The cart as the overlay leaves it: lines marked when a waiting change made them, and the
/// order a waiting checkout will place.
#[derive(Clone, Debug, PartialEq)]
struct CartView {
    lines: Vec<Marked<CartLine>>,
    pending_order: Option<String>,
    pending: bool,
    meta: EntityMeta,
}

tessera_sdk::from_js!(CartView {
    lines: "lines",
    pending_order: "pendingOrder",
    pending: "tesseraPending" default,
    meta: flatten,
});

#[derive(Clone, Debug, PartialEq)]
enum Shown {
    Loading,
    Cart(CartView),
    /// The cart could not be read at all.
    Failed(String),
}

fn cart(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let p = props.get_untracked();
    let bff = host.bff(p.bff.as_deref().unwrap_or("/api/cart"));
    let orders = host.bff("/api/orders");
    let shown = RwSignal::new(Shown::Loading);
    // A command that could not be queued, shown above the cart it left unchanged.
    let notice = RwSignal::new(None::<String>);
    // The order a checkout shown as waiting placed, once the server confirmed it.
    let placed = RwSignal::new(None::<Order>);
    // The order this page's checkout asked for: online it may be placed before any read
    // shows it waiting.
    let awaiting = RwSignal::new(None::<String>);
    // "Saved copy · as of …" while the cart shown is the device's copy, not the server's.
    let as_of = RwSignal::new(None::<String>);
    let version = move || match shown.get_untracked() {
        Shown::Cart(c) => c.meta.version,
        _ => 0,
    };

    let reload = {
        let (bff, orders) = (bff.clone(), orders.clone());
        Reader::new(
            move || {
                let bff = bff.clone();
                async move { bff.query::<CartView>("").await }
            },
            move |answer| {
                let next = match answer {
                    Ok((c, freshness)) => {
                        as_of.try_set(as_of_notice(&freshness));
                        Shown::Cart(c)
                    }
                    Err(e) => Shown::Failed(e.to_string()),
                };
                // A checkout that was waiting is not any more: show the order it placed (a
                // conflict or refusal placed none, and the outbox says why).
                let pending_order = |s: &Shown| match s {
                    Shown::Cart(c) => c.pending_order.clone(),
                    _ => None,
                };
                let was_waiting = shown.try_get_untracked().as_ref().and_then(pending_order);
                let waiting = pending_order(&next);
                shown.try_set(next);
                let asked = awaiting.try_get_untracked().flatten().or(was_waiting);
                let Some(id) = asked.filter(|_| waiting.is_none()) else {
                    return;
                };
                let orders = orders.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    // Not found yet: a read that began before the checkout was queued; the
                    // next change of the outbox asks again.
                    if let Ok(order) = orders.get::<Order>(&format!("/{id}")).await {
                        awaiting.try_set(None);
                        placed.try_set(Some(order));
                    }
                });
            },
        )
    };
    reload.ask();
    let follow = {
        let reload = reload.clone();
        subscribe(topics::OUTBOX, false, move |_| reload.ask())
    };
    StoredValue::new_local(follow);
    let recent = RwSignal::new(Vec::<Order>::new());
    let read_orders = {
        let orders = orders.clone();
        move || {
            let orders = orders.clone();
            wasm_bindgen_futures::spawn_local(async move {
                // The exact query `/api/offline` names, so the list is there offline too.
                if let Ok((page, _)) = orders.query::<Page<Order>>("").await {
                    recent.try_update(|shown| *shown = newest(shown, page.items));
                }
            });
        }
    };
    read_orders();
    let live = {
        let reload = reload.clone();
        on_live(move |event| match live_order(&event) {
            Some(order) => {
                recent.update(|shown| *shown = newest(shown, vec![order.clone()]));
                placed.update(|p| {
                    if p.as_ref()
                        .is_some_and(|p| p.id == order.id && p.meta.version < order.meta.version)
                    {
                        *p = Some(order);
                    }
                });
                // Keep the device's saved copies (the worker's cache) in step.
                read_orders();
                if event.kind == event_types::ORDER_PLACED {
                    reload.ask();
                }
            }
            None if event.kind == event_types::CART_UPDATED => reload.ask(),
            None => {}
        })
    };
    StoredValue::new_local(live);

    let queue = {
        let bff = bff.clone();
        move |path: String, body: JsValue, label: String, overlays: Vec<Overlay>| {
            let bff = bff.clone();
            let base = version();
            wasm_bindgen_futures::spawn_local(async move {
                let queued = bff
                    .command(CommandSpec {
                        path: &path,
                        body: &body,
                        entity: "cart",
                        base_version: Some(base),
                        label,
                        overlays,
                    })
                    .await;
                notice.try_set(queued.err().map(|e| e.to_string()));
            });
        }
    };
    let remove = {
        let queue = queue.clone();
        move |item_id: String, name: String| {
            let body = PutCartItem {
                quantity: 0,
                last_modified_by: None,
            };
            let gone = Overlay {
                query: String::new(),
                edit: Edit::Remove {
                    list: "/lines".into(),
                    key: "itemId".into(),
                    id: item_id.clone(),
                },
            };
            queue(
                format!("/items/{item_id}"),
                body.to_js(),
                format!("{name} removed from the cart"),
                vec![gone],
            );
        }
    };
    let checkout = {
        let queue = queue.clone();
        move |_| {
            let order_id = new_uuid();
            let overlays = vec![
                Overlay {
                    query: String::new(),
                    edit: Edit::Set {
                        pointer: "/lines".into(),
                        value: Vec::<String>::new().to_js(),
                    },
                },
                Overlay {
                    query: String::new(),
                    edit: Edit::Set {
                        pointer: "/pendingOrder".into(),
                        value: order_id.to_js(),
                    },
                },
            ];
            placed.set(None);
            awaiting.set(Some(order_id.clone()));
            queue(
                format!("/checkout/{order_id}"),
                Checkout::default().to_js(),
                "Checkout".to_string(),
                overlays,
            );
        }
    };

    // The view's closures must be `Send`; the reader is held for them by the view.
    let retry = StoredValue::new_local(reload.clone());
    let body = move || match shown.get() {
        Shown::Loading => view! { <p class="loading">"Loading your cart…"</p> }.into_any(),
        Shown::Failed(e) => view! {
            <p class="tessera-app-error" role="alert">"Your cart could not be loaded: "{e}</p>
            <button on:click=move |_| retry.with_value(Reader::ask)>"Try again"</button>
        }
        .into_any(),
        Shown::Cart(c) if c.lines.is_empty() => {
            let waiting = c.pending_order.map(|id| view! {
                <p class="order-pending">"Order "<code>{id}</code>" will be placed as soon as the server can be reached."</p>
            });
            view! {
                {waiting}
                <p class="empty">"Your cart is empty. "<a href="/restaurants">"Find something to eat"</a></p>
            }
            .into_any()
        }
        Shown::Cart(c) => {
            let total = total_cents(&c.lines.iter().map(|l| l.value.clone()).collect::<Vec<_>>());
            let rows = c
                .lines
                .into_iter()
                .map(|Marked { value: l, pending }| {
                    let remove = remove.clone();
                    let (id, name) = (l.item_id.clone(), l.name.clone());
                    view! {
                        <tr data-item=l.item_id.clone() data-pending=pending.to_string()>
                            <td>{l.name}{pending.then(|| view! { <span class="pending-mark" title="Saved on this device; not sent yet">" · not sent yet"</span> })}</td>
                            <td class="quantity">{l.quantity}</td>
                            <td>{price(l.unit_price_cents * i64::from(l.quantity))}</td>
                            <td><button on:click=move |_| remove(id.clone(), name.clone())>"Remove"</button></td>
                        </tr>
                    }
                })
                .collect_view();
            let checkout = checkout.clone();
            view! {
                <table class="cart-lines" data-pending=c.pending.to_string()>
                    <thead><tr><th>"Item"</th><th>"Qty"</th><th>"Price"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                <p class="total">"Total: "<strong>{price(total)}</strong></p>
                <button class="checkout" on:click=checkout>"Check out"</button>
            }
            .into_any()
        }
    };
    view! {
        <div class="cart">
            <h1>"Your cart"</h1>
            {move || as_of.get().map(|n| view! { <p class="tessera-as-of">{n}</p> })}
            {move || notice.get().map(|n| view! { <p class="notice" role="alert">{n}</p> })}
            {move || placed.get().map(|o| view! {
                <p class="order-placed">"Order "<code>{o.id.clone()}</code>" placed: "{price(o.total_cents)}", "<span class="order-status">{o.status.as_str()}</span></p>
            })}
            {body}
            {move || {
                let orders = recent.get();
                (!orders.is_empty()).then(|| view! {
                    <h2>"Your orders"</h2>
                    <ul class="orders">
                        {orders.into_iter().map(|o| view! {
                            <li class="order" data-order=o.id.clone() data-status=o.status.as_str()>
                                <code>{o.id.chars().take(8).collect::<String>()}</code>" · "{price(o.total_cents)}" · "
                                <span class="status">{o.status.as_str()}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                })
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{newest, price, RECENT_ORDERS};
    use tessera_sdk::sync::{EntityMeta, Order, OrderStatus};

    fn order(id: &str, placed_at: &str, version: i64, status: OrderStatus) -> Order {
        Order {
            id: id.into(),
            owner: "alice".into(),
            status,
            lines: vec![],
            total_cents: 100,
            currency: "EUR".into(),
            placed_at: placed_at.into(),
            meta: EntityMeta {
                version,
                last_modified: placed_at.into(),
                last_modified_by: "kitchen".into(),
                deleted: false,
            },
        }
    }

    #[test]
    fn the_highest_version_of_an_order_wins_whichever_arrives_first() {
        let placed = order("a", "2026-01-01T10:00:00Z", 1, OrderStatus::Submitted);
        let moved = order("a", "2026-01-01T10:00:00Z", 3, OrderStatus::Preparing);
        // A live event, then a read that began before it.
        let shown = newest(&[], vec![moved.clone()]);
        assert_eq!(newest(&shown, vec![placed.clone()]), vec![moved.clone()]);
        // A read, then the live event.
        assert_eq!(newest(&[placed], vec![moved.clone()]), vec![moved]);
    }

    #[test]
    fn newest_placed_first_and_only_a_few() {
        let news: Vec<Order> = (0..8)
            .map(|i| {
                order(
                    &format!("o{i}"),
                    &format!("2026-01-01T10:0{i}:00Z"),
                    1,
                    OrderStatus::Submitted,
                )
            })
            .collect();
        let shown = newest(&[], news);
        assert_eq!(shown.len(), RECENT_ORDERS);
        let ids: Vec<&str> = shown.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["o7", "o6", "o5", "o4", "o3"]);
    }

    #[test]
    fn prices_are_euros_with_two_decimals() {
        assert_eq!(price(3390), "€33.90");
        assert_eq!(price(5), "€0.05");
        assert_eq!(price(0), "€0.00");
        assert_eq!(price(-250), "-€2.50");
    }
}
