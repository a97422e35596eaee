//! Routing by the History API: resolves the current path against `apps.json`, unmounts what is
//! no longer wanted and activates what is, one reconciliation at a time.

use crate::lifecycle::{self, call, has_export};
use crate::props::{base_props, props_object};
use crate::registry;
use crate::view;
use std::cell::{Cell, RefCell};
use tessera_contract::auth::{access, Access};
use tessera_contract::lifecycle::LifecycleEvent as E;
use tessera_contract::published::{Activated, Resolution};
use tessera_contract::AppStatus;
use tessera_sdk::{current_path, navigate, Listener};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Work waiting for the first page; `None` once it ran.
type Waiting = Option<Vec<Box<dyn FnOnce()>>>;

thread_local! {
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    static DIRTY: Cell<bool> = const { Cell::new(false) };
    /// What waits for the first page: taken (and run) once its apps are settled.
    static AFTER_FIRST_PAGE: RefCell<Waiting> = RefCell::new(Some(Vec::new()));
}

/// How long the first page may take before what waits for it starts anyway (an app that
/// neither loads nor fails, a page leaving to sign in).
const FIRST_PAGE_PATIENCE_MS: i32 = 5_000;

/// Runs `f` once the first page's apps are mounted or have failed, so work the page does not
/// need to draw (the worker's registration and precache, outbox replay, the live connection)
/// does not compete with it for the network and the main thread. At the latest after
/// [`FIRST_PAGE_PATIENCE_MS`].
pub fn after_first_page(f: impl FnOnce() + 'static) {
    let later = AFTER_FIRST_PAGE.with(|w| match w.borrow_mut().as_mut() {
        Some(waiting) => {
            waiting.push(Box::new(f));
            None
        }
        None => Some(f),
    });
    if let Some(f) = later {
        f();
    }
}

fn first_page_shown() {
    let Some(waiting) = AFTER_FIRST_PAGE.with(|w| w.borrow_mut().take()) else {
        return;
    };
    // Not inside the reconciliation that drew the page: after its frame.
    wasm_bindgen_futures::spawn_local(async move {
        for f in waiting {
            f();
        }
    });
}

/// Asks for a reconciliation. Requests made while one runs coalesce into one more run, so
/// lifecycle calls never interleave.
pub fn request_reroute() {
    DIRTY.set(true);
    if RUNNING.replace(true) {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        while DIRTY.replace(false) {
            reconcile().await;
        }
        RUNNING.set(false);
    });
}

/// Starts routing: link clicks, back/forward, `online`, then the first reconciliation.
pub fn start() {
    Listener::new("popstate", |_| request_reroute()).forget();
    Listener::new("online", |_| {
        registry::with(|s| {
            for r in s.records.values_mut() {
                r.retry = r.status == AppStatus::LoadError;
            }
        });
        request_reroute();
    })
    .forget();
    let click = Closure::<dyn FnMut(web_sys::MouseEvent)>::new(on_click);
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        let _ = doc.add_event_listener_with_callback("click", click.as_ref().unchecked_ref());
    }
    click.forget();
    // A pointer resting on a link, or focus on one, usually comes 100-300 ms before the click.
    for kind in ["pointerover", "focusin"] {
        Listener::new(kind, on_intent).forget();
    }
    shell_common::js::after_ms(FIRST_PAGE_PATIENCE_MS, first_page_shown);
    request_reroute();
}

/// The link an event's target is in, and where it goes, if that is this origin.
fn same_origin_link(
    target: Option<web_sys::EventTarget>,
) -> Option<(web_sys::HtmlAnchorElement, web_sys::Url)> {
    let anchor = target?
        .dyn_into::<web_sys::Element>()
        .ok()?
        .closest("a[href]")
        .ok()??
        .dyn_into::<web_sys::HtmlAnchorElement>()
        .ok()?;
    let url = web_sys::Url::new(&anchor.href()).ok()?;
    let origin = web_sys::window()?.location().origin().ok()?;
    (url.origin() == origin).then_some((anchor, url))
}

/// Starts downloading the bundles of the apps a link the user is about to follow shows (those
/// the user may open), so the click does not wait for them.
fn on_intent(ev: web_sys::Event) {
    let Some((_, url)) = same_origin_link(ev.target()) else {
        return;
    };
    let path = url.pathname();
    let Resolution::Show(apps) = registry::with(|s| s.manifests.apps.routes.resolve(&path)) else {
        return;
    };
    let session = crate::session::current();
    for app in apps {
        let roles = registry::with_app(&app.app, |r| r.entry.roles.clone()).unwrap_or_default();
        if access(&roles, &session) == Access::Allowed {
            lifecycle::preload(&app.app);
        }
    }
}

/// Same-origin link clicks become History API navigations (micro-apps render plain links).
fn on_click(ev: web_sys::MouseEvent) {
    if ev.default_prevented()
        || ev.button() != 0
        || ev.meta_key()
        || ev.ctrl_key()
        || ev.shift_key()
        || ev.alt_key()
    {
        return;
    }
    let Some((anchor, url)) = same_origin_link(ev.target()) else {
        return;
    };
    if !matches!(anchor.target().as_str(), "" | "_self") || anchor.has_attribute("download") {
        return;
    }
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return;
    };
    let same_document = Some(url.pathname()) == location.pathname().ok()
        && Some(url.search()) == location.search().ok();
    if same_document && !url.hash().is_empty() {
        return; // an in-page anchor: let the browser scroll
    }
    ev.prevent_default();
    navigate(&format!("{}{}{}", url.pathname(), url.search(), url.hash()));
}

async fn reconcile() {
    let path = current_path();
    let resolution = registry::with(|s| s.manifests.apps.routes.resolve(&path));
    let (wanted, not_found) = match resolution {
        Resolution::Redirect(to) => {
            if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
                let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&to));
            }
            DIRTY.set(true);
            return;
        }
        Resolution::Show(apps) => (apps, None),
        Resolution::NotFound {
            always,
            mount_point,
        } => (always, Some(mount_point)),
    };
    let Some(wanted) = allowed(wanted, &path) else {
        return;
    };

    let leaving: Vec<String> = registry::with(|s| {
        s.records
            .iter()
            .filter(|(name, r)| r.container.is_some() && !wanted.iter().any(|a| &a.app == *name))
            .map(|(name, _)| name.clone())
            .collect()
    });
    for name in leaving {
        unmount(&name).await;
    }
    view::show_not_found(not_found.as_deref(), &path);
    for app in &wanted {
        activate(app).await;
    }
    registry::with(|s| {
        for (name, r) in s.records.iter_mut() {
            r.active = wanted.iter().any(|a| &a.app == name);
        }
    });
    let settled = wanted.iter().all(|a| {
        registry::with_app(&a.app, |r| {
            matches!(
                r.status,
                AppStatus::Mounted | AppStatus::Broken | AppStatus::LoadError
            )
        })
        .unwrap_or(true)
    });
    if settled {
        first_page_shown();
    }
}

/// The apps the user may see. A routed app whose roles the user lacks is not activated at
/// all: signed out, the user is sent to sign in and back; signed in without the role, to the
/// home page with a notice. `None` when the page is leaving or the URL was replaced.
fn allowed(wanted: Vec<Activated>, path: &str) -> Option<Vec<Activated>> {
    let session = crate::session::current();
    let mut refused = None;
    let wanted: Vec<Activated> = wanted
        .into_iter()
        .filter(|a| {
            let roles = registry::with_app(&a.app, |r| r.entry.roles.clone()).unwrap_or_default();
            match access(&roles, &session) {
                Access::Allowed => true,
                denied => {
                    // Always-on apps (empty base path) are left out quietly.
                    if !a.base_path.is_empty() && refused.is_none() {
                        refused = Some((denied, roles));
                    }
                    false
                }
            }
        })
        .collect();
    let Some((denied, roles)) = refused else {
        return Some(wanted);
    };
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    if denied == Access::SignIn && crate::sign_in::can_sign_in() {
        crate::platform::invoke("signIn", format!("{path}{search}").into());
        return None;
    }
    let notice = format!(
        "{path} needs the role {}; it was not opened.",
        roles.join(", ")
    );
    crate::platform::invoke("notify", notice.into());
    if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some("/"));
    }
    DIRTY.set(true);
    None
}

async fn unmount(name: &str) {
    let (status, module, container) =
        registry::with_app(name, |r| (r.status, r.module.clone(), r.container.take())).unwrap_or((
            AppStatus::NotLoaded,
            None,
            None,
        ));
    let Some(container) = container else { return };
    if let (AppStatus::Mounted, Some(module)) = (status, module) {
        registry::transition(name, E::UnmountStarted);
        match call(name, &module, "unmount", &[&container]).await {
            Ok(_) => registry::transition(name, E::Unmounted),
            Err(msg) => registry::fail(name, E::LifecycleFailed, msg),
        }
        registry::with_app(name, |r| r.last_props = None);
    }
    container.remove();
}

fn props_for(app: &Activated) -> tessera_contract::Props {
    let mut props = base_props(&app.app);
    props.base_path = app.base_path.clone();
    props.params = app.params.clone();
    props
}

async fn activate(app: &Activated) {
    let name = app.app.as_str();
    let Some(container) = view::container_for(name, &app.mount_point) else {
        return;
    };
    let Some((status, newly_active, retry, module)) =
        registry::with_app(name, |r| (r.status, !r.active, r.retry, r.module.clone()))
    else {
        return;
    };
    match status {
        AppStatus::Broken => view::show_error(&container, name, &error_of(name)),
        AppStatus::LoadError if !(newly_active || retry) => {
            view::show_error(&container, name, &error_of(name))
        }
        AppStatus::NotLoaded
        | AppStatus::LoadError
        | AppStatus::Loading
        | AppStatus::NotBootstrapped
        | AppStatus::Bootstrapping => {
            view::show_loading(&container, name);
            // Settling asks for another reroute, which mounts the app if it is still wanted. A
            // failure is shown in the mount point already; handled here, it is not also an
            // unhandled rejection on the page.
            if let Some(ready) = lifecycle::ready(name) {
                let reroute = Closure::<dyn FnMut(JsValue)>::new(|_| request_reroute());
                let _ = ready.then2(&reroute, &reroute);
                reroute.forget();
            }
        }
        AppStatus::NotMounted => {
            let Some(module) = module else { return };
            let (props, text) = props_object(&props_for(app));
            view::clear(&container);
            registry::transition(name, E::MountStarted);
            match call(name, &module, "mount", &[&container, &props]).await {
                Ok(_) => {
                    registry::transition(name, E::Mounted);
                    registry::with_app(name, |r| r.last_props = Some(text));
                    mark(&format!("tessera:mounted:{name}"));
                }
                Err(msg) => {
                    registry::fail(name, E::LifecycleFailed, msg.clone());
                    view::show_error(&container, name, &msg);
                }
            }
        }
        AppStatus::Mounted => {
            let Some(module) = module else { return };
            let (props, text) = props_object(&props_for(app));
            let changed = registry::with_app(name, |r| r.last_props.as_deref() != Some(&text))
                .unwrap_or(false);
            if changed && has_export(&module, "update") {
                if let Err(msg) = call(name, &module, "update", &[&container, &props]).await {
                    registry::fail(name, E::LifecycleFailed, msg.clone());
                    view::show_error(&container, name, &msg);
                    return;
                }
            }
            registry::with_app(name, |r| r.last_props = Some(text));
        }
        AppStatus::Mounting | AppStatus::Unmounting => {}
    }
}

/// A performance mark, so benchmarks can time activations from inside the page.
fn mark(label: &str) {
    if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
        let _ = perf.mark(label);
    }
}

fn error_of(name: &str) -> String {
    registry::with_app(name, |r| r.error.clone())
        .flatten()
        .unwrap_or_else(|| "unknown error".into())
}
