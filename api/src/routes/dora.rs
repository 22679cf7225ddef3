//! `GET /api/v1/dora` and `GET /api/v1/dora/series`: the DORA keys of a window, and per bucket.


use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::calendar::Interval;
use pacer_engine::dora::Summary;
use serde_json::{Map, Value, json};

use crate::query::{FILTERS, Params};
use crate::read::dora::analyze;
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// The metrics a series can select.
pub const METRICS: [&str; 6] =
    ["deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore", "failed_deployment_recovery_time", "rework_rate"];

/// Most buckets one series may have.
const MAX_BUCKETS: usize = 2_000;

/// Metric routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/dora", get(summary))
        .route("/api/v1/dora/series", get(series))
        .route_layer(middleware::from_fn_with_state(state.guard.clone(), crate::limits::heavy_query_slot))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

async fn summary(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Summary>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&FILTERS)?;
    let (analysis, f) = analyze(&state, &params).await?;
    Ok(Json(analysis.summary(f.from, f.to, f.benchmarks, &f.scope)))
}

async fn series(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let mut known = FILTERS.to_vec();
    known.extend(["metric", "interval"]);
    params.only(&known)?;
    let metric = match params.one("metric")? {
        Some(m) if METRICS.contains(&m) => Some(m),
        Some(m) => return Err(Problem::invalid_query("metric", format!("expected one of {} but found {m:?}", METRICS.join(", ")))),
        None => None,
    };
    let interval = match params.one("interval")? {
        Some(name) => Interval::parse(name)
            .ok_or_else(|| Problem::invalid_query("interval", format!("expected day, week or month but found {name:?}")))?,
        None => Interval::Week,
    };
    let (analysis, f) = analyze(&state, &params).await?;
    let buckets = interval.buckets(f.from, f.to);
    if buckets.len() > MAX_BUCKETS {
        let detail = format!("expected at most {MAX_BUCKETS} buckets but the window has {}; use a wider interval", buckets.len());
        return Err(Problem::invalid_query("interval", detail));
    }
    let points: Vec<Value> = analysis
        .series(f.from, f.to, interval, f.benchmarks, &f.scope)
        .into_iter()
        .map(|s| bucket(s, metric))
        .collect();
    let services: Vec<String> = match &f.scope.services {
        Some(named) => named.iter().cloned().collect(),
        None => analysis.services().into_iter().map(str::to_owned).collect(),
    };
    Ok(Json(json!({
        "from": pacer_engine::calendar::rfc3339(f.from),
        "to": pacer_engine::calendar::rfc3339(f.to),
        "environment": f.environment,
        "services": services,
        "interval": interval,
        "metric": metric,
        "buckets": points,
    })))
}

/// One bucket: its window and either every metric or the one asked for.
fn bucket(summary: Summary, metric: Option<&str>) -> Value {
    let mut point = Map::new();
    point.insert("from".to_owned(), json!(summary.from));
    point.insert("to".to_owned(), json!(summary.to));
    let names: Vec<&str> = match metric {
        Some(name) => vec![name],
        None => METRICS.iter().copied().chain(["level"]).collect(),
    };
    for name in names {
        point.insert(name.to_owned(), metric_json(&summary, name));
    }
    Value::Object(point)
}

/// The part of a summary named `name` (a field of `GET /api/v1/dora`), as the summary writes it.
fn metric_json(s: &Summary, name: &str) -> Value {
    match name {
        "deployment_frequency" => json!(s.deployment_frequency),
        "lead_time" => json!(s.lead_time),
        "change_failure_rate" => json!(s.change_failure_rate),
        "time_to_restore" => json!(s.time_to_restore),
        "failed_deployment_recovery_time" => json!(s.failed_deployment_recovery_time),
        "rework_rate" => json!(s.rework_rate),
        "level" => json!(s.level),
        _ => Value::Null,
    }
}
