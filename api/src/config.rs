//! What the API needs to know from pacer's settings; the binary builds it from the file, the
//! environment and the flags.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use pacer_collector::Normalizer;
use pacer_collector::config::WebhookSecrets;
use pacer_collector::sources::SourceConfig;
use pacer_engine::Millis;
use pacer_engine::burn::Budgeting;
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::{DAY, HOUR, SECOND};
use pacer_rollback::RollbackConfig;

use crate::gate::freeze::Freeze;
use crate::gate::verdict::SloLevel;
use crate::slo::calendar::Calendar;
use crate::week::Zone;

/// The API's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Bearer token required by write endpoints, when set.
    pub api_token: Option<String>,
    /// Bearer token required by read endpoints, when set (the api token is accepted too).
    pub read_token: Option<String>,
    /// How long after a deployment an incident with no named cause is blamed on it.
    pub attribution_window: Millis,
    /// How long a query waits for the analysis to take in writes it has not yet, before it
    /// answers from the analysis as it stands (see `analysis::Analyses::get`).
    pub analysis_wait: std::time::Duration,
    /// How often each analysis is written to the database, so that the next start reads it
    /// instead of the whole history (see `analysis::snapshot`); `None`: never written or read.
    pub analysis_snapshot: Option<std::time::Duration>,
    /// Where the analysis keeps the commits summaries never read — each service's shas,
    /// changesets and shippers — in a file of its own, unlinked at once (see
    /// `pacer_engine::spill`); `None`: in memory.
    pub analysis_spill_dir: Option<std::path::PathBuf>,
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
    /// What the webhook parsers need: repositories → services, incident labels, deploy sources.
    pub sources: SourceConfig,
    /// The secrets webhook senders must prove they know.
    pub webhooks: WebhookSecrets,
    /// What shapes the weekly report: its time zone, subject and links.
    pub report: ReportSettings,
    /// Time budget of each delivery stage, in milliseconds, in the order they are reported.
    pub ci_budgets: Vec<(String, Millis)>,
    /// Whether read endpoints need a token.
    pub read_access: ReadAccess,
    /// Sizes, rates, deadlines and tolerances.
    pub limits: Limits,
    /// The deploy gate's rule and the change freezes.
    pub gate: GateConfig,
}

/// What pacer takes from one request or one client, and how long it waits (`[limits]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest body of a webhook from a source (GitHub, GitLab, CDEvents, PagerDuty).
    pub webhook_body_bytes: usize,
    /// Largest body of an alert (Alertmanager, Grafana).
    pub alert_body_bytes: usize,
    /// Largest body of any other request (Grafana queries, approvals).
    pub query_body_bytes: usize,
    /// Deepest JSON nesting accepted in a body.
    pub json_depth: usize,
    /// Most events in one `POST /api/v1/events`.
    pub batch_events: usize,
    /// Longest time a request may take, body included.
    pub request_timeout: Duration,
    /// Longest time to send the request headers.
    pub header_timeout: Duration,
    /// Longest time to send the request body.
    pub body_timeout: Duration,
    /// Requests per client IP.
    pub ip_rate: Rate,
    /// Requests per token.
    pub token_rate: Rate,
    /// Heavy queries running at once.
    pub heavy_queries: usize,
    /// How long a heavy query waits for a turn before a 503.
    pub heavy_queue: Duration,
    /// How far past now an event's timestamps may be.
    pub future_tolerance: Millis,
    /// Whether the client IP is the last `X-Forwarded-For` address (behind a trusted proxy).
    pub forwarded_for: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            webhook_body_bytes: 5 * 1024 * 1024,
            alert_body_bytes: 1024 * 1024,
            query_body_bytes: 64 * 1024,
            json_depth: 64,
            batch_events: 10_000,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            ip_rate: Rate { per_second: 100.0, burst: 200 },
            token_rate: Rate { per_second: 200.0, burst: 400 },
            heavy_queries: 8,
            heavy_queue: Duration::from_secs(2),
            future_tolerance: HOUR,
            forwarded_for: false,
        }
    }
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
    /// The rolling window; with a `calendar`, its periods' usual length (a month as 30 days).
    pub window: Millis,
    /// The calendar periods the budget counts over instead of the rolling window.
    pub calendar: Option<Calendar>,
    /// How good and total events become an error ratio.
    pub budgeting: Budgeting,
    /// Fewest events in a short window for a burn alert to count.
    pub min_events: f64,
    /// Whether a page-level burn may trigger the rollback flow (per the rollback policy).
    pub rollback: bool,
    /// Who raises its burn alerts.
    pub burn_alerts: BurnAlerts,
    /// Where the counts come from.
    pub source: SloSource,
}

impl Slo {
    /// The budget window at `now`: `[now − window, now)`, or with a calendar from the start of
    /// the current period.
    pub fn budget_window(&self, now: Millis) -> (Millis, Millis) {
        match &self.calendar {
            Some(calendar) => (calendar.period(now).0, now),
            None => (now - self.window, now),
        }
    }
}

/// Who raises an SLO's burn alerts (`burn_alerts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BurnAlerts {
    /// pacer's own evaluator, every `slo_interval` (the default).
    #[default]
    Pacer,
    /// Prometheus, running the rules `pacer slo rules` prints, through Alertmanager: pacer's
    /// evaluator still computes the SLO's state (the page, the gate, chat) but raises no alert of
    /// its own, so one burn is one incident.
    Prometheus,
}

impl BurnAlerts {
    /// Reads `pacer` or `prometheus`.
    ///
    /// # Errors
    /// Any other word, as a message for the key's place.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "pacer" => Ok(Self::Pacer),
            "prometheus" => Ok(Self::Prometheus),
            other => Err(format!("expected pacer or prometheus but found {other:?}")),
        }
    }
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

/// How the deploy gate answers (`[gate]`, `[[freeze]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// Which SLO burn halts.
    pub slo_level: SloLevel,
    /// The change freezes.
    pub freezes: Vec<Freeze>,
    /// The environment of a Flagger canary whose webhook metadata names none.
    pub flagger_environment: String,
    /// The GitHub App that reviews deployment protection rules, when configured.
    pub github: Option<GithubApp>,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self { slo_level: SloLevel::default(), freezes: Vec::new(), flagger_environment: "production".to_owned(), github: None }
    }
}

/// The GitHub App pacer reviews deployments as (`[gate] github_app_id`, `github_private_key_file`).
#[derive(Clone, PartialEq, Eq)]
pub struct GithubApp {
    /// The App's id.
    pub app_id: u64,
    /// The App's private key (PEM).
    pub private_key: Vec<u8>,
    /// GitHub's REST API (`https://api.github.com`, or a GitHub Enterprise Server's `/api/v3`).
    pub api_url: String,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApp").field("app_id", &self.app_id).field("private_key", &"(set)").field("api_url", &self.api_url).finish()
    }
}

impl GithubApp {
    /// Whether `pem` is an RSA private key the App can sign with.
    ///
    /// # Errors
    /// The key's problem, in words.
    pub fn check_key(pem: &[u8]) -> Result<(), String> {
        octocrab::EncodingKey::from_rsa_pem(pem).map(|_| ()).map_err(|e| format!("expected a GitHub App private key (RSA, PEM) but found one that does not read: {e}"))
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            api_token: None,
            read_token: None,
            attribution_window: DAY,
            analysis_wait: std::time::Duration::ZERO,
            analysis_snapshot: Some(std::time::Duration::from_secs(300)),
            analysis_spill_dir: Some(std::env::temp_dir()),
            benchmarks: Benchmarks::default(),
            teams: BTreeMap::new(),
            normalizer: Normalizer::default(),
            max_body_bytes: 10 * 1024 * 1024,
            alertmanager_token: None,
            rollback: Arc::default(),
            slos: Vec::new(),
            slo_interval: std::time::Duration::from_secs(30),
            sources: SourceConfig::default(),
            webhooks: WebhookSecrets::default(),
            report: ReportSettings::default(),
            ci_budgets: default_ci_budgets(),
            read_access: ReadAccess::Public,
            limits: Limits::default(),
            gate: GateConfig::default(),
        }
    }
}

/// The budgets the seed sets for a healthy pipeline: checks before a commit within a second,
/// pull-request tests within ten minutes, deploy after merge within ten seconds.
pub fn default_ci_budgets() -> Vec<(String, Millis)> {
    vec![("pre_commit".to_owned(), SECOND), ("pull_request".to_owned(), 10 * 60 * SECOND), ("deploy".to_owned(), 10 * SECOND)]
}

/// Whether read endpoints need a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAccess {
    /// Anyone may read.
    #[default]
    Public,
    /// Reads need a token with the `read` scope.
    Token,
}

/// A requests-per-second rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second; 0 turns the limit off.
    pub per_second: f64,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// The report's settings that shape its content (delivery settings live with the mailer).
#[derive(Debug, Clone)]
pub struct ReportSettings {
    /// Weeks run from Monday 00:00 to Monday 00:00 here; times in the report are shown here.
    pub zone: Zone,
    /// The subject, with `{team}` and `{week}` replaced.
    pub subject: String,
    /// pacer's public address, for links back to the web page and the JSON (none when unset).
    pub base_url: Option<String>,
    /// Grafana's public address, for a link to the DORA overview dashboard.
    pub grafana_url: Option<String>,
}

/// The subject when none is configured.
pub const DEFAULT_SUBJECT: &str = "pacer weekly: {team} {week}";

impl Default for ReportSettings {
    fn default() -> Self {
        Self { zone: Zone::utc(), subject: DEFAULT_SUBJECT.to_owned(), base_url: None, grafana_url: None }
    }
}
