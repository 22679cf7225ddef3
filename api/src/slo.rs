//! SLOs: `GET /api/v1/slos` and `GET /api/v1/slos/{name}`, and the evaluator that turns a fast
//! burn into an alert — which, like any alert, opens an incident and may roll back the deployment
//! that started it.
//!
//! Counts come from `sli` events or from a Prometheus server (an instant query per window, with
//! `$window` in the configured PromQL replaced by the window, e.g. `300s`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_collector::alerts::Alert;
use pacer_engine::Millis;
use pacer_engine::burn::{Counts, Severity, WINDOWS, WindowCounts, budget_remaining, burn_rate, firing};
use pacer_engine::calendar::rfc3339;
use serde_json::{Value, json};

use crate::config::{Slo, SloSource};
use crate::{AppState, Problem, auth, now};

/// SLO routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/slos", get(list))
        .route("/api/v1/slos/{name}", get(one))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

async fn list(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let mut items = Vec::new();
    for slo in &state.config.slos {
        items.push(status(&state, slo, now()).await?.json);
    }
    Ok(Json(json!({"items": items})))
}

async fn one(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, Problem> {
    let slo = state.config.slos.iter().find(|s| s.name == name).ok_or_else(|| Problem::not_found(format!("no SLO named {name:?}")))?;
    Ok(Json(status(&state, slo, now()).await?.json))
}

/// An SLO's state at one moment.
pub struct Status {
    /// The most urgent condition that holds, with its window pair.
    pub firing: Option<(Severity, String)>,
    /// The response body.
    pub json: Value,
}

/// Computes the state of `slo` at `now`.
///
/// # Errors
/// The database or the Prometheus server failed.
pub async fn status(state: &AppState, slo: &Slo, now: Millis) -> Result<Status, Problem> {
    let mut windows: Vec<(&'static str, Millis)> = WINDOWS.to_vec();
    windows.push(("window", slo.window));
    let mut counts: Vec<(&'static str, Counts)> = Vec::with_capacity(windows.len());
    for (name, length) in windows {
        counts.push((name, count(state, slo, now, length).await?));
    }
    let by_window: WindowCounts = std::array::from_fn(|i| counts[i]);
    let conditions = firing(&by_window, slo.objective, slo.min_events);
    let whole = counts[counts.len() - 1].1;
    let json = json!({
        "name": slo.name,
        "service": slo.service,
        "environment": slo.environment,
        "objective": slo.objective,
        "window_days": slo.window as f64 / 86_400_000.0,
        "source": match &slo.source { SloSource::Events { .. } => "sli_events", SloSource::Prometheus { .. } => "prometheus" },
        "at": rfc3339(now),
        "error_ratio": whole.error_ratio(),
        "budget_remaining": whole.error_ratio().map(|r| budget_remaining(r, slo.objective)),
        "windows": counts.iter().map(|(name, c)| json!({
            "window": name, "good": c.good, "total": c.total, "error_ratio": c.error_ratio(),
            "burn_rate": c.error_ratio().map(|r| burn_rate(r, slo.objective)),
        })).collect::<Vec<_>>(),
        "firing": conditions.iter().map(|c| json!({
            "severity": c.severity, "long": c.long, "short": c.short, "threshold": c.threshold,
        })).collect::<Vec<_>>(),
        "status": conditions.first().map_or("ok", |c| match c.severity { Severity::Page => "page", Severity::Ticket => "ticket" }),
    });
    let firing = conditions.first().map(|c| (c.severity, format!("{}&{}", c.long, c.short)));
    Ok(Status { firing, json })
}

/// The good and total events of `slo` in `[now - length, now)`.
///
/// # Errors
/// The database or the Prometheus server failed.
pub(crate) async fn count(state: &AppState, slo: &Slo, now: Millis, length: Millis) -> Result<Counts, Problem> {
    match &slo.source {
        SloSource::Events { series } => {
            let (good, total) = state.store.sli_counts(&slo.service, &slo.environment, series, now - length, now).await?;
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
    let body: Value = response.json().await.map_err(|e| failed(e.to_string()))?;
    if body["status"] != "success" {
        return Err(failed(body["error"].as_str().unwrap_or("unknown error").to_owned()));
    }
    let result = &body["data"]["result"];
    let sample = match body["data"]["resultType"].as_str() {
        Some("vector") => result.as_array().map_or(0.0, |v| v.iter().filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok()).sum()),
        Some("scalar") => result[1].as_str().and_then(|v| v.parse().ok()).unwrap_or(0.0),
        _ => 0.0,
    };
    Ok(if sample.is_finite() { sample } else { 0.0 })
}

/// Evaluates every SLO each `interval` until `shutdown`; a page-level burn becomes a firing
/// alert for its service, and its end resolves the alert.
pub async fn evaluate(state: AppState, interval: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut episodes: HashMap<String, Millis> = HashMap::new();
    loop {
        for slo in &state.config.slos {
            let now = now();
            match status(&state, slo, now).await {
                Ok(status) => {
                    if let Err(problem) = step(&state, slo, &status, now, &mut episodes).await {
                        tracing::warn!(slo = slo.name, detail = problem.detail, "slo burn alert failed");
                    }
                }
                Err(problem) => tracing::warn!(slo = slo.name, detail = problem.detail, "slo evaluation failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut shutdown => break,
        }
    }
}

async fn step(state: &AppState, slo: &Slo, status: &Status, now: Millis, episodes: &mut HashMap<String, Millis>) -> Result<(), Problem> {
    let paging = status.firing.as_ref().filter(|(severity, _)| *severity == Severity::Page);
    let alert = match (paging, episodes.get(&slo.name).copied()) {
        (Some((_, pair)), started) => {
            let started = *episodes.entry(slo.name.clone()).or_insert(started.unwrap_or(now));
            burn_alert(slo, pair, started, None)
        }
        (None, Some(started)) => {
            episodes.remove(&slo.name);
            burn_alert(slo, "", started, Some(now))
        }
        (None, None) => return Ok(()),
    };
    crate::alerts::handle(state, "slo", &[alert], slo.rollback).await.map(drop)
}

fn burn_alert(slo: &Slo, pair: &str, started: Millis, ended: Option<Millis>) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_owned(), "SLOBurnRate".to_owned());
    labels.insert("service".to_owned(), slo.service.clone());
    labels.insert("environment".to_owned(), slo.environment.clone());
    labels.insert("slo".to_owned(), slo.name.clone());
    labels.insert("severity".to_owned(), "page".to_owned());
    if !pair.is_empty() {
        labels.insert("windows".to_owned(), pair.to_owned());
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_owned(), format!("error budget of {} burning fast ({pair})", slo.name));
    Alert {
        firing: ended.is_none(),
        name: "SLOBurnRate".to_owned(),
        labels,
        annotations,
        starts_at: started,
        ends_at: ended,
        generator_url: None,
        fingerprint: format!("slo-{}", slo.name),
        values: None,
    }
}
