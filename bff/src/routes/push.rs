//! `/api/push`: a browser opts in to notifications of its user's orders (`PUT
//! /api/push/subscription` with its `PushSubscription`), or out (`DELETE`), and learns the key
//! to subscribe with (`GET /api/push/key`). What is sent, and when: `crate::push`.

use crate::http::JsonBody;
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::push::hosts::MAX_ENDPOINT;
use crate::push::webpush;
use crate::sql::{query, Sql};
use crate::time::now_ms;
use crate::write::{Appended, Backend, Write};
use crate::AppState;
use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use tessera_contract::push::{PushKey, PushSubscription, Unsubscribe};
use tessera_contract::sync::{FieldError, Problem};

/// Browsers one user may have opted in; subscribing one more forgets the oldest.
pub const MAX_PER_USER: i64 = 20;

#[utoipa::path(get, path = "/api/push/key", tag = "push",
    description = "The server's VAPID public key: what a browser passes to `pushManager.subscribe` as `applicationServerKey`.",
    responses((status = 200, body = PushKey)))]
pub async fn key(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        axum::Json(PushKey {
            public_key: state.push.public_key().to_owned(),
        }),
    )
}

#[utoipa::path(put, path = "/api/push/subscription", tag = "push",
    description = "Opts this browser in to notifications of the caller's orders: the body is its \
                   `PushSubscription.toJSON()`. The endpoint must be a push service this server sends to. \
                   A browser that another user had opted in is theirs no more.",
    request_body = PushSubscription,
    responses((status = 204, description = "subscribed"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<PushSubscription>,
) -> Result<impl IntoResponse, ApiError> {
    let subscription = body.value;
    let mut problems = Vec::new();
    if let Err(why) = state.push.hosts.check(&subscription.endpoint) {
        problems.push(FieldError::pointer("/endpoint", why));
    }
    if let Err(why) = webpush::check_keys(&subscription.keys.p256dh, &subscription.keys.auth) {
        let field = if why.contains("auth") {
            "auth"
        } else {
            "p256dh"
        };
        problems.push(FieldError::pointer(format!("/keys/{field}"), why));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    state
        .db
        .write(Subscribe {
            owner: caller.subject,
            subscription,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/push/subscription", tag = "push",
    description = "Opts this browser out: no more notifications to this endpoint for the caller (204 also when it was not opted in).",
    request_body = Unsubscribe,
    responses((status = 204, description = "unsubscribed"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<Unsubscribe>,
) -> Result<impl IntoResponse, ApiError> {
    let endpoint = &body.value.endpoint;
    let url = endpoint.len() <= MAX_ENDPOINT
        && !endpoint.chars().any(char::is_control)
        && reqwest::Url::parse(endpoint).is_ok();
    if !url {
        return Err(ApiError::invalid(vec![FieldError::pointer(
            "/endpoint",
            format!("the subscription's URL, at most {MAX_ENDPOINT} characters"),
        )]));
    }
    state
        .db
        .write(Forget {
            owner: caller.subject,
            endpoint: body.value.endpoint,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

struct Subscribe {
    owner: String,
    subscription: PushSubscription,
}

impl Write for Subscribe {
    type Output = ();

    async fn run<C: Sql>(self, conn: &mut C, _: Backend) -> Result<((), Appended), ApiError> {
        let PushSubscription { endpoint, keys, .. } = self.subscription;
        let before: Option<String> =
            query("SELECT owner FROM push_subscriptions WHERE endpoint = $1")
                .bind(endpoint.as_str())
                .fetch_optional(&mut *conn)
                .await
                .context("reading a subscription")?
                .map(|r| r.try_get("owner"))
                .transpose()?;
        if before.as_deref().is_some_and(|o| o != self.owner) {
            // Someone else signed in on this browser: the news of the one before is not theirs.
            query("DELETE FROM push_queue WHERE endpoint = $1")
                .bind(endpoint.as_str())
                .execute(&mut *conn)
                .await
                .context("dropping the previous user's notifications")?;
        }
        query(
            "INSERT INTO push_subscriptions (endpoint, owner, p256dh, auth, created_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (endpoint) DO UPDATE SET owner = excluded.owner, p256dh = excluded.p256dh, \
             auth = excluded.auth, created_ms = excluded.created_ms",
        )
        .bind(endpoint.as_str())
        .bind(self.owner.as_str())
        .bind(keys.p256dh)
        .bind(keys.auth)
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .context("storing a subscription")?;
        query(
            "DELETE FROM push_subscriptions WHERE owner = $1 AND endpoint NOT IN \
             (SELECT endpoint FROM push_subscriptions WHERE owner = $1 ORDER BY created_ms DESC, endpoint LIMIT $2)",
        )
        .bind(self.owner.as_str())
        .bind(MAX_PER_USER)
        .execute(&mut *conn)
        .await
        .context("forgetting a user's oldest subscriptions")?;
        Ok(((), Appended::Nothing))
    }
}

struct Forget {
    owner: String,
    endpoint: String,
}

impl Write for Forget {
    type Output = ();

    async fn run<C: Sql>(self, conn: &mut C, _: Backend) -> Result<((), Appended), ApiError> {
        let removed = query("DELETE FROM push_subscriptions WHERE endpoint = $1 AND owner = $2")
            .bind(self.endpoint.as_str())
            .bind(self.owner.as_str())
            .execute(&mut *conn)
            .await
            .context("removing a subscription")?
            .rows_affected();
        if removed > 0 {
            query("DELETE FROM push_queue WHERE endpoint = $1")
                .bind(self.endpoint.as_str())
                .execute(&mut *conn)
                .await
                .context("dropping an unsubscribed browser's notifications")?;
        }
        Ok(((), Appended::Nothing))
    }
}
