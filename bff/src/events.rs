//! The append-only domain-event log. Commands append inside their own transaction, so an event
//! exists exactly when its change does; it is in the log, numbered, before the command answers.

use crate::db::Db;
use crate::problem::ApiError;
use crate::sql::{query, Sql};
use crate::time::now_rfc3339;
use crate::write::{Appended, Backend};
use anyhow::Context;
use sqlx::Row;
use tessera_contract::sync::DomainEvent;

pub struct NewEvent {
    pub kind: &'static str,
    pub partition_key: String,
    pub source: &'static str,
    pub data: serde_json::Value,
    /// The subject whose private data this is; `None` for public events.
    pub owner: Option<String>,
}

/// Appends `event` to the log in `conn`'s transaction.
///
/// Readers follow the log by seq, so an event must never become visible after one with a
/// higher seq. SQLite's single writer gives that for free: the event is numbered here. On
/// PostgreSQL, numbers handed out at insert time commit in any order, and holding a lock from
/// the insert to the commit (as this did before) made every command's commit, fsync included,
/// wait for the one before it. So the event is queued here and numbered once committed, many
/// at a time, by [`crate::sequencer`].
pub async fn append(
    conn: &mut impl Sql,
    backend: Backend,
    event: NewEvent,
) -> Result<Appended, ApiError> {
    let data = serde_json::to_string(&event.data).context("serializing event data")?;
    let sql = match backend {
        Backend::Sqlite => {
            "INSERT INTO events (id, type, timestamp, partition_key, source, data, owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq"
        }
        Backend::Postgres => {
            "INSERT INTO event_queue (id, type, timestamp, partition_key, source, data, owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        }
    };
    let insert = query(sql)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(event.kind)
        .bind(now_rfc3339())
        .bind(&event.partition_key)
        .bind(event.source)
        .bind(&data)
        .bind(&event.owner);
    Ok(match backend {
        Backend::Sqlite => Appended::Numbered(
            insert
                .fetch_one(conn)
                .await
                .context("appending an event")?
                .try_get("seq")?,
        ),
        Backend::Postgres => {
            // Nothing reads it back in this write: it goes out with the commit.
            insert.defer(conn).await.context("queueing an event")?;
            Appended::Queued
        }
    })
}

/// Whether a viewer may see an event owned by `owner`. `viewer` is `None` for admins, who see
/// everything; others see public events (no owner) and their own.
pub fn visible(owner: Option<&str>, viewer: Option<&str>) -> bool {
    match (viewer, owner) {
        (None, _) | (_, None) => true,
        (Some(viewer), Some(owner)) => viewer == owner,
    }
}

/// Events after `after` that `viewer` may see (everything when `viewer` is `None`).
pub async fn list(
    db: &Db,
    after: i64,
    limit: u32,
    viewer: Option<&str>,
) -> Result<Vec<DomainEvent>, ApiError> {
    let rows = sqlx::query(
        "SELECT seq, id, type, timestamp, partition_key, source, data, owner FROM events \
         WHERE seq > $1 AND ($2 = 1 OR owner IS NULL OR owner = $3) ORDER BY seq LIMIT $4",
    )
    .bind(after)
    .bind(i64::from(viewer.is_none()))
    .bind(viewer.unwrap_or_default())
    .bind(i64::from(limit))
    .fetch_all(db.reader())
    .await
    .context("reading events")?;
    rows.iter()
        .map(|r| logged_event(r).map(|e| e.event))
        .collect()
}

/// An event with the subject it is private to, for filtering per viewer in memory.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub event: DomainEvent,
    pub owner: Option<String>,
}

/// Every event after `after`, at most `limit`, oldest first.
pub async fn list_logged(db: &Db, after: i64, limit: u32) -> Result<Vec<LoggedEvent>, ApiError> {
    let rows = sqlx::query(
        "SELECT seq, id, type, timestamp, partition_key, source, data, owner FROM events \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db.reader())
    .await
    .context("reading events")?;
    rows.iter().map(logged_event).collect()
}

/// The newest seq in the log (0 when it is empty).
pub async fn newest_seq(db: &Db) -> Result<i64, ApiError> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS newest FROM events")
        .fetch_one(db.reader())
        .await
        .context("reading the newest event seq")?;
    Ok(row.try_get("newest")?)
}

fn logged_event(r: &sqlx::any::AnyRow) -> Result<LoggedEvent, ApiError> {
    let data: String = r.try_get("data")?;
    Ok(LoggedEvent {
        event: DomainEvent {
            seq: r.try_get("seq")?,
            id: r.try_get("id")?,
            kind: r.try_get("type")?,
            timestamp: r.try_get("timestamp")?,
            partition_key: r.try_get("partition_key")?,
            source: r.try_get("source")?,
            data: serde_json::from_str(&data).context("stored event data is not JSON")?,
        },
        owner: r.try_get("owner")?,
    })
}
