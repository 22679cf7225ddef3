//! Aggregates for `/metrics`: how many facts of each kind are stored, by their bounded labels.

use crate::{Result, Store, StoreError, with_pool};

/// Rows of (labels…, count).
pub type Counted3 = Vec<(String, String, String, i64)>;

impl Store {
    /// Deployments by (service, environment, status).
    ///
    /// # Errors
    /// The database failed.
    pub async fn deployment_counts(&self) -> Result<Counted3> {
        const SQL: &str = "SELECT service, environment, status, COUNT(*) FROM deployments GROUP BY service, environment, status";
        let rows: Counted3 = with_pool!(self, pool => {
            sqlx::query_as(SQL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// Rollbacks by (service, environment, state).
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollback_counts(&self) -> Result<Counted3> {
        const SQL: &str = "SELECT service, environment, state, COUNT(*) FROM rollbacks GROUP BY service, environment, state";
        let rows: Counted3 = with_pool!(self, pool => {
            sqlx::query_as(SQL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// Hook deliveries not yet delivered nor given up.
    ///
    /// # Errors
    /// The database failed.
    pub async fn outbox_depth(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM rollback_deliveries WHERE state = 'pending'";
        let depth: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(SQL).fetch_one(pool).await.map_err(StoreError::classify)?
        });
        Ok(depth)
    }

    /// Duration and queue time (when known) in milliseconds of every CI run, with (pipeline,
    /// stage, status).
    ///
    /// # Errors
    /// The database failed.
    pub async fn ci_durations(&self) -> Result<Vec<CiTiming>> {
        const SQL: &str = "SELECT pipeline, stage, status, finished_at - started_at, started_at - queued_at FROM ci_runs";
        let rows: Vec<CiTiming> = with_pool!(self, pool => {
            sqlx::query_as(SQL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }
}

/// A CI run's (pipeline, stage, status, duration ms, queue ms).
pub type CiTiming = (String, Option<String>, String, i64, Option<i64>);
