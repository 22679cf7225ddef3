//! Rollbacks and their outbox: decisions stored exactly once, deliveries claimed with leases.
//!
//! A rollback is inserted in the same transaction as the incident that triggered it (see
//! [`Store::ingest_with_rollbacks`]); the `rollbacks_once` constraint makes any number of
//! duplicate alerts or replicas produce one. Each hook gets a delivery row with a stable
//! `webhook-id`. Dispatchers claim due deliveries by setting a lease (`claimed_until`); on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other, and on both
//! engines the claim re-checks the lease so a delivery is never claimed twice. A dispatcher that
//! dies mid-delivery leaves an expired lease, and the delivery is claimed again.

use pacer_engine::Millis;
use serde_json::Value;

use crate::{Result, Store, StoreError, with_pool, with_writer};

/// A rollback decision to store.
#[derive(Debug, Clone)]
pub struct NewRollback {
    /// Its id, derived from (service, environment, deployment) so replicas agree.
    pub id: String,
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The deployment to undo.
    pub deployment_id: String,
    /// The deployment to return to.
    pub target_deployment_id: String,
    /// `auto`, `manual` or `dry_run`.
    pub mode: &'static str,
    /// The incident that triggered it.
    pub incident_id: Option<String>,
    /// One line for humans.
    pub reason: String,
    /// The hook body.
    pub report: Value,
    /// The hooks to deliver to (for `auto`; `manual` gets them at approval).
    pub hooks: Vec<String>,
}

/// A stored rollback with its deliveries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackRow {
    /// Its id.
    pub id: String,
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The deployment undone.
    pub deployment_id: String,
    /// The deployment returned to.
    pub target_deployment_id: String,
    /// `auto`, `manual` or `dry_run`.
    pub mode: String,
    /// `awaiting_approval`, `dispatching`, `delivered`, `failed` or `dry_run`.
    pub state: String,
    /// The incident that triggered it.
    pub incident_id: Option<String>,
    /// One line for humans.
    pub reason: String,
    /// The hook body.
    pub report: Value,
    /// When it was decided (epoch ms).
    pub created_at: Millis,
    /// When it was approved (epoch ms).
    pub approved_at: Option<Millis>,
    /// Who approved it: an API token's name, `api` when no token was needed, `slack:<user id>`.
    pub approved_by: Option<String>,
    /// Its deliveries, one per hook.
    pub deliveries: Vec<DeliveryRow>,
}

/// One hook's delivery of a rollback.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    /// Row id.
    pub id: i64,
    /// The hook.
    pub hook_url: String,
    /// The `webhook-id` header, the same on every attempt.
    pub webhook_id: String,
    /// `pending`, `delivered`, `failed` or `gone`.
    pub state: String,
    /// Attempts made.
    pub attempt_count: i64,
    /// When the next attempt is due (epoch ms).
    pub next_attempt_at: Millis,
    /// When it was delivered (epoch ms).
    pub delivered_at: Option<Millis>,
    /// Every attempt.
    #[sqlx(skip)]
    pub attempts: Vec<AttemptRow>,
}

/// One delivery attempt.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AttemptRow {
    /// The delivery it belongs to.
    #[serde(skip)]
    pub delivery_id: i64,
    /// 1-based attempt number.
    pub attempt: i64,
    /// When it was made (epoch ms).
    pub at: Millis,
    /// The HTTP status the hook answered, if it answered.
    pub status_code: Option<i64>,
    /// How long it took.
    pub latency_ms: i64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// A delivery a dispatcher has claimed.
#[derive(Debug, Clone)]
pub struct Due {
    /// Row id.
    pub delivery_id: i64,
    /// The rollback.
    pub rollback_id: String,
    /// The hook.
    pub hook_url: String,
    /// The stable `webhook-id`.
    pub webhook_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The body to send.
    pub report: String,
    /// The rolled-back service (for the delivery's span and logs).
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// The deployment rolled back.
    pub deployment_id: String,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The hook accepted it.
    Delivered,
    /// Try again at this time.
    RetryAt(Millis),
    /// Give up: attempts exhausted or the hook is no longer configured.
    Failed,
    /// The hook answered 410 Gone: never again.
    Gone,
}

/// How approving a rollback went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Approved now; its deliveries are queued.
    Approved,
    /// No rollback has this id.
    NotFound,
    /// It was not waiting for approval; its state is given.
    NotAwaiting(String),
}

pub(crate) const INSERT_ROLLBACK: &str = "INSERT INTO rollbacks (id, service, environment, deployment_id, target_deployment_id, mode,
         state, incident_id, reason, report, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO rollback_deliveries (rollback_id, hook_url, webhook_id, state, next_attempt_at)
     VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING";

pub(crate) fn initial_state(mode: &str) -> &'static str {
    match mode {
        "auto" => "dispatching",
        "manual" => "awaiting_approval",
        _ => "dry_run",
    }
}

/// The `webhook-id` of a rollback's delivery to its n-th hook: stable across retries and restarts.
pub(crate) fn webhook_id(rollback_id: &str, index: usize) -> String {
    format!("msg_{rollback_id}_{index}")
}

/// The columns of a rollback, in [`RollbackTuple`] order.
macro_rules! rollback_columns {
    () => {
        "id, service, environment, deployment_id, target_deployment_id, mode, state, incident_id, reason, report, created_at, approved_at, approved_by"
    };
}
pub(crate) use rollback_columns;

pub(crate) type RollbackTuple = (String, String, String, String, String, String, String, Option<String>, String, String, i64, Option<i64>, Option<String>);

pub(crate) fn rollback(row: RollbackTuple) -> RollbackRow {
    let (id, service, environment, deployment_id, target_deployment_id, mode, state, incident_id, reason, report, created_at, approved_at, approved_by) =
        row;
    RollbackRow {
        id,
        service,
        environment,
        deployment_id,
        target_deployment_id,
        mode,
        state,
        incident_id,
        reason,
        report: serde_json::from_str(&report).unwrap_or(Value::Null),
        created_at,
        approved_at,
        approved_by,
        deliveries: Vec::new(),
    }
}

impl Store {
    /// Stores incidents (and their raw events) and the rollbacks they trigger, in one
    /// transaction. Returns what the batch did and the ids of the rollbacks created now (a
    /// rollback that already existed is not created again).
    ///
    /// # Errors
    /// The database failed; nothing is stored.
    pub async fn ingest_with_rollbacks(
        &self,
        source: &str,
        now: Millis,
        events: &[pacer_collector::Collected],
        rollbacks: &[NewRollback],
    ) -> Result<(crate::Ingested, Vec<String>)> {
        self.write_all(Some(source), now, events, rollbacks).await
    }

    /// The decision times of the rollbacks of a service and environment since `since`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn recent_rollbacks(&self, service: &str, environment: &str, since: Millis) -> Result<Vec<Millis>> {
        const SQL: &str = "SELECT created_at FROM rollbacks
             WHERE service = $1 AND environment = $2 AND created_at >= $3 AND mode <> 'dry_run'";
        let times: Vec<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(service).bind(environment).bind(since).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(times)
    }

    /// Approves a rollback awaiting approval and queues its deliveries to `hooks`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn approve_rollback(&self, id: &str, now: Millis, by: &str, hooks: &[String]) -> Result<Approval> {
        const APPROVE: &str = "UPDATE rollbacks SET state = 'dispatching', approved_at = $2, approved_by = $3
             WHERE id = $1 AND state = 'awaiting_approval'";
        const STATE: &str = "SELECT state FROM rollbacks WHERE id = $1";
        with_writer!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            let approved = sqlx::query(APPROVE).bind(id).bind(now).bind(by).execute(&mut *tx).await.map_err(StoreError::classify)?.rows_affected() > 0;
            if !approved {
                let state: Option<String> = sqlx::query_scalar(STATE).bind(id).fetch_optional(&mut *tx).await.map_err(StoreError::classify)?;
                return Ok(state.map_or(Approval::NotFound, Approval::NotAwaiting));
            }
            for (index, hook) in hooks.iter().enumerate() {
                sqlx::query(INSERT_DELIVERY)
                    .bind(id)
                    .bind(hook)
                    .bind(webhook_id(id, index))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?;
            }
            tx.commit().await.map_err(StoreError::classify)?;
        });
        Ok(Approval::Approved)
    }

    /// Claims up to `limit` deliveries due at `now`, leasing them until `lease_until`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn claim_deliveries(&self, now: Millis, lease_until: Millis, limit: i64) -> Result<Vec<Due>> {
        const CLAIM_SQLITE: &str = "UPDATE rollback_deliveries SET claimed_until = $1
             WHERE id IN (SELECT id FROM rollback_deliveries
                          WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at LIMIT $3)
               AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING id, rollback_id, hook_url, webhook_id, attempts";
        const CLAIM_POSTGRES: &str = "UPDATE rollback_deliveries SET claimed_until = $1
             WHERE id IN (SELECT id FROM rollback_deliveries
                          WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
               AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING id, rollback_id, hook_url, webhook_id, attempts";
        const REPORT: &str = "SELECT report, service, environment, deployment_id FROM rollbacks WHERE id = $1";
        let claim = match self {
            Self::Sqlite(..) => CLAIM_SQLITE,
            Self::Postgres(_) => CLAIM_POSTGRES,
        };
        let rows: Vec<(i64, String, String, String, i64)> = with_writer!(self, pool => {
            sqlx::query_as(claim).bind(lease_until).bind(now).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        let due = with_pool!(self, pool => {
            let mut due = Vec::with_capacity(rows.len());
            for (delivery_id, rollback_id, hook_url, webhook_id, attempts) in rows {
                let (report, service, environment, deployment_id): (String, String, String, String) =
                    sqlx::query_as(REPORT).bind(&rollback_id).fetch_one(pool).await.map_err(StoreError::classify)?;
                due.push(Due { delivery_id, rollback_id, hook_url, webhook_id, attempts, report, service, environment, deployment_id });
            }
            due
        });
        Ok(due)
    }

    /// Records an attempt and what happens next; settles the rollback's state once no delivery
    /// is pending.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_attempt(&self, due: &Due, at: Millis, status_code: Option<u16>, latency_ms: i64, error: Option<&str>, next: Next) -> Result<()> {
        const ATTEMPT: &str = "INSERT INTO rollback_attempts (delivery_id, attempt, at, status_code, latency_ms, error)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        const UPDATE: &str = "UPDATE rollback_deliveries SET attempts = $2, state = $3, next_attempt_at = $4,
                 claimed_until = NULL, delivered_at = $5
             WHERE id = $1";
        const SETTLE: &str = "UPDATE rollbacks SET state = CASE WHEN EXISTS (SELECT 1 FROM rollback_deliveries
                     WHERE rollback_id = $1 AND state IN ('failed', 'gone')) THEN 'failed' ELSE 'delivered' END
             WHERE id = $1 AND state = 'dispatching'
               AND NOT EXISTS (SELECT 1 FROM rollback_deliveries WHERE rollback_id = $1 AND state = 'pending')";
        let (state, next_at, delivered_at) = match next {
            Next::Delivered => ("delivered", at, Some(at)),
            Next::RetryAt(when) => ("pending", when, None),
            Next::Failed => ("failed", at, None),
            Next::Gone => ("gone", at, None),
        };
        let attempt = due.attempts + 1;
        with_writer!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            sqlx::query(ATTEMPT)
                .bind(due.delivery_id)
                .bind(attempt)
                .bind(at)
                .bind(status_code.map(i64::from))
                .bind(latency_ms)
                .bind(error)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            sqlx::query(UPDATE)
                .bind(due.delivery_id)
                .bind(attempt)
                .bind(state)
                .bind(next_at)
                .bind(delivered_at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
            sqlx::query(SETTLE).bind(&due.rollback_id).execute(&mut *tx).await.map_err(StoreError::classify)?;
            tx.commit().await.map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// The most recent rollbacks of every environment, newest first, without deliveries (see
    /// [`Store::rollbacks_in`] for a scope).
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollbacks(&self, limit: i64) -> Result<Vec<RollbackRow>> {
        const SQL: &str = concat!("SELECT ", rollback_columns!(), " FROM rollbacks ORDER BY created_at DESC, id DESC LIMIT $1");
        let rows: Vec<RollbackTuple> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(rollback).collect())
    }

    /// The rollbacks decided for `service` in `environment` at or after `since`, newest first,
    /// without deliveries.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollbacks_since(&self, service: &str, environment: &str, since: Millis) -> Result<Vec<RollbackRow>> {
        const SQL: &str = concat!("SELECT ", rollback_columns!(), " FROM rollbacks WHERE service = $1 AND environment = $2 AND created_at >= $3 ORDER BY created_at DESC, id DESC");
        let rows: Vec<RollbackTuple> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(service).bind(environment).bind(since).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(rollback).collect())
    }

    /// One rollback with every delivery and attempt.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollback(&self, id: &str) -> Result<Option<RollbackRow>> {
        const ONE: &str = concat!("SELECT ", rollback_columns!(), " FROM rollbacks WHERE id = $1");
        const DELIVERIES: &str = "SELECT id, hook_url, webhook_id, state, attempts AS attempt_count, next_attempt_at, delivered_at
             FROM rollback_deliveries WHERE rollback_id = $1 ORDER BY id";
        const ATTEMPTS: &str = "SELECT a.delivery_id, a.attempt, a.at, a.status_code, a.latency_ms, a.error
             FROM rollback_attempts a JOIN rollback_deliveries d ON d.id = a.delivery_id
             WHERE d.rollback_id = $1 ORDER BY a.delivery_id, a.attempt";
        let (row, deliveries, attempts) = with_pool!(self, pool => {
            let row: Option<RollbackTuple> = sqlx::query_as(ONE).bind(id).fetch_optional(pool).await.map_err(StoreError::classify)?;
            let deliveries: Vec<DeliveryRow> =
                sqlx::query_as(DELIVERIES).bind(id).fetch_all(pool).await.map_err(StoreError::classify)?;
            let attempts: Vec<AttemptRow> =
                sqlx::query_as(ATTEMPTS).bind(id).fetch_all(pool).await.map_err(StoreError::classify)?;
            (row, deliveries, attempts)
        });
        let Some(mut found) = row.map(rollback) else { return Ok(None) };
        found.deliveries = deliveries
            .into_iter()
            .map(|d| DeliveryRow { attempts: attempts.iter().filter(|a| a.delivery_id == d.id).cloned().collect(), ..d })
            .collect();
        Ok(Some(found))
    }
}

/// Inserts the rollbacks of a batch inside its transaction; returns the ids created now.
macro_rules! insert_rollbacks {
    ($tx:expr, $now:expr, $rollbacks:expr) => {{
        let mut created = Vec::new();
        for r in $rollbacks {
            let state = $crate::outbox::initial_state(r.mode);
            let inserted = sqlx::query($crate::outbox::INSERT_ROLLBACK)
                .bind(&r.id)
                .bind(&r.service)
                .bind(&r.environment)
                .bind(&r.deployment_id)
                .bind(&r.target_deployment_id)
                .bind(r.mode)
                .bind(state)
                .bind(&r.incident_id)
                .bind(&r.reason)
                .bind(r.report.to_string())
                .bind($now)
                .execute(&mut *$tx)
                .await
                .map_err(StoreError::classify)?
                .rows_affected()
                > 0;
            if inserted {
                if state == "dispatching" {
                    for (index, hook) in r.hooks.iter().enumerate() {
                        sqlx::query($crate::outbox::INSERT_DELIVERY)
                            .bind(&r.id)
                            .bind(hook)
                            .bind($crate::outbox::webhook_id(&r.id, index))
                            .bind($now)
                            .execute(&mut *$tx)
                            .await
                            .map_err(StoreError::classify)?;
                    }
                }
                created.push(r.id.clone());
            }
        }
        created
    }};
}
pub(crate) use insert_rollbacks;
