//! Menu editing, for admins only: the shell activates this app only for users with the `admin`
//! role (its `mfe.json` says so) and the nav shows its entry only to them; the BFF checks the
//! role again on every command. At the base path it lists the restaurants; at `<base>/:id` it
//! shows that restaurant's menu with an editor per item (name, price, availability). Edits go
//! through the outbox, so they work offline, and a clash with someone else's edit lands in the
//! user's inbox; other admins' edits arrive live.

use leptos::prelude::*;
use tessera_sdk::bff::BffError;
use tessera_sdk::bus::topics;
use tessera_sdk::js::{self, ToJs};
use tessera_sdk::routing::RoutePattern;
use tessera_sdk::sync::{event_types, MenuItem, Page, PutMenuItem, Restaurant};
use tessera_sdk::{current_path, on_live, on_location_change, subscribe, Bff, CommandSpec, Host};
use tessera_sdk::{Edit, Marked, Overlay, Props, Reader};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: menu_admin);

fn menu_admin(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let path = RwSignal::new(current_path());
    StoredValue::new_local(on_location_change(move |p| path.set(p)));
    let p = props.get_untracked();
    let bff = host.bff(p.bff.as_deref().unwrap_or("/api/restaurants"));
    let base = if p.base_path.is_empty() {
        "/admin/menus".to_string()
    } else {
        p.base_path
    };
    let page = move || {
        let pattern = RoutePattern::parse(&format!("{}/:id", base.trim_end_matches('/'))).ok();
        match pattern
            .and_then(|p| p.match_prefix(&path.get()))
            .and_then(|mut p| p.remove("id"))
        {
            Some(id) => menu(&base, id, bff.clone()).into_any(),
            None => restaurants(&base, bff.clone()).into_any(),
        }
    };
    view! { <div class="menu-admin">{page}</div> }
}

fn failure(e: &BffError) -> AnyView {
    view! { <p class="tessera-app-error" role="alert">"Could not load: "{e.to_string()}</p> }
        .into_any()
}

fn restaurants(base: &str, bff: Bff) -> impl IntoView {
    let shown = RwSignal::new(None::<Result<Vec<Restaurant>, BffError>>);
    wasm_bindgen_futures::spawn_local(async move {
        let read = bff.get::<Page<Restaurant>>("?limit=100").await;
        shown.try_set(Some(read.map(|p| p.items)));
    });
    let base = base.to_string();
    view! {
        <h1>"Edit menus"</h1>
        {move || match shown.get() {
            None => view! { <p class="loading">"Loading restaurants…"</p> }.into_any(),
            Some(Err(e)) => failure(&e),
            Some(Ok(items)) => view! {
                <ul class="restaurant-list">
                    {items.into_iter().map(|r| view! {
                        <li class="card"><a href=format!("{base}/{}", r.id)>{r.name}</a></li>
                    }).collect_view()}
                </ul>
            }.into_any(),
        }}
    }
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

fn menu(base: &str, id: String, bff: Bff) -> impl IntoView {
    let shown = RwSignal::new(None::<Result<MenuView, BffError>>);
    let load = {
        let (id, bff) = (id.clone(), bff.clone());
        Reader::new(
            move || {
                let (path, bff) = (format!("/{id}"), bff.clone());
                async move { bff.query::<MenuView>(&path).await.map(|(m, _)| m) }
            },
            move |read| {
                if shown.try_get_untracked() != Some(Some(read.clone())) {
                    shown.try_set(Some(read));
                }
            },
        )
    };
    load.ask();
    StoredValue::new_local(subscribe(topics::OUTBOX, false, {
        let load = load.clone();
        move |_| load.ask()
    }));
    // Another admin's edit of this menu: read it again.
    StoredValue::new_local(on_live(move |event| {
        let ours = event.kind == event_types::MENU_ITEM_UPDATED
            && js::field::<String>(&event.data, "restaurantId").is_ok_and(|r| r == id);
        if ours {
            load.ask();
        }
    }));
    let back = base.to_string();
    view! {
        <p><a href=back>"← All restaurants"</a></p>
        {move || match shown.get() {
            None => view! { <p class="loading">"Loading the menu…"</p> }.into_any(),
            Some(Err(e)) => failure(&e),
            Some(Ok(m)) => {
                let items: Vec<Marked<MenuItem>> =
                    m.menu.into_iter().filter(|i| !i.value.meta.deleted).collect();
                let bff = bff.clone();
                view! {
                    <h1>"Menu of "{m.restaurant.name}</h1>
                    <ul class="menu">
                        // Keyed by what the row shows: a read that changes one item redraws
                        // that row only, so an editor open on another stays open.
                        <For
                            each=move || items.clone()
                            key=|m| (m.value.id.clone(), m.value.meta.version, m.pending)
                            children=move |Marked { value: item, pending }| {
                                let editor = view! { <ItemEditor bff=bff.clone() item=item.clone()/> };
                                view! {
                                    <li class="menu-item" data-item=item.id.clone() data-pending=pending.to_string()>
                                        <div>
                                            <strong class="name">{item.name.clone()}</strong>" "
                                            <span class="price">{price(item.price_cents)}</span>
                                            {(!item.available).then(|| view! { <span class="unavailable">" · sold out"</span> })}
                                            {pending.then(|| view! { <span class="pending-mark" title="Saved on this device; not sent yet">" · not sent yet"</span> })}
                                        </div>
                                        {editor}
                                    </li>
                                }
                            }
                        />
                    </ul>
                }.into_any()
            }
        }}
    }
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
    let cents = format!("{frac:0<2}").parse::<i64>().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// The editor for one menu item: name, price, availability, queued as one command on the
/// item's version as shown.
#[component]
fn ItemEditor(bff: Bff, item: MenuItem) -> impl IntoView {
    let open = RwSignal::new(false);
    let name = RwSignal::new(item.name.clone());
    let price_text = RwSignal::new(format!(
        "{}.{:02}",
        item.price_cents / 100,
        item.price_cents % 100
    ));
    let available = RwSignal::new(item.available);
    let problem = RwSignal::new(None::<String>);
    let item = std::sync::Arc::new(item);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(price_cents) = parse_price(&price_text.get_untracked()) else {
            problem.set(Some("The price must look like 12.90".into()));
            return;
        };
        let body = PutMenuItem {
            name: name.get_untracked().trim().to_string(),
            price_cents,
            available: available.get_untracked(),
            last_modified_by: None,
        };
        let mut edited = (*item).clone();
        edited.name = body.name.clone();
        edited.price_cents = body.price_cents;
        edited.available = body.available;
        let (bff, item) = (bff.clone(), item.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let shown = Overlay {
                query: format!("/{}", item.restaurant_id),
                edit: Edit::Upsert {
                    list: "/menu".into(),
                    key: "id".into(),
                    value: edited.to_js(),
                },
            };
            let queued = bff
                .command(CommandSpec {
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
                .await;
            match queued {
                Ok(_) => {
                    problem.try_set(None);
                    open.try_set(false);
                }
                Err(e) => {
                    problem.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <button class="edit" on:click=move |_| open.update(|o| *o = !*o)>{move || if open.get() { "Close" } else { "Edit" }}</button>
        {move || open.get().then({
            let save = save.clone();
            move || view! {
            <form class="edit-item" on:submit=save>
                <label>"Name "<input name="name" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/></label>
                <label>"Price € "<input name="price" inputmode="decimal" prop:value=move || price_text.get() on:input=move |e| price_text.set(event_target_value(&e))/></label>
                <label><input type="checkbox" name="available" prop:checked=move || available.get() on:change=move |e| available.set(event_target_checked(&e))/>" Available"</label>
                <button type="submit" class="save">"Save"</button>
                {move || problem.get().map(|p| view! { <span class="tessera-app-error" role="alert">{p}</span> })}
            </form>
        }})}
    }
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
        for bad in ["", ".50", "12.345", "-3", "1e3", "12.a", "€"] {
            assert_eq!(parse_price(bad), None, "{bad:?}");
        }
    }
}
