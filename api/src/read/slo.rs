//! An SLO's state at one moment: its counts per burn window, from `sli` events or from a Prometheus
//! server (an instant query per window, with `$window` in the configured PromQL replaced by the
//! window, e.g. `300s`), its error ratio, budget and burn rates, and the conditions that fire.
//! The SLO routes serialize it; the page, the report, `/metrics` and the evaluator read its fields.

use std::time::Duration;

use pacer_engine::Millis;
use pacer_engine::burn::{Counts, Severity, WINDOWS, WindowCounts, budget_remaining, burn_rate, firing};
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
    /// The SLO window in days.
    pub window_days: f64,
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
    /// Error ratio; `None` without traffic.
    pub error_ratio: Option<f64>,
    /// Good events.
    pub good: f64,
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
    let mut windows: Vec<(&'static str, Millis)> = WINDOWS.to_vec();
    windows.push(("window", slo.window));
    let mut counts: Vec<(&'static str, Counts)> = Vec::with_capacity(windows.len());
    for (name, length) in windows {
        counts.push((name, count(store, slo, now, length).await?));
    }
    let by_window: WindowCounts = std::array::from_fn(|i| counts[i]);
    let conditions = firing(&by_window, slo.objective, slo.min_events);
    let whole = counts[counts.len() - 1].1;
    Ok(SloStatus {
        at: rfc3339(now),
        budget_remaining: whole.error_ratio().map(|r| budget_remaining(r, slo.objective)),
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
        windows: counts
            .iter()
            .map(|(name, c)| Window {
                burn_rate: c.error_ratio().map(|r| burn_rate(r, slo.objective)),
                error_ratio: c.error_ratio(),
                good: c.good,
                total: c.total,
                window: name,
            })
            .collect(),
    })
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
