//! pacer's settings: defaults < TOML file < `PACER_…` environment variables < command-line flags.
//!
//! Each part owns its section of the file — its keys (serde, `deny_unknown_fields`), defaults and
//! validation: [`ApiFile`] (the API's keys, `[[slo]]`, `[ci]`, `[limits]`), [`RollbackFile`]
//! (`[alerts]`, `[[rollback]]`), [`SourcesFile`] (`[github]`, `[gitlab]`, `[cdevents]`,
//! `[pagerduty]`, `[argocd]`, `[flux]`, `[jenkins]`, `[[repositories]]`), [`MailFile`] (`[report]`), and [`ServerFile`] here
//! (`listen`, `database_url`). This module only layers them: it reads the file key by key, lays
//! the environment over it — every scalar key `a.b` is `PACER_A_B`, read off the sections' types
//! ([`paths`]) — then the flags, and hands each part its keys.
//!
//! Everything is validated at start and every problem is reported at once, each naming the
//! setting and where its value came from, so an operator fixes a file in one pass. Secrets are
//! never printed: [`Settings::describe`] redacts them.

mod paths;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use pacer_api::ApiConfig;
use pacer_api::config::ReadAccess;
use pacer_collector::config::Secret;
use pacer_api::settings::ApiFile;
use pacer_collector::config::SourcesFile;
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::SECOND;
use pacer_mail::MailConfig;
use pacer_mail::config::MailFile;
use pacer_chat::{ChatConfig, ChatFile};
use pacer_rollback::config::RollbackFile;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use paths::{Kind, fields, scalar_paths};

/// Every top-level setting: (file key, what it is), in the order an
/// unknown key's error lists them. A test holds it to the parts' own keys.
pub const SETTINGS: [(&str, &str); 34] = [
    ("listen", "address to serve on"),
    ("database_url", "sqlite://path or postgres://…"),
    ("api_token", "bearer token for write endpoints"),
    ("read_token", "bearer token for read endpoints"),
    ("read_access", "public or token: whether read endpoints need a token"),
    ("attribution_window_secs", "incident attribution window"),
    ("analysis_wait_ms", "longest a query waits for the analysis to take in the latest writes"),
    ("analysis_snapshot_secs", "how often the analysis is written to the database for the next start (0: never)"),
    ("analysis_spill_dir", "directory of the file the analysis keeps its commits in (\"\": in memory)"),
    ("benchmarks", "default DORA report year"),
    ("max_body_bytes", "largest request body"),
    ("environments", "environment aliases"),
    ("teams", "team → services"),
    ("alerts", "alert label names and alert source credentials"),
    ("rollback", "rollback policies and hooks"),
    ("slo", "service-level objectives"),
    ("openslo", "service-level objectives from OpenSLO files"),
    ("slo_interval_secs", "how often SLOs are evaluated"),
    ("github", "GitHub webhooks"),
    ("gitlab", "GitLab webhooks"),
    ("cdevents", "CDEvents webhooks"),
    ("pagerduty", "PagerDuty webhooks"),
    ("argocd", "Argo CD notifications"),
    ("flux", "Flux notification-controller events"),
    ("jenkins", "Jenkins Notification plugin builds"),
    ("repositories", "repository (and path) → service"),
    ("slack", "the Slack deploy bot: its signing secret and the Slack users who are admins"),
    ("report", "the weekly report email (the variable sets its smtp_url)"),
    ("ci", "time budgets of the delivery stages"),
    ("limits", "body sizes, JSON depth, batch size, timeouts, rates, heavy queries, future tolerance"),
    ("gate", "the deploy gate: which SLO burn halts a rollout, Flagger's default environment"),
    ("freeze", "change freezes the deploy gate holds rollouts in"),
    ("chat", "chat notifications: pacer's public address for links, the oldest event announced, attempts"),
    ("notify", "chat notification rules: Slack, Teams or webhook destinations and the events each hears"),
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
    /// Chat notifications (no rules: none are sent).
    pub chat: Arc<ChatConfig>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--database`.
    pub database_url: Option<String>,
}

/// The binary's own keys of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Where to serve.
    pub listen: Option<String>,
    /// The database.
    pub database_url: Option<String>,
}

/// Every part's keys, layered and not yet validated.
#[derive(Debug, Default)]
struct Layers {
    server: ServerFile,
    api: ApiFile,
    rollback: RollbackFile,
    sources: SourcesFile,
    mail: MailFile,
    chat: ChatFile,
}

/// The environment variables kept from before variables were derived from key paths, each with
/// the key it sets; the derived name works too.
const SHORT_NAMES: [(&str, &str); 2] = [("PACER_ALERTMANAGER_TOKEN", "alerts.alertmanager_token"), ("PACER_GRAFANA_SECRET", "alerts.grafana_secret")];

/// Keys that have no environment variable: `PACER_GITHUB_TOKEN` is the API token of
/// `pacer import github`, not the webhook secret (`github.token` is an alias of `github.secret`).
const NOT_FROM_ENVIRONMENT: [&str; 1] = ["github.token"];

impl Settings {
    /// Loads the file (when given), the environment and the overrides, and validates them.
    ///
    /// # Errors
    /// Every problem found, one line each.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>, overrides: &Overrides) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut table = toml::Table::new();
        let mut origin = "environment".to_owned();
        if let Some(path) = file {
            origin = path.display().to_string();
            match std::fs::read_to_string(path) {
                Ok(text) => match toml::from_str(&text) {
                    Ok(read) => table = read,
                    Err(e) => errors.push(format!("{origin}: invalid TOML: {}", e.message())),
                },
                Err(e) => errors.push(format!("{}: cannot read the configuration file: {e}", path.display())),
            }
        }
        lay_over(&mut table, environment(env, &mut errors));
        for (key, value) in [("listen", &overrides.listen), ("database_url", &overrides.database_url)] {
            if let Some(value) = value {
                table.insert(key.to_owned(), toml::Value::String(value.clone()));
            }
        }
        let layers = split(table, &origin, &mut errors);
        let settings = validate(layers, &mut errors);
        if errors.is_empty() { Ok(settings) } else { Err(errors) }
    }

    /// A human summary of the effective settings, with secrets redacted.
    pub fn describe(&self) -> String {
        let secret = |s: &Option<String>| if s.is_some() { "(set)" } else { "(not set)" };
        let mut out = format!(
            "listen = {}\ndatabase_url = {}\napi_token = {}\nread_token = {}\nattribution_window_secs = {}\nanalysis_wait_ms = {}\nanalysis_snapshot_secs = {}\nanalysis_spill_dir = {:?}\nbenchmarks = {}\nmax_body_bytes = {}\n",
            self.listen,
            pacer_store::redact(&self.database_url),
            secret(&self.api.api_token),
            secret(&self.api.read_token),
            self.api.attribution_window / SECOND,
            self.api.analysis_wait.as_millis(),
            self.api.analysis_snapshot.map_or(0, |every| every.as_secs()),
            self.api.analysis_spill_dir.as_deref().map_or_else(String::new, |dir| dir.display().to_string()),
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
            out.push_str(&format!("slo {} = {} {:.4} over {} days", slo.name, slo.service, slo.objective, slo.window / 86_400_000));
            if let Some(calendar) = &slo.calendar {
                out.push_str(&format!(", calendar periods of {} from {} {}", calendar.every, calendar.start, calendar.zone.name()));
            }
            match slo.budgeting {
                pacer_engine::burn::Budgeting::Occurrences => {}
                pacer_engine::burn::Budgeting::Timeslices { slice, target } => out.push_str(&format!(", time slices of {} s good at {target}", slice / SECOND)),
                pacer_engine::burn::Budgeting::RatioTimeslices { slice } => out.push_str(&format!(", ratio time slices of {} s", slice / SECOND)),
            }
            out.push('\n');
        }
        let gate = &self.api.gate;
        let level = pacer_api::gate::verdict::SloLevel::ALL.iter().find(|(_, l)| *l == gate.slo_level).map_or("page", |(name, _)| *name);
        out.push_str(&format!("gate.slo_level = {level}\ngate.flagger_environment = {}\n", gate.flagger_environment));
        match &gate.github {
            Some(app) => out.push_str(&format!("gate.github_app_id = {} (private key set) via {}\n", app.app_id, app.api_url)),
            None => out.push_str("gate.github_app_id = (not set)\n"),
        }
        for freeze in &gate.freezes {
            let scope = |list: &[String]| if list.is_empty() { "*".to_owned() } else { list.join(",") };
            out.push_str(&format!("freeze {} = {} for {}/{}\n", freeze.name, freeze.describe(), scope(&freeze.services), scope(&freeze.environments)));
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
        out.push_str(&format!("argocd.token = {}\nflux.secret = {}\njenkins.token = {}\n", set(&webhooks.argocd), set(&webhooks.flux), set(&webhooks.jenkins)));
        let admins: Vec<&str> = sources.slack_admins.iter().map(String::as_str).collect();
        out.push_str(&format!("slack.signing_secret = {}\nslack.admins = [{}]\n", set(&webhooks.slack), admins.join(", ")));
        out.push_str(&format!("slack.answer_within_ms = {}\n", sources.slack_answer_within_ms()));
        let argocd = &sources.argocd;
        for (key, label) in [("service_label", &argocd.service_label), ("environment_label", &argocd.environment_label)] {
            out.push_str(&format!("argocd.{key} = {}\n", label.as_deref().unwrap_or("(not set)")));
        }
        for (section, mapping) in [("argocd", &argocd.mapping), ("flux", &sources.flux)] {
            for (table, map) in [("services", &mapping.services), ("environments", &mapping.environments)] {
                for (from, to) in map {
                    out.push_str(&format!("{section}.{table}.{from:?} = {to}\n"));
                }
            }
        }
        for job in &sources.jenkins.deploy_jobs {
            out.push_str(&format!("jenkins.deploy_jobs: {} → {} in {}\n", job.job, job.service, job.environment));
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
        let chat = &self.chat;
        if !chat.rules.is_empty() {
            out.push_str(&format!("chat.base_url = {}\nchat.max_age_secs = {}\nchat.max_attempts = {}\n", chat.base_url, chat.max_age / SECOND, chat.max_attempts));
        }
        for rule in &chat.rules {
            // The URL is the credential of a Slack or Teams webhook: never shown.
            let events: Vec<&str> = rule.events.iter().map(|k| k.as_str()).collect();
            let scope = |set: &std::collections::BTreeSet<String>| if set.is_empty() { "*".to_owned() } else { set.iter().cloned().collect::<Vec<_>>().join(",") };
            out.push_str(&format!(
                "notify {} = {} (url set{}) for services {} teams {} in {}: {}\n",
                rule.name,
                rule.channel.as_str(),
                if rule.secret.is_some() { ", secret set" } else { "" },
                scope(&rule.services),
                scope(&rule.teams),
                scope(&rule.environments),
                events.join(", "),
            ));
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

/// Every scalar key path of every part with its kind, in part order.
fn every_scalar_path() -> Vec<(String, Kind)> {
    let mut all = scalar_paths::<ServerFile>();
    all.extend(scalar_paths::<ApiFile>());
    all.extend(scalar_paths::<RollbackFile>());
    all.extend(scalar_paths::<SourcesFile>());
    all.extend(scalar_paths::<MailFile>());
    all.extend(scalar_paths::<ChatFile>());
    all
}

/// The variable of a key path: `limits.heavy_queries` is `PACER_LIMITS_HEAVY_QUERIES`.
fn variable(path: &str) -> String {
    format!("PACER_{}", path.replace('.', "_").to_uppercase())
}

/// The settings the environment gives, as a table shaped like the file.
fn environment(env: &HashMap<String, String>, errors: &mut Vec<String>) -> toml::Table {
    let mut overlay = toml::Table::new();
    for (path, kind) in every_scalar_path() {
        if NOT_FROM_ENVIRONMENT.contains(&path.as_str()) {
            continue;
        }
        let mut names = vec![variable(&path)];
        names.extend(SHORT_NAMES.iter().filter(|(_, key)| *key == path).map(|(name, _)| (*name).to_owned()));
        for name in names {
            let Some(value) = env.get(&name).filter(|v| !v.is_empty()) else { continue };
            let parsed = match kind {
                Kind::Integer => value.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| format!("{name}: expected an integer but found {value:?}")),
                Kind::Number => value.trim().parse::<f64>().map(toml::Value::Float).map_err(|_| format!("{name}: expected a number but found {value:?}")),
                Kind::Flag => match value.trim() {
                    "true" | "1" => Ok(toml::Value::Boolean(true)),
                    "false" | "0" => Ok(toml::Value::Boolean(false)),
                    other => Err(format!("{name}: expected true or false but found {other:?}")),
                },
                Kind::Text => Ok(toml::Value::String(value.clone())),
            };
            match parsed {
                Ok(value) => set(&mut overlay, &path, value),
                Err(error) => errors.push(error),
            }
        }
    }
    overlay
}

/// Sets `path` (`a` or `a.b`) in `table`.
fn set(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        None => {
            table.insert(path.to_owned(), value);
        }
        Some((section, key)) => {
            if let toml::Value::Table(inner) = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
                inner.insert(key.to_owned(), value);
            }
        }
    }
}

/// Lays `overlay` over `table`, table by table: its values win.
fn lay_over(table: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (table.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => lay_over(inner, over),
            // A section the file wrote as something else than a table keeps the file's error.
            (Some(existing), toml::Value::Table(_)) if !existing.is_table() => {}
            (_, value) => {
                table.insert(key, value);
            }
        }
    }
}

/// Hands each part its keys. Each key is read on its own, so one bad value does not hide the
/// others; problems are reported in the order of the keys.
fn split(table: toml::Table, origin: &str, errors: &mut Vec<String>) -> Layers {
    let owners: [&[&str]; 6] =
        [fields::<ServerFile>(), fields::<ApiFile>(), fields::<RollbackFile>(), fields::<SourcesFile>(), fields::<MailFile>(), fields::<ChatFile>()];
    let mut parts: [toml::Table; 6] = Default::default();
    for (key, value) in table {
        let at = format!("{origin}: {key}");
        let Some(part) = owners.iter().position(|keys| keys.contains(&key.as_str())) else {
            let known: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
            errors.push(format!("{at}: unknown setting; expected one of {}", known.join(", ")));
            continue;
        };
        let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
        let problem = match part {
            0 => problem_of::<ServerFile>(alone),
            1 => problem_of::<ApiFile>(alone),
            2 => problem_of::<RollbackFile>(alone),
            3 => problem_of::<SourcesFile>(alone),
            4 => problem_of::<MailFile>(alone),
            _ => problem_of::<ChatFile>(alone),
        };
        match problem {
            Some(problem) => errors.push(format!("{at}: {}", within(&key, &problem))),
            None => {
                parts[part].insert(key, value);
            }
        }
    }
    let [server, api, rollback, sources, mail, chat] = parts;
    Layers {
        server: read(server, origin, errors),
        api: read(api, origin, errors),
        rollback: read(rollback, origin, errors),
        sources: read(sources, origin, errors),
        mail: read(mail, origin, errors),
        chat: read(chat, origin, errors),
    }
}

/// The problem with reading `table` as a `T`, if any.
fn problem_of<T: DeserializeOwned>(table: toml::Table) -> Option<String> {
    toml::Value::Table(table).try_into::<T>().err().map(|e| e.to_string())
}

/// Reads a part from the keys that each read well on their own.
fn read<T: DeserializeOwned + Default>(table: toml::Table, origin: &str, errors: &mut Vec<String>) -> T {
    toml::Value::Table(table).try_into().unwrap_or_else(|e| {
        errors.push(format!("{origin}: {}", e.to_string().trim()));
        T::default()
    })
}

/// A problem found reading `{key = value}` as it reads reading the value alone: the path it ends
/// with (`in \`limits.heavy_queries\``) is made relative to the key, or dropped at the key itself.
fn within(key: &str, problem: &str) -> String {
    let problem = problem.trim();
    let Some((message, last)) = problem.rsplit_once('\n') else { return problem.to_owned() };
    let Some(path) = last.strip_prefix("in `").and_then(|p| p.strip_suffix('`')) else { return problem.to_owned() };
    if path == key {
        message.to_owned()
    } else if let Some(rest) = path.strip_prefix(key).and_then(|p| p.strip_prefix('.')) {
        format!("{message}\nin `{rest}`")
    } else {
        problem.to_owned()
    }
}

fn validate(layers: Layers, errors: &mut Vec<String>) -> Settings {
    let Layers { server, api, rollback, sources, mail, chat } = layers;
    let listen_text = server.listen.unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        errors.push(format!("listen: expected host:port such as 127.0.0.1:3000 but found {listen_text:?}"));
        SocketAddr::from(([127, 0, 0, 1], 3000))
    });
    let database_url = server.database_url.unwrap_or_else(|| "sqlite://pacer.db".to_owned());
    if !["sqlite:", "postgres:", "postgresql:"].iter().any(|p| database_url.starts_with(p)) {
        errors.push(format!("database_url: expected sqlite://… or postgres://… but found {:?}", pacer_store::redact(&database_url)));
    }
    let environments = api.environments(errors);
    let api = api.validate(&environments, errors);
    let (rollback, alertmanager_token) = rollback.validate(&environments.normalizer, errors);
    let (report_settings, report) = mail.validate(errors);
    let (sources, webhooks) = sources.validate(errors);
    let chat = chat.validate(&environments.normalizer, errors);
    Settings {
        listen,
        database_url,
        environments: environments.aliases,
        report,
        chat: Arc::new(chat),
        api: ApiConfig { alertmanager_token, rollback: Arc::new(rollback), sources, webhooks, report: report_settings, ..api },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_collector::sources::DeploySource;

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
    fn the_spill_directory_defaults_to_the_temporary_one_is_checked_and_empty_keeps_the_analysis_in_memory() {
        let s = load("", &[]).expect("valid");
        assert_eq!(s.api.analysis_spill_dir, Some(std::env::temp_dir()));
        let s = load("analysis_spill_dir = \"\"\n", &[]).expect("valid");
        assert_eq!(s.api.analysis_spill_dir, None);
        assert!(s.describe().contains("analysis_spill_dir = \"\"\n"), "{}", s.describe());
        let errors = load("", &[("PACER_ANALYSIS_SPILL_DIR", "/no/such/directory")]).expect_err("not a directory");
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("analysis_spill_dir: expected a directory") && errors[0].contains("/no/such/directory"), "{errors:#?}");
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
    fn deployer_sections_read_their_keys_report_every_problem_and_never_show_a_secret() {
        let toml = "[argocd]\nservice_label = \"app.kubernetes.io/part-of\"\nenvironments = { shop-prod = \"production\" }\n\
                    [flux]\nservices = { webapp = \"storefront\" }\n\
                    [[jenkins.deploy_jobs]]\njob = \"deploy-*\"\nservice = \"shop\"\nenvironment = \"prod\"\n";
        let env = [("PACER_ARGOCD_TOKEN", "argo-s3cret"), ("PACER_FLUX_SECRET", "flux-s3cret"), ("PACER_JENKINS_TOKEN", "jenkins-s3cret"), ("PACER_ARGOCD_ENVIRONMENT_LABEL", "env")];
        let s = load(toml, &env).expect("valid");
        let sources = &s.api.sources;
        assert_eq!((sources.argocd.service_label.as_deref(), sources.argocd.environment_label.as_deref()), (Some("app.kubernetes.io/part-of"), Some("env")));
        assert_eq!(sources.argocd.mapping.environments.get("shop-prod").map(String::as_str), Some("production"));
        assert_eq!(sources.flux.service("webapp"), "storefront");
        assert_eq!(sources.jenkins.deploy_job("deploy-shop").map(|j| j.service.as_str()), Some("shop"));
        assert_eq!(s.api.webhooks.flux.as_ref().map(Secret::expose), Some("flux-s3cret"));
        let described = s.describe();
        assert!(!described.contains("s3cret"), "{described}");
        assert!(described.contains("argocd.token = (set)") && described.contains("jenkins.deploy_jobs: deploy-* → shop in prod"), "{described}");
        let toml = "[argocd]\nenvironment_label = \" \"\n[flux]\nsecret = \" padded \"\n[[jenkins.deploy_jobs]]\njob = \"\"\nservice = \"s\"\nenvironment = \"e\"\n";
        let errors = load(toml, &[]).expect_err("invalid");
        for key in ["argocd.environment_label", "flux.secret", "jenkins.deploy_jobs[0].job"] {
            assert!(errors.iter().any(|e| e.starts_with(key)), "{key} missing from {errors:#?}");
        }
    }

    /// The README, which documents every setting.
    fn readme() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
    }

    #[test]
    fn the_readme_names_every_webhook_setting_and_its_deployer_examples_load() {
        let readme = readme();
        for (path, _) in scalar_paths::<SourcesFile>() {
            if !NOT_FROM_ENVIRONMENT.contains(&path.as_str()) {
                assert!(readme.contains(&variable(&path)), "the README's configuration reference lacks {} ({path})", variable(&path));
            }
        }
        let sections: [(&str, &[&str]); 3] = [
            ("argocd", fields::<pacer_collector::config::ArgocdFile>()),
            ("flux", fields::<pacer_collector::config::FluxFile>()),
            ("jenkins", fields::<pacer_collector::config::JenkinsFile>()),
        ];
        for (section, keys) in sections {
            for key in keys {
                let named = readme.contains(&format!("`{section}.{key}`")) || readme.contains(&format!("`{section}.{key}`,")) || readme.contains(&format!("[[{section}.{key}]]"));
                assert!(named, "the README's configuration reference lacks {section}.{key}");
            }
        }
        // The TOML examples of the Argo CD, Flux and Jenkins sections are settings pacer accepts.
        let start = readme.find("\n### Argo CD\n").expect("an Argo CD section");
        let end = start + readme[start..].find("\n## ").expect("a section after the deployers");
        let examples: Vec<&str> = readme[start..end].split("```toml\n").skip(1).filter_map(|block| block.split("```").next()).collect();
        assert_eq!(examples.len(), 3, "one example per deployer");
        for example in examples {
            let settings = load(example, &[]).unwrap_or_else(|errors| panic!("{errors:#?}\nin\n{example}"));
            let webhooks = &settings.api.webhooks;
            assert!(webhooks.argocd.is_some() || webhooks.flux.is_some() || webhooks.jenkins.is_some(), "each example sets its secret:\n{example}");
        }
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
    fn every_gate_and_freeze_problem_is_reported_at_once() {
        let toml = "[gate]\nslo_level = \"sometimes\"\n\
                    [[freeze]]\nname = \"weekend\"\ntimezone = \"Mars/Base\"\nfrom = \"Fri 16:00\"\nto = \"Monday 8am\"\n\
                    [[freeze]]\nname = \"weekend\"\nstarts_at = \"2026-12-24T00:00:00Z\"\nends_at = \"2026-12-20T00:00:00Z\"\n\
                    [[freeze]]\nname = \"half\"\nfrom = \"Fri 16:00\"\n\
                    [[freeze]]\nname = \"holidays\"\nstarts_at = \"2026-12-24\"\nends_at = \"2027-01-02T00:00:00Z\"\n";
        let errors = load(toml, &[]).expect_err("invalid");
        for expected in ["gate.slo_level", "freeze[0].timezone", "freeze[0].to", "freeze[1].name", "freeze[1].ends_at", "freeze[2]: expected from and to", "freeze[3].starts_at"] {
            assert!(errors.iter().any(|e| e.starts_with(expected)), "{expected} missing from {errors:#?}");
        }
        assert_eq!(errors.len(), 7, "{errors:#?}");
        let s = load("[[freeze]]\nname = \"weekend\"\nenvironments = [\"prod\"]\ntimezone = \"Europe/Berlin\"\nfrom = \"Fri 16:00\"\nto = \"Mon 08:00\"\n", &[("PACER_GATE_SLO_LEVEL", "ticket")])
            .expect("valid");
        assert_eq!(s.api.gate.freezes[0].environments, vec!["production".to_owned()], "environment aliases apply");
        assert_eq!(s.api.gate.slo_level, pacer_api::gate::verdict::SloLevel::Ticket, "the environment sets gate.slo_level");
        let described = s.describe();
        assert!(described.contains("gate.slo_level = ticket\n") && described.contains("freeze weekend = Fri 16:00 to Mon 08:00 Europe/Berlin for */production\n"), "{described}");
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

    #[test]
    fn the_listed_settings_are_the_parts_own_keys() {
        let listed: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
        let mut owned: Vec<&str> =
            [fields::<ServerFile>(), fields::<ApiFile>(), fields::<RollbackFile>(), fields::<SourcesFile>(), fields::<MailFile>(), fields::<ChatFile>()].concat();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        owned.sort_unstable();
        assert_eq!(sorted, owned);
    }

    #[test]
    fn every_scalar_key_has_a_variable_derived_from_its_path() {
        let names: Vec<String> = every_scalar_path().iter().map(|(path, _)| variable(path)).collect();
        for name in [
            "PACER_LISTEN",
            "PACER_ATTRIBUTION_WINDOW_SECS",
            "PACER_LIMITS_HEAVY_QUERIES",
            "PACER_LIMITS_FORWARDED_FOR",
            "PACER_GITLAB_TOKEN",
            "PACER_GITHUB_SECRET",
            "PACER_REPORT_SMTP_URL",
            "PACER_CDEVENTS_TOKEN",
            "PACER_PAGERDUTY_SECRET",
            "PACER_ALERTS_GRAFANA_SECRET",
            "PACER_ARGOCD_TOKEN",
            "PACER_ARGOCD_SERVICE_LABEL",
            "PACER_ARGOCD_ENVIRONMENT_LABEL",
            "PACER_FLUX_SECRET",
            "PACER_JENKINS_TOKEN",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let s = load("", &[("PACER_ALERTMANAGER_TOKEN", "am-token"), ("PACER_REPORT_SUBJECT", "weekly {team}"), ("PACER_GITHUB_TOKEN", "github_pat_x")]).expect("valid");
        assert_eq!(s.api.alertmanager_token.as_deref(), Some("am-token"));
        assert_eq!(s.api.report.subject, "weekly {team}");
        assert!(s.api.webhooks.github.is_none(), "the import's API token is not the webhook secret");
        let errors = load("", &[("PACER_LIMITS_JSON_DEPTH", "deep"), ("PACER_LIMITS_FORWARDED_FOR", "maybe"), ("PACER_LIMITS_IP_REQUESTS_PER_SEC", "fast")]).expect_err("invalid");
        assert!(errors.contains(&"PACER_LIMITS_JSON_DEPTH: expected an integer but found \"deep\"".to_owned()), "{errors:#?}");
        assert!(errors.contains(&"PACER_LIMITS_FORWARDED_FOR: expected true or false but found \"maybe\"".to_owned()), "{errors:#?}");
        assert!(errors.contains(&"PACER_LIMITS_IP_REQUESTS_PER_SEC: expected a number but found \"fast\"".to_owned()), "{errors:#?}");
    }

    #[test]
    fn burn_alerts_names_who_raises_them_and_prometheus_needs_its_queries() {
        let slo = |extra: &str| format!("[[slo]]\nname = \"a\"\nservice = \"s\"\nobjective = 99.0\n{extra}");
        let errors = load(&slo("burn_alerts = \"grafana\"\n"), &[]).expect_err("invalid");
        assert!(errors.iter().any(|e| e.ends_with("slo[0].burn_alerts: expected pacer or prometheus but found \"grafana\"")), "{errors:#?}");
        let errors = load(&slo("burn_alerts = \"prometheus\"\n"), &[]).expect_err("sli events");
        assert!(errors.iter().any(|e| e.contains("slo[0].burn_alerts: expected [slo.prometheus]")), "{errors:#?}");
        let queries = "[slo.prometheus]\nurl = \"http://p:9090\"\ntotal = 't[$window]'\nerrors = 'e[$window]'\n";
        let s = load(&slo(&format!("burn_alerts = \"prometheus\"\n{queries}")), &[]).expect("valid");
        assert_eq!(s.api.slos[0].burn_alerts, pacer_api::config::BurnAlerts::Prometheus);
        let s = load(&slo(queries), &[]).expect("valid");
        assert_eq!(s.api.slos[0].burn_alerts, pacer_api::config::BurnAlerts::Pacer, "pacer by default");
    }

    #[test]
    fn time_slices_and_calendar_windows_are_read_and_every_problem_named_at_once() {
        use pacer_engine::burn::Budgeting;
        let slo = |name: &str, extra: &str| format!("[[slo]]\nname = \"{name}\"\nservice = \"s\"\nobjective = 99.0\n{extra}");
        let valid = format!(
            "{}{}",
            slo("a", "budgeting = \"timeslices\"\ntime_slice_target = 95\nwindow = \"calendar\"\ncalendar_period = \"1M\"\ncalendar_start = \"2026-01-01T00:00:00\"\ncalendar_time_zone = \"Europe/Berlin\"\n"),
            slo("b", "budgeting = \"ratio_timeslices\"\ntime_slice_secs = 30\nwindow_days = 28\n"),
        );
        let s = load(&valid, &[]).expect("valid");
        let (a, b) = (&s.api.slos[0], &s.api.slos[1]);
        assert_eq!(a.budgeting, Budgeting::Timeslices { slice: 60 * SECOND, target: 0.95 }, "60 s slices by default; 95 reads as 0.95");
        let calendar = a.calendar.expect("a calendar window");
        assert_eq!((calendar.every.to_string(), calendar.zone.name(), calendar.start.to_string()), ("1M".to_owned(), "Europe/Berlin", "2026-01-01 00:00:00".to_owned()));
        assert_eq!(a.window, 30 * 86_400_000, "a month's usual length");
        assert_eq!((b.budgeting, b.calendar, b.window), (Budgeting::RatioTimeslices { slice: 30 * SECOND }, None, 28 * 86_400_000));

        let invalid = format!(
            "{}{}{}{}",
            slo("c", "budgeting = \"events\"\n"),
            slo("d", "budgeting = \"timeslices\"\ntime_slice_secs = 7\nwindow = \"calendar\"\nwindow_days = 7\ncalendar_period = \"1m\"\ncalendar_time_zone = \"Mars/Olympus\"\n"),
            slo("e", "time_slice_target = 0.9\ncalendar_start = \"2026-01-01T00:00:00\"\n"),
            slo("f", "budgeting = \"ratio_timeslices\"\ntime_slice_target = 0.9\nwindow = \"monthly\"\n"),
        );
        let errors = load(&invalid, &[]).expect_err("invalid");
        for expected in [
            "slo[0].budgeting: expected occurrences, timeslices or ratio_timeslices but found \"events\"",
            "slo[1].time_slice_target: required with budgeting = \"timeslices\" (such as 95 or 0.95)",
            "slo[1].time_slice_secs: expected whole seconds dividing 300 s, the shortest burn window (such as 60), but found 7 s",
            "slo[1].window_days: a calendar window lasts its calendar_period: expected no window_days",
            "slo[1].calendar_period: expected a calendar period of days or longer (d, w, M, Q or Y; m is minutes) but found \"1m\"",
            "slo[1].calendar_start: required with window = \"calendar\" (such as \"2022-01-01T12:00:00\")",
            "slo[1].calendar_time_zone: expected an IANA time zone such as Europe/Berlin or UTC but found \"Mars/Olympus\"",
            "slo[2].time_slice_target: only with budgeting = \"timeslices\" or \"ratio_timeslices\"",
            "slo[2].calendar_start: only with window = \"calendar\"",
            "slo[3].time_slice_target: only with budgeting = \"timeslices\" (ratio_timeslices averages the slices' ratios)",
            "slo[3].window: expected rolling or calendar but found \"monthly\"",
        ] {
            assert!(errors.iter().any(|e| e.ends_with(expected)), "{expected}\nnot in {errors:#?}");
        }
        assert_eq!(errors.len(), 11, "{errors:#?}");
    }

    #[test]
    fn a_bad_value_inside_a_section_is_named_as_reading_the_section_alone_names_it() {
        let errors = load("[limits]\nheavy_queries = \"x\"\n[[slo]]\nname = \"a\"\nobjective = 99.0\n", &[]).expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].ends_with(": limits: invalid type: string \"x\", expected i64\nin `heavy_queries`"), "{errors:#?}");
        assert!(errors[1].ends_with(": slo: missing field `service`"), "{errors:#?}");
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
