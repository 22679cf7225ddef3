-- pacer's facts and the raw events they were built from (SQLite).
-- Timestamps are INTEGER UTC milliseconds since the Unix epoch throughout.
-- Idempotency is enforced by primary keys and upserts, never by check-then-insert.

-- Every accepted payload, so facts can be rebuilt with `pacer recompute`.
CREATE TABLE raw_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,   -- native, github, gitlab, …
    kind        TEXT    NOT NULL,   -- the fact type
    key         TEXT    NOT NULL,   -- the fact's idempotency key
    fingerprint TEXT    NOT NULL,   -- hash of the normalized fact
    received_at INTEGER NOT NULL,
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
    status_rank INTEGER NOT NULL,  -- a lower rank never overwrites a higher one
    started_at  INTEGER,
    finished_at INTEGER,
    rollback_of TEXT,
    unplanned   INTEGER NOT NULL DEFAULT 0,
    team        TEXT,
    url         TEXT,
    listed_at   INTEGER NOT NULL,   -- finished_at, else started_at, else first receipt: the listing order
    fingerprint TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX deployments_by_environment ON deployments (environment, status, finished_at);
CREATE INDEX deployments_listing ON deployments (environment, listed_at, id);
CREATE INDEX deployments_by_rollback ON deployments (rollback_of);

-- Commits a deployment lists explicitly.
CREATE TABLE deployment_commits (
    deployment_id TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    sha           TEXT    NOT NULL,
    committed_at  INTEGER,
    authored_at   INTEGER,
    PRIMARY KEY (deployment_id, position)
);

CREATE TABLE commits (
    sha          TEXT    PRIMARY KEY,
    committed_at INTEGER NOT NULL,
    repository   TEXT,
    service      TEXT,
    authored_at  INTEGER,
    author       TEXT,
    message      TEXT,
    fingerprint  TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- The commit graph: edges from a commit to its parents, first parent at position 0.
CREATE TABLE commit_parents (
    sha        TEXT    NOT NULL REFERENCES commits (sha) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    parent_sha TEXT    NOT NULL,
    PRIMARY KEY (sha, position)
);

CREATE TABLE pull_requests (
    id               TEXT    PRIMARY KEY,
    repository       TEXT    NOT NULL,
    number           INTEGER NOT NULL,
    opened_at        INTEGER NOT NULL,
    service          TEXT,
    author           TEXT,
    first_commit_at  INTEGER,
    first_review_at  INTEGER,
    approved_at      INTEGER,
    merged_at        INTEGER,
    closed_at        INTEGER,
    merge_commit_sha TEXT,
    additions        INTEGER,
    deletions        INTEGER,
    fingerprint      TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX pull_requests_by_merge_commit ON pull_requests (merge_commit_sha);

CREATE TABLE incidents (
    id            TEXT    PRIMARY KEY,
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    opened_at     INTEGER NOT NULL,
    resolved_at   INTEGER,
    severity      TEXT,
    title         TEXT,
    url           TEXT,
    deployment_id TEXT,
    commit_sha    TEXT,
    status_rank   INTEGER NOT NULL,  -- resolved (1) is never overwritten by open (0)
    fingerprint   TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX incidents_by_environment ON incidents (environment, opened_at);

CREATE TABLE ci_runs (
    id          TEXT    PRIMARY KEY,
    pipeline    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    stage       TEXT,
    repository  TEXT,
    service     TEXT,
    commit_sha  TEXT,
    branch      TEXT,
    queued_at   INTEGER,
    url         TEXT,
    fingerprint TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE sli_samples (
    service     TEXT    NOT NULL,
    environment TEXT    NOT NULL,
    slo         TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    good        INTEGER NOT NULL CHECK (good >= 0),
    total       INTEGER NOT NULL CHECK (total >= good),
    fingerprint TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (service, environment, slo, at)
);

-- Bumped by every write that changes a fact, in the same transaction: readers cache analyses
-- and rebuild them only when the generation moved, on any replica. Row 1 counts every change;
-- row 2 only changes to deployments, commits and pull requests (what changesets depend on), so an
-- incident alone re-attributes failures without walking the commit graph again.
CREATE TABLE store_generation (
    id    INTEGER PRIMARY KEY CHECK (id IN (1, 2)),
    value INTEGER NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 0), (2, 0);
