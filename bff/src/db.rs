//! One code path for SQLite and PostgreSQL: SQL both accept (`$1` placeholders, `ON CONFLICT`,
//! integers for booleans, text for timestamps and JSON), run through [`crate::sql`]: queries on
//! sqlx's `Any` driver, writes on SQLite's writer thread ([`crate::writer`]) or on PostgreSQL's
//! pipelined writer ([`crate::pg_writer`]).

use crate::pg_writer::PgWriter;
use crate::problem::ApiError;
use crate::sequencer::Sequencer;
use crate::write::{Appended, Backend, Write};
use crate::writer::Writer;
use anyhow::{bail, Context, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct Db {
    pub backend: Backend,
    /// Queries.
    reader: AnyPool,
    /// Migrations, the sequencer and tests' seeding (on PostgreSQL the same pool as `reader`;
    /// on SQLite a single connection). Commands go to `sqlite_writer` or `pg_writer`.
    writer: AnyPool,
    /// PostgreSQL's writes, pipelined (see [`crate::pg_writer`]).
    pg_writer: Option<Arc<PgWriter>>,
    /// SQLite's one writer for commands (see [`crate::writer`]): SQLite admits one writer at a
    /// time, and queueing writes there is fair and fast where racing for the file lock would
    /// fail with `SQLITE_BUSY` or spin in the busy handler.
    sqlite_writer: Option<Writer>,
    /// PostgreSQL's numbering of queued events (see [`crate::sequencer`]).
    sequencer: Option<Arc<Sequencer>>,
    /// The newest event seq this process has committed: live updates wake on it at once instead
    /// of polling the log.
    committed: Arc<watch::Sender<i64>>,
}

/// Migrations, applied in order at start; each runs once, in its own transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/0001_schema.sql")),
    (2, "seed", include_str!("../migrations/0002_seed.sql")),
    (
        3,
        "idempotency per caller",
        include_str!("../migrations/0003_idempotency_per_caller.sql"),
    ),
    (
        4,
        "orders per owner",
        include_str!("../migrations/0004_orders_per_owner.sql"),
    ),
    (
        5,
        "event queue",
        include_str!("../migrations/0005_event_queue.sql"),
    ),
    (6, "rum", include_str!("../migrations/0006_rum.sql")),
    (7, "push", include_str!("../migrations/0007_push.sql")),
];

/// PostgreSQL's identity column, and what SQLite says for it: AUTOINCREMENT never hands out
/// a number twice, even after the newest row is gone.
const PG_IDENTITY: &str = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
const SQLITE_IDENTITY: &str = "INTEGER PRIMARY KEY AUTOINCREMENT";

impl Db {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            bail!("unsupported database URL {url:?}: expected sqlite://… or postgres://…");
        };
        let options = AnyConnectOptions::from_str(url)
            .with_context(|| format!("parsing database URL {url:?}"))?;
        let mut sqlite_file = None;
        let mut db = match backend {
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))?;
                Db {
                    backend,
                    reader: pool.clone(),
                    writer: pool,
                    pg_writer: Some(Arc::new(
                        PgWriter::new(url, max_connections)
                            .with_context(|| format!("parsing PostgreSQL URL {}", redact(url)))?,
                    )),
                    sqlite_writer: None,
                    sequencer: None,
                    committed: Arc::new(watch::Sender::new(0)),
                }
            }
            Backend::Sqlite => {
                sqlite_file = Some(sqlite_path(url)?);
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL lets queries run beside the writer. NORMAL sync survives a
                                // crash of this process (the tests kill -9 it); only an OS crash or
                                // power loss can drop the last commits.
                                conn.execute(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let writer = pool(1)
                    .await
                    .with_context(|| format!("opening SQLite database {url}"))?;
                let reader = pool(max_connections.max(1))
                    .await
                    .with_context(|| format!("opening SQLite database {url}"))?;
                Db {
                    backend,
                    reader,
                    writer,
                    pg_writer: None,
                    sqlite_writer: None,
                    sequencer: None,
                    committed: Arc::new(watch::Sender::new(0)),
                }
            }
        };
        db.migrate().await.context("applying migrations")?;
        // After the migrations, so the schema is there when these start.
        match sqlite_file {
            Some(path) => db.sqlite_writer = Some(Writer::start(&path, db.committed.clone())?),
            None => {
                db.sequencer = Some(Arc::new(Sequencer::start(
                    db.writer.clone(),
                    db.committed.clone(),
                )))
            }
        }
        Ok(db)
    }

    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// A transaction outside the command path, for tests that seed data. Commands and every
    /// other write of the server go through [`Db::write`].
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.writer.begin().await
    }

    /// Runs `write` in a transaction of its own (PostgreSQL) or of its group (SQLite's writer
    /// thread); an `Err` undoes it. Its answer comes once it is committed and its events are
    /// in the log; live updates learn of them then.
    pub async fn write<W: Write>(&self, write: W) -> Result<W::Output, ApiError> {
        if let Some(writer) = &self.sqlite_writer {
            // The thread's connection is synchronous, so the future is ready when polled.
            return writer
                .write(move |conn| {
                    let (value, appended) =
                        futures_executor::block_on(write.run(conn, Backend::Sqlite))?;
                    let seq = match appended {
                        Appended::Numbered(seq) => Some(seq),
                        Appended::Nothing | Appended::Queued => None,
                    };
                    Ok((value, seq))
                })
                .await;
        }
        let pg_writer = self
            .pg_writer
            .as_ref()
            .context("a PostgreSQL database without its writer")?;
        let (value, appended) = pg_writer.write(write).await?;
        match (appended, &self.sequencer) {
            (Appended::Numbered(seq), _) => self.announce_commit(seq),
            (Appended::Queued, Some(sequencer)) => sequencer.numbered().await,
            _ => {}
        }
        Ok(value)
    }

    /// Call after committing a transaction that appended event `seq`.
    pub fn announce_commit(&self, seq: i64) {
        self.committed.send_if_modified(|newest| {
            let newer = seq > *newest;
            if newer {
                *newest = seq;
            }
            newer
        });
    }

    /// Changes whenever this process commits an event (to its newest seq).
    pub fn commits(&self) -> watch::Receiver<i64> {
        self.committed.subscribe()
    }

    async fn migrate(&self) -> Result<()> {
        self.writer
            .execute("CREATE TABLE IF NOT EXISTS tessera_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL)")
            .await
            .context("creating the migrations table")?;
        for (version, description, sql) in MIGRATIONS {
            let mut tx = self.writer.begin().await?;
            // Claiming the version first makes concurrent starts against one PostgreSQL safe:
            // the second waits for the first to commit, then finds the row and skips.
            let claimed = sqlx::query("INSERT INTO tessera_migrations (version, description) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(version)
                .bind(*description)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("recording migration {version}"))?
                .rows_affected();
            if claimed == 1 {
                let sql = match self.backend {
                    Backend::Postgres => sql.to_string(),
                    Backend::Sqlite => sql.replace(PG_IDENTITY, SQLITE_IDENTITY),
                };
                sqlx::raw_sql(&sql)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("migration {version} ({description})"))?;
            }
            tx.commit()
                .await
                .with_context(|| format!("committing migration {version}"))?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The file a `sqlite:` URL names, its folder created. An in-memory database is refused: each
/// of the server's connections would get a database of its own.
fn sqlite_path(url: &str) -> Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        bail!(
            "database URL {url:?} names an in-memory SQLite database; the BFF keeps several \
             connections to one database, so give it a file: sqlite://PATH?mode=rwc"
        );
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(path.to_owned())
}

/// The URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_has_the_identity_column_sqlite_rewrites() {
        let schema = super::MIGRATIONS[0].2;
        assert_eq!(schema.matches(super::PG_IDENTITY).count(), 1);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
