use tessera_sdk::dom::{el, replace_children, Build};
use tessera_sdk::sync::{Order, Page};
use tessera_sdk::{Host, Props};
use web_sys::HtmlElement;

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: orders);
tessera_sdk::small_allocator!();

fn orders(root: &HtmlElement, props: Props, host: Host) {
    let list = el("ul");
    let _ = root.append_child(&el("h1").text("Your orders"));
    let _ = root.append_child(&list);
    let bff = host.bff(props.bff.as_deref().unwrap_or("/api/orders"));
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(page) = bff.get::<Page<Order>>("").await {
            let rows: Vec<_> = page
                .items
                .iter()
                .map(|o| el("li").text(&o.id).text(" · ").text(o.status.as_str()))
                .collect();
            replace_children(&list, &rows);
        }
    });
}
