//! The data layer behind lifecycle ABI 2's host services: `host.query` and `host.command`,
//! which the start module's host object forwards here, so no app carries its own outbox,
//! cache or HTTP client. It reads the session when called, so a renewed token reaches apps
//! that stay mounted. The shapes are `tessera_contract::host`'s.

use shell_common::bus::publish;
use shell_common::js::after_ms;
use std::cell::{Cell, RefCell};
use tessera_contract::bff::{BffError, DataLoaded, DATA_LOADED, DATA_TOPIC};
use tessera_contract::host::{is_site_path, ErrorKind, Queued};
use tessera_runtime::bff_client::{self, Bff};
use tessera_runtime::query_flights::{Board, Boarded};
use tessera_runtime::query_memory::Asked;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

const SOURCE: &str = "@tessera/shell";

/// `host.query(path)`: `path`'s answer, `{data, freshness: {asOfMs, fromCache}}`.
pub fn query(path: JsValue) -> js_sys::Promise {
    match path.as_string() {
        Some(path) => shared_query(path),
        None => js_sys::Promise::reject(&rejection(&BffError::Decode(
            "query(path): path must be a string".into(),
        ))),
    }
}

/// `host.command(request)`: queues the command; resolves to `{id, idempotencyKey}`.
pub fn command(request: JsValue) -> js_sys::Promise {
    future_to_promise(async move { queue(&request).await.map_err(|e| rejection(&e)) })
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &key.into(), value);
}

/// A JSON value as a JS value.
fn json(value: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

/// What a failed call rejects with: an `Error` with the contract's `kind` and, for an error
/// status, the server's `problem` document.
fn rejection(e: &BffError) -> JsValue {
    let error: JsValue = js_sys::Error::new(&e.to_string()).into();
    set(&error, "kind", &ErrorKind::of(e).as_str().into());
    if let BffError::Problem(p) = e {
        if let Ok(doc) = serde_json::to_value(p) {
            set(&error, "problem", &json(&doc));
        }
    }
    error
}

/// Refuses a path off this site: the user's token goes with every host call.
fn site_path(call: &str, path: &str) -> Result<(), BffError> {
    if is_site_path(path) {
        return Ok(());
    }
    Err(BffError::Decode(format!(
        "{call}: {path:?} is not a path of this site (it must start with one /)"
    )))
}

thread_local! {
    /// The apps' calls of each path, and their answers while on their way ([`Board`]).
    static CALLS: RefCell<Board<String, Asked, js_sys::Promise>> = RefCell::new(Board::default());
    /// What waits for none to be on their way ([`when_answered`]).
    static WHEN_ANSWERED: RefCell<Vec<Task>> = const { RefCell::new(Vec::new()) };
}

type Task = Box<dyn FnOnce()>;

/// Runs `f` in a task of its own once no app's query is on its way (after the apps drew their
/// answers), or after `patience_ms` at the latest (a query may hang). The first page's apps
/// ask for their data as they mount; the work that waits for the first page (the worker's
/// registration and precache, the live connection, the outbox) began when they had mounted,
/// and on a cold load of `/restaurants` held the main thread and the second core while the
/// list's answer sat waiting for its turn (answered at 290 ms, read by the page at 360 ms).
pub fn when_answered(f: impl FnOnce() + 'static, patience_ms: i32) {
    let once: std::rc::Rc<Cell<Option<Task>>> = std::rc::Rc::new(Cell::new(Some(Box::new(f))));
    let run = move || {
        if let Some(f) = once.take() {
            f();
        }
    };
    after_ms(patience_ms, run.clone());
    if CALLS.with(|c| c.borrow().all_landed()) {
        after_ms(0, run);
    } else {
        WHEN_ANSWERED.with(|w| w.borrow_mut().push(Box::new(run)));
    }
}

/// A query of the apps' came back: what waits for them all runs if it was the last.
fn landed(path: String, id: u64) {
    let all = CALLS.with(|c| {
        let mut c = c.borrow_mut();
        c.landed(&path, id);
        c.all_landed()
    });
    if all {
        for f in WHEN_ANSWERED.with(|w| std::mem::take(&mut *w.borrow_mut())) {
            after_ms(0, f);
        }
    }
}

/// `path`'s answer, shared by the apps that ask for it while nothing changed since it was
/// asked for (else they share the next one), by the rules of the BFF client's requests. The
/// answer is one JS object for all of them: during a replay, every live event had every app
/// showing the data call again, and each call was its own overlay, serialisation and parse
/// of the whole answer (a menu of a thousand items, a thousand times), which held the page's
/// thread for seconds and with it the replay's IndexedDB transactions.
fn shared_query(path: String) -> js_sys::Promise {
    let boarded = CALLS.with(|c| {
        c.borrow_mut()
            .board(path.clone(), bff_client::answers_generation())
    });
    let (id, behind) = match boarded {
        Boarded::Join(_, answer) => {
            bff_client::shared_a_request();
            report_counts();
            return answer;
        }
        Boarded::Launch { id, behind } => (id, behind),
    };
    let answer = future_to_promise(async move {
        if let Some(behind) = behind {
            let _ = JsFuture::from(behind).await;
        }
        CALLS.with(|c| {
            c.borrow_mut()
                .took_off(&path, id, bff_client::answers_generation())
        });
        let answer = read(&path).await.map_err(|e| rejection(&e));
        landed(path, id);
        answer
    });
    CALLS.with(|c| c.borrow_mut().launched(id, answer.clone()));
    answer
}

/// The query counters on `window.__tessera`, for tests and benchmarks.
fn report_counts() {
    let debug = shell_common::debug::object();
    let count = |n: u64| JsValue::from_f64(n as f64);
    set(
        &debug,
        "fromMemory",
        &count(bff_client::answered_from_memory()),
    );
    set(
        &debug,
        "sharedRequests",
        &count(bff_client::answered_by_shared_request()),
    );
    set(
        &debug,
        "queryRequests",
        &count(bff_client::query_requests()),
    );
}

/// Reads `path` for the signed-in user and tells the status bar how old the answer is.
async fn read(path: &str) -> Result<JsValue, BffError> {
    site_path("query(path)", path)?;
    let (data, freshness) = Bff::new(&crate::session::current()).query(path).await?;
    report_counts();
    let loaded = DataLoaded {
        path: path.to_string(),
        freshness,
    };
    if let Ok(announced) = serde_json::to_value(&loaded) {
        publish(DATA_TOPIC, DATA_LOADED, SOURCE, announced);
    }
    let answer = serde_json::json!({
        "data": data,
        "freshness": { "asOfMs": freshness.as_of_ms, "fromCache": freshness.from_cache },
    });
    Ok(json(&answer))
}

/// Queues an app's command in the outbox for the signed-in user.
async fn queue(request: &JsValue) -> Result<JsValue, BffError> {
    let request = tessera_runtime::js_forms::command_request(request)
        .map_err(|e| BffError::Decode(format!("command(request): {e}")))?;
    site_path("command(request).path", &request.path)?;
    let entry = Bff::new(&crate::session::current())
        .command(request)
        .await?;
    let queued = Queued {
        id: entry.id,
        idempotency_key: entry.idempotency_key,
    };
    Ok(json(&serde_json::to_value(queued).unwrap_or_default()))
}
