//! Restaurants: the list at its base path and one restaurant's menu at `<base>/:id`, each menu
//! item embedding the add-to-cart parcel.

mod data;

use leptos::prelude::*;
use serde_json::json;
use tessera_shared::browser::{current_path, on_location_change, Host};
use tessera_shared::routing::RoutePattern;
use tessera_shared::Props;
use wasm_bindgen::JsCast;

tessera_shared::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: restaurants);

const PARCEL_APP: &str = "@tessera/add-to-cart";

/// The restaurant id in `<base>/:id`, if the path is a detail page.
fn detail_id(base: &str, path: &str) -> Option<String> {
    let pattern = RoutePattern::parse(&format!("{}/:id", base.trim_end_matches('/'))).ok()?;
    pattern.match_prefix(path).and_then(|mut p| p.remove("id"))
}

fn restaurants(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let path = RwSignal::new(current_path());
    StoredValue::new_local(on_location_change(move |p| path.set(p)));
    let base = props.get_untracked().base_path;
    let base = if base.is_empty() {
        "/restaurants".to_string()
    } else {
        base
    };
    let page = move || match detail_id(&base, &path.get()) {
        Some(id) => detail(&base, &id, host.clone()).into_any(),
        None => list(&base).into_any(),
    };
    view! { <div class="restaurants">{page}</div> }
}

fn list(base: &str) -> impl IntoView {
    let cards = data::RESTAURANTS
        .iter()
        .map(|r| {
            view! {
                <li class="card">
                    <a href=format!("{base}/{}", r.id)>{r.name}</a>
                    <span class="meta">{r.cuisine}" · "{r.eta_minutes}" min"</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <h1>"Restaurants"</h1>
        <ul class="restaurant-list">{cards}</ul>
    }
}

fn detail(base: &str, id: &str, host: Host) -> impl IntoView {
    let Some(r) = data::find(id) else {
        return view! {
            <h1>"Restaurant not found"</h1>
            <p>"There is no restaurant “"{id.to_string()}"”. "<a href=base.to_string()>"All restaurants"</a></p>
        }
        .into_any();
    };
    let items = r
        .menu
        .iter()
        .map(|item| {
            let input = json!({
                "restaurantId": r.id,
                "itemId": item.id,
                "name": item.name,
                "priceCents": item.price_cents,
            });
            view! {
                <li class="menu-item" data-item=item.id>
                    <div>
                        <strong>{item.name}</strong>" "<span class="price">{data::price(item.price_cents)}</span>
                        <p>{item.description}</p>
                    </div>
                    <Parcel host=host.clone() data=input/>
                </li>
            }
        })
        .collect_view();
    view! {
        <p><a href=base.to_string()>"← All restaurants"</a></p>
        <h1>{r.name}</h1>
        <p class="meta">{r.cuisine}" · "{r.eta_minutes}" min"</p>
        <h2>"Menu"</h2>
        <ul class="menu">{items}</ul>
    }
    .into_any()
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
