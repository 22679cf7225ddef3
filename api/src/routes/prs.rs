//! `GET /api/v1/prs/stages` and `GET /api/v1/prs/throughput`: the PR flow (definitions in
//! `docs/metrics.md`, "PR stages" and "PR flow").
//!
//! `stages` summarizes the PR stages of [`pacer_engine::stages`] — coding, pickup, review,
//! deploy; median and p90 — over every pull request first shipped in the window, per team (of
//! the shipping deployment's service) and per repository; the per-PR list stays at
//! `GET /api/v1/lead-time/stages`. It takes the DORA filters except `benchmarks`, and
//! `repository`. `throughput` counts the pull requests merged in the window per week and by size,
//! and lists those waiting for a first review now; it takes `from`, `to`, `service`, `team` and
//! `repository` (a pull request's own service and repository; pull requests have no environment).


use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::flow::Throughput;
use pacer_engine::stages::{StageSummaries, grouped, stages as pr_stages};
use serde_json::{Value, json};

use crate::read::ci::CI_FILTERS;
use crate::read::dora::analyze;
use crate::query::{FILTERS, Params};
use crate::read::dora::team_of_services;
use crate::read::prs::flow_of;
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// PR flow routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/prs/stages", get(stages))
        .route("/api/v1/prs/throughput", get(flow))
        // Each loads a window's runs or pull requests and an analysis, like the DORA summary.
        .route_layer(middleware::from_fn_with_state(state.guard.clone(), crate::limits::heavy_query_slot))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

fn group_json(name: &str, groups: Vec<(String, u64, StageSummaries)>) -> Vec<Value> {
    groups
        .into_iter()
        .map(|(key, count, s)| {
            json!({name: key, "pull_requests": count, "coding": s.coding, "pickup": s.pickup, "review": s.review, "deploy": s.deploy})
        })
        .collect()
}

async fn stages(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let mut known: Vec<&str> = FILTERS.iter().copied().filter(|p| *p != "benchmarks").collect();
    known.push("repository");
    params.only(&known)?;
    let (analysis, f) = analyze(&state, &params).await?;
    let repository = params.one("repository")?;
    let merged = state.store.merged_pull_requests().await?;
    let mut shipped = pr_stages(&analysis, &merged, f.from, f.to, &f.scope);
    shipped.pull_requests.retain(|p| repository.is_none_or(|r| p.repository == r));
    let owner = team_of_services(&state, &analysis);
    let total = StageSummaries::of(shipped.pull_requests.iter());
    let teams = grouped(&shipped, |p| owner.get(&p.service).cloned());
    let repositories = grouped(&shipped, |p| Some(p.repository.clone()));
    Ok(Json(json!({
        "from": shipped.from,
        "to": shipped.to,
        "environment": shipped.environment,
        "repository": repository,
        "pull_requests": shipped.pull_requests.len(),
        "coding": total.coding,
        "pickup": total.pickup,
        "review": total.review,
        "deploy": total.deploy,
        "teams": group_json("team", teams),
        "repositories": group_json("repository", repositories),
    })))
}

async fn flow(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Throughput>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&CI_FILTERS)?;
    let (_, filters) = analyze(&state, &params).await?;
    Ok(Json(flow_of(&state, &filters, params.one("repository")?).await?))
}
