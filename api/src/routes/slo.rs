//! `GET /api/v1/slos` and `GET /api/v1/slos/{name}`: each SLO's state now ([`crate::read::slo`]);
//! the evaluator that turns a fast burn into an alert is [`crate::slo::evaluator`].

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};

use crate::auth;
use crate::clock::now;
use crate::problem::Problem;
use crate::read::slo::{SloStatus, status};
use crate::state::AppState;

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
        items.push(status(&state.store, slo, now()).await?);
    }
    Ok(Json(json!({"items": items})))
}

async fn one(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<SloStatus>, Problem> {
    let slo = state.config.slos.iter().find(|s| s.name == name).ok_or_else(|| Problem::not_found(format!("no SLO named {name:?}")))?;
    Ok(Json(status(&state.store, slo, now()).await?))
}

