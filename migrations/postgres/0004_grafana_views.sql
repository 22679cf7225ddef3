-- Read-only views for Grafana's PostgreSQL datasource (and any SQL tool): timestamps as
-- timestamptz, durations in seconds. Grant SELECT on them to a read-only role; the tables stay
-- pacer's own. Point Grafana at a read replica when the primary is busy.

CREATE VIEW grafana_deployments AS
SELECT to_timestamp(COALESCE(finished_at, started_at, listed_at) / 1000.0) AS time,
       id, service, environment, version, commit_sha, status, rollback_of, unplanned, team, url,
       (finished_at - started_at) / 1000.0 AS duration_seconds
FROM deployments;

CREATE VIEW grafana_incidents AS
SELECT to_timestamp(opened_at / 1000.0) AS time,
       to_timestamp(resolved_at / 1000.0) AS resolved_time,
       id, service, environment, title, severity, deployment_id, commit_sha,
       (resolved_at - opened_at) / 1000.0 AS restore_seconds
FROM incidents;

-- The PR stages pacer can compute from the pull request alone (the deploy stage needs the
-- changesets: GET /api/v1/lead-time/stages).
CREATE VIEW grafana_pr_stages AS
SELECT to_timestamp(merged_at / 1000.0) AS time,
       id, repository, number, service, author, additions, deletions,
       (opened_at - first_commit_at) / 1000.0 AS coding_seconds,
       (first_review_at - opened_at) / 1000.0 AS pickup_seconds,
       (merged_at - first_review_at) / 1000.0 AS review_seconds
FROM pull_requests
WHERE merged_at IS NOT NULL;

CREATE VIEW grafana_rollbacks AS
SELECT to_timestamp(created_at / 1000.0) AS time,
       id, service, environment, deployment_id, target_deployment_id, mode, state, reason
FROM rollbacks;
