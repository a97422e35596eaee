//! The browser glue in a real browser: the bus, location changes, props and the host API.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use tessera_sdk::bff::BffError;
use tessera_sdk::bus::Envelope;
use tessera_sdk::js::field;
use tessera_sdk::js::ToJs;
use tessera_sdk::{
    current_path, navigate, on_location_change, parse_props, publish, subscribe, CommandSpec, Edit,
    Host, Overlay,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn collect() -> (Rc<RefCell<Vec<Envelope>>>, impl FnMut(Envelope) + 'static) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |env| sink.borrow_mut().push(env))
}

#[wasm_bindgen_test]
fn published_envelopes_reach_subscribers() {
    let (seen, sink) = collect();
    let _sub = subscribe("t-live", false, sink);
    let sent = publish("t-live", "thing.happened", "@test/a", &json(r#"{"n": 1}"#));
    let got = seen.borrow();
    assert_eq!(got.len(), 1);
    assert_eq!((&got[0].kind, &got[0].id), (&sent.kind, &sent.id));
    assert_eq!(tessera_sdk::js::field::<u32>(&got[0].data, "n"), Ok(1));
}

#[wasm_bindgen_test]
fn late_subscribers_catch_up_by_replay_in_order() {
    for n in 0..3 {
        publish("t-replay", "tick", "@test/a", &n.to_js());
    }
    let (seen, sink) = collect();
    let _sub = subscribe("t-replay", true, sink);
    publish("t-replay", "tick", "@test/a", &3.to_js());
    let order: Vec<i64> = seen
        .borrow()
        .iter()
        .map(|e| e.data_as::<i64>().unwrap())
        .collect();
    assert_eq!(order, vec![0, 1, 2, 3]);
}

#[wasm_bindgen_test]
fn replay_log_is_bounded() {
    for n in 0..250 {
        publish("t-bounded", "tick", "@test/a", &n.to_js());
    }
    let (seen, sink) = collect();
    let _sub = subscribe("t-bounded", true, sink);
    let got = seen.borrow();
    assert_eq!(got.len(), 200);
    assert_eq!(
        got[0].data_as::<u32>(),
        Some(50),
        "the oldest envelopes are dropped first"
    );
}

#[wasm_bindgen_test]
fn malformed_and_foreign_events_are_ignored() {
    let (seen, sink) = collect();
    let _sub = subscribe("t-bad", false, sink);
    let window = web_sys::window().unwrap();
    for detail in [
        JsValue::from_str("not json"),
        JsValue::from_str(r#"{"v":99,"type":"x","id":"1","timestamp":0,"source":"s","data":null}"#),
        JsValue::from_f64(4.0),
    ] {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(&detail);
        let ev = web_sys::CustomEvent::new_with_event_init_dict("tessera:t-bad", &init).unwrap();
        window.dispatch_event(&ev).unwrap();
    }
    assert!(seen.borrow().is_empty());
}

#[wasm_bindgen_test]
fn dropping_a_subscription_stops_delivery() {
    let (seen, sink) = collect();
    let sub = subscribe("t-drop", false, sink);
    publish("t-drop", "a", "s", &JsValue::NULL);
    drop(sub);
    publish("t-drop", "b", "s", &JsValue::NULL);
    assert_eq!(seen.borrow().len(), 1);
}

#[wasm_bindgen_test]
fn navigate_pushes_history_and_notifies_listeners() {
    let paths = Rc::new(RefCell::new(Vec::new()));
    let sink = paths.clone();
    let _l = on_location_change(move |p| sink.borrow_mut().push(p));
    let before = web_sys::window()
        .unwrap()
        .history()
        .unwrap()
        .length()
        .unwrap();
    navigate("/restaurants/pho-corner");
    assert_eq!(current_path(), "/restaurants/pho-corner");
    assert_eq!(paths.borrow().as_slice(), ["/restaurants/pho-corner"]);
    let after = web_sys::window()
        .unwrap()
        .history()
        .unwrap()
        .length()
        .unwrap();
    assert_eq!(after, before + 1);
}

#[wasm_bindgen_test]
fn props_parse_and_report_bad_input() {
    let ok = js_sys::JSON::parse(
        r#"{"name":"@t/a","basePath":"/a","abi":1,"session":{"userName":"ann","idToken":null,"roles":["admin"]},"params":{"id":"7"}}"#,
    )
    .unwrap();
    let props = parse_props(&ok).unwrap();
    assert_eq!(props.params.get("id").as_deref(), Some("7"));
    assert_eq!(props.params.get("other"), None);
    assert_eq!(props.params.all().unwrap()["id"], "7");
    assert!(props.session.has_role("admin"));
    let bad = js_sys::JSON::parse(r#"{"name":"@t/a"}"#).unwrap();
    let err = parse_props(&bad).unwrap_err().as_string().unwrap();
    assert!(
        err.contains("invalid props") && err.contains("basePath"),
        "{err}"
    );
}

#[wasm_bindgen_test]
fn navigation_is_read_when_asked_and_its_errors_name_the_entry() {
    let props = |navigation: &str| {
        parse_props(&json(&format!(
            r#"{{"name":"@t/a","basePath":"","abi":2,"session":{{"userName":null,"idToken":null,"roles":[]}}{navigation}}}"#
        )))
        .unwrap()
    };
    let good = props(
        r#","navigation":[{"app":"@t/a","meta":{"menuKey":"a","label":"A","route":"/a","order":1}}]"#,
    );
    let links = good.navigation.links().unwrap();
    assert_eq!((links.len(), links[0].meta.label.as_str()), (1, "A"));
    assert_eq!(props("").navigation.links(), Ok(vec![]));
    // Props with a broken entry still mount; the menu that reads them is told what is wrong.
    let broken = props(r#","navigation":[{"app":"@t/a","meta":{"menuKey":"a","route":"/a"}}]"#);
    let err = broken.navigation.links().unwrap_err().to_string();
    assert!(err.contains("navigation[0].meta.label"), "{err}");
}

#[wasm_bindgen_test]
async fn host_reports_a_shell_without_parcels() {
    let host = Host::new(&js_sys::Object::new().into());
    let el: web_sys::HtmlElement = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .create_element("div")
        .unwrap()
        .unchecked_into();
    let err = host
        .mount_parcel("@t/p", &el, &json("{}"))
        .await
        .unwrap_err();
    assert_eq!(err.as_string().unwrap(), "the shell offers no mountParcel");
}

#[wasm_bindgen_test]
async fn host_passes_parcel_calls_to_the_shell() {
    let props = js_sys::Object::new();
    let calls = js_sys::Array::new();
    let record = js_sys::Function::new_with_args(
        "app, el, data",
        "this.push([app, el.tagName, JSON.stringify(data)]); return Promise.resolve();",
    );
    let bound = record.bind0(&calls);
    js_sys::Reflect::set(&props, &"mountParcel".into(), &bound).unwrap();
    let el: web_sys::HtmlElement = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .create_element("div")
        .unwrap()
        .unchecked_into();
    Host::new(&props.into())
        .mount_parcel("@t/p", &el, &json(r#"{"item": "pho"}"#))
        .await
        .unwrap();
    let call: js_sys::Array = calls.get(0).unchecked_into();
    assert_eq!(call.get(0).as_string().unwrap(), "@t/p");
    assert_eq!(call.get(1).as_string().unwrap(), "DIV");
    assert_eq!(call.get(2).as_string().unwrap(), r#"{"item":"pho"}"#);
}

#[wasm_bindgen_test]
async fn a_rejecting_shell_surfaces_the_error() {
    let props = js_sys::Object::new();
    let reject =
        js_sys::Function::new_no_args("return Promise.reject(new Error('no such parcel'))");
    js_sys::Reflect::set(&props, &"mountParcel".into(), &reject).unwrap();
    let el: web_sys::HtmlElement = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .create_element("div")
        .unwrap()
        .unchecked_into();
    let err = Host::new(&props.into())
        .mount_parcel("@t/p", &el, &JsValue::NULL)
        .await
        .unwrap_err();
    let msg = js_sys::Reflect::get(&err, &"message".into()).unwrap();
    assert_eq!(msg.as_string().unwrap(), "no such parcel");
}

/// Props whose `host` is the given JS object literal (a stand-in for the shell's).
fn props_with_host(host: &str) -> JsValue {
    let f = js_sys::Function::new_no_args(&format!("return {{ host: {host} }};"));
    f.call0(&JsValue::NULL).unwrap()
}

#[derive(Debug, PartialEq)]
struct Thing {
    id: String,
    version: i64,
}

tessera_sdk::from_js!(Thing {
    id: "id",
    version: "version"
});

#[wasm_bindgen_test]
async fn queries_go_to_the_host_and_come_back_typed_with_their_freshness() {
    let props = props_with_host(
        "{ version: 2, query(path) { this.asked = path; \
           return Promise.resolve({ data: { id: 'a', version: 3, extra: 1 }, \
                                    freshness: { asOfMs: 1000, fromCache: true } }); } }",
    );
    let bff = Host::new(&props).bff("/api/things/");
    let (thing, freshness) = bff.query::<Thing>("/a?x=1").await.unwrap();
    assert_eq!(
        thing,
        Thing {
            id: "a".into(),
            version: 3
        }
    );
    assert_eq!(freshness.as_of_ms, Some(1000));
    assert!(freshness.from_cache);
    let host = js_sys::Reflect::get(&props, &"host".into()).unwrap();
    let asked = js_sys::Reflect::get(&host, &"asked".into()).unwrap();
    assert_eq!(asked.as_string().unwrap(), "/api/things/a?x=1");
    // The host's data in another shape is a decode error naming the path.
    let err = bff.get::<Vec<String>>("/a").await.unwrap_err();
    assert!(
        matches!(&err, BffError::Decode(m) if m.contains("/api/things/a")),
        "{err:?}"
    );
}

#[wasm_bindgen_test]
async fn a_host_rejection_keeps_its_kind_and_problem_document() {
    let props = props_with_host(
        "{ query() { const e = new Error('Stale version'); e.kind = 'problem'; \
           e.problem = { type: 'about:blank', title: 'Stale version', status: 412, \
                         current: { id: 'c', version: 4 } }; return Promise.reject(e); } }",
    );
    let err = Host::new(&props)
        .query::<Thing>("/api/c")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(412));
    assert_eq!(err.to_string(), "Stale version");
    let offline = props_with_host(
        "{ query() { const e = new Error('offline'); e.kind = 'network'; return Promise.reject(e); } }",
    );
    let err = Host::new(&offline)
        .query::<Thing>("/api/c")
        .await
        .unwrap_err();
    assert_eq!(err, BffError::Network("offline".into()));
    let none = Host::new(&js_sys::Object::new().into())
        .query::<Thing>("/api/c")
        .await
        .unwrap_err();
    assert_eq!(none, BffError::Network("the shell offers no query".into()));
}

#[wasm_bindgen_test]
async fn commands_reach_the_host_as_one_small_json_object() {
    let props = props_with_host(
        "{ command(c) { this.got = JSON.stringify(c); \
           return Promise.resolve({ id: 7, idempotencyKey: 'k-1' }); } }",
    );
    let queued = Host::new(&props)
        .bff("/api/cart")
        .command(CommandSpec {
            path: "/items/pho",
            body: &json(r#"{"quantity": 2}"#),
            entity: "cart",
            base_version: Some(3),
            label: "Pho × 2".into(),
            overlays: vec![Overlay {
                query: String::new(),
                edit: Edit::Set {
                    pointer: "/x".into(),
                    value: 1.to_js(),
                },
            }],
        })
        .await
        .unwrap();
    assert_eq!((queued.id, queued.idempotency_key.as_str()), (7, "k-1"));
    let host = js_sys::Reflect::get(&props, &"host".into()).unwrap();
    let got: serde_json::Value = serde_json::from_str(
        &js_sys::Reflect::get(&host, &"got".into())
            .unwrap()
            .as_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "path": "/api/cart/items/pho", "body": {"quantity": 2}, "entity": "cart",
            "baseVersion": 3, "label": "Pho × 2",
            "overlays": [{"query": "/api/cart", "edit": {"op": "set", "pointer": "/x", "value": 1}}]
        })
    );
}

#[wasm_bindgen_test]
fn props_data_keeps_integers_integers() {
    // Read from the JS object (no JSON text): integers must stay integers, or an app reading
    // `priceCents` from a parcel's data as i64 would fail.
    let props = js_sys::JSON::parse(
        r#"{"name":"@t/p","basePath":"","abi":2,"session":{"userName":null,"idToken":null},
            "data":{"priceCents":150,"quantity":2,"ratio":0.5,"tags":["a"],"none":null}}"#,
    )
    .unwrap();
    let data = parse_props(&props).unwrap().data;
    assert_eq!(field::<i64>(&data, "priceCents"), Ok(150));
    assert_eq!(field::<u32>(&data, "quantity"), Ok(2));
    assert_eq!(field::<f64>(&data, "ratio"), Ok(0.5));
    assert_eq!(
        field::<Vec<String>>(&data, "tags"),
        Ok(vec!["a".to_string()])
    );
    assert_eq!(field::<Option<String>>(&data, "none"), Ok(None));
    // A fraction or a value out of range is not an integer.
    let err = field::<i64>(&data, "ratio").unwrap_err().to_string();
    assert_eq!(err, "ratio: expected an integer (i64)");
    assert!(field::<u32>(&json(r#"{"n": -1}"#), "n").is_err());
}

fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap()
}
