//! Third-party webhooks: GitHub, GitLab, CDEvents, PagerDuty, Argo CD, Flux and Jenkins payloads
//! turned into facts, and the GitHub REST objects `pacer import github` reads, turned into the
//! same facts.
//!
//! Each source has its own module with a `parse(event, payload, context)` that returns the facts
//! a delivery means, [`Parsed::Ignored`] for event types and actions pacer does not use, or every
//! problem that makes a payload of a known type unusable (a 400 for the sender). Parsing is
//! lenient, unlike the native API: unknown fields are ignored, optional fields may be missing,
//! null, empty or of another type. What the sources share lives here: the [`SourceConfig`]
//! (repositories → services, incident labels, deploy sources, the deployers' [`Mapping`]s), a
//! reader that collects problems
//! with JSON pointers, the time formats senders use, and the incident-cause convention.
//!
//! This module knows nothing of HTTP, signatures or delivery ids: the api verifies and dedupes,
//! then hands over the event type and the parsed JSON body.

pub mod argocd;
pub mod cdevents;
pub mod flux;
pub mod github;
pub mod github_import;
pub mod gitlab;
pub mod jenkins;
pub mod pagerduty;
pub mod slack;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use pacer_engine::Millis;
use pacer_engine::model::{Commit, Deployment, DeploymentStatus, Fact};

use crate::fields::{FieldError, kind};
use crate::normalize::Normalizer;

/// A webhook sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// GitHub webhooks (`X-GitHub-Event`).
    Github,
    /// GitLab webhooks (`X-Gitlab-Event`).
    Gitlab,
    /// CDEvents over CloudEvents.
    Cdevents,
    /// PagerDuty v3 webhooks.
    Pagerduty,
    /// GitHub REST API objects read by `pacer import github`.
    GithubImport,
    /// Argo CD notifications (the webhook service, with pacer's template).
    Argocd,
    /// Flux notification-controller (`generic` and `generic-hmac` providers).
    Flux,
    /// Jenkins Notification plugin.
    Jenkins,
}

impl Source {
    /// Every source.
    pub const ALL: [Self; 8] =
        [Self::Github, Self::Gitlab, Self::Cdevents, Self::Pagerduty, Self::GithubImport, Self::Argocd, Self::Flux, Self::Jenkins];

    /// The name used in paths, raw deliveries and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Cdevents => "cdevents",
            Self::Pagerduty => "pagerduty",
            Self::GithubImport => "github-import",
            Self::Argocd => "argocd",
            Self::Flux => "flux",
            Self::Jenkins => "jenkins",
        }
    }

    /// The source of a name given by [`Source::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// What a delivery means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The facts to store (never empty).
    Facts(Vec<Fact>),
    /// Nothing pacer records; the reason, for the sender's delivery log.
    Ignored(String),
}

/// The result of parsing one delivery: its meaning, or every problem with the payload.
pub type Outcome = Result<Parsed, Vec<FieldError>>;

/// Which events of a Git host count as deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeploySource {
    /// The host's deployments (GitHub deployment statuses, GitLab deployment hooks).
    #[default]
    Deployments,
    /// Published releases (GitHub) and created releases (GitLab), each a production deployment.
    Releases,
    /// Both; use only when they never describe the same deployment twice.
    Both,
}

impl DeploySource {
    /// Every choice with its configuration name.
    pub const ALL: [(&'static str, Self); 3] = [("deployments", Self::Deployments), ("releases", Self::Releases), ("both", Self::Both)];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("deployments", |(n, _)| n)
    }

    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// Whether the host's deployments count.
    pub fn deployments(self) -> bool {
        matches!(self, Self::Deployments | Self::Both)
    }

    /// Whether published releases count.
    pub fn releases(self) -> bool {
        matches!(self, Self::Releases | Self::Both)
    }
}

/// Settings of one Git host (GitHub or GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHostConfig {
    /// Issues with this label (compared case-insensitively) are incidents.
    pub incident_label: String,
    /// Which events count as deployments.
    pub deploy_source: DeploySource,
}

impl Default for GitHostConfig {
    fn default() -> Self {
        Self { incident_label: "incident".to_owned(), deploy_source: DeploySource::default() }
    }
}

/// Maps a repository, or a path prefix inside one (a monorepo), to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRule {
    /// `owner/name` (GitLab: `group/subgroup/project`), compared case-insensitively.
    pub repository: String,
    /// Only changes under this path (`services/api/`); the whole repository when absent.
    pub path_prefix: Option<String>,
    /// The service.
    pub service: String,
}

/// What the webhook parsers need to know beyond the payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceConfig {
    /// Repository (and path) → service rules; without a rule a repository `owner/name` feeds
    /// the service `name`.
    pub repositories: Vec<RepositoryRule>,
    /// GitHub settings.
    pub github: GitHostConfig,
    /// GitLab settings.
    pub gitlab: GitHostConfig,
    /// PagerDuty service (summary or id) → pacer service; unmapped services keep their summary.
    pub pagerduty_services: BTreeMap<String, String>,
    /// Argo CD settings.
    pub argocd: argocd::ArgocdConfig,
    /// Flux's names → pacer's services and environments.
    pub flux: Mapping,
    /// Jenkins settings.
    pub jenkins: jenkins::JenkinsConfig,
    /// The Slack users (ids, `U…`) the deploy bot treats as admins: they may approve rollbacks.
    pub slack_admins: BTreeSet<String>,
    /// How long the deploy bot may take to answer in the reply, in milliseconds (2000 when not
    /// set); a later answer goes to Slack's `response_url`.
    pub slack_answer_within_ms: Option<u64>,
}

/// A deployer's own names (an Argo CD application or namespace, a Flux object or namespace) →
/// pacer's services and environments. Unmapped names are kept; environments then go through the
/// environment aliases (`prod` → `production`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Name → service.
    pub services: BTreeMap<String, String>,
    /// Name → environment.
    pub environments: BTreeMap<String, String>,
}

impl Mapping {
    /// The service `name` stands for.
    pub fn service(&self, name: &str) -> String {
        self.services.get(name).cloned().unwrap_or_else(|| name.to_owned())
    }

    /// The environment `name` stands for, aliases applied.
    pub fn environment(&self, name: &str, normalizer: &Normalizer) -> String {
        normalizer.environment(self.environments.get(name).map_or(name, String::as_str))
    }
}

impl SourceConfig {
    /// How long the deploy bot may take to answer in the reply: `slack_answer_within_ms`, else
    /// 2000 ms (Slack shows an error after three seconds).
    pub fn slack_answer_within_ms(&self) -> u64 {
        self.slack_answer_within_ms.unwrap_or(2_000)
    }

    /// The service a repository as a whole feeds: the rule without a path prefix, else the
    /// repository's last path segment.
    pub fn service(&self, repository: &str) -> String {
        self.rules(repository)
            .find(|r| r.path_prefix.is_none())
            .map_or_else(|| repository.rsplit('/').next().unwrap_or(repository).to_owned(), |r| r.service.clone())
    }

    /// The service of a change touching `paths`: the one service whose path prefixes cover the
    /// paths, else the repository's service. A change spanning several services keeps the
    /// repository's service.
    pub fn service_of_paths<'p>(&self, repository: &str, paths: impl IntoIterator<Item = &'p str>) -> String {
        let prefixed: Vec<&RepositoryRule> = self.rules(repository).filter(|r| r.path_prefix.is_some()).collect();
        if prefixed.is_empty() {
            return self.service(repository);
        }
        let mut services: Vec<&str> = Vec::new();
        for path in paths {
            let path = path.trim_start_matches('/');
            let owner = prefixed
                .iter()
                .filter(|r| r.path_prefix.as_deref().is_some_and(|p| path.starts_with(p.trim_start_matches('/'))))
                .max_by_key(|r| r.path_prefix.as_ref().map_or(0, String::len));
            match owner {
                Some(rule) if !services.contains(&rule.service.as_str()) => services.push(&rule.service),
                Some(_) => {}
                None => return self.service(repository),
            }
        }
        match services.as_slice() {
            [one] => (*one).to_owned(),
            _ => self.service(repository),
        }
    }

    fn rules<'a>(&'a self, repository: &'a str) -> impl Iterator<Item = &'a RepositoryRule> + 'a {
        self.repositories.iter().filter(move |r| r.repository.eq_ignore_ascii_case(repository))
    }
}

/// What every parser is given besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Environment aliases.
    pub normalizer: &'a Normalizer,
    /// The sources' settings.
    pub config: &'a SourceConfig,
}

/// Parses one delivery of `source`: `event` is what the sender names the event (the
/// `X-GitHub-Event` or `X-Gitlab-Event` header, the CDEvents type, the PagerDuty event type).
///
/// # Errors
/// Every problem that makes a payload of a known event type unusable, each with its pointer.
pub fn parse(source: Source, event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    if !payload.is_object() {
        return Err(vec![FieldError::new("", format!("expected a JSON object but found {}", kind(payload)))]);
    }
    let parsed = match source {
        Source::Github => github::parse(event, payload, cx),
        Source::Gitlab => gitlab::parse(event, payload, cx),
        Source::Cdevents => cdevents::parse(event, payload, cx),
        Source::Pagerduty => pagerduty::parse(event, payload, cx),
        Source::GithubImport => github_import::parse(event, payload, cx),
        Source::Argocd => argocd::parse(event, payload, cx),
        Source::Flux => flux::parse(event, payload, cx),
        Source::Jenkins => jenkins::parse(event, payload, cx),
    }?;
    Ok(match parsed {
        Parsed::Facts(facts) if facts.is_empty() => Parsed::Ignored(format!("{event} carries nothing pacer records")),
        other => other,
    })
}

/// A shorthand for answering "ignored".
fn ignored(reason: impl Into<String>) -> Outcome {
    Ok(Parsed::Ignored(reason.into()))
}

/// A lenient reader of a payload: optional fields of the wrong type count as absent, required
/// ones are reported with their JSON pointer.
pub(crate) struct Doc<'a> {
    root: &'a Value,
    /// Problems with required fields.
    pub errors: Vec<FieldError>,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(root: &'a Value) -> Self {
        Self { root, errors: Vec::new() }
    }

    /// The value at `pointer`, unless missing or null.
    pub(crate) fn value(&self, pointer: &str) -> Option<&'a Value> {
        self.root.pointer(pointer).filter(|v| !v.is_null())
    }

    /// A non-empty string.
    pub(crate) fn str(&self, pointer: &str) -> Option<&'a str> {
        self.value(pointer).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
    }

    /// A non-empty string, owned.
    pub(crate) fn string(&self, pointer: &str) -> Option<String> {
        self.str(pointer).map(str::to_owned)
    }

    /// An identifier: a non-empty string or an integer.
    pub(crate) fn id(&self, pointer: &str) -> Option<String> {
        match self.value(pointer)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            other => other.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
        }
    }

    /// A point in time in one of the formats senders use (see [`parse_time`]).
    pub(crate) fn time(&self, pointer: &str) -> Option<Millis> {
        match self.value(pointer)? {
            Value::String(text) => parse_time(text),
            // Some GitHub timestamps are epoch seconds.
            Value::Number(n) => n.as_i64().and_then(|s| s.checked_mul(1_000)),
            _ => None,
        }
    }

    /// An integer.
    pub(crate) fn int(&self, pointer: &str) -> Option<i64> {
        self.value(pointer).and_then(Value::as_i64)
    }

    /// A boolean.
    pub(crate) fn bool(&self, pointer: &str) -> Option<bool> {
        self.value(pointer).and_then(Value::as_bool)
    }

    /// The elements of an array (none when missing or not an array).
    pub(crate) fn array(&self, pointer: &str) -> &'a [Value] {
        self.value(pointer).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    fn require<T>(&mut self, pointer: &str, what: &str, found: Option<T>) -> Option<T> {
        if found.is_none() {
            let detail = match self.root.pointer(pointer) {
                None | Some(Value::Null) => format!("expected {what} but the field is missing"),
                Some(Value::String(s)) if s.trim().is_empty() => format!("expected {what} but found an empty string"),
                Some(Value::String(s)) => format!("expected {what} but found {s:?}"),
                Some(other) => format!("expected {what} but found {}", kind(other)),
            };
            self.errors.push(FieldError::new(pointer, detail));
        }
        found
    }

    /// A required non-empty string.
    pub(crate) fn req_str(&mut self, pointer: &str) -> Option<String> {
        let found = self.string(pointer);
        self.require(pointer, "a non-empty string", found)
    }

    /// A required identifier.
    pub(crate) fn req_id(&mut self, pointer: &str) -> Option<String> {
        let found = self.id(pointer);
        self.require(pointer, "an identifier (a string or an integer)", found)
    }

    /// A required integer.
    pub(crate) fn req_int(&mut self, pointer: &str) -> Option<i64> {
        let found = self.int(pointer);
        self.require(pointer, "an integer", found)
    }

    /// A required point in time.
    pub(crate) fn req_time(&mut self, pointer: &str) -> Option<Millis> {
        let found = self.time(pointer);
        self.require(pointer, "a timestamp (RFC 3339)", found)
    }

    /// The fact built from what was read, or every problem found.
    pub(crate) fn finish<T>(self, built: Option<T>) -> Result<T, Vec<FieldError>> {
        match built {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ if self.errors.is_empty() => Err(vec![FieldError::new("", "the payload lacks what this event type needs")]),
            _ => Err(self.errors),
        }
    }
}

/// A commit as GitHub and GitLab list it in a push (`id`, `timestamp`, `message`, `author`,
/// `added`/`modified`/`removed`: the same shape on both).
pub(crate) struct PushedCommit {
    sha: String,
    committed_at: Millis,
    author: Option<String>,
    message: Option<String>,
    paths: Vec<String>,
}

impl PushedCommit {
    /// The commit id.
    pub(crate) fn sha(&self) -> &str {
        &self.sha
    }
}

/// Reads the commits of a push at `pointer`; a commit without an id or time is a problem.
pub(crate) fn pushed_commits(d: &mut Doc<'_>, pointer: &str) -> Vec<PushedCommit> {
    let mut commits = Vec::new();
    for (i, commit) in d.array(pointer).iter().enumerate() {
        let at = |field: &str| format!("{pointer}/{i}/{field}");
        let sha = d.req_str(&at("id"));
        let committed_at = d.req_time(&at("timestamp"));
        let author = d.string(&at("author/username")).or_else(|| d.string(&at("author/name")));
        let message = d.string(&at("message"));
        let paths = ["added", "modified", "removed"]
            .iter()
            .flat_map(|list| commit.get(list).and_then(Value::as_array).map_or(&[][..], Vec::as_slice))
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        if let (Some(sha), Some(committed_at)) = (sha, committed_at) {
            commits.push(PushedCommit { sha, committed_at, author, message, paths });
        }
    }
    commits
}

/// The commits of a push, chained into the commit graph: the first commit's parent is `before`
/// (the branch's previous head), each next commit's parent the one before it. A push lists its
/// commits oldest first; a force push replaced history, so its `before` is no parent and the
/// first commit's parents stay unknown.
pub(crate) fn chain(repository: &str, before: Option<String>, commits: Vec<PushedCommit>, cx: &Context<'_>) -> Vec<Fact> {
    let mut parent = before.filter(|sha| !is_null_sha(sha));
    commits
        .into_iter()
        .map(|c| {
            let service = cx.config.service_of_paths(repository, c.paths.iter().map(String::as_str));
            let parents = parent.replace(c.sha.clone()).into_iter().collect();
            Fact::Commit(Commit {
                sha: c.sha,
                committed_at: c.committed_at,
                repository: Some(repository.to_owned()),
                service: Some(service),
                parents,
                authored_at: None,
                author: c.author,
                message: c.message,
            })
        })
        .collect()
}

/// A release counted as a deployment (when releases are a deploy source): to production,
/// successful, finished when it was published.
pub(crate) fn release_deployment(id: String, service: String, version: Option<String>, commit_sha: Option<String>, released_at: Millis, url: Option<String>) -> Deployment {
    Deployment {
        id,
        service,
        environment: crate::normalize::PRODUCTION.to_owned(),
        version,
        commit_sha,
        status: DeploymentStatus::Success,
        started_at: None,
        finished_at: Some(released_at),
        commits: Vec::new(),
        rollback_of: None,
        unplanned: false,
        team: None,
        url,
    }
}

/// A CI conclusion in pacer's words (`success`, `failure`, `cancelled`, `skipped`, `timed_out`,
/// `error`); GitHub's and GitLab's other words are mapped, unknown ones kept.
pub(crate) fn ci_status(conclusion: &str) -> String {
    match conclusion.to_ascii_lowercase().as_str() {
        "success" | "passed" => "success",
        "failure" | "failed" | "action_required" => "failure",
        "cancelled" | "canceled" | "cancel" | "stale" => "cancelled",
        "skipped" | "neutral" | "manual" => "skipped",
        "timed_out" => "timed_out",
        "error" | "startup_failure" => "error",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// Parses a timestamp as senders write them: RFC 3339 (`2026-01-05T10:00:00Z`), GitLab's
/// `2026-01-05 10:00:00 UTC` and `2026-01-05 10:00:00 +0100`.
pub fn parse_time(text: &str) -> Option<Millis> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(t.timestamp_millis());
    }
    let utc = text.strip_suffix(" UTC").or_else(|| text.strip_suffix(" Z"))?;
    NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc().timestamp_millis())
}

/// The cause an incident's text names, by the Four Keys convention: a line `root cause: <sha>`
/// or `deployment: <id>` (case-insensitive; Markdown emphasis and list markers are allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedCause {
    /// The commit named by `root cause:`; only a hexadecimal sha of at least 7 characters counts.
    pub commit_sha: Option<String>,
    /// The deployment named by `deployment:`, as written.
    pub deployment: Option<String>,
}

impl NamedCause {
    /// Reads the first `root cause:` and `deployment:` lines of `text`.
    pub fn find(text: &str) -> Self {
        let mut cause = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let key = key.trim_matches(|c: char| c.is_whitespace() || "*_`->#".contains(c)).to_ascii_lowercase();
            let value = value.trim_matches(|c: char| c.is_whitespace() || "*_`".contains(c));
            let Some(token) = value.split_whitespace().next().map(|t| t.trim_matches(|c: char| "*_`.,;".contains(c))) else { continue };
            if token.is_empty() {
                continue;
            }
            match key.as_str() {
                "root cause" | "root-cause" | "rootcause"
                    if cause.commit_sha.is_none() && token.len() >= 7 && token.chars().all(|c| c.is_ascii_hexdigit()) =>
                {
                    cause.commit_sha = Some(token.to_ascii_lowercase());
                }
                "deployment" | "deployment id" | "deployment_id" if cause.deployment.is_none() => cause.deployment = Some(token.to_owned()),
                _ => {}
            }
        }
        cause
    }
}

/// The cause an issue names; a bare number after `deployment:` means the host's deployment of
/// that number in the same repository (`host_deployment` makes its id).
pub(crate) fn issue_cause(body: Option<&str>, host_deployment: impl Fn(&str) -> String) -> NamedCause {
    let mut cause = NamedCause::find(body.unwrap_or(""));
    if let Some(named) = cause.deployment.take() {
        let is_number = named.bytes().all(|b| b.is_ascii_digit());
        cause.deployment = Some(if is_number { host_deployment(&named) } else { named });
    }
    cause
}

/// Whether one of `labels` (objects with the label name in `field`) is `wanted`,
/// case-insensitively.
pub(crate) fn has_label(labels: &[Value], field: &str, wanted: &str) -> bool {
    labels.iter().filter_map(|l| l.get(field).and_then(Value::as_str)).any(|name| name.trim().eq_ignore_ascii_case(wanted.trim()))
}

/// Whether `sha` is a commit id rather than a branch or tag name.
pub(crate) fn is_sha(sha: &str) -> bool {
    (40..=64).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit())
}

/// The all-zero sha Git hosts send for "no commit" (a created or deleted ref).
pub(crate) fn is_null_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.chars().all(|c| c == '0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_time_formats_all_parse() {
        let expected = Some(1_767_607_200_000); // 2026-01-05T10:00:00Z
        assert_eq!(parse_time("2026-01-05T10:00:00Z"), expected);
        assert_eq!(parse_time("2026-01-05T11:00:00+01:00"), expected);
        assert_eq!(parse_time("2026-01-05 10:00:00 UTC"), expected);
        assert_eq!(parse_time("2026-01-05 12:00:00 +0200"), expected);
        assert_eq!(parse_time("2026-01-05 10:00:00"), None, "no zone is not a time");
    }

    #[test]
    fn a_cause_is_read_from_a_root_cause_or_deployment_line() {
        let text = "Checkout is down.\n\n**Root cause:** `9F1C2E0a`\n- deployment: checkout-prod-318\n";
        assert_eq!(
            NamedCause::find(text),
            NamedCause { commit_sha: Some("9f1c2e0a".into()), deployment: Some("checkout-prod-318".into()) }
        );
        assert_eq!(NamedCause::find("root cause: a bad config push"), NamedCause::default(), "words are not a sha");
    }

    fn monorepo() -> SourceConfig {
        let rule = |prefix: Option<&str>, service: &str| RepositoryRule {
            repository: "acme/mono".into(),
            path_prefix: prefix.map(str::to_owned),
            service: service.into(),
        };
        SourceConfig { repositories: vec![rule(None, "platform"), rule(Some("services/api/"), "api"), rule(Some("services/web"), "web")], ..SourceConfig::default() }
    }

    #[test]
    fn a_repository_feeds_its_name_unless_configured() {
        let config = monorepo();
        assert_eq!(config.service("octo/Hello-World"), "Hello-World");
        assert_eq!(config.service("group/sub/project"), "project");
        assert_eq!(config.service("ACME/mono"), "platform");
    }

    #[test]
    fn paths_inside_a_monorepo_pick_the_one_service_they_touch() {
        let config = monorepo();
        assert_eq!(config.service_of_paths("acme/mono", ["services/api/main.rs", "services/api/lib.rs"]), "api");
        assert_eq!(config.service_of_paths("acme/mono", ["services/web/index.ts"]), "web");
        assert_eq!(config.service_of_paths("acme/mono", ["services/api/a.rs", "services/web/b.ts"]), "platform", "two services");
        assert_eq!(config.service_of_paths("acme/mono", ["README.md"]), "platform", "outside every prefix");
        assert_eq!(config.service_of_paths("octo/other", ["x"]), "other");
    }
}
