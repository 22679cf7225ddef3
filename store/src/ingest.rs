//! Idempotent ingestion: one transaction per batch, raw payload and normalized fact together.
//!
//! A fact is upserted on its key. The upsert changes the stored row only when the new state is at
//! least as far along its lifecycle (`status_rank`) and its content differs (`fingerprint`), so a
//! re-sent event is a no-op, a finished deployment replaces its in-progress state, and a late
//! in-progress event never undoes a finish. Pull requests and incidents, told in parts by
//! webhooks, are merged column by column instead (see `merge_on_conflict!`). Rows are written in key order so that concurrent
//! batches on PostgreSQL take row locks in the same order and cannot deadlock.

use pacer_collector::{Collected, key};
use pacer_engine::Millis;
use pacer_engine::model::Fact;

use crate::{Result, Store, StoreError, with_pool};

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

const INSERT_RAW: &str = "INSERT INTO raw_events (source, kind, key, fingerprint, received_at, payload)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, kind, key, fingerprint) DO NOTHING";

const UPSERT_DEPLOYMENT: &str = "INSERT INTO deployments (id, service, environment, version, commit_sha, status,
         status_rank, started_at, finished_at, rollback_of, unplanned, team, url, listed_at, fingerprint, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (id) DO UPDATE SET service = excluded.service, environment = excluded.environment,
         version = excluded.version, commit_sha = excluded.commit_sha, status = excluded.status,
         status_rank = excluded.status_rank, started_at = excluded.started_at,
         finished_at = excluded.finished_at, rollback_of = excluded.rollback_of,
         unplanned = excluded.unplanned, team = excluded.team, url = excluded.url,
         listed_at = excluded.listed_at, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.status_rank >= deployments.status_rank AND excluded.fingerprint <> deployments.fingerprint";

const UPSERT_COMMIT: &str = "INSERT INTO commits (sha, committed_at, repository, service, authored_at, author, message,
         fingerprint, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (sha) DO UPDATE SET committed_at = excluded.committed_at, repository = excluded.repository,
         service = excluded.service, authored_at = excluded.authored_at, author = excluded.author,
         message = excluded.message, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.fingerprint <> commits.fingerprint";

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
        concat!(" ON CONFLICT (id) DO UPDATE SET ",
            $($column, " = ", merged!($rule, $table, $column), ", ",)+
            $($bcolumn, " = ", merged!($brule, $table, $bcolumn), ", ",)+
            "updated_at = excluded.updated_at WHERE false",
            $(" OR ", merged!($rule, $table, $column), " IS DISTINCT FROM ", $table, ".", $column,)+
        )
    };
}

/// Pull requests are told in parts (opened, reviewed, merged, often out of order, from different
/// events): times keep the earliest (opened, first commit, first review, approval) or latest
/// (closed) value, other fields the latest known one, so a later event without a field never
/// erases it.
const UPSERT_PULL_REQUEST: &str = concat!(
    "INSERT INTO pull_requests (id, repository, number, opened_at, service, author,
         first_commit_at, first_review_at, approved_at, merged_at, closed_at, merge_commit_sha, additions, deletions,
         head_sha, base_sha, fingerprint, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
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
    )
);

/// An incident's state never goes back (resolved outranks open), but its opening time keeps the
/// earliest seen: a source that reports the resolution first (CDEvents) opens it then, and the
/// detection, arriving later with a lower rank, still moves the opening back.
const UPSERT_INCIDENT: &str = concat!(
    "INSERT INTO incidents (id, service, environment, opened_at, resolved_at, severity, title,
         url, deployment_id, commit_sha, status_rank, fingerprint, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
    )
);

const UPSERT_CI_RUN: &str = "INSERT INTO ci_runs (id, pipeline, status, started_at, finished_at, stage, repository,
         service, commit_sha, branch, queued_at, url, fingerprint, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (id) DO UPDATE SET pipeline = excluded.pipeline, status = excluded.status,
         started_at = excluded.started_at, finished_at = excluded.finished_at, stage = excluded.stage,
         repository = excluded.repository, service = excluded.service, commit_sha = excluded.commit_sha,
         branch = excluded.branch, queued_at = excluded.queued_at, url = excluded.url,
         fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.fingerprint <> ci_runs.fingerprint";

const UPSERT_SLI: &str = "INSERT INTO sli_samples (service, environment, slo, at, good, total, fingerprint, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (service, environment, slo, at) DO UPDATE SET good = excluded.good, total = excluded.total,
         fingerprint = excluded.fingerprint, updated_at = excluded.updated_at
     WHERE excluded.fingerprint <> sli_samples.fingerprint";

const DELETE_DEPLOYMENT_COMMITS: &str = "DELETE FROM deployment_commits WHERE deployment_id = $1";
const INSERT_DEPLOYMENT_COMMIT: &str =
    "INSERT INTO deployment_commits (deployment_id, position, sha, committed_at, authored_at) VALUES ($1, $2, $3, $4, $5)";
const DELETE_PARENTS: &str = "DELETE FROM commit_parents WHERE sha = $1";
const INSERT_PARENT: &str = "INSERT INTO commit_parents (sha, position, parent_sha) VALUES ($1, $2, $3)";
const BUMP_GENERATION: &str = "UPDATE store_generation SET value = value + 1 WHERE id = 1";

impl Store {
    /// Stores a batch from `source` atomically: every raw payload and every fact, or nothing.
    ///
    /// # Errors
    /// The database failed; nothing of the batch is stored.
    pub async fn ingest(&self, source: &str, received_at: Millis, events: &[Collected]) -> Result<Ingested> {
        self.write(Some(source), received_at, events).await
    }

    /// Upserts facts rebuilt from raw events, without storing the raw events again.
    ///
    /// # Errors
    /// The database failed; nothing of the batch is stored.
    pub async fn restore_facts(&self, received_at: Millis, events: &[Collected]) -> Result<Ingested> {
        self.write(None, received_at, events).await
    }

    async fn write(&self, source: Option<&str>, now: Millis, events: &[Collected]) -> Result<Ingested> {
        let mut ordered: Vec<(&'static str, String, &Collected)> =
            events.iter().map(|e| { let (kind, key) = key(&e.fact); (kind, key, e) }).collect();
        // Stable: several states of one fact in a batch keep their order.
        ordered.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut outcome = Ingested::default();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            for (kind, key, event) in &ordered {
                if let Some(source) = source {
                    sqlx::query(INSERT_RAW)
                        .bind(source)
                        .bind(*kind)
                        .bind(key)
                        .bind(&event.fingerprint)
                        .bind(now)
                        .bind(event.raw.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::classify)?;
                }
                let fingerprint = &event.fingerprint;
                let changed = match &event.fact {
                    Fact::Deployment(d) => {
                        let listed_at = d.finished_at.or(d.started_at).unwrap_or(now);
                        let changed = sqlx::query(UPSERT_DEPLOYMENT)
                            .bind(&d.id)
                            .bind(&d.service)
                            .bind(&d.environment)
                            .bind(&d.version)
                            .bind(&d.commit_sha)
                            .bind(d.status.as_str())
                            .bind(d.status.rank())
                            .bind(d.started_at)
                            .bind(d.finished_at)
                            .bind(&d.rollback_of)
                            .bind(d.unplanned)
                            .bind(&d.team)
                            .bind(&d.url)
                            .bind(listed_at)
                            .bind(fingerprint)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::classify)?
                            .rows_affected()
                            > 0;
                        if changed {
                            sqlx::query(DELETE_DEPLOYMENT_COMMITS).bind(&d.id).execute(&mut *tx).await.map_err(StoreError::classify)?;
                            for (position, c) in d.commits.iter().enumerate() {
                                sqlx::query(INSERT_DEPLOYMENT_COMMIT)
                                    .bind(&d.id)
                                    .bind(position as i64)
                                    .bind(&c.sha)
                                    .bind(c.committed_at)
                                    .bind(c.authored_at)
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(StoreError::classify)?;
                            }
                        }
                        changed
                    }
                    Fact::Commit(c) => {
                        let changed = sqlx::query(UPSERT_COMMIT)
                            .bind(&c.sha)
                            .bind(c.committed_at)
                            .bind(&c.repository)
                            .bind(&c.service)
                            .bind(c.authored_at)
                            .bind(&c.author)
                            .bind(&c.message)
                            .bind(fingerprint)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::classify)?
                            .rows_affected()
                            > 0;
                        // Parents never change; a push that could not tell them (the first commit
                        // of a new branch or a force push) must not erase what another told.
                        if changed && !c.parents.is_empty() {
                            sqlx::query(DELETE_PARENTS).bind(&c.sha).execute(&mut *tx).await.map_err(StoreError::classify)?;
                            for (position, parent) in c.parents.iter().enumerate() {
                                sqlx::query(INSERT_PARENT)
                                    .bind(&c.sha)
                                    .bind(position as i64)
                                    .bind(parent)
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(StoreError::classify)?;
                            }
                        }
                        changed
                    }
                    Fact::PullRequest(p) => {
                        sqlx::query(UPSERT_PULL_REQUEST)
                            .bind(&p.id)
                            .bind(&p.repository)
                            .bind(p.number)
                            .bind(p.opened_at)
                            .bind(&p.service)
                            .bind(&p.author)
                            .bind(p.first_commit_at)
                            .bind(p.first_review_at)
                            .bind(p.approved_at)
                            .bind(p.merged_at)
                            .bind(p.closed_at)
                            .bind(&p.merge_commit_sha)
                            .bind(p.additions)
                            .bind(p.deletions)
                            .bind(&p.head_sha)
                            .bind(&p.base_sha)
                            .bind(fingerprint)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::classify)?
                            .rows_affected()
                            > 0
                    }
                    Fact::Incident(i) => {
                        sqlx::query(UPSERT_INCIDENT)
                            .bind(&i.id)
                            .bind(&i.service)
                            .bind(&i.environment)
                            .bind(i.opened_at)
                            .bind(i.resolved_at)
                            .bind(&i.severity)
                            .bind(&i.title)
                            .bind(&i.url)
                            .bind(&i.deployment_id)
                            .bind(&i.commit_sha)
                            .bind(i.rank())
                            .bind(fingerprint)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::classify)?
                            .rows_affected()
                            > 0
                    }
                    Fact::CiRun(r) => {
                        sqlx::query(UPSERT_CI_RUN)
                            .bind(&r.id)
                            .bind(&r.pipeline)
                            .bind(&r.status)
                            .bind(r.started_at)
                            .bind(r.finished_at)
                            .bind(&r.stage)
                            .bind(&r.repository)
                            .bind(&r.service)
                            .bind(&r.commit_sha)
                            .bind(&r.branch)
                            .bind(r.queued_at)
                            .bind(&r.url)
                            .bind(fingerprint)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::classify)?
                            .rows_affected()
                            > 0
                    }
                    Fact::Sli(s) => {
                        sqlx::query(UPSERT_SLI)
                            .bind(&s.service)
                            .bind(&s.environment)
                            .bind(&s.slo)
                            .bind(s.at)
                            .bind(s.good)
                            .bind(s.total)
                            .bind(fingerprint)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::classify)?
                            .rows_affected()
                            > 0
                    }
                };
                if changed { outcome.accepted += 1 } else { outcome.duplicates += 1 }
            }
            if outcome.accepted > 0 {
                // Last, so the hottest row is locked only for the commit itself.
                sqlx::query(BUMP_GENERATION).execute(&mut *tx).await.map_err(StoreError::classify)?;
            }
            tx.commit().await.map_err(StoreError::classify)?;
        });
        Ok(outcome)
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
        const TABLES: [&str; 9] = [
            "DELETE FROM deployment_commits",
            "DELETE FROM deployments",
            "DELETE FROM commit_parents",
            "DELETE FROM commits",
            "DELETE FROM pull_requests",
            "DELETE FROM incidents",
            "DELETE FROM ci_runs",
            "DELETE FROM sli_samples",
            BUMP_GENERATION,
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
