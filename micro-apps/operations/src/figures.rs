//! What the Operations view shows, as plain Rust: versions of one app side by side (the
//! released one first, then those on trial), each figure as a person reads it, and the bars
//! of a plot. Native tests below; the view (`lib.rs`) only draws it.

use tessera_sdk::rum::{AppFigures, Metric, MetricFigures};

/// Where a synthetic check's steps report (`synthetic:<step>`), apart from the apps.
pub const SYNTHETIC_PREFIX: &str = "synthetic:";

/// One app and its versions, the released one first.
pub struct AppVersions {
    pub app: String,
    pub versions: Vec<AppFigures>,
}

/// Whether the version's samples came from a trial (a cohort or an override) only.
pub fn on_trial(v: &AppFigures) -> bool {
    !v.cohorts.is_empty() && v.cohorts.iter().all(|c| !c.is_empty())
}

/// `apps` (by app, then version, as the BFF sends them) grouped by app, the synthetic steps
/// apart. Within an app: versions served to everyone first, then by page views, most first.
pub fn group(apps: Vec<AppFigures>) -> (Vec<AppVersions>, Vec<AppFigures>) {
    let (steps, apps): (Vec<_>, Vec<_>) = apps
        .into_iter()
        .partition(|a| a.app.starts_with(SYNTHETIC_PREFIX));
    let mut grouped: Vec<AppVersions> = Vec::new();
    for figures in apps {
        match grouped.last_mut() {
            Some(last) if last.app == figures.app => last.versions.push(figures),
            _ => grouped.push(AppVersions {
                app: figures.app.clone(),
                versions: vec![figures],
            }),
        }
    }
    // An app has a handful of versions: an insertion sort (stable, as the order the BFF sent
    // breaks ties) costs the bundle about 3 KB less than std's sort.
    let key = |v: &AppFigures| (on_trial(v), std::cmp::Reverse(v.views));
    for g in &mut grouped {
        let v = &mut g.versions;
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && key(&v[j - 1]) > key(&v[j]) {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
    }
    (grouped, steps)
}

/// A row of an app's table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Row {
    Views,
    Failures,
    Measured(Metric),
}

pub const ROWS: [Row; 10] = [
    Row::Views,
    Row::Failures,
    Row::Measured(Metric::Load),
    Row::Measured(Metric::ActivateFirst),
    Row::Measured(Metric::Activate),
    Row::Measured(Metric::Mount),
    Row::Measured(Metric::Lcp),
    Row::Measured(Metric::Inp),
    Row::Measured(Metric::Cls),
    Row::Measured(Metric::Memory),
];

/// What the plot compares: the times a user waits for.
pub const PLOTTED: [Metric; 6] = [
    Metric::Load,
    Metric::ActivateFirst,
    Metric::Activate,
    Metric::Mount,
    Metric::Lcp,
    Metric::Inp,
];

pub fn label(metric: Metric) -> &'static str {
    match metric {
        Metric::View => "Page views",
        Metric::Load => "Load",
        Metric::ActivateFirst => "First activation",
        Metric::Activate => "Activation",
        Metric::Mount => "Mount",
        Metric::Error => "Errors",
        Metric::LoadError => "Load errors",
        Metric::Broken => "Broken",
        Metric::Lcp => "LCP",
        Metric::Inp => "INP",
        Metric::Cls => "CLS",
        Metric::Memory => "Wasm memory",
        Metric::Step => "Step",
    }
}

pub fn row_label(row: Row) -> String {
    match row {
        Row::Views => "Page views".into(),
        Row::Failures => "Failures (rate)".into(),
        Row::Measured(m) => format!("{} p50 / p90 / p99", label(m)),
    }
}

/// `x` rounded to `places` decimals, without float formatting (which would cost the bundle
/// more than this whole module).
pub fn decimal(x: f64, places: u32) -> String {
    let scale = 10u64.pow(places);
    let n = (x.max(0.0) * scale as f64).round() as u64;
    let whole = (n / scale).to_string();
    if places == 0 {
        return whole;
    }
    let frac = (n % scale).to_string();
    let zeros = "0".repeat(places as usize - frac.len());
    format!("{whole}.{zeros}{frac}")
}

/// A value of `metric` without its unit: `12`, `0.8` (ms), `0.042` (CLS), `1.3` (MB).
pub fn number(metric: Metric, x: f64) -> String {
    match metric {
        Metric::Cls => decimal(x, 3),
        Metric::Memory => decimal(x / 1_048_576.0, 1),
        _ if x < 10.0 => decimal(x, 1),
        _ => decimal(x, 0),
    }
}

pub fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Cls => "",
        Metric::Memory => " MB",
        _ => " ms",
    }
}

/// A value of `metric` with its unit: `12 ms`, `0.8 ms`, `0.042`, `1.3 MB`.
pub fn amount(metric: Metric, x: f64) -> String {
    format!("{}{}", number(metric, x), unit(metric))
}

pub fn measured(v: &AppFigures, metric: Metric) -> Option<&MetricFigures> {
    v.metrics
        .iter()
        .find(|m| m.metric == metric && m.p50.is_some())
}

/// A cell of `row` for version `v`; `–` where it has no samples.
pub fn cell(v: &AppFigures, row: Row) -> String {
    match row {
        Row::Views => v.views.to_string(),
        Row::Failures => format!("{} ({} %)", v.failures, decimal(v.failure_rate * 100.0, 1)),
        Row::Measured(metric) => match measured(v, metric) {
            Some(&MetricFigures {
                p50: Some(p50),
                p90,
                p99,
                ..
            }) => format!(
                "{} / {} / {}{}",
                number(metric, p50),
                number(metric, p90.unwrap_or(p50)),
                number(metric, p99.unwrap_or(p50)),
                unit(metric)
            ),
            _ => "–".into(),
        },
    }
}

/// One version's bar in a plot: lengths in the plot's units (0 to `width`).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub version: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub text: String,
}

/// The bars of `metric` for `versions` on one scale (the largest p99 is `width` long); `None`
/// when no version has samples of it.
pub fn bars(versions: &[AppFigures], metric: Metric, width: f64) -> Option<Vec<Bar>> {
    let figures: Vec<(usize, f64, f64, f64)> = versions
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let m = measured(v, metric)?;
            let p50 = m.p50?;
            let p90 = m.p90.unwrap_or(p50).max(p50);
            Some((i, p50, p90, m.p99.unwrap_or(p90).max(p90)))
        })
        .collect();
    let top = figures.iter().map(|f| f.3).fold(0.0, f64::max);
    if figures.is_empty() {
        return None;
    }
    let scale = if top > 0.0 { width / top } else { 0.0 };
    Some(
        figures
            .into_iter()
            .map(|(version, p50, p90, p99)| Bar {
                version,
                p50: p50 * scale,
                p90: p90 * scale,
                p99: p99 * scale,
                text: amount(metric, p50),
            })
            .collect(),
    )
}

/// The short form of a version (a content hash) for a column's head.
pub fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(app: &str, version: &str, cohort: &str, views: u64) -> AppFigures {
        AppFigures {
            app: app.into(),
            version: version.into(),
            cohorts: vec![cohort.into()],
            views,
            failures: 1,
            failure_rate: 1.0 / views.max(1) as f64,
            metrics: vec![MetricFigures {
                metric: Metric::Load,
                count: views,
                p50: Some(40.0),
                p90: Some(80.0),
                p99: Some(views as f64 * 10.0),
            }],
            top_errors: vec![],
        }
    }

    #[test]
    fn versions_side_by_side_released_first_synthetic_apart() {
        let (apps, steps) = group(vec![
            figures("@t/cart", "a", "trial", 90),
            figures("@t/cart", "b", "", 5),
            figures("@t/cart", "c", "", 50),
            figures("@t/nav", "n", "", 3),
            figures("synthetic:open", "s", "synthetic", 1),
        ]);
        let shown: Vec<(&str, Vec<&str>)> = apps
            .iter()
            .map(|g| {
                (
                    g.app.as_str(),
                    g.versions.iter().map(|v| v.version.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [("@t/cart", vec!["c", "b", "a"]), ("@t/nav", vec!["n"])]
        );
        assert_eq!(steps.len(), 1);
        assert!(on_trial(&apps[0].versions[2]));
        // Ties keep the order the BFF sent.
        let (apps, _) = group(vec![
            figures("@t/cart", "y", "", 7),
            figures("@t/cart", "x", "", 7),
            figures("@t/cart", "z", "", 8),
        ]);
        let order: Vec<&str> = apps[0]
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        assert_eq!(order, ["z", "y", "x"]);
    }

    #[test]
    fn figures_read_with_their_units() {
        assert_eq!(decimal(0.0425, 3), "0.043");
        assert_eq!(decimal(12.04, 1), "12.0");
        assert_eq!(decimal(-3.0, 0), "0");
        assert_eq!(amount(Metric::Load, 123.4), "123 ms");
        assert_eq!(amount(Metric::Mount, 0.84), "0.8 ms");
        assert_eq!(amount(Metric::Memory, 1_376_256.0), "1.3 MB");
        let v = figures("@t/cart", "a", "", 20);
        assert_eq!(cell(&v, Row::Views), "20");
        assert_eq!(cell(&v, Row::Failures), "1 (5.0 %)");
        assert_eq!(cell(&v, Row::Measured(Metric::Load)), "40 / 80 / 200 ms");
        assert_eq!(cell(&v, Row::Measured(Metric::Lcp)), "–");
    }

    #[test]
    fn bars_share_one_scale_per_metric() {
        let versions = [
            figures("@t/cart", "a", "", 10),
            figures("@t/cart", "b", "", 40),
        ];
        let bars = bars(&versions, Metric::Load, 400.0).unwrap();
        assert_eq!(bars[1].p99, 400.0, "the largest p99 fills the width");
        assert_eq!(bars[0].p99, 100.0);
        assert_eq!((bars[0].p50, bars[0].p90), (40.0, 80.0));
        assert_eq!(bars[0].text, "40 ms");
        assert!(super::bars(&versions, Metric::Inp, 400.0).is_none());
    }

    #[test]
    fn a_short_version_for_the_head() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("v2"), "v2");
    }
}
