//! The cart at its own route. It follows `cart.item-added` from the event bus from bootstrap
//! on, replaying what was announced before its bundle was loaded.

use leptos::prelude::*;
use std::collections::HashSet;
use tessera_shared::browser::{subscribe, Host};
use tessera_shared::bus::topics::{self, ItemAdded};
use tessera_shared::Props;

tessera_shared::micro_app!(bootstrap: follow_bus, view: cart);

#[derive(Clone, Debug, PartialEq)]
struct Line {
    restaurant_id: String,
    item_id: String,
    name: String,
    price_cents: u32,
    quantity: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Cart {
    lines: Vec<Line>,
    seen: HashSet<String>,
}

impl Cart {
    fn add(&mut self, event_id: &str, added: ItemAdded) {
        if !self.seen.insert(event_id.to_string()) {
            return; // delivered twice (replay and live): count once
        }
        match self
            .lines
            .iter_mut()
            .find(|l| l.restaurant_id == added.restaurant_id && l.item_id == added.item_id)
        {
            Some(line) => line.quantity += added.quantity,
            None => self.lines.push(Line {
                restaurant_id: added.restaurant_id,
                item_id: added.item_id,
                name: added.name,
                price_cents: added.price_cents,
                quantity: added.quantity,
            }),
        }
    }

    fn total_cents(&self) -> u32 {
        self.lines.iter().map(|l| l.price_cents * l.quantity).sum()
    }
}

thread_local! {
    // Lives for the page, not the mount: the cart keeps counting while another route shows.
    static CART: ArcRwSignal<Cart> = ArcRwSignal::new(Cart::default());
}

fn follow_bus(_: &Props, _: Host) {
    let cart = CART.with(|c| c.clone());
    subscribe(topics::CART, true, move |env| {
        if env.kind == topics::ITEM_ADDED {
            if let Some(added) = env.data_as::<ItemAdded>() {
                cart.update(|c| c.add(&env.id, added));
            }
        }
    })
    .forget();
}

fn price(cents: u32) -> String {
    format!("€{}.{:02}", cents / 100, cents % 100)
}

fn cart(_props: ArcRwSignal<Props>, _host: Host) -> impl IntoView {
    let cart = CART.with(|c| c.clone());
    let remove = {
        let cart = cart.clone();
        move |item: String| cart.update(|c| c.lines.retain(|l| l.item_id != item))
    };
    let body = move || {
        let c = cart.get();
        if c.lines.is_empty() {
            return view! { <p class="empty">"Your cart is empty. "<a href="/restaurants">"Find something to eat"</a></p> }.into_any();
        }
        let total = price(c.total_cents());
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
                        <td>{price(l.price_cents * l.quantity)}</td>
                        <td><button on:click=move |_| remove(id.clone())>"Remove"</button></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="cart-lines">
                <thead><tr><th>"Item"</th><th>"Qty"</th><th>"Price"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <p class="total">"Total: "<strong>{total}</strong></p>
        }
        .into_any()
    };
    view! { <div class="cart"><h1>"Your cart"</h1>{body}</div> }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(item: &str, qty: u32) -> ItemAdded {
        ItemAdded {
            restaurant_id: "r".into(),
            item_id: item.into(),
            name: item.into(),
            price_cents: 250,
            quantity: qty,
        }
    }

    #[test]
    fn merges_lines_and_ignores_duplicate_deliveries() {
        let mut c = Cart::default();
        c.add("e1", added("a", 1));
        c.add("e2", added("a", 2));
        c.add("e2", added("a", 2));
        c.add("e3", added("b", 1));
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.lines[0].quantity, 3);
        assert_eq!(c.total_cents(), 1000);
    }
}
