//! The cart at its own route, as the BFF stores it for the signed-in user: lines with their
//! quantities, removal, and checkout into an order. It reloads when another app announces a
//! newer `cart.saved` on the event bus.

use leptos::prelude::*;
use tessera_shared::bff::BffError;
use tessera_shared::browser::{as_of_notice, new_idempotency_key, publish, subscribe, Bff, Host};
use tessera_shared::bus::topics::{self, CartSaved};
use tessera_shared::sync::{Cart, Checkout, Order, PutCartItem};
use tessera_shared::Props;

tessera_shared::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: cart);

fn price(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}€{}.{:02}", cents / 100, cents % 100)
}

#[derive(Clone, Debug, PartialEq)]
enum Shown {
    Loading,
    Cart(Cart),
    /// The cart could not be read at all.
    Failed(String),
}

fn cart(props: ArcRwSignal<Props>, _host: Host) -> impl IntoView {
    let p = props.get_untracked();
    let bff = Bff::new(p.bff.as_deref().unwrap_or("/api/cart"), &p.session);
    let source = p.name;
    let shown = RwSignal::new(Shown::Loading);
    // A command that failed, shown above the cart it left unchanged.
    let notice = RwSignal::new(None::<String>);
    let placed = RwSignal::new(None::<Order>);
    // "Saved copy · as of …" while the cart shown is the device's copy, not the server's.
    let as_of = RwSignal::new(None::<String>);
    let version = move || match shown.get_untracked() {
        Shown::Cart(c) => c.meta.version,
        _ => -1,
    };

    let reload = {
        let bff = bff.clone();
        move || {
            let bff = bff.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let next = match bff.query::<Cart>("").await {
                    Ok((c, freshness)) => {
                        as_of.try_set(as_of_notice(&freshness));
                        Shown::Cart(c)
                    }
                    Err(e) => Shown::Failed(e.to_string()),
                };
                shown.try_set(next);
            });
        }
    };
    reload();
    let follow = {
        let reload = reload.clone();
        subscribe(topics::CART, false, move |env| {
            let saved = env
                .data_as::<CartSaved>()
                .filter(|_| env.kind == topics::CART_SAVED);
            if saved.is_some_and(|s| s.version > version()) {
                reload();
            }
        })
    };
    StoredValue::new_local(follow);

    // After a command: show the cart the server answered with, or why it refused.
    let settle = {
        let source = source.clone();
        move |result: Result<Cart, BffError>| match result {
            Ok(c) => {
                let saved = serde_json::to_value(CartSaved::of(&c)).unwrap_or_default();
                publish(topics::CART, topics::CART_SAVED, &source, saved);
                notice.try_set(None);
                as_of.try_set(None);
                shown.try_set(Shown::Cart(c));
            }
            Err(e) => {
                if let Some(current) = e.current::<Cart>() {
                    shown.try_set(Shown::Cart(current));
                    notice.try_set(Some(
                        "Your cart changed elsewhere; this is the latest. Try again.".into(),
                    ));
                } else {
                    notice.try_set(Some(e.to_string()));
                }
            }
        }
    };
    let remove = {
        let (bff, settle) = (bff.clone(), settle.clone());
        move |item_id: String| {
            let (bff, settle, base) = (bff.clone(), settle.clone(), version());
            wasm_bindgen_futures::spawn_local(async move {
                let body = PutCartItem {
                    quantity: 0,
                    last_modified_by: None,
                };
                let path = format!("/items/{item_id}");
                settle(
                    bff.put(&path, &body, &new_idempotency_key(), Some(base))
                        .await,
                );
            });
        }
    };
    let checkout = {
        let (bff, source) = (bff.clone(), source.clone());
        move |_| {
            let (bff, source, base) = (bff.clone(), source.clone(), version());
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!("/checkout/{}", new_idempotency_key());
                let result: Result<Order, BffError> = bff
                    .put(
                        &path,
                        &Checkout::default(),
                        &new_idempotency_key(),
                        Some(base),
                    )
                    .await;
                match result {
                    Ok(order) => {
                        placed.try_set(Some(order));
                        notice.try_set(None);
                        // The server emptied the cart: read it back so versions stay exact.
                        if let Ok(c) = bff.get::<Cart>("").await {
                            let saved = serde_json::to_value(CartSaved::of(&c)).unwrap_or_default();
                            publish(topics::CART, topics::CART_SAVED, &source, saved);
                            shown.try_set(Shown::Cart(c));
                        }
                    }
                    Err(e) => {
                        notice.try_set(Some(e.to_string()));
                    }
                }
            });
        }
    };

    let body = move || {
        match shown.get() {
        Shown::Loading => view! { <p class="loading">"Loading your cart…"</p> }.into_any(),
        Shown::Failed(e) => {
            let reload = reload.clone();
            view! {
                <p class="tessera-app-error" role="alert">"Your cart could not be loaded: "{e}</p>
                <button on:click=move |_| reload()>"Try again"</button>
            }
            .into_any()
        }
        Shown::Cart(c) if c.lines.is_empty() => {
            view! { <p class="empty">"Your cart is empty. "<a href="/restaurants">"Find something to eat"</a></p> }.into_any()
        }
        Shown::Cart(c) => {
            let rows = c
                .lines
                .into_iter()
                .map(|l| {
                    let remove = remove.clone();
                    let id = l.item_id.clone();
                    view! {
                        <tr data-item=l.item_id.clone()>
                            <td>{l.name}</td>
                            <td class="quantity">{l.quantity}</td>
                            <td>{price(l.unit_price_cents * i64::from(l.quantity))}</td>
                            <td><button on:click=move |_| remove(id.clone())>"Remove"</button></td>
                        </tr>
                    }
                })
                .collect_view();
            let checkout = checkout.clone();
            view! {
                <table class="cart-lines">
                    <thead><tr><th>"Item"</th><th>"Qty"</th><th>"Price"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                <p class="total">"Total: "<strong>{price(c.total_cents)}</strong></p>
                <button class="checkout" on:click=checkout>"Check out"</button>
            }
            .into_any()
        }
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
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::price;

    #[test]
    fn prices_are_euros_with_two_decimals() {
        assert_eq!(price(3390), "€33.90");
        assert_eq!(price(5), "€0.05");
        assert_eq!(price(0), "€0.00");
        assert_eq!(price(-250), "-€2.50");
    }
}
