//! The add-to-cart parcel: a quantity stepper and a button that queues the new line quantity
//! for the user's cart in the outbox (so it works offline too), then announces
//! `cart.item-added` on the event bus. Other apps mount it by hand with the item as
//! `props.data`.

use leptos::prelude::*;
use tessera_sdk::bff::BffError;
use tessera_sdk::bus::topics::{self, ItemAdded};
use tessera_sdk::sync::{Cart, CartLine, PutCartItem, MAX_QUANTITY};
use tessera_sdk::{publish, Bff, CommandSpec, Edit, Host, Overlay, Props};
use tessera_sdk::{FromJs, ToJs};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: add_to_cart);

/// The parcel's input (`props.data`).
struct Item {
    restaurant_id: String,
    item_id: String,
    name: String,
    price_cents: i64,
}

tessera_sdk::from_js!(Item {
    restaurant_id: "restaurantId",
    item_id: "itemId",
    name: "name",
    price_cents: "priceCents",
});

#[derive(Clone, Debug, PartialEq)]
enum Saving {
    Idle,
    Busy,
    Failed(String),
}

/// Adds `quantity` of an item to the cart: reads the cart as the user sees it (with the
/// changes still waiting to be sent) and queues the line's new quantity on that version.
async fn add(bff: &Bff, item: &Item, quantity: u32) -> Result<(), BffError> {
    let cart: Cart = bff.get("").await?;
    let have = cart
        .lines
        .iter()
        .find(|l| l.item_id == item.item_id)
        .map_or(0, |l| l.quantity);
    let wanted = (have + quantity).min(MAX_QUANTITY);
    let line = CartLine {
        item_id: item.item_id.clone(),
        restaurant_id: item.restaurant_id.clone(),
        name: item.name.clone(),
        unit_price_cents: item.price_cents,
        quantity: wanted,
    };
    let shown = Overlay {
        query: String::new(),
        edit: Edit::Upsert {
            list: "/lines".into(),
            key: "itemId".into(),
            value: line.to_js(),
        },
    };
    bff.command(CommandSpec {
        path: &format!("/items/{}", item.item_id),
        body: &PutCartItem {
            quantity: wanted,
            last_modified_by: None,
        },
        entity: "cart",
        base_version: Some(cart.meta.version),
        label: format!("{} × {wanted} in the cart", item.name),
        overlays: vec![shown],
    })
    .await?;
    Ok(())
}

fn add_to_cart(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let quantity = RwSignal::new(1u32);
    let added = RwSignal::new(0u32);
    let saving = RwSignal::new(Saving::Idle);
    let p = props.get_untracked();
    let bff = host.bff(p.bff.as_deref().unwrap_or("/api/cart"));
    let source = p.name;
    let item = move || Item::from_js(&props.get().data).ok();
    move || match item() {
        None => {
            view! { <span class="parcel-error" role="alert">"This item cannot be added."</span> }
                .into_any()
        }
        Some(item) => {
            let (bff, source) = (bff.clone(), source.clone());
            let item = std::rc::Rc::new(item);
            let on_add = move |_| {
                let (bff, source, item) = (bff.clone(), source.clone(), item.clone());
                let wanted = quantity.get_untracked();
                // Shown at the click: the shell shows the command (and keeps a copy that
                // outlives a reload) before IndexedDB has it; a failed save takes it back.
                added.update(|n| *n += wanted);
                saving.set(Saving::Busy);
                wasm_bindgen_futures::spawn_local(async move {
                    match add(&bff, &item, wanted).await {
                        Ok(()) => {
                            let payload = ItemAdded {
                                restaurant_id: item.restaurant_id.clone(),
                                item_id: item.item_id.clone(),
                                name: item.name.clone(),
                                price_cents: item.price_cents,
                                quantity: wanted,
                            };
                            publish(topics::CART, topics::ITEM_ADDED, &source, &payload.to_js());
                            quantity.set(1);
                            saving.set(Saving::Idle);
                        }
                        Err(e) => {
                            added.update(|n| *n -= wanted);
                            saving.set(Saving::Failed(e.to_string()));
                        }
                    }
                });
            };
            view! {
                <div class="add-to-cart">
                    <button class="qty" aria-label="One less" on:click=move |_| quantity.update(|q| *q = (*q).saturating_sub(1).max(1))>"−"</button>
                    <output class="quantity">{move || quantity.get()}</output>
                    <button class="qty" aria-label="One more" on:click=move |_| quantity.update(|q| *q = (*q + 1).min(MAX_QUANTITY))>"+"</button>
                    <button class="add" on:click=on_add disabled=move || saving.get() == Saving::Busy>"Add to cart"</button>
                    {move || (added.get() > 0).then(|| view! { <span class="added" data-saved=move || (saving.get() != Saving::Busy).to_string()>{added.get()}" in cart"</span> })}
                    {move || match saving.get() {
                        Saving::Failed(e) => Some(view! { <span class="parcel-error" role="alert">"Not added: "{e}</span> }),
                        _ => None,
                    }}
                </div>
            }
            .into_any()
        }
    }
}
