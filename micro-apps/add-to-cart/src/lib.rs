//! The add-to-cart parcel: a quantity stepper and a button that queues the new line quantity
//! for the user's cart in the outbox (so it works offline too), then announces
//! `cart.item-added` on the event bus. Other apps mount it by hand with the item as
//! `props.data`. Written without a framework (`tessera_sdk::dom`): it loads with every menu.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_sdk::bff::BffError;
use tessera_sdk::bus::topics::{self, ItemAdded};
use tessera_sdk::dom::{el, set_attr, Build, Slot, View};
use tessera_sdk::sync::{Cart, CartLine, PutCartItem, MAX_QUANTITY};
use tessera_sdk::{publish, Bff, CommandSpec, Edit, Host, Listener, Overlay, Props};
use tessera_sdk::{FromJs, ToJs};
use web_sys::{Element, HtmlElement};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: Parcel::mount);
tessera_sdk::small_allocator!();

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

/// What the parcel shows and the elements that show it.
struct State {
    bff: Bff,
    /// The app's name, as the bus's `source`.
    source: String,
    quantity: Cell<u32>,
    /// Added since mount, shown at the click (the shell shows the command, and keeps a copy
    /// that outlives a reload, before IndexedDB has it); a failed save takes it back.
    added: Cell<u32>,
    saving: RefCell<Saving>,
    shown: RefCell<Option<Shown>>,
}

struct Shown {
    quantity: Element,
    add: Element,
    added: Slot,
    error: Slot,
}

impl State {
    fn show(&self) {
        let Some(shown) = &mut *self.shown.borrow_mut() else {
            return;
        };
        let saving = self.saving.borrow();
        shown
            .quantity
            .set_text_content(Some(&self.quantity.get().to_string()));
        set_attr(
            &shown.add,
            "disabled",
            (*saving == Saving::Busy).then_some(""),
        );
        let added = self.added.get();
        shown.added.show((added > 0).then(|| {
            el("span")
                .attr("class", "added")
                .attr(
                    "data-saved",
                    if *saving == Saving::Busy {
                        "false"
                    } else {
                        "true"
                    },
                )
                .text(&added.to_string())
                .text(" in cart")
        }));
        shown.error.show(match &*saving {
            Saving::Failed(e) => Some(error(&format!("Not added: {e}"))),
            _ => None,
        });
    }

    fn add(state: &Rc<State>, item: &Rc<Item>) {
        let (state, item) = (state.clone(), item.clone());
        let wanted = state.quantity.get();
        state.added.set(state.added.get() + wanted);
        *state.saving.borrow_mut() = Saving::Busy;
        state.show();
        wasm_bindgen_futures::spawn_local(async move {
            match add(&state.bff, &item, wanted).await {
                Ok(()) => {
                    let payload = ItemAdded {
                        restaurant_id: item.restaurant_id.clone(),
                        item_id: item.item_id.clone(),
                        name: item.name.clone(),
                        price_cents: item.price_cents,
                        quantity: wanted,
                    };
                    publish(
                        topics::CART,
                        topics::ITEM_ADDED,
                        &state.source,
                        &payload.to_js(),
                    );
                    state.quantity.set(1);
                    *state.saving.borrow_mut() = Saving::Idle;
                }
                Err(e) => {
                    state.added.set(state.added.get() - wanted);
                    *state.saving.borrow_mut() = Saving::Failed(e.to_string());
                }
            }
            state.show();
        });
    }
}

fn error(text: &str) -> Element {
    el("span")
        .attr("class", "parcel-error")
        .attr("role", "alert")
        .text(text)
}

struct Parcel {
    root: HtmlElement,
    state: Rc<State>,
    clicks: Vec<Listener>,
}

impl Parcel {
    fn mount(root: &HtmlElement, props: Props, host: Host) -> Parcel {
        let state = Rc::new(State {
            bff: host.bff(props.bff.as_deref().unwrap_or("/api/cart")),
            source: props.name.clone(),
            quantity: Cell::new(1),
            added: Cell::new(0),
            saving: RefCell::new(Saving::Idle),
            shown: RefCell::new(None),
        });
        let mut parcel = Parcel {
            root: root.clone(),
            state,
            clicks: Vec::new(),
        };
        parcel.draw(&props);
        parcel
    }

    /// Draws the parcel for the item in `props.data`.
    fn draw(&mut self, props: &Props) {
        self.root.set_text_content(None);
        self.clicks.clear();
        self.state.shown.take();
        let Ok(item) = Item::from_js(&props.data) else {
            let _ = self.root.append_child(&error("This item cannot be added."));
            return;
        };
        let item = Rc::new(item);
        let button = |class: &str, text: &str| el("button").attr("class", class).text(text);
        let less = button("qty", "−").attr("aria-label", "One less");
        let quantity = el("output").attr("class", "quantity");
        let more = button("qty", "+").attr("aria-label", "One more");
        let add = button("add", "Add to cart");
        let div = el("div")
            .attr("class", "add-to-cart")
            .child(&less)
            .child(&quantity)
            .child(&more)
            .child(&add);
        let (added, error) = (Slot::new(&div), Slot::new(&div));
        let _ = self.root.append_child(&div);
        let step = |target: &Element, by: fn(u32) -> u32| {
            let state = self.state.clone();
            Listener::on(target, "click", move |_| {
                state.quantity.set(by(state.quantity.get()));
                state.show();
            })
        };
        self.clicks = vec![
            step(&less, |q| q.saturating_sub(1).max(1)),
            step(&more, |q| (q + 1).min(MAX_QUANTITY)),
            {
                let state = self.state.clone();
                Listener::on(&add, "click", move |_| State::add(&state, &item))
            },
        ];
        *self.state.shown.borrow_mut() = Some(Shown {
            quantity,
            add,
            added,
            error,
        });
        self.state.show();
    }
}

impl View for Parcel {
    fn update(&mut self, props: Props) {
        self.draw(&props);
    }
}
