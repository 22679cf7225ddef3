//! A cache of engine analyses, one per environment, rebuilt when the store's generation moves.
//!
//! Metrics are always computed from the stored facts, so data that arrives late counts at once;
//! the cache only avoids rebuilding when nothing changed. The generation is read from the
//! database on every request, so a write through any replica invalidates every replica's cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pacer_engine::Millis;
use pacer_engine::dora::Analysis;
use pacer_store::Store;

use crate::problem::Problem;

/// Analyses by environment.
#[derive(Debug, Default)]
pub struct Analyses {
    cached: Mutex<HashMap<String, (i64, Arc<Analysis>)>>,
    /// One build at a time: concurrent readers of a stale analysis wait for one rebuild.
    building: tokio::sync::Mutex<()>,
}

impl Analyses {
    /// The analysis of `environment` as of the store's current generation.
    ///
    /// # Errors
    /// The database failed.
    pub async fn get(&self, store: &Store, environment: &str, attribution_window: Millis) -> Result<Arc<Analysis>, Problem> {
        let generation = store.generation().await?;
        if let Some(fresh) = self.fresh(environment, generation) {
            return Ok(fresh);
        }
        let _building = self.building.lock().await;
        let generation = store.generation().await?;
        if let Some(fresh) = self.fresh(environment, generation) {
            return Ok(fresh);
        }
        // Facts read after the generation: at worst newer than it, so the next request rebuilds.
        let history = store.history(environment).await?;
        let analysis = tokio::task::spawn_blocking(move || Analysis::build(history, attribution_window))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "analysis failed");
                Problem::internal()
            })?;
        let analysis = Arc::new(analysis);
        if let Ok(mut cached) = self.cached.lock() {
            cached.insert(environment.to_owned(), (generation, Arc::clone(&analysis)));
        }
        Ok(analysis)
    }

    fn fresh(&self, environment: &str, generation: i64) -> Option<Arc<Analysis>> {
        let cached = self.cached.lock().ok()?;
        cached.get(environment).filter(|(g, _)| *g == generation).map(|(_, a)| Arc::clone(a))
    }
}
