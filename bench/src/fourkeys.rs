//! The reference for the query benchmark: the Four Keys approach (dora-team/fourkeys
//! `queries/`) — deployments joined to the changes they list and to incidents, medians with
//! `percentile_cont` over the joined rows — written for PostgreSQL on pacer's tables: one summary
//! of a window, and the same keys per calendar week (`date_trunc('week', …)`, as the Four Keys
//! dashboard groups them).

use pacer_engine::Millis;
use sqlx::PgPool;

const SQL: &str = "WITH d AS (
    SELECT id, finished_at FROM deployments
    WHERE environment = 'production' AND status = 'success'
      AND finished_at >= $1 AND finished_at < $2 AND service = ANY($3)
), lead AS (
    SELECT (d.finished_at - c.committed_at) / 1000.0 AS seconds
    FROM d JOIN deployment_commits dc ON dc.deployment_id = d.id JOIN commits c ON c.sha = dc.sha
), failed AS (
    SELECT d.id FROM d JOIN incidents i ON i.deployment_id = d.id
    UNION SELECT r.rollback_of FROM deployments r JOIN d ON d.id = r.rollback_of
), restore AS (
    SELECT (resolved_at - opened_at) / 1000.0 AS seconds FROM incidents
    WHERE environment = 'production' AND opened_at >= $1 AND opened_at < $2
      AND resolved_at IS NOT NULL AND service = ANY($3)
)
SELECT (SELECT COUNT(*) FROM d),
       (SELECT COUNT(DISTINCT (to_timestamp(finished_at / 1000.0) AT TIME ZONE 'UTC')::date) FROM d),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FROM lead),
       (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) FROM lead),
       (SELECT COUNT(*) FROM failed),
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FROM restore)";

/// Deployments, deploy days, lead-time median and p90, failed deployments, restore median.
pub type Row = (i64, i64, Option<f64>, Option<f64>, i64, Option<f64>);

/// Runs the Four Keys-style summary for `services` over `[from, to)`.
///
/// # Errors
/// The query failed.
pub async fn summary(pool: &PgPool, from: Millis, to: Millis, services: &[String]) -> Result<Row, sqlx::Error> {
    sqlx::query_as(SQL).bind(from).bind(to).bind(services).fetch_one(pool).await
}

const SERIES_SQL: &str = "WITH d AS (
    SELECT id, finished_at, EXTRACT(EPOCH FROM date_trunc('week', to_timestamp(finished_at / 1000.0) AT TIME ZONE 'UTC'))::bigint AS week
    FROM deployments
    WHERE environment = 'production' AND status = 'success'
      AND finished_at >= $1 AND finished_at < $2 AND service = ANY($3)
), lead AS (
    SELECT d.week, (d.finished_at - c.committed_at) / 1000.0 AS seconds
    FROM d JOIN deployment_commits dc ON dc.deployment_id = d.id JOIN commits c ON c.sha = dc.sha
), failed AS (
    SELECT d.week, d.id FROM d JOIN incidents i ON i.deployment_id = d.id
    UNION SELECT d.week, d.id FROM deployments r JOIN d ON d.id = r.rollback_of
), restore AS (
    SELECT EXTRACT(EPOCH FROM date_trunc('week', to_timestamp(opened_at / 1000.0) AT TIME ZONE 'UTC'))::bigint AS week,
           (resolved_at - opened_at) / 1000.0 AS seconds
    FROM incidents
    WHERE environment = 'production' AND opened_at >= $1 AND opened_at < $2
      AND resolved_at IS NOT NULL AND service = ANY($3)
)
SELECT 'deployments'::text, week, COUNT(*)::float8 FROM d GROUP BY week
UNION ALL SELECT 'lead_time_p50', week, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FROM lead GROUP BY week
UNION ALL SELECT 'failed', week, COUNT(*)::float8 FROM failed GROUP BY week
UNION ALL SELECT 'restore_p50', week, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) FROM restore GROUP BY week";

/// One point of the weekly series: (key, week start in epoch seconds, value).
pub type Point = (String, i64, Option<f64>);

/// Runs the Four Keys-style weekly series for `services` over `[from, to)`.
///
/// # Errors
/// The query failed.
pub async fn series(pool: &PgPool, from: Millis, to: Millis, services: &[String]) -> Result<Vec<Point>, sqlx::Error> {
    sqlx::query_as(SERIES_SQL).bind(from).bind(to).bind(services).fetch_all(pool).await
}
