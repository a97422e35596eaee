//! The BFF region the page's service worker uses, when the site has regions
//! (`tessera_runtime::regional`): the status bar shows it and the live connection goes to it.
//! The worker names it in its status and tells every page when it moves
//! (`{type: "tessera:region", name, origin}`, see `service_worker::follow_messages`).

use crate::part::{text, Part};
use shell_common::watched::Watched;
use tessera_contract::regions::{self, Region};
use tessera_sdk::dom::{el, Build};
use wasm_bindgen::prelude::*;

thread_local! {
    static REGION: Watched<Option<Region>> = Watched::new(None);
    static ON_MOVE: std::cell::RefCell<Vec<Box<dyn Fn()>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The origin of the region in use, if the site has regions: as the worker said, or until it
/// has (or with no worker), the user's primary among the page's `<meta name="tessera-regions">`.
pub fn origin() -> Option<String> {
    REGION
        .with(|r| r.get().map(|r| r.origin))
        .or_else(primary_in_page)
}

fn primary_in_page() -> Option<String> {
    let setting = shell_common::js::meta(regions::META)?;
    // The server checked the setting; `name=origin`, space-separated. (The contract's
    // `regions::parse` would check it again, for 784 B more gzip in the shell.)
    let origins: Vec<&str> = setting
        .split_whitespace()
        .filter_map(|r| r.split_once('=').map(|(_, origin)| origin))
        .collect();
    let subject = crate::session::current()
        .id_token
        .and_then(|t| crate::session::subject(&t));
    let primary = regions::primary_for(subject.as_deref(), origins.len());
    origins.get(primary).map(|o| (*o).to_owned())
}

/// Registers what runs when the page moves to another region.
pub fn on_move(f: impl Fn() + 'static) {
    ON_MOVE.with(|m| m.borrow_mut().push(Box::new(f)));
}

/// Takes the region from a worker's message (`null` or absent: the site has none).
pub fn show(message: Option<JsValue>) {
    let field = |name: &str| {
        message
            .as_ref()
            .and_then(|m| js_sys::Reflect::get(m, &name.into()).ok())
            .and_then(|v| v.as_string())
    };
    let region = field("name")
        .zip(field("origin"))
        .map(|(name, origin)| Region { name, origin });
    let _ = js_sys::Reflect::set(
        &shell_common::debug::object(),
        &"region".into(),
        &region
            .as_ref()
            .map(|r| JsValue::from(&r.name))
            .unwrap_or(JsValue::NULL),
    );
    let moved = REGION.with(|r| {
        let before = r.get();
        let moved = before.is_some() && region.is_some() && before != region;
        r.set(region);
        moved
    });
    if moved {
        ON_MOVE.with(|m| m.borrow().iter().for_each(|f| f()));
    }
}

/// " · Region eu" in the status bar while the site has regions.
pub fn label(bar: &web_sys::Element) {
    REGION.with(|r| {
        Part::follow(bar, r, |region| {
            let Some(r) = region else {
                return Vec::new();
            };
            let name = el("span")
                .attr("class", "tessera-region")
                .attr("data-region", &r.name)
                .text(&format!("Region {}", r.name));
            vec![text(" · "), name.into()]
        })
    });
}
