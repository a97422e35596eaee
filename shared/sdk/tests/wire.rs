//! What the SDK itself reads and writes (props, overlay edits) held to the serde forms the shell
//! and the outbox use. The contract types' forms are tested in `tessera-wire`.
#![cfg(target_arch = "wasm32")]

use tessera_contract::Session;
use tessera_sdk::js::ToJs;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn as_js<T: serde::Serialize>(value: &T) -> JsValue {
    js_sys::JSON::parse(&serde_json::to_string(value).unwrap()).unwrap()
}

#[wasm_bindgen_test]
fn props_read_as_the_shell_writes_them() {
    let sent = tessera_contract::Props {
        name: "@tessera/cart".into(),
        base_path: "/cart".into(),
        abi: 2,
        session: Session {
            user_name: Some("ann".into()),
            id_token: Some("t".into()),
            roles: vec!["customer".into()],
        },
        params: [("id".to_string(), "7".to_string())].into(),
        navigation: vec![],
        data: serde_json::json!({"itemId": "pho"}),
        bff: Some("/api/cart".into()),
    };
    let got = tessera_sdk::parse_props(&as_js(&sent)).unwrap();
    assert_eq!(
        (
            &got.name,
            &got.base_path,
            got.abi,
            &got.session,
            &got.params.all().unwrap(),
            &got.bff
        ),
        (
            &sent.name,
            &sent.base_path,
            sent.abi,
            &sent.session,
            &sent.params,
            &sent.bff
        )
    );
    assert_eq!(
        tessera_sdk::js::field::<String>(&got.data, "itemId"),
        Ok("pho".into())
    );
}

#[wasm_bindgen_test]
fn overlay_edits_are_written_as_the_outbox_reads_them() {
    use tessera_contract::overlay::Edit as Contract;
    use tessera_sdk::Edit;
    let read = |edit: &Edit| -> Contract {
        let text = js_sys::JSON::stringify(&edit.to_js())
            .unwrap()
            .as_string()
            .unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let value = serde_json::json!({"itemId": "pho", "quantity": 2});
    assert_eq!(
        read(&Edit::Upsert {
            list: "/lines".into(),
            key: "itemId".into(),
            value: as_js(&value),
        }),
        Contract::Upsert {
            list: "/lines".into(),
            key: "itemId".into(),
            value: value.clone(),
        }
    );
    assert_eq!(
        read(&Edit::Remove {
            list: "/lines".into(),
            key: "itemId".into(),
            id: "pho".into(),
        }),
        Contract::Remove {
            list: "/lines".into(),
            key: "itemId".into(),
            id: "pho".into(),
        }
    );
    assert_eq!(
        read(&Edit::Set {
            pointer: "/pendingOrder".into(),
            value: "o-1".to_js(),
        }),
        Contract::Set {
            pointer: "/pendingOrder".into(),
            value: serde_json::json!("o-1"),
        }
    );
}
