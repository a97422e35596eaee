//! `/api/events`: the domain-event log from a sequence number on, for catching up (live updates
//! will stream the same records). Admins see every event; others see public events and their own.

use crate::events;
use crate::http::{conditional_json, Audience, PageParams};
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tessera_contract::sync::{DomainEvent, Page, Problem, ROLE_ADMIN};

#[utoipa::path(get, path = "/api/events", tag = "events",
    description = "Events with seq > `after`, oldest first. `nextCursor` is the seq to pass as `after` next time \
                   (the same `after` when nothing new happened).",
    params(("after" = Option<i64>, Query, description = "last seq already seen (default 0)"),
           ("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 20)")),
    responses((status = 200, body = Page<DomainEvent>), (status = 304, description = "unchanged since the ETag in If-None-Match"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: PageParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = page.after.unwrap_or(0);
    let viewer = (!caller.has_role(ROLE_ADMIN)).then_some(caller.subject.as_str());
    let items = events::list(&state.db, after, page.limit, viewer).await?;
    let next = items.last().map_or(after, |e| e.seq);
    Ok(conditional_json(
        &headers,
        None,
        &Page {
            items,
            next_cursor: Some(next.to_string()),
        },
        Audience::Private,
    ))
}
