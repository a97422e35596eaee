//! Parcels: one app mounting another app's component by hand (`props.mountParcel`). The parcel's
//! app is loaded and bootstrapped once; each instance lives in the element its host gave.

use crate::lifecycle::{self, call};
use crate::props::{base_props, props_object};
use crate::registry;
use std::cell::RefCell;
use tessera_contract::lifecycle::LifecycleEvent as E;
use tessera_contract::AppStatus;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

thread_local! {
    static FUNCTIONS: RefCell<Option<(JsValue, JsValue)>> = const { RefCell::new(None) };
}

/// Gives every app's props `mountParcel(app, element, data)` and `unmountParcel(app, element)`.
pub fn install() {
    let (mount, unmount) = functions();
    crate::props::provide("mountParcel", mount);
    crate::props::provide("unmountParcel", unmount);
}

/// Adds `mountParcel(app, element, data)` and `unmountParcel(app, element)` to an object.
pub fn attach(target: &JsValue) {
    let (mount, unmount) = functions();
    let _ = js_sys::Reflect::set(target, &"mountParcel".into(), &mount);
    let _ = js_sys::Reflect::set(target, &"unmountParcel".into(), &unmount);
}

/// The JS functions `mountParcel` and `unmountParcel`, made once.
fn functions() -> (JsValue, JsValue) {
    FUNCTIONS.with(|f| {
        f.borrow_mut()
            .get_or_insert_with(|| {
                let mount = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> js_sys::Promise>::new(
                    |app: JsValue, el: JsValue, data: JsValue| {
                        future_to_promise(async move {
                            mount(app.as_string().unwrap_or_default(), el, data)
                                .await
                                .map(|_| JsValue::UNDEFINED)
                                .map_err(|e| js_sys::Error::new(&e).into())
                        })
                    },
                );
                let unmount = Closure::<dyn Fn(JsValue, JsValue) -> js_sys::Promise>::new(
                    |app: JsValue, el: JsValue| {
                        future_to_promise(async move {
                            unmount(app.as_string().unwrap_or_default(), el)
                                .await
                                .map(|_| JsValue::UNDEFINED)
                                .map_err(|e| js_sys::Error::new(&e).into())
                        })
                    },
                );
                (mount.into_js_value(), unmount.into_js_value())
            })
            .clone()
    })
}

fn element(el: JsValue) -> Result<web_sys::HtmlElement, String> {
    el.dyn_into()
        .map_err(|_| "mountParcel needs an HTML element to mount into".to_string())
}

async fn mount(app: String, el: JsValue, data: JsValue) -> Result<(), String> {
    let el = element(el)?;
    let ready =
        lifecycle::ready(&app).ok_or_else(|| format!("no app named \"{app}\" is published"))?;
    if let Err(e) = JsFuture::from(ready).await {
        let msg = shell_common::js::error_message(&e);
        crate::view::show_error(&el, &app, &msg);
        return Err(msg);
    }
    let module = registry::with_app(&app, |r| r.module.clone())
        .flatten()
        .ok_or_else(|| format!("{app} is not loaded"))?;
    let (props, _) = props_object(&base_props(&app));
    // The embedding app's input as a copy in JSON's terms, as serde's reading made it; none
    // (`undefined`, which `JSON.stringify` answers with `undefined`) is `null`.
    let data = js_sys::JSON::stringify(&data)
        .ok()
        .and_then(|text| text.as_string())
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&props, &"data".into(), &data);
    if let Err(msg) = call(&app, &module, "mount", &[&el, &props]).await {
        registry::fail(&app, E::LifecycleFailed, msg.clone());
        crate::view::show_error(&el, &app, &msg);
        return Err(msg);
    }
    let first = registry::with_app(&app, |r| {
        r.parcels.push(el);
        r.parcels.len() == 1 && r.status == AppStatus::NotMounted
    })
    .unwrap_or(false);
    if first {
        registry::transition(&app, E::MountStarted);
        registry::transition(&app, E::Mounted);
    } else {
        registry::publish_status();
    }
    Ok(())
}

async fn unmount(app: String, el: JsValue) -> Result<(), String> {
    let el = element(el)?;
    let found = registry::with_app(&app, |r| {
        let before = r.parcels.len();
        r.parcels.retain(|p| p != &el);
        (r.parcels.len() < before, r.module.clone())
    });
    let Some((true, Some(module))) = found else {
        return Ok(()); // never mounted here (its mount failed or was never called)
    };
    let result = call(&app, &module, "unmount", &[&el]).await;
    let (status, left) =
        registry::with_app(&app, |r| (r.status, r.parcels.len())).unwrap_or((AppStatus::Broken, 0));
    match result {
        Err(msg) => {
            registry::fail(&app, E::LifecycleFailed, msg.clone());
            Err(msg)
        }
        Ok(_) if left == 0 && status == AppStatus::Mounted => {
            registry::transition(&app, E::UnmountStarted);
            registry::transition(&app, E::Unmounted);
            Ok(())
        }
        Ok(_) => {
            registry::publish_status();
            Ok(())
        }
    }
}
