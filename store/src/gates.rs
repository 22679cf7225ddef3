//! The deploy gate's answers: each question a rollout asked, and what pacer answered, kept for the
//! gate's history (`GET /api/v1/gates`, the page) and read back by rollout, whose first question
//! marks when it started. What the gate decides is the API's business; the store keeps its
//! answers as given (the reasons as a JSON array).

use pacer_engine::Millis;

use crate::listing::push_services;
use crate::{Result, Store, StoreError, with_pool};

/// An answer to store.
#[derive(Debug, Clone)]
pub struct NewGateAnswer<'a> {
    /// When it was asked.
    pub asked_at: Millis,
    /// The service.
    pub service: &'a str,
    /// The environment.
    pub environment: &'a str,
    /// The deployment the asker named.
    pub deployment_id: Option<&'a str>,
    /// The asker's key of one rollout.
    pub rollout: Option<&'a str>,
    /// Who asked: `api`, `argo-rollouts`, `flagger:<hook type>`, `github`.
    pub asker: &'a str,
    /// Whether the rollout may proceed.
    pub proceed: bool,
    /// The reasons, a JSON array.
    pub reasons: &'a str,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GateAnswerRow {
    /// Its id, increasing.
    pub id: i64,
    /// When it was asked (epoch ms).
    pub asked_at: Millis,
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The deployment the asker named.
    pub deployment_id: Option<String>,
    /// The asker's key of one rollout.
    pub rollout: Option<String>,
    /// Who asked.
    pub asker: String,
    /// Whether the rollout may proceed.
    pub proceed: bool,
    /// The reasons, a JSON array.
    pub reasons: String,
}

/// Which answers to list.
#[derive(Debug, Clone, Default)]
pub struct GateQuery {
    /// Only these services' (none when empty).
    pub services: Option<Vec<String>>,
    /// Only this environment's.
    pub environment: Option<String>,
    /// Only answers with an id below this (the next page).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

impl Store {
    /// Stores one answer and returns its id.
    ///
    /// # Errors
    /// The database failed; nothing is stored.
    pub async fn record_gate_answer(&self, answer: &NewGateAnswer<'_>) -> Result<i64> {
        const SQL: &str = "INSERT INTO gate_answers (asked_at, service, environment, deployment_id, rollout, asker, proceed, reasons)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let id: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(SQL)
                .bind(answer.asked_at)
                .bind(answer.service)
                .bind(answer.environment)
                .bind(answer.deployment_id)
                .bind(answer.rollout)
                .bind(answer.asker)
                .bind(answer.proceed)
                .bind(answer.reasons)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)?
        });
        Ok(id)
    }

    /// Answers newest first, filtered by `query`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn gate_answers(&self, query: &GateQuery) -> Result<Vec<GateAnswerRow>> {
        let rows = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(
                "SELECT id, asked_at, service, environment, deployment_id, rollout, asker, proceed, reasons FROM gate_answers WHERE 1 = 1",
            );
            push_services(&mut sql, query.services.as_deref());
            if let Some(environment) = &query.environment {
                sql.push(" AND environment = ").push_bind(environment.clone());
            }
            if let Some(before) = query.before {
                sql.push(" AND id < ").push_bind(before);
            }
            sql.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit);
            sql.build_query_as::<GateAnswerRow>().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// The first `limit` answers given for `service` in `environment` in `[from, to)`, oldest
    /// first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn gate_answers_between(&self, service: &str, environment: &str, from: Millis, to: Millis, limit: i64) -> Result<Vec<GateAnswerRow>> {
        const SQL: &str = "SELECT id, asked_at, service, environment, deployment_id, rollout, asker, proceed, reasons
             FROM gate_answers WHERE service = $1 AND environment = $2 AND asked_at >= $3 AND asked_at < $4
             ORDER BY asked_at, id LIMIT $5";
        let rows = with_pool!(self, pool => {
            sqlx::query_as::<_, GateAnswerRow>(SQL)
                .bind(service)
                .bind(environment)
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// When `rollout` first asked the gate, if it has.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollout_started(&self, rollout: &str) -> Result<Option<Millis>> {
        const SQL: &str = "SELECT MIN(asked_at) FROM gate_answers WHERE rollout = $1";
        let first: Option<Millis> = with_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(rollout).fetch_one(pool).await.map_err(StoreError::classify)?
        });
        Ok(first)
    }
}
