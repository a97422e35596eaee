//! The cart at its own route, as the user sees it: the BFF's cart with the changes still
//! waiting in the outbox on top (marked "not sent yet"), removal, and checkout into an order.
//! Commands go through the outbox, so all of it works offline; the view reads the cart again
//! whenever the outbox changes. Below the cart, the user's recent orders follow the kitchen
//! live: each `order.*` event from the BFF's live service updates its order on screen at once.
//! Written without a framework (`tessera_sdk::dom`): each part of the page is drawn again when
//! what it shows changes.

use std::cell::{OnceCell, RefCell};
use std::rc::{Rc, Weak};
use tessera_sdk::bff::{BffError, Freshness};
use tessera_sdk::bus::topics;
use tessera_sdk::dom::{el, pending_mark, Build, Slot, View};
use tessera_sdk::js::{self, FromJs, JsValue, ToJs};
use tessera_sdk::sync::{
    event_types, total_cents, CartLine, Checkout, EntityMeta, OrderStatus, Page, PutCartItem,
};
use tessera_sdk::{as_of_notice, new_uuid, on_live, subscribe, Bff, CommandSpec, Host};
use tessera_sdk::{Edit, Listener, LiveEvent, Marked, Overlay, Props, Reader};
use web_sys::{Element, HtmlElement};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: CartApp::mount);
tessera_sdk::small_allocator!();

/// How many of the user's orders the cart shows.
const RECENT_ORDERS: usize = 5;

/// An order as the cart shows it: the contract's `Order` read for what this page draws and
/// merges by. Its lines, owner and currency are left unread: their readers cost the bundle
/// and the page shows none of them.
#[derive(Clone, Debug, PartialEq)]
struct Order {
    id: String,
    status: OrderStatus,
    total_cents: i64,
    /// RFC 3339, UTC.
    placed_at: String,
    version: i64,
}

tessera_sdk::from_js!(Order {
    id: "id",
    status: "status",
    total_cents: "totalCents",
    placed_at: "placedAt",
    version: "version",
});

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
            Some(o) if o.version < order.version => *o = order,
            Some(_) => {}
            None => all.push(order),
        }
    }
    // Unstable sorts cost the bundle less; the id makes every key unique.
    all.sort_unstable_by(|a, b| b.placed_at.cmp(&a.placed_at).then_with(|| b.id.cmp(&a.id)));
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

type CartReader = Reader<Result<(CartView, Freshness), BffError>>;

/// The page's parts, each drawn again when what it shows changes.
struct Parts {
    /// "Saved copy · as of …" while the cart shown is the device's copy, not the server's.
    as_of: Slot,
    /// A command that could not be queued, shown above the cart it left unchanged.
    notice: Slot,
    /// The order a checkout shown as waiting placed, once the server confirmed it.
    placed: Slot,
    body: Slot,
    orders: Slot,
}

struct State {
    bff: Bff,
    orders: Bff,
    reader: OnceCell<CartReader>,
    shown: RefCell<Shown>,
    placed: RefCell<Option<Order>>,
    /// The order this page's checkout asked for: online it may be placed before any read
    /// shows it waiting.
    awaiting: RefCell<Option<String>>,
    recent: RefCell<Vec<Order>>,
    parts: RefCell<Parts>,
    /// The body's buttons, dropped with the body they are in.
    buttons: RefCell<Vec<Listener>>,
}

fn order_id(id: &str) -> Element {
    el("code").text(id)
}

impl State {
    fn ask(&self) {
        if let Some(reader) = self.reader.get() {
            reader.ask();
        }
    }

    fn answer(self: &Rc<Self>, answer: Result<(CartView, Freshness), BffError>) {
        let next = match answer {
            Ok((c, freshness)) => {
                let notice = as_of_notice(&freshness);
                let notice = notice.map(|n| el("p").attr("class", "tessera-as-of").text(&n));
                self.parts.borrow_mut().as_of.show(notice);
                Shown::Cart(c)
            }
            Err(e) => Shown::Failed(e.to_string()),
        };
        // A checkout that was waiting is not any more: show the order it placed (a conflict
        // or refusal placed none, and the outbox says why).
        let pending_order = |s: &Shown| match s {
            Shown::Cart(c) => c.pending_order.clone(),
            _ => None,
        };
        let was_waiting = pending_order(&self.shown.borrow());
        let waiting = pending_order(&next);
        *self.shown.borrow_mut() = next;
        self.draw_body();
        let asked = self.awaiting.borrow().clone().or(was_waiting);
        let Some(id) = asked.filter(|_| waiting.is_none()) else {
            return;
        };
        let state = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // Not found yet: a read that began before the checkout was queued; the next
            // change of the outbox asks again.
            if let Ok(order) = state.orders.get::<Order>(&format!("/{id}")).await {
                state.awaiting.take();
                state.show_placed(Some(order));
            }
        });
    }

    fn show_placed(&self, order: Option<Order>) {
        let shown = order.as_ref().map(|o| {
            el("p")
                .attr("class", "order-placed")
                .text("Order ")
                .child(&order_id(&o.id))
                .text(" placed: ")
                .text(&price(o.total_cents))
                .text(", ")
                .child(
                    &el("span")
                        .attr("class", "order-status")
                        .text(o.status.as_str()),
                )
        });
        self.parts.borrow_mut().placed.show(shown);
        *self.placed.borrow_mut() = order;
    }

    fn read_orders(self: &Rc<Self>) {
        let state = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // The exact query `/api/offline` names, so the list is there offline too.
            if let Ok((page, _)) = state.orders.query::<Page<Order>>("").await {
                state.show_orders(page.items);
            }
        });
    }

    fn show_orders(&self, news: Vec<Order>) {
        let recent = newest(&self.recent.borrow(), news);
        let shown = if recent.is_empty() {
            vec![]
        } else {
            let list = el("ul").attr("class", "orders");
            for o in &recent {
                let short: String = o.id.chars().take(8).collect();
                let row = el("li")
                    .attr("class", "order")
                    .attr("data-order", &o.id)
                    .attr("data-status", o.status.as_str())
                    .child(&order_id(&short))
                    .text(" · ")
                    .text(&price(o.total_cents))
                    .text(" · ")
                    .child(&el("span").attr("class", "status").text(o.status.as_str()));
                let _ = list.append_child(&row);
            }
            vec![el("h2").text("Your orders"), list]
        };
        self.parts.borrow_mut().orders.set(shown);
        *self.recent.borrow_mut() = recent;
    }

    fn live(self: &Rc<Self>, event: LiveEvent) {
        match live_order(&event) {
            Some(order) => {
                self.show_orders(vec![order.clone()]);
                let placed = self.placed.borrow().clone();
                if placed.is_some_and(|p| p.id == order.id && p.version < order.version) {
                    self.show_placed(Some(order));
                }
                // Keep the device's saved copies (the worker's cache) in step.
                self.read_orders();
                if event.kind == event_types::ORDER_PLACED {
                    self.ask();
                }
            }
            None if event.kind == event_types::CART_UPDATED => self.ask(),
            None => {}
        }
    }

    /// Queues a cart command on the version shown.
    fn queue(self: &Rc<Self>, path: String, body: JsValue, label: String, overlays: Vec<Overlay>) {
        let base = match &*self.shown.borrow() {
            Shown::Cart(c) => c.meta.version,
            _ => 0,
        };
        let state = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let queued = state
                .bff
                .command(CommandSpec {
                    path: &path,
                    body: &body,
                    entity: "cart",
                    base_version: Some(base),
                    label,
                    overlays,
                })
                .await;
            let notice = queued.err().map(|e| {
                el("p")
                    .attr("class", "notice")
                    .attr("role", "alert")
                    .text(&e.to_string())
            });
            state.parts.borrow_mut().notice.show(notice);
        });
    }

    fn remove(self: &Rc<Self>, item_id: String, name: String) {
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
        self.queue(
            format!("/items/{item_id}"),
            body.to_js(),
            format!("{name} removed from the cart"),
            vec![gone],
        );
    }

    fn checkout(self: &Rc<Self>) {
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
        self.show_placed(None);
        *self.awaiting.borrow_mut() = Some(order_id.clone());
        self.queue(
            format!("/checkout/{order_id}"),
            Checkout::default().to_js(),
            "Checkout".to_string(),
            overlays,
        );
    }

    /// Calls `f` on a click of `target`, while the state lives (weakly held: the state owns
    /// the buttons' listeners).
    fn on_click(self: &Rc<Self>, target: &Element, f: impl Fn(&Rc<State>) + 'static) -> Listener {
        let state = Rc::downgrade(self);
        Listener::on(target, "click", move |_| {
            if let Some(state) = Weak::upgrade(&state) {
                f(&state);
            }
        })
    }

    fn draw_body(self: &Rc<Self>) {
        let click = |target: &Element, f: fn(&Rc<State>)| self.on_click(target, f);
        let mut buttons = Vec::new();
        let shown = match &*self.shown.borrow() {
            Shown::Loading => vec![el("p").attr("class", "loading").text("Loading your cart…")],
            Shown::Failed(e) => {
                let retry = el("button").text("Try again");
                buttons.push(click(&retry, |state| state.ask()));
                vec![
                    el("p")
                        .attr("class", "tessera-app-error")
                        .attr("role", "alert")
                        .text("Your cart could not be loaded: ")
                        .text(e),
                    retry,
                ]
            }
            Shown::Cart(c) if c.lines.is_empty() => {
                let waiting = c.pending_order.as_ref().map(|id| {
                    el("p")
                        .attr("class", "order-pending")
                        .text("Order ")
                        .child(&order_id(id))
                        .text(" will be placed as soon as the server can be reached.")
                });
                let find = el("a")
                    .attr("href", "/restaurants")
                    .text("Find something to eat");
                let empty = el("p")
                    .attr("class", "empty")
                    .text("Your cart is empty. ")
                    .child(&find);
                waiting.into_iter().chain([empty]).collect()
            }
            Shown::Cart(c) => {
                let lines: Vec<CartLine> = c.lines.iter().map(|l| l.value.clone()).collect();
                let head = el("tr");
                for th in ["Item", "Qty", "Price", ""] {
                    let _ = head.append_child(&el("th").text(th));
                }
                let rows = el("tbody");
                for Marked { value: l, pending } in &c.lines {
                    let mut name = el("td").text(&l.name);
                    if *pending {
                        name = name.child(&pending_mark());
                    }
                    let remove = el("button").text("Remove");
                    let (id, item) = (l.item_id.clone(), l.name.clone());
                    buttons.push(self.on_click(&remove, move |state| {
                        state.remove(id.clone(), item.clone());
                    }));
                    let row = el("tr")
                        .attr("data-item", &l.item_id)
                        .attr("data-pending", if *pending { "true" } else { "false" })
                        .child(&name)
                        .child(
                            &el("td")
                                .attr("class", "quantity")
                                .text(&l.quantity.to_string()),
                        )
                        .child(&el("td").text(&price(l.unit_price_cents * i64::from(l.quantity))))
                        .child(&el("td").child(&remove));
                    let _ = rows.append_child(&row);
                }
                let table = el("table")
                    .attr("class", "cart-lines")
                    .attr("data-pending", if c.pending { "true" } else { "false" })
                    .child(&el("thead").child(&head))
                    .child(&rows);
                let total = el("p")
                    .attr("class", "total")
                    .text("Total: ")
                    .child(&el("strong").text(&price(total_cents(&lines))));
                let checkout = el("button").attr("class", "checkout").text("Check out");
                buttons.push(click(&checkout, State::checkout));
                vec![table, total, checkout]
            }
        };
        self.parts.borrow_mut().body.set(shown);
        *self.buttons.borrow_mut() = buttons;
    }
}

/// The mounted app: unmounting drops it, its listeners and its buttons.
struct CartApp {
    _state: Rc<State>,
    _listeners: (Listener, Listener),
}

impl View for CartApp {}

impl CartApp {
    fn mount(root: &HtmlElement, props: Props, host: Host) -> CartApp {
        let div = el("div")
            .attr("class", "cart")
            .child(&el("h1").text("Your cart"));
        let parts = Parts {
            as_of: Slot::new(&div),
            notice: Slot::new(&div),
            placed: Slot::new(&div),
            body: Slot::new(&div),
            orders: Slot::new(&div),
        };
        let _ = root.append_child(&div);
        let state = Rc::new(State {
            bff: host.bff(props.bff.as_deref().unwrap_or("/api/cart")),
            orders: host.bff("/api/orders"),
            reader: OnceCell::new(),
            shown: RefCell::new(Shown::Loading),
            placed: RefCell::new(None),
            awaiting: RefCell::new(None),
            recent: RefCell::new(Vec::new()),
            parts: RefCell::new(parts),
            buttons: RefCell::new(Vec::new()),
        });
        state.draw_body();
        let reader = {
            let (bff, state) = (state.bff.clone(), Rc::downgrade(&state));
            Reader::new(
                move || {
                    let bff = bff.clone();
                    async move { bff.query::<CartView>("").await }
                },
                move |answer| {
                    if let Some(state) = Weak::upgrade(&state) {
                        state.answer(answer);
                    }
                },
            )
        };
        let _ = state.reader.set(reader);
        state.ask();
        state.read_orders();
        let follow = {
            let state = state.clone();
            subscribe(topics::OUTBOX, false, move |_| state.ask())
        };
        let live = {
            let state = state.clone();
            on_live(move |event| state.live(event))
        };
        CartApp {
            _state: state,
            _listeners: (follow, live),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{newest, price, Order, RECENT_ORDERS};
    use tessera_sdk::sync::OrderStatus;

    fn order(id: &str, placed_at: &str, version: i64, status: OrderStatus) -> Order {
        Order {
            id: id.into(),
            status,
            total_cents: 100,
            placed_at: placed_at.into(),
            version,
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
