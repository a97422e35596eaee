//! The shell's record of every app: status, loaded module, container and last error. Status
//! changes go through the shared status machine and are published for debugging.

use crate::manifests::Manifests;
use shell_common::watched::Watched;
use std::cell::RefCell;
use tessera_contract::lifecycle::LifecycleEvent;
use tessera_contract::published::AppEntry;
use tessera_contract::VecMap;
use tessera_contract::{AppStatus, Session};
use wasm_bindgen::prelude::*;

pub struct AppRecord {
    pub entry: AppEntry,
    /// The version loaded, once loading started: a cohort's trial, where the user is in one,
    /// rather than the released `entry.version`.
    pub running: Option<String>,
    pub status: AppStatus,
    pub module: Option<JsValue>,
    /// Settles when the app is loaded and bootstrapped; shared by routes and parcels.
    pub ready: Option<js_sys::Promise>,
    pub error: Option<String>,
    /// The element the shell made for the app in its mount point while it is active.
    pub container: Option<web_sys::HtmlElement>,
    /// Whether the last reroute wanted the app; a LOAD_ERROR is retried only on a new activation.
    pub active: bool,
    /// Set by the `online` event: retry a failed load even though the app stayed active.
    pub retry: bool,
    /// Props (as JSON) the app was last mounted or updated with.
    pub last_props: Option<String>,
    /// Parcels of this app currently mounted by other apps.
    pub parcels: Vec<web_sys::HtmlElement>,
    /// Failed loads so far; retries use a fresh URL because browsers may cache a failed import.
    pub failed_loads: u32,
    /// Whether its files were asked for ahead of its load (`lifecycle::preload`).
    pub preloaded: bool,
}

pub struct Shell {
    pub manifests: Manifests,
    pub records: VecMap<String, AppRecord>,
    pub session: Session,
}

thread_local! {
    static SHELL: RefCell<Option<Shell>> = const { RefCell::new(None) };
}

pub fn install(manifests: Manifests) {
    let records = manifests
        .apps
        .apps
        .iter()
        .map(|(name, entry)| {
            let record = AppRecord {
                entry: entry.clone(),
                running: None,
                status: AppStatus::NotLoaded,
                module: None,
                ready: None,
                error: None,
                container: None,
                active: false,
                retry: false,
                last_props: None,
                parcels: Vec::new(),
                failed_loads: 0,
                preloaded: false,
            };
            (name.clone(), record)
        })
        .collect();
    SHELL.with(|s| {
        *s.borrow_mut() = Some(Shell {
            manifests,
            records,
            session: crate::session::current(),
        })
    });
    publish_status();
}

/// Runs `f` on the shell state. Never hold the borrow across an `.await`.
pub fn with<R>(f: impl FnOnce(&mut Shell) -> R) -> R {
    SHELL.with(|s| f(s.borrow_mut().as_mut().expect("shell state not installed")))
}

pub fn with_app<R>(name: &str, f: impl FnOnce(&mut AppRecord) -> R) -> Option<R> {
    with(|s| s.records.get_mut(name).map(f))
}

pub fn status(name: &str) -> Option<AppStatus> {
    with_app(name, |r| r.status)
}

/// Applies a lifecycle event. An invalid transition is a shell bug: logged, state kept.
pub fn transition(name: &str, event: LifecycleEvent) {
    let result = with_app(name, |r| match r.status.next(event) {
        Ok(next) => {
            r.status = next;
            Ok(())
        }
        Err(e) => Err(e),
    });
    if let Some(Err(e)) = result {
        web_sys::console::error_1(&format!("tessera: {name}: {e}").into());
    }
    if let Some((status, error)) = with_app(name, |r| (r.status, r.error.clone())) {
        crate::rum::event(name, event, status, error);
    }
    publish_status();
}

pub fn fail(name: &str, event: LifecycleEvent, error: String) {
    with_app(name, |r| r.error = Some(error));
    transition(name, event);
}

/// One row of the status panel and of `window.__tessera.apps`.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusRow {
    pub name: String,
    pub version: String,
    pub status: AppStatus,
    pub error: Option<String>,
    pub parcels: usize,
}

thread_local! {
    static STATUS_ROWS: Watched<Vec<StatusRow>> = Watched::new(Vec::new());
}

/// Every app's row, for the status panel.
pub fn status_rows() -> Watched<Vec<StatusRow>> {
    STATUS_ROWS.with(|s| s.clone())
}

pub fn rows() -> Vec<StatusRow> {
    with(|s| {
        s.records
            .iter()
            .map(|(name, r)| StatusRow {
                name: name.clone(),
                version: r.running.clone().unwrap_or_else(|| r.entry.version.clone()),
                status: r.status,
                error: r.error.clone(),
                parcels: r.parcels.len(),
            })
            .collect()
    })
}

/// Mirrors every app's status to `window.__tessera.apps` (for tests and the console) and to
/// the status panel.
pub fn publish_status() {
    let rows = rows();
    let apps = js_sys::Object::new();
    for row in &rows {
        let entry = js_sys::Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(&entry, &k.into(), &v);
        };
        set("status", row.status.as_str().into());
        set("version", row.version.as_str().into());
        set(
            "error",
            row.error
                .as_deref()
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL),
        );
        set("parcels", (row.parcels as u32).into());
        let _ = js_sys::Reflect::set(&apps, &row.name.as_str().into(), &entry);
    }
    let _ = js_sys::Reflect::set(&shell_common::debug::object(), &"apps".into(), &apps);
    STATUS_ROWS.with(|s| s.set(rows));
}
