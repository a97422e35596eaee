//! Numbers PostgreSQL's queued events ([`crate::events::append`]) into the log, after the writes
//! that queued them committed.
//!
//! Readers follow the log by seq, so seqs must become visible in order. A round moves every
//! committed queued event into `events` in one transaction that holds an advisory lock until it
//! commits: seqs are handed out and committed one round after the other, while the commands'
//! own commits (and their fsyncs) run side by side. A busy server numbers the events of many
//! commands per round, so the serialized part costs one commit per round instead of one per
//! command. Two BFF processes on one database take turns on the lock; either numbers the
//! other's events.
//!
//! A write that queued an event waits for the first round that starts after its commit, so
//! when a command answers its event is in the log, as on SQLite. Events left queued by a
//! process that died between its commit and that round are numbered by the next round of any
//! process; every process runs a round at start and at least every [`SWEEP`].

use anyhow::{Context, Result};
use sqlx::{AnyPool, Executor, Row};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Arbitrary constant naming the advisory lock that orders rounds on PostgreSQL.
const ROUND_LOCK: i64 = 0x7e55_e7a0;
/// Events numbered per statement; a fuller queue takes several.
const ROUND_LIMIT: i64 = 1000;
/// How often a round runs without being asked.
const SWEEP: Duration = Duration::from_secs(2);
/// How long to wait after a failed round before the next.
const RETRY: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub struct Sequencer {
    /// Counts the rounds asked for; the task runs one for the newest ask.
    asked: watch::Sender<u64>,
    /// The newest ask a finished round covered.
    done: watch::Receiver<u64>,
}

impl Sequencer {
    /// Starts the rounds on `pool`; `committed` learns the newest seq each round numbered. The
    /// task ends when the sequencer is dropped or the pool closed.
    pub fn start(pool: AnyPool, committed: Arc<watch::Sender<i64>>) -> Sequencer {
        let (asked, mut asks) = watch::channel(0u64);
        let (done_tx, done) = watch::channel(0u64);
        tokio::spawn(async move {
            let mut wait = Duration::ZERO;
            loop {
                tokio::select! {
                    changed = asks.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(wait) => {}
                }
                let ask = *asks.borrow_and_update();
                wait = match round(&pool).await {
                    Ok(newest) => {
                        if let Some(seq) = newest {
                            committed.send_if_modified(|n| {
                                let newer = seq > *n;
                                *n = (*n).max(seq);
                                newer
                            });
                        }
                        SWEEP
                    }
                    Err(_) if pool.is_closed() => return,
                    Err(error) => {
                        eprintln!("tessera-bff: numbering queued events: {error:#}");
                        RETRY
                    }
                };
                // Also after a failure: the writes waiting committed, and a later round
                // numbers their events; holding their answers would not make that sooner.
                done_tx.send_replace(ask);
            }
        });
        Sequencer { asked, done }
    }

    /// Waits until the events of writes that committed before this call are in the log (or a
    /// round trying to number them failed and a later one will).
    pub async fn numbered(&self) {
        let mut ask = 0;
        self.asked.send_modify(|n| {
            *n += 1;
            ask = *n;
        });
        // The task holds the sender as long as it runs; if it is gone there is nothing to wait for.
        let _ = self.done.clone().wait_for(|done| *done >= ask).await;
    }
}

/// Moves every queued event into the log, oldest first; the newest seq it handed out.
async fn round(pool: &AnyPool) -> Result<Option<i64>> {
    let mut newest = None;
    loop {
        let mut tx = pool.begin().await.context("beginning a round")?;
        // Before the move, in a statement of its own: the move's snapshot is then taken after
        // the previous round committed, so it neither sees that round's events again nor
        // numbers anything before them.
        tx.execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROUND_LOCK))
            .await
            .context("waiting for the numbering lock")?;
        let seqs = sqlx::query(
            "WITH moved AS (DELETE FROM event_queue WHERE queued IN \
                 (SELECT queued FROM event_queue ORDER BY queued LIMIT $1) \
               RETURNING queued, id, type, timestamp, partition_key, source, data, owner) \
             INSERT INTO events (id, type, timestamp, partition_key, source, data, owner) \
             SELECT id, type, timestamp, partition_key, source, data, owner FROM moved ORDER BY queued \
             RETURNING seq",
        )
        .bind(ROUND_LIMIT)
        .fetch_all(&mut *tx)
        .await
        .context("moving queued events into the log")?;
        tx.commit().await.context("committing a round")?;
        let count = seqs.len() as i64;
        for row in seqs {
            let seq: i64 = row.try_get("seq")?;
            newest = Some(newest.map_or(seq, |n: i64| n.max(seq)));
        }
        if count < ROUND_LIMIT {
            return Ok(newest);
        }
    }
}
