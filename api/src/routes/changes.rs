//! `GET /api/v1/commits`, `/api/v1/pull-requests`, `/api/v1/ci-runs`: what flows toward a
//! deployment, as pacer recorded it from webhooks and native events, newest first.
//!
//! Each takes `repository` (exact `owner/name`), `limit` (1–500, default 50) and `cursor` (the
//! `next_cursor` of the previous page). They show the inputs of the metrics, not the metrics:
//! which commits the graph knows with their parents, each pull request's times, each CI run.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{CiRun, Commit, PullRequest};
use pacer_store::{ChangeQuery, Page};
use serde_json::{Value, json};

use crate::paging::{page_params, time};
use crate::query::Params;
use crate::auth;
use crate::problem::Problem;
use crate::state::AppState;

/// Change routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/commits", get(commits))
        .route("/api/v1/pull-requests", get(pull_requests))
        .route("/api/v1/ci-runs", get(ci_runs))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

fn change_query(raw: Option<&str>) -> Result<ChangeQuery, Problem> {
    let params = Params::parse(raw)?;
    params.only(&["repository", "limit", "cursor"])?;
    let (limit, cursor) = page_params(&params)?;
    Ok(ChangeQuery { repository: params.one("repository")?.map(str::to_owned), limit, cursor })
}

fn listed<T>(page: Page<T>, item: impl Fn(&T) -> Value) -> Json<Value> {
    let items: Vec<Value> = page.items.iter().map(item).collect();
    Json(json!({"items": items, "next_cursor": page.next.map(|c| c.to_string())}))
}

async fn commits(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let page = state.store.list_commits(&change_query(raw.as_deref())?).await?;
    Ok(listed(page, |c: &Commit| {
        json!({
            "sha": c.sha,
            "committed_at": rfc3339(c.committed_at),
            "repository": c.repository,
            "service": c.service,
            "parents": c.parents,
            "authored_at": time(c.authored_at),
            "author": c.author,
            "message": c.message,
        })
    }))
}

async fn pull_requests(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let page = state.store.list_pull_requests(&change_query(raw.as_deref())?).await?;
    Ok(listed(page, |p: &PullRequest| {
        json!({
            "id": p.id,
            "repository": p.repository,
            "number": p.number,
            "service": p.service,
            "author": p.author,
            "opened_at": rfc3339(p.opened_at),
            "first_commit_at": time(p.first_commit_at),
            "first_review_at": time(p.first_review_at),
            "approved_at": time(p.approved_at),
            "merged_at": time(p.merged_at),
            "closed_at": time(p.closed_at),
            "merge_commit_sha": p.merge_commit_sha,
            "additions": p.additions,
            "deletions": p.deletions,
            "head_sha": p.head_sha,
            "base_sha": p.base_sha,
        })
    }))
}

async fn ci_runs(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Value>, Problem> {
    let page = state.store.list_ci_runs(&change_query(raw.as_deref())?).await?;
    Ok(listed(page, |r: &CiRun| {
        json!({
            "id": r.id,
            "pipeline": r.pipeline,
            "status": r.status,
            "stage": r.stage,
            "repository": r.repository,
            "service": r.service,
            "commit_sha": r.commit_sha,
            "branch": r.branch,
            "queued_at": time(r.queued_at),
            "started_at": rfc3339(r.started_at),
            "finished_at": rfc3339(r.finished_at),
            "url": r.url,
            "attempt": r.attempt,
        })
    }))
}
