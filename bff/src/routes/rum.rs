//! `/api/rum`: real-user monitoring. Pages report per-app samples (see
//! [`tessera_contract::rum`]); admins read per-app, per-version percentiles and failure rates.
//! The store is bounded in rows and age, and each caller may send a few reports a minute.

use crate::http::JsonBody;
use crate::identity::Caller;
use crate::problem::ApiError;
use crate::sql::{query, Sql};
use crate::time::now_ms;
use crate::write::{Appended, Backend, Write};
use crate::AppState;
use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tessera_contract::rum::{self, Metric, RumReport, RumSummary, Stored};
use tessera_contract::sync::{FieldError, Problem};

/// How often a process trims the store at most (a trim scans the oldest rows).
const TRIM_EVERY: Duration = Duration::from_secs(60);
/// The most samples a summary reads.
const SUMMARY_LIMIT: i64 = 200_000;
/// A summary's window when `since` is absent.
const DEFAULT_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The store's bounds and each caller's allowance.
#[derive(Debug)]
pub struct Rum {
    max_samples: i64,
    retention_ms: i64,
    per_minute: u32,
    /// Per caller: the start of its current minute and the reports sent in it.
    sent: Mutex<HashMap<String, (Instant, u32)>>,
    last_trim: Mutex<Option<Instant>>,
}

impl Rum {
    pub fn new(max_samples: u64, retention_hours: u64, per_minute: u32) -> Rum {
        Rum {
            max_samples: i64::try_from(max_samples).unwrap_or(i64::MAX),
            retention_ms: i64::try_from(retention_hours.saturating_mul(3_600_000))
                .unwrap_or(i64::MAX),
            per_minute: per_minute.max(1),
            sent: Mutex::new(HashMap::new()),
            last_trim: Mutex::new(None),
        }
    }

    /// Counts a report of `subject`; the seconds until it may send again when over its allowance.
    fn admit(&self, subject: &str) -> Result<(), u32> {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let mut sent = self.sent.lock().expect("the RUM allowance lock");
        if sent.len() > 10_000 {
            // Callers whose minute is over hold nothing back; forgetting them bounds the map.
            sent.retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let (start, count) = sent.entry(subject.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= minute {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            let left = minute.saturating_sub(now.duration_since(*start));
            return Err(u32::try_from(left.as_secs() + 1).unwrap_or(60));
        }
        *count += 1;
        Ok(())
    }

    /// Whether this report's write should also trim the store.
    fn trim_due(&self) -> bool {
        let mut last = self.last_trim.lock().expect("the RUM trim lock");
        let due = last.is_none_or(|t| t.elapsed() >= TRIM_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

#[utoipa::path(post, path = "/api/rum", tag = "rum",
    description = "Stores one page's real-user-monitoring samples: per app and version, load and activation times, \
                   Web Vitals, memory, views and failures. Never the user's data: names, content hashes and numbers. \
                   A caller may send a few reports a minute (429 with Retry-After beyond).",
    request_body = RumReport,
    responses((status = 204, description = "stored"),
              (status = 429, description = "too many reports from this caller; send again after Retry-After seconds",
                  body = Problem, content_type = "application/problem+json"),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<RumReport>,
) -> Result<impl IntoResponse, ApiError> {
    let report = body.value;
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    state.rum.admit(&caller.subject).map_err(|secs| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-reports",
            "Too many reports",
            format!(
                "at most {} monitoring reports a minute per caller",
                state.rum.per_minute
            ),
        )
        .with_retry_after(secs)
    })?;
    let now = now_ms();
    let trim = state.rum.trim_due().then(|| Trim {
        older_than: now.saturating_sub(state.rum.retention_ms),
        keep: state.rum.max_samples,
    });
    state
        .db
        .write(StoreReport {
            report,
            received_ms: now,
            trim,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

struct Trim {
    older_than: i64,
    keep: i64,
}

struct StoreReport {
    report: RumReport,
    received_ms: i64,
    trim: Option<Trim>,
}

impl Write for StoreReport {
    type Output = ();

    async fn run<C: Sql>(self, conn: &mut C, _: Backend) -> Result<((), Appended), ApiError> {
        const COLUMNS: usize = 8;
        let RumReport {
            shell,
            cohort,
            samples,
        } = self.report;
        let rows: Vec<String> = (0..samples.len())
            .map(|i| {
                let n = i * COLUMNS;
                let params: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", n + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO rum_samples (received_ms, app, version, cohort, shell, metric, value_milli, detail) VALUES {}",
            rows.join(", ")
        );
        let mut insert = query(sql);
        for s in samples {
            insert = insert
                .bind(self.received_ms)
                .bind(s.app)
                .bind(s.version)
                .bind(&cohort)
                .bind(&shell)
                .bind(s.metric.name())
                .bind((s.value * 1000.0).round() as i64)
                .bind(s.detail);
        }
        insert
            .execute(&mut *conn)
            .await
            .context("storing monitoring samples")?;
        if let Some(trim) = self.trim {
            query("DELETE FROM rum_samples WHERE received_ms < $1")
                .bind(trim.older_than)
                .execute(&mut *conn)
                .await
                .context("deleting old monitoring samples")?;
            query(
                "DELETE FROM rum_samples WHERE id <= \
                 (SELECT id FROM rum_samples ORDER BY id DESC LIMIT 1 OFFSET $1)",
            )
            .bind(trim.keep)
            .execute(&mut *conn)
            .await
            .context("deleting the oldest monitoring samples")?;
        }
        Ok(((), Appended::Nothing))
    }
}

/// The latest `since` accepted (2100-01-01): later is surely a mistake.
const MAX_SINCE: i64 = 4_102_444_800_000;

#[utoipa::path(get, path = "/api/rum/summary", tag = "rum",
    description = "Per app and version: views, failures and their rate, the most frequent errors, and p50/p90/p99 of \
                   each measured metric, over the samples received since `since` (the newest 200,000 at most). Admins only.",
    params(("since" = Option<i64>, Query, minimum = 0, maximum = 4_102_444_800_000_i64,
            description = "milliseconds since the epoch; samples received from then on count (default: the last 24 hours)")),
    responses((status = 200, body = RumSummary),
              (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    uri: axum::http::Uri,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let mut since = now_ms().saturating_sub(DEFAULT_WINDOW_MS);
    for pair in uri.query().unwrap_or_default().split('&') {
        if let Some(value) = pair.strip_prefix("since=") {
            since = value
                .parse::<i64>()
                .ok()
                .filter(|s| (0..=MAX_SINCE).contains(s))
                .ok_or_else(|| {
                    ApiError::invalid(vec![FieldError::parameter(
                        "since",
                        format!("milliseconds since the epoch, from 0 to {MAX_SINCE}"),
                    )])
                })?;
        }
    }
    let rows = query(
        "SELECT app, version, cohort, metric, value_milli, detail FROM rum_samples \
         WHERE received_ms >= $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(since)
    .bind(SUMMARY_LIMIT)
    .fetch_all(&mut state.db.reader())
    .await
    .context("reading monitoring samples")?;
    let mut samples = Vec::with_capacity(rows.len());
    for row in rows {
        let metric: String = row.try_get("metric")?;
        let Some(metric) = Metric::parse(&metric) else {
            continue; // a metric this server does not know (stored by a newer one)
        };
        samples.push(Stored {
            app: row.try_get("app")?,
            version: row.try_get("version")?,
            cohort: row.try_get("cohort")?,
            metric,
            value: row.try_get::<i64, _>("value_milli")? as f64 / 1000.0,
            detail: row.try_get("detail")?,
        });
    }
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(rum::summarise(since, &samples)),
    ))
}
