//! Reads the facts the engine analyzes: one environment's deployments and incidents, the commit
//! graph, and the pull requests that move a squash-merged commit's start to its branch's start.

use std::collections::HashMap;

use pacer_engine::Millis;
use pacer_engine::changeset::{CommitGraph, CommitNode};
use pacer_engine::dora::History;
use pacer_engine::model::{Deployment, DeploymentStatus, Incident, ShippedCommit};

use crate::{Result, Store, StoreError, with_pool};

/// The columns of a deployment, in [`DeploymentTuple`] order (a macro, so `concat!` can use it).
macro_rules! deployment_columns {
    () => {
        "id, service, environment, version, commit_sha, status, started_at, finished_at, rollback_of, unplanned, team, url"
    };
}
pub(crate) use deployment_columns;

/// A deployment row as read with [`DEPLOYMENT_COLUMNS`].
pub(crate) type DeploymentTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
);

pub(crate) fn deployment(row: DeploymentTuple) -> Deployment {
    let (id, service, environment, version, commit_sha, status, started_at, finished_at, rollback_of, unplanned, team, url) =
        row;
    Deployment {
        id,
        service,
        environment,
        version,
        commit_sha,
        // The CHECK constraint admits only known statuses.
        status: DeploymentStatus::parse(&status).unwrap_or(DeploymentStatus::InProgress),
        started_at,
        finished_at,
        commits: Vec::new(),
        rollback_of,
        unplanned,
        team,
        url,
    }
}

/// The columns of an incident, in [`IncidentTuple`] order.
macro_rules! incident_columns {
    () => {
        "id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, commit_sha"
    };
}
pub(crate) use incident_columns;

/// An incident row as read with [`INCIDENT_COLUMNS`].
pub(crate) type IncidentTuple = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(crate) fn incident(row: IncidentTuple) -> Incident {
    let (id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, commit_sha) = row;
    Incident { id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, commit_sha }
}

/// A merged pull request's merge commit, first commit time, and branch heads.
type PullRequestStart = (String, Option<Millis>, Option<String>, Option<String>);

/// Merge commit → the earliest start of the pull requests that produced it: the first commit
/// time senders give, else the branch's first commit found in the commit graph (webhooks give
/// the branch heads, not the time).
fn branch_starts(pull_requests: Vec<PullRequestStart>, graph: &CommitGraph) -> HashMap<String, Millis> {
    let mut starts: HashMap<String, Millis> = HashMap::new();
    for (merge_commit, given, head, base) in pull_requests {
        let found = || pacer_engine::branch::first_commit_at(graph, head.as_deref()?, base.as_deref()?);
        if let Some(start) = given.or_else(found) {
            starts.entry(merge_commit).and_modify(|s| *s = (*s).min(start)).or_insert(start);
        }
    }
    starts
}

impl Store {
    /// Everything the engine needs to analyze `environment`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn history(&self, environment: &str) -> Result<History> {
        const DEPLOYMENTS: &str = concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM deployments WHERE environment = $1 AND status = 'success' AND finished_at IS NOT NULL"
        );
        const SHIPPED: &str = "SELECT dc.deployment_id, dc.sha, dc.committed_at, dc.authored_at
             FROM deployment_commits dc JOIN deployments d ON d.id = dc.deployment_id
             WHERE d.environment = $1 AND d.status = 'success'
             ORDER BY dc.deployment_id, dc.position";
        const COMMITS: &str = "SELECT sha, committed_at FROM commits";
        const PARENTS: &str = "SELECT sha, parent_sha FROM commit_parents ORDER BY sha, position";
        const PULL_REQUESTS: &str = "SELECT merge_commit_sha, first_commit_at, head_sha, base_sha FROM pull_requests
             WHERE merge_commit_sha IS NOT NULL AND (first_commit_at IS NOT NULL OR (head_sha IS NOT NULL AND base_sha IS NOT NULL))";
        const INCIDENTS: &str = concat!("SELECT ", incident_columns!(), " FROM incidents WHERE environment = $1");

        let (deployments, shipped, commits, parents, pull_requests, incidents) = with_pool!(self, pool => {
            let deployments: Vec<DeploymentTuple> =
                sqlx::query_as(DEPLOYMENTS).bind(environment).fetch_all(pool).await.map_err(StoreError::classify)?;
            let shipped: Vec<(String, String, Option<i64>, Option<i64>)> =
                sqlx::query_as(SHIPPED).bind(environment).fetch_all(pool).await.map_err(StoreError::classify)?;
            let commits: Vec<(String, i64)> = sqlx::query_as(COMMITS).fetch_all(pool).await.map_err(StoreError::classify)?;
            let parents: Vec<(String, String)> = sqlx::query_as(PARENTS).fetch_all(pool).await.map_err(StoreError::classify)?;
            let pull_requests: Vec<PullRequestStart> =
                sqlx::query_as(PULL_REQUESTS).fetch_all(pool).await.map_err(StoreError::classify)?;
            let incidents: Vec<IncidentTuple> =
                sqlx::query_as(INCIDENTS).bind(environment).fetch_all(pool).await.map_err(StoreError::classify)?;
            (deployments, shipped, commits, parents, pull_requests, incidents)
        });

        let mut explicit: HashMap<String, Vec<ShippedCommit>> = HashMap::new();
        for (deployment_id, sha, committed_at, authored_at) in shipped {
            explicit.entry(deployment_id).or_default().push(ShippedCommit { sha, committed_at, authored_at });
        }
        let deployments = deployments
            .into_iter()
            .map(|row| {
                let mut d = deployment(row);
                d.commits = explicit.remove(&d.id).unwrap_or_default();
                d
            })
            .collect();

        let mut graph: CommitGraph = HashMap::with_capacity(commits.len());
        for (sha, committed_at) in commits {
            graph.insert(sha, CommitNode { committed_at: Some(committed_at), parents: Vec::new() });
        }
        for (sha, parent) in parents {
            graph.entry(sha).or_default().parents.push(parent);
        }

        let pr_first_commit = branch_starts(pull_requests, &graph);
        Ok(History {
            environment: environment.to_owned(),
            deployments,
            graph,
            pr_first_commit,
            incidents: incidents.into_iter().map(incident).collect(),
        })
    }

    /// The environments that have deployments or incidents, sorted.
    ///
    /// # Errors
    /// The database failed.
    pub async fn environments(&self) -> Result<Vec<String>> {
        const SQL: &str =
            "SELECT environment FROM deployments UNION SELECT environment FROM incidents ORDER BY environment";
        let names: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(SQL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(names)
    }
}
