//! A simulated kitchen that moves every order submitted → accepted → preparing →
//! out-for-delivery → delivered, one step per `kitchen_step_ms`. Each step is a versioned
//! change with its event, like any command, so clients see real updates stream in.
//!
//! Each step queues a push notification for every browser the order's owner opted in
//! (`crate::push`), in the step's own transaction.
//!
//! All its state is in the database (`orders.next_step_at`), so after a restart it simply picks
//! up whatever is due; two BFFs on one database cannot double-step an order because each step
//! is conditional on the version it read.

use crate::events::{self, NewEvent};
use crate::problem::ApiError;
use crate::routes::orders::load_order;
use crate::sql::{query, Sql};
use crate::time::{now_ms, now_rfc3339};
use crate::write::{Appended, Backend, Write};
use crate::AppState;
use anyhow::Context;
use std::time::Duration;
use tessera_contract::sync::{event_types, OrderStatus};
use tokio::task::JoinHandle;

/// Who the kitchen's changes are by.
pub const KITCHEN_SUBJECT: &str = "kitchen";
const SOURCE: &str = "bff/kitchen";

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Poll a few times per step so a step is late by at most a quarter of its length.
        let poll = Duration::from_millis((state.kitchen_step_ms / 4).clamp(5, 250));
        loop {
            if let Err(err) = advance_due(&state).await {
                // Internal causes were logged where they arose; retry on the next poll.
                eprintln!(
                    "tessera-bff: kitchen: {}",
                    err.detail.as_deref().unwrap_or(err.title)
                );
            }
            tokio::time::sleep(poll).await;
        }
    })
}

/// Moves every order whose step is due one state on; returns how many moved.
pub async fn advance_due(state: &AppState) -> Result<usize, ApiError> {
    let due = query("SELECT id, owner, status, version FROM orders WHERE next_step_at IS NOT NULL AND next_step_at <= $1 ORDER BY next_step_at LIMIT 100")
        .bind(now_ms())
        .fetch_all(&mut state.db.reader())
        .await
        .context("finding due orders")?;
    let mut moved = 0;
    for row in due {
        let step = Step {
            id: row.try_get("id")?,
            owner: row.try_get("owner")?,
            status: row.try_get("status")?,
            version: row.try_get("version")?,
            kitchen_step_ms: state.kitchen_step_ms,
        };
        if state.db.write(step).await? {
            moved += 1;
        }
    }
    if moved > 0 {
        state.push.wake();
    }
    Ok(moved)
}

/// One order one state on, if it is still at the version read.
struct Step {
    id: String,
    owner: String,
    status: String,
    version: i64,
    kitchen_step_ms: u64,
}

impl Write for Step {
    /// Whether it moved.
    type Output = bool;

    async fn run<C: Sql>(
        self,
        conn: &mut C,
        backend: Backend,
    ) -> Result<(bool, Appended), ApiError> {
        let Step {
            id,
            owner,
            status,
            version,
            kitchen_step_ms,
        } = self;
        let Some(next) = OrderStatus::parse(&status).and_then(OrderStatus::next) else {
            return Ok((false, Appended::Nothing));
        };
        let next_step_at =
            (next != OrderStatus::Delivered).then(|| now_ms() + kitchen_step_ms as i64);
        let written = query(
            "UPDATE orders SET status = $1, version = version + 1, last_modified = $2, last_modified_by = $3, next_step_at = $4 \
             WHERE owner = $5 AND id = $6 AND version = $7",
        )
        .bind(next.as_str())
        .bind(now_rfc3339())
        .bind(KITCHEN_SUBJECT)
        .bind(next_step_at)
        .bind(&owner)
        .bind(&id)
        .bind(version)
        .execute(&mut *conn)
        .await
        .context("advancing an order")?
        .rows_affected();
        if written == 0 {
            return Ok((false, Appended::Nothing)); // someone else moved it; the next poll sees the new state
        }
        let order = load_order(&mut *conn, &owner, &id)
            .await?
            .context("order vanished inside its own transaction")?;
        if let Some(news) = tessera_contract::push::order_notification(&order) {
            crate::push::queue(&mut *conn, &order.owner, &news).await?;
        }
        let appended = events::append(
            conn,
            backend,
            NewEvent {
                kind: event_types::ORDER_STATUS_CHANGED,
                partition_key: format!("order:{id}"),
                source: SOURCE,
                data: serde_json::to_value(&order).context("serializing an order")?,
                owner: Some(order.owner.clone()),
            },
        )
        .await?;
        Ok((true, appended))
    }
}
