//! What the API needs to know from pacer's settings; the binary builds it from the file, the
//! environment and the flags.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use pacer_collector::Normalizer;
use pacer_collector::sources::SourceConfig;
use pacer_engine::Millis;
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::DAY;

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
    /// What the webhook parsers need: repositories → services, incident labels, deploy sources.
    pub sources: SourceConfig,
    /// The secrets webhook senders must prove they know.
    pub webhooks: WebhookSecrets,
}

/// A secret that `Debug` never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for verification only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Per source, the secret a webhook must prove it knows; a source without one accepts any sender.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// GitHub's webhook secret: `X-Hub-Signature-256` is its HMAC-SHA256 of the body.
    pub github: Option<Secret>,
    /// GitLab's secret token, sent as `X-Gitlab-Token`.
    pub gitlab: Option<Secret>,
    /// PagerDuty's signing secret: `X-PagerDuty-Signature` holds HMAC-SHA256s of the body.
    pub pagerduty: Option<Secret>,
    /// A bearer token CDEvents senders send as `Authorization: Bearer …`.
    pub cdevents: Option<Secret>,
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
            sources: SourceConfig::default(),
            webhooks: WebhookSecrets::default(),
        }
    }
}
