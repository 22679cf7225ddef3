//! What every handler and background task shares: the [`AppState`], and the clock.

use std::sync::Arc;

use pacer_store::Store;

use crate::config::ApiConfig;
use crate::analysis;
use crate::limits;
use crate::telemetry;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The configuration.
    pub config: Arc<ApiConfig>,
    /// Cached analyses.
    pub analyses: Arc<analysis::Analyses>,
    /// Notified when a rollback is stored, so the dispatcher delivers it at once.
    pub wake: Arc<tokio::sync::Notify>,
    /// pacer's own metrics.
    pub telemetry: telemetry::Shared,
    /// Rate buckets and the heavy-query pool.
    pub guard: Arc<limits::Guard>,
    /// The traces that decided recent rollbacks, for the dispatcher's deliveries to continue.
    pub origins: Arc<pacer_rollback::trace::Origins>,
}

impl AppState {
    /// State over a store with a configuration.
    pub fn new(store: Store, config: ApiConfig) -> Self {
        let guard = Arc::new(limits::Guard::new(&config.limits));
        // One file a process, named before the first analysis keeps anything in it.
        pacer_engine::spill::configure(config.analysis_spill_dir.clone());
        Self {
            store,
            analyses: Arc::new(analysis::Analyses::new(config.analysis_snapshot)),
            config: Arc::new(config),
            wake: Arc::default(),
            telemetry: Arc::default(),
            guard,
            origins: Arc::default(),
        }
    }
}
