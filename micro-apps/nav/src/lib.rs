//! Navigation: always mounted; renders the menu from the published mount points and shows how
//! many items the cart holds, from the event bus.

use leptos::prelude::*;
use tessera_shared::browser::{current_path, on_location_change, subscribe, Host};
use tessera_shared::bus::topics::{self, ItemAdded};
use tessera_shared::Props;

tessera_shared::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: nav);

fn is_active(path: &str, route: &str) -> bool {
    path == route || path.starts_with(&format!("{}/", route.trim_end_matches('/')))
}

fn nav(props: ArcRwSignal<Props>, _host: Host) -> impl IntoView {
    let path = RwSignal::new(current_path());
    let items = RwSignal::new(0u32);
    let listeners = (
        on_location_change(move |p| path.set(p)),
        subscribe(topics::CART, true, move |env| {
            if let Some(added) = env.data_as::<ItemAdded>() {
                items.update(|n| *n += added.quantity);
            }
        }),
    );
    // Owned by this instance: unmounting drops the listeners.
    StoredValue::new_local(listeners);
    let links = move || {
        let p = props.get();
        p.navigation
            .into_iter()
            .filter(|link| link.meta.required_role.as_deref().is_none_or(|r| p.session.has_role(r)))
            .map(|link| {
                let route = link.meta.route.clone();
                let current = move || is_active(&path.get(), &route).then_some("page");
                let badge = (link.meta.menu_key == "cart")
                    .then_some(move || (items.get() > 0).then(|| view! { <span class="badge">{items.get()}</span> }));
                view! {
                    <a href=link.meta.route.clone() aria-current=current data-menu-key=link.meta.menu_key.clone()>
                        <span class="icon" aria-hidden="true">{link.meta.icon.clone().unwrap_or_default()}</span>
                        {link.meta.label.clone()}
                        {badge}
                    </a>
                }
            })
            .collect_view()
    };
    view! {
        <nav class="tessera-nav" aria-label="Main">
            <a class="brand" href="/">"Tessera Eats"</a>
            {links}
        </nav>
    }
}
