-- The deploy gate's answers: every time a rollout asked whether it may take its next step
-- (GET /api/v1/gate, Argo Rollouts' web metric, Flagger's webhooks, GitHub's deployment
-- protection rules), who asked, what pacer answered and why. Kept for GET /api/v1/gates and the
-- page, and read back by rollout: a rollout's first question is when it started, for the alerts
-- counted against it. Timestamps are BIGINT UTC milliseconds since the Unix epoch.

CREATE TABLE gate_answers (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asked_at      BIGINT NOT NULL,
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    deployment_id TEXT,             -- the deployment the rollout named, when it named one
    rollout       TEXT,             -- the asker's key of one rollout (Flagger: namespace/name@checksum)
    asker         TEXT    NOT NULL, -- api, argo-rollouts, flagger:<hook type>, github
    proceed       BOOLEAN NOT NULL,
    reasons       TEXT    NOT NULL  -- JSON array of {kind, blocking, detail, subject, url}
);
CREATE INDEX gate_answers_by_service ON gate_answers (service, environment, asked_at);
CREATE INDEX gate_answers_by_rollout ON gate_answers (rollout, asked_at) WHERE rollout IS NOT NULL;
