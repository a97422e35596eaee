//! Exactly-once effects for commands. A command's `Idempotency-Key` and its response are stored
//! in the command's own transaction, so a key is recorded exactly when its effect is. A replay
//! gets the stored status and body byte for byte; the same key on a different request (body or
//! route) of the same caller is a 422. Keys are scoped per caller (the token's subject): another
//! caller's key is invisible, so reusing it is simply a fresh command.
//!
//! Only accepted commands are recorded: a rejected one (412, 409, …) changed nothing, so the
//! client may fix its request and retry under the same key.
//!
//! The command's effect, its key and its event commit together
//! ([`crate::routes::commands`]); a key that cannot be recorded because it has an answer undoes
//! the effect and replays that answer.
//!
//! A concurrent first use of the same key cannot apply twice: both requests change the same
//! entity, and every write is conditional (on the version read, or `ON CONFLICT DO NOTHING`),
//! so the later one finds its precondition broken once the earlier commits (PostgreSQL makes it
//! wait for that; SQLite's single writer runs them one after the other). Any rejection, and a
//! key taken at record time, therefore looks the key up again and replays when it is there.

use crate::events::NewEvent;
use crate::problem::ApiError;
use crate::sql::{query, Sql};
use crate::time::now_rfc3339;
use anyhow::Context;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tessera_contract::sync::FieldError;

/// One command request, as far as idempotency is concerned.
#[derive(Clone, Debug)]
pub struct Command {
    pub key: String,
    /// The caller: keys are a namespace per subject.
    pub subject: String,
    /// Hash of caller, method, path and canonical body.
    pub fingerprint: String,
}

impl Command {
    pub fn new(
        key: String,
        subject: &str,
        method: &str,
        path: &str,
        canonical_body: &str,
    ) -> Command {
        let mut h = Sha256::new();
        for part in [subject, method, path, canonical_body] {
            h.update(part.len().to_le_bytes());
            h.update(part.as_bytes());
        }
        let fingerprint = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Command {
            key,
            subject: subject.to_owned(),
            fingerprint,
        }
    }
}

/// What a command answered, as stored and as replayed.
pub struct Outcome {
    pub status: StatusCode,
    pub body: String,
    pub etag: Option<String>,
}

impl Outcome {
    pub fn json(
        status: StatusCode,
        body: &impl serde::Serialize,
        etag: Option<String>,
    ) -> Result<Outcome, ApiError> {
        let body = serde_json::to_string(body).context("serializing a command response")?;
        Ok(Outcome { status, body, etag })
    }

    pub fn into_response(self, replayed: bool) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            headers.insert(header::ETAG, etag);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

/// What a command's core did inside a transaction it may share with other commands.
pub enum Applied {
    /// Accepted: the key is recorded with this answer and the event appended.
    Accepted { outcome: Outcome, event: NewEvent },
    /// Refused, yet with a change that stays (a checkout that refreshed the cart's prices): the
    /// event is appended, the key is not recorded (so the client may try again with it).
    Refused { error: ApiError, event: NewEvent },
}

/// Stores `command`'s key with its answer, in the transaction of its effect. False when the key
/// has an answer already (an earlier use, or a concurrent request that committed first, or a
/// row from before keys were per caller that [`lookup`] matches): nothing was stored.
pub async fn record(
    conn: &mut impl Sql,
    command: &Command,
    outcome: &Outcome,
) -> Result<bool, ApiError> {
    let inserted = query(
        "INSERT INTO idempotency (subject, key, fingerprint, status, body, etag, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS \
           (SELECT 1 FROM idempotency WHERE subject = '' AND key = $2 AND fingerprint = $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&command.subject)
    .bind(&command.key)
    .bind(&command.fingerprint)
    .bind(i64::from(outcome.status.as_u16()))
    .bind(&outcome.body)
    .bind(&outcome.etag)
    .bind(now_rfc3339())
    .execute(conn)
    .await
    .context("recording a command's response")?
    .rows_affected();
    Ok(inserted == 1)
}

/// What a command whose key a concurrent request took answers if that request's answer cannot
/// be replayed.
pub fn key_in_use() -> ApiError {
    ApiError::conflict("the Idempotency-Key was used by a concurrent request")
        .with_error(FieldError::header("Idempotency-Key", "in use"))
}

/// The recorded answer for `command`, if its key was used (a 422 if by another request), read
/// through `conn`: commands look keys up in their own transaction, so they see the keys that
/// earlier commands of it recorded.
pub async fn lookup(conn: &mut impl Sql, command: &Command) -> Result<Option<Outcome>, ApiError> {
    // The caller's own key; else a row from before keys were per caller (subject ''), which
    // counts only when it is this very request (its fingerprint covers the caller).
    let row = query(
        "SELECT fingerprint, status, body, etag FROM idempotency \
         WHERE key = $1 AND (subject = $2 OR (subject = '' AND fingerprint = $3)) \
         ORDER BY subject DESC LIMIT 1",
    )
    .bind(&command.key)
    .bind(&command.subject)
    .bind(&command.fingerprint)
    .fetch_optional(conn)
    .await
    .context("looking up an idempotency key")?;
    let Some(row) = row else { return Ok(None) };
    let fingerprint: String = row.try_get("fingerprint")?;
    if fingerprint != command.fingerprint {
        return Err(ApiError::invalid(vec![FieldError::header(
            "Idempotency-Key",
            "you already used it for a different request (body or route); use a new key",
        )]));
    }
    let status: i64 = row.try_get("status")?;
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .context("stored status out of range")?;
    Ok(Some(Outcome {
        status,
        body: row.try_get("body")?,
        etag: row.try_get("etag")?,
    }))
}
