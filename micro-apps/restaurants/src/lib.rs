//! Restaurants from the BFF: the list at the app's base path (a page at a time) and one
//! restaurant's menu at `<base>/:id`, each available item embedding the add-to-cart parcel.
//! Menu edits (the admin-only `menu-admin` app) and the user's own waiting commands show here
//! as they happen. Written without a framework (`tessera_sdk::dom`): this app is on the first
//! page most users open, so its bytes are on every cold start.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_sdk::bff::{BffError, Freshness};
use tessera_sdk::bus::topics;
use tessera_sdk::dom::{el, pending_mark, set_attr, Build, Keyed, Pages, Slot};
use tessera_sdk::js::{self, FromJs, JsValue, ToJs};
use tessera_sdk::sync::{event_types, MenuItem, Page, Restaurant};
use tessera_sdk::{as_of_notice, on_live, subscribe};
use tessera_sdk::{Bff, Host, Listener, Marked, Props, Reader};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: app);
tessera_sdk::small_allocator!();

const PARCEL_APP: &str = "@tessera/add-to-cart";

fn price(cents: i64) -> String {
    format!("€{}.{:02}", cents / 100, cents % 100)
}

/// A restaurant with its menu as the user sees it: items an edit still waiting in the outbox
/// changed are marked.
#[derive(Clone, Debug, PartialEq)]
struct RestaurantView {
    restaurant: Restaurant,
    menu: Vec<Marked<MenuItem>>,
}

tessera_sdk::from_js!(RestaurantView {
    restaurant: flatten,
    menu: "menu"
});

/// "Saved copy · as of …" above data the service worker answered from the device.
fn as_of(notice: Option<String>) -> Option<Element> {
    notice.map(|text| el("p").attr("class", "tessera-as-of").text(&text))
}

fn failure(e: &BffError) -> Element {
    el("p")
        .attr("class", "tessera-app-error")
        .attr("role", "alert")
        .text("Could not load: ")
        .text(&e.to_string())
}

fn loading(text: &str) -> Element {
    el("p").attr("class", "loading").text(text)
}

/// A menu shown, with the listeners that keep it current.
struct DetailPage {
    detail: Rc<Detail>,
    _listeners: (Listener, Listener),
}

impl Drop for DetailPage {
    fn drop(&mut self) {
        // A read still under way must not draw rows (and mount parcels) into a page gone.
        self.detail.gone.set(true);
        self.detail.menu.take();
    }
}

/// The list at the base path, a menu at `<base>/:id`.
fn app(root: &HtmlElement, props: Props, host: Host) -> Pages {
    let container = el("div").attr("class", "restaurants");
    let _ = root.append_child(&container);
    let bff = host.bff(props.bff.as_deref().unwrap_or("/api/restaurants"));
    let base = if props.base_path.is_empty() {
        "/restaurants".to_string()
    } else {
        props.base_path
    };
    Pages::new(container, base.clone(), move |container, id| match id {
        Some(id) => Detail::show(container, &base, id, bff.clone(), host.clone()),
        None => Box::new(List::show(container, &base, bff.clone())),
    })
}

/// The list of restaurants, a page at a time.
struct List {
    base: String,
    bff: Bff,
    as_of: RefCell<Slot>,
    body: RefCell<Slot>,
    /// The cards, once a page came.
    cards: RefCell<Option<Element>>,
    more: RefCell<Slot>,
    more_click: RefCell<Option<Listener>>,
}

impl List {
    fn show(container: &Element, base: &str, bff: Bff) -> Rc<List> {
        let _ = container.append_child(&el("h1").text("Restaurants"));
        let list = Rc::new(List {
            base: base.to_string(),
            bff,
            as_of: RefCell::new(Slot::new(container)),
            body: RefCell::new(Slot::new(container)),
            cards: RefCell::new(None),
            more: RefCell::new(Slot::new(container)),
            more_click: RefCell::new(None),
        });
        list.body
            .borrow_mut()
            .show(Some(loading("Loading restaurants…")));
        List::load(&list, None);
        list
    }

    fn load(list: &Rc<List>, cursor: Option<String>) {
        let list = list.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let query = match &cursor {
                // The BFF's default page size, and the form `/api/offline` names the pages
                // in, so the pages read ahead for offline use are the ones asked for here.
                Some(c) => format!("?cursor={}", js_sys::encode_uri_component(c)),
                None => String::new(),
            };
            match list.bff.query::<Page<Restaurant>>(&query).await {
                Ok((page, freshness)) => {
                    list.as_of
                        .borrow_mut()
                        .show(as_of(as_of_notice(&freshness)));
                    list.add_cards(page.items, cursor.is_some());
                    List::show_more(&list, page.next_cursor, None);
                }
                // The cards shown stay; the button asks for the same page again.
                Err(e) if cursor.is_some() => List::show_more(&list, cursor, Some(failure(&e))),
                Err(e) => list.body.borrow_mut().show(Some(failure(&e))),
            }
        });
    }

    /// A page's cards, after the ones shown (`more`) or instead of them.
    fn add_cards(&self, items: Vec<Restaurant>, more: bool) {
        let mut cards = self.cards.borrow_mut();
        let ul = match &*cards {
            Some(ul) if more => ul.clone(),
            _ => {
                let ul = el("ul").attr("class", "restaurant-list");
                self.body.borrow_mut().show(Some(ul.clone()));
                *cards = Some(ul.clone());
                ul
            }
        };
        for r in items {
            let link = el("a")
                .attr("href", &format!("{}/{}", self.base, r.id))
                .text(&r.name);
            let meta = el("span").attr("class", "meta").text(&r.cuisine);
            let _ = ul.append_child(&el("li").attr("class", "card").child(&link).child(&meta));
        }
    }

    /// The button that reads the page after `next`, if there is one, below `problem`.
    fn show_more(list: &Rc<List>, next: Option<String>, problem: Option<Element>) {
        list.more_click.take();
        let button = next.map(|cursor| {
            let button = el("button").attr("class", "more").text("More restaurants");
            // Weak: the list owns this listener.
            let (list_, pressed) = (Rc::downgrade(list), button.clone());
            let click = Listener::on(&button, "click", move |_| {
                if let Some(list) = list_.upgrade() {
                    // Once: a second click while the page is on its way would add it twice.
                    set_attr(&pressed, "disabled", Some(""));
                    List::load(&list, Some(cursor.clone()));
                }
            });
            *list.more_click.borrow_mut() = Some(click);
            button
        });
        list.more
            .borrow_mut()
            .set(problem.into_iter().chain(button).collect());
    }
}

/// Unmounts the parcel when the row that holds it goes away.
struct MountedParcel {
    host: Host,
    element: HtmlElement,
}

impl Drop for MountedParcel {
    fn drop(&mut self) {
        self.host.unmount_parcel(PARCEL_APP, &self.element);
    }
}

/// What a menu row shows; a row is drawn again only when this changes.
type RowKey = (String, i64, bool);

/// A menu row: its element, and the parcel it holds for as long as it is shown.
fn row(
    item: &Marked<MenuItem>,
    restaurant_id: &str,
    host: &Host,
) -> (Element, Option<MountedParcel>) {
    let Marked {
        value: item,
        pending,
    } = item;
    let mut line = el("div")
        .child(&el("strong").attr("class", "name").text(&item.name))
        .text(" ")
        .child(
            &el("span")
                .attr("class", "price")
                .text(&price(item.price_cents)),
        );
    if *pending {
        line = line.child(&pending_mark());
    }
    let li = el("li")
        .attr("class", "menu-item")
        .attr("data-item", &item.id)
        .attr("data-pending", if *pending { "true" } else { "false" })
        .child(&line);
    let parcel = if item.available {
        let slot = el("div").attr("class", "parcel");
        let _ = li.append_child(&slot);
        // The add-to-cart parcel's input.
        let input = js::object();
        js::set(&input, "restaurantId", restaurant_id.to_js());
        js::set(&input, "itemId", item.id.to_js());
        js::set(&input, "name", item.name.to_js());
        js::set(&input, "priceCents", item.price_cents.to_js());
        let element: HtmlElement = slot.unchecked_into();
        let (host, data) = (host.clone(), JsValue::from(input));
        let mounted = MountedParcel {
            host: host.clone(),
            element: element.clone(),
        };
        wasm_bindgen_futures::spawn_local(async move {
            // A failed parcel shows its error in its own slot (the shell puts it there).
            let _ = host.mount_parcel(PARCEL_APP, &element, &data).await;
        });
        Some(mounted)
    } else {
        let _ = li.append_child(&el("span").attr("class", "unavailable").text("Sold out"));
        None
    };
    (li, parcel)
}

/// The menu drawn: the header and the rows by what they show.
struct Menu {
    name: Element,
    cuisine: Element,
    rows: Keyed<RowKey, Option<MountedParcel>>,
}

/// One restaurant's menu.
struct Detail {
    id: String,
    base: String,
    host: Host,
    gone: Cell<bool>,
    as_of: RefCell<Slot>,
    content: RefCell<Slot>,
    /// What is shown, to leave the page alone when a read brings nothing new.
    shown: RefCell<Option<Result<RestaurantView, BffError>>>,
    menu: RefCell<Option<Menu>>,
}

impl Detail {
    fn show(container: &Element, base: &str, id: &str, bff: Bff, host: Host) -> Box<dyn Any> {
        let back = el("p").child(&el("a").attr("href", base).text("← All restaurants"));
        let _ = container.append_child(&back);
        let detail = Rc::new(Detail {
            id: id.to_string(),
            base: base.to_string(),
            host,
            gone: Cell::new(false),
            as_of: RefCell::new(Slot::new(container)),
            content: RefCell::new(Slot::new(container)),
            shown: RefCell::new(None),
            menu: RefCell::new(None),
        });
        detail
            .content
            .borrow_mut()
            .show(Some(loading("Loading the menu…")));
        let load = {
            let (path, for_answer) = (format!("/{id}"), detail.clone());
            Reader::new(
                move || {
                    let (path, bff) = (path.clone(), bff.clone());
                    async move { bff.query::<RestaurantView>(&path).await }
                },
                move |answer| for_answer.answer(answer),
            )
        };
        load.ask();
        let outbox = subscribe(topics::OUTBOX, false, {
            let load = load.clone();
            move |_| load.ask()
        });
        // Someone changed this menu: show the item at once, then read the menu again so the
        // device's saved copy (and what the outbox still waits to send) follows.
        let live = on_live({
            let detail = detail.clone();
            move |event| {
                if event.kind != event_types::MENU_ITEM_UPDATED {
                    return;
                }
                let Ok(item) = MenuItem::from_js(&event.data) else {
                    return;
                };
                if item.restaurant_id == detail.id {
                    detail.changed(item);
                    load.ask();
                }
            }
        });
        Box::new(DetailPage {
            detail,
            _listeners: (outbox, live),
        })
    }

    fn answer(&self, answer: Result<(RestaurantView, Freshness), BffError>) {
        if self.gone.get() {
            return;
        }
        let loaded = answer.map(|(view, freshness)| {
            self.as_of
                .borrow_mut()
                .show(as_of(as_of_notice(&freshness)));
            view
        });
        // Unchanged (a command elsewhere changed the outbox): keep the page, and the parcels'
        // own state in it, as it is.
        if self.shown.borrow().as_ref() != Some(&loaded) {
            self.draw(&loaded);
            *self.shown.borrow_mut() = Some(loaded);
        }
    }

    /// A live change of one item, newer than the one shown and not waiting in the outbox.
    fn changed(&self, item: MenuItem) {
        if self.gone.get() {
            return;
        }
        let mut shown = self.shown.borrow_mut();
        let Some(Ok(view)) = shown.as_mut() else {
            return;
        };
        match view.menu.iter_mut().find(|m| m.value.id == item.id) {
            Some(m) if !m.pending && m.value.meta.version < item.meta.version => m.value = item,
            _ => return,
        }
        self.draw(&Ok(view.clone()));
    }

    fn draw(&self, loaded: &Result<RestaurantView, BffError>) {
        let view = match loaded {
            Ok(view) => view,
            Err(e) => {
                self.menu.take();
                let shown = if e.status() == Some(404) {
                    let all = el("a").attr("href", &self.base).text("All restaurants");
                    vec![
                        el("h1").text("Restaurant not found"),
                        el("p")
                            .text("There is no restaurant “")
                            .text(&self.id)
                            .text("”. ")
                            .child(&all),
                    ]
                } else {
                    vec![failure(e)]
                };
                self.content.borrow_mut().set(shown);
                return;
            }
        };
        let r = &view.restaurant;
        let mut menu = self.menu.borrow_mut();
        let menu = menu.get_or_insert_with(|| {
            let (name, cuisine) = (el("h1"), el("p").attr("class", "meta"));
            let list = el("ul").attr("class", "menu");
            self.content.borrow_mut().set(vec![
                name.clone(),
                cuisine.clone(),
                el("h2").text("Menu"),
                list.clone(),
            ]);
            Menu {
                name,
                cuisine,
                rows: Keyed::new(list),
            }
        });
        menu.name.set_text_content(Some(&r.name));
        menu.cuisine.set_text_content(Some(&r.cuisine));
        // Rows keyed by what they show: a read that adds or changes items draws those rows
        // only. Drawing every row again mounted every row's add-to-cart parcel anew; a replay
        // adding a thousand items kept the page busy for seconds at a time.
        menu.rows.show(
            view.menu.iter().filter(|m| !m.value.meta.deleted),
            |m| (m.value.id.clone(), m.value.meta.version, m.pending),
            |m| row(m, &r.id, &self.host),
        );
    }
}
