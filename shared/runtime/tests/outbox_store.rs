//! The outbox's IndexedDB store in a page: two connections (a page and a replayer elsewhere)
//! each keep a copy of the outbox, and each sees what the other wrote.
#![cfg(target_arch = "wasm32")]

use tessera_runtime::outbox::{Command, EntryState, NewEntry, Outcome};
use tessera_runtime::outbox_store::{Durability, Load, OutboxStore};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_browser);

fn new_entry(n: u32) -> NewEntry {
    NewEntry {
        idempotency_key: format!("key-{n}"),
        entity: format!("menu-item:{n}"),
        subject: "ada".into(),
        base_version: None,
        command: Command {
            method: "PUT".into(),
            path: format!("/api/restaurants/r/menu/{n}"),
            body: Some("{}".into()),
        },
        label: format!("item {n}"),
        overlays: vec![],
    }
}

fn states(o: &tessera_runtime::outbox::Outbox) -> Vec<(u64, EntryState)> {
    o.entries().map(|e| (e.id, e.state)).collect()
}

#[wasm_bindgen_test]
async fn each_connection_sees_what_the_other_wrote() {
    let name = format!("tessera-test-outbox-{}", js_sys::Math::random());
    let page = OutboxStore::open_named(&name).await.unwrap();
    let replayer = OutboxStore::open_named(&name).await.unwrap();

    // Both read (and keep a copy of) the empty outbox; the page queues two commands.
    assert!(states(&page.read().await.unwrap()).is_empty());
    assert!(states(&replayer.read().await.unwrap()).is_empty());
    page.enqueue(new_entry(1), 1).await.unwrap();
    page.enqueue(new_entry(2), 2).await.unwrap();
    let pending = vec![(1, EntryState::Pending), (2, EntryState::Pending)];
    assert_eq!(states(&page.read().await.unwrap()), pending);
    assert_eq!(states(&replayer.read().await.unwrap()), pending);

    // The replayer claims and confirms the first; the page's copy is outdated and not used.
    replayer
        .update(Load::AsIs, Durability::Relaxed, |o| {
            o.start_sending(1, 10).unwrap();
            o.settle(1, Outcome::Applied { version: Some(1) }, 11, 0.0)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        states(&page.read().await.unwrap()),
        vec![(2, EntryState::Pending)]
    );

    // The page queues a third while the replayer sends the second: the replayer's settle
    // keeps it.
    replayer
        .update(Load::AsIs, Durability::Relaxed, |o| {
            o.start_sending(2, 12).map(|_| ())
        })
        .await
        .unwrap()
        .unwrap();
    page.enqueue(new_entry(3), 13).await.unwrap();
    replayer
        .update(Load::AsIs, Durability::Relaxed, |o| {
            o.settle(2, Outcome::Applied { version: Some(1) }, 14, 0.0)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        states(&page.read().await.unwrap()),
        vec![(3, EntryState::Pending)]
    );
    assert_eq!(
        states(&replayer.read().await.unwrap()),
        vec![(3, EntryState::Pending)]
    );

    // A restart's recovery reads the store, not a copy: an entry left sending goes back to
    // pending.
    page.update(Load::AsIs, Durability::Strict, |o| {
        o.start_sending(3, 15).map(|_| ())
    })
    .await
    .unwrap()
    .unwrap();
    let recovered = replayer
        .update(Load::Recover, Durability::Relaxed, |o| states(o))
        .await
        .unwrap();
    assert_eq!(recovered, vec![(3, EntryState::Pending)]);
    assert_eq!(
        states(&page.read().await.unwrap()),
        vec![(3, EntryState::Pending)]
    );
    page.close();
    replayer.close();
}

#[wasm_bindgen_test]
async fn letting_entries_go_is_stamped_for_every_connection_and_nothing_else_is() {
    let name = format!("tessera-test-outbox-{}", js_sys::Math::random());
    let page = OutboxStore::open_named(&name).await.unwrap();
    let replayer = OutboxStore::open_named(&name).await.unwrap();
    page.read().await.unwrap();
    assert_eq!(page.settled_at(), 0, "a new outbox never let anything go");

    // Queueing and claiming let nothing go: a page's first answers need not be asked again.
    page.enqueue(new_entry(1), 1).await.unwrap();
    replayer
        .update(Load::AsIs, Durability::Relaxed, |o| {
            o.start_sending(1, 10).map(|_| ())
        })
        .await
        .unwrap()
        .unwrap();
    page.read().await.unwrap();
    assert_eq!(page.settled_at(), 0);

    // A confirmation is stamped with the writer's clock, and a read elsewhere sees the stamp.
    let before = js_sys::Date::now() as u64;
    replayer
        .update(Load::AsIs, Durability::Relaxed, |o| {
            o.settle(1, Outcome::Applied { version: Some(1) }, 11, 0.0)
        })
        .await
        .unwrap()
        .unwrap();
    let stamped = replayer.settled_at();
    assert!(stamped >= before, "{stamped} < {before}");
    page.read().await.unwrap();
    assert_eq!(page.settled_at(), stamped);

    // Another write that lets nothing go keeps the stamp.
    page.enqueue(new_entry(2), 12).await.unwrap();
    replayer
        .update(Load::AsIs, Durability::Relaxed, |o| {
            o.start_sending(2, 13).map(|_| ())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replayer.settled_at(), stamped);
    page.close();
    replayer.close();
}

/// Sets `meta.nextId` in database `name` behind the store's back, as a crash that rolled the
/// counter back (or a database restored from an older copy) would leave it.
async fn roll_counter_back(name: &str, to: u32) {
    let set = js_sys::Function::new_with_args(
        "name, to",
        "return new Promise((resolve, reject) => {
           const open = indexedDB.open(name);
           open.onerror = () => reject(open.error);
           open.onsuccess = () => {
             const db = open.result;
             const tx = db.transaction('meta', 'readwrite');
             tx.objectStore('meta').put(to, 'nextId');
             tx.oncomplete = () => { db.close(); resolve(); };
             tx.onerror = () => reject(tx.error);
           };
         })",
    );
    let promise = set.call2(&JsValue::NULL, &name.into(), &to.into()).unwrap();
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise))
        .await
        .unwrap();
}

#[wasm_bindgen_test]
async fn an_id_counter_that_went_back_never_overwrites_a_waiting_command() {
    let name = format!("tessera-test-outbox-{}", js_sys::Math::random());
    let page = OutboxStore::open_named(&name).await.unwrap();
    page.enqueue(new_entry(1), 1).await.unwrap();
    page.enqueue(new_entry(2), 2).await.unwrap();

    roll_counter_back(&name, 1).await;
    let third = page.enqueue(new_entry(3), 3).await.unwrap();

    assert_eq!(third.id, 3, "the new command takes the next free id");
    let keys: Vec<(u64, String)> = page
        .read()
        .await
        .unwrap()
        .entries()
        .map(|e| (e.id, e.idempotency_key.clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            (1, "key-1".to_string()),
            (2, "key-2".to_string()),
            (3, "key-3".to_string())
        ],
        "every queued command is still there, each under its own id"
    );
    page.close();
}

/// Deletes database `name`, as Chromium does with one it finds corrupted after a crash.
async fn delete_database(name: &str) {
    let delete = js_sys::Function::new_with_args(
        "name",
        "return new Promise((resolve, reject) => {
           const req = indexedDB.deleteDatabase(name);
           req.onsuccess = () => resolve();
           req.onerror = () => reject(req.error);
           req.onblocked = () => reject(new Error('a connection is still open'));
         })",
    );
    let promise = delete.call1(&JsValue::NULL, &name.into()).unwrap();
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise))
        .await
        .unwrap();
}

fn keys(o: &tessera_runtime::outbox::Outbox) -> Vec<(u64, String, EntryState)> {
    o.entries()
        .map(|e| (e.id, e.idempotency_key.clone(), e.state))
        .collect()
}

#[wasm_bindgen_test]
async fn a_database_the_browser_deleted_gets_its_waiting_commands_back() {
    let name = format!("tessera-test-outbox-{}", js_sys::Math::random());
    let page = OutboxStore::open_named(&name).await.unwrap();
    for n in 1..=3 {
        page.enqueue(new_entry(n), n as u64).await.unwrap();
    }
    // The first is sent and confirmed (the outbox lets it go); the second is being sent.
    page.update(Load::AsIs, Durability::Relaxed, |o| {
        o.start_sending(1, 10).unwrap();
        o.settle(1, Outcome::Applied { version: Some(1) }, 11, 0.0)
            .unwrap();
        o.start_sending(2, 12).unwrap();
    })
    .await
    .unwrap();
    page.close();

    delete_database(&name).await;
    let reopened = OutboxStore::open_named(&name).await.unwrap();
    assert_eq!(
        keys(&reopened.read().await.unwrap()),
        vec![
            (2, "key-2".to_string(), EntryState::Pending),
            (3, "key-3".to_string(), EntryState::Pending)
        ],
        "the waiting commands are back under their ids and keys; the confirmed one is not"
    );
    let fourth = reopened.enqueue(new_entry(4), 4).await.unwrap();
    assert_eq!(fourth.id, 4, "new commands queue after the restored ones");

    // A later open of the same database finds it whole and adds nothing.
    let again = OutboxStore::open_named(&name).await.unwrap();
    assert_eq!(
        keys(&again.read().await.unwrap()).len(),
        3,
        "an open of a database that was not lost restores nothing"
    );
    again.close();
    reopened.close();
}

#[wasm_bindgen_test]
fn idempotency_keys_stay_random_uuids_without_random_uuid() {
    use wasm_bindgen::JsCast;
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    // An insecure context's `crypto` has no `randomUUID`: shadow the prototype's.
    js_sys::Reflect::set(&crypto, &"randomUUID".into(), &JsValue::UNDEFINED).unwrap();
    let keys: Vec<String> = (0..64)
        .map(|_| tessera_runtime::bff_client::new_idempotency_key())
        .collect();
    js_sys::Reflect::delete_property(
        crypto.unchecked_ref::<js_sys::Object>(),
        &"randomUUID".into(),
    )
    .unwrap();

    let v4 = js_sys::RegExp::new(
        "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        "",
    );
    for key in &keys {
        assert!(v4.test(key), "{key} is a version 4 UUID");
    }
    let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "no key repeats");
}
