//! Real-user monitoring: what a page reports about each app it ran (`POST /api/rum`), the rules
//! a report must keep, and the per-app, per-version figures the BFF answers
//! (`GET /api/rum/summary`).
//!
//! A report carries app names, versions (content hashes), the cohort and the shell's version,
//! and numbers; never the user's token or anything they typed. An error's `detail` is the
//! first line of its message, cut to [`MAX_DETAIL`] characters.

use crate::sync::FieldError;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The most samples one report may carry.
pub const MAX_SAMPLES: usize = 200;
/// The longest error detail kept.
pub const MAX_DETAIL: usize = 300;
/// The largest value a sample may carry (milliseconds, bytes, counts, CLS): 2^40.
pub const MAX_VALUE: f64 = 1_099_511_627_776.0;
/// What a sample's `app` is when it is about the page, not one app (Web Vitals of a page with
/// no app active).
pub const PAGE: &str = "page";

/// `POST /api/rum`: one page's samples, sent in a batch when the page is idle or hidden.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RumReport {
    /// The shell's version (its bundle's content hash).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._@/:-]{1,64}$"))]
    pub shell: String,
    /// The cohort the page was served (`""` when the site has none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._@/:-]{0,64}$"))]
    pub cohort: String,
    /// 1 to [`MAX_SAMPLES`].
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 200))]
    pub samples: Vec<RumSample>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RumSample {
    /// The app's name (`page` for the page as a whole).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._@/:-]{1,64}$"))]
    pub app: String,
    /// The app's version: its bundle's content hash.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._@/:-]{1,64}$"))]
    pub version: String,
    pub metric: Metric,
    /// Milliseconds for times, bytes for `memory`, the score for `cls`, 1 for counts.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_099_511_627_776_i64)
    )]
    pub value: f64,
    /// For errors: the first line of the message.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 300, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a sample measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// The app was shown in a page view (a count: the denominator of error rates).
    View,
    /// Fetch, compile and bootstrap of the app's bundle, ms.
    Load,
    /// First activation: from the route asking for the app to it being mounted, ms.
    ActivateFirst,
    /// A later activation (bundle already loaded), ms.
    Activate,
    /// The app's own `mount`, ms.
    Mount,
    /// An error attributed to the app (a count).
    Error,
    /// The app's bundle failed to load (a count).
    LoadError,
    /// The app went BROKEN (a count).
    Broken,
    /// Largest Contentful Paint while the app was active, ms.
    Lcp,
    /// Interaction to Next Paint while the app was active, ms.
    Inp,
    /// Cumulative Layout Shift while the app was active (a score).
    Cls,
    /// The app's wasm linear memory, bytes.
    Memory,
    /// A step of a synthetic check's scripted journey (`app` is `synthetic:<step>`), ms.
    Step,
}

impl Metric {
    pub const ALL: [Metric; 13] = [
        Metric::View,
        Metric::Load,
        Metric::ActivateFirst,
        Metric::Activate,
        Metric::Mount,
        Metric::Error,
        Metric::LoadError,
        Metric::Broken,
        Metric::Lcp,
        Metric::Inp,
        Metric::Cls,
        Metric::Memory,
        Metric::Step,
    ];

    /// The name in reports and in the store.
    pub fn name(self) -> &'static str {
        match self {
            Metric::View => "view",
            Metric::Load => "load",
            Metric::ActivateFirst => "activate-first",
            Metric::Activate => "activate",
            Metric::Mount => "mount",
            Metric::Error => "error",
            Metric::LoadError => "load-error",
            Metric::Broken => "broken",
            Metric::Lcp => "lcp",
            Metric::Inp => "inp",
            Metric::Cls => "cls",
            Metric::Memory => "memory",
            Metric::Step => "step",
        }
    }

    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Counted (summed per app and version) rather than distributed (percentiles).
    pub fn is_count(self) -> bool {
        matches!(
            self,
            Metric::View | Metric::Error | Metric::LoadError | Metric::Broken
        )
    }

    /// Counted as a failure in the error rate.
    pub fn is_failure(self) -> bool {
        matches!(self, Metric::Error | Metric::LoadError | Metric::Broken)
    }
}

impl RumReport {
    /// Every rule the report breaks, each with the JSON pointer of what breaks it; empty when
    /// it may be stored.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        check_name(&mut out, "/shell", &self.shell, false);
        check_name(&mut out, "/cohort", &self.cohort, true);
        if self.samples.is_empty() || self.samples.len() > MAX_SAMPLES {
            out.push(FieldError::pointer(
                "/samples",
                format!(
                    "send 1 to {MAX_SAMPLES} samples per report, not {}",
                    self.samples.len()
                ),
            ));
        }
        for (i, s) in self.samples.iter().enumerate().take(MAX_SAMPLES) {
            check_name(&mut out, &format!("/samples/{i}/app"), &s.app, false);
            check_name(
                &mut out,
                &format!("/samples/{i}/version"),
                &s.version,
                false,
            );
            if !(s.value.is_finite() && (0.0..=MAX_VALUE).contains(&s.value)) {
                out.push(FieldError::pointer(
                    format!("/samples/{i}/value"),
                    format!("must be a number from 0 to {MAX_VALUE}"),
                ));
            }
            if let Some(detail) = &s.detail {
                if detail.chars().count() > MAX_DETAIL || detail.chars().any(char::is_control) {
                    out.push(FieldError::pointer(
                        format!("/samples/{i}/detail"),
                        format!("one line of at most {MAX_DETAIL} characters"),
                    ));
                }
            }
        }
        out
    }
}

/// Names (`@tessera/cart`), versions and cohorts (`percent:10`): 1 to 64 of
/// `A-Z a-z 0-9 . _ - @ / :` (empty allowed where `empty`).
fn check_name(out: &mut Vec<FieldError>, pointer: &str, value: &str, empty: bool) {
    let ok = (empty || !value.is_empty())
        && value.len() <= 64
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'/' | b':')
        });
    if !ok {
        out.push(FieldError::pointer(
            pointer,
            "1 to 64 letters, digits, '.', '_', '-', '@', '/' or ':'",
        ));
    }
}

/// `GET /api/rum/summary`: figures per app and version since `since`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RumSummary {
    /// Milliseconds since the epoch: samples received from then on are counted.
    pub since: i64,
    /// By app, then version.
    pub apps: Vec<AppFigures>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppFigures {
    pub app: String,
    pub version: String,
    /// The cohorts the samples came from.
    pub cohorts: Vec<String>,
    /// Page views that showed the app.
    pub views: u64,
    /// Errors, load errors and BROKEN transitions.
    pub failures: u64,
    /// `failures / views` (0 without views).
    pub failure_rate: f64,
    /// Each counted metric's total, each measured metric's distribution.
    pub metrics: Vec<MetricFigures>,
    /// The most frequent error details, most frequent first (at most five).
    pub top_errors: Vec<ErrorCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricFigures {
    pub metric: Metric,
    pub count: u64,
    /// For measured metrics (not counts); nearest-rank percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorCount {
    pub detail: String,
    pub count: u64,
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of `sorted` (ascending); `None` if empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One stored sample, as the summary reads it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub app: String,
    pub version: String,
    pub cohort: String,
    pub metric: Metric,
    pub value: f64,
    pub detail: Option<String>,
}

/// The figures of `samples`, by app then version.
pub fn summarise(since: i64, samples: &[Stored]) -> RumSummary {
    use std::collections::{BTreeMap, BTreeSet};
    #[derive(Default)]
    struct Acc<'a> {
        cohorts: BTreeSet<&'a str>,
        counts: BTreeMap<Metric, u64>,
        values: BTreeMap<Metric, Vec<f64>>,
        errors: BTreeMap<&'a str, u64>,
    }
    let mut by: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    for s in samples {
        let acc = by.entry((&s.app, &s.version)).or_default();
        acc.cohorts.insert(&s.cohort);
        if s.metric.is_count() {
            *acc.counts.entry(s.metric).or_default() += s.value.round() as u64;
            if let (true, Some(detail)) = (s.metric.is_failure(), &s.detail) {
                *acc.errors.entry(detail).or_default() += 1;
            }
        } else {
            acc.values.entry(s.metric).or_default().push(s.value);
        }
    }
    let apps = by
        .into_iter()
        .map(|((app, version), acc)| {
            let views = acc.counts.get(&Metric::View).copied().unwrap_or(0);
            let failures = acc
                .counts
                .iter()
                .filter(|(m, _)| m.is_failure())
                .map(|(_, n)| n)
                .sum::<u64>();
            let mut metrics: Vec<MetricFigures> = acc
                .counts
                .iter()
                .map(|(&metric, &count)| MetricFigures {
                    metric,
                    count,
                    p50: None,
                    p90: None,
                    p99: None,
                })
                .collect();
            for (metric, mut values) in acc.values {
                values.sort_by(f64::total_cmp);
                metrics.push(MetricFigures {
                    metric,
                    count: values.len() as u64,
                    p50: percentile(&values, 50.0),
                    p90: percentile(&values, 90.0),
                    p99: percentile(&values, 99.0),
                });
            }
            metrics.sort_by_key(|m| m.metric);
            let mut top_errors: Vec<ErrorCount> = acc
                .errors
                .into_iter()
                .map(|(detail, count)| ErrorCount {
                    detail: detail.to_owned(),
                    count,
                })
                .collect();
            top_errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.detail.cmp(&b.detail)));
            top_errors.truncate(5);
            AppFigures {
                app: app.to_owned(),
                version: version.to_owned(),
                cohorts: acc.cohorts.into_iter().map(str::to_owned).collect(),
                views,
                failures,
                failure_rate: if views == 0 {
                    0.0
                } else {
                    failures as f64 / views as f64
                },
                metrics,
                top_errors,
            }
        })
        .collect();
    RumSummary { since, apps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(app: &str, version: &str, metric: Metric, value: f64) -> RumSample {
        RumSample {
            app: app.into(),
            version: version.into(),
            metric,
            value,
            detail: None,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 90.0), Some(90.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_report_names_every_broken_rule() {
        let mut bad = sample("nav", "abc", Metric::Load, -1.0);
        bad.detail = Some("two\nlines".into());
        let report = RumReport {
            shell: "".into(),
            cohort: "canary".into(),
            samples: vec![
                sample("nav", "abc", Metric::Load, 12.5),
                bad,
                sample("nav x", "abc", Metric::View, f64::INFINITY),
            ],
        };
        let pointers: Vec<String> = report
            .problems()
            .into_iter()
            .map(|e| e.pointer.unwrap())
            .collect();
        assert_eq!(
            pointers,
            [
                "/shell",
                "/samples/1/value",
                "/samples/1/detail",
                "/samples/2/app",
                "/samples/2/value"
            ]
        );
        let empty = RumReport {
            shell: "s1".into(),
            cohort: String::new(),
            samples: Vec::new(),
        };
        assert_eq!(empty.problems()[0].pointer.as_deref(), Some("/samples"));
    }

    #[test]
    fn metrics_read_by_their_names() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
        }
        assert_eq!(Metric::parse("nope"), None);
        let err = serde_json::from_str::<RumReport>(
            r#"{"shell":"s","samples":[{"app":"a","version":"v","metric":"lcpp","value":1}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("lcpp"), "{err}");
    }

    #[test]
    fn figures_per_app_and_version() {
        let stored = |app: &str, version: &str, metric, value, detail: Option<&str>| Stored {
            app: app.into(),
            version: version.into(),
            cohort: if version == "v2" { "canary" } else { "" }.into(),
            metric,
            value,
            detail: detail.map(Into::into),
        };
        let mut samples = Vec::new();
        for i in 1..=10 {
            samples.push(stored("cart", "v1", Metric::View, 1.0, None));
            samples.push(stored("cart", "v1", Metric::Load, f64::from(i * 10), None));
        }
        samples.push(stored("cart", "v1", Metric::Error, 1.0, Some("boom")));
        samples.push(stored("cart", "v2", Metric::View, 1.0, None));
        samples.push(stored("cart", "v2", Metric::Broken, 1.0, Some("boom")));
        samples.push(stored("cart", "v2", Metric::Error, 1.0, Some("bang")));
        let s = summarise(5, &samples);
        assert_eq!(s.since, 5);
        assert_eq!(s.apps.len(), 2);
        let v1 = &s.apps[0];
        assert_eq!((v1.views, v1.failures, v1.failure_rate), (10, 1, 0.1));
        assert_eq!(v1.cohorts, [""]);
        let load = v1
            .metrics
            .iter()
            .find(|m| m.metric == Metric::Load)
            .unwrap();
        assert_eq!(
            (load.count, load.p50, load.p90, load.p99),
            (10, Some(50.0), Some(90.0), Some(100.0))
        );
        let v2 = &s.apps[1];
        assert_eq!((v2.views, v2.failures, v2.failure_rate), (1, 2, 2.0));
        assert_eq!(v2.cohorts, ["canary"]);
        assert_eq!(
            v2.top_errors,
            [
                ErrorCount {
                    detail: "bang".into(),
                    count: 1
                },
                ErrorCount {
                    detail: "boom".into(),
                    count: 1
                }
            ]
        );
    }
}
