//! Idempotent ingestion: one transaction per batch, raw payload and normalized fact together.
//!
//! A fact is upserted on its key. The upsert changes the stored row only when the new state is at
//! least as far along its lifecycle (`status_rank`) and its content differs (`fingerprint`), so a
//! re-sent event is a no-op, a finished deployment replaces its in-progress state, and a late
//! in-progress event never undoes a finish. Pull requests and incidents, told in parts by
//! webhooks, are merged column by column instead (see `merge_on_conflict!`), so the order in
//! which their parts arrive does not matter. Rows are written in key order so that concurrent
//! batches on PostgreSQL take row locks in the same order and cannot deadlock.

use std::collections::HashSet;

use pacer_collector::{Collected, key};
use pacer_engine::Millis;
use pacer_engine::model::{CiRun, Commit, Deployment, Fact, Incident, PullRequest, ShippedCommit, SliSample};

use crate::outbox::{NewRollback, insert_rollbacks};
use crate::{Result, Store, StoreError, begin_by_key, in_list_on, with_pool, with_writer};

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Events that created or changed a fact.
    pub accepted: u64,
    /// Events that changed nothing: re-sent, or an older state of a fact already stored.
    pub duplicates: u64,
}

/// A stored raw event, as `pacer recompute` reads it back.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// Its row id; raw events are read back in this order.
    pub id: i64,
    /// Where it came from (`native`, `github`, …).
    pub source: String,
    /// The payload as received.
    pub payload: serde_json::Value,
}

/// The SQL expression merging the stored `$column` of `$table` with the new one (`excluded`), by
/// rule: `earliest` and `latest` time (either may be NULL), `known` (the new value unless it is
/// NULL), `new`, and `ranked` (the new value when the new state ranks at least as far along).
macro_rules! merged {
    (earliest, $table:literal, $column:literal) => {
        concat!("CASE WHEN ", $table, ".", $column, " IS NULL OR excluded.", $column, " < ", $table, ".", $column,
            " THEN excluded.", $column, " ELSE ", $table, ".", $column, " END")
    };
    (latest, $table:literal, $column:literal) => {
        concat!("CASE WHEN ", $table, ".", $column, " IS NULL OR excluded.", $column, " > ", $table, ".", $column,
            " THEN excluded.", $column, " ELSE ", $table, ".", $column, " END")
    };
    (known, $table:literal, $column:literal) => {
        concat!("COALESCE(excluded.", $column, ", ", $table, ".", $column, ")")
    };
    (new, $table:literal, $column:literal) => {
        concat!("excluded.", $column)
    };
    (ranked, $table:literal, $column:literal) => {
        concat!("CASE WHEN excluded.status_rank >= ", $table, ".status_rank THEN excluded.", $column, " ELSE ", $table, ".", $column, " END")
    };
}

/// The `ON CONFLICT` clause of an upsert that merges a new state of a fact into the stored one
/// column by column, so that the order in which states arrive does not matter; the row changes
/// (and counts as accepted) only when a merged column differs. `bookkeeping` columns follow the
/// merge without being compared.
macro_rules! merge_on_conflict {
    ($table:literal, [$(($rule:ident, $column:literal)),+ $(,)?], [$(($brule:ident, $bcolumn:literal)),+ $(,)?]) => {
        merge_on_conflict!($table, "id", [$(($rule, $column)),+], [$(($brule, $bcolumn)),+])
    };
    ($table:literal, $key:literal, [$(($rule:ident, $column:literal)),+ $(,)?], [$(($brule:ident, $bcolumn:literal)),+ $(,)?]) => {
        concat!(" ON CONFLICT (", $key, ") DO UPDATE SET ",
            $($column, " = ", merged!($rule, $table, $column), ", ",)+
            $($bcolumn, " = ", merged!($brule, $table, $bcolumn), ", ",)+
            "updated_at = excluded.updated_at WHERE false",
            $(" OR ", merged!($rule, $table, $column), " IS DISTINCT FROM ", $table, ".", $column,)+
        )
    };
}

/// Most bound parameters in one statement (SQLite allows 32 766, PostgreSQL 65 535).
const MAX_PARAMETERS: usize = 30_000;
/// Most rows in one statement.
const MAX_ROWS: usize = 1_000;

/// Rows per statement for a table with `columns` parameters a row.
fn chunk(columns: usize) -> usize {
    (MAX_PARAMETERS / columns).min(MAX_ROWS)
}

/// One multi-row upsert: the insert head, its column count, and the conflict clause, which
/// updates only when the new state ranks at least as far and differs, and returns the rows it
/// inserted or changed.
struct Upsert {
    head: &'static str,
    columns: usize,
    tail: &'static str,
}

const RAW: Upsert = Upsert {
    head: "INSERT INTO raw_events (source, kind, key, fingerprint, received_at, payload) ",
    columns: 6,
    tail: " ON CONFLICT (source, kind, key, fingerprint) DO NOTHING",
};

const DEPLOYMENTS: Upsert = Upsert {
    head: "INSERT INTO deployments (id, service, environment, version, commit_sha, status, status_rank, started_at, \
           finished_at, rollback_of, unplanned, team, url, listed_at, fingerprint, updated_at) ",
    columns: 16,
    tail: " ON CONFLICT (id) DO UPDATE SET service = excluded.service, environment = excluded.environment,
         version = excluded.version, commit_sha = excluded.commit_sha, status = excluded.status,
         status_rank = excluded.status_rank, started_at = excluded.started_at,
         finished_at = excluded.finished_at, rollback_of = excluded.rollback_of,
         unplanned = excluded.unplanned, team = excluded.team, url = excluded.url,
         listed_at = excluded.listed_at, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.status_rank >= deployments.status_rank AND excluded.fingerprint <> deployments.fingerprint
     RETURNING id",
};

/// A commit's content never changes (its sha names it), but senders tell it in parts — a backfill
/// or a deployment's list without the message, a push with it — and in any order: each field
/// keeps the latest known value, so a later event without a field never erases it.
const COMMITS: Upsert = Upsert {
    head: "INSERT INTO commits (sha, committed_at, repository, service, authored_at, author, message, fingerprint, updated_at) ",
    columns: 9,
    tail: concat!(
        merge_on_conflict!(
            "commits",
            "sha",
            [(new, "committed_at"), (known, "repository"), (known, "service"), (known, "authored_at"), (known, "author"), (known, "message")],
            [(new, "fingerprint")]
        ),
        " RETURNING sha"
    ),
};

/// Pull requests are told in parts (opened, reviewed, merged, often out of order, from different
/// events): times keep the earliest (opened, first commit, first review, approval) or latest
/// (closed) value, other fields the latest known one, so a later event without a field never
/// erases it.
const PULL_REQUESTS: Upsert = Upsert {
    head: "INSERT INTO pull_requests (id, repository, number, opened_at, service, author, first_commit_at, \
           first_review_at, approved_at, merged_at, closed_at, merge_commit_sha, additions, deletions, head_sha, base_sha, \
           fingerprint, updated_at) ",
    columns: 18,
    tail: concat!(
        merge_on_conflict!(
            "pull_requests",
            [
                (new, "repository"),
                (new, "number"),
                (earliest, "opened_at"),
                (known, "service"),
                (known, "author"),
                (earliest, "first_commit_at"),
                (earliest, "first_review_at"),
                (earliest, "approved_at"),
                (earliest, "merged_at"),
                (latest, "closed_at"),
                (known, "merge_commit_sha"),
                (known, "additions"),
                (known, "deletions"),
                (known, "head_sha"),
                (known, "base_sha"),
            ],
            [(new, "fingerprint")]
        ),
        " RETURNING id"
    ),
};

/// The commits pull requests were merged as, before a write.
const MERGED_AS: &str = "SELECT id, merge_commit_sha FROM pull_requests WHERE merge_commit_sha IS NOT NULL AND id IN (";

/// An incident's state never goes back (resolved outranks open), but its opening time keeps the
/// earliest seen: a source that reports the resolution first (CDEvents) opens it then, and the
/// detection, arriving later with a lower rank, still moves the opening back.
const INCIDENTS: Upsert = Upsert {
    head: "INSERT INTO incidents (id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, \
           commit_sha, status_rank, fingerprint, updated_at) ",
    columns: 13,
    tail: concat!(
        merge_on_conflict!(
            "incidents",
            [
                (ranked, "service"),
                (ranked, "environment"),
                (earliest, "opened_at"),
                (ranked, "resolved_at"),
                (ranked, "severity"),
                (ranked, "title"),
                (ranked, "url"),
                (ranked, "deployment_id"),
                (ranked, "commit_sha"),
            ],
            [(ranked, "fingerprint"), (ranked, "status_rank")]
        ),
        " RETURNING id"
    ),
};

const CI_RUNS: Upsert = Upsert {
    head: "INSERT INTO ci_runs (id, pipeline, status, started_at, finished_at, stage, repository, service, commit_sha, \
           branch, queued_at, url, attempt, fingerprint, updated_at) ",
    columns: 15,
    tail: " ON CONFLICT (id) DO UPDATE SET pipeline = excluded.pipeline, status = excluded.status,
         started_at = excluded.started_at, finished_at = excluded.finished_at, stage = excluded.stage,
         repository = excluded.repository, service = excluded.service, commit_sha = excluded.commit_sha,
         branch = excluded.branch, queued_at = excluded.queued_at, url = excluded.url,
         attempt = excluded.attempt, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.fingerprint <> ci_runs.fingerprint
     RETURNING id",
};

const SLI: Upsert = Upsert {
    head: "INSERT INTO sli_samples (service, environment, slo, at, good, total, fingerprint, updated_at) ",
    columns: 8,
    tail: " ON CONFLICT (service, environment, slo, at) DO UPDATE SET good = excluded.good, total = excluded.total,
         fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.fingerprint <> sli_samples.fingerprint
     RETURNING service",
};

const SHIPPED: Upsert = Upsert {
    head: "INSERT INTO deployment_commits (deployment_id, position, sha, committed_at, authored_at) ",
    columns: 5,
    tail: "",
};

/// The change log's row of one write under the generation it just took: the keys it changed, as
/// `[[kind, key], …]` (`$1`), and when (`$2`).
const CHANGES: &str = "INSERT INTO fact_changes (generation, keys, recorded_at) SELECT value, $1, $2 FROM store_generation WHERE id = 1";

const PARENTS: Upsert = Upsert { head: "INSERT INTO commit_parents (sha, position, parent_sha) ", columns: 3, tail: "" };

/// Moves the generations a write changed: row 1 always, row 2 with deployments, commits or pull
/// requests, row 3 with incidents (see [`crate::Generations`]).
const fn bump_generations(structural: bool, incidents: bool) -> &'static str {
    match (structural, incidents) {
        (false, false) => "UPDATE store_generation SET value = value + 1 WHERE id = 1",
        (true, false) => "UPDATE store_generation SET value = value + 1 WHERE id IN (1, 2)",
        (false, true) => "UPDATE store_generation SET value = value + 1 WHERE id IN (1, 3)",
        (true, true) => "UPDATE store_generation SET value = value + 1 WHERE id IN (1, 2, 3)",
    }
}

/// Runs one multi-row statement per chunk of `rows`, binding each row with `bind`; returns the
/// keys the statements returned (the facts they inserted or changed) as a set, since callers
/// test each row of the batch against it.
macro_rules! batched {
    ($tx:expr, $upsert:expr, $rows:expr, |$b:ident, $row:ident| $bind:block) => {{
        let mut returned: HashSet<String> = HashSet::new();
        for chunk in $rows.chunks(chunk($upsert.columns)) {
            let mut sql = sqlx::QueryBuilder::new($upsert.head);
            sql.push_values(chunk, |mut $b, $row| $bind);
            sql.push($upsert.tail);
            if $upsert.tail.contains("RETURNING") {
                let rows: Vec<(String,)> = sql.build_query_as().fetch_all(&mut *$tx).await.map_err(StoreError::classify)?;
                returned.extend(rows.into_iter().map(|(key,)| key));
            } else {
                sql.build().execute(&mut *$tx).await.map_err(StoreError::classify)?;
            }
        }
        returned
    }};
}

/// Deletes the rows of `table` whose `column` is one of `keys` (any iterator of `&str`), in key
/// order like every other write of a batch.
macro_rules! delete_children {
    ($tx:expr, $sql:expr, $keys:expr) => {{
        let mut keys: Vec<&str> = $keys.into_iter().collect();
        keys.sort_unstable();
        for chunk in keys.chunks(MAX_ROWS) {
            let mut sql = sqlx::QueryBuilder::new($sql);
            let mut list = sql.separated(", ");
            for key in chunk {
                list.push_bind(key.to_string());
            }
            sql.push(")");
            sql.build().execute(&mut *$tx).await.map_err(StoreError::classify)?;
        }
    }};
}

/// The events of one wave: no two share a key, so each can be one multi-row statement per kind.
#[derive(Default)]
struct Wave<'a> {
    deployments: Vec<(&'a Deployment, &'a str)>,
    commits: Vec<(&'a Commit, &'a str)>,
    pull_requests: Vec<(&'a PullRequest, &'a str)>,
    incidents: Vec<(&'a Incident, &'a str)>,
    ci_runs: Vec<(&'a CiRun, &'a str)>,
    sli: Vec<(&'a SliSample, &'a str)>,
}

impl<'a> Wave<'a> {
    fn add(&mut self, event: &'a Collected) {
        let fp = event.fingerprint.as_str();
        match &event.fact {
            Fact::Deployment(d) => self.deployments.push((d, fp)),
            Fact::Commit(c) => self.commits.push((c, fp)),
            Fact::PullRequest(p) => self.pull_requests.push((p, fp)),
            Fact::Incident(i) => self.incidents.push((i, fp)),
            Fact::CiRun(r) => self.ci_runs.push((r, fp)),
            Fact::Sli(s) => self.sli.push((s, fp)),
        }
    }
}

impl Store {
    /// Stores a batch from `source` atomically: every raw payload and every fact, or nothing.
    ///
    /// # Errors
    /// The database failed; nothing of the batch is stored.
    pub async fn ingest(&self, source: &str, received_at: Millis, events: &[Collected]) -> Result<Ingested> {
        Ok(self.write_all(Some(source), received_at, events, &[]).await?.0)
    }

    /// Upserts facts rebuilt from raw events, without storing the raw events again.
    ///
    /// # Errors
    /// The database failed; nothing of the batch is stored.
    pub async fn restore_facts(&self, received_at: Millis, events: &[Collected]) -> Result<Ingested> {
        Ok(self.write_all(None, received_at, events, &[]).await?.0)
    }

    /// Writes a batch of facts and the rollbacks they trigger in one transaction.
    pub(crate) async fn write_all(
        &self,
        source: Option<&str>,
        now: Millis,
        events: &[Collected],
        rollbacks: &[NewRollback],
    ) -> Result<(Ingested, Vec<String>)> {
        let mut ordered: Vec<(&'static str, String, &Collected)> = events
            .iter()
            .map(|e| {
                let (kind, key) = key(&e.fact);
                (kind, key, e)
            })
            .collect();
        // Stable: several states of one fact in a batch keep their order. Key order also makes
        // concurrent batches lock rows in the same order, so they cannot deadlock.
        ordered.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        // The n-th state of a fact in this batch goes to wave n, so no statement sees a key twice
        // and later states are written after earlier ones.
        let mut waves: Vec<Wave<'_>> = Vec::new();
        let mut previous: Option<(&str, &str)> = None;
        let mut depth = 0;
        for (kind, key, event) in &ordered {
            depth = if previous == Some((*kind, key.as_str())) { depth + 1 } else { 0 };
            previous = Some((*kind, key.as_str()));
            if waves.len() <= depth {
                waves.push(Wave::default());
            }
            waves[depth].add(event);
        }
        let raw: Vec<(&str, &str, &str, String)> =
            ordered.iter().map(|(kind, key, e)| (*kind, key.as_str(), e.fingerprint.as_str(), e.raw.to_string())).collect();
        let mut changed = 0u64;
        let mut structural = 0u64;
        let mut incidental = 0u64;
        // The keys of the deployments, commits, pull requests and incidents the batch changed.
        let mut logged: Vec<(&'static str, String)> = Vec::new();
        let created = with_writer!(self, pool => {
            // Every statement writes, deletes or reads by key.
            let mut tx = begin_by_key(pool).await?;
            if let Some(source) = source {
                batched!(tx, RAW, raw, |b, row| {
                    let (kind, key, fingerprint, payload) = row;
                    b.push_bind(source.to_owned())
                        .push_bind(*kind)
                        .push_bind((*key).to_owned())
                        .push_bind((*fingerprint).to_owned())
                        .push_bind(now)
                        .push_bind(payload.clone());
                });
            }
            for wave in &waves {
                let ids = batched!(tx, DEPLOYMENTS, wave.deployments, |b, row| {
                    let (d, fp) = row;
                    b.push_bind(d.id.clone())
                        .push_bind(d.service.clone())
                        .push_bind(d.environment.clone())
                        .push_bind(d.version.clone())
                        .push_bind(d.commit_sha.clone())
                        .push_bind(d.status.as_str())
                        .push_bind(d.status.rank())
                        .push_bind(d.started_at)
                        .push_bind(d.finished_at)
                        .push_bind(d.rollback_of.clone())
                        .push_bind(d.unplanned)
                        .push_bind(d.team.clone())
                        .push_bind(d.url.clone())
                        .push_bind(d.finished_at.or(d.started_at).unwrap_or(now))
                        .push_bind((*fp).to_owned())
                        .push_bind(now);
                });
                changed += ids.len() as u64;
                structural += ids.len() as u64;
                logged.extend(ids.iter().map(|id| ("deployment", id.clone())));
                if !ids.is_empty() {
                    delete_children!(tx, "DELETE FROM deployment_commits WHERE deployment_id IN (", ids.iter().map(String::as_str));
                    let shipped: Vec<(&str, i64, &ShippedCommit)> = wave
                        .deployments
                        .iter()
                        .filter(|(d, _)| ids.contains(&d.id))
                        .flat_map(|(d, _)| d.commits.iter().enumerate().map(move |(i, c)| (d.id.as_str(), i as i64, c)))
                        .collect();
                    batched!(tx, SHIPPED, shipped, |b, row| {
                        let (id, position, c) = row;
                        b.push_bind((*id).to_owned()).push_bind(*position).push_bind(c.sha.clone()).push_bind(c.committed_at).push_bind(c.authored_at);
                    });
                }
                let shas = batched!(tx, COMMITS, wave.commits, |b, row| {
                    let (c, fp) = row;
                    b.push_bind(c.sha.clone())
                        .push_bind(c.committed_at)
                        .push_bind(c.repository.clone())
                        .push_bind(c.service.clone())
                        .push_bind(c.authored_at)
                        .push_bind(c.author.clone())
                        .push_bind(c.message.clone())
                        .push_bind((*fp).to_owned())
                        .push_bind(now);
                });
                changed += shas.len() as u64;
                structural += shas.len() as u64;
                logged.extend(shas.iter().map(|sha| ("commit", sha.clone())));
                // Parents never change; a push that could not tell them (the first commit of a new
                // branch, a force push) must not erase what another told.
                let with_parents: HashSet<&str> = wave
                    .commits
                    .iter()
                    .filter(|(c, _)| !c.parents.is_empty() && shas.contains(&c.sha))
                    .map(|(c, _)| c.sha.as_str())
                    .collect();
                if !with_parents.is_empty() {
                    delete_children!(tx, "DELETE FROM commit_parents WHERE sha IN (", with_parents.iter().copied());
                    let parents: Vec<(&str, i64, &str)> = wave
                        .commits
                        .iter()
                        .filter(|(c, _)| with_parents.contains(c.sha.as_str()))
                        .flat_map(|(c, _)| c.parents.iter().enumerate().map(move |(i, p)| (c.sha.as_str(), i as i64, p.as_str())))
                        .collect();
                    batched!(tx, PARENTS, parents, |b, row| {
                        let (sha, position, parent) = row;
                        b.push_bind((*sha).to_owned()).push_bind(*position).push_bind((*parent).to_owned());
                    });
                }
                // A pull request told as merged as another commit than before (sources disagree: a
                // squash commit, a merge commit): the commit it no longer is changes too.
                let merging: Vec<String> = wave.pull_requests.iter().filter(|(p, _)| p.merge_commit_sha.is_some()).map(|(p, _)| p.id.clone()).collect();
                let merged_as: Vec<(String, String)> = in_list_on(&mut *tx, MERGED_AS, &merging, "").await?;
                for (id, was) in merged_as {
                    if wave.pull_requests.iter().any(|(p, _)| p.id == id && p.merge_commit_sha.as_ref().is_some_and(|now| *now != was)) {
                        logged.push(("commit", was));
                    }
                }
                let merged = batched!(tx, PULL_REQUESTS, wave.pull_requests, |b, row| {
                    let (p, fp) = row;
                    b.push_bind(p.id.clone())
                        .push_bind(p.repository.clone())
                        .push_bind(p.number)
                        .push_bind(p.opened_at)
                        .push_bind(p.service.clone())
                        .push_bind(p.author.clone())
                        .push_bind(p.first_commit_at)
                        .push_bind(p.first_review_at)
                        .push_bind(p.approved_at)
                        .push_bind(p.merged_at)
                        .push_bind(p.closed_at)
                        .push_bind(p.merge_commit_sha.clone())
                        .push_bind(p.additions)
                        .push_bind(p.deletions)
                        .push_bind(p.head_sha.clone())
                        .push_bind(p.base_sha.clone())
                        .push_bind((*fp).to_owned())
                        .push_bind(now);
                });
                changed += merged.len() as u64;
                structural += merged.len() as u64;
                logged.extend(merged.into_iter().map(|id| ("pull_request", id)));
                let incidents = batched!(tx, INCIDENTS, wave.incidents, |b, row| {
                    let (i, fp) = row;
                    b.push_bind(i.id.clone())
                        .push_bind(i.service.clone())
                        .push_bind(i.environment.clone())
                        .push_bind(i.opened_at)
                        .push_bind(i.resolved_at)
                        .push_bind(i.severity.clone())
                        .push_bind(i.title.clone())
                        .push_bind(i.url.clone())
                        .push_bind(i.deployment_id.clone())
                        .push_bind(i.commit_sha.clone())
                        .push_bind(i.rank())
                        .push_bind((*fp).to_owned())
                        .push_bind(now);
                });
                changed += incidents.len() as u64;
                incidental += incidents.len() as u64;
                logged.extend(incidents.into_iter().map(|id| ("incident", id)));
                changed += batched!(tx, CI_RUNS, wave.ci_runs, |b, row| {
                    let (r, fp) = row;
                    b.push_bind(r.id.clone())
                        .push_bind(r.pipeline.clone())
                        .push_bind(r.status.clone())
                        .push_bind(r.started_at)
                        .push_bind(r.finished_at)
                        .push_bind(r.stage.clone())
                        .push_bind(r.repository.clone())
                        .push_bind(r.service.clone())
                        .push_bind(r.commit_sha.clone())
                        .push_bind(r.branch.clone())
                        .push_bind(r.queued_at)
                        .push_bind(r.url.clone())
                        .push_bind(r.attempt)
                        .push_bind((*fp).to_owned())
                        .push_bind(now);
                })
                .len() as u64;
                changed += batched!(tx, SLI, wave.sli, |b, row| {
                    let (s, fp) = row;
                    b.push_bind(s.service.clone())
                        .push_bind(s.environment.clone())
                        .push_bind(s.slo.clone())
                        .push_bind(s.at)
                        .push_bind(s.good)
                        .push_bind(s.total)
                        .push_bind((*fp).to_owned())
                        .push_bind(now);
                })
                .len() as u64;
            }
            let created = insert_rollbacks!(tx, now, rollbacks);
            if changed > 0 {
                // Last, so the hottest rows are locked only for the commit itself.
                sqlx::query(bump_generations(structural > 0, incidental > 0)).execute(&mut *tx).await.map_err(StoreError::classify)?;
                if !logged.is_empty() {
                    // Under the generation just taken: writes commit in its order (see 0010_fact_changes.sql).
                    let keys = serde_json::to_string(&logged).unwrap_or_default();
                    sqlx::query(CHANGES).bind(keys).bind(now).execute(&mut *tx).await.map_err(StoreError::classify)?;
                }
            }
            tx.commit().await.map_err(StoreError::classify)?;
            created
        });
        let outcome = Ingested { accepted: changed, duplicates: events.len() as u64 - changed };
        Ok((outcome, created))
    }

    /// Raw events with an id greater than `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn raw_events(&self, after: i64, limit: i64) -> Result<Vec<RawEvent>> {
        const SQL: &str = "SELECT id, source, payload FROM raw_events WHERE id > $1 ORDER BY id LIMIT $2";
        let rows: Vec<(i64, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(after).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows
            .into_iter()
            .map(|(id, source, payload)| RawEvent {
                id,
                source,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    /// Deletes every fact, keeping the raw events, so that `pacer recompute` can rebuild them.
    ///
    /// # Errors
    /// The database failed; nothing is deleted.
    pub async fn clear_facts(&self) -> Result<()> {
        const TABLES: [&str; 12] = [
            "DELETE FROM deployment_commits",
            "DELETE FROM deployments",
            "DELETE FROM commit_parents",
            "DELETE FROM commits",
            "DELETE FROM pull_requests",
            "DELETE FROM incidents",
            "DELETE FROM ci_runs",
            "DELETE FROM sli_samples",
            bump_generations(true, true),
            // Every fact is replaced: no replica can advance over the log past this point.
            "DELETE FROM fact_changes",
            "UPDATE fact_changes_floor SET generation = (SELECT value FROM store_generation WHERE id = 1)",
            // ...nor start from an analysis of the facts replaced.
            "DELETE FROM analysis_snapshots",
        ];
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            for sql in TABLES {
                sqlx::query(sql).execute(&mut *tx).await.map_err(StoreError::classify)?;
            }
            tx.commit().await.map_err(StoreError::classify)?;
        });
        Ok(())
    }
}
