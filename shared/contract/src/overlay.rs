//! Read-your-writes: how a command still waiting in the outbox shows in the answers to queries.
//! The app that queues a command says what it will change (an [`Overlay`]); every query's answer
//! is then read with the waiting commands' edits applied, in queue order, each edited element
//! and the answer itself marked [`PENDING_FIELD`] so the app can show "not sent yet". When the
//! server confirms the command the entry leaves the outbox and the next answer is the server's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Set to `true` on every element a waiting command changed, and on the answer as a whole when
/// any edit applied.
pub const PENDING_FIELD: &str = "tesseraPending";

/// One change a waiting command makes to one query's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overlay {
    /// The query (BFF path and query string, e.g. `/api/cart`) whose answer it changes.
    pub query: String,
    pub edit: Edit,
}

/// Edits address JSON values by JSON Pointer (RFC 6901), `""` being the whole answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Edit {
    /// Replaces the element of the array at `list` whose `key` field equals `value`'s, or
    /// appends `value` when there is none.
    Upsert {
        list: String,
        key: String,
        value: Value,
    },
    /// Removes the elements of the array at `list` whose `key` field is `id`.
    Remove {
        list: String,
        key: String,
        id: String,
    },
    /// Sets the field at `pointer` (its parent must exist and be an object).
    Set { pointer: String, value: Value },
}

/// Wraps a contract type with the pending mark, for apps that show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marked<T> {
    #[serde(flatten)]
    pub value: T,
    #[serde(rename = "tesseraPending", default)]
    pub pending: bool,
}

fn mark(v: &mut Value) {
    if let Value::Object(o) = v {
        o.insert(PENDING_FIELD.into(), Value::Bool(true));
    }
}

/// Applies `edits` in order to `body`; returns how many applied. An edit whose target is not
/// there (the answer changed shape, or the element is already gone) is skipped, so a stale
/// overlay can never make an answer unreadable.
pub fn apply<'a>(body: &mut Value, edits: impl IntoIterator<Item = &'a Edit>) -> usize {
    let mut applied = 0;
    for edit in edits {
        if apply_one(body, edit) {
            applied += 1;
        }
    }
    if applied > 0 {
        mark(body);
    }
    applied
}

fn apply_one(body: &mut Value, edit: &Edit) -> bool {
    match edit {
        Edit::Upsert { list, key, value } => {
            let Some(Value::Array(items)) = body.pointer_mut(list) else {
                return false;
            };
            let mut value = value.clone();
            mark(&mut value);
            let id = value.get(key).cloned();
            match items
                .iter_mut()
                .find(|i| id.is_some() && i.get(key) == id.as_ref())
            {
                Some(existing) => *existing = value,
                None => items.push(value),
            }
            true
        }
        Edit::Remove { list, key, id } => {
            let Some(Value::Array(items)) = body.pointer_mut(list) else {
                return false;
            };
            let before = items.len();
            items.retain(|i| i.get(key).and_then(Value::as_str) != Some(id.as_str()));
            items.len() != before
        }
        Edit::Set { pointer, value } => {
            let Some((parent, field)) = pointer.rsplit_once('/') else {
                return false;
            };
            let field = field.replace("~1", "/").replace("~0", "~");
            let Some(Value::Object(o)) = body.pointer_mut(parent) else {
                return false;
            };
            o.insert(field, value.clone());
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cart() -> Value {
        json!({"owner": "alice", "version": 3, "lines": [
            {"itemId": "a", "quantity": 1},
            {"itemId": "b", "quantity": 2}
        ]})
    }

    fn upsert(id: &str, quantity: u32) -> Edit {
        Edit::Upsert {
            list: "/lines".into(),
            key: "itemId".into(),
            value: json!({"itemId": id, "quantity": quantity}),
        }
    }

    #[test]
    fn waiting_commands_apply_in_queue_order_and_mark_what_they_changed() {
        let mut body = cart();
        let edits = [
            upsert("c", 1),
            upsert("a", 5),
            upsert("c", 3),
            Edit::Remove {
                list: "/lines".into(),
                key: "itemId".into(),
                id: "b".into(),
            },
        ];
        assert_eq!(apply(&mut body, &edits), 4);
        assert_eq!(
            body,
            json!({"owner": "alice", "version": 3, "tesseraPending": true, "lines": [
                {"itemId": "a", "quantity": 5, "tesseraPending": true},
                {"itemId": "c", "quantity": 3, "tesseraPending": true}
            ]})
        );
    }

    #[test]
    fn a_checkout_empties_the_lines_and_names_the_order() {
        let mut body = cart();
        let edits = [
            Edit::Set {
                pointer: "/lines".into(),
                value: json!([]),
            },
            Edit::Set {
                pointer: "/pendingOrder".into(),
                value: json!("o-1"),
            },
        ];
        assert_eq!(apply(&mut body, &edits), 2);
        assert_eq!(body["lines"], json!([]));
        assert_eq!(body["pendingOrder"], json!("o-1"));
        assert_eq!(body[PENDING_FIELD], json!(true));
    }

    #[test]
    fn edits_whose_target_is_missing_are_skipped_and_leave_the_answer_unmarked() {
        let mut body = cart();
        let edits = [
            Edit::Upsert {
                list: "/items".into(),
                key: "id".into(),
                value: json!({"id": "x"}),
            },
            Edit::Remove {
                list: "/lines".into(),
                key: "itemId".into(),
                id: "zzz".into(),
            },
            Edit::Set {
                pointer: "/nowhere/field".into(),
                value: json!(1),
            },
            Edit::Set {
                pointer: "no-slash".into(),
                value: json!(1),
            },
        ];
        assert_eq!(apply(&mut body, &edits), 0);
        assert_eq!(body, cart());
    }

    #[test]
    fn marked_types_read_the_mark_and_ignore_its_absence() {
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Line {
            item_id: String,
            quantity: u32,
        }
        let mut body = cart();
        apply(&mut body, &[upsert("a", 4)]);
        let lines: Vec<Marked<Line>> = serde_json::from_value(body["lines"].clone()).unwrap();
        assert!(lines[0].pending && lines[0].value.quantity == 4);
        assert!(!lines[1].pending && lines[1].value.item_id == "b");
    }

    #[test]
    fn overlays_round_trip_through_their_stored_form() {
        let o = Overlay {
            query: "/api/cart".into(),
            edit: upsert("a", 2),
        };
        let text = serde_json::to_string(&o).unwrap();
        assert!(text.contains(r#""op":"upsert""#), "{text}");
        assert_eq!(serde_json::from_str::<Overlay>(&text).unwrap(), o);
    }
}
