//! The add-to-cart parcel: a quantity stepper and a button that announces `cart.item-added` on
//! the event bus. Other apps mount it by hand with the item as `props.data`.

use leptos::prelude::*;
use tessera_shared::browser::{publish, Host};
use tessera_shared::bus::topics::{self, ItemAdded};
use tessera_shared::Props;

tessera_shared::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: add_to_cart);

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    restaurant_id: String,
    item_id: String,
    name: String,
    price_cents: u32,
}

fn add_to_cart(props: ArcRwSignal<Props>, _host: Host) -> impl IntoView {
    let quantity = RwSignal::new(1u32);
    let added = RwSignal::new(0u32);
    let source = props.get_untracked().name;
    let item = move || serde_json::from_value::<Item>(props.get().data).ok();
    move || match item() {
        None => {
            view! { <span class="parcel-error" role="alert">"This item cannot be added."</span> }
                .into_any()
        }
        Some(item) => {
            let source = source.clone();
            let add = move |_| {
                let payload = ItemAdded {
                    restaurant_id: item.restaurant_id.clone(),
                    item_id: item.item_id.clone(),
                    name: item.name.clone(),
                    price_cents: item.price_cents,
                    quantity: quantity.get_untracked(),
                };
                let data = serde_json::to_value(&payload).unwrap_or_default();
                publish(topics::CART, topics::ITEM_ADDED, &source, data);
                added.update(|n| *n += payload.quantity);
                quantity.set(1);
            };
            view! {
                <div class="add-to-cart">
                    <button class="qty" aria-label="One less" on:click=move |_| quantity.update(|q| *q = (*q).saturating_sub(1).max(1))>"−"</button>
                    <output class="quantity">{move || quantity.get()}</output>
                    <button class="qty" aria-label="One more" on:click=move |_| quantity.update(|q| *q = (*q + 1).min(99))>"+"</button>
                    <button class="add" on:click=add>"Add to cart"</button>
                    {move || (added.get() > 0).then(|| view! { <span class="added">{added.get()}" in cart"</span> })}
                </div>
            }
            .into_any()
        }
    }
}
