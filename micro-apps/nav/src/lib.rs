//! Navigation: always mounted; renders the menu from the published mount points and shows how
//! many items the cart holds, changes not yet sent included: read from the BFF at mount and
//! again whenever the outbox changes or the cart changes elsewhere (a live `cart.updated`,
//! e.g. from the user's other device). Written without a framework (`tessera_sdk::dom`): the
//! menu is a few links that change on three occasions, and every app's bytes are paid by every
//! user on every cold page.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_sdk::bus::topics;
use tessera_sdk::dom::{el, set_attr, Build, Slot, View};
use tessera_sdk::sync::event_types;
use tessera_sdk::Reader;
use tessera_sdk::{current_path, on_live, on_location_change, subscribe, Host, Listener, Props};
use web_sys::{Element, HtmlElement};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: Nav::mount);
tessera_sdk::small_allocator!();

/// Of the cart, what the badge counts: each line's quantity (reading the whole cart would cost
/// the bundle its decoder).
struct Line {
    quantity: u32,
}

struct Lines {
    lines: Vec<Line>,
}

tessera_sdk::from_js!(Line {
    quantity: "quantity"
});
tessera_sdk::from_js!(Lines { lines: "lines" });

fn is_active(path: &str, route: &str) -> bool {
    path == route || path.starts_with(&format!("{}/", route.trim_end_matches('/')))
}

struct Link {
    route: String,
    a: Element,
    /// The cart's link has one; shown while the cart holds items.
    badge: Option<Element>,
}

/// What the listeners change: the links (rebuilt when the props change) and the cart count.
struct Menu {
    nav: Element,
    /// Why the menu cannot be shown: the shell passed navigation entries it cannot read.
    problem: RefCell<Slot>,
    links: RefCell<Vec<Link>>,
    items: Cell<u32>,
}

impl Menu {
    /// The links `navigation` allows `session`, replacing the ones shown.
    fn build(&self, props: &Props) {
        for old in self.links.take() {
            old.a.remove();
        }
        self.problem.borrow_mut().show(None);
        let navigation = props.navigation.links().unwrap_or_else(|e| {
            let text = format!("The menu cannot be shown: {e}");
            let problem = el("p")
                .attr("class", "tessera-app-error")
                .attr("role", "alert");
            self.problem.borrow_mut().show(Some(problem.text(&text)));
            Vec::new()
        });
        let links = navigation
            .iter()
            .filter(|link| {
                link.meta
                    .required_role
                    .as_deref()
                    .is_none_or(|r| props.session.has_role(r))
            })
            .map(|link| {
                let icon = el("span")
                    .attr("class", "icon")
                    .attr("aria-hidden", "true")
                    .text(link.meta.icon.as_deref().unwrap_or_default());
                let a = el("a")
                    .attr("href", &link.meta.route)
                    .attr("data-menu-key", &link.meta.menu_key)
                    .child(&icon)
                    .text(&link.meta.label);
                let _ = self.nav.append_child(&a);
                let badge =
                    (link.meta.menu_key == "cart").then(|| el("span").attr("class", "badge"));
                Link {
                    route: link.meta.route.clone(),
                    a,
                    badge,
                }
            })
            .collect();
        *self.links.borrow_mut() = links;
        self.show_path(&current_path());
        self.show_items();
    }

    fn show_path(&self, path: &str) {
        for link in self.links.borrow().iter() {
            set_attr(
                &link.a,
                "aria-current",
                is_active(path, &link.route).then_some("page"),
            );
        }
    }

    fn show_items(&self) {
        let n = self.items.get();
        for link in self.links.borrow().iter() {
            let Some(badge) = &link.badge else { continue };
            if n > 0 {
                badge.set_text_content(Some(&n.to_string()));
                let _ = link.a.append_child(badge);
            } else {
                badge.remove();
            }
        }
    }
}

struct Nav {
    menu: Rc<Menu>,
    _listeners: (Listener, Listener, Listener),
}

impl Nav {
    fn mount(root: &HtmlElement, props: Props, host: Host) -> Nav {
        let nav = el("nav")
            .attr("class", "tessera-nav")
            .attr("aria-label", "Main");
        let brand = el("a")
            .attr("class", "brand")
            .attr("href", "/")
            .text("Tessera Eats");
        let _ = nav.append_child(&brand);
        let _ = root.append_child(&nav);
        let menu = Rc::new(Menu {
            problem: RefCell::new(Slot::new(&nav)),
            nav,
            links: RefCell::default(),
            items: Cell::new(0),
        });
        menu.build(&props);

        let bff = host.bff(props.bff.as_deref().unwrap_or("/api/cart"));
        let reader = Reader::new(
            move || {
                let bff = bff.clone();
                async move { bff.get::<Lines>("").await }
            },
            {
                let menu = menu.clone();
                // Without it the badge waits for the next change; not worth an error.
                move |answer: Result<Lines, _>| {
                    if let Ok(c) = answer {
                        menu.items.set(c.lines.iter().map(|l| l.quantity).sum());
                        menu.show_items();
                    }
                }
            },
        );
        let signed_in = props.session.id_token.is_some();
        let read = move || {
            if signed_in {
                reader.ask(); // a signed-out user has no cart
            }
        };
        read();
        let listeners = (
            on_location_change({
                let menu = menu.clone();
                move |p| menu.show_path(&p)
            }),
            subscribe(topics::OUTBOX, false, {
                let read = read.clone();
                move |_| read()
            }),
            on_live(move |event| {
                if event.kind == event_types::CART_UPDATED
                    || event.kind == event_types::ORDER_PLACED
                {
                    read();
                }
            }),
        );
        Nav {
            menu,
            _listeners: listeners,
        }
    }
}

impl View for Nav {
    fn update(&mut self, props: Props) {
        // The links follow the navigation and the roles.
        self.menu.build(&props);
    }
}
