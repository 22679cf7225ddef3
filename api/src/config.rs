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
    /// Service-level objectives.
    pub slos: Vec<Slo>,
    /// How often SLOs are evaluated for burn alerts.
    pub slo_interval: std::time::Duration,
    /// What shapes the weekly report: its time zone, subject and links.
    pub report: crate::report::ReportSettings,
}

/// A service-level objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Its name, unique.
    pub name: String,
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The objective as a fraction (0.999 for 99.9 %).
    pub objective: f64,
    /// The rolling window.
    pub window: Millis,
    /// Fewest events in a short window for a burn alert to count.
    pub min_events: f64,
    /// Whether a page-level burn may trigger the rollback flow (per the rollback policy).
    pub rollback: bool,
    /// Where the counts come from.
    pub source: SloSource,
}

/// Where an SLO's good and total counts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloSource {
    /// `sli` events of this series (`slo` field).
    Events {
        /// The series name.
        series: String,
    },
    /// A Prometheus server; queries use `$window` for the window (`300s`).
    Prometheus {
        /// The server's base URL.
        url: String,
        /// Good events in `$window`.
        good: Option<String>,
        /// Bad events in `$window` (when `good` is not given).
        errors: Option<String>,
        /// All events in `$window`.
        total: String,
    },
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
            slos: Vec::new(),
            slo_interval: std::time::Duration::from_secs(30),
            report: crate::report::ReportSettings::default(),
        }
    }
}
