//! The props every app gets: its typed props (name, route, session, navigation, BFF base) as a
//! JS object, plus what the shell's parts [`provide`] at start (the host services, the parcel
//! functions), so this module needs none of them.

use crate::registry;
use std::cell::RefCell;
use tessera_contract::lifecycle::Props;
use wasm_bindgen::JsValue;

thread_local! {
    static EXTRAS: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// Adds `key: value` to every props object made from now on.
pub fn provide(key: &'static str, value: JsValue) {
    EXTRAS.with(|e| e.borrow_mut().push((key, value)));
}

/// The props object for an app: the typed props (and their JSON, which tells whether they
/// changed), plus the shell's host services (ABI 2) and its parcel functions (where ABI 1 apps
/// look for them), as [`provide`]d at start.
pub fn props_object(props: &Props) -> (JsValue, String) {
    let object = tessera_sdk::ToJs::to_js(props);
    let text = js_sys::JSON::stringify(&object).map_or_else(|_| String::new(), String::from);
    EXTRAS.with(|extras| {
        for (key, value) in extras.borrow().iter() {
            let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
        }
    });
    (object, text)
}

pub fn base_props(name: &str) -> Props {
    registry::with(|s| Props {
        name: name.to_string(),
        base_path: String::new(),
        // The ABI the shell drives this app with: the one it declares.
        abi: s
            .records
            .get(name)
            .map_or(tessera_contract::ABI_VERSION, |r| r.entry.abi),
        session: s.session.clone(),
        params: Default::default(),
        navigation: s.manifests.mount_points.navigation(),
        data: serde_json::Value::Null,
        bff: s.records.get(name).and_then(|r| r.entry.bff.clone()),
    })
}
