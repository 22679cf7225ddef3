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

    /// CI runs counted into histogram buckets by the database, so a scrape reads one row per
    /// (pipeline, stage, status, bucket) however many runs are stored. `bounds_ms` are the
    /// buckets' upper bounds in milliseconds, ascending; a value goes in the first bucket whose
    /// bound it does not exceed, and past the last bound in bucket `bounds_ms.len()`. Queue times
    /// count only runs with a queue time that is not negative (a sender's clock skew is not a
    /// wait). Rows come sorted by pipeline.
    ///
    /// # Errors
    /// The database failed.
    pub async fn ci_histogram(&self, timing: CiTiming, bounds_ms: &[i64]) -> Result<Vec<CiBucket>> {
        let (value, filter) = match timing {
            CiTiming::Duration => ("finished_at - started_at", "1 = 1"),
            CiTiming::Queue => ("started_at - queued_at", "queued_at IS NOT NULL AND started_at >= queued_at"),
        };
        let mut bucket = String::from("CASE");
        for (i, bound) in bounds_ms.iter().enumerate() {
            bucket.push_str(&format!(" WHEN v <= {bound} THEN {i}"));
        }
        bucket.push_str(&format!(" ELSE {} END", bounds_ms.len()));
        let sql = format!(
            "SELECT pipeline, stage, status, CAST({bucket} AS BIGINT), COUNT(*), CAST(SUM(v) AS BIGINT) \
             FROM (SELECT pipeline, stage, status, {value} AS v FROM ci_runs WHERE {filter}) AS timed \
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        );
        let rows: Vec<(String, Option<String>, String, i64, i64, i64)> = with_pool!(self, pool => {
            sqlx::QueryBuilder::new(&sql).build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows
            .into_iter()
            .map(|(pipeline, stage, status, bucket, count, sum_ms)| CiBucket { pipeline, stage, status, bucket: usize::try_from(bucket).unwrap_or(0), count, sum_ms })
            .collect())
    }
}

/// Which CI run time [`Store::ci_histogram`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiTiming {
    /// Started to finished.
    Duration,
    /// Queued to started.
    Queue,
}

/// One bucket of CI run times: how many runs of (pipeline, stage, status) fell in it, and the sum
/// of their times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiBucket {
    /// The pipeline.
    pub pipeline: String,
    /// The stage, when known.
    pub stage: Option<String>,
    /// The run's status.
    pub status: String,
    /// The bucket's index (see [`Store::ci_histogram`]).
    pub bucket: usize,
    /// Runs in the bucket.
    pub count: i64,
    /// The sum of their times in milliseconds.
    pub sum_ms: i64,
}
