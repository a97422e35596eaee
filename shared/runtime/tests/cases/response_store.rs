//! Cases for the read-through cache's IndexedDB store, run in a window and in a service worker.

use tessera_runtime::read_through::{cache_key, CachePolicy, CachedResponse, RECORD_VERSION};
use tessera_runtime::response_store::{classify, ResponseStore, StoreError};
use wasm_bindgen::JsValue;

/// A database of its own per test, so cases never see each other's records.
async fn fresh(test: &str) -> ResponseStore {
    let name = format!("tessera-test-{test}-{}", js_sys::Math::random());
    ResponseStore::open_named(&name)
        .await
        .expect("IndexedDB opens")
}

fn record(subject: &str, path: &str, body: &str) -> CachedResponse {
    CachedResponse {
        v: RECORD_VERSION,
        key: cache_key(Some(subject), path),
        status: 200,
        content_type: "application/json".into(),
        etag: Some("\"1\"".into()),
        body: body.into(),
        confirmed_at_ms: 1_700_000_000_000,
        policy: CachePolicy::parse(Some("private, no-cache")),
    }
}

pub async fn records_round_trip_and_replace_by_key() {
    let store = fresh("round-trip").await;
    let cart = record("alice", "/api/cart", r#"{"lines":[]}"#);
    assert_eq!(store.get(&cart.key).await.unwrap(), None);
    store.put(&cart).await.unwrap();
    assert_eq!(store.get(&cart.key).await.unwrap(), Some(cart.clone()));

    let newer = CachedResponse {
        body: r#"{"lines":[1]}"#.into(),
        confirmed_at_ms: cart.confirmed_at_ms + 1,
        ..cart.clone()
    };
    store.put(&newer).await.unwrap();
    assert_eq!(store.get(&cart.key).await.unwrap(), Some(newer));
    // Another user's query is another record.
    assert_eq!(
        store
            .get(&cache_key(Some("bob"), "/api/cart"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.count().await.unwrap(), 1);
    store.close();
}

pub async fn a_corrupt_record_is_reported_removed_and_leaves_the_rest_intact() {
    let store = fresh("corrupt").await;
    let good = record("alice", "/api/restaurants", r#"{"items":[]}"#);
    store.put(&good).await.unwrap();
    let damaged = cache_key(Some("alice"), "/api/cart");
    store
        .put_raw(&damaged, &JsValue::from_str("{\"v\":1,\"key\":"))
        .await
        .unwrap();
    let misfiled = cache_key(Some("alice"), "/api/orders");
    store
        .put_raw(&misfiled, &JsValue::from_str(&good.encode()))
        .await
        .unwrap();
    let not_text = cache_key(Some("alice"), "/api/events");
    store
        .put_raw(&not_text, &JsValue::from_f64(42.0))
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 4);

    for key in [&damaged, &misfiled, &not_text] {
        match store.get(key).await {
            Err(StoreError::Corrupt(c)) => {
                assert_eq!(&c.key, key);
                assert!(StoreError::Corrupt(c)
                    .to_string()
                    .contains("it was removed"));
            }
            other => panic!("{key}: expected a corrupt-record error, got {other:?}"),
        }
        assert_eq!(
            store.get(key).await.unwrap(),
            None,
            "the damaged record is gone"
        );
    }
    assert_eq!(store.get(&good.key).await.unwrap(), Some(good));
    assert_eq!(store.count().await.unwrap(), 1);
    store.close();
}

pub async fn quota_errors_are_told_apart() {
    // What `put` reports when the browser aborts a write's transaction for lack of space (the
    // real thing is driven by CDP quota overrides in tests/e2e/offline.test.mjs).
    let dom = web_sys::DomException::new_with_message_and_name(
        "The quota has been exceeded.",
        "QuotaExceededError",
    )
    .unwrap();
    let text = format!(
        "the transaction was aborted ({}: {})",
        dom.name(),
        dom.message()
    );
    match classify("storing \"GET alice /api/cart\"", &text) {
        StoreError::QuotaExceeded(e) => assert!(
            e.contains("GET alice /api/cart") && e.contains("QuotaExceededError"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify("opening", "DOM exception: VersionError"),
        StoreError::Unavailable(_)
    ));
}

/// The `#[wasm_bindgen_test]` wrappers for every case above; each test file configures where
/// they run and invokes this once.
#[macro_export]
macro_rules! response_store_tests {
    () => {
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn records_round_trip_and_replace_by_key() {
            cases::records_round_trip_and_replace_by_key().await
        }

        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn a_corrupt_record_is_reported_removed_and_leaves_the_rest_intact() {
            cases::a_corrupt_record_is_reported_removed_and_leaves_the_rest_intact().await
        }

        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn quota_errors_are_told_apart() {
            cases::quota_errors_are_told_apart().await
        }
    };
}
