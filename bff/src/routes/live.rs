//! `GET /api/live/poll`: live updates for clients that cannot keep a WebSocket. Same cursor,
//! same filtering (per viewer and topic) as `GET /api/live`; answers at once when something
//! after the cursor is there, else waits for it up to `wait` milliseconds.

use crate::identity::Caller;
use crate::live::visible_after;
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tessera_contract::live::{PollAnswer, Topics, MAX_POLL_WAIT_MS};
use tessera_contract::sync::{DomainEvent, FieldError, Problem, MAX_PAGE_LIMIT, ROLE_ADMIN};

struct PollParams {
    /// `None`: from now on.
    after: Option<i64>,
    topics: Topics,
    wait: Duration,
    limit: usize,
}

fn parse(uri: &Uri) -> Result<PollParams, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|e| {
            ApiError::invalid(vec![FieldError::parameter(
                "query",
                format!("not a query string: {e}"),
            )])
            .with_status(StatusCode::BAD_REQUEST)
        })?;
    let mut params = PollParams {
        after: None,
        topics: Topics::default(),
        wait: Duration::ZERO,
        limit: MAX_PAGE_LIMIT as usize,
    };
    let mut errors = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "after" => match value.parse::<i64>() {
                Ok(n) if n >= 0 => params.after = Some(n),
                _ => errors.push(FieldError::parameter(
                    "after",
                    "must be a non-negative event sequence number",
                )),
            },
            "topics" => match Topics::parse_list(&value) {
                Ok(t) => params.topics = t,
                Err(e) => errors.push(FieldError::parameter("topics", e)),
            },
            "wait" => match value.parse::<u64>() {
                Ok(ms) if ms <= MAX_POLL_WAIT_MS => params.wait = Duration::from_millis(ms),
                _ => errors.push(FieldError::parameter(
                    "wait",
                    format!("must be milliseconds from 0 to {MAX_POLL_WAIT_MS}"),
                )),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_LIMIT as usize).contains(&n) => params.limit = n,
                _ => errors.push(FieldError::parameter(
                    "limit",
                    format!("must be an integer from 1 to {MAX_PAGE_LIMIT}"),
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(ApiError::invalid(errors).with_status(StatusCode::BAD_REQUEST))
    }
}

#[utoipa::path(get, path = "/api/live/poll", tag = "events",
    description = "Long-poll for live updates: the events after `after` that the caller may see and `topics` select, \
                   oldest first. Answers at once when there are any; otherwise waits up to `wait` ms for one and may \
                   answer with none. Pass the answer's `cursor` as the next `after` (it moves past events the caller \
                   does not get, too). The WebSocket `GET /api/live` sends the same events.",
    params(("after" = Option<i64>, Query, description = "last seq already held; without it the answer comes at once, with no events and the current cursor"),
           ("topics" = Option<String>, Query, description = "comma-separated `type` or `type:id` filters on `partitionKey` (default: all)"),
           ("wait" = Option<u64>, Query, description = "milliseconds to wait for an event, 0 to 30000 (default 0)"),
           ("limit" = Option<u32>, Query, description = "most events per answer, 1 to 100 (default 100)")),
    responses((status = 200, body = PollAnswer),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn poll(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = parse(&uri)?;
    let viewer = (!caller.has_role(ROLE_ADMIN)).then_some(caller.subject.as_str());
    // Watch the head before reading, so a commit between the read and the wait still wakes us.
    let mut head = state.live.head();
    let Some(after) = params.after else {
        // No cursor yet: here is one, for a client whose data is fresh.
        let now = *head.borrow();
        return Ok(answer(vec![], now));
    };
    let deadline = tokio::time::Instant::now() + params.wait;
    let mut cursor = after;
    let mut last_round = params.wait.is_zero();
    loop {
        head.mark_unchanged();
        let (found, next) =
            visible_after(&state, cursor, params.limit, viewer, &params.topics).await?;
        cursor = next;
        if !found.is_empty() || last_round {
            return Ok(answer(found.into_iter().map(|e| e.event).collect(), cursor));
        }
        tokio::select! {
            _ = head.changed() => {}
            _ = tokio::time::sleep_until(deadline) => last_round = true,
            // Answer with what there is, so shutdown is not held up.
            _ = state.live.closed() => last_round = true,
        }
    }
}

fn answer(events: Vec<DomainEvent>, cursor: i64) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(PollAnswer { events, cursor }),
    )
        .into_response()
}
