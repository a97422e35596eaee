//! Asking for a replay in a page while another replayer (a tab, the worker) holds the lock:
//! the ask waits and runs after it, and asks beyond one running and one waiting are left to
//! the waiting one.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use tessera_runtime::replay::{run_after_current, Report, LOCK};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_browser);

type Outcome = Rc<RefCell<Option<Result<Option<Report>, String>>>>;

/// Takes the replay lock as another replayer would; the function returned lets it go.
async fn hold_replay_lock() -> js_sys::Function {
    let hold = js_sys::Function::new_with_args(
        "name",
        "return new Promise((held) => navigator.locks.request(name, () => \
           new Promise((release) => held(release))));",
    );
    let held = hold.call1(&JsValue::NULL, &LOCK.into()).unwrap();
    JsFuture::from(js_sys::Promise::from(held))
        .await
        .unwrap()
        .into()
}

async fn sleep(ms: i32) {
    let wait = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(wait).await.unwrap();
}

fn ask() -> Outcome {
    let outcome: Outcome = Rc::default();
    let filled = outcome.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let ran = run_after_current(None).await;
        *filled.borrow_mut() = Some(ran);
    });
    outcome
}

fn ran(outcome: &Outcome) -> Option<bool> {
    outcome
        .borrow()
        .as_ref()
        .map(|r| r.as_ref().expect("the replay runs").is_some())
}

#[wasm_bindgen_test]
async fn an_ask_while_another_replays_runs_after_it_and_more_asks_are_left_to_it() {
    let release = hold_replay_lock().await;
    let (first, second, third) = (ask(), ask(), ask());
    sleep(100).await;
    // Neither gave up on the held lock (which left a command queued meanwhile for the
    // retry timer); the third is left to the second, which starts after it was asked.
    assert_eq!(ran(&first), None, "the first ask waits for the lock");
    assert_eq!(ran(&second), None, "the second ask waits behind it");
    assert_eq!(
        ran(&third),
        Some(false),
        "a third ask is left to the waiting one"
    );

    release.call0(&JsValue::NULL).unwrap();
    for _ in 0..100 {
        if ran(&first).is_some() && ran(&second).is_some() {
            break;
        }
        sleep(50).await;
    }
    assert_eq!(
        ran(&first),
        Some(true),
        "the first ran once the lock was free"
    );
    assert_eq!(ran(&second), Some(true), "the second ran after the first");
    // With none going, the next ask runs at once.
    assert_eq!(ran(&ask()), None);
    let next = ask();
    for _ in 0..100 {
        if ran(&next).is_some() {
            break;
        }
        sleep(50).await;
    }
    assert_eq!(ran(&next), Some(true));
}
