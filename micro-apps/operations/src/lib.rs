//! Operations, for admins only (its `mfe.json` says so; the BFF checks the role again): each
//! app's real-user figures per version, side by side, so a version on trial (a cohort or an
//! override) can be compared with the released one before it is promoted; a plot of the times
//! users wait for; each version's most frequent errors; and the synthetic checks' steps. The
//! figures come from `GET /api/rum/summary` through the shell, so the last ones read stay
//! readable offline, with their age.

mod figures;

use figures::{bars, cell, group, on_trial, row_label, short, AppVersions, Bar};
use figures::{label, PLOTTED, ROWS, SYNTHETIC_PREFIX};
use leptos::prelude::*;
use tessera_sdk::bff::{BffError, Freshness};
use tessera_sdk::rum::{AppFigures, Metric, RumSummary};
use tessera_sdk::{as_of_notice, Host, Props, Reader};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, view: operations);

const PERIODS: [(&str, u64); 3] = [
    ("Last hour", 3_600_000),
    ("Last 24 hours", 86_400_000),
    ("Last 7 days", 604_800_000),
];
/// Each version's color in the table's heads and the plots.
const COLORS: [&str; 4] = ["#2563eb", "#d97706", "#059669", "#db2777"];
const PLOT_LABEL: f64 = 120.0;
const PLOT_WIDTH: f64 = 300.0;
const BAR: f64 = 10.0;

fn color(version: usize) -> &'static str {
    COLORS[version % COLORS.len()]
}

type Shown = Option<Result<(RumSummary, Freshness), BffError>>;

fn operations(props: ArcRwSignal<Props>, host: Host) -> impl IntoView {
    let bff = host.bff(props.get_untracked().bff.as_deref().unwrap_or("/api/rum"));
    let period = RwSignal::new(1usize);
    let shown = RwSignal::<Shown>::new(None);
    let reader = Reader::new(
        move || {
            // Whole minutes: one saved answer per minute and period in the shell's cache.
            let now = js_sys::Date::now() as u64 / 60_000 * 60_000;
            let since = now.saturating_sub(PERIODS[period.get_untracked()].1);
            let bff = bff.clone();
            async move {
                bff.query::<RumSummary>(&format!("/summary?since={since}"))
                    .await
            }
        },
        move |answer| {
            shown.try_set(Some(answer));
        },
    );
    reader.ask();
    let buttons = PERIODS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let reader = reader.clone();
            view! {
                <button
                    aria-pressed=move || (period.get() == i).to_string()
                    on:click=move |_| {
                        period.set(i);
                        reader.ask();
                    }
                >
                    {*name}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="operations">
            <h1>"Operations"</h1>
            <div class="period" role="group" aria-label="Period">
                {buttons}
                <button class="refresh" on:click=move |_| reader.ask()>"Refresh"</button>
            </div>
            {move || match shown.get() {
                None => view! { <p class="loading">"Loading the figures…"</p> }.into_any(),
                Some(Err(e)) => view! {
                    <p class="tessera-app-error" role="alert">"Could not load: "{e.to_string()}</p>
                }.into_any(),
                Some(Ok((summary, freshness))) => report(summary, &freshness).into_any(),
            }}
        </div>
    }
}

fn report(summary: RumSummary, freshness: &Freshness) -> impl IntoView {
    let notice = as_of_notice(freshness).map(|n| view! { <p class="as-of">{n}</p> });
    let empty = summary.apps.is_empty();
    let (apps, steps) = group(summary.apps);
    view! {
        {notice}
        {empty.then(|| view! { <p class="empty">"No reports in this period."</p> })}
        {apps.into_iter().map(app_section).collect_view()}
        {(!steps.is_empty()).then(|| synthetic(steps))}
    }
}

fn app_section(AppVersions { app, versions }: AppVersions) -> impl IntoView {
    let heads = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let trial = on_trial(v).then(|| view! { <span class="trial">" on trial"</span> });
            view! {
                <th scope="col" data-version=v.version.clone() title=v.cohorts.join(", ")>
                    <span class="swatch" style:background=color(i) aria-hidden="true">" "</span>
                    {short(&v.version).to_owned()}
                    {trial}
                </th>
            }
        })
        .collect_view();
    let rows = ROWS
        .into_iter()
        .map(|row| {
            let cells = versions
                .iter()
                .map(|v| view! { <td>{cell(v, row)}</td> })
                .collect_view();
            view! { <tr><th scope="row">{row_label(row)}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <section class="app-figures" data-app=app.clone()>
            <h2>{app.clone()}</h2>
            <table class="versions">
                <thead><tr><th></th>{heads}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {plot(&app, &versions)}
            {errors(&versions)}
        </section>
    }
}

/// Per plotted metric, one bar per version: p50 filled, a whisker to p90, a tick at p99.
fn plot(app: &str, versions: &[AppFigures]) -> impl IntoView {
    let groups: Vec<(Metric, Vec<Bar>)> = PLOTTED
        .into_iter()
        .filter_map(|m| Some((m, bars(versions, m, PLOT_WIDTH)?)))
        .collect();
    let step = BAR + 4.0;
    let mut y = 0.0;
    let mut drawn = Vec::new();
    for (metric, bars) in groups {
        let top = y;
        y += 4.0;
        let bars = bars
            .into_iter()
            .map(|b| {
                let at = y;
                y += step;
                let mid = at + BAR / 2.0;
                let x = |len: f64| PLOT_LABEL + len;
                view! {
                    <rect x=PLOT_LABEL y=at width=b.p50.max(1.0) height=BAR fill=color(b.version)/>
                    <line x1=x(b.p50) x2=x(b.p90) y1=mid y2=mid stroke=color(b.version)/>
                    <line x1=x(b.p99) x2=x(b.p99) y1=at y2=at + BAR stroke=color(b.version)/>
                    <text x=x(b.p99) + 4.0 y=at + BAR - 1.0 font-size="9">{b.text}</text>
                }
            })
            .collect_view();
        drawn.push(view! {
            <text x="0" y=top + 4.0 + BAR - 1.0 font-size="10">{label(metric)}</text>
            {bars}
        });
        y += 4.0;
    }
    let height = y.max(1.0);
    let width = PLOT_LABEL + PLOT_WIDTH + 60.0;
    (!drawn.is_empty()).then(|| {
        view! {
            <svg class="plot" role="img" width=width height=height
                viewBox=format!("0 0 {width} {height}")
                aria-label=format!("{app}: p50 (bar), p90 (line) and p99 (tick) per version")>
                {drawn}
            </svg>
        }
    })
}

fn errors(versions: &[AppFigures]) -> impl IntoView {
    let items = versions
        .iter()
        .enumerate()
        .flat_map(|(i, v)| v.top_errors.iter().map(move |e| (i, v, e)))
        .map(|(i, v, e)| {
            view! {
                <li>
                    <span class="swatch" style:background=color(i) aria-hidden="true">" "</span>
                    <code>{short(&v.version).to_owned()}</code>" "{e.detail.clone()}" ×"{e.count}
                </li>
            }
        })
        .collect_view();
    let any = versions.iter().any(|v| !v.top_errors.is_empty());
    any.then(|| view! { <h3>"Most frequent errors"</h3><ul class="errors">{items}</ul> })
}

fn synthetic(steps: Vec<AppFigures>) -> impl IntoView {
    let rows = steps
        .into_iter()
        .map(|s| {
            let step = s.app.trim_start_matches(SYNTHETIC_PREFIX).to_owned();
            let last = s
                .top_errors
                .first()
                .map(|e| e.detail.clone())
                .unwrap_or_default();
            view! {
                <tr data-step=step.clone() data-failures=s.failures.to_string()>
                    <th scope="row">{step.clone()}</th>
                    <td>{short(&s.version).to_owned()}</td>
                    <td>{s.views}</td>
                    <td>{cell(&s, figures::Row::Failures)}</td>
                    <td>{cell(&s, figures::Row::Measured(Metric::Step))}</td>
                    <td>{last}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="synthetic">
            <h2>"Synthetic checks"</h2>
            <table>
                <thead><tr>
                    <th scope="col">"Step"</th><th scope="col">"Shell"</th><th scope="col">"Runs"</th>
                    <th scope="col">"Failures (rate)"</th><th scope="col">"p50 / p90 / p99"</th>
                    <th scope="col">"Most frequent error"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}
