//! What the shell itself renders: the layout with its mount points, the per-app containers and
//! their loading and error messages, the 404 page and the app status panel. Text from manifests
//! and errors is always set as text, never as HTML.

use crate::registry;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("the shell runs in a page")
}

fn remove_boot_message() {
    if let Some(boot) = document().get_element_by_id("tessera-boot") {
        boot.remove();
    }
}

/// Renders the layout: one element per mount point, in the order the shell declared them.
pub fn mount_chrome(mount_points: Vec<String>) {
    remove_boot_message();
    let rows = registry::status_rows();
    leptos::mount::mount_to_body(move || {
        let points = mount_points
            .into_iter()
            .map(|mp| {
                let class = format!("mount-point mp-{mp}");
                view! { <div class=class data-mount-point=mp></div> }
            })
            .collect_view();
        view! {
            <div class="tessera-layout">{points}</div>
            {crate::connectivity::status_bar()}
            {crate::outbox::panel()}
            {crate::update_prompt::update_prompt()}
            <details class="tessera-status" id="tessera-status">
                <summary>"App status"</summary>
                <table>
                    <thead><tr><th>"App"</th><th>"Status"</th><th>"Version"</th><th>"Error"</th></tr></thead>
                    <tbody>
                        {move || rows.get().into_iter().map(|r| {
                            let parcels = (r.parcels > 0).then(|| format!(" ({} parcels)", r.parcels));
                            let name = r.name.clone();
                            view! {
                                <tr data-app=name data-status=r.status.as_str()>
                                    <td>{r.name}</td>
                                    <td>{r.status.as_str()}{parcels}</td>
                                    <td><code>{r.version}</code></td>
                                    <td>{r.error.unwrap_or_default()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        }
    });
    crate::overrides::show_in_status_bar();
    crate::connectivity::start();
}

/// The shell could not start (manifests unreachable or invalid): say so where the app would be.
pub fn fatal(message: &str) {
    remove_boot_message();
    let message = message.to_string();
    leptos::mount::mount_to_body(move || {
        view! {
            <div class="tessera-fatal" role="alert">
                <h1>"Tessera could not start"</h1>
                <p>{message}</p>
                <button on:click=|_| { let _ = web_sys::window().map(|w| w.location().reload()); }>"Try again"</button>
            </div>
        }
    });
}

fn mount_point(name: &str) -> Option<web_sys::Element> {
    document()
        .query_selector(&format!("[data-mount-point=\"{name}\"]"))
        .ok()
        .flatten()
}

/// The app's own element inside its mount point, made on first use.
pub fn container_for(app: &str, mount_point_name: &str) -> Option<web_sys::HtmlElement> {
    if let Some(existing) = registry::with_app(app, |r| r.container.clone()).flatten() {
        return Some(existing);
    }
    let Some(parent) = mount_point(mount_point_name) else {
        web_sys::console::error_1(
            &format!("tessera: {app} wants mount point {mount_point_name:?}, which the shell does not have").into(),
        );
        return None;
    };
    let section: web_sys::HtmlElement = document().create_element("section").ok()?.unchecked_into();
    section.set_class_name("tessera-app");
    let _ = section.set_attribute("data-app", app);
    parent.append_child(&section).ok()?;
    registry::with_app(app, |r| r.container = Some(section.clone()));
    Some(section)
}

pub fn clear(el: &web_sys::HtmlElement) {
    el.set_text_content(None);
}

fn message(el: &web_sys::HtmlElement, class: &str, role: &str, text: &str) {
    clear(el);
    if let Ok(div) = document().create_element("div") {
        div.set_class_name(class);
        let _ = div.set_attribute("role", role);
        div.set_text_content(Some(text));
        let _ = el.append_child(&div);
    }
}

pub fn show_error(el: &web_sys::HtmlElement, app: &str, error: &str) {
    message(
        el,
        "tessera-app-error",
        "alert",
        &format!("{app} is unavailable: {error}"),
    );
}

pub fn show_loading(el: &web_sys::HtmlElement, app: &str) {
    let already = el
        .first_element_child()
        .is_some_and(|c| c.class_name() == "tessera-app-loading");
    if !already {
        message(
            el,
            "tessera-app-loading",
            "status",
            &format!("Loading {app}…"),
        );
    }
}

/// Shows or removes the 404 page; `mount_point` is where it goes when no route matched.
pub fn show_not_found(mount_point_name: Option<&str>, path: &str) {
    let existing = document()
        .query_selector(".tessera-not-found")
        .ok()
        .flatten();
    match (mount_point_name.and_then(mount_point), existing) {
        (None, Some(old)) => old.remove(),
        (None, None) => {}
        (Some(parent), existing) => {
            let page = existing.or_else(|| {
                let page = document().create_element("section").ok()?;
                page.set_class_name("tessera-not-found");
                parent.append_child(&page).ok()?;
                Some(page)
            });
            if let Some(page) = page {
                page.set_text_content(None);
                let doc = document();
                if let (Ok(h), Ok(p), Ok(a)) = (
                    doc.create_element("h1"),
                    doc.create_element("p"),
                    doc.create_element("a"),
                ) {
                    h.set_text_content(Some("Page not found"));
                    p.set_text_content(Some(&format!("Nothing is published at {path}. ")));
                    a.set_text_content(Some("Go home"));
                    let _ = a.set_attribute("href", "/");
                    let _ = p.append_child(&a);
                    let _ = page.append_child(&h);
                    let _ = page.append_child(&p);
                }
            }
        }
    }
}
