-- pacer's facts and the raw events they were built from (PostgreSQL).
-- Timestamps are BIGINT UTC milliseconds since the Unix epoch throughout.
-- Idempotency is enforced by primary keys and upserts, never by check-then-insert.

-- Every accepted payload, so facts can be rebuilt with `pacer recompute`.
CREATE TABLE raw_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      TEXT    NOT NULL,   -- native, github, gitlab, …
    kind        TEXT    NOT NULL,   -- the fact type
    key         TEXT    NOT NULL,   -- the fact's idempotency key
    fingerprint TEXT    NOT NULL,   -- hash of the normalized fact
    received_at BIGINT NOT NULL,
    payload     TEXT    NOT NULL,
    CONSTRAINT raw_events_unique UNIQUE (source, kind, key, fingerprint)
);

CREATE TABLE deployments (
    id          TEXT    PRIMARY KEY,
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    version     TEXT,
    commit_sha  TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('in_progress', 'success', 'failure', 'cancelled')),
    status_rank BIGINT NOT NULL,  -- a lower rank never overwrites a higher one
    started_at  BIGINT,
    finished_at BIGINT,
    rollback_of TEXT,
    unplanned   BOOLEAN NOT NULL DEFAULT FALSE,
    team        TEXT,
    url         TEXT,
    listed_at   BIGINT NOT NULL,   -- finished_at, else started_at, else first receipt: the listing order
    fingerprint TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX deployments_by_environment ON deployments (environment, status, finished_at);
CREATE INDEX deployments_listing ON deployments (environment, listed_at, id);
CREATE INDEX deployments_by_rollback ON deployments (rollback_of);

-- Commits a deployment lists explicitly.
CREATE TABLE deployment_commits (
    deployment_id TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    sha           TEXT    NOT NULL,
    committed_at  BIGINT,
    authored_at   BIGINT,
    PRIMARY KEY (deployment_id, position)
);

CREATE TABLE commits (
    sha          TEXT    PRIMARY KEY,
    committed_at BIGINT NOT NULL,
    repository   TEXT,
    service      TEXT,
    authored_at  BIGINT,
    author       TEXT,
    message      TEXT,
    fingerprint  TEXT    NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- The commit graph: edges from a commit to its parents, first parent at position 0.
CREATE TABLE commit_parents (
    sha        TEXT    NOT NULL REFERENCES commits (sha) ON DELETE CASCADE,
    position   BIGINT NOT NULL,
    parent_sha TEXT    NOT NULL,
    PRIMARY KEY (sha, position)
);

CREATE TABLE pull_requests (
    id               TEXT    PRIMARY KEY,
    repository       TEXT    NOT NULL,
    number           BIGINT NOT NULL,
    opened_at        BIGINT NOT NULL,
    service          TEXT,
    author           TEXT,
    first_commit_at  BIGINT,
    first_review_at  BIGINT,
    approved_at      BIGINT,
    merged_at        BIGINT,
    closed_at        BIGINT,
    merge_commit_sha TEXT,
    additions        BIGINT,
    deletions        BIGINT,
    fingerprint      TEXT    NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX pull_requests_by_merge_commit ON pull_requests (merge_commit_sha);

CREATE TABLE incidents (
    id            TEXT    PRIMARY KEY,
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    opened_at     BIGINT NOT NULL,
    resolved_at   BIGINT,
    severity      TEXT,
    title         TEXT,
    url           TEXT,
    deployment_id TEXT,
    commit_sha    TEXT,
    status_rank   BIGINT NOT NULL,  -- resolved (1) is never overwritten by open (0)
    fingerprint   TEXT    NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX incidents_by_environment ON incidents (environment, opened_at);

CREATE TABLE ci_runs (
    id          TEXT    PRIMARY KEY,
    pipeline    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    stage       TEXT,
    repository  TEXT,
    service     TEXT,
    commit_sha  TEXT,
    branch      TEXT,
    queued_at   BIGINT,
    url         TEXT,
    fingerprint TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE sli_samples (
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    slo         TEXT    NOT NULL,
    at          BIGINT NOT NULL,
    good        BIGINT NOT NULL CHECK (good >= 0),
    total       BIGINT NOT NULL CHECK (total >= good),
    fingerprint TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (service, environment, slo, at)
);

-- Bumped by every write that changes a fact, in the same transaction: readers cache analyses
-- and rebuild them only when the generation moved, on any replica. Row 1 counts every change;
-- row 2 only changes to deployments, commits and pull requests (what changesets depend on), so an
-- incident alone re-attributes failures without walking the commit graph again.
CREATE TABLE store_generation (
    id    INTEGER PRIMARY KEY CHECK (id IN (1, 2)),
    value BIGINT NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 0), (2, 0);
