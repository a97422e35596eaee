//! Menu editing, for admins only: the shell activates this app only for users with the `admin`
//! role (its `mfe.json` says so) and the nav shows its entry only to them; the BFF checks the
//! role again on every command. At the base path it lists the restaurants; at `<base>/:id` it
//! shows that restaurant's menu with an editor per item (name, price, availability). Edits go
//! through the outbox, so they work offline, and a clash with someone else's edit lands in the
//! user's inbox; other admins' edits arrive live. Written without a framework
//! (`tessera_sdk::dom`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_sdk::bff::BffError;
use tessera_sdk::bus::topics;
use tessera_sdk::dom::{el, pending_mark, Build, Keyed, Pages, Slot};
use tessera_sdk::js::{self, JsValue, ToJs};
use tessera_sdk::sync::{event_types, MenuItem, Page, PutMenuItem, Restaurant};
use tessera_sdk::{on_live, subscribe, Bff, CommandSpec, Host};
use tessera_sdk::{Edit, Listener, Marked, Overlay, Props, Reader};
use web_sys::{Element, HtmlElement};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: app);
tessera_sdk::small_allocator!();

/// The restaurants at the base path, a menu's editors at `<base>/:id`.
fn app(root: &HtmlElement, props: Props, host: Host) -> Pages {
    let container = el("div").attr("class", "menu-admin");
    let _ = root.append_child(&container);
    let bff = host.bff(props.bff.as_deref().unwrap_or("/api/restaurants"));
    let base = if props.base_path.is_empty() {
        "/admin/menus".to_string()
    } else {
        props.base_path
    };
    Pages::new(container, base.clone(), move |container, id| match id {
        Some(id) => Box::new(menu(container, &base, id, bff.clone())),
        None => {
            restaurants(container, &base, bff.clone());
            Box::new(())
        }
    })
}

fn failure(e: &BffError) -> Element {
    el("p")
        .attr("class", "tessera-app-error")
        .attr("role", "alert")
        .text("Could not load: ")
        .text(&e.to_string())
}

fn restaurants(container: &Element, base: &str, bff: Bff) {
    let _ = container.append_child(&el("h1").text("Edit menus"));
    let mut body = Slot::new(container);
    body.show(Some(
        el("p")
            .attr("class", "loading")
            .text("Loading restaurants…"),
    ));
    let base = base.to_string();
    wasm_bindgen_futures::spawn_local(async move {
        let shown = match bff.get::<Page<Restaurant>>("?limit=100").await {
            Err(e) => failure(&e),
            Ok(page) => {
                let list = el("ul").attr("class", "restaurant-list");
                for r in page.items {
                    let link = el("a")
                        .attr("href", &format!("{base}/{}", r.id))
                        .text(&r.name);
                    let _ = list.append_child(&el("li").attr("class", "card").child(&link));
                }
                list
            }
        };
        body.show(Some(shown));
    });
}

/// A restaurant with its menu as the user sees it: items an edit still waiting in the outbox
/// changed are marked.
#[derive(Clone, Debug, PartialEq)]
struct MenuView {
    restaurant: Restaurant,
    menu: Vec<Marked<MenuItem>>,
}

tessera_sdk::from_js!(MenuView {
    restaurant: flatten,
    menu: "menu"
});

/// What a row shows; a row is drawn again (closing its editor) only when this changes.
type RowKey = (String, i64, bool);

/// One restaurant's menu with an editor per item.
struct Menu {
    bff: Bff,
    content: RefCell<Slot>,
    shown: RefCell<Option<Result<MenuView, BffError>>>,
    /// The heading and the rows, once a menu came.
    drawn: RefCell<Option<(Element, Keyed<RowKey, Editor>)>>,
}

/// A menu page and the listeners that keep it current.
struct MenuPage {
    _menu: Rc<Menu>,
    _listeners: (Listener, Listener),
}

fn menu(container: &Element, base: &str, id: &str, bff: Bff) -> MenuPage {
    let back = el("p").child(&el("a").attr("href", base).text("← All restaurants"));
    let _ = container.append_child(&back);
    let menu = Rc::new(Menu {
        bff: bff.clone(),
        content: RefCell::new(Slot::new(container)),
        shown: RefCell::new(None),
        drawn: RefCell::new(None),
    });
    menu.content.borrow_mut().show(Some(
        el("p").attr("class", "loading").text("Loading the menu…"),
    ));
    let load = {
        let (path, menu) = (format!("/{id}"), Rc::downgrade(&menu));
        Reader::new(
            move || {
                let (path, bff) = (path.clone(), bff.clone());
                async move { bff.query::<MenuView>(&path).await.map(|(m, _)| m) }
            },
            move |read| {
                if let Some(menu) = menu.upgrade() {
                    menu.show(read);
                }
            },
        )
    };
    load.ask();
    let outbox = subscribe(topics::OUTBOX, false, {
        let load = load.clone();
        move |_| load.ask()
    });
    // Another admin's edit of this menu: read it again.
    let id = id.to_string();
    let live = on_live(move |event| {
        let ours = event.kind == event_types::MENU_ITEM_UPDATED
            && js::field::<String>(&event.data, "restaurantId").is_ok_and(|r| r == id);
        if ours {
            load.ask();
        }
    });
    MenuPage {
        _menu: menu,
        _listeners: (outbox, live),
    }
}

impl Menu {
    fn show(&self, read: Result<MenuView, BffError>) {
        if self.shown.borrow().as_ref() == Some(&read) {
            return;
        }
        match &read {
            Err(e) => {
                self.drawn.take();
                self.content.borrow_mut().show(Some(failure(e)));
            }
            Ok(m) => {
                let mut drawn = self.drawn.borrow_mut();
                let (heading, rows) = drawn.get_or_insert_with(|| {
                    let (heading, list) = (el("h1"), el("ul").attr("class", "menu"));
                    self.content
                        .borrow_mut()
                        .set(vec![heading.clone(), list.clone()]);
                    (heading, Keyed::new(list))
                });
                heading.set_text_content(Some(&format!("Menu of {}", m.restaurant.name)));
                // Keyed by what the row shows: a read that changes one item redraws that row
                // only, so an editor open on another stays open.
                rows.show(
                    m.menu.iter().filter(|i| !i.value.meta.deleted),
                    |m| (m.value.id.clone(), m.value.meta.version, m.pending),
                    |m| row(&self.bff, m),
                );
            }
        }
        *self.shown.borrow_mut() = Some(read);
    }
}

fn row(bff: &Bff, marked: &Marked<MenuItem>) -> (Element, Editor) {
    let Marked {
        value: item,
        pending,
    } = marked;
    let mut line = el("div")
        .child(&el("strong").attr("class", "name").text(&item.name))
        .text(" ")
        .child(
            &el("span")
                .attr("class", "price")
                .text(&price(item.price_cents)),
        );
    if !item.available {
        line = line.child(&el("span").attr("class", "unavailable").text(" · sold out"));
    }
    if *pending {
        line = line.child(&pending_mark());
    }
    let li = el("li")
        .attr("class", "menu-item")
        .attr("data-item", &item.id)
        .attr("data-pending", if *pending { "true" } else { "false" })
        .child(&line);
    let editor = Editor::new(&li, bff, item);
    (li, editor)
}

fn price(cents: i64) -> String {
    format!("€{}.{:02}", cents / 100, cents % 100)
}

/// A price as typed ("12.9", "12.90", "€12", "12,90") in cents.
fn parse_price(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('€').trim().replace(',', ".");
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Digits only, as checked: added up here, since `str::parse` and a padded `format!` would
    // cost the bundle their own code.
    let value = |s: &str| {
        s.bytes().try_fold(0i64, |n, b| {
            n.checked_mul(10)?.checked_add(i64::from(b - b'0'))
        })
    };
    let cents = value(frac)? * if frac.len() == 1 { 10 } else { 1 };
    value(whole)?.checked_mul(100)?.checked_add(cents)
}

/// The editor for one menu item: name, price, availability, queued as one command on the
/// item's version as shown. The form keeps what was typed while it is closed and opened again.
struct Editor {
    _listeners: (Listener, Listener),
}

struct Form {
    toggle: Element,
    form: Element,
    name: JsValue,
    price: JsValue,
    available: JsValue,
    open: Cell<bool>,
    slot: RefCell<Slot>,
    problem: RefCell<Slot>,
}

/// A form control's `value` or `checked`.
fn prop(input: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(input, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

impl Form {
    fn set_open(&self, open: bool) {
        self.open.set(open);
        self.toggle
            .set_text_content(Some(if open { "Close" } else { "Edit" }));
        self.slot.borrow_mut().show(open.then(|| self.form.clone()));
    }

    fn set_problem(&self, problem: Option<String>) {
        let shown = problem.map(|p| {
            el("span")
                .attr("class", "tessera-app-error")
                .attr("role", "alert")
                .text(&p)
        });
        self.problem.borrow_mut().show(shown);
    }
}

impl Editor {
    fn new(li: &Element, bff: &Bff, item: &MenuItem) -> Editor {
        let toggle = el("button").attr("class", "edit").text("Edit");
        let _ = li.append_child(&toggle);
        let input = |name: &str| el("input").attr("name", name);
        let (name, price_text) = (input("name"), input("price").attr("inputmode", "decimal"));
        let available = input("available").attr("type", "checkbox");
        let _ = js_sys::Reflect::set(&name, &"value".into(), &item.name.as_str().into());
        let shown_price = price(item.price_cents);
        let shown_price = shown_price.strip_prefix('€').unwrap_or(&shown_price);
        let _ = js_sys::Reflect::set(&price_text, &"value".into(), &shown_price.into());
        let _ = js_sys::Reflect::set(&available, &"checked".into(), &item.available.into());
        let form = el("form")
            .attr("class", "edit-item")
            .child(&el("label").text("Name ").child(&name))
            .child(&el("label").text("Price € ").child(&price_text))
            .child(&el("label").child(&available).text(" Available"))
            .child(
                &el("button")
                    .attr("type", "submit")
                    .attr("class", "save")
                    .text("Save"),
            );
        let problem = RefCell::new(Slot::new(&form));
        let form = Rc::new(Form {
            toggle: toggle.clone(),
            form: form.clone(),
            name: name.into(),
            price: price_text.into(),
            available: available.into(),
            open: Cell::new(false),
            slot: RefCell::new(Slot::new(li)),
            problem,
        });
        let on_toggle = {
            let form = form.clone();
            Listener::on(&toggle, "click", move |_| form.set_open(!form.open.get()))
        };
        let (bff, item) = (bff.clone(), Rc::new(item.clone()));
        let on_submit = Listener::on(&form.form.clone(), "submit", move |ev| {
            ev.prevent_default();
            let text = |v: JsValue| v.as_string().unwrap_or_default();
            let Some(price_cents) = parse_price(&text(prop(&form.price, "value"))) else {
                form.set_problem(Some("The price must look like 12.90".into()));
                return;
            };
            let body = PutMenuItem {
                name: text(prop(&form.name, "value")).trim().to_string(),
                price_cents,
                available: prop(&form.available, "checked").is_truthy(),
                last_modified_by: None,
            };
            let (bff, item, form) = (bff.clone(), item.clone(), form.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match save(&bff, &item, body).await {
                    Ok(()) => {
                        form.set_problem(None);
                        form.set_open(false);
                    }
                    Err(e) => form.set_problem(Some(e.to_string())),
                }
            });
        });
        Editor {
            _listeners: (on_toggle, on_submit),
        }
    }
}

/// Queues the edit of `item` as `body`, shown in the menu at once.
async fn save(bff: &Bff, item: &MenuItem, body: PutMenuItem) -> Result<(), BffError> {
    let mut edited = item.clone();
    edited.name = body.name.clone();
    edited.price_cents = body.price_cents;
    edited.available = body.available;
    let shown = Overlay {
        query: format!("/{}", item.restaurant_id),
        edit: Edit::Upsert {
            list: "/menu".into(),
            key: "id".into(),
            value: edited.to_js(),
        },
    };
    bff.command(CommandSpec {
        path: &format!("/{}/menu/{}", item.restaurant_id, item.id),
        body: &body,
        entity: &format!("menu-item:{}", item.id),
        base_version: Some(item.meta.version),
        label: format!(
            "{}: {}, {}, {}",
            item.name,
            body.name,
            price(body.price_cents),
            if body.available {
                "available"
            } else {
                "sold out"
            }
        ),
        overlays: vec![shown],
    })
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::parse_price;

    #[test]
    fn prices_parse_as_people_type_them() {
        assert_eq!(parse_price("12.90"), Some(1290));
        assert_eq!(parse_price(" €12.9 "), Some(1290));
        assert_eq!(parse_price("12,05"), Some(1205));
        assert_eq!(parse_price("7"), Some(700));
        assert_eq!(parse_price("0.5"), Some(50));
        assert_eq!(parse_price("3.05"), Some(305));
        assert_eq!(parse_price("92233720368547758.07"), Some(i64::MAX));
        assert_eq!(parse_price("92233720368547758.08"), None);
        for bad in ["", ".50", "12.345", "-3", "1e3", "12.a", "€"] {
            assert_eq!(parse_price(bad), None, "{bad:?}");
        }
    }
}
