//! The outbox's records (and the commands apps hand the host) read from their JSON text by the
//! browser's `JSON.parse` and `tessera-wire`'s readers (`tessera_wire::parse`): the page and
//! the worker carry no serde deserializer for them. The text is serde's (they are written with
//! it), and the browser tests (`tests/js_forms.rs`) hold each reader to serde's form of the
//! same value.

use crate::outbox::{Applied, Command, Entry, EntryState, Summary, Theirs};
use tessera_contract::host::CommandRequest;
use tessera_contract::overlay::{Edit, Overlay};
use tessera_wire::{field, field_or_default, from_js, parse, DecodeError, FromJs, JsValue};

/// `{"query": …, "edit": {"op": "upsert" | "remove" | "set", …}}`, serde's form of
/// [`Overlay`] (the contract's type, so read by a function rather than [`FromJs`]).
fn overlay(value: &JsValue) -> Result<Overlay, DecodeError> {
    let edit: JsValue = field(value, "edit")?;
    let read = || -> Result<Edit, DecodeError> {
        Ok(match field::<String>(&edit, "op")?.as_str() {
            "upsert" => Edit::Upsert {
                list: field(&edit, "list")?,
                key: field(&edit, "key")?,
                value: serde_json::Value::from_js(&field(&edit, "value")?)?,
            },
            "remove" => Edit::Remove {
                list: field(&edit, "list")?,
                key: field(&edit, "key")?,
                id: field(&edit, "id")?,
            },
            "set" => Edit::Set {
                pointer: field(&edit, "pointer")?,
                value: serde_json::Value::from_js(&field(&edit, "value")?)?,
            },
            _ => return Err(DecodeError::expected("an edit (upsert, remove or set)")),
        })
    };
    Ok(Overlay {
        query: field(value, "query")?,
        edit: read().map_err(|e| e.under("edit"))?,
    })
}

impl FromJs for EntryState {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        let state = value.as_string().unwrap_or_default();
        EntryState::ALL
            .into_iter()
            .find(|s| s.as_str() == state)
            .ok_or(DecodeError::expected("an entry state"))
    }
}

from_js!(Command {
    method: "method",
    path: "path",
    body: "body"
});
from_js!(Theirs {
    version: "version",
    body: "body"
});

/// The `overlays` of a record or request (none when absent).
fn overlays(value: &JsValue) -> Result<Vec<Overlay>, DecodeError> {
    let all: Vec<JsValue> = field_or_default(value, "overlays")?;
    let mut read = Vec::with_capacity(all.len());
    for (i, o) in all.iter().enumerate() {
        read.push(overlay(o).map_err(|e| e.under(&format!("[{i}]")).under("overlays"))?);
    }
    Ok(read)
}

/// An app's `host.command(request)`, in `host::CommandRequest`'s serde form.
pub fn command_request(value: &JsValue) -> Result<CommandRequest, DecodeError> {
    Ok(CommandRequest {
        path: field(value, "path")?,
        body: serde_json::Value::from_js(&field(value, "body")?).map_err(|e| e.under("body"))?,
        entity: field(value, "entity")?,
        base_version: field(value, "baseVersion")?,
        label: field_or_default(value, "label")?,
        overlays: overlays(value)?,
    })
}

impl FromJs for Entry {
    fn from_js(value: &JsValue) -> Result<Self, DecodeError> {
        Ok(Entry {
            id: field(value, "id")?,
            idempotency_key: field(value, "idempotencyKey")?,
            entity: field(value, "entity")?,
            subject: field(value, "subject")?,
            base_version: field(value, "baseVersion")?,
            command: field(value, "command")?,
            label: field_or_default(value, "label")?,
            state: field(value, "state")?,
            attempts: field(value, "attempts")?,
            error: field(value, "error")?,
            theirs: field(value, "theirs")?,
            created_at_ms: field(value, "createdAtMs")?,
            updated_at_ms: field(value, "updatedAtMs")?,
            not_before_ms: field(value, "notBeforeMs")?,
            overlays: overlays(value)?,
        })
    }
}

from_js!(Summary {
    pending: "pending",
    inbox: "inbox",
    syncing: "syncing"
});

/// The applied version steps: `{"<entity>": [[from, to], …]}`.
pub fn applied(text: &str) -> Result<Applied, String> {
    parse::<Applied>(text)
}
