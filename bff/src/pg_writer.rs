//! PostgreSQL's writes ([`crate::db::Db::write`]) on `tokio-postgres`, pipelined: statements
//! whose answer the write does not need wait and go out together with the next one that it
//! does, so a command costs fewer round trips. `BEGIN` goes out with the first statement;
//! the writes a command defers ([`crate::sql::Query::defer`]: its cart line, its event) go out
//! with `COMMIT`, or with the statement after them.
//!
//! Why not sqlx, as the reads: sqlx sends one statement and waits for its answer before the
//! next, and on two cores each of a command's round trips is a wake-up of a PostgreSQL process
//! and of a tokio worker. A cart command takes five round trips here instead of nine
//! (`docs/benchmarks.md`, "PostgreSQL's writes pipelined").
//!
//! Parameters are typed as sqlx's `Any` driver types them (`BIGINT` for integers, `TEXT` for
//! strings, NULLs included), so the same SQL means the same on both drivers, and rows are read
//! into the values SQLite's writer reads ([`crate::sql::OwnedRow`]).

use crate::problem::ApiError;
use crate::sql::{database_error, query, OwnedRow, Query, Row, Sql, Value};
use crate::write::{Appended, Backend, Write};
use rusqlite::types::Value as Owned;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

/// Prepared statements kept per connection (dropping a `Statement` closes it on the server).
const MAX_STATEMENTS: usize = 256;

/// Connections for writes, at most `max` at once, opened when first needed.
pub struct PgWriter {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

struct Conn {
    client: Client,
    /// Prepared once per connection, by SQL text and parameter types.
    statements: HashMap<(String, Vec<Type>), Statement>,
}

impl std::fmt::Debug for PgWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWriter")
            .field("free", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl PgWriter {
    pub fn new(url: &str, max: u32) -> Result<PgWriter, tokio_postgres::Error> {
        let config = url.parse::<tokio_postgres::Config>()?;
        Ok(PgWriter {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.max(1) as usize),
        })
    }

    /// Runs `write` in a transaction: committed when it answers `Ok`, rolled back otherwise.
    /// A connection whose transaction did not end cleanly (or whose future was dropped) is
    /// closed, never reused.
    pub async fn write<W: Write>(&self, write: W) -> Result<(W::Output, Appended), ApiError> {
        let _permit = tokio::time::timeout(Duration::from_secs(10), self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .expect("the semaphore is never closed");
        let conn = self.conn().await?;
        let mut pipe = Pipe {
            conn,
            pending: vec![query("BEGIN")],
        };
        let written = write.run(&mut pipe, Backend::Postgres).await;
        let ended = match &written {
            Ok(_) => pipe.send(query("COMMIT"), false).await.map(drop),
            // Nothing was sent: nothing to undo.
            Err(_) if pipe.pending.first().is_some_and(|q| q.sql == "BEGIN") => Ok(()),
            Err(_) => {
                pipe.pending.clear();
                pipe.send(query("ROLLBACK"), false).await.map(drop)
            }
        };
        match ended {
            Ok(()) => self.idle.lock().expect("idle connections").push(pipe.conn),
            Err(error) if written.is_ok() => return Err(error.into()),
            Err(_) => {}
        }
        written
    }

    async fn conn(&self) -> Result<Conn, sqlx::Error> {
        loop {
            let idle = self.idle.lock().expect("idle connections").pop();
            match idle {
                Some(conn) if !conn.client.is_closed() => return Ok(conn),
                Some(_) => continue,
                None => break,
            }
        }
        let (client, connection) = self.config.connect(NoTls).await.map_err(pg_error)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("tessera-bff: a PostgreSQL write connection ended: {error}");
            }
        });
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }
}

/// A transaction on one connection, with the statements not sent yet.
struct Pipe {
    conn: Conn,
    pending: Vec<Query<'static>>,
}

enum Answer {
    Count(u64),
    Rows(Vec<tokio_postgres::Row>),
}

impl Pipe {
    /// Sends what is pending and then `last` in one go; `last`'s answer, or the first error.
    async fn send(&mut self, last: Query<'_>, rows: bool) -> Result<Answer, sqlx::Error> {
        let mut queries = std::mem::take(&mut self.pending);
        queries.push(last.into_owned());
        let mut statements = Vec::with_capacity(queries.len());
        for q in &queries {
            statements.push(self.conn.statement(q).await?);
        }
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = queries
            .iter()
            .map(|q| q.args.iter().map(|a| a as &(dyn ToSql + Sync)).collect())
            .collect();
        let client = &self.conn.client;
        let last_index = queries.len() - 1;
        // Each future sends its statement when first polled, and join_all polls them in order.
        let answers =
            futures_util::future::join_all(statements.iter().zip(&params).enumerate().map(
                |(i, (statement, params))| -> Pin<Box<dyn Future<Output = _> + Send + '_>> {
                    if i == last_index && rows {
                        Box::pin(
                            async move { client.query(statement, params).await.map(Answer::Rows) },
                        )
                    } else {
                        Box::pin(async move {
                            client.execute(statement, params).await.map(Answer::Count)
                        })
                    }
                },
            ))
            .await;
        let mut last = None;
        for (answer, q) in answers.into_iter().zip(&queries) {
            match answer {
                Ok(answer) => last = Some(answer),
                Err(error) => return Err(with_statement(pg_error(error), &q.sql)),
            }
        }
        Ok(last.expect("at least one statement"))
    }
}

impl Conn {
    async fn statement(&mut self, q: &Query<'_>) -> Result<Statement, sqlx::Error> {
        let types: Vec<Type> = q
            .args
            .iter()
            .map(|a| match a {
                Value::Int(_) | Value::NullInt => Type::INT8,
                Value::Text(_) | Value::NullText => Type::TEXT,
            })
            .collect();
        let key = (q.sql.to_string(), types);
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        // The BFF's statements are a fixed set, but a RUM report's insert has one shape per
        // sample count: a bound keeps the connection's prepared statements finite anyway.
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        let statement = self
            .client
            .prepare_typed(&key.0, &key.1)
            .await
            .map_err(|e| with_statement(pg_error(e), &key.0))?;
        self.statements.insert(key, statement.clone());
        Ok(statement)
    }
}

impl Sql for Pipe {
    async fn exec(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        match self.send(query, false).await? {
            Answer::Count(n) => Ok(n),
            Answer::Rows(rows) => Ok(rows.len() as u64),
        }
    }

    async fn rows(&mut self, query: Query<'_>, first_only: bool) -> Result<Vec<Row>, sqlx::Error> {
        let Answer::Rows(rows) = self.send(query, true).await? else {
            return Ok(Vec::new());
        };
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: Arc<[String]> = first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let take = if first_only { 1 } else { rows.len() };
        rows.iter()
            .take(take)
            .map(|row| Ok(Row::Owned(OwnedRow::new(columns.clone(), values(row)?))))
            .collect()
    }

    async fn defer(&mut self, query: Query<'_>) -> Result<(), sqlx::Error> {
        self.pending.push(query.into_owned());
        Ok(())
    }
}

/// A row's values as SQLite's writer reads them: integers and booleans as integers, text as
/// text. Any other column type is an error that names it.
fn values(row: &tokio_postgres::Row) -> Result<Vec<Owned>, sqlx::Error> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)
                .map(|v| v.map(Owned::Integer)),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|n| Owned::Integer(n.into()))),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|n| Owned::Integer(n.into()))),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)
                .map(|v| v.map(|b| Owned::Integer(b.into()))),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Owned::Real)),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                .try_get::<_, Option<String>>(i)
                .map(|v| v.map(Owned::Text)),
            ref other => {
                return Err(sqlx::Error::Protocol(format!(
                    "column {:?} is of PostgreSQL type {other}, which the writer does not read \
                     (cast it to BIGINT or TEXT)",
                    column.name()
                )))
            }
        };
        values.push(value.map_err(pg_error)?.unwrap_or(Owned::Null));
    }
    Ok(values)
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Int(n) => n.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::NullInt | Value::NullText => Ok(IsNull::Yes),
        }
    }

    /// Statements are prepared with the types of their values (see [`Conn::statement`]).
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A tokio-postgres error as sqlx reports PostgreSQL's: the SQLSTATE as the error's code, so
/// [`crate::problem`] tells a deadlock or serialization failure (retry) from a broken write.
fn pg_error(err: tokio_postgres::Error) -> sqlx::Error {
    match err.as_db_error() {
        Some(db) => database_error(db.code().code(), db.message()),
        None => sqlx::Error::Protocol(format!("PostgreSQL: {err}")),
    }
}

/// The error, with the statement it concerns when it is not the database's own (whose code
/// must stay readable).
fn with_statement(err: sqlx::Error, sql: &str) -> sqlx::Error {
    match err {
        sqlx::Error::Protocol(message) => sqlx::Error::Protocol(format!("{message}, in {sql:?}")),
        other => other,
    }
}
