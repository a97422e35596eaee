//! What every write of the BFF is ([`Write`], run by [`crate::db::Db::write`] on the database's
//! writer), and what it reports.

use crate::problem::ApiError;
use crate::sql::Sql;
use std::future::Future;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What a write did to the event log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Appended {
    #[default]
    Nothing,
    /// Numbered in the write's own transaction (SQLite); the newest seq.
    Numbered(i64),
    /// Queued for [`crate::sequencer`] (PostgreSQL), numbered after the write commits.
    Queued,
}

/// Writes run by [`crate::db::Db::write`]: commands and the kitchen's steps, written once for both
/// databases.
pub trait Write: Send + 'static {
    type Output: Send + 'static;
    /// The writes, in `conn`'s transaction: the answer, and what they appended to the log.
    fn run<C: Sql>(
        self,
        conn: &mut C,
        backend: Backend,
    ) -> impl Future<Output = Result<(Self::Output, Appended), ApiError>> + Send;
}
