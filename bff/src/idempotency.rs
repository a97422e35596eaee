//! Exactly-once effects for commands. The first request with an `Idempotency-Key` claims it
//! inside the command's transaction and stores its response there, so a key is recorded exactly
//! when its effect is. A replay gets the stored status and body byte for byte; the same key on
//! a different request (body, route or caller) is a 422.
//!
//! Only accepted commands are recorded: a rejected one (412, 409, …) changed nothing, so the
//! client may fix its request and retry under the same key.

use crate::db::{Backend, Db};
use crate::events::{self, NewEvent};
use crate::problem::ApiError;
use crate::time::now_rfc3339;
use anyhow::Context;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};
use tessera_shared::sync::FieldError;

/// One command request, as far as idempotency is concerned.
pub struct Command {
    pub key: String,
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
        Command { key, fingerprint }
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

    fn into_response(self, replayed: bool) -> Response {
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

pub enum Begun {
    /// A fresh command: do the effect in this transaction, then [`finish`].
    Fresh(Transaction<'static, Any>),
    /// The key was used before for this very request: here is what it answered.
    Replay(Response),
}

/// Starts `command`: replays a recorded response, or opens the transaction that will carry the
/// effect with the key already claimed in it.
pub async fn begin(db: &Db, command: &Command) -> Result<Begun, ApiError> {
    // Replays are cheap: no transaction, no writer.
    if let Some(response) = recorded(db, command).await? {
        return Ok(Begun::Replay(response));
    }
    for _ in 0..3 {
        let mut tx = db.begin().await?;
        // A concurrent first use of the same key blocks here (PostgreSQL) or queues on the
        // writer (SQLite) until the other commits, then finds the key taken and replays.
        let claimed = sqlx::query(
            "INSERT INTO idempotency (key, fingerprint, status, body, etag, created_at) \
             VALUES ($1, $2, 0, '', NULL, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&command.key)
        .bind(&command.fingerprint)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await
        .context("claiming an idempotency key")?
        .rows_affected();
        if claimed == 1 {
            return Ok(Begun::Fresh(tx));
        }
        drop(tx);
        if let Some(response) = recorded(db, command).await? {
            return Ok(Begun::Replay(response));
        }
        // The other holder rolled back (its command was rejected): the key is free again.
    }
    Err(ApiError::conflict(
        "the Idempotency-Key is in use by a request that keeps failing; retry later",
    )
    .with_error(FieldError::header("Idempotency-Key", "contended")))
}

/// Records `outcome` for the key, appends the command's event, commits all of it with the
/// effect, and answers. The append goes last so PostgreSQL's append lock is held only for the
/// insert and the commit (see [`events::append`]).
pub async fn finish(
    mut tx: Transaction<'static, Any>,
    backend: Backend,
    command: &Command,
    outcome: Outcome,
    event: NewEvent,
) -> Result<Response, ApiError> {
    sqlx::query("UPDATE idempotency SET status = $1, body = $2, etag = $3 WHERE key = $4")
        .bind(i64::from(outcome.status.as_u16()))
        .bind(&outcome.body)
        .bind(&outcome.etag)
        .bind(&command.key)
        .execute(&mut *tx)
        .await
        .context("recording a command's response")?;
    events::append(&mut tx, backend, event).await?;
    tx.commit().await.context("committing a command")?;
    Ok(outcome.into_response(false))
}

async fn recorded(db: &Db, command: &Command) -> Result<Option<Response>, ApiError> {
    let row = sqlx::query("SELECT fingerprint, status, body, etag FROM idempotency WHERE key = $1")
        .bind(&command.key)
        .fetch_optional(db.reader())
        .await
        .context("looking up an idempotency key")?;
    let Some(row) = row else { return Ok(None) };
    let fingerprint: String = row.try_get("fingerprint")?;
    if fingerprint != command.fingerprint {
        return Err(ApiError::invalid(vec![FieldError::header(
            "Idempotency-Key",
            "already used for a different request (body, route or caller); use a new key",
        )]));
    }
    let status: i64 = row.try_get("status")?;
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .context("stored status out of range")?;
    let outcome = Outcome {
        status,
        body: row.try_get("body")?,
        etag: row.try_get("etag")?,
    };
    Ok(Some(outcome.into_response(true)))
}
