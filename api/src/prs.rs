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

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::dora::Analysis;
use pacer_engine::flow::{Throughput, throughput};
use pacer_engine::stages::{StageSummaries, grouped, stages as pr_stages};
use serde_json::{Value, json};

use crate::ci::CI_FILTERS;
use crate::dora::{analyze, team_services};
use crate::query::{FILTERS, Filters, Params};
use crate::{AppState, Problem, auth, now};

/// PR flow routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/prs/stages", get(stages))
        .route("/api/v1/prs/throughput", get(flow))
        // Each loads a window's runs or pull requests and an analysis, like the DORA summary.
        .route_layer(middleware::from_fn_with_state(state.clone(), crate::limits::heavy))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

/// Service → its team: configured teams first, then the teams deployments name.
pub(crate) fn team_of_services(state: &AppState, analysis: &Analysis) -> BTreeMap<String, String> {
    let mut teams: Vec<String> = state.config.teams.keys().cloned().collect();
    teams.extend(analysis.teams().into_iter().map(str::to_owned).filter(|t| !state.config.teams.contains_key(t)));
    let mut owner = BTreeMap::new();
    for team in teams {
        for service in team_services(state, analysis, &team) {
            owner.entry(service).or_insert_with(|| team.clone());
        }
    }
    owner
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

/// The PR flow of the window and scope of `filters`, of `repository` when given: pull requests
/// count by their own service (one without a service only when no service or team is asked for).
///
/// # Errors
/// The database failed.
pub(crate) async fn flow_of(state: &AppState, filters: &Filters, repository: Option<&str>) -> Result<Throughput, Problem> {
    let mut prs = state.store.flow_pull_requests(filters.from, filters.to).await?;
    prs.retain(|p| {
        repository.is_none_or(|r| p.repository == r)
            && p.service.as_deref().map_or(filters.scope.services.is_none(), |s| filters.scope.includes(s))
    });
    Ok(throughput(&prs, filters.from, filters.to, now()))
}

async fn flow(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Throughput>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&CI_FILTERS)?;
    let (_, filters) = analyze(&state, &params).await?;
    Ok(Json(flow_of(&state, &filters, params.one("repository")?).await?))
}
