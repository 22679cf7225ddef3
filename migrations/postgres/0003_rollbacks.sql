-- Rollbacks: the decision and its outbox, written in the same transaction as the alert's incident.
-- One rollback per (service, environment, deployment), whatever the number of duplicate alerts or
-- replicas: the constraint, not a check, makes it exactly-once.

CREATE TABLE rollbacks (
    id                   TEXT    PRIMARY KEY,   -- derived from (service, environment, deployment)
    service              TEXT    NOT NULL,
    environment          TEXT    NOT NULL,
    deployment_id        TEXT    NOT NULL,      -- the bad deployment
    target_deployment_id TEXT    NOT NULL,      -- the deployment to return to
    mode                 TEXT    NOT NULL CHECK (mode IN ('auto', 'manual', 'dry_run')),
    -- awaiting_approval → dispatching → delivered | failed; dry_run never dispatches
    state                TEXT    NOT NULL CHECK (state IN ('awaiting_approval', 'dispatching', 'delivered', 'failed', 'dry_run')),
    incident_id          TEXT,
    reason               TEXT    NOT NULL,
    report               TEXT    NOT NULL,      -- the hook body, identical on every delivery
    created_at           BIGINT NOT NULL,
    approved_at          BIGINT,
    CONSTRAINT rollbacks_once UNIQUE (service, environment, deployment_id)
);
CREATE INDEX rollbacks_by_service ON rollbacks (service, environment, created_at);

-- One row per (rollback, hook): what the dispatcher delivers, with a stable webhook-id.
CREATE TABLE rollback_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rollback_id     TEXT    NOT NULL REFERENCES rollbacks (id),
    hook_url        TEXT    NOT NULL,
    webhook_id      TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'gone')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,                    -- a dispatcher's lease; expired leases are re-claimed
    delivered_at    BIGINT,
    CONSTRAINT deliveries_once UNIQUE (rollback_id, hook_url)
);
CREATE INDEX deliveries_due ON rollback_deliveries (state, next_attempt_at);

-- Every delivery attempt, for GET /api/v1/rollbacks/{id}.
CREATE TABLE rollback_attempts (
    delivery_id BIGINT NOT NULL REFERENCES rollback_deliveries (id),
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms  BIGINT NOT NULL,
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
