use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

fn cmd(path: &str) -> Command {
    Command {
        method: "PUT".into(),
        path: path.into(),
        body: Some("{}".into()),
    }
}

fn queue(outbox: &mut Outbox, id: u64, entity: &str, base: Option<i64>) {
    let new = NewEntry {
        idempotency_key: format!("key-{id}"),
        entity: entity.into(),
        subject: "alice".into(),
        base_version: base,
        command: cmd(&format!("/api/{entity}/{id}")),
        label: format!("change {id}"),
        overlays: Vec::new(),
    };
    outbox.enqueue(id, new, 1_000);
}

fn applied(version: i64) -> Outcome {
    Outcome::Applied {
        version: Some(version),
    }
}

#[test]
fn answers_are_results_or_retries() {
    let c = |s| classify(s, Some(4), None, "why".into());
    assert_eq!(c(200), applied(4));
    assert_eq!(c(201), applied(4));
    assert!(matches!(
        c(412),
        Outcome::Conflict(Theirs {
            version: Some(4),
            ..
        })
    ));
    assert_eq!(
        c(422),
        Outcome::Rejected {
            status: 422,
            message: "why".into()
        }
    );
    assert!(matches!(c(409), Outcome::Rejected { status: 409, .. }));
    assert!(matches!(c(403), Outcome::Rejected { status: 403, .. }));
    for s in [401, 408, 429, 500, 502, 503] {
        assert!(matches!(c(s), Outcome::Retry { .. }), "{s}");
    }
    assert_eq!(retry_after_ms(" 7 "), Some(7_000));
    assert_eq!(retry_after_ms("soon"), None);
}

#[test]
fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
    assert_eq!(backoff_ms(1, 0.0), 500);
    assert_eq!(backoff_ms(1, 1.0), 1_000);
    assert_eq!(backoff_ms(2, 0.0), 1_000);
    assert_eq!(backoff_ms(4, 0.5), 6_000);
    assert_eq!(backoff_ms(30, 1.0), BACKOFF_CAP_MS);
    assert_eq!(backoff_ms(64, 0.0), BACKOFF_CAP_MS / 2);
}

#[test]
fn each_entity_sends_in_order_and_entities_do_not_wait_for_each_other() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart:alice", Some(3));
    queue(&mut o, 2, "menu:pho", Some(7));
    queue(&mut o, 3, "cart:alice", Some(3));
    assert_eq!(o.ready(0), vec![1, 2]);
    o.start_sending(1, 0).unwrap();
    assert_eq!(o.ready(0), vec![2], "the cart waits for its first command");
    assert!(matches!(
        o.start_sending(3, 0),
        Err(OutboxError::WrongState { id: 3, .. })
    ));
    o.settle(1, applied(4), 10, 0.0).unwrap();
    assert_eq!(
        o.get(3).unwrap().base_version,
        Some(4),
        "the next cart command follows the version the first produced"
    );
    assert_eq!(o.ready(10), vec![2, 3]);
    let changes = o.take_changed();
    assert!(changes.contains(&Change::Delete(1)));
    assert!(o.get(1).is_none());
    assert_eq!(o.pending_count(), 2);
}

#[test]
fn failed_sends_wait_and_honour_retry_after() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart:alice", None);
    o.start_sending(1, 0).unwrap();
    o.settle(
        1,
        Outcome::Retry {
            error: "HTTP 503: busy".into(),
            retry_after_ms: Some(30_000),
        },
        100,
        0.0,
    )
    .unwrap();
    assert_eq!(o.ready(100), Vec::<u64>::new());
    assert_eq!(o.next_wake_ms(), Some(30_100));
    assert_eq!(o.ready(30_100), vec![1]);
    o.start_sending(1, 30_100).unwrap();
    o.settle(
        1,
        Outcome::Retry {
            error: "offline".into(),
            retry_after_ms: None,
        },
        30_100,
        0.0,
    )
    .unwrap();
    let e = o.get(1).unwrap();
    assert_eq!((e.attempts, e.not_before_ms), (2, 31_100));
    assert_eq!(e.error.as_deref(), Some("offline"));
}

#[test]
fn a_conflict_holds_its_entity_until_the_user_decides() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "menu:pho", Some(7));
    queue(&mut o, 2, "menu:pho", Some(7));
    queue(&mut o, 3, "cart:alice", None);
    o.start_sending(1, 0).unwrap();
    let theirs = Theirs {
        version: Some(9),
        body: Some(r#"{"price":1200}"#.into()),
    };
    o.settle(1, Outcome::Conflict(theirs.clone()), 0, 0.0)
        .unwrap();
    assert_eq!(o.ready(0), vec![3], "only the other entity moves on");
    assert_eq!(o.inbox().map(|e| e.id).collect::<Vec<_>>(), vec![1]);
    assert_eq!(o.get(1).unwrap().theirs, Some(theirs));

    o.resolve(1, Resolution::KeepMine, 5).unwrap();
    assert_eq!(o.get(1).unwrap().base_version, Some(9));
    assert_eq!(o.get(2).unwrap().base_version, Some(9));
    assert_eq!(o.get(1).unwrap().idempotency_key, "key-1");
    assert_eq!(o.ready(5), vec![1, 3]);
    assert!(o.resolve(1, Resolution::TakeTheirs, 5).is_err());
}

#[test]
fn taking_theirs_or_editing_end_as_promised() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "menu:pho", Some(7));
    queue(&mut o, 2, "menu:bun", Some(2));
    for id in [1, 2] {
        o.start_sending(id, 0).unwrap();
        o.settle(
            id,
            Outcome::Conflict(Theirs {
                version: Some(10 + id as i64),
                body: None,
            }),
            0,
            0.0,
        )
        .unwrap();
    }
    o.resolve(1, Resolution::TakeTheirs, 1).unwrap();
    o.resolve(
        2,
        Resolution::Edit {
            body: Some(r#"{"price":900}"#.into()),
        },
        1,
    )
    .unwrap();
    let changes = o.take_changed();
    assert!(
        changes.contains(&Change::Delete(1)),
        "theirs stands: mine is gone"
    );
    let edited = o.get(2).unwrap();
    assert_eq!(edited.command.body.as_deref(), Some(r#"{"price":900}"#));
    assert_eq!(
        (edited.state, edited.base_version),
        (EntryState::Pending, Some(12))
    );
}

#[test]
fn a_rejection_is_kept_with_its_message_and_does_not_hold_the_entity() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart:alice", None);
    queue(&mut o, 2, "cart:alice", None);
    o.start_sending(1, 0).unwrap();
    o.settle(
        1,
        Outcome::Rejected {
            status: 422,
            message: "quantity: at most 99".into(),
        },
        0,
        0.0,
    )
    .unwrap();
    assert_eq!(o.ready(0), vec![2]);
    let rejected = o.get(1).unwrap();
    assert_eq!(rejected.state, EntryState::Rejected);
    assert_eq!(
        rejected.error.as_deref(),
        Some("HTTP 422: quantity: at most 99")
    );
    o.retry(1, 1).unwrap();
    assert_eq!(o.ready(1), vec![1], "retried, it is the cart's head again");
    o.discard(1).unwrap();
    assert_eq!(o.ready(1), vec![2]);
}

#[test]
fn a_send_cut_short_by_a_crash_is_pending_again() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart:alice", None);
    o.start_sending(1, 0).unwrap();
    let stored: Vec<Entry> = o.entries().cloned().collect();
    let mut back = Outbox::recover(stored);
    assert_eq!(back.get(1).unwrap().state, EntryState::Pending);
    assert_eq!(back.ready(0), vec![1]);
    assert!(matches!(&back.take_changed()[..], [Change::Put(e)] if e.id == 1));
}

#[test]
fn entries_survive_a_round_trip_through_json() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart:alice", Some(2));
    let e = o.get(1).unwrap().clone();
    let text = serde_json::to_string(&e).unwrap();
    assert!(text.contains(r#""state":"pending""#), "{text}");
    assert_eq!(serde_json::from_str::<Entry>(&text).unwrap(), e);
}

/// One step of a random history: the client's operations, the network's failures, crashes.
#[derive(Clone, Debug)]
enum Step {
    Enqueue {
        entity: u8,
    },
    Send {
        pick: u8,
    },
    /// The server applies the command and answers; the answer may be lost.
    Deliver {
        pick: u8,
        answer_lost: bool,
    },
    /// The request never reaches the server.
    Fail {
        pick: u8,
    },
    /// Another writer changes an entity on the server, so the next send conflicts.
    Interfere {
        entity: u8,
    },
    Resolve {
        pick: u8,
        keep: bool,
    },
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..3).prop_map(|entity| Step::Enqueue { entity }),
        3 => any::<u8>().prop_map(|pick| Step::Send { pick }),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(pick, answer_lost)| Step::Deliver { pick, answer_lost }),
        1 => any::<u8>().prop_map(|pick| Step::Fail { pick }),
        1 => (0u8..3).prop_map(|entity| Step::Interfere { entity }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pick, keep)| Step::Resolve { pick, keep }),
        1 => Just(Step::Crash),
    ]
}

/// The BFF as far as the outbox can tell: versioned entities, `If-Match`, and idempotency keys
/// recorded with accepted commands only.
#[derive(Default)]
struct Server {
    versions: BTreeMap<String, i64>,
    /// Idempotency key → the version its command produced.
    accepted: BTreeMap<String, i64>,
    /// Per entity, the ids applied, in order.
    applied: BTreeMap<String, Vec<u64>>,
}

impl Server {
    fn handle(&mut self, e: &Entry) -> Outcome {
        self.command(e, e.base_version).outcome
    }

    /// One command, sent with `if_match`.
    fn command(&mut self, e: &Entry, if_match: Option<i64>) -> Answer {
        if let Some(v) = self.accepted.get(&e.idempotency_key) {
            // A replay: the stored answer, no second effect.
            return Answer {
                outcome: applied(*v),
                replayed: true,
            };
        }
        let current = *self.versions.get(&e.entity).unwrap_or(&1);
        if if_match.is_some_and(|b| b != current) {
            return Outcome::Conflict(Theirs {
                version: Some(current),
                body: None,
            })
            .into();
        }
        self.versions.insert(e.entity.clone(), current + 1);
        self.accepted.insert(e.idempotency_key.clone(), current + 1);
        self.applied.entry(e.entity.clone()).or_default().push(e.id);
        applied(current + 1).into()
    }
}

/// A time after every backoff of the history (which runs at time 0).
const LATER: u64 = 1 << 40;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn random_histories_lose_nothing_duplicate_nothing_and_keep_order(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let mut o = Outbox::default();
        let mut server = Server::default();
        let mut next_id = 1u64;
        let mut discarded = BTreeSet::new();
        let mut in_flight: BTreeSet<u64> = BTreeSet::new();
        let mut known = Confirmed::new();
        let pick = |ids: &[u64], p: u8| (!ids.is_empty()).then(|| ids[p as usize % ids.len()]);
        for s in steps {
            match s {
                Step::Enqueue { entity } => {
                    let entity = format!("e{entity}");
                    let base = *known.get_or_insert_with(entity.clone(), || 1);
                    queue(&mut o, next_id, &entity, Some(base));
                    next_id += 1;
                }
                Step::Send { pick: p } => {
                    if let Some(id) = pick(&o.ready(LATER), p) {
                        o.start_sending(id, LATER).unwrap();
                        in_flight.insert(id);
                    }
                }
                Step::Deliver { pick: p, answer_lost } => {
                    let ids: Vec<u64> = in_flight.iter().copied().collect();
                    if let Some(id) = pick(&ids, p) {
                        in_flight.remove(&id);
                        let outcome = server.handle(o.get(id).unwrap());
                        let outcome = if answer_lost {
                            Outcome::Retry { error: "no answer".into(), retry_after_ms: None }
                        } else {
                            outcome
                        };
                        o.settle(id, outcome, 0, 0.5).unwrap();
                    }
                }
                Step::Fail { pick: p } => {
                    let ids: Vec<u64> = in_flight.iter().copied().collect();
                    if let Some(id) = pick(&ids, p) {
                        in_flight.remove(&id);
                        o.settle(id, Outcome::Retry { error: "offline".into(), retry_after_ms: None }, 0, 0.5).unwrap();
                    }
                }
                Step::Interfere { entity } => {
                    let v = server.versions.entry(format!("e{entity}")).or_insert(1);
                    *v += 1;
                }
                Step::Resolve { pick: p, keep } => {
                    let ids: Vec<u64> = o.inbox().map(|e| e.id).collect();
                    if let Some(id) = pick(&ids, p) {
                        if keep {
                            o.resolve(id, Resolution::KeepMine, 0).unwrap();
                        } else {
                            o.resolve(id, Resolution::TakeTheirs, 0).unwrap();
                            discarded.insert(id);
                        }
                    }
                }
                Step::Crash => {
                    // Only what was written survives; answers in flight are lost.
                    o.take_changed();
                    let stored: Vec<Entry> = o.entries().cloned().collect();
                    o = Outbox::recover(stored);
                    in_flight.clear();
                }
            }
            o.take_changed();
            // At most one command per entity is ever on the wire.
            let mut sending = BTreeSet::new();
            for e in o.entries().filter(|e| e.state == EntryState::Sending) {
                prop_assert!(sending.insert(e.entity.clone()), "two sends on {}", e.entity);
            }
        }
        // Drain: the network comes back and the user keeps every conflicting change.
        for _ in 0..10_000 {
            for id in in_flight.clone() {
                o.settle(id, Outcome::Retry { error: "lost".into(), retry_after_ms: None }, 0, 0.0).unwrap();
            }
            in_flight.clear();
            let inbox: Vec<u64> = o.inbox().map(|e| e.id).collect();
            for id in inbox {
                o.resolve(id, Resolution::KeepMine, 0).unwrap();
            }
            let ready = o.ready(LATER);
            if ready.is_empty() && o.pending_count() == 0 {
                break;
            }
            for id in ready {
                o.start_sending(id, LATER).unwrap();
                let outcome = server.handle(o.get(id).unwrap());
                o.settle(id, outcome, 0, 0.0).unwrap();
            }
            o.take_changed();
        }
        prop_assert_eq!(o.entries().count(), 0, "the outbox drains");
        // Every command not discarded by the user took effect exactly once, in queue order
        // per entity.
        let mut all_applied: Vec<u64> = Vec::new();
        for ids in server.applied.values() {
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", ids);
            all_applied.extend(ids);
        }
        all_applied.sort_unstable();
        let expected: Vec<u64> = (1..next_id).filter(|id| !discarded.contains(id)).collect();
        let applied_set: BTreeSet<u64> = all_applied.iter().copied().collect();
        prop_assert_eq!(applied_set.len(), all_applied.len(), "an effect applied twice");
        // A discarded command may have taken effect before its answer was lost: the user
        // then saw a conflict only if a later send was refused, which cannot happen for an
        // applied key. So discarded ones are exactly the ones without effect.
        prop_assert_eq!(all_applied, expected);
    }
}

#[test]
fn the_status_bar_says_what_waits_and_what_needs_the_user() {
    let s = |pending, inbox, syncing| Summary {
        pending,
        inbox,
        syncing,
    };
    assert_eq!(s(0, 0, false).label(), None);
    assert_eq!(s(0, 0, true).label(), None);
    assert_eq!(
        s(1, 0, false).label().as_deref(),
        Some("1 change not sent yet")
    );
    assert_eq!(s(3, 0, true).label().as_deref(), Some("Sending 3 changes…"));
    assert_eq!(
        s(2, 1, false).label().as_deref(),
        Some("2 changes not sent yet · 1 needs your attention")
    );
    assert_eq!(
        s(0, 2, false).label().as_deref(),
        Some("2 need your attention")
    );
    assert!(s(0, 0, false).drained_since(&s(4, 0, true)));
    assert!(
        !s(0, 1, false).drained_since(&s(4, 0, true)),
        "a conflict is not \"all saved\""
    );
    assert!(!s(0, 0, false).drained_since(&s(0, 0, true)));
    assert!(s(3, 0, false).only_queued_since(&s(2, 0, false)));
    assert!(
        !s(2, 0, false).only_queued_since(&s(3, 0, false)),
        "one confirmed"
    );
    assert!(
        !s(3, 0, true).only_queued_since(&s(2, 0, false)),
        "a replay started, so one may be confirmed"
    );
    assert!(
        !s(3, 1, false).only_queued_since(&s(3, 0, false)),
        "one refused while another was queued"
    );
    assert!(!s(2, 0, false).only_queued_since(&s(2, 0, false)));
}

/// `subject`'s command on `entity` whose overlay sets `/{field}` to `n` on `/api/cart`.
fn shown_command(key: &str, entity: &str, subject: &str, field: &str, n: i64) -> NewEntry {
    NewEntry {
        idempotency_key: key.into(),
        entity: format!("{entity}@{subject}"),
        subject: subject.into(),
        base_version: Some(1),
        command: cmd("/api/cart/items/x"),
        label: String::new(),
        overlays: vec![tessera_contract::overlay::Overlay {
            query: "/api/cart".into(),
            edit: set(field, n),
        }],
    }
}

fn set(field: &str, n: i64) -> tessera_contract::overlay::Edit {
    tessera_contract::overlay::Edit::Set {
        pointer: format!("/{field}"),
        value: n.into(),
    }
}

#[test]
fn accepted_commands_show_and_count_until_the_outbox_holds_them() {
    use tessera_contract::overlay::Edit;
    let new = |key: &str, subject: &str, n: i64| shown_command(key, "cart", subject, "n", n);
    let mut outbox = Outbox::default();
    outbox.enqueue(1, new("k1", "alice", 1), 0);
    let accepted = vec![new("k2", "alice", 2), new("k3", "bob", 3)];
    let shown = |o: &Outbox, q: &str| -> Vec<Edit> {
        o.overlays_with(&accepted, "alice", q).cloned().collect()
    };
    assert_eq!(
        shown(&outbox, "/api/cart"),
        vec![set("n", 1), set("n", 2)],
        "after the saved ones, the user's own"
    );
    assert!(shown(&outbox, "/api/orders").is_empty());
    assert_eq!(outbox.summary_with(&accepted).pending, 3);
    // Saved: held by the outbox, it shows and counts once.
    outbox.enqueue(2, new("k2", "alice", 2), 0);
    assert_eq!(shown(&outbox, "/api/cart"), vec![set("n", 1), set("n", 2)]);
    assert_eq!(outbox.summary_with(&accepted).pending, 3);
    assert_eq!(outbox.summary_with(&[]).pending, 2);
}

#[test]
fn the_queries_applied_commands_change_are_handed_out_once() {
    let mut outbox = Outbox::default();
    for id in 1..=3u64 {
        let new = shown_command(&format!("k{id}"), &format!("item-{id}"), "alice", "n", 1);
        outbox.enqueue(id, new, 0);
        outbox.start_sending(id, 0).unwrap();
    }
    let applied = Outcome::Applied { version: Some(2) };
    outbox.settle(2, applied.clone(), 0, 0.0).unwrap();
    let refused = Outcome::Rejected {
        status: 422,
        message: "no".into(),
    };
    outbox.settle(1, refused, 0, 0.0).unwrap();
    let cart = ("alice".to_string(), "/api/cart".to_string());
    assert_eq!(
        outbox
            .take_confirmed_queries()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![cart.clone()],
        "only what the server applied"
    );
    assert!(
        outbox.take_confirmed_queries().is_empty(),
        "handed out once"
    );
    outbox.settle(3, applied, 0, 0.0).unwrap();
    assert_eq!(outbox.take_confirmed_queries().len(), 1);
}

#[test]
fn overlays_show_only_the_subjects_commands_that_still_wait() {
    use tessera_contract::overlay::{Edit, Overlay};
    let edit = |n: i64| Edit::Set {
        pointer: "/n".into(),
        value: n.into(),
    };
    let mut outbox = Outbox::default();
    for (id, subject, query) in [
        (1, "alice", "/api/cart"),
        (2, "bob", "/api/cart"),
        (3, "alice", "/api/orders"),
        (4, "alice", "/api/cart"),
    ] {
        let mut new = NewEntry {
            idempotency_key: format!("k{id}"),
            entity: format!("cart@{subject}"),
            subject: subject.into(),
            base_version: Some(1),
            command: cmd("/api/cart/items/x"),
            label: String::new(),
            overlays: vec![Overlay {
                query: query.into(),
                edit: edit(id as i64),
            }],
        };
        new.entity.push_str(&id.to_string());
        outbox.enqueue(id, new, 0);
    }
    let shown =
        |o: &Outbox| -> Vec<Edit> { o.overlays_for("alice", "/api/cart").cloned().collect() };
    assert_eq!(shown(&outbox), vec![edit(1), edit(4)]);
    outbox.start_sending(1, 0).unwrap();
    assert_eq!(
        shown(&outbox),
        vec![edit(1), edit(4)],
        "being sent still waits"
    );
    outbox
        .settle(1, Outcome::Applied { version: Some(2) }, 0, 0.0)
        .unwrap();
    assert_eq!(
        shown(&outbox),
        vec![edit(4)],
        "confirmed: the server's answer shows"
    );
    outbox.start_sending(4, 0).unwrap();
    outbox
        .settle(
            4,
            Outcome::Rejected {
                status: 422,
                message: "no".into(),
            },
            0,
            0.0,
        )
        .unwrap();
    assert_eq!(
        shown(&outbox),
        Vec::<Edit>::new(),
        "refused: it will not happen"
    );
}

#[test]
fn an_answer_requested_before_a_confirmation_keeps_the_confirmed_edit() {
    use tessera_contract::overlay::{Edit, Overlay};
    let mut outbox = Outbox::default();
    for id in [1, 2] {
        let new = NewEntry {
            idempotency_key: format!("k{id}"),
            entity: format!("item-{id}@alice"),
            subject: "alice".into(),
            base_version: Some(1),
            command: cmd("/api/items"),
            label: String::new(),
            overlays: vec![Overlay {
                query: "/api/items".into(),
                edit: Edit::Set {
                    pointer: format!("/{id}"),
                    value: id.into(),
                },
            }],
        };
        outbox.enqueue(id, new, 0);
    }
    let before = outbox.clone();
    // While the request is out, 1 is confirmed (let go) and 2 is refused.
    outbox.start_sending(1, 0).unwrap();
    outbox.settle(1, applied(2), 0, 0.0).unwrap();
    outbox.start_sending(2, 0).unwrap();
    let refused = Outcome::Rejected {
        status: 422,
        message: "no".into(),
    };
    outbox.settle(2, refused, 0, 0.0).unwrap();
    let pointers = |o: &Outbox| -> Vec<String> {
        o.overlays_for("alice", "/api/items")
            .map(|e| match e {
                Edit::Set { pointer, .. } => pointer.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(pointers(&outbox.clone()), Vec::<String>::new());
    assert_eq!(
        pointers(&outbox.since(&before)),
        vec!["/1".to_string()],
        "the confirmed edit may not be in the answer yet; the refused one never will be"
    );
}

#[test]
fn reconnecting_ends_the_backoff_of_entries_waiting_for_the_network() {
    let mut outbox = Outbox::default();
    queue(&mut outbox, 1, "cart", Some(1));
    for attempt in 0..6 {
        let now = outbox.next_wake_ms().unwrap();
        outbox.start_sending(1, now).unwrap();
        let retry = Outcome::Retry {
            error: format!("offline {attempt}"),
            retry_after_ms: None,
        };
        outbox.settle(1, retry, now, 0.5).unwrap();
    }
    let backed_off = outbox.next_wake_ms().unwrap();
    assert!(outbox.ready(backed_off - 1).is_empty());
    outbox.take_changed();
    let failed_at = outbox.get(1).unwrap().updated_at_ms;
    outbox.wake(failed_at - 1);
    assert!(
        outbox.ready(backed_off - 1).is_empty(),
        "a failure after the reconnect (a run still going then) keeps its backoff"
    );
    outbox.wake(failed_at);
    assert_eq!(outbox.ready(0), vec![1]);
    assert_eq!(outbox.take_changed().len(), 1, "the wake is written back");
}

#[test]
fn a_command_read_before_an_own_confirmation_follows_it_onto_the_new_version() {
    // The app read the cart at version 3 (with command 1 still shown as waiting), but command
    // 1 was confirmed and removed before command 2 was queued: 2 must not conflict with 1.
    let mut outbox = Outbox::default();
    queue(&mut outbox, 1, "cart", Some(3));
    outbox.start_sending(1, 0).unwrap();
    outbox
        .settle(1, Outcome::Applied { version: Some(4) }, 0, 0.0)
        .unwrap();
    outbox.take_changed();
    let applied = outbox
        .take_applied()
        .expect("the step 3 → 4 is written back");
    assert_eq!(applied["cart"], vec![(3, 4)]);
    assert_eq!(outbox.take_applied(), None);

    // As the store would load it again.
    let mut outbox = Outbox::load(Vec::new()).with_applied(applied);
    queue(&mut outbox, 2, "cart", Some(3));
    assert_eq!(outbox.get(2).unwrap().base_version, Some(4));
    outbox.start_sending(2, 0).unwrap();
    outbox
        .settle(2, Outcome::Applied { version: Some(5) }, 0, 0.0)
        .unwrap();
    // Two steps behind, other entities and unknown versions.
    queue(&mut outbox, 3, "cart", Some(3));
    assert_eq!(outbox.get(3).unwrap().base_version, Some(5));
    queue(&mut outbox, 4, "menu", Some(3));
    assert_eq!(outbox.get(4).unwrap().base_version, Some(3));
    queue(&mut outbox, 5, "cart", Some(9));
    assert_eq!(outbox.get(5).unwrap().base_version, Some(9));
}

#[test]
fn an_answer_settles_only_the_command_that_was_sent() {
    let mut outbox = Outbox::default();
    queue(&mut outbox, 1, "cart", Some(0));
    outbox.start_sending(1, 1_000).unwrap();
    // Entry 1 now holds another command than the one in flight (its id was handed out
    // again): the answer to key-1's send must not confirm it.
    let mut other = outbox.get(1).unwrap().clone();
    other.idempotency_key = "key-other".into();
    outbox.insert_stored(other);
    assert_eq!(
        outbox.settle_sent(1, "key-1", applied(1), 1_001, 0.0),
        Err(OutboxError::NotTheSentCommand(1))
    );
    assert_eq!(outbox.get(1).unwrap().state, EntryState::Sending);
    // The answer for the command that is there settles it.
    outbox
        .settle_sent(1, "key-other", applied(1), 1_002, 0.0)
        .unwrap();
    assert_eq!(outbox.get(1).unwrap().state, EntryState::Done);
}

// Batches.

fn conflict(version: i64) -> Outcome {
    Outcome::Conflict(Theirs {
        version: Some(version),
        body: Some(format!(r#"{{"version":{version}}}"#)),
    })
}

fn rejected() -> Outcome {
    Outcome::Rejected {
        status: 422,
        message: "no".into(),
    }
}

fn retry() -> Outcome {
    Outcome::Retry {
        error: "HTTP 503: busy".into(),
        retry_after_ms: None,
    }
}

/// The ids of a batch and the `If-Match` each carries.
fn sent(batch: &Batch) -> Vec<(u64, Option<i64>)> {
    batch
        .items
        .iter()
        .map(|i| (i.entry.id, i.if_match))
        .collect()
}

fn claim(o: &mut Outbox, confirmed: &Confirmed) -> Batch {
    o.claim_batch(0, BATCH_MAX, &VecSet::new(), confirmed)
        .expect("something to send")
}

fn settle_all(o: &mut Outbox, batch: &Batch, outcomes: Vec<Outcome>, confirmed: &mut Confirmed) {
    let errors = o.settle_batch(
        &batch.items,
        outcomes.into_iter().map(Answer::from).collect(),
        0,
        || 0.0,
        confirmed,
    );
    assert_eq!(errors, vec![]);
}

fn state(o: &Outbox, id: u64) -> EntryState {
    o.get(id).map_or(EntryState::Done, |e| e.state)
}

#[test]
fn only_put_commands_to_the_bff_with_an_object_body_ride_in_a_batch() {
    let c = |method: &str, path: &str, body: Option<&str>| Command {
        method: method.into(),
        path: path.into(),
        body: body.map(str::to_owned),
    };
    assert!(c("PUT", "/api/cart/items/pho-bo", Some(r#"{"quantity":2}"#)).batchable());
    assert!(c("PUT", "/api/cart/checkout/o-1", None).batchable());
    assert!(!c("POST", "/api/cart/items/pho-bo", Some("{}")).batchable());
    assert!(!c("PUT", "/bff/cart/items/pho-bo", Some("{}")).batchable());
    assert!(!c("PUT", "/api/cart/items/pho-bo?x=1", Some("{}")).batchable());
    assert!(!c("PUT", "/api/cart/items/pho-bo", Some("[1]")).batchable());
    assert!(!c("PUT", "/api/cart/items/pho-bo", Some("{")).batchable());
}

#[test]
fn a_batch_takes_each_entitys_run_in_queue_order_chained_on_the_confirmed_version() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart", Some(3));
    queue(&mut o, 2, "menu", Some(7));
    queue(&mut o, 3, "cart", Some(3));
    queue(&mut o, 4, "menu", Some(7));
    queue(&mut o, 5, "cart", Some(3));
    // No version of the run yet: one command per entity, on its base version.
    let mut first = o.clone();
    let batch = claim(&mut first, &Confirmed::new());
    assert_eq!(batch.subject, "alice");
    assert_eq!(sent(&batch), vec![(1, Some(3)), (2, Some(7))]);
    assert!(batch
        .items
        .iter()
        .all(|i| i.entry.state == EntryState::Sending && i.entry.attempts == 1));
    // The cart's version is the one the server last answered: its run follows, each on the
    // version the one before produces; the menu's is not, so it sends one.
    let confirmed = Confirmed::from([("cart".to_string(), 3), ("menu".to_string(), 6)]);
    let batch = claim(&mut o, &confirmed);
    assert_eq!(
        sent(&batch),
        vec![(1, Some(3)), (2, Some(7)), (3, Some(4)), (5, Some(5))]
    );
    assert_eq!(o.ready(0), Vec::<u64>::new(), "nothing else may go");
    assert_eq!(
        o.claim_batch(0, BATCH_MAX, &VecSet::new(), &confirmed),
        None
    );
}

#[test]
fn an_entitys_run_ends_at_an_entry_that_cannot_go_now() {
    let confirmed = Confirmed::from([("cart".to_string(), 3)]);
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart", Some(3));
    queue(&mut o, 2, "cart", Some(3));
    queue(&mut o, 3, "cart", Some(9)); // based on another version: waits for 2's answer
    queue(&mut o, 4, "cart", Some(3));
    assert_eq!(
        sent(&claim(&mut o.clone(), &confirmed)),
        vec![(1, Some(3)), (2, Some(4))]
    );

    // A rejected entry had no effect: the run goes past it, as `ready` does.
    let mut o = Outbox::default();
    for id in 1..=3 {
        queue(&mut o, id, "cart", Some(3));
    }
    o.start_sending(2, 0).unwrap_err();
    o.start_sending(1, 0).unwrap();
    o.settle(1, rejected(), 0, 0.0).unwrap();
    assert_eq!(
        sent(&claim(&mut o.clone(), &confirmed)),
        vec![(2, Some(3)), (3, Some(4))]
    );

    // Waiting out a backoff, another user's command, or one that cannot ride in a batch.
    let mut o = Outbox::default();
    for id in 1..=4 {
        queue(&mut o, id, "cart", Some(3));
    }
    o.entries.get_mut(&2).unwrap().not_before_ms = 10;
    assert_eq!(sent(&claim(&mut o.clone(), &confirmed)), vec![(1, Some(3))]);
    o.entries.get_mut(&2).unwrap().not_before_ms = 0;
    o.entries.get_mut(&3).unwrap().subject = "bob".into();
    assert_eq!(
        sent(&claim(&mut o.clone(), &confirmed)),
        vec![(1, Some(3)), (2, Some(4))]
    );
    o.entries.get_mut(&3).unwrap().subject = "alice".into();
    o.entries.get_mut(&3).unwrap().command.method = "POST".into();
    assert_eq!(
        sent(&claim(&mut o.clone(), &confirmed)),
        vec![(1, Some(3)), (2, Some(4))]
    );

    // At most `max`, in queue order.
    let mut o = Outbox::default();
    for id in 1..=4 {
        queue(&mut o, id, "cart", Some(3));
    }
    let batch = o.claim_batch(0, 2, &VecSet::new(), &confirmed).unwrap();
    assert_eq!(sent(&batch), vec![(1, Some(3)), (2, Some(4))]);
    assert_eq!(state(&o, 3), EntryState::Pending);
}

#[test]
fn a_batch_carries_one_users_commands_and_skips_busy_users() {
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart@alice", Some(1));
    for (id, entity) in [(2, "cart@bob"), (3, "menu@bob")] {
        queue(&mut o, id, entity, Some(1));
        o.entries.get_mut(&id).unwrap().subject = "bob".into();
    }
    queue(&mut o, 4, "menu@alice", Some(1));
    let none = Confirmed::new();
    let alice = claim(&mut o, &none);
    assert_eq!(
        (alice.subject.as_str(), sent(&alice)),
        ("alice", vec![(1, Some(1)), (4, Some(1))])
    );
    let busy = VecSet::from_iter(["alice".to_string()]);
    queue(&mut o, 5, "other@alice", Some(1));
    let bob = o.claim_batch(0, BATCH_MAX, &busy, &none).unwrap();
    assert_eq!(
        (bob.subject.as_str(), sent(&bob)),
        ("bob", vec![(2, Some(1)), (3, Some(1))])
    );
    let busy = VecSet::from_iter(["alice".to_string(), "bob".to_string()]);
    assert_eq!(o.claim_batch(0, BATCH_MAX, &busy, &none), None);
}

/// Five cart commands on version 3, the first three of them in a batch.
fn cart_batch() -> (Outbox, Batch, Confirmed) {
    let mut o = Outbox::default();
    for id in 1..=5 {
        queue(&mut o, id, "cart", Some(3));
    }
    let confirmed = Confirmed::from([("cart".to_string(), 3)]);
    let batch = o.claim_batch(0, 3, &VecSet::new(), &confirmed).unwrap();
    assert_eq!(sent(&batch), vec![(1, Some(3)), (2, Some(4)), (3, Some(5))]);
    (o, batch, confirmed)
}

#[test]
fn an_applied_batch_settles_as_one_at_a_time_sending_would() {
    let (mut o, batch, mut confirmed) = cart_batch();
    settle_all(
        &mut o,
        &batch,
        vec![applied(4), applied(5), applied(6)],
        &mut confirmed,
    );
    for id in 1..=3 {
        assert_eq!(state(&o, id), EntryState::Done);
    }
    // The rest follow the version the batch ended on, and chain on it next.
    assert_eq!(o.get(4).unwrap().base_version, Some(6));
    assert_eq!(o.get(5).unwrap().base_version, Some(6));
    assert_eq!(confirmed["cart"], 6);
    assert_eq!(
        o.take_applied().unwrap()["cart"],
        vec![(3, 4), (4, 5), (5, 6)]
    );
    o.take_changed();
    assert_eq!(
        sent(&claim(&mut o, &confirmed)),
        vec![(4, Some(6)), (5, Some(7))]
    );
}

#[test]
fn a_conflict_in_a_batch_goes_to_the_inbox_and_the_commands_behind_it_wait() {
    let (mut o, batch, mut confirmed) = cart_batch();
    // Someone else moved the cart to 7: the first is a conflict, and the server refused the
    // two behind it, sent on 4 and 5, as stale.
    settle_all(
        &mut o,
        &batch,
        vec![conflict(7), conflict(7), conflict(7)],
        &mut confirmed,
    );
    assert_eq!(state(&o, 1), EntryState::Conflict);
    assert_eq!(o.inbox().count(), 1, "one conflict, not three");
    for id in 2..=3 {
        let e = o.get(id).unwrap();
        assert_eq!(
            (e.state, e.attempts, e.not_before_ms),
            (EntryState::Pending, 0, 0)
        );
        assert_eq!(e.base_version, Some(3), "as queued");
    }
    assert_eq!(o.pending_count(), 4);
    assert!(o.ready(0).is_empty(), "the conflict holds the cart");
    assert_eq!(
        o.claim_batch(0, BATCH_MAX, &VecSet::new(), &confirmed),
        None
    );
    // Keep mine: all of them follow the server's version, in order.
    o.resolve(1, Resolution::KeepMine, 0).unwrap();
    let confirmed = Confirmed::from([("cart".to_string(), 7)]);
    assert_eq!(
        sent(&claim(&mut o, &confirmed)),
        vec![
            (1, Some(7)),
            (2, Some(8)),
            (3, Some(9)),
            (4, Some(10)),
            (5, Some(11))
        ]
    );
}

#[test]
fn a_rejection_in_a_batch_does_not_hold_the_commands_behind_it() {
    let (mut o, batch, mut confirmed) = cart_batch();
    // The first had no effect, so the cart is still at 3: the second, sent on 4, was stale.
    settle_all(
        &mut o,
        &batch,
        vec![rejected(), conflict(3), conflict(3)],
        &mut confirmed,
    );
    assert_eq!(state(&o, 1), EntryState::Rejected);
    assert_eq!(state(&o, 2), EntryState::Pending);
    assert_eq!(state(&o, 3), EntryState::Pending);
    assert_eq!(o.inbox().count(), 1);
    // They go next on the version they were based on, as they would have alone.
    assert_eq!(o.ready(0), vec![2]);
    let confirmed = Confirmed::from([("cart".to_string(), 3)]);
    assert_eq!(
        sent(&claim(&mut o, &confirmed)),
        vec![(2, Some(3)), (3, Some(4)), (4, Some(5)), (5, Some(6))]
    );
}

#[test]
fn a_retry_in_a_batch_holds_the_commands_behind_it_until_it_goes_again() {
    let (mut o, batch, mut confirmed) = cart_batch();
    settle_all(
        &mut o,
        &batch,
        vec![retry(), conflict(3), conflict(3)],
        &mut confirmed,
    );
    let first = o.get(1).unwrap();
    assert_eq!(first.state, EntryState::Pending);
    assert!(first.not_before_ms > 0, "backs off");
    assert_eq!(state(&o, 2), EntryState::Pending);
    assert_eq!(o.get(2).unwrap().not_before_ms, 0);
    assert!(
        o.ready(0).is_empty(),
        "the cart waits for its first command"
    );
    assert_eq!(o.ready(LATER), vec![1]);
}

#[test]
fn a_batch_without_an_answer_is_retried_whole() {
    let (mut o, batch, mut confirmed) = cart_batch();
    settle_all(
        &mut o,
        &batch,
        vec![retry(), retry(), retry()],
        &mut confirmed,
    );
    for id in 1..=3 {
        let e = o.get(id).unwrap();
        assert_eq!((e.state, e.attempts), (EntryState::Pending, 1));
        assert!(e.not_before_ms > 0);
        assert_eq!(e.base_version, Some(3));
    }
    assert_eq!(confirmed.get("cart"), None, "out of touch");
    // Sent again: the first alone, until an answer says where the cart is; the server
    // replays what it applied of them.
    assert_eq!(
        sent(&o.claim_batch(LATER, 3, &VecSet::new(), &confirmed).unwrap()),
        vec![(1, Some(3))]
    );
}

#[test]
fn a_command_applied_behind_a_refused_one_is_applied() {
    // The hazard a version number cannot rule out: someone else moved the cart from 3 to 4
    // in the moment before the batch; 1 is a conflict, and 2, sent on 4, is applied.
    let (mut o, batch, mut confirmed) = cart_batch();
    settle_all(
        &mut o,
        &batch,
        vec![conflict(4), applied(5), applied(6)],
        &mut confirmed,
    );
    assert_eq!(state(&o, 1), EntryState::Conflict);
    assert_eq!(state(&o, 2), EntryState::Done, "the server applied it");
    assert_eq!(state(&o, 3), EntryState::Done);
    assert_eq!(o.take_applied().unwrap()["cart"], vec![(4, 5), (5, 6)]);
    assert_eq!(confirmed["cart"], 6);
    // The rest still wait behind the conflict, and follow the user's decision on it.
    assert!(o.ready(0).is_empty());
    assert_eq!(o.get(4).unwrap().base_version, Some(3));
    o.resolve(1, Resolution::KeepMine, 0).unwrap();
    assert_eq!(o.get(4).unwrap().base_version, Some(4));
}

#[test]
fn a_command_applied_on_another_version_than_expected_ends_the_chain() {
    // A checkout answers the order's version (1), not the cart's.
    let (mut o, batch, mut confirmed) = cart_batch();
    settle_all(
        &mut o,
        &batch,
        vec![applied(4), applied(1), conflict(5)],
        &mut confirmed,
    );
    assert_eq!(state(&o, 1), EntryState::Done);
    assert_eq!(state(&o, 2), EntryState::Done);
    let third = o.get(3).unwrap();
    assert_eq!((third.state, third.attempts), (EntryState::Pending, 0));
    assert_eq!(
        third.base_version,
        Some(1),
        "follows what the server said, as alone"
    );
}

#[test]
fn replayed_answers_say_nothing_about_the_entity_now() {
    let (mut o, batch, _) = cart_batch();
    let mut confirmed = Confirmed::new();
    let answers = [applied(4), applied(5), applied(6)]
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| Answer {
            outcome,
            replayed: i < 2,
        })
        .collect();
    assert_eq!(
        o.settle_batch(&batch.items, answers, 0, || 0.0, &mut confirmed),
        vec![]
    );
    assert_eq!(confirmed["cart"], 6);
    let (mut o, batch, _) = cart_batch();
    let mut confirmed = Confirmed::new();
    let answers = [applied(4), applied(5), applied(6)]
        .into_iter()
        .map(|outcome| Answer {
            outcome,
            replayed: true,
        })
        .collect();
    o.settle_batch(&batch.items, answers, 0, || 0.0, &mut confirmed);
    assert!(confirmed.is_empty());
    assert_eq!(o.get(4).unwrap().base_version, Some(6));
}

#[test]
fn a_batch_answer_settles_only_the_commands_that_were_sent() {
    let (mut o, batch, mut confirmed) = cart_batch();
    let mut other = o.get(2).unwrap().clone();
    other.idempotency_key = "key-other".into();
    o.insert_stored(other);
    let errors = o.settle_batch(
        &batch.items,
        vec![applied(4).into(), applied(5).into(), applied(6).into()],
        0,
        || 0.0,
        &mut confirmed,
    );
    assert_eq!(errors, vec![OutboxError::NotTheSentCommand(2)]);
    assert_eq!(state(&o, 1), EntryState::Done);
    assert_eq!(state(&o, 2), EntryState::Sending);
    assert_eq!(state(&o, 3), EntryState::Done);
}

#[test]
fn a_released_batch_goes_out_again_as_if_never_sent() {
    let (mut o, batch, _) = cart_batch();
    o.release_batch(&batch.items);
    for id in 1..=3 {
        let e = o.get(id).unwrap();
        assert_eq!(
            (e.state, e.attempts, e.not_before_ms),
            (EntryState::Pending, 0, 0)
        );
    }
    assert_eq!(o.ready(0), vec![1]);
}

/// What the server will do to the next command on an entity.
#[derive(Default)]
struct Faults {
    busy: VecSet<String>,
    /// Refused, and whether the version moves on anyway.
    refuse: BTreeMap<String, bool>,
    /// The commands refused so far.
    refused: BTreeSet<u64>,
}

/// One step of a random history of batches.
#[derive(Clone, Debug)]
enum BatchStep {
    Enqueue {
        entity: u8,
    },
    Claim {
        max: u8,
    },
    /// The server runs a batch in flight; its answer may be lost.
    Deliver {
        pick: u8,
        answer_lost: bool,
    },
    /// A batch never reaches the server.
    Fail {
        pick: u8,
    },
    /// Another writer changes an entity; the replayer's last answer for it is no longer
    /// the entity's version (the hazard of `claim_batch` is left to its own test).
    Interfere {
        entity: u8,
    },
    /// The database gives up on the next command on an entity (`503`).
    Busy {
        entity: u8,
    },
    /// The server refuses the next command on an entity (`4xx`), and may still move the
    /// entity's version on (checkout's `409 cart-changed`).
    Refuse {
        entity: u8,
        bump: bool,
    },
    Resolve {
        pick: u8,
        keep: bool,
    },
    Crash,
}

fn batch_step() -> impl Strategy<Value = BatchStep> {
    prop_oneof![
        4 => (0u8..3).prop_map(|entity| BatchStep::Enqueue { entity }),
        3 => (1u8..6).prop_map(|max| BatchStep::Claim { max }),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(pick, answer_lost)| BatchStep::Deliver { pick, answer_lost }),
        1 => any::<u8>().prop_map(|pick| BatchStep::Fail { pick }),
        1 => (0u8..3).prop_map(|entity| BatchStep::Interfere { entity }),
        1 => (0u8..3).prop_map(|entity| BatchStep::Busy { entity }),
        1 => (0u8..3, any::<bool>()).prop_map(|(entity, bump)| BatchStep::Refuse { entity, bump }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pick, keep)| BatchStep::Resolve { pick, keep }),
        1 => Just(BatchStep::Crash),
    ]
}

impl Server {
    /// A batch as `POST /api/batch` runs it: in order, each command on what the ones before
    /// it did.
    fn batch(&mut self, items: &[BatchItem], faults: &mut Faults) -> Vec<Answer> {
        items
            .iter()
            .map(|i| {
                let entity = &i.entry.entity;
                if self.accepted.contains_key(&i.entry.idempotency_key) {
                    return self.command(&i.entry, i.if_match);
                }
                if faults.busy.remove(entity) {
                    return retry().into();
                }
                if let Some(bump) = faults.refuse.remove(entity) {
                    if bump {
                        *self.versions.entry(entity.clone()).or_insert(1) += 1;
                    }
                    faults.refused.insert(i.entry.id);
                    return rejected().into();
                }
                self.command(&i.entry, i.if_match)
            })
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn random_batch_histories_lose_nothing_duplicate_nothing_and_keep_order(
        steps in proptest::collection::vec(batch_step(), 1..120)
    ) {
        let mut o = Outbox::default();
        let mut server = Server::default();
        let mut faults = Faults::default();
        let mut confirmed = Confirmed::new();
        let mut next_id = 1u64;
        let mut discarded = BTreeSet::new();
        let mut in_flight: Vec<Batch> = Vec::new();
        let mut known = Confirmed::new();
        let none = VecSet::new();
        let lost = |n: usize| vec![Answer::from(Outcome::Retry { error: "lost".into(), retry_after_ms: None }); n];
        for s in steps {
            match s {
                BatchStep::Enqueue { entity } => {
                    let entity = format!("e{entity}");
                    let base = *known.get_or_insert_with(entity.clone(), || 1);
                    queue(&mut o, next_id, &entity, Some(base));
                    next_id += 1;
                }
                BatchStep::Claim { max } => {
                    if let Some(b) = o.claim_batch(LATER, max as usize, &none, &confirmed) {
                        in_flight.push(b);
                    }
                }
                BatchStep::Deliver { pick, answer_lost } => {
                    if !in_flight.is_empty() {
                        let b = in_flight.remove(pick as usize % in_flight.len());
                        let mut answers = server.batch(&b.items, &mut faults);
                        if answer_lost {
                            answers = lost(b.items.len());
                        }
                        let errors = o.settle_batch(&b.items, answers, 0, || 0.5, &mut confirmed);
                        prop_assert_eq!(errors, vec![]);
                    }
                }
                BatchStep::Fail { pick } => {
                    if !in_flight.is_empty() {
                        let b = in_flight.remove(pick as usize % in_flight.len());
                        let errors = o.settle_batch(&b.items, lost(b.items.len()), 0, || 0.5, &mut confirmed);
                        prop_assert_eq!(errors, vec![]);
                    }
                }
                BatchStep::Interfere { entity } => {
                    let entity = format!("e{entity}");
                    let chained = in_flight.iter().any(|b| {
                        b.items.iter().filter(|i| i.entry.entity == entity).count() > 1
                    });
                    if chained {
                        // The moment `a_command_applied_behind_a_refused_one_is_applied`
                        // is about.
                        continue;
                    }
                    *server.versions.entry(entity.clone()).or_insert(1) += 1;
                    confirmed.remove(&entity);
                }
                BatchStep::Busy { entity } => {
                    faults.busy.insert(format!("e{entity}"));
                }
                BatchStep::Refuse { entity, bump } => {
                    faults.refuse.insert(format!("e{entity}"), bump);
                }
                BatchStep::Resolve { pick, keep } => {
                    let ids: Vec<u64> = o.inbox().map(|e| e.id).collect();
                    if !ids.is_empty() {
                        let id = ids[pick as usize % ids.len()];
                        if o.get(id).unwrap().state == EntryState::Rejected {
                            o.retry(id, 0).unwrap();
                        } else if keep {
                            o.resolve(id, Resolution::KeepMine, 0).unwrap();
                        } else {
                            o.resolve(id, Resolution::TakeTheirs, 0).unwrap();
                            discarded.insert(id);
                        }
                    }
                }
                BatchStep::Crash => {
                    o.take_changed();
                    let stored: Vec<Entry> = o.entries().cloned().collect();
                    o = Outbox::recover(stored);
                    in_flight.clear();
                    confirmed.clear();
                }
            }
            o.take_changed();
            // No entity is in two batches at once, and every entry being sent is in one.
            let mut flying = BTreeSet::new();
            for b in &in_flight {
                let entities: BTreeSet<&str> = b.items.iter().map(|i| i.entry.entity.as_str()).collect();
                for entity in entities {
                    prop_assert!(flying.insert(entity.to_owned()), "{} in two batches", entity);
                }
            }
            let sending = o.entries().filter(|e| e.state == EntryState::Sending).count();
            prop_assert_eq!(sending, in_flight.iter().map(|b| b.items.len()).sum::<usize>());
        }
        // Drain: the network comes back and the user keeps every conflicting change.
        for b in in_flight.drain(..) {
            o.settle_batch(&b.items, lost(b.items.len()), 0, || 0.0, &mut confirmed);
        }
        for _ in 0..10_000 {
            let inbox: Vec<(u64, EntryState)> = o.inbox().map(|e| (e.id, e.state)).collect();
            for (id, state) in inbox {
                if state == EntryState::Rejected {
                    o.retry(id, 0).unwrap();
                } else {
                    o.resolve(id, Resolution::KeepMine, 0).unwrap();
                }
            }
            match o.claim_batch(LATER, 3, &none, &confirmed) {
                Some(b) => {
                    let answers = server.batch(&b.items, &mut faults);
                    let errors = o.settle_batch(&b.items, answers, 0, || 0.0, &mut confirmed);
                    prop_assert_eq!(errors, vec![]);
                }
                None if o.pending_count() == 0 => break,
                None => {}
            }
            o.take_changed();
        }
        prop_assert_eq!(o.entries().count(), 0, "the outbox drains");
        let mut all_applied: Vec<u64> = Vec::new();
        for ids in server.applied.values() {
            // A refused command does not hold its entity: sent again, it may go after the
            // ones behind it, as alone.
            let kept: Vec<u64> = ids.iter().copied().filter(|id| !faults.refused.contains(id)).collect();
            prop_assert!(kept.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", ids);
            all_applied.extend(ids);
        }
        all_applied.sort_unstable();
        let applied_set: BTreeSet<u64> = all_applied.iter().copied().collect();
        prop_assert_eq!(applied_set.len(), all_applied.len(), "an effect applied twice");
        let expected: Vec<u64> = (1..next_id).filter(|id| !discarded.contains(id)).collect();
        prop_assert_eq!(all_applied, expected);
    }
}

#[test]
fn a_batch_carries_each_command_as_it_would_go_alone() {
    let (_, batch, _) = cart_batch();
    let mut items = batch.items;
    items[1].entry.command.body = Some(r#"{"quantity":2}"#.into());
    items[2].entry.command.body = None;
    let body: serde_json::Value = serde_json::from_str(&batch_body(&items)).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"commands": [
            {"method": "PUT", "path": "/api/cart/1", "idempotencyKey": "key-1", "ifMatch": "\"3\"", "body": {}},
            {"method": "PUT", "path": "/api/cart/2", "idempotencyKey": "key-2", "ifMatch": "\"4\"", "body": {"quantity": 2}},
            {"method": "PUT", "path": "/api/cart/3", "idempotencyKey": "key-3", "ifMatch": "\"5\""},
        ]})
    );
    items[0].if_match = None;
    let body: serde_json::Value = serde_json::from_str(&batch_body(&items[..1])).unwrap();
    assert_eq!(body["commands"][0].get("ifMatch"), None);
}

#[test]
fn batch_results_mean_what_they_would_mean_alone() {
    let text = serde_json::json!({"results": [
        {"status": 200, "body": {"version": 4}, "replayed": false, "etag": "\"4\""},
        {"status": 201, "body": {"version": 5}, "replayed": true, "etag": "\"5\""},
        {"status": 412, "replayed": false, "etag": "\"9\"", "body": {
            "type": "/problems/stale", "title": "Precondition failed", "status": 412,
            "detail": "the cart changed", "current": {"version": 9, "lines": []}}},
        {"status": 422, "replayed": false, "body": {
            "type": "/problems/invalid", "title": "Invalid", "status": 422, "detail": "quantity"}},
        {"status": 503, "replayed": false, "body": {
            "type": "/problems/database-busy", "title": "Busy", "status": 503}},
    ]})
    .to_string();
    let BatchAnswer::Results(answers) = read_batch(5, 200, None, "application/json", &text) else {
        panic!("results");
    };
    assert_eq!(answers[0], Answer::from(applied(4)));
    assert_eq!(
        answers[1],
        Answer {
            outcome: applied(5),
            replayed: true
        }
    );
    let Outcome::Conflict(theirs) = &answers[2].outcome else {
        panic!("{:?}", answers[2]);
    };
    assert_eq!(theirs.version, Some(9));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(theirs.body.as_deref().unwrap()).unwrap(),
        serde_json::json!({"version": 9, "lines": []})
    );
    assert_eq!(
        answers[3].outcome,
        Outcome::Rejected {
            status: 422,
            message: "Invalid: quantity".into()
        }
    );
    assert!(matches!(answers[4].outcome, Outcome::Retry { .. }));

    // A result missing, or no results at all: nothing is known of any command.
    assert!(matches!(
        read_batch(6, 200, None, "application/json", &text),
        BatchAnswer::Failed(Outcome::Retry { .. })
    ));
    assert!(matches!(
        read_batch(1, 200, None, "text/html", "<html>"),
        BatchAnswer::Failed(Outcome::Retry { .. })
    ));
    // A result that does not read: the error names it.
    let bad = r#"{"results": [{"status": 200}, {"status": "ok"}]}"#;
    let BatchAnswer::Failed(Outcome::Retry { error, .. }) =
        read_batch(2, 200, None, "application/json", bad)
    else {
        panic!("a failed batch");
    };
    assert!(
        error.ends_with("no batch result: results[1].status: expected an HTTP status"),
        "{error}"
    );
}

#[test]
fn a_batch_refused_whole_is_retried_or_sent_alone() {
    let problem = |status: u16| {
        serde_json::json!({"type": "about:blank", "title": "No", "status": status}).to_string()
    };
    for status in [401, 408, 429, 500, 502, 503] {
        let answer = read_batch(3, status, Some(1_000), PROBLEM_JSON_TYPE, &problem(status));
        assert!(
            matches!(
                &answer,
                BatchAnswer::Failed(Outcome::Retry {
                    retry_after_ms: Some(1_000),
                    ..
                })
            ),
            "{status}: {answer:?}"
        );
    }
    // No batch endpoint, or a batch this BFF will not take: its commands go alone.
    for status in [400, 404, 405, 413, 422] {
        let answer = read_batch(3, status, None, PROBLEM_JSON_TYPE, &problem(status));
        assert!(
            matches!(answer, BatchAnswer::Unsupported(_)),
            "{status}: {answer:?}"
        );
    }
}

const PROBLEM_JSON_TYPE: &str = tessera_contract::sync::PROBLEM_JSON;

#[test]
fn a_refusal_that_moved_the_version_on_lets_the_next_command_apply() {
    // Checkout's `409 cart-changed` refreshes the cart (3 → 4) and refuses the order; the
    // next command, sent on 4, is applied on the refreshed cart.
    let (mut o, batch, mut confirmed) = cart_batch();
    let refused = Outcome::Rejected {
        status: 409,
        message: "the cart changed".into(),
    };
    settle_all(
        &mut o,
        &batch,
        vec![refused, applied(5), applied(6)],
        &mut confirmed,
    );
    assert_eq!(state(&o, 1), EntryState::Rejected);
    assert_eq!(state(&o, 2), EntryState::Done);
    assert_eq!(state(&o, 3), EntryState::Done);
    assert_eq!(o.get(4).unwrap().base_version, Some(6));
    assert_eq!(confirmed["cart"], 6);
}

#[test]
fn a_rejected_command_sent_again_waits_while_its_entity_has_one_on_the_wire() {
    // Found by the batch proptest; alone it is the same: 1 was rejected, 2 went out, and the
    // user retried 1 before 2's answer came.
    let mut o = Outbox::default();
    queue(&mut o, 1, "cart", Some(3));
    queue(&mut o, 2, "cart", Some(3));
    o.start_sending(1, 0).unwrap();
    o.settle(1, rejected(), 0, 0.0).unwrap();
    o.start_sending(2, 0).unwrap();
    o.retry(1, 0).unwrap();
    assert_eq!(o.ready(0), Vec::<u64>::new());
    assert_eq!(
        o.claim_batch(0, BATCH_MAX, &VecSet::new(), &Confirmed::new()),
        None
    );
    o.settle(2, applied(4), 0, 0.0).unwrap();
    assert_eq!(o.ready(0), vec![1]);
}

#[test]
fn a_long_queue_on_one_entity_drains_in_few_batches() {
    let mut o = Outbox::default();
    for id in 1..=250 {
        queue(&mut o, id, "cart", Some(1));
    }
    for id in 251..=260 {
        queue(&mut o, id, &format!("menu-{id}"), None);
    }
    let mut server = Server::default();
    let mut faults = Faults::default();
    let mut confirmed = Confirmed::new();
    let mut sizes = Vec::new();
    while let Some(b) = o.claim_batch(0, BATCH_MAX, &VecSet::new(), &confirmed) {
        sizes.push(b.items.len());
        let answers = server.batch(&b.items, &mut faults);
        assert_eq!(
            o.settle_batch(&b.items, answers, 0, || 0.0, &mut confirmed),
            vec![]
        );
        o.take_changed();
    }
    // The cart's first command and the ten menu items, then the cart in runs of 100.
    assert_eq!(sizes, vec![11, 100, 100, 49]);
    assert_eq!(o.entries().count(), 0);
    assert_eq!(server.applied["cart"], (1..=250).collect::<Vec<u64>>());
    assert_eq!(server.versions["cart"], 251);
}

#[test]
fn a_batch_of_long_commands_stays_under_the_bffs_body_limit() {
    let mut o = Outbox::default();
    for id in 1..=10 {
        queue(&mut o, id, &format!("menu-{id}"), Some(1));
        o.entries.get_mut(&id).unwrap().command.body =
            Some(format!(r#"{{"name":"{}"}}"#, "x".repeat(10_000)));
    }
    let first = claim(&mut o, &Confirmed::new());
    assert_eq!(sent(&first).len(), 4, "4 × 10 KB in 48 KB");
    let body = batch_body(&first.items);
    assert!(body.len() < BATCH_MAX_BYTES, "{}", body.len());
    // One command longer than that still goes, alone in its batch.
    o.entries.get_mut(&5).unwrap().command.body =
        Some(format!(r#"{{"name":"{}"}}"#, "x".repeat(60_000)));
    assert_eq!(sent(&claim(&mut o, &Confirmed::new())), vec![(5, Some(1))]);
}

#[test]
fn a_command_handed_off_reads_back_whole_and_is_known_by_its_key() {
    // The page's hand-off copy (`outbox_handoff`) is this JSON: a field lost on the way would
    // queue a different command after a reload.
    let new = shown_command("k9", "cart", "alice", "n", 9);
    let text = serde_json::to_string(&new.as_entry(5)).unwrap();
    assert_eq!(
        NewEntry::from(serde_json::from_str::<Entry>(&text).unwrap()),
        new
    );
    let mut outbox = Outbox::default();
    assert!(!outbox.holds_key("k9"));
    outbox.enqueue(1, new, 0);
    assert!(outbox.holds_key("k9"));
}

#[test]
fn a_settle_after_a_request_went_out_means_its_answer_may_lack_a_confirmed_command() {
    let went_out = 1_700_000_000_000;
    // Never settled, or well before: the outbox read after the answer has every command the
    // answer may lack.
    assert!(!may_have_settled_since(0, went_out));
    assert!(!may_have_settled_since(
        went_out - CLOCK_SLACK_MS - 1,
        went_out
    ));
    // After it went out, at the same millisecond, or within the clocks' slack: ask again.
    assert!(may_have_settled_since(went_out + 5, went_out));
    assert!(may_have_settled_since(went_out, went_out));
    assert!(may_have_settled_since(went_out - CLOCK_SLACK_MS, went_out));
    assert!(may_have_settled_since(u64::MAX, went_out));
}
