//! SQLite's one writer: a thread that owns a synchronous connection and runs each write whole,
//! one hop from the request's task and one hop back, instead of a hop per statement.
//!
//! Writes that arrive while a transaction runs wait for it and then share the next one (group
//! commit): each write runs under a savepoint of its own, so a write that fails undoes only
//! itself, and the group's commit makes them durable together. A write's answer goes out only
//! after that commit; if the commit fails, every write of the group is told so, and none of it
//! was applied.

use crate::problem::ApiError;
use crate::sql::{copy_error, lite_error, Lite};
use anyhow::Context;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use tokio::sync::{oneshot, watch};

/// The most writes one transaction takes: a bound on how long the first waits for the last.
const MAX_GROUP: usize = 64;

/// One write, run on the thread: whether to keep it, the newest event seq it appended, and
/// what to tell its caller once the group's commit is known.
type Job = Box<dyn FnOnce(&mut Lite) -> Finished + Send>;

struct Finished {
    keep: bool,
    seq: Option<i64>,
    tell: Box<dyn FnOnce(Result<(), ApiError>) + Send>,
}

#[derive(Clone, Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Opens `path` and starts the thread. `committed` learns the newest event seq of every
    /// group that commits.
    pub fn start(
        path: &str,
        committed: std::sync::Arc<watch::Sender<i64>>,
    ) -> anyhow::Result<Writer> {
        let conn = rusqlite::Connection::open(path)
            .with_context(|| format!("opening SQLite database {path} for writing"))?;
        // As sqlx's connections are set up (src/db.rs), and a statement cache that holds every
        // statement the commands use.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )
        .with_context(|| format!("setting up SQLite database {path}"))?;
        conn.set_prepared_statement_cache_capacity(128);
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tessera-sqlite-writer".into())
            .spawn(move || run(Lite(conn), queue, &committed))
            .context("starting the SQLite writer thread")?;
        Ok(Writer { jobs })
    }

    /// Runs `write` in the next transaction; its answer once that transaction committed.
    /// `write` returns its value and the newest event seq it appended, if any; an `Err` undoes
    /// what it did and is its answer.
    pub async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut Lite) -> Result<(T, Option<i64>), ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| match write(conn) {
            Ok((value, seq)) => Finished {
                keep: true,
                seq,
                tell: Box::new(move |committed| {
                    let _ = answer.send(committed.map(|()| value));
                }),
            },
            Err(error) => Finished {
                keep: false,
                seq: None,
                tell: Box::new(move |_| {
                    let _ = answer.send(Err(error));
                }),
            },
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the SQLite writer thread has stopped"))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("the SQLite writer dropped a write (it panicked)"))?
    }
}

fn run(mut conn: Lite, queue: mpsc::Receiver<Job>, committed: &watch::Sender<i64>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        group.extend(queue.try_iter().take(MAX_GROUP - 1));
        let mut finished = Vec::with_capacity(group.len());
        let outcome = (|| {
            exec(&mut conn, "BEGIN IMMEDIATE")?;
            for job in group {
                exec(&mut conn, "SAVEPOINT tessera_write")?;
                match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))) {
                    Ok(done) => {
                        if !done.keep {
                            exec(&mut conn, "ROLLBACK TO tessera_write")?;
                        }
                        finished.push(done);
                    }
                    // Its answer channel is gone with it: the caller hears of the panic.
                    Err(_) => exec(&mut conn, "ROLLBACK TO tessera_write")?,
                }
                exec(&mut conn, "RELEASE tessera_write")?;
            }
            exec(&mut conn, "COMMIT")
        })();
        match outcome {
            Ok(()) => {
                if let Some(newest) = finished.iter().filter_map(|f| f.seq).max() {
                    committed.send_if_modified(|seq| {
                        let newer = newest > *seq;
                        if newer {
                            *seq = newest;
                        }
                        newer
                    });
                }
                for done in finished {
                    (done.tell)(Ok(()));
                }
            }
            Err(error) => {
                let _ = conn.0.execute_batch("ROLLBACK");
                eprintln!("tessera-bff: a SQLite write group failed and was rolled back: {error}");
                for done in finished {
                    (done.tell)(Err(ApiError::from(copy_error(&error))));
                }
            }
        }
    }
}

fn exec(conn: &mut Lite, sql: &str) -> Result<(), sqlx::Error> {
    conn.0.execute_batch(sql).map_err(lite_error)
}
