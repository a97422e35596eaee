//! Running commands: a single command's route and `POST /api/batch` both hand theirs here, and
//! they run through the same steps in one write ([`crate::db::Db::write`]): the command, its
//! `Idempotency-Key` recorded with its answer (a key recorded already undoes the command and
//! replays that answer), its event appended last. A refused command undoes only itself: in a
//! batch each command runs under a savepoint; a command alone needs none, since undoing the
//! write undoes just it (two round trips less on PostgreSQL).

use crate::events::{self, NewEvent};
use crate::idempotency::{self, Applied, Command, Outcome};
use crate::problem::ApiError;
use crate::routes::{cart, restaurants};
use crate::sql::{query, Sql};
use crate::write::{Appended, Backend, Write};
use crate::AppState;
use anyhow::Context;
use axum::response::Response;

/// A command routed and checked as far as it can be without the database.
pub enum Prepared {
    CartItem(cart::PutItem),
    Checkout(cart::PlaceOrder),
    MenuItem(restaurants::PutItem),
}

impl Prepared {
    fn command(&self) -> &Command {
        match self {
            Prepared::CartItem(c) => &c.command,
            Prepared::Checkout(c) => &c.command,
            Prepared::MenuItem(c) => &c.command,
        }
    }

    async fn apply<C: Sql>(self, conn: &mut C, kitchen_step_ms: u64) -> Result<Applied, ApiError> {
        match self {
            Prepared::CartItem(c) => c.apply(conn).await,
            Prepared::Checkout(c) => c.apply(conn, kitchen_step_ms).await,
            Prepared::MenuItem(c) => c.apply(conn).await,
        }
    }
}

/// What one command answers.
pub enum Answer {
    /// Its outcome: fresh, or the recorded one of an earlier use of its key (`replayed`).
    Done { outcome: Outcome, replayed: bool },
    /// Refused: nothing of it stays, except a checkout's refreshed cart.
    Refused(ApiError),
}

impl Answer {
    pub fn into_response(self) -> Result<Response, ApiError> {
        match self {
            Answer::Done { outcome, replayed } => Ok(outcome.into_response(replayed)),
            Answer::Refused(error) => Err(error),
        }
    }
}

/// Runs one command, as its route's handler answers it.
pub async fn run_one(state: &AppState, command: Prepared) -> Result<Response, ApiError> {
    let mut answers = run(state, vec![Ok(command)]).await?;
    answers
        .pop()
        .context("a command got no answer")?
        .into_response()
}

/// Runs `commands` in order in one write; one answer each. Those already refused (`Err`) are
/// answered as they are.
pub async fn run(
    state: &AppState,
    commands: Vec<Result<Prepared, ApiError>>,
) -> Result<Vec<Answer>, ApiError> {
    if commands.iter().all(Result::is_err) {
        return Ok(commands
            .into_iter()
            .filter_map(Result::err)
            .map(Answer::Refused)
            .collect());
    }
    let alone = match commands.as_slice() {
        [Ok(command)] => Some(command.command().clone()),
        _ => None,
    };
    let written = state
        .db
        .write(Commands {
            commands,
            kitchen_step_ms: state.kitchen_step_ms,
            alone: alone.is_some(),
        })
        .await;
    match (written, alone) {
        // Refused and undone (see `alone`): answered as it would be in a batch.
        (Err(error), Some(key)) => Ok(vec![replay_or(&mut state.db.reader(), &key, error).await]),
        (written, _) => written,
    }
}

struct Commands {
    commands: Vec<Result<Prepared, ApiError>>,
    kitchen_step_ms: u64,
    /// One command, run without a savepoint: its refusal fails the whole write.
    alone: bool,
}

impl Write for Commands {
    type Output = Vec<Answer>;

    async fn run<C: Sql>(
        self,
        conn: &mut C,
        backend: Backend,
    ) -> Result<(Vec<Answer>, Appended), ApiError> {
        let mut answers = Vec::with_capacity(self.commands.len());
        let mut applied = Vec::new();
        for command in self.commands {
            answers.push(match command {
                Ok(command) if self.alone => {
                    alone(conn, command, self.kitchen_step_ms, &mut applied).await?
                }
                Ok(command) => one(conn, command, self.kitchen_step_ms, &mut applied).await?,
                Err(error) => Answer::Refused(error),
            });
        }
        let mut appended = Appended::Nothing;
        for event in applied {
            appended = events::append(conn, backend, event).await?;
        }
        Ok((answers, appended))
    }
}

/// Runs a command that is its write's only one. `Err` when it is refused with nothing to keep,
/// or its key turns out to be recorded already: the write is undone, and [`run`] then answers
/// it (replaying the recorded answer).
///
/// The key is not looked up first: a fresh key, by far the most common, would pay a statement
/// for nothing. A command whose key was used applies in vain and is undone when its key cannot
/// be recorded; one sent again with `If-Match` is refused by its own precondition first.
async fn alone<C: Sql>(
    conn: &mut C,
    command: Prepared,
    kitchen_step_ms: u64,
    applied: &mut Vec<NewEvent>,
) -> Result<Answer, ApiError> {
    let key = command.command().clone();
    match command.apply(&mut *conn, kitchen_step_ms).await? {
        Applied::Accepted { outcome, event } => {
            if !idempotency::record(&mut *conn, &key, &outcome).await? {
                return Err(idempotency::key_in_use());
            }
            applied.push(event);
            Ok(Answer::Done {
                outcome,
                replayed: false,
            })
        }
        // A refusal that keeps a change (a checkout that refreshed the cart) must not be kept
        // for a key that already has an answer: that answer is replayed instead.
        Applied::Refused { .. } if idempotency::lookup(&mut *conn, &key).await?.is_some() => {
            Err(idempotency::key_in_use())
        }
        Applied::Refused { error, event } => {
            applied.push(event);
            Ok(Answer::Refused(error))
        }
    }
}

/// Runs one command of a batch as [`alone`] under a savepoint: kept when it is answered, undone
/// when it is refused with nothing to keep (then answered as [`run`] answers a lone one).
async fn one<C: Sql>(
    conn: &mut C,
    command: Prepared,
    kitchen_step_ms: u64,
    applied: &mut Vec<NewEvent>,
) -> Result<Answer, ApiError> {
    let key = command.command().clone();
    savepoint(conn, "SAVEPOINT tessera_command").await?;
    let answered = match alone(conn, command, kitchen_step_ms, applied).await {
        // The release also sends the command's deferred writes: their failure is its own.
        Ok(answer) => savepoint(conn, "RELEASE SAVEPOINT tessera_command")
            .await
            .map(|()| answer),
        Err(error) => Err(error),
    };
    match answered {
        Ok(answer) => Ok(answer),
        Err(error) => {
            undo(conn).await?;
            Ok(replay_or(conn, &key, error).await)
        }
    }
}

async fn savepoint<C: Sql>(conn: &mut C, sql: &'static str) -> Result<(), ApiError> {
    query(sql)
        .execute(conn)
        .await
        .with_context(|| format!("{sql} around a command"))?;
    Ok(())
}

/// Undoes everything the command did (and, on PostgreSQL, clears a failed statement's abort).
async fn undo<C: Sql>(conn: &mut C) -> Result<(), ApiError> {
    savepoint(conn, "ROLLBACK TO SAVEPOINT tessera_command").await?;
    savepoint(conn, "RELEASE SAVEPOINT tessera_command").await
}

/// A refused command's answer, unless its key was recorded meanwhile (a concurrent request
/// with it committed first): then that request's answer, as a replay.
async fn replay_or<C: Sql>(conn: &mut C, key: &Command, error: ApiError) -> Answer {
    match idempotency::lookup(conn, key).await {
        Ok(Some(outcome)) => Answer::Done {
            outcome,
            replayed: true,
        },
        Ok(None) => Answer::Refused(error),
        Err(lookup_error) => Answer::Refused(lookup_error),
    }
}
