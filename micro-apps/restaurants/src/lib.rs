//! Restaurants from the BFF: the list at the app's base path (a page at a time) and one
//! restaurant's menu at `<base>/:id`, each available item embedding the add-to-cart parcel.
//! Menu edits (the admin-only `menu-admin` app) and the user's own waiting commands show here
//! as they happen.

use leptos::prelude::*;
use tessera_sdk::bff::BffError;
use tessera_sdk::bus::topics;
use tessera_sdk::js::{self, FromJs, JsValue, ToJs};
use tessera_sdk::routing::RoutePattern;
use tessera_sdk::sync::{event_types, MenuItem, Page, Restaurant};
use tessera_sdk::Marked;
use tessera_sdk::Props;
use tessera_sdk::{
    as_of_notice, current_path, on_live, on_location_change, subscribe, Bff, Host, Reader,
};
use wasm_bindgen::JsCast;

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: restaurants);

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
    let bff = host.bff(p.bff.as_deref().unwrap_or("/api/restaurants"));
    let base = if p.base_path.is_empty() {
        "/restaurants".to_string()
    } else {
        p.base_path
    };
    let page = move || match detail_id(&base, &path.get()) {
        Some(id) => detail(&base, id, bff.clone(), host.clone()).into_any(),
        None => list(&base, bff.clone()).into_any(),
    };
    view! { <div class="restaurants">{page}</div> }
}

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

fn detail(base: &str, id: String, bff: Bff, host: Host) -> impl IntoView {
    let shown = RwSignal::new(Loaded::<RestaurantView>::Loading);
    let saved = RwSignal::new(None::<String>);
    let load = {
        let (id, bff) = (id.clone(), bff.clone());
        Reader::new(
            move || {
                let (path, bff) = (format!("/{id}"), bff.clone());
                async move { bff.query::<RestaurantView>(&path).await }
            },
            move |answer| {
                let loaded = match answer {
                    Ok((d, freshness)) => {
                        saved.try_set(as_of_notice(&freshness));
                        Loaded::Ready(d)
                    }
                    Err(e) => Loaded::Failed(e),
                };
                // Unchanged (a command elsewhere changed the outbox): keep the view, and the
                // parcels' own state in it, as it is.
                if shown.try_get_untracked().is_some_and(|s| s != loaded) {
                    shown.try_set(loaded);
                }
            },
        )
    };
    load.ask();
    StoredValue::new_local(subscribe(topics::OUTBOX, false, {
        let load = load.clone();
        move |_| load.ask()
    }));
    // Someone changed this menu: show the item at once, then read the menu again so the
    // device's saved copy (and what the outbox still waits to send) follows.
    let restaurant = id.clone();
    StoredValue::new_local(on_live(move |event| {
        if event.kind != event_types::MENU_ITEM_UPDATED {
            return;
        }
        let Ok(item) = MenuItem::from_js(&event.data) else {
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
        load.ask();
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
            let items: Vec<Marked<MenuItem>> =
                d.menu.into_iter().filter(|item| !item.value.meta.deleted).collect();
            let (restaurant_id, host) = (r.id.clone(), host.clone());
            // Keyed by what a row shows: a read that adds or changes items draws those rows
            // only. Unkeyed, every read drew the whole menu again and mounted every row's
            // add-to-cart parcel anew; a replay adding a thousand items kept the page busy
            // for seconds at a time.
            let items = view! {
                <For
                    each=move || items.clone()
                    key=|m| (m.value.id.clone(), m.value.meta.version, m.pending)
                    children=move |Marked { value: item, pending }| {
                        // The add-to-cart parcel's input.
                        let input = js::object();
                        js::set(&input, "restaurantId", restaurant_id.to_js());
                        js::set(&input, "itemId", item.id.to_js());
                        js::set(&input, "name", item.name.to_js());
                        js::set(&input, "priceCents", item.price_cents.to_js());
                        let input = JsValue::from(input);
                        let order = if item.available {
                            view! { <Parcel host=host.clone() data=input/> }.into_any()
                        } else {
                            view! { <span class="unavailable">"Sold out"</span> }.into_any()
                        };
                        view! {
                            <li class="menu-item" data-item=item.id.clone() data-pending=pending.to_string()>
                                <div>
                                    <strong class="name">{item.name}</strong>" "<span class="price">{price(item.price_cents)}</span>
                                    {pending.then(|| view! { <span class="pending-mark" title="Saved on this device; not sent yet">" · not sent yet"</span> })}
                                </div>
                                {order}
                            </li>
                        }
                    }
                />
            };
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
fn Parcel(host: Host, data: JsValue) -> impl IntoView {
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
