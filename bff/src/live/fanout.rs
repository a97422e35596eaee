//! Telling other BFF instances that the log moved. Every instance publishes the newest seq it
//! committed (coalesced: a burst of commits is one message per round trip) and, on any message,
//! nudges its tailer, which reads the shared log. Messages carry no events, so a lost or
//! repeated one costs a read, never an event: the tailer's own poll covers what gets lost.

use crate::write::Backend;
use crate::AppState;
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The PostgreSQL `NOTIFY` channel and the NATS subject.
pub const CHANNEL: &str = "tessera_events";
const SUBJECT: &str = "tessera.events";
/// Wait after a failure before connecting again.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// One process: its own commits wake its tailer directly.
    None,
    /// `LISTEN/NOTIFY` on the database the instances share.
    Postgres,
    /// A NATS server (`nats://host:port`).
    Nats(String),
}

impl Fanout {
    /// From the `--live-fanout` setting; `auto` picks PostgreSQL's own channel when the
    /// database is PostgreSQL.
    pub fn parse(setting: &str, backend: Backend) -> Result<Fanout> {
        Ok(match setting {
            "auto" if backend == Backend::Postgres => Fanout::Postgres,
            "auto" | "none" => Fanout::None,
            "postgres" if backend == Backend::Postgres => Fanout::Postgres,
            "postgres" => bail!("--live-fanout postgres needs a PostgreSQL database URL"),
            url if url.starts_with("nats://") => Fanout::Nats(url.to_owned()),
            other => {
                bail!("--live-fanout {other:?}: expected auto, none, postgres or nats://HOST:PORT")
            }
        })
    }
}

/// Starts publishing this instance's commits and listening for the others'.
pub fn start(state: &AppState) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            let result = match &state.fanout {
                Fanout::None => return,
                Fanout::Postgres => postgres(&state).await,
                Fanout::Nats(url) => nats(&state, url).await,
            };
            if let Err(err) = result {
                eprintln!("tessera-bff: live fan-out: {err:#}; reconnecting");
            }
            // Events committed elsewhere meanwhile are found by the tailer's poll.
            tokio::time::sleep(RETRY).await;
        }
    })
}

async fn postgres(state: &AppState) -> Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect(&state.database_url)
        .await
        .context("connecting the LISTEN connection")?;
    listener
        .listen(CHANNEL)
        .await
        .context("LISTEN on the live channel")?;
    // Listening before the first nudge: whatever committed before is read by the tailer now.
    state.live.nudge();
    let mut commits = state.db.commits();
    loop {
        tokio::select! {
            notification = listener.try_recv() => match notification.context("receiving a notification")? {
                Some(_) => state.live.nudge(),
                // The connection dropped and reconnected; notifications may have been missed.
                None => state.live.nudge(),
            },
            changed = commits.changed() => {
                changed.context("the commit watch closed")?;
                let seq = *commits.borrow_and_update();
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(seq.to_string())
                    .execute(state.db.reader())
                    .await
                    .context("NOTIFY on the live channel")?;
            }
        }
    }
}

async fn nats(state: &AppState, url: &str) -> Result<()> {
    let client = async_nats::connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    let mut subscription = client
        .subscribe(SUBJECT)
        .await
        .context("subscribing to the live subject")?;
    client.flush().await.context("flushing the subscription")?;
    state.live.nudge();
    let mut commits = state.db.commits();
    loop {
        tokio::select! {
            message = subscription.next() => match message {
                Some(_) => state.live.nudge(),
                None => bail!("the NATS subscription ended"),
            },
            changed = commits.changed() => {
                changed.context("the commit watch closed")?;
                let seq = *commits.borrow_and_update();
                client
                    .publish(SUBJECT, seq.to_string().into())
                    .await
                    .context("publishing to NATS")?;
            }
        }
    }
}
