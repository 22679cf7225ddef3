//! Reads the change log (`fact_changes`, one row a write, written by every ingest in its own
//! transaction): which deployments, commits, pull requests and incidents changed between two
//! generations, with where each stands now, so an analysis can remake only what they touch.
//! Also prunes it.
//!
//! Not for: deciding what a change touches (the engine's `change` module).

use std::collections::{BTreeMap, HashMap};

use pacer_engine::Millis;
use pacer_engine::change::{Change, Changed, DeploymentNow, IncidentNow};

use crate::{Result, Store, StoreError, in_list, with_pool, with_writer};

/// The keys the change log holds for a stretch of generations, by kind, each with the last
/// generation that changed it.
#[derive(Debug, Default)]
pub(crate) struct Logged {
    /// Deployment ids.
    pub deployments: BTreeMap<String, i64>,
    /// Incident ids.
    pub incidents: BTreeMap<String, i64>,
    /// Commit shas.
    pub commits: BTreeMap<String, i64>,
    /// Pull request ids.
    pub pull_requests: BTreeMap<String, i64>,
}

/// The keys of one kind, in order.
pub(crate) fn keys(logged: &BTreeMap<String, i64>) -> Vec<String> {
    logged.keys().cloned().collect()
}

impl Store {
    /// The facts changed by the writes after generation `after` up to `upto` (row 1 of
    /// `store_generation`), each once, with where it stands now and the last generation that
    /// changed it; `None` when the log no longer holds every change after `after` (pruned, or
    /// `pacer recompute` replaced every fact), so the caller must build from the facts instead.
    ///
    /// # Errors
    /// The database failed.
    pub async fn changes(&self, after: i64, upto: i64) -> Result<Option<Vec<Changed>>> {
        const DEPLOYMENTS: &str = "SELECT id, service, environment, status, finished_at, rollback_of FROM deployments WHERE id IN (";
        const INCIDENTS: &str = "SELECT id, service, environment, deployment_id FROM incidents WHERE id IN (";
        const PULL_REQUESTS: &str = "SELECT id, merge_commit_sha FROM pull_requests WHERE id IN (";
        type DeploymentRow = (String, String, String, String, Option<i64>, Option<String>);
        type IncidentRow = (String, String, String, Option<String>);
        let Some(Logged { deployments, incidents, commits, pull_requests }) = self.logged(after, upto).await? else { return Ok(None) };
        let mut changes: Vec<Changed> = Vec::with_capacity(deployments.len() + incidents.len() + commits.len() + pull_requests.len());
        with_pool!(self, pool => {
            let rows: Vec<DeploymentRow> = in_list(pool, DEPLOYMENTS, &keys(&deployments), "").await?;
            let mut now: HashMap<String, DeploymentNow> = rows
                .into_iter()
                .map(|(id, service, environment, status, finished_at, rollback_of)| {
                    (id, DeploymentNow { service, environment, counts: status == "success" && finished_at.is_some(), rollback_of })
                })
                .collect();
            changes.extend(deployments.into_iter().map(|(id, generation)| Changed { change: Change::Deployment { now: now.remove(&id), id }, generation }));

            let rows: Vec<IncidentRow> = in_list(pool, INCIDENTS, &keys(&incidents), "").await?;
            let mut now: HashMap<String, IncidentNow> =
                rows.into_iter().map(|(id, service, environment, deployment_id)| (id, IncidentNow { service, environment, deployment_id })).collect();
            changes.extend(incidents.into_iter().map(|(id, generation)| Changed { change: Change::Incident { now: now.remove(&id), id }, generation }));

            let merged: Vec<(String, Option<String>)> = in_list(pool, PULL_REQUESTS, &keys(&pull_requests), "").await?;
            changes.extend(merged.into_iter().map(|(id, merge_commit_sha)| Changed {
                change: Change::PullRequest { merge_commit_sha },
                generation: pull_requests.get(&id).copied().unwrap_or(upto),
            }));
        });
        changes.extend(commits.into_iter().map(|(sha, generation)| Changed { change: Change::Commit { sha }, generation }));
        Ok(Some(changes))
    }

    /// The keys of the facts the writes after generation `after` up to `upto` changed, each
    /// once, sorted, with the last generation that changed each; `None` when the log no longer
    /// holds every change after `after`.
    ///
    /// # Errors
    /// The database failed.
    pub(crate) async fn logged(&self, after: i64, upto: i64) -> Result<Option<Logged>> {
        const LOG: &str = "SELECT generation, keys FROM fact_changes WHERE generation > $1 AND generation <= $2";
        const FLOOR: &str = "SELECT generation FROM fact_changes_floor WHERE id = 1";
        let (logged, floor) = with_pool!(self, pool => {
            let logged: Vec<(i64, String)> = sqlx::query_as(LOG).bind(after).bind(upto).fetch_all(pool).await.map_err(StoreError::classify)?;
            // Read after the log: a prune in between moves the floor, so a log read before it is
            // never taken for complete when it is not.
            let floor: i64 = sqlx::query_scalar(FLOOR).fetch_one(pool).await.map_err(StoreError::classify)?;
            (logged, floor)
        });
        if after < floor {
            return Ok(None);
        }
        let mut keys: [BTreeMap<String, i64>; 4] = Default::default();
        for (generation, row) in logged {
            // A row the store did not write as JSON is a log it cannot trust.
            let Ok(pairs) = serde_json::from_str::<Vec<(String, String)>>(&row) else { return Ok(None) };
            for (kind, key) in pairs {
                let k = match kind.as_str() {
                    "deployment" => 0,
                    "incident" => 1,
                    "commit" => 2,
                    _ => 3,
                };
                let last = keys[k].entry(key).or_insert(generation);
                *last = (*last).max(generation);
            }
        }
        let [deployments, incidents, commits, pull_requests] = keys;
        Ok(Some(Logged { deployments, incidents, commits, pull_requests }))
    }

    /// Deletes the log's entries recorded before `before`, in one transaction with the floor
    /// that says so; returns how many went. Entries after the generations of an analysis
    /// snapshot written since `snapshots_since` are kept, so that a replica starting from the
    /// snapshot can advance from it.
    ///
    /// # Errors
    /// The database failed; nothing is deleted.
    pub async fn prune_changes(&self, before: Millis, snapshots_since: Millis) -> Result<u64> {
        const LAST: &str = "SELECT MAX(generation) FROM fact_changes WHERE recorded_at < $1
             AND generation <= COALESCE((SELECT MIN(facts_generation) FROM analysis_snapshots WHERE written_at >= $2), generation)";
        const DELETE: &str = "DELETE FROM fact_changes WHERE generation <= $1";
        const FLOOR: &str = "UPDATE fact_changes_floor SET generation = $1 WHERE id = 1 AND generation < $1";
        let deleted = with_writer!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            let last: Option<i64> = sqlx::query_scalar(LAST).bind(before).bind(snapshots_since).fetch_one(&mut *tx).await.map_err(StoreError::classify)?;
            let deleted = match last {
                Some(last) => {
                    let done = sqlx::query(DELETE).bind(last).execute(&mut *tx).await.map_err(StoreError::classify)?;
                    sqlx::query(FLOOR).bind(last).execute(&mut *tx).await.map_err(StoreError::classify)?;
                    done.rows_affected()
                }
                None => 0,
            };
            tx.commit().await.map_err(StoreError::classify)?;
            deleted
        });
        Ok(deleted)
    }
}
