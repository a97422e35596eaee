//! What the shell itself renders: the layout with its mount points, the per-app containers and
//! their loading and error messages, the 404 page and the app status panel. Text from manifests
//! and errors is always set as text, never as HTML.

use crate::registry;
use tessera_sdk::dom::{el, replace_children, Build};
use tessera_sdk::Listener;
use wasm_bindgen::JsCast;
use web_sys::Element;

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

/// Renders the layout: one element per mount point, in the order the shell declared them, and
/// the app status panel (the platform module adds the status bar and its panels).
pub fn mount_chrome(mount_points: Vec<String>) {
    remove_boot_message();
    let layout = el("div").attr("class", "tessera-layout");
    for mp in mount_points {
        let point = el("div")
            .attr("class", &format!("mount-point mp-{mp}"))
            .attr("data-mount-point", &mp);
        let _ = layout.append_child(&point);
    }
    let body = document().body().expect("the page has a body");
    let _ = body.append_child(&layout);
    let _ = body.append_child(&status_panel());
}

/// The app status panel: every app's status, version and last error.
fn status_panel() -> Element {
    let head = el("tr");
    for title in ["App", "Status", "Version", "Error"] {
        let _ = head.append_child(&el("th").text(title));
    }
    let rows = el("tbody");
    let table = el("table").child(&el("thead").child(&head)).child(&rows);
    registry::status_rows().follow(move |all| {
        let drawn: Vec<Element> = all.iter().map(status_row).collect();
        replace_children(&rows, &drawn);
    });
    el("details")
        .attr("class", "tessera-status")
        .attr("id", "tessera-status")
        .child(&el("summary").text("App status"))
        .child(&table)
}

fn status_row(r: &registry::StatusRow) -> Element {
    let mut status = r.status.as_str().to_string();
    if r.parcels > 0 {
        status.push_str(&format!(" ({} parcels)", r.parcels));
    }
    el("tr")
        .attr("data-app", &r.name)
        .attr("data-status", r.status.as_str())
        .child(&el("td").text(&r.name))
        .child(&el("td").text(&status))
        .child(&el("td").child(&el("code").text(&r.version)))
        .child(&el("td").text(r.error.as_deref().unwrap_or_default()))
}

/// The shell could not start (manifests unreachable or invalid): say so where the app would be.
pub fn fatal(message: &str) {
    remove_boot_message();
    let retry = el("button").text("Try again");
    Listener::on(&retry, "click", |_| {
        let _ = web_sys::window().map(|w| w.location().reload());
    })
    .forget();
    let page = el("div")
        .attr("class", "tessera-fatal")
        .attr("role", "alert")
        .child(&el("h1").text("Tessera could not start"))
        .child(&el("p").text(message))
        .child(&retry);
    if let Some(body) = document().body() {
        let _ = body.append_child(&page);
    }
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
            &format!("tessera: {app} wants mount point \"{mount_point_name}\", which the shell does not have").into(),
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
