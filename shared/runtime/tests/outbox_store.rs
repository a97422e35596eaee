//! The outbox's IndexedDB store in a page: two connections (a page and a replayer elsewhere)
//! each keep a copy of the outbox, and each sees what the other wrote.
#![cfg(target_arch = "wasm32")]

use tessera_runtime::outbox::{Command, EntryState, NewEntry, Outcome};
use tessera_runtime::outbox_store::{Durability, Load, OutboxStore};
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
