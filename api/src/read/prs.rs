//! The pull-request flow of a window (merged per week and by size, waiting for review), loaded for
//! `GET /api/v1/prs/throughput` and the Grafana tables alike.

use pacer_engine::flow::{Throughput, throughput};

use crate::clock::now;
use crate::problem::Problem;
use crate::query::Filters;
use crate::state::AppState;

/// The PR flow of the window and scope of `filters`, of `repository` when given: pull requests
/// count by their own service (one without a service only when no service or team is asked for).
///
/// # Errors
/// The database failed.
pub async fn flow_of(state: &AppState, filters: &Filters, repository: Option<&str>) -> Result<Throughput, Problem> {
    let mut prs = state.store.flow_pull_requests(filters.from, filters.to).await?;
    prs.retain(|p| {
        repository.is_none_or(|r| p.repository == r)
            && p.service.as_deref().map_or(filters.scope.services.is_none(), |s| filters.scope.includes(s))
    });
    Ok(throughput(&prs, filters.from, filters.to, now()))
}
