-- Row 3 of store_generation counts changes to incidents alone. CI runs and SLI samples move row 1
-- but not the analysis (deployments, commits, pull requests: row 2; incidents: row 3), so a busy
-- CI no longer makes every DORA query re-attribute failures. SQLite cannot alter a CHECK
-- constraint, so the table is rebuilt.
CREATE TABLE store_generation_next (
    id    INTEGER PRIMARY KEY CHECK (id IN (1, 2, 3)),
    value INTEGER NOT NULL
);
INSERT INTO store_generation_next (id, value) SELECT id, value FROM store_generation;
INSERT INTO store_generation_next (id, value) SELECT 3, value FROM store_generation WHERE id = 1;
DROP TABLE store_generation;
ALTER TABLE store_generation_next RENAME TO store_generation;
