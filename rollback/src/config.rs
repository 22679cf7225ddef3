//! Rollback policies: which alerts may roll back which service and environment, how, and which
//! hooks to call.

use std::collections::BTreeMap;
use std::time::Duration;

use pacer_collector::alerts::{Alert, LabelNames};
use pacer_engine::Millis;
use pacer_engine::model::MINUTE;
use pacer_engine::rollback::{Limits, Mode};

/// A hook to call with the rollback report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Where to POST.
    pub url: String,
    /// The Standard Webhooks secret (`whsec_<base64>`, or any other string used as the key).
    pub secret: Option<String>,
    /// Extra headers to send.
    pub headers: BTreeMap<String, String>,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

/// A policy for one service (or every service) in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The service, or `None` for every service.
    pub service: Option<String>,
    /// The environment.
    pub environment: String,
    /// What the decision may do.
    pub limits: Limits,
    /// Labels an alert must carry, with these values, to trigger this policy.
    pub matchers: BTreeMap<String, String>,
    /// Hooks to call.
    pub hooks: Vec<Hook>,
}

impl Policy {
    /// Whether this policy covers `alert` for `service` in `environment`.
    pub fn covers(&self, service: &str, environment: &str, alert: &Alert) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
            && self.environment == environment
            && self.matchers.iter().all(|(k, v)| alert.labels.get(k) == Some(v))
    }
}

/// The default guard window: alerts up to 30 minutes after a deployment are blamed on it.
pub const DEFAULT_GUARD_WINDOW: Millis = 30 * MINUTE;

/// Everything the rollback loop is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackConfig {
    /// Which alert labels name the service and environment.
    pub labels: LabelNames,
    /// Policies, first match wins.
    pub policies: Vec<Policy>,
    /// Give up on a hook after this many attempts.
    pub max_attempts: u32,
    /// Link to the changes shipped, with `{repository}`, `{from}` and `{to}` placeholders.
    pub compare_url: String,
    /// A shared secret Grafana signs its notifications with (`X-Grafana-Alerting-Signature`).
    pub grafana_secret: Option<String>,
}

impl Default for RollbackConfig {
    fn default() -> Self {
        Self {
            labels: LabelNames::default(),
            policies: Vec::new(),
            max_attempts: 12,
            compare_url: "https://github.com/{repository}/compare/{from}...{to}".to_owned(),
            grafana_secret: None,
        }
    }
}

impl RollbackConfig {
    /// The first policy covering `alert` for `service` in `environment`.
    pub fn policy(&self, service: &str, environment: &str, alert: &Alert) -> Option<&Policy> {
        self.policies.iter().find(|p| p.covers(service, environment, alert))
    }

    /// The guard window for `service` in `environment`: the covering policy's, else the default.
    pub fn guard_window(&self, service: &str, environment: &str, alert: &Alert) -> Millis {
        self.policy(service, environment, alert).map_or(DEFAULT_GUARD_WINDOW, |p| p.limits.guard_window)
    }

    /// The configured hook with this URL.
    pub fn hook(&self, url: &str) -> Option<&Hook> {
        self.policies.iter().flat_map(|p| &p.hooks).find(|h| h.url == url)
    }
}

/// The default limits of a policy.
pub fn default_limits(mode: Mode) -> Limits {
    Limits { mode, guard_window: DEFAULT_GUARD_WINDOW, cooldown: 10 * MINUTE, max_per_hour: 3 }
}
