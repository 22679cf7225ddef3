//! Rollback policies: which alerts may roll back which service and environment, how, and which
//! hooks to call.

use std::collections::BTreeMap;
use std::time::Duration;

use pacer_collector::Normalizer;
use pacer_collector::alerts::{Alert, LabelNames};
use pacer_engine::model::SECOND;
use serde::Deserialize;
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

    /// The first policy for `service` in `environment`, whatever its alert matchers.
    pub fn policy_of(&self, service: &str, environment: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.service.as_deref().is_none_or(|s| s == service) && p.environment == environment)
    }

    /// The guard window for `service` in `environment`: the covering policy's, else the default.
    pub fn guard_window(&self, service: &str, environment: &str, alert: &Alert) -> Millis {
        self.policy(service, environment, alert).map_or(DEFAULT_GUARD_WINDOW, |p| p.limits.guard_window)
    }

    /// The link comparing commit `from` with `to` in `repository`, from `compare_url`.
    pub fn compare(&self, repository: &str, from: &str, to: &str) -> String {
        self.compare_url.replace("{repository}", repository).replace("{from}", from).replace("{to}", to)
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

/// The rollback keys of the configuration file: `[alerts]` and `[[rollback]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackFile {
    /// `[alerts]`.
    #[serde(default)]
    pub alerts: AlertsFile,
    /// `[[rollback]]`.
    #[serde(default)]
    pub rollback: Vec<PolicyFile>,
}

/// `[alerts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    /// Alert labels that name the service, first found wins.
    pub service_labels: Option<Vec<String>>,
    /// Alert labels that name the environment.
    pub environment_labels: Option<Vec<String>>,
    /// The bearer token Alertmanager must send.
    pub alertmanager_token: Option<String>,
    /// The HMAC secret of `X-Grafana-Alerting-Signature`.
    pub grafana_secret: Option<String>,
    /// The link to the changes shipped, with `{repository}`, `{from}` and `{to}`.
    pub compare_url: Option<String>,
    /// Give up on a hook after this many attempts.
    pub max_attempts: Option<u32>,
}

/// One `[[rollback]]` policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The service, or every service when left out.
    pub service: Option<String>,
    /// The environment (default `production`).
    pub environment: Option<String>,
    /// `auto`, `manual`, `dry_run` or `off`.
    pub policy: String,
    /// How long after a deployment an alert is blamed on it.
    pub guard_window_secs: Option<i64>,
    /// The least time between two rollbacks of one service.
    pub cooldown_secs: Option<i64>,
    /// Most rollbacks of one service an hour.
    pub max_per_hour: Option<u32>,
    #[serde(default)]
    /// Labels an alert must carry, with these values.
    pub matchers: BTreeMap<String, String>,
    #[serde(default)]
    /// Hooks to call.
    pub hooks: Vec<HookFile>,
}

/// One `[[rollback.hooks]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookFile {
    /// Where to POST.
    pub url: String,
    /// The Standard Webhooks secret.
    pub secret: Option<String>,
    #[serde(default)]
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// How long to wait for an answer.
    pub timeout_secs: Option<u64>,
}

impl RollbackFile {
    /// Validates `[alerts]` and `[[rollback]]`, adding every problem to `errors`; environments are
    /// named through `normalizer`. Returns the rollback loop's configuration and Alertmanager's
    /// token, which the alert route checks.
    pub fn validate(self, normalizer: &Normalizer, errors: &mut Vec<String>) -> (RollbackConfig, Option<String>) {
        let Self { mut alerts, rollback: policies } = self;
        let alertmanager_token = alerts.alertmanager_token.take();
        let AlertsFile { service_labels, environment_labels, compare_url, max_attempts, grafana_secret, .. } = alerts;
        let mut config = RollbackConfig { grafana_secret, ..RollbackConfig::default() };
        for (name, labels, slot) in [
            ("alerts.service_labels", service_labels, &mut config.labels.service),
            ("alerts.environment_labels", environment_labels, &mut config.labels.environment),
        ] {
            match labels {
                Some(list) if list.is_empty() => errors.push(format!("{name}: expected at least one label name")),
                Some(list) => *slot = list,
                None => {}
            }
        }
        if let Some(url) = compare_url {
            config.compare_url = url;
        }
        if let Some(n) = max_attempts {
            if (1..=100).contains(&n) { config.max_attempts = n } else { errors.push(format!("alerts.max_attempts: expected 1 to 100 but found {n}")) }
        }
        for (index, p) in policies.into_iter().enumerate() {
            let at = format!("rollback[{index}]");
            let mode = match Mode::ALL.iter().find(|(name, _)| *name == p.policy) {
                Some((_, mode)) => *mode,
                None => {
                    errors.push(format!("{at}.policy: expected auto, manual, dry_run or off but found {:?}", p.policy));
                    Mode::Off
                }
            };
            let mut limits = default_limits(mode);
            if let Some(secs) = p.guard_window_secs {
                if (1..=7 * 86_400).contains(&secs) { limits.guard_window = secs * SECOND } else { errors.push(format!("{at}.guard_window_secs: expected 1 to 604800 but found {secs}")) }
            }
            if let Some(secs) = p.cooldown_secs {
                if (0..=7 * 86_400).contains(&secs) { limits.cooldown = secs * SECOND } else { errors.push(format!("{at}.cooldown_secs: expected 0 to 604800 but found {secs}")) }
            }
            if let Some(n) = p.max_per_hour {
                if n >= 1 { limits.max_per_hour = n } else { errors.push(format!("{at}.max_per_hour: expected at least 1 but found 0")) }
            }
            if matches!(mode, Mode::Auto | Mode::Manual) && p.hooks.is_empty() {
                errors.push(format!("{at}.hooks: policy {:?} needs at least one hook", p.policy));
            }
            let mut hooks = Vec::new();
            for (h, hook) in p.hooks.into_iter().enumerate() {
                if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                    errors.push(format!("{at}.hooks[{h}].url: expected an http:// or https:// URL but found {:?}", hook.url));
                }
                let timeout = hook.timeout_secs.unwrap_or(10);
                if !(1..=120).contains(&timeout) {
                    errors.push(format!("{at}.hooks[{h}].timeout_secs: expected 1 to 120 but found {timeout}"));
                }
                hooks.push(Hook { url: hook.url, secret: hook.secret, headers: hook.headers, timeout: Duration::from_secs(timeout.clamp(1, 120)) });
            }
            let environment = normalizer.environment(p.environment.as_deref().unwrap_or("production"));
            config.policies.push(Policy { service: p.service, environment, limits, matchers: p.matchers, hooks });
        }
        (config, alertmanager_token)
    }
}
