use leptos::prelude::*;
use tessera_sdk::sync::{Order, Page};
use tessera_sdk::{Host, Props};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: orders);
tessera_sdk::small_allocator!();

fn orders(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let p = props.get_untracked();
    let bff = host.bff(p.bff.as_deref().unwrap_or("/api/orders"));
    let orders = RwSignal::new(Vec::<Order>::new());
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(page) = bff.get::<Page<Order>>("").await {
            orders.try_set(page.items);
        }
    });
    let rows = move || {
        orders
            .get()
            .into_iter()
            .map(|o| view! { <li>{o.id}" · "{o.status.as_str()}</li> })
            .collect_view()
    };
    view! { <h1>"Your orders"</h1><ul>{rows}</ul> }
}
