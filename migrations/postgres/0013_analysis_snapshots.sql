-- The analyses' parts, kept so that a replica's start reads them instead of the whole history.
-- Each environment's snapshot is the analysis some replica held at the generations below: one row
-- of bytes a service (its deployments' columns, changesets and lead-time samples, in the engine's
-- snapshot format), the incidents being read from their own table. A starting replica reads the
-- parts, then advances from the change log after facts_generation, which is kept at least that
-- far back while the snapshot is recent. Written whole, or as the parts changed since the
-- snapshot a replica last wrote or read, in one transaction; a snapshot of another format is
-- not read. Timestamps are BIGINT UTC milliseconds since the Unix epoch.
CREATE TABLE analysis_snapshots (
    environment          TEXT   PRIMARY KEY,
    format               BIGINT NOT NULL, -- the engine's snapshot::FORMAT
    facts_generation     BIGINT NOT NULL, -- the store's generations the parts hold every change of
    structure_generation BIGINT NOT NULL,
    incidents_generation BIGINT NOT NULL,
    written_at           BIGINT NOT NULL
);

CREATE TABLE analysis_snapshot_parts (
    environment TEXT   NOT NULL REFERENCES analysis_snapshots (environment) ON DELETE CASCADE,
    service     TEXT   NOT NULL,
    bytes       BYTEA  NOT NULL,
    PRIMARY KEY (environment, service)
);
-- The bytes are written and read whole: kept out of line uncompressed (a stop that wrote the
-- benchmark's 52 MB snapshot took 5.3 s compressed and 2.0 s uncompressed, BENCHMARKS.md, Live).
ALTER TABLE analysis_snapshot_parts ALTER COLUMN bytes SET STORAGE EXTERNAL;
