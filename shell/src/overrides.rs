//! Local overrides in this browser (see `tessera_contract::overrides`): read once at start from
//! `localStorage` and the address bar's `?tessera-override=<app>=<url>` (by `js::take_overrides`), honoured only where the
//! page names the allowed origins, shown in the status bar with a way to clear them. An
//! overridden app is loaded from its URL without the published integrity (a team's build
//! changes with every save); a broken one fails in its own mount point like any app.

use std::cell::RefCell;
use tessera_contract::overrides::{self, ORIGINS_META, STORAGE_KEY, URL_PARAM};
use wasm_bindgen::JsCast;

#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub app: String,
    pub url: String,
    /// Why it is not used, when it is not.
    pub ignored: Option<String>,
}

thread_local! {
    static OVERRIDES: RefCell<Vec<Override>> = const { RefCell::new(Vec::new()) };
}

/// The origins this page allows overrides from.
fn allowed_origins() -> Vec<String> {
    shell_common::js::meta(ORIGINS_META)
        .map(|c| overrides::parse_origins(&c))
        .unwrap_or_default()
}

/// Reads the overrides; run once, before any app loads.
pub fn init() {
    let allowed = allowed_origins();
    let all: Vec<Override> = shell_common::js::take_overrides(STORAGE_KEY, URL_PARAM)
        .iter()
        .filter_map(|pair| {
            let pair: js_sys::Array = pair.unchecked_into();
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .map(|(app, url)| {
            let ignored = overrides::check(&url, &allowed).err();
            if let Some(why) = &ignored {
                web_sys::console::warn_1(
                    &format!("tessera: the override of {app} ({url}) is ignored: {why}").into(),
                );
            }
            Override { app, url, ignored }
        })
        .collect();
    OVERRIDES.with(|o| *o.borrow_mut() = all);
}

/// The URL this browser loads `app` from instead of the published one, when an allowed
/// override says so.
pub fn entry_for(app: &str) -> Option<String> {
    OVERRIDES.with(|o| {
        o.borrow()
            .iter()
            .find(|x| x.app == app && x.ignored.is_none())
            .map(|x| x.url.clone())
    })
}

/// Adds to the status bar each override, used or ignored (and why), and a button to clear
/// them; nothing when there are none. Plain DOM: a Leptos view here cost 0.9 KB gzip more.
pub fn show_in_status_bar() {
    let all = OVERRIDES.with(|o| o.borrow().clone());
    let document = web_sys::window().and_then(|w| w.document());
    let bar = document
        .as_ref()
        .and_then(|d| d.query_selector(".tessera-statusbar").ok().flatten());
    let (Some(document), Some(bar), false) = (document, bar, all.is_empty()) else {
        return;
    };
    let element = |tag: &str, class: &str, text: &str| {
        let e = document.create_element(tag).ok()?;
        e.set_class_name(class);
        e.set_text_content(Some(text));
        Some(e)
    };
    let Some(group) = element("span", "tessera-overrides", "") else {
        return;
    };
    let _ = bar.append_with_str_1(" · ");
    for o in all {
        let (text, state) = match &o.ignored {
            None => (format!("Override: {} from {} ", o.app, o.url), "active"),
            Some(why) => (format!("Override of {} ignored: {why} ", o.app), "ignored"),
        };
        if let Some(line) = element("span", "tessera-override", &text) {
            let _ = line.set_attribute("data-app", &o.app);
            let _ = line.set_attribute("data-state", state);
            let _ = group.append_child(&line);
        }
    }
    if let Some(button) = element("button", "tessera-clear-overrides", "Clear overrides") {
        let on_click = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(|| {
            shell_common::js::clear_overrides(STORAGE_KEY)
        });
        let _ = button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
        on_click.forget();
        let _ = group.append_child(&button);
    }
    let _ = bar.append_child(&group);
}
