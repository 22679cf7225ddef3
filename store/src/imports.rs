//! Cursors of `pacer import github`: where each pass over a repository's resource stands.
//!
//! The importer saves the cursor after every page it stored, so an interrupted import resumes at
//! the page it stopped at; a completed pass records the period it covered, so the next import
//! reads only what changed since. This module only keeps the rows; the importer decides what a
//! page and a pass are.

use pacer_engine::Millis;

use crate::{Result, Store, StoreError, with_pool};

/// Where the import of one resource of one repository stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportCursor {
    /// The page to read next; `None` when no pass is under way.
    pub next_url: Option<String>,
    /// The pass under way ends at objects older than this (epoch ms).
    pub stop_before: Millis,
    /// The newest object time the pass under way has seen.
    pub newest: Option<Millis>,
    /// The last completed pass covered objects from this time …
    pub synced_from: Option<Millis>,
    /// … to this one.
    pub synced_until: Option<Millis>,
    /// Objects stored by every pass.
    pub imported: i64,
}

impl Store {
    /// The cursor of `resource` of `repository` (compared case-insensitively), if an import ever
    /// started it.
    ///
    /// # Errors
    /// The database failed.
    pub async fn import_cursor(&self, repository: &str, resource: &str) -> Result<Option<ImportCursor>> {
        const SQL: &str = "SELECT next_url, stop_before, newest, synced_from, synced_until, imported
             FROM import_cursors WHERE repository = $1 AND resource = $2";
        let repository = repository.to_ascii_lowercase();
        let row = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(&repository).bind(resource).fetch_optional(pool).await.map_err(StoreError::classify)?
        });
        Ok(row)
    }

    /// Saves the cursor of `resource` of `repository`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn save_import_cursor(&self, repository: &str, resource: &str, cursor: &ImportCursor, now: Millis) -> Result<()> {
        const SQL: &str = "INSERT INTO import_cursors
             (repository, resource, next_url, stop_before, newest, synced_from, synced_until, imported, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (repository, resource) DO UPDATE SET next_url = excluded.next_url,
                 stop_before = excluded.stop_before, newest = excluded.newest, synced_from = excluded.synced_from,
                 synced_until = excluded.synced_until, imported = excluded.imported, updated_at = excluded.updated_at";
        let repository = repository.to_ascii_lowercase();
        with_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(&repository)
                .bind(resource)
                .bind(&cursor.next_url)
                .bind(cursor.stop_before)
                .bind(cursor.newest)
                .bind(cursor.synced_from)
                .bind(cursor.synced_until)
                .bind(cursor.imported)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?;
        });
        Ok(())
    }
}
