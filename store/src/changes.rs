//! Paged listings of what flows toward a deployment — commits, pull requests and CI runs —
//! newest first, with the keyset cursors of [`crate::Cursor`], so what a webhook recorded can be
//! read back (`GET /api/v1/commits`, `/pull-requests`, `/ci-runs`), and the merged pull requests
//! behind the PR stages (`GET /api/v1/lead-time/stages`).

use std::collections::HashMap;

use pacer_engine::model::{CiRun, Commit, PullRequest};
use pacer_engine::stages::MergedPullRequest;

use crate::listing::page;
use crate::{Cursor, Page, Result, Store, StoreError, with_pool};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    /// Only rows of this repository, when set.
    pub repository: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
}

/// A listed commit, with its parents.
pub type CommitRow = Commit;
/// A listed pull request.
pub type PullRequestRow = PullRequest;
/// A listed CI run.
pub type CiRunRow = CiRun;

/// Appends the repository filter, the cursor and the newest-first order on `time`, `id`.
fn push_page<DB: sqlx::Database>(sql: &mut sqlx::QueryBuilder<DB>, query: &ChangeQuery, time: &str, id: &str)
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    sql.push(" WHERE 1 = 1");
    if let Some(repository) = &query.repository {
        sql.push(" AND repository = ").push_bind(repository.clone());
    }
    if let Some(cursor) = &query.cursor {
        sql.push(format_args!(" AND ({time} < ")).push_bind(cursor.at);
        sql.push(format_args!(" OR ({time} = ")).push_bind(cursor.at);
        sql.push(format_args!(" AND {id} < ")).push_bind(cursor.id.clone()).push("))");
    }
    sql.push(format_args!(" ORDER BY {time} DESC, {id} DESC LIMIT ")).push_bind(query.limit + 1);
}

type CommitTuple = (String, i64, Option<String>, Option<String>, Option<i64>, Option<String>, Option<String>);
type PullRequestTuple = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);
type CiRunTuple = (
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// The columns of a CI run, in [`CiRunTuple`] order.
const CI_RUN_COLUMNS: &str = "id, pipeline, status, started_at, finished_at, stage, repository, service, commit_sha, branch, queued_at, url, attempt";

fn ci_run(row: CiRunTuple) -> CiRun {
    let (id, pipeline, status, started_at, finished_at, stage, repository, service, commit_sha, branch, queued_at, url, attempt) = row;
    CiRun { id, pipeline, status, started_at, finished_at, stage, repository, service, commit_sha, branch, queued_at, url, attempt }
}

/// The columns of a pull request, in [`PullRequestTuple`] order.
const PULL_REQUEST_COLUMNS: &str = "id, repository, number, opened_at, service, author, first_commit_at, first_review_at, approved_at,
     merged_at, closed_at, merge_commit_sha, additions, deletions, head_sha, base_sha";

fn pull_request(row: PullRequestTuple) -> PullRequest {
    let (id, repository, number, opened_at, service, author, first_commit_at, first_review_at, approved_at, merged_at, closed_at, merge_commit_sha, additions, deletions, head_sha, base_sha) = row;
    PullRequest {
        id,
        repository,
        number,
        opened_at,
        service,
        author,
        first_commit_at,
        first_review_at,
        approved_at,
        merged_at,
        closed_at,
        merge_commit_sha,
        additions,
        deletions,
        head_sha,
        base_sha,
    }
}

/// The rows of one page of a listing (`select` names the table), newest first by the time column
/// `at`, then by `id`.
macro_rules! page_rows {
    ($store:expr, $query:expr, $select:expr, $at:literal) => {
        with_pool!($store, pool => {
            let mut sql = sqlx::QueryBuilder::new($select);
            push_page(&mut sql, $query, $at, "id");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        })
    };
}

impl Store {
    /// A page of commits, newest first by commit time, each with its parents.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list_commits(&self, query: &ChangeQuery) -> Result<Page<CommitRow>> {
        let rows: Vec<CommitTuple> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new("SELECT sha, committed_at, repository, service, authored_at, author, message FROM commits");
            push_page(&mut sql, query, "committed_at", "sha");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        let parents: Vec<(String, String)> = if rows.is_empty() {
            Vec::new()
        } else {
            with_pool!(self, pool => {
                let mut sql = sqlx::QueryBuilder::new("SELECT sha, parent_sha FROM commit_parents WHERE sha IN (");
                let mut list = sql.separated(", ");
                for row in &rows {
                    list.push_bind(row.0.clone());
                }
                sql.push(") ORDER BY sha, position");
                sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
            })
        };
        let mut by_commit: HashMap<String, Vec<String>> = HashMap::new();
        for (sha, parent) in parents {
            by_commit.entry(sha).or_default().push(parent);
        }
        let items = rows
            .into_iter()
            .map(|(sha, committed_at, repository, service, authored_at, author, message)| Commit {
                parents: by_commit.remove(&sha).unwrap_or_default(),
                sha,
                committed_at,
                repository,
                service,
                authored_at,
                author,
                message,
            })
            .collect();
        Ok(page(items, query.limit, |c: &Commit| Cursor { at: c.committed_at, id: c.sha.clone() }))
    }

    /// A page of pull requests, newest first by opening time.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list_pull_requests(&self, query: &ChangeQuery) -> Result<Page<PullRequestRow>> {
        let rows: Vec<PullRequestTuple> = page_rows!(self, query, format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests"), "opened_at");
        let items = rows.into_iter().map(pull_request).collect();
        Ok(page(items, query.limit, |p: &PullRequest| Cursor { at: p.opened_at, id: p.id.clone() }))
    }

    /// The pull requests the PR flow needs: those merged in `[from, to)`, and those still open
    /// without a first review.
    ///
    /// # Errors
    /// The database failed.
    pub async fn flow_pull_requests(&self, from: i64, to: i64) -> Result<Vec<PullRequestRow>> {
        let rows: Vec<PullRequestTuple> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(format!("SELECT {PULL_REQUEST_COLUMNS} FROM pull_requests WHERE (merged_at >= "));
            sql.push_bind(from).push(" AND merged_at < ").push_bind(to);
            sql.push(") OR (merged_at IS NULL AND closed_at IS NULL AND first_review_at IS NULL) ORDER BY opened_at, id");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(pull_request).collect())
    }

    /// Every merged pull request with its merge commit, for the PR stages.
    ///
    /// # Errors
    /// The database failed.
    pub async fn merged_pull_requests(&self) -> Result<Vec<MergedPullRequest>> {
        const SQL: &str = "SELECT id, repository, number, first_commit_at, opened_at, first_review_at, merged_at, merge_commit_sha
             FROM pull_requests WHERE merged_at IS NOT NULL AND merge_commit_sha IS NOT NULL";
        type Row = (String, String, i64, Option<i64>, i64, Option<i64>, i64, String);
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(SQL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows
            .into_iter()
            .map(|(id, repository, number, first_commit_at, opened_at, first_review_at, merged_at, merge_commit_sha)| MergedPullRequest {
                id,
                repository,
                number,
                first_commit_at,
                opened_at,
                first_review_at,
                merged_at,
                merge_commit_sha,
            })
            .collect())
    }

    /// A page of CI runs, newest first by finish time.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list_ci_runs(&self, query: &ChangeQuery) -> Result<Page<CiRunRow>> {
        let rows: Vec<CiRunTuple> = page_rows!(self, query, format!("SELECT {CI_RUN_COLUMNS} FROM ci_runs"), "finished_at");
        let items = rows.into_iter().map(ci_run).collect();
        Ok(page(items, query.limit, |r: &CiRun| Cursor { at: r.finished_at, id: r.id.clone() }))
    }

    /// The CI runs that finished in `[from, to)`, of `repository` when given, in finish order.
    ///
    /// # Errors
    /// The database failed.
    pub async fn ci_runs_between(&self, from: i64, to: i64, repository: Option<&str>) -> Result<Vec<CiRunRow>> {
        let rows: Vec<CiRunTuple> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(format!("SELECT {CI_RUN_COLUMNS} FROM ci_runs WHERE finished_at >= "));
            sql.push_bind(from).push(" AND finished_at < ").push_bind(to);
            if let Some(repository) = repository {
                sql.push(" AND repository = ").push_bind(repository.to_owned());
            }
            sql.push(" ORDER BY finished_at, id");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(ci_run).collect())
    }

    /// The CI runs of `commit_sha` that finished in `[from, to)`, in finish order: what built a
    /// deployment. The window keeps the read on the index by finish time.
    ///
    /// # Errors
    /// The database failed.
    pub async fn ci_runs_of_commit(&self, commit_sha: &str, from: i64, to: i64) -> Result<Vec<CiRunRow>> {
        let rows: Vec<CiRunTuple> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(format!("SELECT {CI_RUN_COLUMNS} FROM ci_runs WHERE finished_at >= "));
            sql.push_bind(from).push(" AND finished_at < ").push_bind(to);
            sql.push(" AND commit_sha = ").push_bind(commit_sha.to_owned()).push(" ORDER BY finished_at, id");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(ci_run).collect())
    }
}
