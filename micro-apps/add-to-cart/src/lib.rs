//! The add-to-cart parcel: a quantity stepper and a button that puts the item into the user's
//! cart on the BFF, then announces `cart.item-added` and `cart.saved` on the event bus. Other
//! apps mount it by hand with the item as `props.data`.

use leptos::prelude::*;
use tessera_shared::bff::BffError;
use tessera_shared::browser::{new_idempotency_key, publish, Bff, Host};
use tessera_shared::bus::topics::{self, CartSaved, ItemAdded};
use tessera_shared::sync::{Cart, PutCartItem, MAX_QUANTITY};
use tessera_shared::Props;

tessera_shared::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: add_to_cart);

/// Attempts when someone else changes the cart between our read and our write.
const ATTEMPTS: usize = 3;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    restaurant_id: String,
    item_id: String,
    name: String,
    price_cents: i64,
}

#[derive(Clone, Debug, PartialEq)]
enum Saving {
    Idle,
    Busy,
    Failed(String),
}

/// Adds `quantity` of an item to the cart: reads the cart, writes the new line quantity against
/// the version read, and on a `412` starts again from the cart the server sent back.
async fn add(bff: &Bff, item_id: &str, quantity: u32) -> Result<Cart, BffError> {
    let mut cart: Cart = bff.get("").await?;
    let path = format!("/items/{item_id}");
    for attempt in 1..=ATTEMPTS {
        let have = cart
            .lines
            .iter()
            .find(|l| l.item_id == item_id)
            .map_or(0, |l| l.quantity);
        let body = PutCartItem {
            quantity: (have + quantity).min(MAX_QUANTITY),
            last_modified_by: None,
        };
        let base = (cart.meta.version > 0).then_some(cart.meta.version);
        match bff.put(&path, &body, &new_idempotency_key(), base).await {
            Err(e) if e.status() == Some(412) && attempt < ATTEMPTS => {
                cart = match e.current::<Cart>() {
                    Some(current) => current,
                    None => bff.get("").await?,
                };
            }
            result => return result,
        }
    }
    unreachable!("the last attempt returns")
}

fn add_to_cart(props: ArcRwSignal<Props>, _host: Host) -> impl IntoView {
    let quantity = RwSignal::new(1u32);
    let added = RwSignal::new(0u32);
    let saving = RwSignal::new(Saving::Idle);
    let p = props.get_untracked();
    let bff = Bff::new(p.bff.as_deref().unwrap_or("/api/cart"), &p.session);
    let source = p.name;
    let item = move || serde_json::from_value::<Item>(props.get().data).ok();
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
                saving.set(Saving::Busy);
                wasm_bindgen_futures::spawn_local(async move {
                    match add(&bff, &item.item_id, wanted).await {
                        Ok(cart) => {
                            let payload = ItemAdded {
                                restaurant_id: item.restaurant_id.clone(),
                                item_id: item.item_id.clone(),
                                name: item.name.clone(),
                                price_cents: item.price_cents,
                                quantity: wanted,
                            };
                            let data = serde_json::to_value(&payload).unwrap_or_default();
                            publish(topics::CART, topics::ITEM_ADDED, &source, data);
                            let saved =
                                serde_json::to_value(CartSaved::of(&cart)).unwrap_or_default();
                            publish(topics::CART, topics::CART_SAVED, &source, saved);
                            added.update(|n| *n += wanted);
                            quantity.set(1);
                            saving.set(Saving::Idle);
                        }
                        Err(e) => saving.set(Saving::Failed(e.to_string())),
                    }
                });
            };
            view! {
                <div class="add-to-cart">
                    <button class="qty" aria-label="One less" on:click=move |_| quantity.update(|q| *q = (*q).saturating_sub(1).max(1))>"−"</button>
                    <output class="quantity">{move || quantity.get()}</output>
                    <button class="qty" aria-label="One more" on:click=move |_| quantity.update(|q| *q = (*q + 1).min(MAX_QUANTITY))>"+"</button>
                    <button class="add" on:click=on_add disabled=move || saving.get() == Saving::Busy>"Add to cart"</button>
                    {move || (added.get() > 0).then(|| view! { <span class="added">{added.get()}" in cart"</span> })}
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
