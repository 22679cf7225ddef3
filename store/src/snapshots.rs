//! Keeps each environment's analysis snapshot: one row of bytes a service, under the
//! generations the parts hold every change of, so that a replica's start reads the parts and
//! advances from the change log instead of reading the whole history.
//!
//! The bytes are the engine's (`pacer_engine::snapshot`); the store neither reads nor checks
//! them. Not for: when a snapshot is written or whether it is used (the api's analyses).

use pacer_engine::Millis;

use crate::{Generations, Result, Store, StoreError, with_pool, with_writer};

/// What a snapshot holds, apart from its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The engine's format of the parts' bytes.
    pub format: u32,
    /// The store's generations whose every change the parts hold.
    pub generations: Generations,
    /// When it was written (epoch ms).
    pub written_at: Millis,
}

/// How much of a snapshot a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotWrite {
    /// Every part: the parts given, and none other.
    Whole,
    /// Only the parts given, and the services removed, over the snapshot stored at this facts
    /// generation; refused when the stored one is any other.
    Over(i64),
}

impl Store {
    /// The snapshot of `environment`'s analysis, when one is stored.
    ///
    /// # Errors
    /// The database failed.
    pub async fn snapshot(&self, environment: &str) -> Result<Option<SnapshotHeader>> {
        const HEADER: &str = "SELECT format, facts_generation, structure_generation, incidents_generation, written_at FROM analysis_snapshots WHERE environment = $1";
        let row: Option<(i64, i64, i64, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(HEADER).bind(environment).fetch_optional(pool).await.map_err(StoreError::classify)?
        });
        Ok(row.map(|(format, facts, structure, incidents, written_at)| SnapshotHeader {
            format: u32::try_from(format).unwrap_or(u32::MAX),
            generations: Generations { facts, structure, incidents },
            written_at,
        }))
    }

    /// Up to `limit` parts of `environment`'s snapshot, by service name after `after`: a whole
    /// snapshot is read a page at a time, so that its bytes are never all in memory at once.
    ///
    /// # Errors
    /// The database failed.
    pub async fn snapshot_parts(&self, environment: &str, after: &str, limit: i64) -> Result<Vec<(String, Vec<u8>)>> {
        const PARTS: &str = "SELECT service, bytes FROM analysis_snapshot_parts WHERE environment = $1 AND service > $2 ORDER BY service LIMIT $3";
        Ok(with_pool!(self, pool => {
            sqlx::query_as(PARTS).bind(environment).bind(after).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        }))
    }

    /// Stores `parts` (service, bytes; made as they are read) as `environment`'s snapshot at
    /// `header`, in one transaction, with `removed` services' parts deleted; `false`, and
    /// nothing written, when the stored snapshot is newer or of a later format, or (for
    /// [`SnapshotWrite::Over`]) not the one the parts were changed from.
    ///
    /// # Errors
    /// The database failed; nothing is written.
    pub async fn write_snapshot<'a>(
        &self,
        environment: &str,
        header: SnapshotHeader,
        write: SnapshotWrite,
        parts: impl Iterator<Item = (&'a str, Vec<u8>)> + Send,
        removed: &[&str],
    ) -> Result<bool> {
        // The header first: its row lock keeps concurrent writers of one environment apart.
        const WHOLE: &str = "INSERT INTO analysis_snapshots (environment, format, facts_generation, structure_generation, incidents_generation, written_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (environment) DO UPDATE SET format = excluded.format, facts_generation = excluded.facts_generation,
                 structure_generation = excluded.structure_generation, incidents_generation = excluded.incidents_generation, written_at = excluded.written_at
             WHERE (analysis_snapshots.format = excluded.format AND analysis_snapshots.facts_generation < excluded.facts_generation)
                OR analysis_snapshots.format < excluded.format";
        const OVER: &str = "UPDATE analysis_snapshots SET facts_generation = $3, structure_generation = $4, incidents_generation = $5, written_at = $6
             WHERE environment = $1 AND format = $2 AND facts_generation = $7 AND facts_generation < $3";
        const CLEAR: &str = "DELETE FROM analysis_snapshot_parts WHERE environment = $1";
        const REMOVE: &str = "DELETE FROM analysis_snapshot_parts WHERE environment = $1 AND service = $2";
        const PART: &str = "INSERT INTO analysis_snapshot_parts (environment, service, bytes) VALUES ($1, $2, $3)
             ON CONFLICT (environment, service) DO UPDATE SET bytes = excluded.bytes";
        let g = header.generations;
        let written = with_writer!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            let (sql, over) = match write {
                SnapshotWrite::Whole => (WHOLE, None),
                SnapshotWrite::Over(generation) => (OVER, Some(generation)),
            };
            let mut claim = sqlx::query(sql).bind(environment).bind(i64::from(header.format)).bind(g.facts).bind(g.structure).bind(g.incidents).bind(header.written_at);
            if let Some(generation) = over {
                claim = claim.bind(generation);
            }
            let claimed = claim.execute(&mut *tx).await.map_err(StoreError::classify)?.rows_affected() == 1;
            if claimed {
                if over.is_none() {
                    sqlx::query(CLEAR).bind(environment).execute(&mut *tx).await.map_err(StoreError::classify)?;
                }
                for service in removed {
                    sqlx::query(REMOVE).bind(environment).bind(*service).execute(&mut *tx).await.map_err(StoreError::classify)?;
                }
                for (service, bytes) in parts {
                    sqlx::query(PART).bind(environment).bind(service).bind(bytes).execute(&mut *tx).await.map_err(StoreError::classify)?;
                }
                tx.commit().await.map_err(StoreError::classify)?;
            }
            claimed
        });
        Ok(written)
    }
}
