//! Operations, for admins only (its `mfe.json` says so; the BFF checks the role again): each
//! app's real-user figures per version, side by side, so a version on trial (a cohort or an
//! override) can be compared with the released one before it is promoted; a plot of the times
//! users wait for; each version's most frequent errors; and the synthetic checks' steps. The
//! figures come from `GET /api/rum/summary` through the shell, so the last ones read stay
//! readable offline, with their age. Written without a framework (`tessera_sdk::dom`).

mod figures;

use figures::{bars, cell, group, on_trial, row_label, short, AppVersions, Bar};
use figures::{decimal, label, PLOTTED, ROWS, SYNTHETIC_PREFIX};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tessera_sdk::bff::{BffError, Freshness};
use tessera_sdk::dom::{el, set_attr, svg, Build, Slot, View};
use tessera_sdk::rum::{AppFigures, Metric, RumSummary};
use tessera_sdk::{as_of_notice, Host, Listener, Props, Reader};
use web_sys::{Element, HtmlElement};

tessera_sdk::micro_app!(bootstrap: |_: &Props, _: Host| {}, mount: Operations::mount);
tessera_sdk::small_allocator!();

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

/// A coordinate for an SVG attribute.
fn at(x: f64) -> String {
    decimal(x, 1)
}

struct Operations {
    _buttons: Vec<Listener>,
}

impl View for Operations {}

impl Operations {
    fn mount(root: &HtmlElement, props: Props, host: Host) -> Operations {
        let bff = host.bff(props.bff.as_deref().unwrap_or("/api/rum"));
        let period = Rc::new(Cell::new(1usize));
        let div = el("div")
            .attr("class", "operations")
            .child(&el("h1").text("Operations"));
        let group = el("div")
            .attr("class", "period")
            .attr("role", "group")
            .attr("aria-label", "Period");
        let _ = div.append_child(&group);
        let body = Rc::new(RefCell::new(Slot::new(&div)));
        let _ = root.append_child(&div);
        body.borrow_mut().show(Some(
            el("p")
                .attr("class", "loading")
                .text("Loading the figures…"),
        ));
        let reader = {
            let (period, body) = (period.clone(), body.clone());
            Reader::new(
                move || {
                    // Whole minutes: one saved answer per minute and period in the shell's
                    // cache.
                    let now = js_sys::Date::now() as u64 / 60_000 * 60_000;
                    let since = now.saturating_sub(PERIODS[period.get()].1);
                    let bff = bff.clone();
                    async move {
                        bff.query::<RumSummary>(&format!("/summary?since={since}"))
                            .await
                    }
                },
                move |answer: Result<(RumSummary, Freshness), BffError>| {
                    let shown = match answer {
                        Err(e) => vec![el("p")
                            .attr("class", "tessera-app-error")
                            .attr("role", "alert")
                            .text("Could not load: ")
                            .text(&e.to_string())],
                        Ok((summary, freshness)) => report(summary, &freshness),
                    };
                    body.borrow_mut().set(shown);
                },
            )
        };
        reader.ask();
        let choices: Vec<Element> = PERIODS
            .iter()
            .map(|(name, _)| el("button").text(name))
            .collect();
        let press = {
            let choices = choices.clone();
            move |chosen: usize| {
                for (i, b) in choices.iter().enumerate() {
                    set_attr(
                        b,
                        "aria-pressed",
                        Some(if i == chosen { "true" } else { "false" }),
                    );
                }
            }
        };
        press(period.get());
        let mut buttons: Vec<Listener> = choices
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let _ = group.append_child(b);
                let (period, reader, press) = (period.clone(), reader.clone(), press.clone());
                Listener::on(b, "click", move |_| {
                    period.set(i);
                    press(i);
                    reader.ask();
                })
            })
            .collect();
        let refresh = el("button").attr("class", "refresh").text("Refresh");
        let _ = group.append_child(&refresh);
        buttons.push(Listener::on(&refresh, "click", move |_| reader.ask()));
        Operations { _buttons: buttons }
    }
}

fn report(summary: RumSummary, freshness: &Freshness) -> Vec<Element> {
    let mut shown = Vec::new();
    if let Some(n) = as_of_notice(freshness) {
        shown.push(el("p").attr("class", "as-of").text(&n));
    }
    if summary.apps.is_empty() {
        shown.push(
            el("p")
                .attr("class", "empty")
                .text("No reports in this period."),
        );
    }
    let (apps, steps) = group(summary.apps);
    shown.extend(apps.into_iter().map(app_section));
    if !steps.is_empty() {
        shown.push(synthetic(steps));
    }
    shown
}

fn swatch(version: usize) -> Element {
    el("span")
        .attr("class", "swatch")
        .attr("style", &format!("background: {}", color(version)))
        .attr("aria-hidden", "true")
        .text(" ")
}

fn app_section(AppVersions { app, versions }: AppVersions) -> Element {
    let heads = el("tr").child(&el("th"));
    for (i, v) in versions.iter().enumerate() {
        let mut th = el("th")
            .attr("scope", "col")
            .attr("data-version", &v.version)
            .attr("title", &v.cohorts.join(", "))
            .child(&swatch(i))
            .text(short(&v.version));
        if on_trial(v) {
            th = th.child(&el("span").attr("class", "trial").text(" on trial"));
        }
        let _ = heads.append_child(&th);
    }
    let rows = el("tbody");
    for row in ROWS {
        let tr = el("tr").child(&el("th").attr("scope", "row").text(&row_label(row)));
        for v in &versions {
            let _ = tr.append_child(&el("td").text(&cell(v, row)));
        }
        let _ = rows.append_child(&tr);
    }
    let table = el("table")
        .attr("class", "versions")
        .child(&el("thead").child(&heads))
        .child(&rows);
    let mut section = el("section")
        .attr("class", "app-figures")
        .attr("data-app", &app)
        .child(&el("h2").text(&app))
        .child(&table);
    if let Some(plot) = plot(&app, &versions) {
        section = section.child(&plot);
    }
    for e in errors(&versions) {
        section = section.child(&e);
    }
    section
}

/// Per plotted metric, one bar per version: p50 filled, a whisker to p90, a tick at p99.
fn plot(app: &str, versions: &[AppFigures]) -> Option<Element> {
    let groups: Vec<(Metric, Vec<Bar>)> = PLOTTED
        .into_iter()
        .filter_map(|m| Some((m, bars(versions, m, PLOT_WIDTH)?)))
        .collect();
    if groups.is_empty() {
        return None;
    }
    let step = BAR + 4.0;
    let mut y = 0.0;
    let mut drawn = Vec::new();
    for (metric, bars) in groups {
        let top = y;
        y += 4.0;
        drawn.push(
            svg("text")
                .attr("x", "0")
                .attr("y", &at(top + 4.0 + BAR - 1.0))
                .attr("font-size", "10")
                .text(label(metric)),
        );
        for b in bars {
            let top = y;
            y += step;
            let mid = at(top + BAR / 2.0);
            let x = |len: f64| at(PLOT_LABEL + len);
            let stroke = color(b.version);
            drawn.push(
                svg("rect")
                    .attr("x", &at(PLOT_LABEL))
                    .attr("y", &at(top))
                    .attr("width", &at(b.p50.max(1.0)))
                    .attr("height", &at(BAR))
                    .attr("fill", stroke),
            );
            let line = |x1: &str, x2: &str, y1: &str, y2: &str| {
                svg("line")
                    .attr("x1", x1)
                    .attr("x2", x2)
                    .attr("y1", y1)
                    .attr("y2", y2)
                    .attr("stroke", stroke)
            };
            drawn.push(line(&x(b.p50), &x(b.p90), &mid, &mid));
            drawn.push(line(&x(b.p99), &x(b.p99), &at(top), &at(top + BAR)));
            drawn.push(
                svg("text")
                    .attr("x", &x(b.p99 + 4.0))
                    .attr("y", &at(top + BAR - 1.0))
                    .attr("font-size", "9")
                    .text(&b.text),
            );
        }
        y += 4.0;
    }
    let (width, height) = (at(PLOT_LABEL + PLOT_WIDTH + 60.0), at(y.max(1.0)));
    let mut plot = svg("svg")
        .attr("class", "plot")
        .attr("role", "img")
        .attr("width", &width)
        .attr("height", &height)
        .attr("viewBox", &format!("0 0 {width} {height}"))
        .attr(
            "aria-label",
            &format!("{app}: p50 (bar), p90 (line) and p99 (tick) per version"),
        );
    for d in drawn {
        plot = plot.child(&d);
    }
    Some(plot)
}

fn errors(versions: &[AppFigures]) -> Vec<Element> {
    if versions.iter().all(|v| v.top_errors.is_empty()) {
        return vec![];
    }
    let list = el("ul").attr("class", "errors");
    for (i, v) in versions.iter().enumerate() {
        for e in &v.top_errors {
            let li = el("li")
                .child(&swatch(i))
                .child(&el("code").text(short(&v.version)))
                .text(" ")
                .text(&e.detail)
                .text(" ×")
                .text(&e.count.to_string());
            let _ = list.append_child(&li);
        }
    }
    vec![el("h3").text("Most frequent errors"), list]
}

fn synthetic(steps: Vec<AppFigures>) -> Element {
    let head = el("tr");
    for th in [
        "Step",
        "Shell",
        "Runs",
        "Failures (rate)",
        "p50 / p90 / p99",
        "Most frequent error",
    ] {
        let _ = head.append_child(&el("th").attr("scope", "col").text(th));
    }
    let rows = el("tbody");
    for s in steps {
        let step = s.app.strip_prefix(SYNTHETIC_PREFIX).unwrap_or(&s.app);
        let last = s
            .top_errors
            .first()
            .map(|e| e.detail.as_str())
            .unwrap_or_default();
        let td = |text: &str| el("td").text(text);
        let tr = el("tr")
            .attr("data-step", step)
            .attr("data-failures", &s.failures.to_string())
            .child(&el("th").attr("scope", "row").text(step))
            .child(&td(short(&s.version)))
            .child(&td(&s.views.to_string()))
            .child(&td(&cell(&s, figures::Row::Failures)))
            .child(&td(&cell(&s, figures::Row::Measured(Metric::Step))))
            .child(&td(last));
        let _ = rows.append_child(&tr);
    }
    el("section")
        .attr("class", "synthetic")
        .child(&el("h2").text("Synthetic checks"))
        .child(&el("table").child(&el("thead").child(&head)).child(&rows))
}
