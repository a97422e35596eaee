//! "A new version is available". A publish changes `/sw.js`; the browser installs the new
//! worker beside the one serving this page, and it waits: this page keeps the set it started
//! with, so its lazy loads keep finding their files. Only when the user accepts does the page
//! ask the waiting worker to take over, and it reloads onto the new set once it has.

use crate::part::Part;
use shell_common::watched::Watched;
use std::cell::{Cell, RefCell};
use tessera_sdk::dom::{el, Build};
use tessera_sdk::Listener;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ServiceWorkerContainer, ServiceWorkerRegistration, ServiceWorkerState};

/// How often an open page asks for a new `/sw.js`: the browser itself checks only on
/// navigations, and a single-page app may go hours without one.
const CHECK_EVERY_MS: i32 = 5 * 60 * 1000;

thread_local! {
    static AVAILABLE: Watched<bool> = Watched::new(false);
    static REGISTRATION: RefCell<Option<ServiceWorkerRegistration>> = const { RefCell::new(None) };
    // The worker changes under a page for other reasons too (its first worker claiming it,
    // another tab accepting the update): only the user's own click may reload it.
    static REQUESTED: Cell<bool> = const { Cell::new(false) };
    static RELOADING: Cell<bool> = const { Cell::new(false) };
}

/// The prompt, shown at the end of `parent` while a newer worker is waiting (or took over
/// without this page).
pub fn update_prompt(parent: &web_sys::Element) {
    let reload = el("button")
        .attr("type", "button")
        .attr("class", "tessera-update")
        .text("Reload");
    Listener::on(&reload, "click", |_| accept()).forget();
    let bar = el("div")
        .attr("class", "tessera-update-bar")
        .attr("role", "status")
        .child(&el("span").text("A new version is available"))
        .child(&reload);
    AVAILABLE.with(|a| {
        Part::follow(parent, a, move |shown| {
            shown.then(|| bar.clone().into()).into_iter().collect()
        })
    });
}

fn container() -> Option<ServiceWorkerContainer> {
    let container = web_sys::window()?.navigator().service_worker();
    (!container.is_undefined()).then_some(container)
}

/// A worker is waiting to replace the one controlling this page. With no controller the page
/// was not served from any set, and the new worker simply takes it over.
fn offer() {
    if container().and_then(|c| c.controller()).is_some() {
        AVAILABLE.with(|a| a.set(true));
    }
}

fn reload() {
    if RELOADING.with(|r| r.replace(true)) {
        return;
    }
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

fn accept() {
    REQUESTED.with(|r| r.set(true));
    let waiting = REGISTRATION.with(|r| r.borrow().as_ref().and_then(|r| r.waiting()));
    let Some(waiting) = waiting else {
        // Another page accepted already: the new worker controls this one; the reload is all
        // that is left.
        reload();
        return;
    };
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"type".into(), &"tessera:skip-waiting".into());
    if waiting.post_message(&message).is_err() {
        reload();
    }
}

fn check_for_update() {
    let Some(registration) = REGISTRATION.with(|r| r.borrow().clone()) else {
        return;
    };
    let Ok(checked) = registration.update() else {
        return;
    };
    // Offline or a failing server: the next check tries again; a rejection left unhandled
    // would show up as a page error.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(checked).await;
    });
}

/// Watches `registration` for a worker that finished installing while this page is controlled,
/// and checks for updates every few minutes and whenever the browser is back online.
pub fn watch(registration: ServiceWorkerRegistration) {
    let Some(container) = container() else {
        return;
    };
    REGISTRATION.with(|r| *r.borrow_mut() = Some(registration.clone()));
    if let Some(controller) = container.controller() {
        // The document that was replaced (on a reload) is gone now: the worker may drop the
        // set it was kept for.
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"type".into(), &"tessera:page-started".into());
        let _ = controller.post_message(&message);
    }
    if registration.waiting().is_some() {
        offer();
    }

    let watched = registration.clone();
    let found = Closure::<dyn FnMut()>::new(move || {
        let Some(installing) = watched.installing() else {
            return;
        };
        let worker = installing.clone();
        let changed = Closure::<dyn FnMut()>::new(move || {
            if worker.state() == ServiceWorkerState::Installed {
                offer();
            }
        });
        let _ = installing
            .add_event_listener_with_callback("statechange", changed.as_ref().unchecked_ref());
        // One small closure per update found, for the life of the page.
        changed.forget();
    });
    let _ = registration
        .add_event_listener_with_callback("updatefound", found.as_ref().unchecked_ref());
    found.forget();

    let controller_changed = Closure::<dyn FnMut()>::new(|| {
        if REQUESTED.with(Cell::get) {
            reload();
        }
    });
    let _ = container.add_event_listener_with_callback(
        "controllerchange",
        controller_changed.as_ref().unchecked_ref(),
    );
    controller_changed.forget();

    Listener::new("online", |_| check_for_update()).forget();
    let tick = Closure::<dyn FnMut()>::new(check_for_update);
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            CHECK_EVERY_MS,
        );
    }
    tick.forget();
}
