//! The outbox's records are written by serde and read by the browser's `JSON.parse` and
//! `tessera-wire`'s readers (`js_forms`): each record serde writes reads back equal, and a
//! damaged one is an error that names the field.
#![cfg(target_arch = "wasm32")]

use serde_json::json;
use tessera_contract::host::CommandRequest;
use tessera_contract::overlay::{Edit, Overlay};
use tessera_runtime::js_forms::{applied, command_request};
use tessera_runtime::outbox::{Applied, Command, Entry, EntryState, Summary, Theirs};
use tessera_wire::parse;
use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_browser);

fn entry(state: EntryState) -> Entry {
    Entry {
        id: 9_007_199_254_740_991,
        idempotency_key: "3f2a-key".into(),
        entity: "cart:ann".into(),
        subject: "ann".into(),
        base_version: Some(7),
        command: Command {
            method: "PUT".into(),
            path: "/api/cart/items/pho-corner~pho-bo".into(),
            body: Some(r#"{"quantity":2}"#.into()),
        },
        label: "Phở bò × 2 in the cart".into(),
        state,
        attempts: 3,
        error: Some("HTTP 503".into()),
        theirs: Some(Theirs {
            version: Some(8),
            body: Some(r#"{"quantity":1}"#.into()),
        }),
        created_at_ms: 1_780_000_000_000,
        updated_at_ms: 1_780_000_000_500,
        not_before_ms: 1_780_000_001_000,
        overlays: vec![
            Overlay {
                query: "/api/cart".into(),
                edit: Edit::Upsert {
                    list: "/lines".into(),
                    key: "itemId".into(),
                    value: json!({"itemId": "pho-bo", "quantity": 2, "unitPriceCents": 1290, "x": [1.5, null, true]}),
                },
            },
            Overlay {
                query: "/api/cart".into(),
                edit: Edit::Remove {
                    list: "/lines".into(),
                    key: "itemId".into(),
                    id: "pho-ga".into(),
                },
            },
            Overlay {
                query: "/api/orders".into(),
                edit: Edit::Set {
                    pointer: "/pendingOrder".into(),
                    value: json!("o-1"),
                },
            },
        ],
    }
}

#[wasm_bindgen_test]
fn records_read_as_serde_writes_them() {
    for state in EntryState::ALL {
        let e = entry(state);
        assert_eq!(parse::<Entry>(&serde_json::to_string(&e).unwrap()), Ok(e));
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            format!("\"{}\"", state.as_str())
        );
    }
    // What serde leaves out or writes as null reads back the same.
    let bare = Entry {
        base_version: None,
        command: Command {
            body: None,
            ..entry(EntryState::Pending).command
        },
        label: String::new(),
        error: None,
        theirs: None,
        overlays: vec![],
        ..entry(EntryState::Pending)
    };
    let mut text = serde_json::to_value(&bare).unwrap();
    let object = text.as_object_mut().unwrap();
    object.remove("label");
    object.remove("overlays");
    assert_eq!(parse::<Entry>(&text.to_string()), Ok(bare));
    let summary = Summary {
        pending: 12,
        inbox: 1,
        syncing: true,
    };
    assert_eq!(
        parse::<Summary>(&serde_json::to_string(&summary).unwrap()),
        Ok(summary)
    );
    let request = CommandRequest {
        path: "/api/cart/items/pho-corner~pho-bo".into(),
        body: json!({"quantity": 2}),
        entity: "cart".into(),
        base_version: Some(7),
        label: "Phở bò × 2".into(),
        overlays: entry(EntryState::Pending).overlays,
    };
    let js = js_sys::JSON::parse(&serde_json::to_string(&request).unwrap()).unwrap();
    assert_eq!(command_request(&js), Ok(request));
    let bare = js_sys::JSON::parse(r#"{"path":"/api/x","body":{"a":1},"entity":"x"}"#).unwrap();
    let bare = command_request(&bare).unwrap();
    assert_eq!(
        (bare.base_version, bare.label.as_str(), bare.overlays.len()),
        (None, "", 0)
    );
    let steps: Applied = [("cart:ann".to_string(), vec![(1, 2), (2, 4)])].into();
    assert_eq!(applied(&serde_json::to_string(&steps).unwrap()), Ok(steps));
}

#[wasm_bindgen_test]
fn a_damaged_record_names_the_field() {
    let mut damaged = serde_json::to_value(entry(EntryState::Pending)).unwrap();
    damaged["overlays"][1]["edit"]["op"] = json!("rename");
    assert_eq!(
        parse::<Entry>(&damaged.to_string()),
        Err("overlays[1].edit: expected an edit (upsert, remove or set)".into())
    );
    damaged["overlays"][1]["edit"]["op"] = json!("remove");
    damaged["state"] = json!("lost");
    assert_eq!(
        parse::<Entry>(&damaged.to_string()),
        Err("state: expected an entry state".into())
    );
    assert!(parse::<Entry>("{\"id\":").is_err_and(|e| e.starts_with("not JSON: ")));
    let no_body = js_sys::JSON::parse(r#"{"path":"/api/x","entity":"x"}"#).unwrap();
    assert_eq!(
        command_request(&no_body).map_err(|e| e.to_string()),
        Err("body: expected a JSON value".into())
    );
    assert_eq!(
        applied(r#"{"cart:ann":[[1,2,3]]}"#),
        Err("cart:ann[0]: expected a pair".into())
    );
}

/// The answers the outbox reads (batch results, problem documents) and the tokens it keys
/// records by go through the browser's parser here, serde_json's in the native tests: the
/// same rules must come out.
#[wasm_bindgen_test]
fn answers_read_with_the_browsers_parser_mean_what_they_mean_natively() {
    use tessera_runtime::outbox::{read_batch, Answer, BatchAnswer, Outcome};
    let text = json!({"results": [
        {"status": 200, "body": {"version": 4}, "replayed": true, "etag": "\"4\""},
        {"status": 412, "etag": "\"9\"", "body": {"type": "/problems/stale",
            "title": "Precondition failed", "status": 412, "current": {"version": 9}}},
        {"status": 422, "body": {"type": "/p", "title": "Invalid", "status": 422, "detail": "quantity"}},
    ]})
    .to_string();
    let BatchAnswer::Results(answers) = read_batch(3, 200, None, "application/json", &text) else {
        panic!("results");
    };
    assert_eq!(
        answers[0],
        Answer {
            outcome: Outcome::Applied { version: Some(4) },
            replayed: true
        }
    );
    assert_eq!(
        answers[1].outcome,
        Outcome::Conflict(Theirs {
            version: Some(9),
            body: Some(r#"{"version":9}"#.into())
        })
    );
    assert_eq!(
        answers[2].outcome,
        Outcome::Rejected {
            status: 422,
            message: "Invalid: quantity".into()
        }
    );
    let BatchAnswer::Failed(Outcome::Retry { error, .. }) =
        read_batch(1, 200, None, "application/json", "<html>")
    else {
        panic!("a failed batch");
    };
    assert!(error.contains("no batch result: not JSON"), "{error}");

    let bob = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2ItMSJ9.";
    assert_eq!(
        tessera_runtime::read_through::bearer_subject(Some(bob)).as_deref(),
        Some("bob-1")
    );
    assert!(Command {
        method: "PUT".into(),
        path: "/api/cart".into(),
        body: Some("{}".into())
    }
    .batchable());
    assert!(!Command {
        method: "PUT".into(),
        path: "/api/cart".into(),
        body: Some("[{}]".into())
    }
    .batchable());
}
