//! An SLO's state at one moment: its counts per burn window, from `sli` events or from a Prometheus
//! server (an instant query per window, with `$window` in the configured PromQL replaced by the
//! window, e.g. `300s`), its error ratio, budget and burn rates, and the conditions that fire.
//! For a time-slice SLO the error ratios come from slices (the engine's
//! [`pacer_engine::burn::Slices`]), cut from the `sli` samples or counted by a Prometheus
//! subquery; the SLO window is the current calendar period when the SLO has a calendar.
//! The SLO routes serialize it; the page, the report, `/metrics` and the evaluator read its fields.

use std::time::Duration;

use pacer_engine::Millis;
use pacer_engine::burn::{Budgeting, Counts, Measure, Severity, Slices, WINDOWS, WindowMeasures, budget_remaining, burn_rate, firing_measured};
use pacer_engine::calendar::rfc3339;
use pacer_store::Store;
use serde::{Deserialize, Serialize};

use crate::config::{Slo, SloSource};
use crate::problem::Problem;

/// An SLO's state at one moment, as `GET /api/v1/slos/{name}` answers it. Fields are declared in
/// the order the answer has always listed them (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct SloStatus {
    /// When it was computed (RFC 3339).
    pub at: String,
    /// Share of the error budget left over the SLO window; `None` without traffic.
    pub budget_remaining: Option<f64>,
    /// How events become an error ratio: `occurrences`, `timeslices` or `ratio_timeslices`.
    pub budgeting: &'static str,
    /// The SLO's environment.
    pub environment: String,
    /// Error ratio over the SLO window; `None` without traffic.
    pub error_ratio: Option<f64>,
    /// The burn conditions that hold, most urgent first.
    pub firing: Vec<Firing>,
    /// The SLO's name.
    pub name: String,
    /// The objective, such as 0.999.
    pub objective: f64,
    /// The SLO's service.
    pub service: String,
    /// Where the counts come from.
    pub source: Source,
    /// The most urgent condition that holds, or `ok`.
    pub status: Level,
    /// The SLO window in days (a calendar window: its periods' usual length, a month as 30 days).
    pub window_days: f64,
    /// Where the SLO window began (RFC 3339): `window_days` ago, or a calendar period's start.
    pub window_start: String,
    /// Counts and burn per window: the alert windows, then the whole SLO window (`window`).
    pub windows: Vec<Window>,
}

/// One burn condition that holds.
#[derive(Debug, Clone, Serialize)]
pub struct Firing {
    /// The long window's name.
    pub long: &'static str,
    /// How urgent.
    pub severity: Severity,
    /// The short window's name.
    pub short: &'static str,
    /// Both windows burn faster than this.
    pub threshold: f64,
}

/// Counts and burn over one window.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Burn rate (error ratio / (1 − objective)); `None` without traffic.
    pub burn_rate: Option<f64>,
    /// Error ratio by the SLO's budgeting method; `None` without traffic.
    pub error_ratio: Option<f64>,
    /// Good events.
    pub good: f64,
    /// A time-slice SLO's slices with traffic (`counted`) and their badness (`bad`): bad slices,
    /// or the sum of the slices' error ratios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slices: Option<Slices>,
    /// All events.
    pub total: f64,
    /// The window's name (`5m`, …, `3d`, or `window` for the SLO window).
    pub window: &'static str,
}

/// Where an SLO's counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `sli` events.
    SliEvents,
    /// A Prometheus server.
    Prometheus,
}

/// An SLO's state: fine, or the severity of the most urgent condition that holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No condition holds.
    Ok,
    /// A ticket-level condition holds.
    Ticket,
    /// A page-level condition holds.
    Page,
}

impl Level {
    /// The name the answer gives.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Ticket => "ticket",
            Self::Page => "page",
        }
    }
}

impl SloStatus {
    /// The burn rate over the window named `window`, when there was traffic.
    pub fn burn_rate(&self, window: &str) -> Option<f64> {
        self.windows.iter().find(|w| w.window == window).and_then(|w| w.burn_rate)
    }

    /// The most urgent condition that holds, with its window pair (`1h&5m`).
    pub fn most_urgent(&self) -> Option<(Severity, String)> {
        self.firing.first().map(|c| (c.severity, format!("{}&{}", c.long, c.short)))
    }
}

/// Computes the state of `slo` at `now`.
///
/// # Errors
/// The database or the Prometheus server failed.
pub async fn status(store: &Store, slo: &Slo, now: Millis) -> Result<SloStatus, Problem> {
    let (budget_from, _) = slo.budget_window(now);
    let mut windows: Vec<(&'static str, Millis)> = WINDOWS.to_vec();
    windows.push(("window", now - budget_from));
    let slices = slices(store, slo, now, &windows).await?;
    let mut measures: Vec<(&'static str, Measure)> = Vec::with_capacity(windows.len());
    for (&(name, length), slices) in windows.iter().zip(slices) {
        measures.push((name, Measure { counts: count(store, slo, now, length).await?, slices }));
    }
    let by_window: WindowMeasures = std::array::from_fn(|i| measures[i]);
    let conditions = firing_measured(&by_window, slo.objective, slo.min_events);
    let whole = measures[measures.len() - 1].1;
    Ok(SloStatus {
        at: rfc3339(now),
        budget_remaining: whole.error_ratio().map(|r| budget_remaining(r, slo.objective)),
        budgeting: slo.budgeting.name(),
        environment: slo.environment.clone(),
        error_ratio: whole.error_ratio(),
        firing: conditions.iter().map(|c| Firing { long: c.long, severity: c.severity, short: c.short, threshold: c.threshold }).collect(),
        name: slo.name.clone(),
        objective: slo.objective,
        service: slo.service.clone(),
        source: match &slo.source {
            SloSource::Events { .. } => Source::SliEvents,
            SloSource::Prometheus { .. } => Source::Prometheus,
        },
        status: conditions.first().map_or(Level::Ok, |c| match c.severity {
            Severity::Page => Level::Page,
            Severity::Ticket => Level::Ticket,
        }),
        window_days: slo.window as f64 / 86_400_000.0,
        window_start: rfc3339(budget_from),
        windows: measures
            .iter()
            .map(|(name, m)| Window {
                burn_rate: m.error_ratio().map(|r| burn_rate(r, slo.objective)),
                error_ratio: m.error_ratio(),
                good: m.counts.good,
                slices: m.slices,
                total: m.counts.total,
                window: name,
            })
            .collect(),
    })
}

/// The slices of each window `[now − length, now)` of a time-slice SLO (`None` each under
/// occurrences): from the `sli` samples of the longest window, cut by the engine; or from
/// Prometheus, a subquery per window evaluating each slice's badness at every slice step.
///
/// # Errors
/// The database or the Prometheus server failed.
async fn slices(store: &Store, slo: &Slo, now: Millis, windows: &[(&'static str, Millis)]) -> Result<Vec<Option<Slices>>, Problem> {
    let Some(width) = slo.budgeting.slice() else { return Ok(vec![None; windows.len()]) };
    match &slo.source {
        SloSource::Events { series } => {
            let longest = windows.iter().map(|(_, length)| *length).max().unwrap_or_default();
            // From the start of the slice the longest window's first slice ends in.
            let from = (now - longest).div_euclid(width) * width;
            let rows = store.sli_slices(&slo.service, &slo.environment, series, from, now, width).await?;
            let by_slice: Vec<(i64, Counts)> = rows.into_iter().map(|(n, good, total)| (n, Counts { good: good as f64, total: total as f64 })).collect();
            Ok(windows.iter().map(|(_, length)| Some(Slices::within(&by_slice, slo.budgeting, now - length, now))).collect())
        }
        SloSource::Prometheus { url, good, errors, total } => {
            let badness = slice_badness(slo.budgeting, good.as_deref(), errors.as_deref(), total, width);
            let mut out = Vec::with_capacity(windows.len());
            for (_, length) in windows {
                let over = format!("({badness})[{length}ms:{}s]", width / 1_000);
                let bad = prometheus(url, &format!("sum_over_time({over})"), "", now).await?;
                let counted = prometheus(url, &format!("count_over_time({over})"), "", now).await?;
                out.push(Some(Slices { counted, bad }));
            }
            Ok(out)
        }
    }
}

/// The PromQL of one slice's badness ([`pacer_engine::burn::Budgeting::slice_badness`]) from
/// the configured queries with `$window` the slice's width: absent when the slice saw no
/// traffic, so that a subquery over it counts only slices with traffic. `pacer slo rules`
/// records the same expression.
pub fn slice_badness(budgeting: Budgeting, good: Option<&str>, errors: Option<&str>, total: &str, width: Millis) -> String {
    let over = |query: &str| query.replace("$window", &format!("{}s", width / 1_000));
    let total = format!("sum({})", over(total));
    let good = match (good, errors) {
        (Some(good), _) => format!("(sum({}) or vector(0))", over(good)),
        (None, Some(errors)) => format!("({total} - (sum({}) or vector(0)))", over(errors)),
        (None, None) => total.clone(),
    };
    match budgeting {
        // As the engine: good / total ≥ target makes a good slice, on the same two numbers.
        Budgeting::Timeslices { target, .. } => format!("1 - ({good} / ({total} > 0) >= bool {target:?})"),
        Budgeting::RatioTimeslices { .. } | Budgeting::Occurrences => format!("clamp(1 - {good} / ({total} > 0), 0, 1)"),
    }
}

/// The good and total events of `slo` in `[now - length, now)`.
///
/// # Errors
/// The database or the Prometheus server failed.
pub async fn count(store: &Store, slo: &Slo, now: Millis, length: Millis) -> Result<Counts, Problem> {
    match &slo.source {
        SloSource::Events { series } => {
            let (good, total) = store.sli_counts(&slo.service, &slo.environment, series, now - length, now).await?;
            Ok(Counts { good: good as f64, total: total as f64 })
        }
        SloSource::Prometheus { url, good, errors, total } => {
            let window = format!("{}s", length / 1_000);
            let total_value = prometheus(url, total, &window, now).await?;
            let good_value = match (good, errors) {
                (Some(good), _) => prometheus(url, good, &window, now).await?,
                (None, Some(errors)) => total_value - prometheus(url, errors, &window, now).await?,
                (None, None) => total_value,
            };
            Ok(Counts { good: good_value.clamp(0.0, total_value.max(0.0)), total: total_value.max(0.0) })
        }
    }
}

/// Evaluates `query` (with `$window` replaced) at `now` on a Prometheus server; an empty result
/// is 0.
async fn prometheus(url: &str, query: &str, window: &str, now: Millis) -> Result<f64, Problem> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default());
    let query = query.replace("$window", window);
    let time = format!("{:.3}", now as f64 / 1_000.0);
    let failed = |detail: String| {
        tracing::warn!(url, detail, "prometheus query failed");
        Problem::bad_gateway(format!("the Prometheus server at {url} failed: {detail}"))
    };
    let response = client
        .get(format!("{}/api/v1/query", url.trim_end_matches('/')))
        .query(&[("query", query.as_str()), ("time", time.as_str())])
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let answer: PrometheusAnswer = response.json().await.map_err(|e| failed(e.to_string()))?;
    if answer.status != "success" {
        return Err(failed(answer.error.unwrap_or_else(|| "unknown error".to_owned())));
    }
    let number = |text: &str| text.parse::<f64>().ok();
    let sample = match answer.data {
        Some(PrometheusData::Vector(samples)) => samples.iter().filter_map(|s| number(&s.value.1)).sum(),
        Some(PrometheusData::Scalar((_, value))) => number(&value).unwrap_or(0.0),
        Some(PrometheusData::Matrix(_) | PrometheusData::String(_)) | None => 0.0,
    };
    Ok(if sample.is_finite() { sample } else { 0.0 })
}

/// An answer of Prometheus' `GET /api/v1/query`
/// (<https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries>).
#[derive(Debug, Deserialize)]
struct PrometheusAnswer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<PrometheusData>,
}

/// The result of an instant query, by its `resultType`.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum PrometheusData {
    /// One sample per series: the counts are their sum.
    Vector(Vec<PrometheusSample>),
    /// One number.
    Scalar((f64, String)),
    /// Not an instant vector: counts nothing.
    Matrix(serde::de::IgnoredAny),
    /// Not a number: counts nothing.
    String(serde::de::IgnoredAny),
}

/// One series' sample: `[time, "value"]`.
#[derive(Debug, Deserialize)]
struct PrometheusSample {
    value: (f64, String),
}
