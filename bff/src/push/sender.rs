//! Sends the queued notifications (`push_queue`): claims a batch for a while, delivers each to
//! its push service (encrypted, VAPID-signed), then settles every row: sent or given up is
//! deleted, a subscription the push service says is gone is removed with its rows, and a
//! delivery that failed for now is tried again later. One browser's notifications go in the
//! order they were queued.

use super::webpush;
use super::Push;
use crate::problem::ApiError;
use crate::sql::{query, Sql};
use crate::time::now_ms;
use crate::write::{Appended, Backend, Write};
use crate::AppState;
use anyhow::Context;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a claim holds a row: longer than a batch's deliveries may take.
const LEASE_MS: i64 = 60_000;
const BATCH: i64 = 50;
/// Deliveries of one notification before it is given up.
const MAX_ATTEMPTS: i64 = 5;
/// News older than this is no news: dropped unsent, and push services keep it no longer.
pub const MAX_AGE_MS: i64 = 3_600_000;
/// How often the sender looks without being woken (rows another process queued, retries).
const POLL: Duration = Duration::from_secs(1);

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match send_due(&state).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(err) => eprintln!(
                    "tessera-bff: push: {}",
                    err.detail.as_deref().unwrap_or(err.title)
                ),
            }
            tokio::select! {
                _ = state.push.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

/// One queued notification, claimed.
struct Claimed {
    id: i64,
    endpoint: String,
    payload: String,
    queued_ms: i64,
    attempts: i64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    /// Delivered, refused for good, or too old: delete the row.
    Done,
    /// The push service no longer knows the subscription: remove it and its rows.
    Gone,
    /// Try again at this time.
    Retry(i64),
}

/// Delivers what is due now; returns how many rows it claimed.
pub async fn send_due(state: &AppState) -> Result<usize, ApiError> {
    let now = now_ms();
    let claimed = state.db.write(Claim { now }).await?;
    let count = claimed.len();
    if count == 0 {
        return Ok(0);
    }
    let mut by_endpoint: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
    for row in claimed {
        by_endpoint
            .entry(row.endpoint.clone())
            .or_default()
            .push(row);
    }
    let deliveries = by_endpoint
        .into_iter()
        .map(|(endpoint, mut rows)| async move {
            rows.sort_by_key(|r| r.id);
            deliver_in_order(state, &endpoint, rows).await
        });
    let settled = futures_util::future::join_all(deliveries)
        .await
        .into_iter()
        .flatten()
        .collect();
    state.db.write(Settle(settled)).await?;
    Ok(count)
}

/// `rows` of one endpoint, oldest first: after one fails for now, the later ones wait too.
async fn deliver_in_order(
    state: &AppState,
    endpoint: &str,
    rows: Vec<Claimed>,
) -> Vec<(i64, String, Outcome)> {
    let keys = query("SELECT p256dh, auth FROM push_subscriptions WHERE endpoint = $1")
        .bind(endpoint)
        .fetch_optional(&mut state.db.reader())
        .await
        .map(|row| {
            row.map(|r| {
                (
                    r.try_get::<String, _>("p256dh"),
                    r.try_get::<String, _>("auth"),
                )
            })
        });
    let mut out = Vec::with_capacity(rows.len());
    let mut held: Option<Outcome> = None;
    for row in rows {
        let outcome = match (held, &keys) {
            (Some(held), _) => held,
            // Unsubscribed since it was queued.
            (_, Ok(None)) => Outcome::Done,
            (_, Err(e)) => retry(&row, &format!("reading its keys: {e}")),
            (_, Ok(Some((Ok(p256dh), Ok(auth))))) => deliver(&state.push, &row, p256dh, auth).await,
            (_, Ok(Some(_))) => retry(&row, "reading its keys"),
        };
        if outcome != Outcome::Done {
            held = Some(outcome);
        }
        out.push((row.id, row.endpoint, outcome));
    }
    out
}

/// A delivery that failed for now: tried again after 5, 10, 20, 40 s (within the
/// notification's hour), or given up (and logged) after [`MAX_ATTEMPTS`].
fn retry(row: &Claimed, why: &str) -> Outcome {
    if row.attempts >= MAX_ATTEMPTS {
        eprintln!(
            "tessera-bff: push: giving up on a notification to {} after {} attempts: {why}",
            host_of(&row.endpoint),
            row.attempts
        );
        return Outcome::Done;
    }
    Outcome::Retry(now_ms() + 5_000 * (1 << (row.attempts - 1).clamp(0, 3)))
}

fn host_of(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn deliver(push: &Push, row: &Claimed, p256dh: &str, auth: &str) -> Outcome {
    let age = now_ms() - row.queued_ms;
    if age >= MAX_AGE_MS {
        return Outcome::Done;
    }
    let ttl_s = (MAX_AGE_MS - age) / 1000;
    let sent = async {
        let body = webpush::encrypt(row.payload.as_bytes(), p256dh, auth)?;
        let authorization = webpush::vapid_authorization(
            &push.key,
            &row.endpoint,
            &push.subject,
            u64::try_from(now_ms() / 1000).unwrap_or_default(),
        )?;
        let response = push
            .http
            .post(&row.endpoint)
            .header("TTL", ttl_s.to_string())
            .header("Urgency", "normal")
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await
            .context("sending")?;
        anyhow::Ok(response.status())
    };
    match sent.await {
        Ok(status) if status.is_success() => Outcome::Done,
        Ok(status) if status.as_u16() == 404 || status.as_u16() == 410 => Outcome::Gone,
        Ok(status) if status.as_u16() == 429 || status.is_server_error() => {
            retry(row, &format!("the push service answered {status}"))
        }
        Ok(status) => {
            eprintln!(
                "tessera-bff: push: {} refused a notification: {status}",
                host_of(&row.endpoint)
            );
            Outcome::Done
        }
        Err(e) => retry(row, &format!("{e:#}")),
    }
}

/// Claims the oldest due rows for [`LEASE_MS`]; PostgreSQL skips rows another process holds.
struct Claim {
    now: i64,
}

impl Write for Claim {
    type Output = Vec<Claimed>;

    async fn run<C: Sql>(
        self,
        conn: &mut C,
        backend: Backend,
    ) -> Result<(Vec<Claimed>, Appended), ApiError> {
        let skip_locked = match backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = query(format!(
            "UPDATE push_queue SET claimed_until = $1, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM push_queue WHERE claimed_until <= $2 ORDER BY id LIMIT $3{skip_locked}) \
             RETURNING id, endpoint, payload, queued_ms, attempts"
        ))
        .bind(self.now + LEASE_MS)
        .bind(self.now)
        .bind(BATCH)
        .fetch_all(&mut *conn)
        .await
        .context("claiming notifications to send")?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            claimed.push(Claimed {
                id: row.try_get("id")?,
                endpoint: row.try_get("endpoint")?,
                payload: row.try_get("payload")?,
                queued_ms: row.try_get("queued_ms")?,
                attempts: row.try_get("attempts")?,
            });
        }
        Ok((claimed, Appended::Nothing))
    }
}

/// Each claimed row's outcome: `(id, endpoint, outcome)`.
struct Settle(Vec<(i64, String, Outcome)>);

impl Write for Settle {
    type Output = ();

    async fn run<C: Sql>(self, conn: &mut C, _: Backend) -> Result<((), Appended), ApiError> {
        for (id, endpoint, outcome) in self.0 {
            match outcome {
                Outcome::Retry(at) => {
                    query("UPDATE push_queue SET claimed_until = $1 WHERE id = $2")
                        .bind(at)
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .context("putting a notification back")?;
                }
                Outcome::Gone => {
                    query("DELETE FROM push_subscriptions WHERE endpoint = $1")
                        .bind(endpoint.as_str())
                        .execute(&mut *conn)
                        .await
                        .context("removing a subscription that is gone")?;
                    query("DELETE FROM push_queue WHERE endpoint = $1")
                        .bind(endpoint.as_str())
                        .execute(&mut *conn)
                        .await
                        .context("removing a gone subscription's notifications")?;
                }
                Outcome::Done => {
                    query("DELETE FROM push_queue WHERE id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .context("removing a sent notification")?;
                }
            }
        }
        Ok(((), Appended::Nothing))
    }
}
