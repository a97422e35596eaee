//! Restaurants from the BFF: the list at the app's base path (a page at a time) and one
//! restaurant's menu at `<base>/:id`, each available item embedding the add-to-cart parcel.
//! Admins edit menu items in place; edits go through the outbox, so they work offline and a
//! clash with someone else's edit lands in the user's inbox.

use leptos::prelude::*;
use serde_json::json;
use tessera_shared::bff::BffError;
use tessera_shared::browser::{
    as_of_notice, current_path, on_live, on_location_change, subscribe, Bff, CommandSpec, Host,
};
use tessera_shared::bus::topics;
use tessera_shared::overlay::{Edit, Marked, Overlay};
use tessera_shared::routing::RoutePattern;
use tessera_shared::sync::{event_types, MenuItem, Page, PutMenuItem, Restaurant, ROLE_ADMIN};
use tessera_shared::Props;
use wasm_bindgen::JsCast;

tessera_shared::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: restaurants);

const PARCEL_APP: &str = "@tessera/add-to-cart";

/// The restaurant id in `<base>/:id`, if the path is a detail page.
fn detail_id(base: &str, path: &str) -> Option<String> {
    let pattern = RoutePattern::parse(&format!("{}/:id", base.trim_end_matches('/'))).ok()?;
    pattern.match_prefix(path).and_then(|mut p| p.remove("id"))
}

/// What a page shows while its data is read from the BFF.
#[derive(Clone, Debug, PartialEq)]
enum Loaded<T> {
    Loading,
    Ready(T),
    Failed(BffError),
}

fn restaurants(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let path = RwSignal::new(current_path());
    StoredValue::new_local(on_location_change(move |p| path.set(p)));
    let p = props.get_untracked();
    let bff = Bff::new(p.bff.as_deref().unwrap_or("/api/restaurants"), &p.session);
    let admin = p.session.has_role(ROLE_ADMIN);
    let base = if p.base_path.is_empty() {
        "/restaurants".to_string()
    } else {
        p.base_path
    };
    let page = move || match detail_id(&base, &path.get()) {
        Some(id) => detail(&base, id, bff.clone(), host.clone(), admin).into_any(),
        None => list(&base, bff.clone()).into_any(),
    };
    view! { <div class="restaurants">{page}</div> }
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

/// A restaurant with its menu as the user sees it: items an edit still waiting in the outbox
/// changed are marked.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
struct RestaurantView {
    #[serde(flatten)]
    restaurant: Restaurant,
    menu: Vec<Marked<MenuItem>>,
}

/// "Saved copy · as of …" above data the service worker answered from the device.
fn as_of(notice: Option<String>) -> Option<impl IntoView> {
    notice.map(|text| view! { <p class="tessera-as-of">{text}</p> })
}

fn failure(e: &BffError) -> AnyView {
    view! { <p class="tessera-app-error" role="alert">"Could not load: "{e.to_string()}</p> }
        .into_any()
}

fn list(base: &str, bff: Bff) -> impl IntoView {
    let shown = RwSignal::new(Loaded::<Vec<Restaurant>>::Loading);
    let saved = RwSignal::new(None::<String>);
    let next = RwSignal::new(None::<String>);
    let load = move |cursor: Option<String>| {
        let bff = bff.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let query = match &cursor {
                // The BFF's default page size, and the form `/api/offline` names the pages
                // in, so the pages read ahead for offline use are the ones asked for here.
                Some(c) => format!("?cursor={}", js_sys::encode_uri_component(c)),
                None => String::new(),
            };
            match bff.query::<Page<Restaurant>>(&query).await {
                Ok((page, freshness)) => {
                    saved.try_set(as_of_notice(&freshness));
                    next.try_set(page.next_cursor);
                    shown.try_update(|s| match s {
                        Loaded::Ready(items) if cursor.is_some() => items.extend(page.items),
                        _ => *s = Loaded::Ready(page.items),
                    });
                }
                Err(e) => {
                    shown.try_set(Loaded::Failed(e));
                }
            }
        });
    };
    load(None);
    let base = base.to_string();
    let cards = move || match shown.get() {
        Loaded::Loading => view! { <p class="loading">"Loading restaurants…"</p> }.into_any(),
        Loaded::Failed(e) => failure(&e),
        Loaded::Ready(items) => {
            let cards = items
                .into_iter()
                .map(|r| {
                    view! {
                        <li class="card">
                            <a href=format!("{base}/{}", r.id)>{r.name}</a>
                            <span class="meta">{r.cuisine}</span>
                        </li>
                    }
                })
                .collect_view();
            view! { <ul class="restaurant-list">{cards}</ul> }.into_any()
        }
    };
    let more = move || {
        next.get().map(|cursor| {
            let load = load.clone();
            view! { <button class="more" on:click=move |_| load(Some(cursor.clone()))>"More restaurants"</button> }
        })
    };
    view! {
        <h1>"Restaurants"</h1>
        {move || as_of(saved.get())}
        {cards}
        {more}
    }
}

fn detail(base: &str, id: String, bff: Bff, host: Host, admin: bool) -> impl IntoView {
    let shown = RwSignal::new(Loaded::<RestaurantView>::Loading);
    let saved = RwSignal::new(None::<String>);
    // Reads overlap when the outbox changes quickly; only the newest answer is shown.
    let reads = StoredValue::new(0u64);
    let load = {
        let (id, bff) = (id.clone(), bff.clone());
        move || {
            let (id, bff) = (id.clone(), bff.clone());
            reads.update_value(|n| *n += 1);
            let this = reads.get_value();
            wasm_bindgen_futures::spawn_local(async move {
                let loaded = match bff.query::<RestaurantView>(&format!("/{id}")).await {
                    Ok((d, freshness)) => {
                        saved.try_set(as_of_notice(&freshness));
                        Loaded::Ready(d)
                    }
                    Err(e) => Loaded::Failed(e),
                };
                // Unchanged (a command elsewhere changed the outbox): keep the view, and the
                // parcels' own state in it, as it is.
                if reads.try_get_value() == Some(this)
                    && shown.try_get_untracked().is_some_and(|s| s != loaded)
                {
                    shown.try_set(loaded);
                }
            });
        }
    };
    load();
    StoredValue::new_local(subscribe(topics::OUTBOX, false, {
        let load = load.clone();
        move |_| load()
    }));
    // Someone changed this menu: show the item at once, then read the menu again so the
    // device's saved copy (and what the outbox still waits to send) follows.
    let restaurant = id.clone();
    StoredValue::new_local(on_live(move |event| {
        if event.kind != event_types::MENU_ITEM_UPDATED {
            return;
        }
        let Ok(item) = serde_json::from_value::<MenuItem>(event.data) else {
            return;
        };
        if item.restaurant_id != restaurant {
            return;
        }
        shown.maybe_update(|s| {
            let Loaded::Ready(view) = s else {
                return false;
            };
            match view.menu.iter_mut().find(|m| m.value.id == item.id) {
                Some(m) if !m.pending && m.value.meta.version < item.meta.version => {
                    m.value = item;
                    true
                }
                _ => false,
            }
        });
        load();
    }));
    let base = base.to_string();
    let back = base.clone();
    let content = move || {
        match shown.get() {
        Loaded::Loading => view! { <p class="loading">"Loading the menu…"</p> }.into_any(),
        Loaded::Failed(e) if e.status() == Some(404) => view! {
            <h1>"Restaurant not found"</h1>
            <p>"There is no restaurant “"{id.clone()}"”. "<a href=base.clone()>"All restaurants"</a></p>
        }
        .into_any(),
        Loaded::Failed(e) => failure(&e),
        Loaded::Ready(d) => {
            let r = d.restaurant;
            let items = d
                .menu
                .into_iter()
                .filter(|item| !item.value.meta.deleted)
                .map(|Marked { value: item, pending }| {
                    let input = json!({
                        "restaurantId": r.id,
                        "itemId": item.id,
                        "name": item.name,
                        "priceCents": item.price_cents,
                    });
                    let order = if item.available {
                        view! { <Parcel host=host.clone() data=input/> }.into_any()
                    } else {
                        view! { <span class="unavailable">"Sold out"</span> }.into_any()
                    };
                    let editor = admin.then(|| view! { <ItemEditor bff=bff.clone() item=item.clone()/> });
                    view! {
                        <li class="menu-item" data-item=item.id.clone() data-pending=pending.to_string()>
                            <div>
                                <strong class="name">{item.name}</strong>" "<span class="price">{price(item.price_cents)}</span>
                                {pending.then(|| view! { <span class="pending-mark" title="Saved on this device; not sent yet">" · not sent yet"</span> })}
                            </div>
                            {order}
                            {editor}
                        </li>
                    }
                })
                .collect_view();
            view! {
                <h1>{r.name}</h1>
                <p class="meta">{r.cuisine}</p>
                <h2>"Menu"</h2>
                <ul class="menu">{items}</ul>
            }
            .into_any()
        }
    }
    };
    view! {
        <p><a href=back>"← All restaurants"</a></p>
        {move || as_of(saved.get())}
        {content}
    }
}

/// An admin's editor for one menu item: name, price, availability, queued as one command on
/// the item's version as shown.
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
                    value: serde_json::to_value(&edited).unwrap_or_default(),
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
                {move || problem.get().map(|p| view! { <span class="parcel-error" role="alert">{p}</span> })}
            </form>
        }})}
    }
}

/// Unmounts the parcel when the view that holds it goes away.
struct MountedParcel {
    host: Host,
    element: web_sys::HtmlElement,
}

impl Drop for MountedParcel {
    fn drop(&mut self) {
        self.host.unmount_parcel(PARCEL_APP, &self.element);
    }
}

/// A slot that the shell fills with the add-to-cart parcel.
#[component]
fn Parcel(host: Host, data: serde_json::Value) -> impl IntoView {
    let slot = NodeRef::<leptos::html::Div>::new();
    let mounted = StoredValue::new_local(None::<MountedParcel>);
    Effect::new(move |_| {
        let Some(div) = slot.get() else { return };
        let element: web_sys::HtmlElement = div.unchecked_into();
        let (host, data) = (host.clone(), data.clone());
        mounted.set_value(Some(MountedParcel {
            host: host.clone(),
            element: element.clone(),
        }));
        wasm_bindgen_futures::spawn_local(async move {
            // A failed parcel shows its error in its own slot (the shell puts it there).
            let _ = host.mount_parcel(PARCEL_APP, &element, &data).await;
        });
    });
    view! { <div class="parcel" node_ref=slot></div> }
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
