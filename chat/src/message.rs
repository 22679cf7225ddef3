//! What a message about an event says, before any channel's format: a title, a line, facts,
//! the changes shipped and links back to pacer and to where the event came from. Slack, Teams and
//! the generic webhook render the same [`Message`], so the channels never disagree. All text here
//! is plain; each renderer escapes it for its format.

use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{Deployment, Incident};

use crate::event::{Event, Kind, RollbackNotice, Subject};
use crate::text::{duration, encode, short_sha};

/// How an event feels, for the colour a channel gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something is under way.
    Neutral,
    /// Something went well.
    Good,
    /// Someone must act.
    Warning,
    /// Something went wrong.
    Bad,
}

/// A link shown as a button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// A stable id (Slack's `action_id`).
    pub id: &'static str,
    /// Its label.
    pub label: &'static str,
    /// Where it goes.
    pub url: String,
}

/// A commit or pull request a deployment shipped, as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLine {
    /// `abc1234` or `#42`.
    pub reference: String,
    /// The first line of its message, or the pull request's repository.
    pub text: String,
    /// Its author.
    pub author: Option<String>,
}

/// A message, channel-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The event kind.
    pub kind: Kind,
    /// Its tone.
    pub tone: Tone,
    /// The title, one short line.
    pub title: String,
    /// What happened, one sentence.
    pub summary: String,
    /// Labelled values.
    pub facts: Vec<(&'static str, String)>,
    /// The changes shipped (rollbacks).
    pub changes: Vec<ChangeLine>,
    /// Links, pacer's first.
    pub links: Vec<Link>,
    /// The small print: where and when.
    pub footer: String,
}

/// The message about `event`, linking into pacer at `base_url`.
pub fn compose(event: &Event, base_url: &str) -> Message {
    let page = format!("{base_url}/?service={}&environment={}", encode(&event.service), encode(&event.environment));
    let footer = format!("pacer · {} · {}", event.environment, rfc3339(event.at));
    let mut message = match &event.subject {
        Subject::Deployment(d) => deployment(event.kind, d, base_url),
        Subject::Incident(i) => incident(event.kind, i),
        Subject::Rollback(r) => rollback(event.kind, &event.service, &event.environment, r, base_url),
    };
    message.links.insert(0, Link { id: "pacer", label: "Open in pacer", url: page });
    message.footer = footer;
    message
}

fn blank(kind: Kind, tone: Tone, title: String, summary: String) -> Message {
    Message { kind, tone, title, summary, facts: Vec::new(), changes: Vec::new(), links: Vec::new(), footer: String::new() }
}

fn version(d: &Deployment) -> String {
    match (&d.version, &d.commit_sha) {
        (Some(v), _) => v.clone(),
        (None, Some(sha)) => short_sha(sha).to_owned(),
        (None, None) => d.id.clone(),
    }
}

fn deployment(kind: Kind, d: &Deployment, base_url: &str) -> Message {
    let v = version(d);
    let (tone, title, summary) = match kind {
        Kind::DeploymentStarted => (Tone::Neutral, format!("Deploying {} {v}", d.service), format!("{} {v} is being deployed to {}.", d.service, d.environment)),
        Kind::DeploymentFailed => (Tone::Bad, format!("Deployment of {} {v} failed", d.service), format!("The deployment of {} {v} to {} failed.", d.service, d.environment)),
        _ => (Tone::Good, format!("Deployed {} {v}", d.service), format!("{} {v} is live in {}.", d.service, d.environment)),
    };
    let mut m = blank(kind, tone, title, summary);
    m.facts.push(("Service", d.service.clone()));
    m.facts.push(("Environment", d.environment.clone()));
    if let Some(version) = &d.version {
        m.facts.push(("Version", version.clone()));
    }
    if let Some(sha) = &d.commit_sha {
        m.facts.push(("Commit", short_sha(sha).to_owned()));
    }
    if let Some(team) = &d.team {
        m.facts.push(("Team", team.clone()));
    }
    if let (Some(start), Some(finish)) = (d.started_at, d.finished_at) {
        m.facts.push(("Took", duration(finish - start)));
    }
    if let Some(of) = &d.rollback_of {
        m.facts.push(("Rolls back", of.clone()));
    }
    m.links.push(Link { id: "deployment", label: "Deployment in pacer", url: format!("{base_url}/api/v1/deployments/{}", encode(&d.id)) });
    if let Some(url) = &d.url {
        m.links.push(Link { id: "build", label: "Build", url: url.clone() });
    }
    m
}

fn incident(kind: Kind, i: &Incident) -> Message {
    let name = i.title.clone().unwrap_or_else(|| i.id.clone());
    let (tone, title, summary) = match (kind, i.resolved_at) {
        (Kind::IncidentResolved, Some(resolved)) => (
            Tone::Good,
            format!("Resolved: {name}"),
            format!("The incident on {} in {} is resolved after {}.", i.service, i.environment, duration(resolved - i.opened_at)),
        ),
        _ => (Tone::Bad, format!("Incident: {name}"), format!("An incident opened on {} in {}.", i.service, i.environment)),
    };
    let mut m = blank(kind, tone, title, summary);
    m.facts.push(("Service", i.service.clone()));
    m.facts.push(("Environment", i.environment.clone()));
    if let Some(severity) = &i.severity {
        m.facts.push(("Severity", severity.clone()));
    }
    m.facts.push(("Opened", rfc3339(i.opened_at)));
    if let Some(cause) = &i.deployment_id {
        m.facts.push(("Caused by deployment", cause.clone()));
    } else if let Some(sha) = &i.commit_sha {
        m.facts.push(("Caused by commit", short_sha(sha).to_owned()));
    }
    if let Some(url) = &i.url {
        m.links.push(Link { id: "incident", label: "Incident", url: url.clone() });
    }
    m
}

fn rollback(kind: Kind, service: &str, environment: &str, r: &RollbackNotice, base_url: &str) -> Message {
    let (tone, title, summary) = match kind {
        Kind::RollbackAwaitingApproval => (Tone::Warning, format!("Rollback of {service} awaits approval"), r.reason.clone()),
        Kind::RollbackDelivered => (Tone::Good, format!("Rolled back {service}"), format!("The deployer accepted the rollback of {service} in {environment}.")),
        Kind::RollbackFailed => (
            Tone::Bad,
            format!("Rollback of {service} failed"),
            format!("A rollback hook gave up: the rollback of {service} in {environment} did not reach the deployer. Roll back by hand."),
        ),
        _ if r.mode == "dry_run" => (Tone::Warning, format!("Would roll back {service} (dry run)"), r.reason.clone()),
        _ => (Tone::Bad, format!("Rolling back {service}"), r.reason.clone()),
    };
    let mut m = blank(kind, tone, title, summary);
    m.facts.push(("Service", service.to_owned()));
    m.facts.push(("Environment", environment.to_owned()));
    m.links.push(Link { id: "rollback", label: "Rollback in pacer", url: format!("{base_url}/api/v1/rollbacks/{}", encode(&r.id)) });
    let Some(report) = &r.report else { return m };
    let label = |d: &pacer_rollback::report::DeploymentSummary| match (&d.version, &d.commit_sha) {
        (Some(v), Some(sha)) => format!("{v} ({})", short_sha(sha)),
        (Some(v), None) => v.clone(),
        (None, Some(sha)) => short_sha(sha).to_owned(),
        (None, None) => d.id.clone(),
    };
    m.facts.push(("From", label(&report.deployment)));
    m.facts.push(("Back to", label(&report.target)));
    m.facts.push(("Alert", report.trigger.alert.clone()));
    m.facts.push(("Policy", report.mode.clone()));
    if kind == Kind::RollbackAwaitingApproval {
        m.facts.push(("Approve", format!("POST /api/v1/rollbacks/{}/approve", r.id)));
    }
    m.changes.extend(report.changes.pull_requests.iter().map(|p| ChangeLine {
        reference: format!("#{}", p.number),
        text: p.repository.clone(),
        author: p.author.clone(),
    }));
    m.changes.extend(report.changes.commits.iter().map(|c| ChangeLine {
        reference: short_sha(&c.sha).to_owned(),
        text: c.message.as_deref().and_then(|text| text.lines().next()).unwrap_or("").to_owned(),
        author: c.author.clone(),
    }));
    let optional = [
        ("alert", "Alert", report.trigger.generator_url.clone()),
        ("compare", "Changes", report.changes.compare_url.clone()),
        ("build", "Bad build", report.deployment.url.clone()),
    ];
    m.links.extend(optional.into_iter().filter_map(|(id, label, url)| Some(Link { id, label, url: url? })));
    m
}
