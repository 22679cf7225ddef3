//! The webhook sources' sections of pacer's configuration — `[github]`, `[gitlab]`, `[cdevents]`,
//! `[pagerduty]`, `[argocd]`, `[flux]`, `[jenkins]` and `[[repositories]]` — as the file spells them, and what they become: the
//! [`SourceConfig`] the parsers read and the [`WebhookSecrets`] each sender must prove it knows.
//! The binary layers the file, the environment and the flags over them; nothing here reads either.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::sources::argocd::ArgocdConfig;
use crate::sources::jenkins::{DeployJob, JenkinsConfig};
use crate::sources::{DeploySource, GitHostConfig, Mapping, RepositoryRule, SourceConfig};

/// The sources' keys of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    /// `[github]`.
    #[serde(default)]
    pub github: GitHostFile,
    /// `[gitlab]`.
    #[serde(default)]
    pub gitlab: GitHostFile,
    /// `[cdevents]`.
    #[serde(default)]
    pub cdevents: CdeventsFile,
    /// `[pagerduty]`.
    #[serde(default)]
    pub pagerduty: PagerdutyFile,
    /// `[argocd]`.
    #[serde(default)]
    pub argocd: ArgocdFile,
    /// `[flux]`.
    #[serde(default)]
    pub flux: FluxFile,
    /// `[jenkins]`.
    #[serde(default)]
    pub jenkins: JenkinsFile,
    /// `[[repositories]]`.
    #[serde(default)]
    pub repositories: Vec<RepositoryFile>,
    /// `[slack]`.
    #[serde(default)]
    pub slack: SlackFile,
}

/// `[slack]`: the deploy bot's signing secret and who may act through it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackFile {
    /// The Slack app's signing secret; without it the bot's endpoints refuse every request.
    pub signing_secret: Option<String>,
    /// Slack user ids (`U…`) with pacer's admin scope through the bot.
    #[serde(default)]
    pub admins: Vec<String>,
    /// How long a command may take to answer in the reply; a later answer goes to Slack's
    /// `response_url` (default 2000).
    pub answer_within_ms: Option<u64>,
}

/// `[github]` or `[gitlab]`: the secret (GitHub `secret`, GitLab `token`), the incident label and
/// the deploy source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHostFile {
    /// The webhook secret (GitHub) or secret token (GitLab); `token` in either section.
    #[serde(alias = "token")]
    pub secret: Option<String>,
    /// Issues with this label are incidents.
    pub incident_label: Option<String>,
    /// What counts as a deployment: `deployments`, `releases` or `both`.
    pub deploy_source: Option<String>,
}

/// `[cdevents]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdeventsFile {
    /// The bearer token senders must present.
    pub token: Option<String>,
}

/// `[pagerduty]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyFile {
    /// The signing secret.
    pub secret: Option<String>,
    /// PagerDuty service name → pacer service.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
}

/// `[argocd]`: the token Argo CD's webhook service sends, and where an application's service and
/// environment come from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgocdFile {
    /// The bearer token the notifications must present.
    pub token: Option<String>,
    /// The Application label naming the service (the application's name without it).
    pub service_label: Option<String>,
    /// The Application label naming the environment (the destination namespace without it).
    pub environment_label: Option<String>,
    /// Application name (or `service_label` value) → service.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// Destination namespace (or `environment_label` value) → environment.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
}

/// `[flux]`: the `generic-hmac` provider's key, and Flux's names → pacer's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxFile {
    /// The HMAC key (the provider secret's `token`): `X-Signature` must match.
    pub secret: Option<String>,
    /// Object name (or the `service` metadata value) → service.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// Namespace (or the `env` metadata value) → environment.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
}

/// `[jenkins]`: the Notification plugin's credentials and the deploy jobs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JenkinsFile {
    /// The password of the endpoint URL's `user:password@` (or a bearer token).
    pub token: Option<String>,
    /// `[[jenkins.deploy_jobs]]`.
    #[serde(default)]
    pub deploy_jobs: Vec<DeployJobFile>,
}

/// One `[[jenkins.deploy_jobs]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployJobFile {
    /// The job's name, or a glob (`deploy-*`).
    pub job: String,
    /// The service its builds deploy.
    pub service: String,
    /// The environment they deploy to.
    pub environment: String,
}

/// One `[[repositories]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryFile {
    /// `owner/name` (GitLab: `group/project`).
    pub repository: String,
    /// Only changes under this path, in a monorepo.
    pub path_prefix: Option<String>,
    /// The service it feeds.
    pub service: String,
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
    /// A bearer token Argo CD's webhook service sends as `Authorization: Bearer …`.
    pub argocd: Option<Secret>,
    /// Flux's `generic-hmac` key: `X-Signature` is its HMAC of the body.
    pub flux: Option<Secret>,
    /// Jenkins's token: the password of `Authorization: Basic`, or a bearer token.
    pub jenkins: Option<Secret>,
    /// The Slack app's signing secret: `X-Slack-Signature` is its HMAC of the request.
    pub slack: Option<Secret>,
}

impl SourcesFile {
    /// Validates the sections, adding every problem to `errors`.
    pub fn validate(self, errors: &mut Vec<String>) -> (SourceConfig, WebhookSecrets) {
        let Self { github, gitlab, cdevents, pagerduty, argocd, flux, jenkins, repositories, slack } = self;
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
            argocd: secret("argocd.token", argocd.token),
            flux: secret("flux.secret", flux.secret),
            jenkins: secret("jenkins.token", jenkins.token),
            slack: secret("slack.signing_secret", slack.signing_secret),
        };
        if let Some(ms) = slack.answer_within_ms.filter(|ms| !(1..=2_900).contains(ms)) {
            errors.push(format!("slack.answer_within_ms: expected 1 to 2900 (Slack waits three seconds) but found {ms}"));
        }
        for admin in &slack.admins {
            if !admin.starts_with(['U', 'W']) || admin.chars().any(|c| !c.is_ascii_alphanumeric()) {
                errors.push(format!("slack.admins: expected Slack user ids such as U024BE7LH but found {admin:?}"));
            }
        }
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
        let mut named = |name: &str, map: BTreeMap<String, String>| {
            for (from, to) in &map {
                if to.trim().is_empty() {
                    errors.push(format!("{name}.{from}: expected a name but found an empty string"));
                }
            }
            map.into_iter().map(|(from, to)| (from, to.trim().to_owned())).collect::<BTreeMap<_, _>>()
        };
        let argocd_mapping = Mapping { services: named("argocd.services", argocd.services), environments: named("argocd.environments", argocd.environments) };
        let flux = Mapping { services: named("flux.services", flux.services), environments: named("flux.environments", flux.environments) };
        let mut label = |name: &str, value: Option<String>| {
            let value = value?;
            if value.trim().is_empty() {
                errors.push(format!("{name}: expected a label key but found an empty string"));
            }
            Some(value.trim().to_owned())
        };
        let argocd = ArgocdConfig {
            service_label: label("argocd.service_label", argocd.service_label),
            environment_label: label("argocd.environment_label", argocd.environment_label),
            mapping: argocd_mapping,
        };
        let mut deploy_jobs = Vec::new();
        for (index, entry) in jenkins.deploy_jobs.into_iter().enumerate() {
            for (field, value) in [("job", &entry.job), ("service", &entry.service), ("environment", &entry.environment)] {
                if value.trim().is_empty() {
                    errors.push(format!("jenkins.deploy_jobs[{index}].{field}: expected a name but found an empty string"));
                }
            }
            deploy_jobs.push(DeployJob { job: entry.job.trim().to_owned(), service: entry.service.trim().to_owned(), environment: entry.environment.trim().to_owned() });
        }
        let jenkins = JenkinsConfig { deploy_jobs };
        let sources = SourceConfig {
            repositories: rules,
            github,
            gitlab,
            pagerduty_services: pagerduty.services,
            argocd,
            flux,
            jenkins,
            slack_admins: slack.admins.into_iter().collect(),
            slack_answer_within_ms: slack.answer_within_ms,
        };
        (sources, webhooks)
    }
}
