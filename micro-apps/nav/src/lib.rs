//! Navigation: always mounted; renders the menu from the published mount points and shows how
//! many items the cart holds, changes not yet sent included: read from the BFF at mount and
//! again whenever the outbox changes or the cart changes elsewhere (a live `cart.updated`,
//! e.g. from the user's other device).

use leptos::prelude::*;
use tessera_sdk::bus::topics;
use tessera_sdk::sync::{event_types, Cart};
use tessera_sdk::Props;
use tessera_sdk::{current_path, on_live, on_location_change, subscribe, Host, Reader};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: nav);
// No event handlers here, so std's allocator need not be linked (4 KB gzip less with `keep`).
tessera_sdk::small_allocator!();

fn is_active(path: &str, route: &str) -> bool {
    path == route || path.starts_with(&format!("{}/", route.trim_end_matches('/')))
}

fn nav(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let path = RwSignal::new(current_path());
    let items = RwSignal::new(0u32);
    let p = props.get_untracked();
    let bff = host.bff(p.bff.as_deref().unwrap_or("/api/cart"));
    let signed_in = p.session.id_token.is_some();
    let reader = Reader::new(
        move || {
            let bff = bff.clone();
            async move { bff.get::<Cart>("").await }
        },
        move |answer| {
            // Without it the badge waits for the next change; not worth an error. `try_`: a
            // late answer may arrive after the nav was unmounted.
            if let Ok(c) = answer {
                items.try_set(c.lines.iter().map(|l| l.quantity).sum());
            }
        },
    );
    let read = move || {
        if signed_in {
            reader.ask(); // a signed-out user has no cart
        }
    };
    read();
    let listeners = (
        on_location_change(move |p| path.set(p)),
        subscribe(topics::OUTBOX, false, {
            let read = read.clone();
            move |_| read()
        }),
        on_live(move |event| {
            if event.kind == event_types::CART_UPDATED || event.kind == event_types::ORDER_PLACED {
                read();
            }
        }),
    );
    // Owned by this instance: unmounting drops the listeners.
    StoredValue::new(tessera_sdk::keep(listeners));
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
