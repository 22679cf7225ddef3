//! What the API needs to know from pacer's settings; the binary builds it from the file, the
//! environment and the flags.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pacer_collector::Normalizer;
use pacer_engine::Millis;
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::DAY;
use pacer_rollback::RollbackConfig;

/// The API's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Bearer token required by write endpoints, when set.
    pub api_token: Option<String>,
    /// Bearer token required by read endpoints, when set (the api token is accepted too).
    pub read_token: Option<String>,
    /// How long after a deployment an incident with no named cause is blamed on it.
    pub attribution_window: Millis,
    /// The default benchmark year.
    pub benchmarks: Benchmarks,
    /// Team → the services it owns.
    pub teams: BTreeMap<String, BTreeSet<String>>,
    /// Environment names senders use → pacer's environments.
    pub normalizer: Normalizer,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Bearer token Alertmanager must send, when set.
    pub alertmanager_token: Option<String>,
    /// Rollback policies, hooks and alert label names.
    pub rollback: Arc<RollbackConfig>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            api_token: None,
            read_token: None,
            attribution_window: DAY,
            benchmarks: Benchmarks::default(),
            teams: BTreeMap::new(),
            normalizer: Normalizer::default(),
            max_body_bytes: 10 * 1024 * 1024,
            alertmanager_token: None,
            rollback: Arc::default(),
        }
    }
}
