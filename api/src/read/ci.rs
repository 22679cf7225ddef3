//! The CI runs and delivery-stage samples of a window, loaded for the CI endpoints, the budget
//! chart, the Grafana tables and the weekly report alike.

use pacer_engine::dora::Analysis;
use pacer_engine::model::CiRun;
use pacer_engine::pipeline::{self, BudgetSample};
use pacer_engine::stages::stages;

use crate::problem::Problem;
use crate::query::Filters;
use crate::state::AppState;

/// The filters every CI read takes.
pub const CI_FILTERS: [&str; 5] = ["from", "to", "service", "team", "repository"];

/// The CI runs that finished in the window of `filters`, of the services in its scope (a run
/// without a service only when no service or team is asked for) and of `repository` when given.
///
/// # Errors
/// The database failed.
pub async fn runs(state: &AppState, filters: &Filters, repository: Option<&str>) -> Result<Vec<CiRun>, Problem> {
    let mut runs = state.store.ci_runs_between(filters.from, filters.to, repository).await?;
    runs.retain(|r| r.service.as_deref().map_or(filters.scope.services.is_none(), |s| filters.scope.includes(s)));
    Ok(runs)
}

/// Every budget sample of the window: the CI runs' waits, and merge → deploy of the pull
/// requests first shipped in the window by deployments of the scope in `analysis`'s environment.
///
/// # Errors
/// The database failed.
pub async fn budget_samples(state: &AppState, analysis: &Analysis, filters: &Filters, repository: Option<&str>) -> Result<Vec<BudgetSample>, Problem> {
    let mut samples = pipeline::run_samples(&runs(state, filters, repository).await?);
    let merged = state.store.merged_pull_requests().await?;
    let shipped = stages(analysis, &merged, filters.from, filters.to, &filters.scope);
    samples.extend(pipeline::deploy_samples(&shipped).into_iter().filter(|s| repository.is_none_or(|r| s.repository.as_deref() == Some(r))));
    Ok(samples)
}
