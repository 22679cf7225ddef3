//! `GET /api/v1/ci/pipelines` and `GET /api/v1/ci/budgets`: CI timings of the runs that
//! finished in a window — runs, success rate, duration and queue percentiles, retries, flaky runs,
//! time to green — per pipeline, stage, repository or service, and each delivery stage against
//! its time budget with the breaches (definitions in `docs/metrics.md`, "CI pipelines" and
//! "CI budgets").
//!
//! Both take `from`, `to`, `service` (repeatable), `team` and `repository`; `pipelines` also
//! `stage` and `by` (`pipeline` default, `stage`, `repository`, `service`); `budgets` also
//! `environment` (where the deploy budget's deployments run) and `limit` (breaches listed,
//! 1–500, default 50). The engine computes ([`pacer_engine::pipeline`]); this module loads and
//! shapes. The loaders are shared with the chart, the Grafana tables and the weekly report.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::calendar::rfc3339;
use pacer_engine::pipeline::{self, GroupBy};
use serde_json::{Value, json};

use crate::read::dora::analyze;
use crate::paging::page_params;
use crate::query::{Filters, Params};
use crate::read::ci::{CI_FILTERS, budget_samples, runs};
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// CI routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/ci/pipelines", get(pipelines))
        .route("/api/v1/ci/budgets", get(budgets))
        // Each loads a window's runs or pull requests and an analysis, like the DORA summary.
        .route_layer(middleware::from_fn_with_state(state.guard.clone(), crate::limits::heavy_query_slot))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

fn window(filters: &Filters) -> (String, String) {
    (rfc3339(filters.from), rfc3339(filters.to))
}

async fn pipelines(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let mut known = CI_FILTERS.to_vec();
    known.extend(["stage", "by"]);
    params.only(&known)?;
    let by = match params.one("by")? {
        None => GroupBy::Pipeline,
        Some(name) => GroupBy::parse(name)
            .ok_or_else(|| Problem::invalid_query("by", format!("expected pipeline, stage, repository or service but found {name:?}")))?,
    };
    let (_, filters) = analyze(&state, &params).await?;
    let repository = params.one("repository")?;
    let stage = params.one("stage")?;
    let mut runs = runs(&state, &filters, repository).await?;
    if let Some(stage) = stage {
        runs.retain(|r| r.stage.as_deref() == Some(stage));
    }
    let (total, groups) = pipeline::pipelines(&runs, by);
    let (from, to) = window(&filters);
    Ok(Json(json!({
        "from": from,
        "to": to,
        "by": by,
        "repository": repository,
        "stage": stage,
        "services": filters.scope.services,
        "total": total,
        "groups": groups,
    })))
}

async fn budgets(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    let mut known = CI_FILTERS.to_vec();
    known.extend(["environment", "limit"]);
    params.only(&known)?;
    let (limit, _) = page_params(&params)?;
    let (analysis, filters) = analyze(&state, &params).await?;
    let repository = params.one("repository")?;
    let samples = budget_samples(&state, &analysis, &filters, repository).await?;
    let (compliance, mut breaches) = pipeline::budgets(&state.config.ci_budgets, &samples);
    let total = breaches.len();
    breaches.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let (from, to) = window(&filters);
    Ok(Json(json!({
        "from": from,
        "to": to,
        "environment": filters.environment,
        "repository": repository,
        "services": filters.scope.services,
        "budgets": compliance,
        "breaches_total": total,
        "breaches": breaches,
    })))
}
