//! The deploy gate over HTTP: `GET /api/v1/gate` (people, scripts and Argo Rollouts' `web` metric
//! provider), `POST /webhooks/flagger/{type}` (Flagger's gate, check and rollback webhooks) and
//! `GET /api/v1/gates` (the recorded answers).
//!
//! `GET /api/v1/gate` always answers 200 with the answer, because Argo Rollouts counts any other
//! status as a measurement error rather than a failure: an AnalysisTemplate reads `{$.proceed}`
//! with `successCondition: result == true`. Flagger reads only the status: 200 to go, anything
//! above 202 to halt — except its `rollback` hook, for which 200 means "roll back now"
//! (<https://docs.flagger.app/usage/webhooks>).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use pacer_engine::calendar::rfc3339;
use pacer_store::{Cursor, GateQuery};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::auth;
use crate::gate::{Answer, Question, ask};
use crate::paging::page_params;
use crate::problem::{PROBLEM_JSON, Problem};
use crate::query::Params;
use crate::state::AppState;

/// Gate routes.
pub fn router(state: AppState) -> Router {
    let read = Router::new()
        .route("/api/v1/gate", get(gate))
        .route("/api/v1/gates", get(answers))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader));
    // Flagger sends no credentials: its webhooks are reached inside the cluster.
    let flagger = Router::new()
        .route("/webhooks/flagger/{hook}", post(flagger))
        .layer(DefaultBodyLimit::max(state.config.limits.query_body_bytes));
    read.merge(flagger).with_state(state)
}

async fn gate(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Answer>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["service", "environment", "deployment", "rollout", "asker"])?;
    let text = |name: &str| -> Result<Option<String>, Problem> { Ok(params.one(name)?.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)) };
    let service = text("service")?.ok_or_else(|| Problem::invalid_query("service", "expected the service the rollout deploys but found none"))?;
    let question = Question {
        service,
        environment: text("environment")?.unwrap_or_else(|| "production".to_owned()),
        deployment: text("deployment")?,
        rollout: text("rollout")?,
        asker: text("asker")?.unwrap_or_else(|| "api".to_owned()),
    };
    Ok(Json(ask(&state, question).await?))
}

async fn answers(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["service", "environment", "limit", "cursor"])?;
    let (limit, cursor) = page_params(&params)?;
    let before = match cursor {
        Some(Cursor { id, .. }) => Some(id.parse::<i64>().map_err(|_| Problem::invalid_query("cursor", "expected a cursor from a previous page"))?),
        None => None,
    };
    let environment = params.one("environment")?.map(|e| state.config.normalizer.environment(e));
    let query = GateQuery { services: params.one("service")?.map(|s| vec![s.to_owned()]), environment, before, limit };
    let rows = state.store.gate_answers(&query).await?;
    let next = (rows.len() as i64 == limit).then(|| rows.last().map(|r| Cursor { at: r.asked_at, id: r.id.to_string() }.to_string())).flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let reasons: Value = serde_json::from_str(&r.reasons).unwrap_or(Value::Array(Vec::new()));
            json!({
                "id": r.id, "asked_at": rfc3339(r.asked_at), "service": r.service, "environment": r.environment,
                "deployment": r.deployment_id, "rollout": r.rollout, "asker": r.asker,
                "decision": if r.proceed { "proceed" } else { "halt" }, "proceed": r.proceed, "reasons": reasons,
            })
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// Flagger's `CanaryWebhookPayload`.
#[derive(Debug, Deserialize)]
struct CanaryPayload {
    name: String,
    namespace: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    checksum: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// What a Flagger hook asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    /// May the canary go on (`confirm-rollout`, `pre-rollout`, `rollout`,
    /// `confirm-traffic-increase`, `confirm-promotion`)?
    Proceed,
    /// Should the canary be rolled back now (`rollback`)?
    Rollback,
    /// Told, not asked (`post-rollout`, `event`).
    Told,
}

fn hook(name: &str) -> Option<Hook> {
    match name {
        "confirm-rollout" | "pre-rollout" | "rollout" | "confirm-traffic-increase" | "confirm-promotion" => Some(Hook::Proceed),
        "rollback" => Some(Hook::Rollback),
        "post-rollout" | "event" => Some(Hook::Told),
        _ => None,
    }
}

async fn flagger(State(state): State<AppState>, Path(name): Path<String>, body: Result<Bytes, BytesRejection>) -> Result<Response, Problem> {
    let body = body?;
    let kind = hook(&name).ok_or_else(|| {
        Problem::not_found(format!(
            "expected a Flagger webhook type (confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, rollback, post-rollout, event) but found {name:?}"
        ))
    })?;
    let payload: CanaryPayload = serde_json::from_slice(&body)
        .map_err(|e| Problem::invalid_events(vec![pacer_collector::FieldError::new("", format!("expected Flagger's webhook payload (name, namespace, phase, checksum, metadata): {e}"))]))?;
    if kind == Hook::Told {
        return Ok(Json(json!({"ignored": true, "reason": format!("the {name} hook informs; pacer answers only the gate and rollback hooks")})).into_response());
    }
    let metadata = |key: &str| payload.metadata.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let question = Question {
        service: metadata("service").unwrap_or_else(|| payload.name.clone()),
        environment: metadata("environment").unwrap_or_else(|| state.config.gate.flagger_environment.clone()),
        deployment: metadata("deployment"),
        rollout: Some(format!("{}/{}@{}", payload.namespace, payload.name, payload.checksum)),
        asker: format!("flagger:{name}"),
    };
    tracing::debug!(canary = payload.name, namespace = payload.namespace, phase = payload.phase, "flagger asked");
    let answer = ask(&state, question).await?;
    let go = match kind {
        Hook::Rollback => answer.rollback,
        _ => answer.proceed,
    };
    if go {
        return Ok(Json(answer).into_response());
    }
    let detail = match kind {
        Hook::Rollback => format!("no reason to roll back: {}", answer.summary),
        _ => answer.summary.clone(),
    };
    let title = if kind == Hook::Rollback { "No rollback" } else { "Rollout halted" };
    let body = json!({"type": "/problems/gate-halted", "title": title, "status": 409, "detail": detail, "answer": answer});
    let mut response = (StatusCode::CONFLICT, Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Ok(response)
}
