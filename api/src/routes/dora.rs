//! `GET /api/v1/dora` and `GET /api/v1/dora/series`: the DORA keys of a window (with `by=service`,
//! also per service), and per bucket; `GET /api/v1/filters`: the environments, teams and services
//! the filters take, which dashboards list in their variables.


use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::calendar::Interval;
use pacer_engine::dora::{Scope, Summary};
use serde_json::{Map, Value, json};

use crate::query::{FILTERS, Params, interval};
use crate::read::dora::{analyze, scope_values};
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
        .route("/api/v1/filters", get(filters))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

async fn summary(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let mut known = FILTERS.to_vec();
    known.push("by");
    params.only(&known)?;
    let by_service = match params.one("by")? {
        None => false,
        Some("service") => true,
        Some(other) => return Err(Problem::invalid_query("by", format!("expected service but found {other:?}"))),
    };
    let (analysis, f) = analyze(&state, &params).await?;
    let mut summary = json!(analysis.summary(f.from, f.to, f.benchmarks, &f.scope));
    if by_service {
        let services: Vec<String> = match &f.scope.services {
            Some(named) => named.iter().cloned().collect(),
            None => analysis.services().into_iter().map(str::to_owned).collect(),
        };
        let rows: Vec<Value> = services
            .into_iter()
            .map(|service| {
                let mut row = json!(analysis.summary(f.from, f.to, f.benchmarks, &Scope::services([service.clone()])));
                if let Value::Object(map) = &mut row {
                    map.insert("service".to_owned(), Value::String(service));
                }
                row
            })
            .collect();
        if let Value::Object(map) = &mut summary {
            map.insert("by_service".to_owned(), Value::Array(rows));
        }
    }
    Ok(Json(summary))
}

/// The values each filter takes: `{"environments": [{"name": …}], "teams": […], "services": […]}`.
/// Objects rather than bare strings, so a table-shaped reader (Grafana's Infinity datasource)
/// finds a named column.
async fn filters(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    Params::parse(raw.as_deref())?.only(&[])?;
    let mut answer = Map::new();
    for name in ["environments", "teams", "services"] {
        let values = scope_values(&state, name).await?;
        answer.insert(name.to_owned(), values.into_iter().map(|v| json!({"name": v})).collect());
    }
    Ok(Json(Value::Object(answer)))
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
    let (analysis, f) = analyze(&state, &params).await?;
    let interval = interval(&params, f.from, f.to, Interval::Week)?;
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
