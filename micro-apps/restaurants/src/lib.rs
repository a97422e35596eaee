//! Restaurants from the BFF: the list at the app's base path (a page at a time) and one
//! restaurant's menu at `<base>/:id`, each available item embedding the add-to-cart parcel.

use leptos::prelude::*;
use serde_json::json;
use tessera_shared::bff::BffError;
use tessera_shared::browser::{as_of_notice, current_path, on_location_change, Bff, Host};
use tessera_shared::routing::RoutePattern;
use tessera_shared::sync::{Page, Restaurant, RestaurantDetail};
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
    let shown = RwSignal::new(Loaded::<RestaurantDetail>::Loading);
    let saved = RwSignal::new(None::<String>);
    {
        let id = id.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let loaded = match bff.query::<RestaurantDetail>(&format!("/{id}")).await {
                Ok((d, freshness)) => {
                    saved.try_set(as_of_notice(&freshness));
                    Loaded::Ready(d)
                }
                Err(e) => Loaded::Failed(e),
            };
            shown.try_set(loaded);
        });
    }
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
                .filter(|item| !item.meta.deleted)
                .map(|item| {
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
                    view! {
                        <li class="menu-item" data-item=item.id.clone()>
                            <div>
                                <strong>{item.name}</strong>" "<span class="price">{price(item.price_cents)}</span>
                            </div>
                            {order}
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
