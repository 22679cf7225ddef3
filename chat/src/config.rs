//! Chat's section of the configuration file: `[chat]` (pacer's public address for links, how old
//! an event may be to be announced, attempts) and the `[[notify]]` rules (where each kind of
//! event goes). Validated with every problem reported at once; URLs and secrets are never
//! printed, since a Slack or Teams webhook URL is itself the credential.

use std::collections::BTreeSet;
use std::time::Duration;

use pacer_collector::Normalizer;
use pacer_engine::Millis;
use pacer_engine::model::SECOND;
use serde::Deserialize;

use crate::event::Kind;

/// The channel kinds a rule can post to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A Slack incoming webhook: Block Kit.
    Slack,
    /// A Microsoft Teams Workflows webhook: an Adaptive Card.
    Teams,
    /// Any HTTP endpoint: pacer's JSON, signed per Standard Webhooks.
    Webhook,
}

impl Channel {
    /// Every kind with its name in the file.
    pub const ALL: [(&'static str, Self); 3] = [("slack", Self::Slack), ("teams", Self::Teams), ("webhook", Self::Webhook)];

    /// Its name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Webhook => "webhook",
        }
    }
}

/// One destination and what it hears.
#[derive(Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name: the key its messages are stored under, and what logs call it.
    pub name: String,
    /// The channel kind.
    pub channel: Channel,
    /// Where to POST (a secret for Slack and Teams).
    pub url: String,
    /// The Standard Webhooks secret of a `webhook` rule.
    pub secret: Option<String>,
    /// The events it hears.
    pub events: BTreeSet<Kind>,
    /// Only these services, when not empty.
    pub services: BTreeSet<String>,
    /// Only the services of these teams, when not empty.
    pub teams: BTreeSet<String>,
    /// Only these environments.
    pub environments: BTreeSet<String>,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL of a Slack or Teams webhook is its credential: never printed.
        f.debug_struct("Rule").field("name", &self.name).field("channel", &self.channel).field("events", &self.events).finish_non_exhaustive()
    }
}

/// Everything chat notifications are configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    /// pacer's address as people reach it, for the links in messages.
    pub base_url: String,
    /// Events older than this when pacer notices them (a backfill, the demo's history) are not
    /// announced.
    pub max_age: Millis,
    /// Give up on a message after this many attempts.
    pub max_attempts: u32,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

impl ChatConfig {
    /// The rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
}

/// The default `max_age_secs`: an hour.
pub const DEFAULT_MAX_AGE_SECS: i64 = 3_600;

/// Chat's keys of the configuration file: `[chat]` and `[[notify]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatFile {
    /// `[chat]`.
    #[serde(default)]
    pub chat: ChatSection,
    /// `[[notify]]`.
    #[serde(default)]
    pub notify: Vec<NotifyFile>,
}

/// `[chat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSection {
    /// pacer's public address, `https://pacer.example.com`.
    pub base_url: Option<String>,
    /// The oldest event announced, in seconds before it is noticed.
    pub max_age_secs: Option<i64>,
    /// Give up on a message after this many attempts.
    pub max_attempts: Option<u32>,
}

/// One `[[notify]]` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    /// Its name (default `<kind>-<n>`, n counting from 1 in file order).
    pub name: Option<String>,
    /// `slack`, `teams` or `webhook`.
    pub kind: String,
    /// Where to POST.
    pub url: String,
    /// The Standard Webhooks secret (`webhook` only).
    pub secret: Option<String>,
    /// The events: names such as `deployment.succeeded`, or `deployment.*`; every event when left out.
    pub events: Option<Vec<String>>,
    /// Only these services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Only the services of these teams.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Only these environments (default `production`).
    pub environments: Option<Vec<String>>,
    /// How long to wait for an answer (default 10 s).
    pub timeout_secs: Option<u64>,
}

impl ChatFile {
    /// Validates `[chat]` and `[[notify]]`, adding every problem to `errors`; environments are
    /// named through `normalizer`.
    pub fn validate(self, normalizer: &Normalizer, errors: &mut Vec<String>) -> ChatConfig {
        let Self { chat, notify } = self;
        let mut config = ChatConfig { base_url: String::new(), max_age: DEFAULT_MAX_AGE_SECS * SECOND, max_attempts: 8, rules: Vec::new() };
        match chat.base_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => config.base_url = url.trim_end_matches('/').to_owned(),
            Some(url) => errors.push(format!("chat.base_url: expected an http:// or https:// URL but found {url:?}")),
            None if !notify.is_empty() => errors.push("chat.base_url: expected pacer's public address (messages link back to it) since [[notify]] rules are set".to_owned()),
            None => {}
        }
        if let Some(secs) = chat.max_age_secs {
            if (60..=30 * 86_400).contains(&secs) {
                config.max_age = secs * SECOND;
            } else {
                errors.push(format!("chat.max_age_secs: expected 60 to 2592000 but found {secs}"));
            }
        }
        if let Some(n) = chat.max_attempts {
            if (1..=100).contains(&n) { config.max_attempts = n } else { errors.push(format!("chat.max_attempts: expected 1 to 100 but found {n}")) }
        }
        let mut names = BTreeSet::new();
        for (index, rule) in notify.into_iter().enumerate() {
            let at = format!("notify[{index}]");
            let channel = match Channel::ALL.iter().find(|(name, _)| *name == rule.kind) {
                Some((_, channel)) => *channel,
                None => {
                    errors.push(format!("{at}.kind: expected slack, teams or webhook but found {:?}", rule.kind));
                    Channel::Webhook
                }
            };
            let name = rule.name.unwrap_or_else(|| format!("{}-{}", channel.as_str(), index + 1));
            if name.is_empty() || !names.insert(name.clone()) {
                errors.push(format!("{at}.name: expected a name no other rule has but found {name:?}"));
            }
            if !(rule.url.starts_with("http://") || rule.url.starts_with("https://")) {
                // The URL itself is a credential: say what is wrong without repeating it.
                errors.push(format!("{at}.url: expected an http:// or https:// URL"));
            }
            if rule.secret.is_some() && channel != Channel::Webhook {
                errors.push(format!("{at}.secret: only a webhook rule signs its messages; {} authenticates by its URL", channel.as_str()));
            }
            let events = match rule.events {
                None => Kind::ALL.iter().map(|(_, kind)| *kind).collect(),
                Some(list) => {
                    let mut events = BTreeSet::new();
                    for name in list {
                        let matched: Vec<Kind> = Kind::ALL.iter().filter(|(n, _)| Kind::matches(&name, n)).map(|(_, k)| *k).collect();
                        if matched.is_empty() {
                            let known: Vec<&str> = Kind::ALL.iter().map(|(n, _)| *n).collect();
                            errors.push(format!("{at}.events: expected one of {} (or a prefix such as deployment.*) but found {name:?}", known.join(", ")));
                        }
                        events.extend(matched);
                    }
                    events
                }
            };
            let timeout = rule.timeout_secs.unwrap_or(10);
            if !(1..=60).contains(&timeout) {
                errors.push(format!("{at}.timeout_secs: expected 1 to 60 but found {timeout}"));
            }
            let environments = rule.environments.unwrap_or_else(|| vec!["production".to_owned()]).iter().map(|e| normalizer.environment(e)).collect();
            config.rules.push(Rule {
                name,
                channel,
                url: rule.url,
                secret: rule.secret,
                events,
                services: rule.services.into_iter().collect(),
                teams: rule.teams.into_iter().collect(),
                environments,
                timeout: Duration::from_secs(timeout.clamp(1, 60)),
            });
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(toml: &str) -> (ChatConfig, Vec<String>) {
        let file: ChatFile = toml::from_str(toml).expect("parses");
        let mut errors = Vec::new();
        let config = file.validate(&Normalizer::default(), &mut errors);
        (config, errors)
    }

    #[test]
    fn every_problem_of_the_rules_is_reported_at_once() {
        let (_, errors) = validate(
            r#"
            [[notify]]
            kind = "irc"
            url = "ftp://secret-token"
            events = ["deployment.exploded"]
            timeout_secs = 0
            [[notify]]
            kind = "slack"
            url = "https://hooks.slack.com/services/T/B/x"
            secret = "whsec_x"
            "#,
        );
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("chat.base_url")), "{errors:#?}");
        assert!(errors.iter().all(|e| !e.contains("secret-token")), "a URL is never repeated: {errors:#?}");
    }

    #[test]
    fn a_prefix_selects_every_event_of_its_kind_and_no_list_selects_all() {
        let (config, errors) = validate(
            r#"
            chat.base_url = "https://pacer.example.com/"
            [[notify]]
            kind = "teams"
            url = "https://example.com/flow"
            events = ["rollback.*", "incident.opened"]
            [[notify]]
            kind = "webhook"
            url = "https://example.com/hook"
            "#,
        );
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(config.base_url, "https://pacer.example.com");
        let names: Vec<&str> = config.rules[0].events.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["rollback.decided", "rollback.awaiting_approval", "rollback.delivered", "rollback.failed", "incident.opened"]);
        assert_eq!(config.rules[1].events.len(), Kind::ALL.len());
        assert_eq!(config.rules[1].name, "webhook-2");
    }
}
