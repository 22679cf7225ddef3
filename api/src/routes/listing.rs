//! `GET /api/v1/deployments` and `GET /api/v1/incidents`: paged listings that show why a number
//! is what it is — each deployment with its changeset and failure causes, each incident with the
//! deployments it is blamed on.

use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::calendar::rfc3339;
use pacer_engine::dora::Analysis;
use pacer_engine::model::{Deployment, DeploymentStatus, Incident};
use pacer_store::ListQuery;
use serde_json::{Value, json};

use crate::read::dora::analyze;
use crate::paging::{page_params, time};
use crate::query::{FILTERS, Params};
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// Listing routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/deployments", get(deployments))
        .route("/api/v1/deployments/{id}", get(deployment))
        .route("/api/v1/incidents", get(incidents))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

/// Reads the listing parameters; the window is optional here (every row when absent).
async fn list_query(state: &AppState, params: &Params, extra: &[&str]) -> Result<(std::sync::Arc<Analysis>, ListQuery), Problem> {
    let mut known = FILTERS.to_vec();
    known.extend(["limit", "cursor"]);
    known.extend(extra);
    params.only(&known)?;
    let (analysis, f) = analyze(state, params).await?;
    let (limit, cursor) = page_params(params)?;
    let windowed = params.one("from")?.is_some() || params.one("to")?.is_some();
    let query = ListQuery {
        environment: f.environment,
        services: f.scope.services.map(|s| s.into_iter().collect()),
        from: windowed.then_some(f.from),
        to: windowed.then_some(f.to),
        status: None,
        limit,
        cursor,
    };
    Ok((analysis, query))
}

async fn deployments(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let (analysis, mut query) = list_query(&state, &params, &["status"]).await?;
    if let Some(status) = params.one("status")? {
        let known = DeploymentStatus::parse(status).ok_or_else(|| {
            Problem::invalid_query("status", format!("expected in_progress, success, failure or cancelled but found {status:?}"))
        })?;
        query.status = Some(known.as_str().to_owned());
    }
    let page = state.store.deployments(&query).await?;
    let items: Vec<Value> = page.items.iter().map(|d| deployment_json(d, &analysis)).collect();
    Ok(Json(json!({"items": items, "next_cursor": page.next.map(|c| c.to_string())})))
}

async fn deployment(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    let found = state.store.deployment(&id).await?.ok_or_else(|| Problem::not_found(format!("no deployment with id {id:?}")))?;
    let analysis = state.analyses.get(&state.store, &found.environment, state.config.attribution_window, state.config.analysis_wait).await?;
    Ok(Json(deployment_json(&found, &analysis)))
}

async fn incidents(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let (analysis, query) = list_query(&state, &params, &[]).await?;
    let page = state.store.incidents(&query).await?;
    let items: Vec<Value> = page.items.iter().map(|i| incident_json(i, &analysis)).collect();
    Ok(Json(json!({"items": items, "next_cursor": page.next.map(|c| c.to_string())})))
}

/// A deployment with what the analysis found: the changeset (for successful deployments), why it
/// counts as failed, and why it is rework.
fn deployment_json(d: &Deployment, analysis: &Analysis) -> Value {
    let analyzed = analysis.analyzed(d);
    let commits: Vec<Value> = d.commits.iter().map(|c| json!({"sha": c.sha, "committed_at": time(c.committed_at)})).collect();
    json!({
        "id": d.id,
        "service": d.service,
        "environment": d.environment,
        "version": d.version,
        "commit_sha": d.commit_sha,
        "status": d.status,
        "started_at": time(d.started_at),
        "finished_at": time(d.finished_at),
        "rollback_of": d.rollback_of,
        "unplanned": d.unplanned,
        "team": d.team,
        "url": d.url,
        "commits": commits,
        "changeset": analyzed.map(|a| a.changeset()),
        "lead_time_samples_seconds": analyzed.map(|a| a.lead_times().collect::<Vec<f64>>()),
        "failed": analyzed.is_some_and(|a| a.failed()),
        "failure_causes": analyzed.map(|a| a.failure_causes()).unwrap_or_default(),
        "recovered_at": time(analyzed.and_then(|a| a.recovered_at())),
        "rework": analyzed.and_then(|a| a.rework()),
    })
}

fn incident_json(i: &Incident, analysis: &Analysis) -> Value {
    let blamed: Vec<String> = analysis.blamed_on(i).collect();
    json!({
        "id": i.id,
        "service": i.service,
        "environment": i.environment,
        "opened_at": rfc3339(i.opened_at),
        "resolved_at": time(i.resolved_at),
        "restore_seconds": i.resolved_at.map(|r| (r - i.opened_at) as f64 / 1000.0),
        "severity": i.severity,
        "title": i.title,
        "url": i.url,
        "deployment_id": i.deployment_id,
        "commit_sha": i.commit_sha,
        "blamed_deployments": blamed,
    })
}
