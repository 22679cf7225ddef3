-- Where each `pacer import github` pass over a repository's resource stands, so that an
-- interrupted import (Ctrl-C, a crash, an error) resumes at the page it stopped at, and a later
-- import reads only what changed since the last completed pass (PostgreSQL; times are UTC epoch
-- milliseconds). One row per (repository, resource); the imported objects themselves are stored
-- as webhook deliveries (source github-import), so reading a page again stores nothing twice.
CREATE TABLE import_cursors (
    repository   TEXT NOT NULL,            -- owner/name, lowercase
    resource     TEXT NOT NULL,            -- commits, pulls, deployments, runs, releases
    next_url     TEXT,                     -- the page to read next (a path on the API); NULL when no pass is under way
    stop_before  BIGINT  NOT NULL,         -- the pass under way ends at objects older than this
    newest       BIGINT ,                  -- the newest object time the pass under way has seen
    synced_from  BIGINT ,                  -- the last completed pass covered objects from this time …
    synced_until BIGINT ,                  -- … to this one
    imported     BIGINT  NOT NULL DEFAULT 0, -- objects stored by every pass
    updated_at   BIGINT  NOT NULL,
    CONSTRAINT import_cursors_key PRIMARY KEY (repository, resource)
);
