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
        // statement the commands use. The writer checkpoints every 250 pages of log instead of
        // SQLite's 1,000: a checkpoint (copy and sync) holds up the commits behind it, and
        // shorter ones took the bench's p99 from 21.5 to 12-15 ms at the same throughput.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
             PRAGMA wal_autocheckpoint = 250;",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::query;
    use std::sync::Arc;

    fn start() -> (tempfile::TempDir, Writer, watch::Receiver<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db").display().to_string();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY)")
            .unwrap();
        let committed = Arc::new(watch::Sender::new(0));
        let seen = committed.subscribe();
        (dir, Writer::start(&path, committed).unwrap(), seen)
    }

    fn insert(conn: &mut Lite, id: &str) {
        futures_executor::block_on(
            query("INSERT INTO t (id) VALUES ($1)")
                .bind(id)
                .execute(conn),
        )
        .unwrap();
    }

    fn ids(conn: &mut Lite) -> Vec<String> {
        futures_executor::block_on(query("SELECT id FROM t ORDER BY id").fetch_all(conn))
            .unwrap()
            .iter()
            .map(|r| r.try_get("id").unwrap())
            .collect()
    }

    /// Holds the writer in a write until `release` is sent, so what is sent meanwhile forms
    /// one group.
    async fn hold(writer: &Writer) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let w = writer.clone();
        let holder = tokio::spawn(async move {
            w.write(move |_| {
                started.send(()).unwrap();
                held.recv().unwrap();
                Ok(((), None))
            })
            .await
            .unwrap()
        });
        running.await.unwrap();
        (release, holder)
    }

    #[tokio::test]
    async fn a_write_that_fails_or_panics_undoes_only_itself_in_its_group() {
        let (_dir, writer, mut seen) = start();
        let (release, holder) = hold(&writer).await;
        let send = |id: &'static str, how: u8| {
            let w = writer.clone();
            tokio::spawn(async move {
                w.write(move |conn| {
                    insert(conn, id);
                    match how {
                        0 => Ok((id, Some(id.len() as i64))),
                        1 => Err(ApiError::conflict("refused")),
                        _ => panic!("a bug in a write"),
                    }
                })
                .await
            })
        };
        let (a, b, c, d) = (send("a", 0), send("b", 1), send("c", 2), send("dd", 0));
        // Wait until all four are queued behind the held write.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        release.send(()).unwrap();
        holder.await.unwrap();
        assert_eq!(a.await.unwrap().unwrap(), "a");
        assert_eq!(b.await.unwrap().unwrap_err().status.as_u16(), 409);
        assert_eq!(c.await.unwrap().unwrap_err().status.as_u16(), 500);
        assert_eq!(d.await.unwrap().unwrap(), "dd");
        // The newest seq of the group is announced once it committed.
        seen.changed().await.unwrap();
        assert_eq!(*seen.borrow(), 2);
        let kept = writer.write(|conn| Ok((ids(conn), None))).await.unwrap();
        assert_eq!(kept, ["a", "dd"]);
    }

    #[tokio::test]
    async fn when_the_commit_fails_every_write_of_the_group_is_told_and_none_is_kept() {
        let (_dir, writer, _) = start();
        let (release, holder) = hold(&writer).await;
        let w = writer.clone();
        let fine = tokio::spawn(async move {
            w.write(|conn| {
                insert(conn, "a");
                Ok(((), None))
            })
            .await
        });
        // A write that ends the transaction under the writer's feet: its savepoint release
        // and the commit after it fail.
        let w = writer.clone();
        let breaks = tokio::spawn(async move {
            w.write(|conn| {
                conn.0.execute_batch("ROLLBACK").unwrap();
                Ok(((), None))
            })
            .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        release.send(()).unwrap();
        holder.await.unwrap();
        assert!(fine.await.unwrap().is_err(), "told of the failed commit");
        assert!(breaks.await.unwrap().is_err());
        let kept = writer.write(|conn| Ok((ids(conn), None))).await.unwrap();
        assert!(kept.is_empty(), "{kept:?}");
    }
}
