//! `GET /api/v1/lead-time/stages`: where the lead time of merged pull requests went — coding,
//! pickup, review and deploy (definitions in `docs/metrics.md`, "PR stages") — for the pull
//! requests first shipped in the window, with the median and p90 of each stage.
//!
//! It takes the filters of `GET /api/v1/dora` except `benchmarks` (stages have no DORA bands).

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::stages::{Stages, stages};

use crate::read::dora::analyze;
use crate::query::{FILTERS, Params};
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// PR stage routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/lead-time/stages", get(lead_time_stages))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

async fn lead_time_stages(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Stages>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let known: Vec<&str> = FILTERS.iter().copied().filter(|p| *p != "benchmarks").collect();
    params.only(&known)?;
    let (analysis, f) = analyze(&state, &params).await?;
    let pull_requests = state.store.merged_pull_requests().await?;
    Ok(Json(stages(&analysis, &pull_requests, f.from, f.to, &f.scope)))
}
