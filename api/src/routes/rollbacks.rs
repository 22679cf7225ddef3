//! `GET /api/v1/rollbacks`, `GET /api/v1/rollbacks/{id}` and `POST /api/v1/rollbacks/{id}/approve`:
//! what pacer decided, why, every delivery attempt, and the deployment that carried it out.
//!
//! The list takes `limit` (the newest decisions, 1–500, default 50) and the read filters
//! `from`, `to` (on the decision time), `environment`, `service` and `team`, applied in the
//! database before the limit; without any filter it lists every environment's decisions.

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use pacer_engine::calendar::rfc3339;
use pacer_store::{ListQuery, RollbackRow};
use serde_json::{Value, json};

use crate::paging::page_params;
use crate::query::{FILTERS, Params};
use crate::read::dora::analyze;
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// Rollback routes.
pub fn router(state: AppState) -> Router {
    let read = Router::new()
        .route("/api/v1/rollbacks", get(list))
        .route("/api/v1/rollbacks/{id}", get(one))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader));
    let write = Router::new()
        .route("/api/v1/rollbacks/{id}/approve", post(approve))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::admin));
    read.merge(write).with_state(state)
}

async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let narrowing: Vec<&str> = FILTERS.iter().copied().filter(|p| *p != "benchmarks").collect();
    let mut known = narrowing.clone();
    known.push("limit");
    params.only(&known)?;
    let (limit, _) = page_params(&params)?;
    let rows = if narrowing.iter().any(|p| !params.all(p).is_empty()) {
        let (_, f) = analyze(&state, &params).await?;
        let windowed = params.one("from")?.is_some() || params.one("to")?.is_some();
        let query = ListQuery {
            environment: f.environment,
            services: f.scope.services.map(|s| s.into_iter().collect()),
            from: windowed.then_some(f.from),
            to: windowed.then_some(f.to),
            limit,
            ..ListQuery::default()
        };
        state.store.rollbacks_in(&query).await?.items
    } else {
        state.store.rollbacks(limit).await?
    };
    Ok(Json(json!({"items": rows.iter().map(|r| rollback_json(r, None)).collect::<Vec<_>>()})))
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    let row = state.store.rollback(&id).await?.ok_or_else(|| Problem::not_found(format!("no rollback with id {id:?}")))?;
    let carried_out = carried_out_by(&state, &row).await?;
    Ok(Json(rollback_json(&row, Some(carried_out))))
}

/// The deployment that rolled the bad one back, once the deployer reports it.
async fn carried_out_by(state: &AppState, row: &RollbackRow) -> Result<Value, Problem> {
    let done = state.store.rollbacks_of(&row.deployment_id).await?;
    Ok(done.first().map_or(Value::Null, |d| {
        json!({"id": d.id, "status": d.status, "finished_at": d.finished_at.map(rfc3339), "version": d.version})
    }))
}

async fn approve(State(state): State<AppState>, Extension(caller): Extension<auth::Caller>, Path(id): Path<String>) -> Result<(StatusCode, Json<Value>), Problem> {
    crate::approval::approve(&state, &id, &caller.name()).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id, "state": "dispatching"}))))
}

fn rollback_json(row: &RollbackRow, carried_out: Option<Value>) -> Value {
    let mut value = json!({
        "id": row.id,
        "service": row.service,
        "environment": row.environment,
        "deployment_id": row.deployment_id,
        "target_deployment_id": row.target_deployment_id,
        "mode": row.mode,
        "state": row.state,
        "incident_id": row.incident_id,
        "reason": row.reason,
        "created_at": rfc3339(row.created_at),
        "approved_at": row.approved_at.map(rfc3339),
        "approved_by": row.approved_by,
    });
    if let (Some(carried_out), Value::Object(map)) = (carried_out, &mut value) {
        map.insert("report".into(), row.report.clone());
        map.insert("carried_out_by".into(), carried_out);
        let deliveries: Vec<Value> = row
            .deliveries
            .iter()
            .map(|d| {
                json!({
                    "hook_url": d.hook_url,
                    "webhook_id": d.webhook_id,
                    "state": d.state,
                    "attempts": d.attempts.iter().map(|a| json!({
                        "attempt": a.attempt, "at": rfc3339(a.at), "status_code": a.status_code,
                        "latency_ms": a.latency_ms, "error": a.error,
                    })).collect::<Vec<_>>(),
                    "next_attempt_at": (d.state == "pending").then(|| rfc3339(d.next_attempt_at)),
                    "delivered_at": d.delivered_at.map(rfc3339),
                })
            })
            .collect();
        map.insert("deliveries".into(), Value::Array(deliveries));
    }
    value
}
