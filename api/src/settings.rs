//! The API's keys of pacer's configuration file — the tokens and read access, the attribution
//! window, the benchmark year, environments and teams, `[[slo]]`, `[[openslo]]`, `[ci]` and `[limits]` — as the
//! file spells them, and their validation into an [`ApiConfig`]. The binary layers the file, the
//! environment and the flags over them, and hands the API what the other parts' sections give
//! (rollback policies, webhook sources, the report's settings).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use pacer_collector::Normalizer;
use pacer_engine::Millis;
use pacer_engine::burn::Budgeting;
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::SECOND;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::config::{ApiConfig, BurnAlerts, GateConfig, GithubApp, Limits, Rate, ReadAccess, Slo, SloSource};
use crate::gate::freeze::{Freeze, Window, parse_week_time};
use crate::gate::verdict::SloLevel;
use crate::slo::calendar::{Calendar, Every};
use crate::week::Zone;

/// The API's keys of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// A static token with every scope.
    pub api_token: Option<String>,
    /// A static token with the `read` scope.
    pub read_token: Option<String>,
    /// `public` or `token`.
    pub read_access: Option<String>,
    /// How long after a deployment an incident with no named cause is blamed on it.
    pub attribution_window_secs: Option<i64>,
    /// Longest a query waits for the analysis to take in the latest writes.
    pub analysis_wait_ms: Option<i64>,
    /// How often the analysis is written to the database for the next start; 0: never.
    pub analysis_snapshot_secs: Option<i64>,
    /// Directory of the file the analysis keeps its commits in; empty: in memory.
    pub analysis_spill_dir: Option<String>,
    /// The default DORA report year, `2024` or `"2024"`.
    #[serde(default, deserialize_with = "year")]
    pub benchmarks: Option<String>,
    /// Largest body of `POST /api/v1/events`.
    pub max_body_bytes: Option<i64>,
    /// Environment names senders use → pacer's environments.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    /// Team → its services.
    #[serde(default)]
    pub teams: BTreeMap<String, Vec<String>>,
    /// `[[slo]]`.
    #[serde(default)]
    pub slo: Vec<SloFile>,
    /// `[[openslo]]`: SLOs from OpenSLO files.
    #[serde(default)]
    pub openslo: Vec<OpensloFile>,
    /// How often SLOs are evaluated.
    pub slo_interval_secs: Option<i64>,
    /// `[ci]`.
    #[serde(default)]
    pub ci: CiFile,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsFile,
    /// `[gate]`.
    #[serde(default)]
    pub gate: GateFile,
    /// `[[freeze]]`.
    #[serde(default)]
    pub freeze: Vec<FreezeFile>,
}

/// `[gate]`: how the deploy gate answers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateFile {
    /// `page` (default), `ticket` or `off`: which SLO burn halts a rollout.
    pub slo_level: Option<String>,
    /// The environment of a Flagger canary whose webhook metadata names none.
    pub flagger_environment: Option<String>,
    /// The GitHub App that reviews deployment protection rules.
    pub github_app_id: Option<u64>,
    /// The file holding that App's private key (PEM).
    pub github_private_key_file: Option<String>,
    /// GitHub's REST API (default `https://api.github.com`).
    pub github_api_url: Option<String>,
}

/// One `[[freeze]]`: a weekly window (`timezone`, `from`, `to`) or a one-off one (`starts_at`,
/// `ends_at`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeFile {
    /// Its name.
    pub name: String,
    /// Why, for people reading the gate's answer.
    pub reason: Option<String>,
    /// The services it holds; every service when left out.
    #[serde(default)]
    pub services: Vec<String>,
    /// The environments it holds; every environment when left out.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The IANA time zone of `from` and `to` (default UTC).
    pub timezone: Option<String>,
    /// Weekly start, such as `Fri 16:00`.
    pub from: Option<String>,
    /// Weekly end, such as `Mon 08:00`.
    pub to: Option<String>,
    /// One-off start (RFC 3339).
    pub starts_at: Option<String>,
    /// One-off end (RFC 3339).
    pub ends_at: Option<String>,
}

/// A year written as a number (`benchmarks = 2024`) or as text (`"2024"`).
fn year<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Year;
    impl Visitor<'_> for Year {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_i64<E: de::Error>(self, year: i64) -> Result<Self::Value, E> {
            Ok(Some(year.to_string()))
        }
        fn visit_u64<E: de::Error>(self, year: u64) -> Result<Self::Value, E> {
            Ok(Some(year.to_string()))
        }
        fn visit_str<E: de::Error>(self, year: &str) -> Result<Self::Value, E> {
            Ok(Some(year.to_owned()))
        }
    }
    deserializer.deserialize_any(Year)
}

/// The environment aliases as configured (lower-case name → environment), and the normalizer
/// made of them.
#[derive(Debug, Clone, Default)]
pub struct Environments {
    /// Lower-case name → environment.
    pub aliases: BTreeMap<String, String>,
    /// Maps the names senders use to pacer's environments.
    pub normalizer: Normalizer,
}

impl ApiFile {
    /// The environment aliases, validated: the other parts name environments through them.
    pub fn environments(&self, errors: &mut Vec<String>) -> Environments {
        let mut aliases = BTreeMap::new();
        for (alias, environment) in &self.environments {
            if environment.trim().is_empty() {
                errors.push(format!("environments.{alias}: expected an environment name but found an empty string"));
            }
            aliases.insert(alias.to_lowercase(), environment.trim().to_owned());
        }
        let normalizer = Normalizer::new(aliases.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>());
        Environments { aliases, normalizer }
    }

    /// Validates the API's keys, adding every problem to `errors`. What other parts' sections
    /// configure (rollback, sources, webhooks, the report) keeps its default here; the binary sets
    /// it from those parts.
    pub fn validate(self, environments: &Environments, errors: &mut Vec<String>) -> ApiConfig {
        let defaults = ApiConfig::default();
        for (name, token) in [("api_token", &self.api_token), ("read_token", &self.read_token)] {
            if let Some(t) = token
                && (t.trim().len() < 16 || t.chars().any(char::is_whitespace))
            {
                errors.push(format!("{name}: expected at least 16 characters without spaces (the value is not shown)"));
            }
        }
        let window_secs = self.attribution_window_secs.unwrap_or(defaults.attribution_window / SECOND);
        if !(1..=90 * 86_400).contains(&window_secs) {
            errors.push(format!("attribution_window_secs: expected 1 to 7776000 (90 days) but found {window_secs}"));
        }
        let wait_ms = self.analysis_wait_ms.unwrap_or(defaults.analysis_wait.as_millis() as i64);
        if !(0..=600_000).contains(&wait_ms) {
            errors.push(format!("analysis_wait_ms: expected 0 to 600000 (10 minutes) but found {wait_ms}"));
        }
        let snapshot_secs = self.analysis_snapshot_secs.unwrap_or(defaults.analysis_snapshot.map_or(0, |every| every.as_secs() as i64));
        if !(snapshot_secs == 0 || (1..=3_600).contains(&snapshot_secs)) {
            errors.push(format!("analysis_snapshot_secs: expected 0 (never) or 1 to 3600 but found {snapshot_secs}"));
        }
        let analysis_spill_dir = match self.analysis_spill_dir {
            None => defaults.analysis_spill_dir.clone(),
            Some(dir) if dir.is_empty() => None,
            Some(dir) => {
                let dir = std::path::PathBuf::from(dir);
                if !dir.is_dir() {
                    errors.push(format!("analysis_spill_dir: expected a directory (or \"\" to keep the analysis in memory) but found {}", dir.display()));
                }
                Some(dir)
            }
        };
        let benchmarks = match self.benchmarks.as_deref() {
            None => defaults.benchmarks,
            Some(year) => Benchmarks::parse(year).unwrap_or_else(|| {
                errors.push(format!("benchmarks: expected 2021, 2023 or 2024 but found {year:?}"));
                defaults.benchmarks
            }),
        };
        let max_body = self.max_body_bytes.unwrap_or(defaults.max_body_bytes as i64);
        if !(1_024..=1 << 30).contains(&max_body) {
            errors.push(format!("max_body_bytes: expected 1024 to 1073741824 but found {max_body}"));
        }
        let mut teams: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut owner: BTreeMap<String, String> = BTreeMap::new();
        for (team, services) in self.teams {
            for service in &services {
                if let Some(other) = owner.insert(service.clone(), team.clone()) {
                    errors.push(format!("teams.{team}: service {service:?} already belongs to team {other:?}"));
                }
            }
            teams.insert(team, services.into_iter().collect());
        }
        let mut slos = slos(self.slo, &environments.normalizer, errors);
        openslo(self.openslo, &mut slos, &environments.normalizer, errors);
        let slo_interval = self.slo_interval_secs.unwrap_or(30);
        if !(1..=3_600).contains(&slo_interval) {
            errors.push(format!("slo_interval_secs: expected 1 to 3600 but found {slo_interval}"));
        }
        let ci_budgets = ci_budgets(self.ci, defaults.ci_budgets.clone(), errors);
        let read_access = match self.read_access.as_deref() {
            None if self.read_token.is_some() => ReadAccess::Token,
            None | Some("public") => ReadAccess::Public,
            Some("token") => ReadAccess::Token,
            Some(other) => {
                errors.push(format!("read_access: expected public or token but found {other:?}"));
                ReadAccess::Token
            }
        };
        if read_access == ReadAccess::Public && self.read_token.is_some() {
            errors.push("read_access: public, but read_token is set; remove read_token or set read_access = \"token\"".to_owned());
        }
        let limits = limits(self.limits, errors);
        let gate = gate(self.gate, self.freeze, &environments.normalizer, errors);
        ApiConfig {
            api_token: self.api_token,
            read_token: self.read_token,
            attribution_window: window_secs.clamp(1, 90 * 86_400) * SECOND,
            analysis_wait: Duration::from_millis(wait_ms.clamp(0, 600_000) as u64),
            analysis_snapshot: (snapshot_secs > 0).then(|| Duration::from_secs(snapshot_secs.clamp(1, 3_600) as u64)),
            analysis_spill_dir,
            benchmarks,
            teams,
            normalizer: environments.normalizer.clone(),
            max_body_bytes: usize::try_from(max_body.clamp(1_024, 1 << 30)).unwrap_or(defaults.max_body_bytes),
            slos,
            slo_interval: Duration::from_secs(slo_interval.clamp(1, 3_600) as u64),
            ci_budgets,
            read_access,
            limits,
            gate,
            ..defaults
        }
    }
}

/// `[ci]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiFile {
    /// `<stage>_secs = <seconds>`: a stage's time budget.
    #[serde(default)]
    /// `<stage>_secs = <seconds>`: a stage's time budget.
    pub budgets: BTreeMap<String, toml::Value>,
}

/// `[limits]`; every key is also `PACER_LIMITS_<KEY>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Largest webhook delivery.
    pub webhook_body_bytes: Option<i64>,
    /// Largest alert.
    pub alert_body_bytes: Option<i64>,
    /// Largest body of any other route.
    pub query_body_bytes: Option<i64>,
    /// Deepest JSON nesting.
    pub json_depth: Option<i64>,
    /// Most events in one batch.
    pub batch_events: Option<i64>,
    /// Longest a request may take.
    pub request_timeout_secs: Option<i64>,
    /// Time to send the request headers.
    pub header_timeout_secs: Option<i64>,
    /// Time to send the whole body.
    pub body_timeout_secs: Option<i64>,
    /// Requests per client IP a second.
    pub ip_requests_per_sec: Option<f64>,
    /// Requests per client IP at once.
    pub ip_burst: Option<i64>,
    /// Requests per token a second.
    pub token_requests_per_sec: Option<f64>,
    /// Requests per token at once.
    pub token_burst: Option<i64>,
    /// Heavy queries running at once.
    pub heavy_queries: Option<i64>,
    /// How long a heavy query waits for a turn.
    pub heavy_queue_ms: Option<i64>,
    /// How far ahead of now timestamps may be.
    pub future_tolerance_secs: Option<i64>,
    /// Whether the client IP is the last `X-Forwarded-For` address.
    pub forwarded_for: Option<bool>,
}

/// One `[[slo]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    /// The SLO's name.
    pub name: String,
    /// Its service.
    pub service: String,
    /// Its environment (default `production`).
    pub environment: Option<String>,
    /// The objective: 99.9 or 0.999.
    pub objective: f64,
    /// `rolling` (default) or `calendar`.
    pub window: Option<String>,
    /// The rolling window in days.
    pub window_days: Option<f64>,
    /// A calendar window's period: `1w`, `7d`, `1M`, `1Q`, `1Y`.
    pub calendar_period: Option<String>,
    /// A calendar window's first period start, on the wall clock (`2022-01-01T12:00:00`).
    pub calendar_start: Option<String>,
    /// The IANA time zone of `calendar_start` (default UTC).
    pub calendar_time_zone: Option<String>,
    /// `occurrences` (default), `timeslices` or `ratio_timeslices`.
    pub budgeting: Option<String>,
    /// A time slice's width in seconds (default 60).
    pub time_slice_secs: Option<i64>,
    /// The share of good events that makes a slice good (`timeslices`): 95 or 0.95.
    pub time_slice_target: Option<f64>,
    /// Fewest events a window needs before it may burn.
    pub min_events: Option<f64>,
    /// Whether a fast burn may roll back.
    pub rollback: Option<bool>,
    /// Who raises its burn alerts: `pacer` or `prometheus`.
    pub burn_alerts: Option<String>,
    /// The `sli` series it counts.
    pub series: Option<String>,
    /// Counts from Prometheus instead.
    pub prometheus: Option<PrometheusFile>,
}

/// `[slo.prometheus]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFile {
    /// The Prometheus server.
    pub url: String,
    /// PromQL of all events in `$window`.
    pub total: String,
    /// PromQL of good events in `$window`.
    pub good: Option<String>,
    /// PromQL of bad events in `$window`.
    pub errors: Option<String>,
}

/// One `[[openslo]]`: OpenSLO v1 files and what pacer's SLOs need beyond them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpensloFile {
    /// Files, directories (their `.yaml` and `.yml` files) or patterns with `*` in the file name
    /// (`slos/*.yaml`); relative paths are from the working directory.
    pub files: Vec<String>,
    /// The Prometheus server of SLIs whose data source names none.
    pub prometheus_url: Option<String>,
    /// The environment of these SLOs (default `production`).
    pub environment: Option<String>,
    /// Fewest events a window needs before it may burn (default 10).
    pub min_events: Option<f64>,
    /// Whether a fast burn may roll back (default true).
    pub rollback: Option<bool>,
    /// Who raises their burn alerts: `pacer` (default) or `prometheus`.
    pub burn_alerts: Option<String>,
}

/// An SLO's `burn_alerts`, `pacer` when not given; a wrong word is reported at `{at}.burn_alerts`.
fn burn_alerts(value: Option<&str>, at: &str, errors: &mut Vec<String>) -> BurnAlerts {
    value.map_or(Ok(BurnAlerts::Pacer), BurnAlerts::parse).unwrap_or_else(|e| {
        errors.push(format!("{at}.burn_alerts: {e}"));
        BurnAlerts::Pacer
    })
}

/// Reads every `[[openslo]]` entry's files into SLOs after `slos`, reporting each problem.
fn openslo(entries: Vec<OpensloFile>, slos: &mut Vec<Slo>, normalizer: &Normalizer, errors: &mut Vec<String>) {
    for (index, entry) in entries.into_iter().enumerate() {
        let at = format!("openslo[{index}]");
        if let Some(url) = entry.prometheus_url.as_deref().filter(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            errors.push(format!("{at}.prometheus_url: expected an http:// or https:// URL but found {url:?}"));
        }
        let mut texts = Vec::new();
        for pattern in &entry.files {
            let paths = match files(pattern) {
                Ok(paths) if paths.is_empty() => {
                    errors.push(format!("{at}.files: {pattern:?} names no file"));
                    continue;
                }
                Ok(paths) => paths,
                Err(e) => {
                    errors.push(format!("{at}.files: cannot read {pattern:?}: {e}"));
                    continue;
                }
            };
            for path in paths {
                let name = path.display().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(text) => texts.push((name, text)),
                    Err(e) => errors.push(format!("{name}: cannot read the OpenSLO file: {e}")),
                }
            }
        }
        let min_events = entry.min_events.unwrap_or(10.0);
        if min_events.is_nan() || min_events < 0.0 {
            errors.push(format!("{at}.min_events: expected 0 or more but found {min_events}"));
        }
        let defaults = crate::slo::openslo::Defaults {
            prometheus_url: entry.prometheus_url,
            environment: entry.environment.unwrap_or_else(|| "production".to_owned()),
            min_events: min_events.max(0.0),
            rollback: entry.rollback.unwrap_or(true),
            burn_alerts: burn_alerts(entry.burn_alerts.as_deref(), &at, errors),
        };
        for slo in crate::slo::openslo::load(&texts, &defaults, normalizer, errors) {
            if slos.iter().any(|other| other.name == slo.name) {
                errors.push(format!("{at}: another SLO is already named {:?}", slo.name));
            } else {
                slos.push(slo);
            }
        }
    }
}

/// The files a `[[openslo]] files` entry names, in name order: the file itself, a directory's
/// `.yaml` and `.yml` files, or the files matching a file name with `*` (`slos/*.yaml`).
fn files(pattern: &str) -> std::io::Result<Vec<std::path::PathBuf>> {
    let path = std::path::Path::new(pattern);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    // In a directory: the files matching the pattern, or every YAML file.
    let (dir, wanted) = if name.contains('*') {
        (path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")), Some(name))
    } else if path.is_dir() {
        (path, None)
    } else {
        return Ok(if path.exists() { vec![path.to_path_buf()] } else { Vec::new() });
    };
    let matches = |file: &str| match wanted {
        Some(pattern) => wildcard(pattern, file),
        None => file.ends_with(".yaml") || file.ends_with(".yml"),
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name().to_str().is_some_and(matches) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| wildcard(rest, &tail[i..]))
        }
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

/// Validates `[gate]` and `[[freeze]]`.
fn gate(file: GateFile, freezes: Vec<FreezeFile>, normalizer: &Normalizer, errors: &mut Vec<String>) -> GateConfig {
    let mut config = GateConfig { flagger_environment: normalizer.environment(file.flagger_environment.as_deref().unwrap_or("production")), ..GateConfig::default() };
    if let Some(level) = &file.slo_level {
        match SloLevel::ALL.iter().find(|(name, _)| name == level) {
            Some((_, found)) => config.slo_level = *found,
            None => errors.push(format!("gate.slo_level: expected page, ticket or off but found {level:?}")),
        }
    }
    config.github = github_app(&file, errors);
    let mut names = BTreeSet::new();
    for (index, f) in freezes.into_iter().enumerate() {
        let at = format!("freeze[{index}]");
        if !names.insert(f.name.clone()) {
            errors.push(format!("{at}.name: another freeze is already named {:?}", f.name));
        }
        let weekly = (f.from.as_deref(), f.to.as_deref());
        let once = (f.starts_at.as_deref(), f.ends_at.as_deref());
        let window = match (weekly, once) {
            ((Some(from), Some(to)), (None, None)) => {
                let zone = match Zone::parse(f.timezone.as_deref().unwrap_or("UTC")) {
                    Ok(zone) => zone,
                    Err(e) => {
                        errors.push(format!("{at}.timezone: {e}"));
                        Zone::utc()
                    }
                };
                let mut minutes = |name: &str, text: &str| {
                    parse_week_time(text).unwrap_or_else(|e| {
                        errors.push(format!("{at}.{name}: {e}"));
                        0
                    })
                };
                let (from, to) = (minutes("from", from), minutes("to", to));
                if from == to {
                    errors.push(format!("{at}: from and to are the same time; a freeze needs a window"));
                }
                Window::Weekly { zone, from, to }
            }
            ((None, None), (Some(starts_at), Some(ends_at))) => {
                let mut instant = |name: &str, text: &str| {
                    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).unwrap_or_else(|_| {
                        errors.push(format!("{at}.{name}: expected an RFC 3339 time with an offset but found {text:?}"));
                        0
                    })
                };
                let (starts_at, ends_at) = (instant("starts_at", starts_at), instant("ends_at", ends_at));
                if ends_at <= starts_at {
                    errors.push(format!("{at}.ends_at: expected a time after starts_at"));
                }
                Window::Once { starts_at, ends_at }
            }
            _ => {
                errors.push(format!("{at}: expected from and to (a weekly window) or starts_at and ends_at (a one-off window)"));
                continue;
            }
        };
        if f.timezone.is_some() && matches!(window, Window::Once { .. }) {
            errors.push(format!("{at}.timezone: a one-off window takes its offsets from starts_at and ends_at; remove timezone"));
        }
        let environments = f.environments.iter().map(|e| normalizer.environment(e)).collect();
        config.freezes.push(Freeze { name: f.name, reason: f.reason, services: f.services, environments, window });
    }
    config
}

/// The GitHub App of `[gate]`, when its id and key are set.
fn github_app(file: &GateFile, errors: &mut Vec<String>) -> Option<GithubApp> {
    let api_url = file.github_api_url.clone().unwrap_or_else(|| "https://api.github.com".to_owned());
    if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
        errors.push(format!("gate.github_api_url: expected an http:// or https:// URL but found {api_url:?}"));
    }
    match (file.github_app_id, &file.github_private_key_file) {
        (None, None) => None,
        (Some(app_id), Some(path)) => match std::fs::read(path) {
            Ok(private_key) => match GithubApp::check_key(&private_key) {
                Ok(()) => Some(GithubApp { app_id, private_key, api_url }),
                Err(e) => {
                    errors.push(format!("gate.github_private_key_file: {path}: {e}"));
                    None
                }
            },
            Err(e) => {
                errors.push(format!("gate.github_private_key_file: cannot read {path}: {e}"));
                None
            }
        },
        (Some(_), None) => {
            errors.push("gate.github_private_key_file: expected the GitHub App's private key file beside github_app_id".to_owned());
            None
        }
        (None, Some(_)) => {
            errors.push("gate.github_app_id: expected the GitHub App's id beside github_private_key_file".to_owned());
            None
        }
    }
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
        let calendar = slo_calendar(&f, &at, errors);
        let budgeting = slo_budgeting(&f, &at, errors);
        let burn_alerts = burn_alerts(f.burn_alerts.as_deref(), &at, errors);
        if burn_alerts == BurnAlerts::Prometheus && f.prometheus.is_none() {
            errors.push(format!("{at}.burn_alerts: expected [slo.prometheus] for Prometheus to raise the burn alerts, but the SLO counts sli events"));
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
            window: calendar.map_or((days * 86_400_000.0) as i64, |c| c.every.nominal()),
            calendar,
            budgeting,
            min_events: f.min_events.unwrap_or(10.0).max(0.0),
            rollback: f.rollback.unwrap_or(true),
            burn_alerts,
            source,
        });
    }
    slos
}

/// An `[[slo]]`'s calendar window (`window = "calendar"`), reporting each problem at its key.
fn slo_calendar(f: &SloFile, at: &str, errors: &mut Vec<String>) -> Option<Calendar> {
    let keys = [("calendar_period", &f.calendar_period), ("calendar_start", &f.calendar_start), ("calendar_time_zone", &f.calendar_time_zone)];
    match f.window.as_deref() {
        None | Some("rolling") => {
            for (key, value) in keys {
                if value.is_some() {
                    errors.push(format!("{at}.{key}: only with window = \"calendar\""));
                }
            }
            None
        }
        Some("calendar") => {
            if f.window_days.is_some() {
                errors.push(format!("{at}.window_days: a calendar window lasts its calendar_period: expected no window_days"));
            }
            let every = match &f.calendar_period {
                Some(text) => Every::parse(text).map_err(|e| errors.push(format!("{at}.calendar_period: {e}"))).ok(),
                None => {
                    errors.push(format!("{at}.calendar_period: required with window = \"calendar\" (such as \"1w\" or \"1M\")"));
                    None
                }
            };
            let start = match &f.calendar_start {
                Some(text) => Calendar::parse_start(text).map_err(|e| errors.push(format!("{at}.calendar_start: {e}"))).ok(),
                None => {
                    errors.push(format!("{at}.calendar_start: required with window = \"calendar\" (such as \"2022-01-01T12:00:00\")"));
                    None
                }
            };
            let zone = match &f.calendar_time_zone {
                Some(name) => Zone::parse(name).map_err(|e| errors.push(format!("{at}.calendar_time_zone: {e}"))).ok(),
                None => Some(Zone::utc()),
            };
            Some(Calendar { start: start?, zone: zone?, every: every? })
        }
        Some(other) => {
            errors.push(format!("{at}.window: expected rolling or calendar but found {other:?}"));
            None
        }
    }
}

/// An `[[slo]]`'s budgeting method, reporting each problem at its key.
fn slo_budgeting(f: &SloFile, at: &str, errors: &mut Vec<String>) -> Budgeting {
    let method = f.budgeting.as_deref().unwrap_or("occurrences");
    match method {
        "timeslices" | "ratio_timeslices" => {}
        "occurrences" => {
            for (key, given) in [("time_slice_secs", f.time_slice_secs.is_some()), ("time_slice_target", f.time_slice_target.is_some())] {
                if given {
                    errors.push(format!("{at}.{key}: only with budgeting = \"timeslices\" or \"ratio_timeslices\""));
                }
            }
            return Budgeting::Occurrences;
        }
        other => {
            errors.push(format!("{at}.budgeting: expected occurrences, timeslices or ratio_timeslices but found {other:?}"));
            return Budgeting::Occurrences;
        }
    }
    let slice = f.time_slice_secs.unwrap_or(60).saturating_mul(1_000);
    if let Err(e) = Budgeting::check_slice(slice) {
        errors.push(format!("{at}.time_slice_secs: {e}"));
    }
    if method == "ratio_timeslices" {
        if f.time_slice_target.is_some() {
            errors.push(format!("{at}.time_slice_target: only with budgeting = \"timeslices\" (ratio_timeslices averages the slices' ratios)"));
        }
        return Budgeting::RatioTimeslices { slice };
    }
    let Some(given) = f.time_slice_target else {
        errors.push(format!("{at}.time_slice_target: required with budgeting = \"timeslices\" (such as 95 or 0.95)"));
        return Budgeting::Timeslices { slice, target: 1.0 };
    };
    // 95 and 0.95 both mean 95 % of a slice's events good.
    let target = if given > 1.0 { given / 100.0 } else { given };
    if !(target > 0.0 && target <= 1.0) {
        errors.push(format!("{at}.time_slice_target: expected a percentage up to 100 (95) or a fraction up to 1 (0.95) but found {given}"));
    }
    Budgeting::Timeslices { slice, target }
}
