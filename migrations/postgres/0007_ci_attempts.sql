-- (PostgreSQL)
-- CI timings (docs/metrics.md, "CI pipelines"): a run's attempt number, so re-runs count as
-- retries even when the first attempt never reached pacer, and an index on the finish time, by
-- which the CI metrics load the runs of a window.
ALTER TABLE ci_runs ADD COLUMN attempt BIGINT CHECK (attempt IS NULL OR attempt >= 1);
CREATE INDEX ci_runs_by_finish ON ci_runs (finished_at);
