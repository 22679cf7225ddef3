//! pacer's settings: defaults < TOML file < `PACER_…` environment variables < command-line flags.
//!
//! Everything is validated at start and every problem is reported at once, each naming the
//! setting and where its value came from, so an operator fixes a file in one pass. Secrets are
//! never printed: [`Settings::describe`] redacts them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use pacer_api::ApiConfig;
use pacer_api::config::{Slo, SloSource};
use pacer_api::config::{Limits, Rate, ReadAccess, Secret, WebhookSecrets};
use pacer_api::config::ReportSettings;
use pacer_api::week::Zone;
use pacer_mail::config::{check_smtp_url, mailbox};
use pacer_mail::{MailConfig, Mailbox, Schedule};
use pacer_collector::Normalizer;
use pacer_collector::sources::{DeploySource, GitHostConfig, RepositoryRule, SourceConfig};
use pacer_engine::levels::Benchmarks;
use pacer_engine::Millis;
use pacer_engine::model::SECOND;
use pacer_engine::rollback::Mode;
use pacer_rollback::config::default_limits;
use pacer_rollback::{Hook, Policy, RollbackConfig};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Every top-level setting: (file key, environment variable, what it is).
pub const SETTINGS: [(&str, &str, &str); 23] = [
    ("listen", "PACER_LISTEN", "address to serve on"),
    ("database_url", "PACER_DATABASE_URL", "sqlite://path or postgres://…"),
    ("api_token", "PACER_API_TOKEN", "bearer token for write endpoints"),
    ("read_token", "PACER_READ_TOKEN", "bearer token for read endpoints"),
    ("read_access", "PACER_READ_ACCESS", "public or token: whether read endpoints need a token"),
    ("attribution_window_secs", "PACER_ATTRIBUTION_WINDOW_SECS", "incident attribution window"),
    ("analysis_wait_ms", "PACER_ANALYSIS_WAIT_MS", "longest a query waits for the analysis to take in the latest writes"),
    ("benchmarks", "PACER_BENCHMARKS", "default DORA report year"),
    ("max_body_bytes", "PACER_MAX_BODY_BYTES", "largest request body"),
    ("environments", "", "environment aliases"),
    ("teams", "", "team → services"),
    ("alerts", "", "alert label names and alert source credentials"),
    ("rollback", "", "rollback policies and hooks"),
    ("slo", "", "service-level objectives"),
    ("slo_interval_secs", "PACER_SLO_INTERVAL_SECS", "how often SLOs are evaluated"),
    ("github", "PACER_GITHUB_SECRET, PACER_GITHUB_INCIDENT_LABEL, PACER_GITHUB_DEPLOY_SOURCE", "GitHub webhooks"),
    ("gitlab", "PACER_GITLAB_TOKEN, PACER_GITLAB_INCIDENT_LABEL, PACER_GITLAB_DEPLOY_SOURCE", "GitLab webhooks"),
    ("cdevents", "PACER_CDEVENTS_TOKEN", "CDEvents webhooks"),
    ("pagerduty", "PACER_PAGERDUTY_SECRET", "PagerDuty webhooks"),
    ("repositories", "", "repository (and path) → service"),
    ("report", "PACER_REPORT_SMTP_URL", "the weekly report email (the variable sets its smtp_url)"),
    ("ci", "", "time budgets of the delivery stages"),
    ("limits", "PACER_LIMITS_<KEY> (each key, upper-case)", "body sizes, JSON depth, batch size, timeouts, rates, heavy queries, future tolerance"),
];

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to serve.
    pub listen: SocketAddr,
    /// The database.
    pub database_url: String,
    /// What the API needs.
    pub api: ApiConfig,
    /// Environment aliases as configured (lower-case name → environment).
    pub environments: BTreeMap<String, String>,
    /// How the weekly report is delivered; `None` when no SMTP server is configured (the
    /// preview and `pacer report --out` still work).
    pub report: Option<Arc<MailConfig>>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database_url: Option<String>,
}

/// The unvalidated layers merged.
#[derive(Debug, Default)]
struct Raw {
    listen: Option<String>,
    database_url: Option<String>,
    api_token: Option<String>,
    read_token: Option<String>,
    read_access: Option<String>,
    attribution_window_secs: Option<i64>,
    analysis_wait_ms: Option<i64>,
    benchmarks: Option<String>,
    max_body_bytes: Option<i64>,
    environments: BTreeMap<String, String>,
    teams: BTreeMap<String, Vec<String>>,
    alerts: AlertsFile,
    rollback: Vec<PolicyFile>,
    slo: Vec<SloFile>,
    slo_interval_secs: Option<i64>,
    github: GitHostFile,
    gitlab: GitHostFile,
    cdevents: CdeventsFile,
    pagerduty: PagerdutyFile,
    repositories: Vec<RepositoryFile>,
    report: ReportFile,
    ci: CiFile,
    limits: LimitsFile,
}

/// `[ci]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CiFile {
    /// `<stage>_secs = <seconds>`: a stage's time budget.
    #[serde(default)]
    budgets: BTreeMap<String, toml::Value>,
}

/// `[limits]`; every key is also `PACER_LIMITS_<KEY>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    webhook_body_bytes: Option<i64>,
    alert_body_bytes: Option<i64>,
    query_body_bytes: Option<i64>,
    json_depth: Option<i64>,
    batch_events: Option<i64>,
    request_timeout_secs: Option<i64>,
    header_timeout_secs: Option<i64>,
    body_timeout_secs: Option<i64>,
    ip_requests_per_sec: Option<f64>,
    ip_burst: Option<i64>,
    token_requests_per_sec: Option<f64>,
    token_burst: Option<i64>,
    heavy_queries: Option<i64>,
    heavy_queue_ms: Option<i64>,
    future_tolerance_secs: Option<i64>,
    forwarded_for: Option<bool>,
}

/// `[report]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportFile {
    schedule: Option<String>,
    timezone: Option<String>,
    from: Option<String>,
    smtp_url: Option<String>,
    recipients: Option<Vec<String>>,
    #[serde(default)]
    teams: BTreeMap<String, Vec<String>>,
    subject: Option<String>,
    base_url: Option<String>,
    grafana_url: Option<String>,
    retry_secs: Option<u64>,
    max_attempts: Option<u32>,
}

/// One `[[slo]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloFile {
    name: String,
    service: String,
    environment: Option<String>,
    objective: f64,
    window_days: Option<f64>,
    min_events: Option<f64>,
    rollback: Option<bool>,
    series: Option<String>,
    prometheus: Option<PrometheusFile>,
}

/// `[slo.prometheus]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusFile {
    url: String,
    total: String,
    good: Option<String>,
    errors: Option<String>,
}

/// `[alerts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsFile {
    service_labels: Option<Vec<String>>,
    environment_labels: Option<Vec<String>>,
    alertmanager_token: Option<String>,
    grafana_secret: Option<String>,
    compare_url: Option<String>,
    max_attempts: Option<u32>,
}

/// One `[[rollback]]` policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    service: Option<String>,
    environment: Option<String>,
    policy: String,
    guard_window_secs: Option<i64>,
    cooldown_secs: Option<i64>,
    max_per_hour: Option<u32>,
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    #[serde(default)]
    hooks: Vec<HookFile>,
}

/// One `[[rollback.hooks]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookFile {
    url: String,
    secret: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout_secs: Option<u64>,
}

/// `[github]` or `[gitlab]`: the secret (GitHub `secret`, GitLab `token`), the incident label and
/// the deploy source.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GitHostFile {
    #[serde(alias = "token")]
    secret: Option<String>,
    incident_label: Option<String>,
    deploy_source: Option<String>,
}

/// `[cdevents]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CdeventsFile {
    token: Option<String>,
}

/// `[pagerduty]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PagerdutyFile {
    secret: Option<String>,
    #[serde(default)]
    services: BTreeMap<String, String>,
}

/// One `[[repositories]]` entry.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryFile {
    repository: String,
    path_prefix: Option<String>,
    service: String,
}

impl Settings {
    /// Loads the file (when given), the environment and the overrides, and validates them.
    ///
    /// # Errors
    /// Every problem found, one line each.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>, overrides: &Overrides) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut raw = Raw::default();
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => read_file(&text, &path.display().to_string(), &mut raw, &mut errors),
                Err(e) => errors.push(format!("{}: cannot read the configuration file: {e}", path.display())),
            }
        }
        read_env(env, &mut raw, &mut errors);
        if overrides.listen.is_some() {
            raw.listen.clone_from(&overrides.listen);
        }
        if overrides.database_url.is_some() {
            raw.database_url.clone_from(&overrides.database_url);
        }
        let settings = validate(raw, &mut errors);
        if errors.is_empty() { Ok(settings) } else { Err(errors) }
    }

    /// A human summary of the effective settings, with secrets redacted.
    pub fn describe(&self) -> String {
        let secret = |s: &Option<String>| if s.is_some() { "(set)" } else { "(not set)" };
        let mut out = format!(
            "listen = {}\ndatabase_url = {}\napi_token = {}\nread_token = {}\nattribution_window_secs = {}\nanalysis_wait_ms = {}\nbenchmarks = {}\nmax_body_bytes = {}\n",
            self.listen,
            pacer_store::redact(&self.database_url),
            secret(&self.api.api_token),
            secret(&self.api.read_token),
            self.api.attribution_window / SECOND,
            self.api.analysis_wait.as_millis(),
            benchmarks_name(self.api.benchmarks),
            self.api.max_body_bytes,
        );
        let read_access = match self.api.read_access {
            ReadAccess::Public => "public",
            ReadAccess::Token => "token",
        };
        out.push_str(&format!("read_access = {read_access}\n"));
        let l = &self.api.limits;
        out.push_str(&format!(
            "limits: bodies webhook {} / alert {} / query {} bytes, json_depth {}, batch_events {}, timeouts request {} s / header {} s / body {} s\n",
            l.webhook_body_bytes,
            l.alert_body_bytes,
            l.query_body_bytes,
            l.json_depth,
            l.batch_events,
            l.request_timeout.as_secs(),
            l.header_timeout.as_secs(),
            l.body_timeout.as_secs(),
        ));
        out.push_str(&format!(
            "limits: per ip {}/s (burst {}), per token {}/s (burst {}), heavy_queries {} (queue {} ms), future_tolerance {} s, forwarded_for {}\n",
            l.ip_rate.per_second,
            l.ip_rate.burst,
            l.token_rate.per_second,
            l.token_rate.burst,
            l.heavy_queries,
            l.heavy_queue.as_millis(),
            l.future_tolerance / SECOND,
            l.forwarded_for,
        ));
        for (alias, environment) in &self.environments {
            out.push_str(&format!("environments.{alias} = {environment}\n"));
        }
        for policy in &self.api.rollback.policies {
            let hooks: Vec<&str> = policy.hooks.iter().map(|h| h.url.as_str()).collect();
            out.push_str(&format!(
                "rollback {}/{} = {} (guard {} s, hooks: {})\n",
                policy.service.as_deref().unwrap_or("*"),
                policy.environment,
                policy.limits.mode.as_str(),
                policy.limits.guard_window / SECOND,
                hooks.join(", "),
            ));
        }
        for slo in &self.api.slos {
            out.push_str(&format!("slo {} = {} {:.4} over {} days\n", slo.name, slo.service, slo.objective, slo.window / 86_400_000));
        }
        for (team, services) in &self.api.teams {
            let list: Vec<&str> = services.iter().map(String::as_str).collect();
            out.push_str(&format!("teams.{team} = [{}]\n", list.join(", ")));
        }
        let (sources, webhooks) = (&self.api.sources, &self.api.webhooks);
        let set = |s: &Option<Secret>| if s.is_some() { "(set)" } else { "(not set)" };
        for (name, host, secret) in [("github", &sources.github, ("secret", &webhooks.github)), ("gitlab", &sources.gitlab, ("token", &webhooks.gitlab))] {
            out.push_str(&format!("{name}.{} = {}\n", secret.0, set(secret.1)));
            out.push_str(&format!("{name}.incident_label = {}\n{name}.deploy_source = {}\n", host.incident_label, host.deploy_source.as_str()));
        }
        out.push_str(&format!("cdevents.token = {}\npagerduty.secret = {}\n", set(&webhooks.cdevents), set(&webhooks.pagerduty)));
        for (pagerduty_service, service) in &sources.pagerduty_services {
            out.push_str(&format!("pagerduty.services.{pagerduty_service:?} = {service}\n"));
        }
        for rule in &sources.repositories {
            let path = rule.path_prefix.as_deref().map(|p| format!(" {p}")).unwrap_or_default();
            out.push_str(&format!("repositories: {}{path} → {}\n", rule.repository, rule.service));
        }
        for (stage, budget) in &self.api.ci_budgets {
            out.push_str(&format!("ci.budgets.{stage}_secs = {}\n", *budget as f64 / SECOND as f64));
        }
        let shown = &self.api.report;
        out.push_str(&format!("report.timezone = {}\nreport.subject = {}\n", shown.zone.name(), shown.subject));
        match &self.report {
            None => out.push_str("report = not sent (no smtp_url)\n"),
            Some(mail) => {
                // The URL's password is the secret here; pacer_store::redact hides it.
                out.push_str(&format!(
                    "report = {} via {} from {}\n",
                    mail.schedule.text(),
                    pacer_store::redact(&mail.smtp_url),
                    mail.from
                ));
                for (team, recipients) in mail.audiences() {
                    let list: Vec<String> = recipients.iter().map(ToString::to_string).collect();
                    out.push_str(&format!("report.recipients[{team}] = [{}]\n", list.join(", ")));
                }
            }
        }
        out
    }
}

fn benchmarks_name(b: Benchmarks) -> &'static str {
    match b {
        Benchmarks::Y2021 => "2021",
        Benchmarks::Y2023 => "2023",
        Benchmarks::Y2024 => "2024",
    }
}

fn read_file(text: &str, origin: &str, raw: &mut Raw, errors: &mut Vec<String>) {
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            errors.push(format!("{origin}: invalid TOML: {}", e.message()));
            return;
        }
    };
    // Each key on its own, so one bad value does not hide the others.
    for (key, value) in table {
        let at = format!("{origin}: {key}");
        match key.as_str() {
            "listen" => raw.listen = field(value, &at, errors),
            "database_url" => raw.database_url = field(value, &at, errors),
            "api_token" => raw.api_token = field(value, &at, errors),
            "read_token" => raw.read_token = field(value, &at, errors),
            "read_access" => raw.read_access = field(value, &at, errors),
            "attribution_window_secs" => raw.attribution_window_secs = field(value, &at, errors),
            "analysis_wait_ms" => raw.analysis_wait_ms = field(value, &at, errors),
            "benchmarks" => raw.benchmarks = match value {
                // `benchmarks = 2024` reads as well as `benchmarks = "2024"`.
                toml::Value::Integer(year) => Some(year.to_string()),
                other => field(other, &at, errors),
            },
            "max_body_bytes" => raw.max_body_bytes = field(value, &at, errors),
            "environments" => raw.environments = field(value, &at, errors).unwrap_or_default(),
            "teams" => raw.teams = field(value, &at, errors).unwrap_or_default(),
            "alerts" => raw.alerts = field(value, &at, errors).unwrap_or_default(),
            "rollback" => raw.rollback = field(value, &at, errors).unwrap_or_default(),
            "slo" => raw.slo = field(value, &at, errors).unwrap_or_default(),
            "slo_interval_secs" => raw.slo_interval_secs = field(value, &at, errors),
            "github" => raw.github = field(value, &at, errors).unwrap_or_default(),
            "gitlab" => raw.gitlab = field(value, &at, errors).unwrap_or_default(),
            "cdevents" => raw.cdevents = field(value, &at, errors).unwrap_or_default(),
            "pagerduty" => raw.pagerduty = field(value, &at, errors).unwrap_or_default(),
            "repositories" => raw.repositories = field(value, &at, errors).unwrap_or_default(),
            "report" => raw.report = field(value, &at, errors).unwrap_or_default(),
            "ci" => raw.ci = field(value, &at, errors).unwrap_or_default(),
            "limits" => raw.limits = field(value, &at, errors).unwrap_or_default(),
            _ => {
                let known: Vec<&str> = SETTINGS.iter().map(|(k, _, _)| *k).collect();
                errors.push(format!("{at}: unknown setting; expected one of {}", known.join(", ")));
            }
        }
    }
}

fn field<T: DeserializeOwned>(value: toml::Value, at: &str, errors: &mut Vec<String>) -> Option<T> {
    match value.try_into() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("{at}: {}", e.to_string().trim()));
            None
        }
    }
}

fn read_env(env: &HashMap<String, String>, raw: &mut Raw, errors: &mut Vec<String>) {
    let text = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
    let mut number = |name: &str| {
        let value = text(name)?;
        value.trim().parse::<i64>().map_err(|_| errors.push(format!("{name}: expected an integer but found {value:?}"))).ok()
    };
    let window = number("PACER_ATTRIBUTION_WINDOW_SECS");
    let wait = number("PACER_ANALYSIS_WAIT_MS");
    let body = number("PACER_MAX_BODY_BYTES");
    let slo_interval = number("PACER_SLO_INTERVAL_SECS");
    raw.slo_interval_secs = slo_interval.or(raw.slo_interval_secs);
    raw.attribution_window_secs = window.or(raw.attribution_window_secs);
    raw.analysis_wait_ms = wait.or(raw.analysis_wait_ms);
    raw.max_body_bytes = body.or(raw.max_body_bytes);
    let l = &mut raw.limits;
    for (name, slot) in [
        ("PACER_LIMITS_WEBHOOK_BODY_BYTES", &mut l.webhook_body_bytes),
        ("PACER_LIMITS_ALERT_BODY_BYTES", &mut l.alert_body_bytes),
        ("PACER_LIMITS_QUERY_BODY_BYTES", &mut l.query_body_bytes),
        ("PACER_LIMITS_JSON_DEPTH", &mut l.json_depth),
        ("PACER_LIMITS_BATCH_EVENTS", &mut l.batch_events),
        ("PACER_LIMITS_REQUEST_TIMEOUT_SECS", &mut l.request_timeout_secs),
        ("PACER_LIMITS_HEADER_TIMEOUT_SECS", &mut l.header_timeout_secs),
        ("PACER_LIMITS_BODY_TIMEOUT_SECS", &mut l.body_timeout_secs),
        ("PACER_LIMITS_IP_BURST", &mut l.ip_burst),
        ("PACER_LIMITS_TOKEN_BURST", &mut l.token_burst),
        ("PACER_LIMITS_HEAVY_QUERIES", &mut l.heavy_queries),
        ("PACER_LIMITS_HEAVY_QUEUE_MS", &mut l.heavy_queue_ms),
        ("PACER_LIMITS_FUTURE_TOLERANCE_SECS", &mut l.future_tolerance_secs),
    ] {
        if let Some(n) = number(name) {
            *slot = Some(n);
        }
    }
    for (name, slot) in [("PACER_LIMITS_IP_REQUESTS_PER_SEC", &mut l.ip_requests_per_sec), ("PACER_LIMITS_TOKEN_REQUESTS_PER_SEC", &mut l.token_requests_per_sec)] {
        if let Some(value) = text(name) {
            match value.trim().parse::<f64>() {
                Ok(rate) => *slot = Some(rate),
                Err(_) => errors.push(format!("{name}: expected a number but found {value:?}")),
            }
        }
    }
    if let Some(value) = text("PACER_LIMITS_FORWARDED_FOR") {
        match value.trim() {
            "true" | "1" => l.forwarded_for = Some(true),
            "false" | "0" => l.forwarded_for = Some(false),
            other => errors.push(format!("PACER_LIMITS_FORWARDED_FOR: expected true or false but found {other:?}")),
        }
    }
    for (name, slot) in [
        ("PACER_LISTEN", &mut raw.listen),
        ("PACER_DATABASE_URL", &mut raw.database_url),
        ("PACER_API_TOKEN", &mut raw.api_token),
        ("PACER_READ_TOKEN", &mut raw.read_token),
        ("PACER_READ_ACCESS", &mut raw.read_access),
        ("PACER_BENCHMARKS", &mut raw.benchmarks),
        ("PACER_ALERTMANAGER_TOKEN", &mut raw.alerts.alertmanager_token),
        ("PACER_GRAFANA_SECRET", &mut raw.alerts.grafana_secret),
        ("PACER_REPORT_SMTP_URL", &mut raw.report.smtp_url),
    ] {
        if let Some(value) = text(name) {
            *slot = Some(value);
        }
    }
    for (name, slot) in [
        ("PACER_GITHUB_SECRET", &mut raw.github.secret),
        ("PACER_GITHUB_INCIDENT_LABEL", &mut raw.github.incident_label),
        ("PACER_GITHUB_DEPLOY_SOURCE", &mut raw.github.deploy_source),
        ("PACER_GITLAB_TOKEN", &mut raw.gitlab.secret),
        ("PACER_GITLAB_INCIDENT_LABEL", &mut raw.gitlab.incident_label),
        ("PACER_GITLAB_DEPLOY_SOURCE", &mut raw.gitlab.deploy_source),
        ("PACER_CDEVENTS_TOKEN", &mut raw.cdevents.token),
        ("PACER_PAGERDUTY_SECRET", &mut raw.pagerduty.secret),
    ] {
        if let Some(value) = text(name) {
            *slot = Some(value);
        }
    }
}

fn validate(mut raw: Raw, errors: &mut Vec<String>) -> Settings {
    let defaults = ApiConfig::default();
    let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        errors.push(format!("listen: expected host:port such as 127.0.0.1:3000 but found {listen_text:?}"));
        SocketAddr::from(([127, 0, 0, 1], 3000))
    });
    let database_url = raw.database_url.unwrap_or_else(|| "sqlite://pacer.db".to_owned());
    if !["sqlite:", "postgres:", "postgresql:"].iter().any(|p| database_url.starts_with(p)) {
        errors.push(format!("database_url: expected sqlite://… or postgres://… but found {:?}", pacer_store::redact(&database_url)));
    }
    for (name, token) in [("api_token", &raw.api_token), ("read_token", &raw.read_token)] {
        if let Some(t) = token
            && (t.trim().len() < 16 || t.chars().any(char::is_whitespace))
        {
            errors.push(format!("{name}: expected at least 16 characters without spaces (the value is not shown)"));
        }
    }
    let window_secs = raw.attribution_window_secs.unwrap_or(defaults.attribution_window / SECOND);
    if !(1..=90 * 86_400).contains(&window_secs) {
        errors.push(format!("attribution_window_secs: expected 1 to 7776000 (90 days) but found {window_secs}"));
    }
    let wait_ms = raw.analysis_wait_ms.unwrap_or(defaults.analysis_wait.as_millis() as i64);
    if !(0..=600_000).contains(&wait_ms) {
        errors.push(format!("analysis_wait_ms: expected 0 to 600000 (10 minutes) but found {wait_ms}"));
    }
    let benchmarks = match raw.benchmarks.as_deref() {
        None => defaults.benchmarks,
        Some(year) => Benchmarks::parse(year).unwrap_or_else(|| {
            errors.push(format!("benchmarks: expected 2021, 2023 or 2024 but found {year:?}"));
            defaults.benchmarks
        }),
    };
    let max_body = raw.max_body_bytes.unwrap_or(defaults.max_body_bytes as i64);
    if !(1_024..=1 << 30).contains(&max_body) {
        errors.push(format!("max_body_bytes: expected 1024 to 1073741824 but found {max_body}"));
    }
    let mut environments = BTreeMap::new();
    for (alias, environment) in raw.environments {
        if environment.trim().is_empty() {
            errors.push(format!("environments.{alias}: expected an environment name but found an empty string"));
        }
        environments.insert(alias.to_lowercase(), environment.trim().to_owned());
    }
    let mut teams: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (team, services) in raw.teams {
        for service in &services {
            if let Some(other) = owner.insert(service.clone(), team.clone()) {
                errors.push(format!("teams.{team}: service {service:?} already belongs to team {other:?}"));
            }
        }
        teams.insert(team, services.into_iter().collect());
    }
    let aliases: HashMap<String, String> = environments.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let normalizer = Normalizer::new(aliases);
    let alertmanager_token = raw.alerts.alertmanager_token.take();
    let rollback = rollback_config(raw.alerts, raw.rollback, &normalizer, errors);
    let slos = slos(raw.slo, &normalizer, errors);
    let (report_settings, report) = report(raw.report, errors);
    let slo_interval = raw.slo_interval_secs.unwrap_or(30);
    if !(1..=3_600).contains(&slo_interval) {
        errors.push(format!("slo_interval_secs: expected 1 to 3600 but found {slo_interval}"));
    }
    let (sources, webhooks) = webhook_settings(raw.github, raw.gitlab, raw.cdevents, raw.pagerduty, raw.repositories, errors);
    let ci_budgets = ci_budgets(raw.ci, defaults.ci_budgets, errors);
    let read_access = match raw.read_access.as_deref() {
        None if raw.read_token.is_some() => ReadAccess::Token,
        None | Some("public") => ReadAccess::Public,
        Some("token") => ReadAccess::Token,
        Some(other) => {
            errors.push(format!("read_access: expected public or token but found {other:?}"));
            ReadAccess::Token
        }
    };
    if read_access == ReadAccess::Public && raw.read_token.is_some() {
        errors.push("read_access: public, but read_token is set; remove read_token or set read_access = \"token\"".to_owned());
    }
    let limits = limits(raw.limits, errors);
    Settings {
        listen,
        database_url,
        environments,
        report,
        api: ApiConfig {
            api_token: raw.api_token,
            read_token: raw.read_token,
            attribution_window: window_secs.clamp(1, 90 * 86_400) * SECOND,
            analysis_wait: std::time::Duration::from_millis(wait_ms.clamp(0, 600_000) as u64),
            benchmarks,
            teams,
            normalizer,
            max_body_bytes: usize::try_from(max_body.clamp(1_024, 1 << 30)).unwrap_or(defaults.max_body_bytes),
            alertmanager_token,
            rollback: Arc::new(rollback),
            slos,
            slo_interval: Duration::from_secs(slo_interval.clamp(1, 3_600) as u64),
            sources,
            webhooks,
            report: report_settings,
            ci_budgets,
            read_access,
            limits,
        },
    }
}

/// `[ci.budgets]`: each `<stage>_secs` sets that stage's budget; stages not named keep their
/// default, and new stages follow the defaults in name order.
fn ci_budgets(file: CiFile, defaults: Vec<(String, Millis)>, errors: &mut Vec<String>) -> Vec<(String, Millis)> {
    let mut budgets = defaults;
    for (key, value) in file.budgets {
        let at = format!("ci.budgets.{key}");
        let Some(stage) = key.strip_suffix("_secs").filter(|s| !s.is_empty()) else {
            errors.push(format!("{at}: expected <stage>_secs, such as pull_request_secs"));
            continue;
        };
        let seconds = match value {
            toml::Value::Integer(n) => n as f64,
            toml::Value::Float(f) => f,
            other => {
                errors.push(format!("{at}: expected a number of seconds but found {}", other.type_str()));
                continue;
            }
        };
        if !(seconds > 0.0 && seconds <= 30.0 * 86_400.0) {
            errors.push(format!("{at}: expected more than 0 and at most 2592000 (30 days) but found {seconds}"));
            continue;
        }
        let millis = (seconds * SECOND as f64).round() as Millis;
        match budgets.iter_mut().find(|(s, _)| s == stage) {
            Some(slot) => slot.1 = millis,
            None => budgets.push((stage.to_owned(), millis)),
        }
    }
    budgets
}

/// `[limits]`: each value within its range, else an error naming the key and the range.
fn limits(f: LimitsFile, errors: &mut Vec<String>) -> Limits {
    let d = Limits::default();
    let mut int = |name: &str, value: Option<i64>, default: i64, range: std::ops::RangeInclusive<i64>| -> i64 {
        let value = value.unwrap_or(default);
        if range.contains(&value) {
            value
        } else {
            errors.push(format!("limits.{name}: expected {} to {} but found {value}", range.start(), range.end()));
            default
        }
    };
    let size = |n: usize| n as i64;
    let bytes = 1_024..=1 << 30;
    let webhook_body_bytes = int("webhook_body_bytes", f.webhook_body_bytes, size(d.webhook_body_bytes), bytes.clone()) as usize;
    let alert_body_bytes = int("alert_body_bytes", f.alert_body_bytes, size(d.alert_body_bytes), bytes.clone()) as usize;
    let query_body_bytes = int("query_body_bytes", f.query_body_bytes, size(d.query_body_bytes), bytes) as usize;
    // serde_json stops at 128 levels by itself; a limit above it would never be reached.
    let json_depth = int("json_depth", f.json_depth, size(d.json_depth), 4..=128) as usize;
    let batch_events = int("batch_events", f.batch_events, size(d.batch_events), 1..=1_000_000) as usize;
    let secs = |s: i64| Duration::from_secs(s as u64);
    let request_timeout = secs(int("request_timeout_secs", f.request_timeout_secs, d.request_timeout.as_secs() as i64, 1..=3_600));
    let header_timeout = secs(int("header_timeout_secs", f.header_timeout_secs, d.header_timeout.as_secs() as i64, 1..=600));
    let body_timeout = secs(int("body_timeout_secs", f.body_timeout_secs, d.body_timeout.as_secs() as i64, 1..=3_600));
    let ip_burst = int("ip_burst", f.ip_burst, i64::from(d.ip_rate.burst), 1..=1_000_000) as u32;
    let token_burst = int("token_burst", f.token_burst, i64::from(d.token_rate.burst), 1..=1_000_000) as u32;
    let heavy_queries = int("heavy_queries", f.heavy_queries, size(d.heavy_queries), 1..=1_024) as usize;
    let heavy_queue = Duration::from_millis(int("heavy_queue_ms", f.heavy_queue_ms, d.heavy_queue.as_millis() as i64, 0..=60_000) as u64);
    let future_tolerance = int("future_tolerance_secs", f.future_tolerance_secs, d.future_tolerance / SECOND, 0..=30 * 86_400) * SECOND;
    let mut rate = |name: &str, value: Option<f64>, default: f64| -> f64 {
        let value = value.unwrap_or(default);
        if value.is_finite() && (0.0..=1e6).contains(&value) {
            value
        } else {
            errors.push(format!("limits.{name}: expected 0 (no limit) to 1000000 but found {value}"));
            default
        }
    };
    let ip_rate = Rate { per_second: rate("ip_requests_per_sec", f.ip_requests_per_sec, d.ip_rate.per_second), burst: ip_burst };
    let token_rate = Rate { per_second: rate("token_requests_per_sec", f.token_requests_per_sec, d.token_rate.per_second), burst: token_burst };
    if body_timeout >= request_timeout {
        errors.push(format!(
            "limits.body_timeout_secs: expected less than request_timeout_secs ({}) but found {}",
            request_timeout.as_secs(),
            body_timeout.as_secs()
        ));
    }
    Limits {
        webhook_body_bytes,
        alert_body_bytes,
        query_body_bytes,
        json_depth,
        batch_events,
        request_timeout,
        header_timeout,
        body_timeout,
        ip_rate,
        token_rate,
        heavy_queries,
        heavy_queue,
        future_tolerance,
        forwarded_for: f.forwarded_for.unwrap_or(d.forwarded_for),
    }
}

/// `[report]`: what shapes the report (for the API) and how it is delivered (for the mailer,
/// only when an SMTP URL is set).
fn report(f: ReportFile, errors: &mut Vec<String>) -> (ReportSettings, Option<Arc<MailConfig>>) {
    let mut settings = ReportSettings::default();
    if let Some(name) = &f.timezone {
        match Zone::parse(name) {
            Ok(zone) => settings.zone = zone,
            Err(e) => errors.push(format!("report.timezone: {e}")),
        }
    }
    if let Some(subject) = f.subject {
        if subject.trim().is_empty() || subject.contains(['\r', '\n']) {
            errors.push("report.subject: expected one line of text, such as \"pacer weekly: {team} {week}\"".to_owned());
        }
        settings.subject = subject;
    }
    for (name, url, slot) in [("base_url", f.base_url, &mut settings.base_url), ("grafana_url", f.grafana_url, &mut settings.grafana_url)] {
        if let Some(url) = url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(format!("report.{name}: expected an http:// or https:// URL but found {url:?}"));
            }
            *slot = Some(url);
        }
    }
    let schedule = Schedule::parse(f.schedule.as_deref().unwrap_or("Mon 09:00")).map_err(|e| errors.push(format!("report.schedule: {e}"))).ok();
    let mut addresses = |at: String, list: Vec<String>| -> Vec<Mailbox> {
        list.iter().filter_map(|text| mailbox(text).map_err(|e| errors.push(format!("{at}: {e}"))).ok()).collect()
    };
    let everyone = addresses("report.recipients".to_owned(), f.recipients.unwrap_or_default());
    let teams: BTreeMap<String, Vec<Mailbox>> = f.teams.into_iter().map(|(team, list)| (team.clone(), addresses(format!("report.teams.{team}"), list))).collect();
    let from = f.from.as_deref().map(|text| mailbox(text).map_err(|e| errors.push(format!("report.from: {e}"))).ok());
    let retry = f.retry_secs.unwrap_or(60);
    if !(1..=3_600).contains(&retry) {
        errors.push(format!("report.retry_secs: expected 1 to 3600 but found {retry}"));
    }
    let max_attempts = f.max_attempts.unwrap_or(20);
    if !(1..=100).contains(&max_attempts) {
        errors.push(format!("report.max_attempts: expected 1 to 100 but found {max_attempts}"));
    }
    let anyone = !everyone.is_empty() || teams.values().any(|r| !r.is_empty());
    let Some(smtp_url) = f.smtp_url else {
        if anyone {
            errors.push("report.smtp_url: expected an SMTP URL (or PACER_REPORT_SMTP_URL) to send the report to its recipients".to_owned());
        }
        return (settings, None);
    };
    if let Err(e) = check_smtp_url(&smtp_url) {
        errors.push(format!("report.smtp_url: {e}"));
    }
    if !anyone {
        errors.push("report: expected recipients or [report.teams] beside smtp_url; nobody would receive the report".to_owned());
    }
    let from = match from {
        Some(from) => from,
        None => {
            errors.push("report.from: expected the sender's address, such as \"pacer <pacer@example.com>\"".to_owned());
            None
        }
    };
    let (Some(schedule), Some(from)) = (schedule, from) else { return (settings, None) };
    let config = MailConfig { schedule, from, smtp_url, everyone, teams, retry: Duration::from_secs(retry.clamp(1, 3_600)), max_attempts: max_attempts.clamp(1, 100) };
    (settings, Some(Arc::new(config)))
}

fn slos(files: Vec<SloFile>, normalizer: &Normalizer, errors: &mut Vec<String>) -> Vec<Slo> {
    let mut names = BTreeSet::new();
    let mut slos = Vec::new();
    for (index, f) in files.into_iter().enumerate() {
        let at = format!("slo[{index}]");
        if !names.insert(f.name.clone()) {
            errors.push(format!("{at}.name: another SLO is already named {:?}", f.name));
        }
        // 99.9 and 0.999 both mean three nines.
        let objective = if f.objective > 1.0 { f.objective / 100.0 } else { f.objective };
        if !(objective > 0.0 && objective < 1.0) {
            errors.push(format!("{at}.objective: expected a percentage below 100 (99.9) or a fraction below 1 (0.999) but found {}", f.objective));
        }
        let days = f.window_days.unwrap_or(30.0);
        if !(1.0..=90.0).contains(&days) {
            errors.push(format!("{at}.window_days: expected 1 to 90 but found {days}"));
        }
        let source = match f.prometheus {
            Some(p) => {
                if f.series.is_some() {
                    errors.push(format!("{at}: expected either series (sli events) or [slo.prometheus], not both"));
                }
                if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                    errors.push(format!("{at}.prometheus.url: expected an http:// or https:// URL but found {:?}", p.url));
                }
                for (name, query) in [("total", Some(&p.total)), ("good", p.good.as_ref()), ("errors", p.errors.as_ref())] {
                    if query.is_some_and(|q| !q.contains("$window")) {
                        errors.push(format!("{at}.prometheus.{name}: expected the query to use $window"));
                    }
                }
                if p.good.is_none() && p.errors.is_none() {
                    errors.push(format!("{at}.prometheus: expected good or errors beside total"));
                }
                SloSource::Prometheus { url: p.url, good: p.good, errors: p.errors, total: p.total }
            }
            None => SloSource::Events { series: f.series.unwrap_or_else(|| "default".to_owned()) },
        };
        slos.push(Slo {
            name: f.name,
            service: f.service,
            environment: normalizer.environment(f.environment.as_deref().unwrap_or("production")),
            objective,
            window: (days * 86_400_000.0) as i64,
            min_events: f.min_events.unwrap_or(10.0).max(0.0),
            rollback: f.rollback.unwrap_or(true),
            source,
        });
    }
    slos
}

fn rollback_config(alerts: AlertsFile, policies: Vec<PolicyFile>, normalizer: &Normalizer, errors: &mut Vec<String>) -> RollbackConfig {
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
    config
}

/// Validates the webhook sections: what the parsers need, and the secrets.
fn webhook_settings(
    github: GitHostFile,
    gitlab: GitHostFile,
    cdevents: CdeventsFile,
    pagerduty: PagerdutyFile,
    repositories: Vec<RepositoryFile>,
    errors: &mut Vec<String>,
) -> (SourceConfig, WebhookSecrets) {
    let mut secret = |name: &str, value: Option<String>| {
        let value = value?;
        if value.trim().is_empty() || value.trim() != value {
            errors.push(format!("{name}: expected a secret without surrounding spaces (the value is not shown)"));
        }
        Some(Secret::new(value))
    };
    let webhooks = WebhookSecrets {
        github: secret("github.secret", github.secret.clone()),
        gitlab: secret("gitlab.token", gitlab.secret.clone()),
        pagerduty: secret("pagerduty.secret", pagerduty.secret),
        cdevents: secret("cdevents.token", cdevents.token),
    };
    let mut host = |name: &str, file: GitHostFile| {
        let defaults = GitHostConfig::default();
        let incident_label = file.incident_label.map_or(defaults.incident_label, |label| {
            if label.trim().is_empty() {
                errors.push(format!("{name}.incident_label: expected a label name but found an empty string"));
            }
            label.trim().to_owned()
        });
        let deploy_source = file.deploy_source.map_or(defaults.deploy_source, |text| {
            DeploySource::parse(&text).unwrap_or_else(|| {
                errors.push(format!("{name}.deploy_source: expected deployments, releases or both but found {text:?}"));
                defaults.deploy_source
            })
        });
        GitHostConfig { incident_label, deploy_source }
    };
    let (github, gitlab) = (host("github", github), host("gitlab", gitlab));
    let mut rules: Vec<RepositoryRule> = Vec::new();
    for (index, entry) in repositories.into_iter().enumerate() {
        let at = format!("repositories[{index}]");
        let repository = entry.repository.trim().trim_matches('/').to_owned();
        if !repository.contains('/') {
            errors.push(format!("{at}.repository: expected owner/name (GitLab: group/project) but found {:?}", entry.repository));
        }
        if entry.service.trim().is_empty() {
            errors.push(format!("{at}.service: expected a service name but found an empty string"));
        }
        let path_prefix = entry.path_prefix.map(|p| p.trim().trim_start_matches('/').to_owned());
        if path_prefix.as_deref() == Some("") {
            errors.push(format!("{at}.path_prefix: expected a path such as services/api/ but found an empty one; leave it out for the whole repository"));
        }
        if rules.iter().any(|r| r.repository.eq_ignore_ascii_case(&repository) && r.path_prefix == path_prefix) {
            errors.push(format!("{at}: {repository:?} with this path_prefix is already mapped"));
        }
        rules.push(RepositoryRule { repository, path_prefix, service: entry.service.trim().to_owned() });
    }
    for (pagerduty_service, service) in &pagerduty.services {
        if service.trim().is_empty() {
            errors.push(format!("pagerduty.services.{pagerduty_service}: expected a service name but found an empty string"));
        }
    }
    let sources = SourceConfig { repositories: rules, github, gitlab, pagerduty_services: pagerduty.services };
    (sources, webhooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, Vec<String>> {
        // One file per call: tests run in parallel, and two configurations may be as long.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pacer-config-{}-{n}", std::process::id()));
        std::fs::write(&dir, toml).expect("write");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let result = Settings::load(Some(&dir), &env, &Overrides::default());
        let _ = std::fs::remove_file(&dir);
        result
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = load("listen = \"nowhere\"\nbenchmarks = 2022\ncolour = 1\nattribution_window_secs = -5\n", &[])
            .expect_err("invalid");
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("colour") && e.contains("unknown setting")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("benchmarks")), "{errors:#?}");
    }

    #[test]
    fn the_environment_overrides_the_file_and_flags_override_both() {
        let dir = std::env::temp_dir().join(format!("pacer-config-layers-{}", std::process::id()));
        std::fs::write(&dir, "listen = \"127.0.0.1:1\"\ndatabase_url = \"sqlite://a.db\"\nbenchmarks = \"2021\"\n").expect("write");
        let env: HashMap<String, String> =
            [("PACER_LISTEN".to_string(), "127.0.0.1:2".to_string()), ("PACER_DATABASE_URL".to_string(), "sqlite://b.db".to_string())].into();
        let flags = Overrides { listen: None, database_url: Some("sqlite://c.db".into()) };
        let s = Settings::load(Some(&dir), &env, &flags).expect("valid");
        let _ = std::fs::remove_file(&dir);
        assert_eq!(s.listen.port(), 2);
        assert_eq!(s.database_url, "sqlite://c.db");
        assert_eq!(s.api.benchmarks, Benchmarks::Y2021);
    }

    #[test]
    fn webhook_sections_report_every_problem_and_never_show_a_secret() {
        let toml = "[github]\nsecret = \"gh-s3cret\"\ndeploy_source = \"tags\"\ncolour = 1\n\
                    [gitlab]\ntoken = \"gl-s3cret\"\nincident_label = \"\"\n\
                    [[repositories]]\nrepository = \"mono\"\nservice = \"api\"\n";
        let errors = load(toml, &[]).expect_err("invalid");
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("github") && e.contains("colour")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("gitlab.incident_label")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("repositories[0].repository")), "{errors:#?}");
        let toml = "[github]\nsecret = \"gh-s3cret\"\ndeploy_source = \"both\"\n[pagerduty]\nsecret = \"pd-s3cret\"\n\
                    services = { \"API Service\" = \"api\" }\n[[repositories]]\nrepository = \"acme/mono\"\n\
                    path_prefix = \"services/api/\"\nservice = \"api\"\n";
        let s = load(toml, &[("PACER_GITLAB_TOKEN", "gl-s3cret"), ("PACER_CDEVENTS_TOKEN", "cd-s3cret")]).expect("valid");
        assert_eq!(s.api.sources.github.deploy_source, DeploySource::Both);
        assert_eq!(s.api.sources.repositories[0].path_prefix.as_deref(), Some("services/api/"));
        assert_eq!(s.api.webhooks.gitlab.as_ref().map(Secret::expose), Some("gl-s3cret"));
        let described = s.describe();
        assert!(!described.contains("s3cret") && !format!("{s:?}").contains("s3cret"), "{described}");
        assert!(described.contains("gitlab.token = (set)") && described.contains("github.deploy_source = both"), "{described}");
    }

    #[test]
    fn every_report_problem_is_reported_at_once_and_the_smtp_password_is_never_described() {
        let errors = load("[report]\ntimezone = \"Mars/Base\"\nschedule = \"sometimes\"\nrecipients = [\"nobody\"]\nbase_url = \"pacer.local\"\n", &[])
            .expect_err("invalid");
        for key in ["report.timezone", "report.schedule", "report.recipients", "report.base_url"] {
            assert!(errors.iter().any(|e| e.starts_with(key)), "{key} missing from {errors:#?}");
        }
        let url = "smtp://ana:s3cret-pw@mail.example.com:587?tls=required";
        let s = load("[report]\nfrom = \"pacer <pacer@example.com>\"\nrecipients = [\"a@example.com\"]\n", &[("PACER_REPORT_SMTP_URL", url)]).expect("valid");
        let described = s.describe();
        assert!(!described.contains("s3cret"), "{described}");
        assert!(described.contains("via smtp://ana:***@mail.example.com:587?tls=required"), "{described}");
        let errors = load("[report]\nrecipients = [\"a@example.com\"]\n", &[("PACER_REPORT_SMTP_URL", url)]).expect_err("no sender");
        assert!(errors.iter().all(|e| !e.contains("s3cret")) && errors.iter().any(|e| e.starts_with("report.from")), "{errors:#?}");
    }

    #[test]
    fn every_limit_out_of_range_is_named_and_the_environment_overrides_the_file() {
        let toml = "[limits]\njson_depth = 500\nbatch_events = 0\nip_requests_per_sec = -1.0\nbody_timeout_secs = 40\ncolour = 1\n";
        let errors = load(toml, &[]).expect_err("invalid");
        assert!(errors.iter().any(|e| e.contains("limits") && e.contains("colour")), "{errors:#?}");
        let s = load("[limits]\nheavy_queries = 2\nfuture_tolerance_secs = 60\n", &[("PACER_LIMITS_HEAVY_QUERIES", "3")]).expect("valid");
        assert_eq!((s.api.limits.heavy_queries, s.api.limits.future_tolerance), (3, 60 * SECOND));
        let errors = load("json_depth = 1\n[limits]\njson_depth = 500\nbatch_events = 0\nip_requests_per_sec = -1.0\nbody_timeout_secs = 40\n", &[]).expect_err("invalid");
        for key in ["limits.json_depth", "limits.batch_events", "limits.ip_requests_per_sec", "limits.body_timeout_secs"] {
            assert!(errors.iter().any(|e| e.starts_with(key)), "{key} missing from {errors:#?}");
        }
    }

    #[test]
    fn a_read_token_makes_reads_need_a_token_unless_that_contradicts_read_access() {
        let token = ("PACER_READ_TOKEN", "read-token-0123456789");
        assert_eq!(load("", &[]).expect("valid").api.read_access, ReadAccess::Public);
        assert_eq!(load("", &[token]).expect("valid").api.read_access, ReadAccess::Token);
        assert_eq!(load("read_access = \"token\"\n", &[]).expect("valid").api.read_access, ReadAccess::Token);
        let errors = load("read_access = \"public\"\n", &[token]).expect_err("contradiction");
        assert!(errors[0].starts_with("read_access"), "{errors:#?}");
        assert!(load("read_access = \"open\"\n", &[]).is_err());
    }

    #[test]
    fn a_service_in_two_teams_is_an_error_and_secrets_are_not_described() {
        let errors = load("[teams]\na = [\"x\"]\nb = [\"x\"]\n", &[]).expect_err("invalid");
        assert!(errors[0].contains("already belongs"), "{errors:?}");
        let s = load("api_token = \"0123456789abcdef-secret\"\n", &[]).expect("valid");
        assert!(!s.describe().contains("0123456789abcdef"));
    }
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "PACER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://path (created if missing) or postgres://user@host/db.
    #[arg(long = "database", env = "PACER_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Loads the settings, printing every problem.
///
/// # Errors
/// The configuration has problems.
pub fn settings(config: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
    let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("PACER_")).collect();
    Settings::load(config, &env, overrides).map_err(|errors| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        anyhow::anyhow!("the configuration has {} problem(s)", errors.len())
    })
}

/// Runs `pacer check-config`: validates the configuration and prints the effective settings.
///
/// # Errors
/// The configuration has problems.
pub fn check(args: CommonArgs) -> anyhow::Result<()> {
    let settings = settings(args.config.as_deref(), &Overrides { listen: None, database_url: args.database_url })?;
    print!("{}", settings.describe());
    println!("configuration ok");
    Ok(())
}
