//! The SQL the BFF runs, through one small API over three drivers: sqlx (the readers of both
//! databases), a synchronous SQLite connection that SQLite's writer thread owns
//! ([`crate::writer`]), and PostgreSQL's pipelined writer on tokio-postgres
//! ([`crate::pg_writer`]). Commands are written once, generic over [`Sql`], and run on any.
//!
//! Why not sqlx for the writes: sqlx runs every SQLite statement on a thread of its own
//! connection, so each statement is a hop between threads, and on a loaded 2-core machine those
//! task switches, not SQLite, were most of a command's time. On the writer thread a whole
//! command is one hop. On PostgreSQL, sqlx waits for each statement's answer before sending
//! the next; the pipelined writer sends the ones whose answer is not needed with the next.
//!
//! Placeholders are `$1`, `$2`, …, which both databases take; a SQLite statement binds them by
//! name, so their order in the text does not matter.

use rusqlite::types::{FromSql, ToSqlOutput, Value as LiteValue, ValueRef};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool};
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

/// A value bound to a placeholder. NULLs keep a type: PostgreSQL infers a parameter's type from
/// what is bound.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

/// What can be bound with [`Query::bind`].
pub trait Bind {
    fn value(self) -> Value;
}

impl Bind for i64 {
    fn value(self) -> Value {
        Value::Int(self)
    }
}

impl Bind for &str {
    fn value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Bind for String {
    fn value(self) -> Value {
        Value::Text(self)
    }
}

impl Bind for &String {
    fn value(self) -> Value {
        Value::Text(self.clone())
    }
}

impl Bind for Option<i64> {
    fn value(self) -> Value {
        self.map_or(Value::NullInt, Value::Int)
    }
}

impl Bind for Option<String> {
    fn value(self) -> Value {
        self.map_or(Value::NullText, Value::Text)
    }
}

impl Bind for &Option<String> {
    fn value(self) -> Value {
        self.clone().value()
    }
}

/// A statement and its arguments; run it with one of the `fetch_*`/`execute` methods.
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'q> {
    pub(crate) sql: Cow<'q, str>,
    pub(crate) args: Vec<Value>,
}

pub fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

/// What a statement that returns no rows did.
#[derive(Debug)]
pub struct Done(u64);

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.0
    }
}

impl<'q> Query<'q> {
    /// Binds the next placeholder: the first call `$1`, the second `$2`, …
    pub fn bind(mut self, value: impl Bind) -> Self {
        self.args.push(value.value());
        self
    }

    pub async fn execute(self, conn: &mut impl Sql) -> Result<Done, sqlx::Error> {
        conn.exec(self).await.map(Done)
    }

    /// Runs a write whose answer is not needed (nor its rows affected) when the connection
    /// next talks to the database: at once on most, with the next statement or the commit on
    /// PostgreSQL's pipelined writer ([`crate::pg_writer`]). Its error, if any, is then that
    /// statement's (or the commit's), which fails the write all the same.
    pub async fn defer(self, conn: &mut impl Sql) -> Result<(), sqlx::Error> {
        conn.defer(self).await
    }

    pub(crate) fn into_owned(self) -> Query<'static> {
        Query {
            sql: Cow::Owned(self.sql.into_owned()),
            args: self.args,
        }
    }

    pub async fn fetch_all(self, conn: &mut impl Sql) -> Result<Vec<Row>, sqlx::Error> {
        conn.rows(self, false).await
    }

    pub async fn fetch_optional(self, conn: &mut impl Sql) -> Result<Option<Row>, sqlx::Error> {
        Ok(conn.rows(self, true).await?.into_iter().next())
    }

    pub async fn fetch_one(self, conn: &mut impl Sql) -> Result<Row, sqlx::Error> {
        self.fetch_optional(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    fn to_sqlx(&self) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.sql);
        for arg in &self.args {
            q = match arg {
                Value::Int(i) => q.bind(*i),
                Value::Text(s) => q.bind(s.as_str()),
                Value::NullInt => q.bind(None::<i64>),
                Value::NullText => q.bind(None::<String>),
            };
        }
        q
    }
}

/// A connection (or a pool) that runs [`Query`]s.
pub trait Sql: Send {
    /// Rows affected.
    fn exec(&mut self, query: Query<'_>) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    /// All rows, or at most the first one.
    fn rows(
        &mut self,
        query: Query<'_>,
        first_only: bool,
    ) -> impl Future<Output = Result<Vec<Row>, sqlx::Error>> + Send;
    /// See [`Query::defer`].
    fn defer(&mut self, query: Query<'_>) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        async move { self.exec(query).await.map(drop) }
    }
}

async fn sqlx_fetch<'c>(
    conn: impl sqlx::Executor<'c, Database = Any>,
    query: &Query<'_>,
    first_only: bool,
) -> Result<Vec<Row>, sqlx::Error> {
    let q = query.to_sqlx();
    Ok(if first_only {
        q.fetch_optional(conn)
            .await?
            .map(Row::Any)
            .into_iter()
            .collect()
    } else {
        q.fetch_all(conn).await?.into_iter().map(Row::Any).collect()
    })
}

impl Sql for AnyConnection {
    async fn exec(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        Ok(query.to_sqlx().execute(&mut *self).await?.rows_affected())
    }

    async fn rows(&mut self, query: Query<'_>, first_only: bool) -> Result<Vec<Row>, sqlx::Error> {
        sqlx_fetch(&mut *self, &query, first_only).await
    }
}

/// Each statement on whichever pooled connection is free.
impl Sql for &AnyPool {
    async fn exec(&mut self, query: Query<'_>) -> Result<u64, sqlx::Error> {
        Ok(query.to_sqlx().execute(*self).await?.rows_affected())
    }

    async fn rows(&mut self, query: Query<'_>, first_only: bool) -> Result<Vec<Row>, sqlx::Error> {
        sqlx_fetch(*self, &query, first_only).await
    }
}

/// A synchronous SQLite connection: its futures are ready when made.
pub struct Lite(pub rusqlite::Connection);

impl Lite {
    fn run<T>(
        &mut self,
        query: &Query<'_>,
        each: impl FnOnce(&mut rusqlite::Statement<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        let mut statement = self.0.prepare_cached(&query.sql).map_err(lite_error)?;
        for index in 1..=statement.parameter_count() {
            let arg = statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| query.args.get(n.wrapping_sub(1)))
                .ok_or_else(|| {
                    sqlx::Error::Protocol(format!(
                        "placeholder {index} of {:?} has no argument (write $1, $2, …)",
                        query.sql
                    ))
                })?;
            statement
                .raw_bind_parameter(index, arg)
                .map_err(lite_error)?;
        }
        each(&mut statement).map_err(lite_error)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::NullInt | Value::NullText => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl Sql for Lite {
    fn exec(&mut self, query: Query<'_>) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
        let done = self.run(&query, |s| s.raw_execute().map(|n| n as u64));
        std::future::ready(done)
    }

    fn rows(
        &mut self,
        query: Query<'_>,
        first_only: bool,
    ) -> impl Future<Output = Result<Vec<Row>, sqlx::Error>> + Send {
        let rows = self.run(&query, |s| {
            let columns: Arc<[String]> = s.column_names().into_iter().map(String::from).collect();
            let width = columns.len();
            let mut rows = Vec::new();
            let mut raw = s.raw_query();
            while let Some(row) = raw.next()? {
                let values = (0..width)
                    .map(|i| row.get::<_, LiteValue>(i))
                    .collect::<rusqlite::Result<_>>()?;
                rows.push(Row::Owned(OwnedRow::new(columns.clone(), values)));
                if first_only {
                    break;
                }
            }
            Ok(rows)
        });
        std::future::ready(rows)
    }
}

/// One row of a result.
pub enum Row {
    Any(AnyRow),
    /// Read whole into values: SQLite's writer, PostgreSQL's ([`crate::pg_writer`]).
    Owned(OwnedRow),
}

pub struct OwnedRow {
    columns: Arc<[String]>,
    values: Vec<LiteValue>,
}

impl OwnedRow {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<LiteValue>) -> OwnedRow {
        OwnedRow { columns, values }
    }
}

/// A column type both drivers decode.
pub trait Column: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + FromSql {}

impl<T> Column for T where T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + FromSql {}

impl Row {
    /// The value of the column named `name`.
    pub fn try_get<T: Column, I: AsRef<str>>(&self, name: I) -> Result<T, sqlx::Error> {
        let name = name.as_ref();
        match self {
            Row::Any(row) => sqlx::Row::try_get(row, name),
            Row::Owned(row) => {
                let index = row
                    .columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_owned()))?;
                T::column_result(ValueRef::from(&row.values[index])).map_err(|e| {
                    sqlx::Error::ColumnDecode {
                        index: name.to_owned(),
                        source: Box::new(e),
                    }
                })
            }
        }
    }
}

/// A rusqlite error as sqlx reports SQLite's: the extended result code as the error's code,
/// so [`crate::problem`] tells a busy database from a broken one either way.
pub fn lite_error(err: rusqlite::Error) -> sqlx::Error {
    match err {
        rusqlite::Error::SqliteFailure(failure, message) => database_error(
            &failure.extended_code.to_string(),
            &message.unwrap_or_else(|| failure.to_string()),
        ),
        other => sqlx::Error::Protocol(format!("SQLite: {other}")),
    }
}

/// The same error again, for each of several callers that one failure concerns: a database
/// error keeps its code and message.
pub fn copy_error(err: &sqlx::Error) -> sqlx::Error {
    match err.as_database_error() {
        Some(db) => database_error(&db.code().unwrap_or_default(), db.message()),
        None => sqlx::Error::Protocol(err.to_string()),
    }
}

/// A database error with `code` (SQLite's extended result code, or PostgreSQL's SQLSTATE).
pub fn database_error(code: &str, message: &str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(DbFailure {
        code: code.to_owned(),
        message: message.to_owned(),
    }))
}

#[derive(Debug)]
struct DbFailure {
    code: String,
    message: String,
}

impl std::fmt::Display for DbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for DbFailure {}

impl sqlx::error::DatabaseError for DbFailure {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.code))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        match self.code.as_str() {
            // SQLite's extended result codes, then PostgreSQL's SQLSTATEs.
            "2067" | "1555" | "23505" => sqlx::error::ErrorKind::UniqueViolation,
            "787" | "23503" => sqlx::error::ErrorKind::ForeignKeyViolation,
            "1299" | "23502" => sqlx::error::ErrorKind::NotNullViolation,
            "275" | "23514" => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lite() -> Lite {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, note TEXT)")
            .unwrap();
        Lite(conn)
    }

    fn now<T>(f: impl Future<Output = T>) -> T {
        futures_executor::block_on(f)
    }

    #[test]
    fn placeholders_bind_by_number_wherever_they_stand() {
        let mut db = lite();
        let done = now(query("INSERT INTO t (n, id, note) VALUES ($2, $1, $3)")
            .bind("a")
            .bind(7)
            .bind(None::<String>)
            .execute(&mut db))
        .unwrap();
        assert_eq!(done.rows_affected(), 1);
        let row = now(query("SELECT id, n, note FROM t WHERE n = $1 AND id = $2")
            .bind(7)
            .bind("a")
            .fetch_one(&mut db))
        .unwrap();
        assert_eq!(row.try_get::<String, _>("id").unwrap(), "a");
        assert_eq!(row.try_get::<i64, _>("n").unwrap(), 7);
        assert_eq!(row.try_get::<Option<String>, _>("note").unwrap(), None);
        assert!(matches!(
            row.try_get::<i64, _>("missing"),
            Err(sqlx::Error::ColumnNotFound(_))
        ));
        assert!(matches!(
            row.try_get::<i64, _>("id"),
            Err(sqlx::Error::ColumnDecode { .. })
        ));
    }

    #[test]
    fn a_missing_argument_and_a_constraint_are_errors_that_say_so() {
        let mut db = lite();
        let missing = now(query("SELECT $1, $2").bind(1).fetch_all(&mut db))
            .err()
            .expect("an error");
        assert!(missing.to_string().contains("placeholder 2"), "{missing}");
        now(query("INSERT INTO t (id) VALUES ($1)")
            .bind("a")
            .execute(&mut db))
        .unwrap();
        let twice = now(query("INSERT INTO t (id) VALUES ($1)")
            .bind("a")
            .execute(&mut db))
        .unwrap_err();
        let db_error = twice.as_database_error().expect("a database error");
        assert_eq!(db_error.code().as_deref(), Some("1555"));
        assert_eq!(db_error.kind(), sqlx::error::ErrorKind::UniqueViolation);
    }

    #[test]
    fn first_only_stops_at_the_first_row() {
        let mut db = lite();
        for id in ["a", "b"] {
            now(query("INSERT INTO t (id) VALUES ($1)")
                .bind(id)
                .execute(&mut db))
            .unwrap();
        }
        let all = now(query("SELECT id FROM t ORDER BY id").fetch_all(&mut db)).unwrap();
        assert_eq!(all.len(), 2);
        let first = now(query("SELECT id FROM t ORDER BY id").fetch_optional(&mut db)).unwrap();
        assert_eq!(first.unwrap().try_get::<String, _>("id").unwrap(), "a");
    }
}
