-- The change log. Every write that changes a deployment, commit, pull request or incident records
-- the facts' keys here, one row a write, under the generation (row 1 of store_generation) it moved
-- the store to, in the same transaction. Generations are bumped at the end of a write while it holds the row's
-- lock, so writes commit in generation order: a reader that sees generation G sees every change
-- up to G. Each replica's analysis advances from here, remaking only the services a change
-- touches, instead of rebuilding from the whole history. CI runs and SLI samples are not logged:
-- the analysis does not read them.
-- One row a write, not one a fact: the row is written while the write holds the generation's
-- lock, so it must cost little (a row a fact took a fifth of PostgreSQL's ingest rate).
CREATE TABLE fact_changes (
    generation  BIGINT NOT NULL,
    keys        TEXT   NOT NULL,  -- JSON: [[kind, key], …], kind one of deployment, commit, pull_request, incident
    recorded_at BIGINT NOT NULL   -- epoch ms
);
CREATE INDEX fact_changes_by_generation ON fact_changes (generation);

-- The log holds every change after this generation. Old entries are deleted (a replica that has
-- been current since keeps up; one that has not rebuilds from the facts), and `pacer recompute`
-- moves it to the generation that replaced every fact.
CREATE TABLE fact_changes_floor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT  NOT NULL
);
INSERT INTO fact_changes_floor (id, generation) SELECT 1, value FROM store_generation WHERE id = 1;

-- An analysis reads one service's deployments at a time.
CREATE INDEX deployments_by_service ON deployments (environment, service, status);
-- ...and its incidents.
CREATE INDEX incidents_by_service ON incidents (environment, service);
