//! What a message about an event says, before any channel's format: a title, a line, facts,
//! the changes shipped and links back to pacer and to where the event came from. Slack, Teams and
//! the generic webhook render the same [`Message`], so the channels never disagree. All text here
//! is plain; each renderer escapes it for its format.

use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{Deployment, Incident};

use crate::event::{Burn, Digest, Event, Halt, Kind, RollbackNotice, Subject};
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
    /// What the list is (`Changes shipped`, `Why`).
    pub heading: &'static str,
    /// The changes shipped (rollbacks), or the reasons (a gate halt), one line each.
    pub changes: Vec<ChangeLine>,
    /// Links, pacer's first.
    pub links: Vec<Link>,
    /// The small print: where and when.
    pub footer: String,
}

/// The message about `event`, linking into pacer at `base_url`.
pub fn compose(event: &Event, base_url: &str) -> Message {
    let page = match (&event.subject, &event.team) {
        (Subject::Digest(_), Some(team)) => format!("{base_url}/?team={}", encode(team)),
        (Subject::Digest(_), None) => format!("{base_url}/"),
        _ => format!("{base_url}/?service={}&environment={}", encode(&event.service), encode(&event.environment)),
    };
    let footer = format!("pacer · {} · {}", event.environment, rfc3339(event.at));
    let mut message = match &event.subject {
        Subject::Deployment(d) => deployment(event.kind, d, base_url),
        Subject::Incident(i) => incident(event.kind, i),
        Subject::Rollback(r) => rollback(event.kind, &event.service, &event.environment, r, base_url),
        Subject::Burn(b) => burn(event, b, base_url),
        Subject::Halt(h) => halt(event, h, base_url),
        Subject::Digest(d) => digest(event, d, base_url),
    };
    message.links.insert(0, Link { id: "pacer", label: "Open in pacer", url: page });
    message.footer = footer;
    message
}

fn blank(kind: Kind, tone: Tone, title: String, summary: String) -> Message {
    Message { kind, tone, title, summary, facts: Vec::new(), heading: "Changes shipped", changes: Vec::new(), links: Vec::new(), footer: String::new() }
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

/// `0.999` as `99.9 %`.
fn percent(share: f64) -> String {
    let text = format!("{:.3}", share * 100.0);
    format!("{} %", text.trim_end_matches('0').trim_end_matches('.'))
}

fn burn(event: &Event, b: &Burn, base_url: &str) -> Message {
    let (service, environment) = (&event.service, &event.environment);
    let (title, summary) = if event.kind == Kind::SloPage {
        (
            format!("SLO {} burning fast", b.slo),
            format!("The error budget of {} ({service} in {environment}) burns fast: page whoever is on call.", b.slo),
        )
    } else {
        (
            format!("SLO {} burning", b.slo),
            format!("The error budget of {} ({service} in {environment}) burns faster than the objective allows: worth a ticket.", b.slo),
        )
    };
    let tone = if event.kind == Kind::SloPage { Tone::Bad } else { Tone::Warning };
    let mut m = blank(event.kind, tone, title, summary);
    m.facts.push(("Service", service.clone()));
    m.facts.push(("Environment", environment.clone()));
    m.facts.push(("SLO", b.slo.clone()));
    m.facts.push(("Objective", percent(b.objective)));
    m.facts.push(("Windows", b.windows.replace('&', " and ")));
    if let Some(left) = b.budget_remaining {
        m.facts.push(("Budget left", percent(left)));
    }
    if let Some(ratio) = b.error_ratio {
        m.facts.push(("Error ratio", percent(ratio)));
    }
    m.links.push(Link { id: "slo", label: "SLO in pacer", url: format!("{base_url}/api/v1/slos/{}", encode(&b.slo)) });
    m
}

fn halt(event: &Event, h: &Halt, base_url: &str) -> Message {
    let (service, environment) = (&event.service, &event.environment);
    let mut summary = format!("The deploy gate told {} to stop the rollout of {service} in {environment}", h.asker);
    summary.push_str(if h.rollback { ": what halts it came from the rollout itself, so it should be rolled back." } else { "." });
    let mut m = blank(event.kind, Tone::Warning, format!("Gate halted {service}"), summary);
    m.facts.push(("Service", service.clone()));
    m.facts.push(("Environment", environment.clone()));
    if let Some(rollout) = &h.rollout {
        m.facts.push(("Rollout", rollout.clone()));
    }
    if let Some(deployment) = &h.deployment {
        m.facts.push(("Deployment", deployment.clone()));
    }
    m.facts.push(("Asked by", h.asker.clone()));
    m.heading = "Why";
    m.changes.extend(h.reasons.iter().map(|reason| ChangeLine { reference: String::new(), text: reason.clone(), author: None }));
    m.links.push(Link {
        id: "gate",
        label: "Gate answers in pacer",
        url: format!("{base_url}/api/v1/gates?service={}&environment={}", encode(service), encode(environment)),
    });
    if let Some(deployment) = &h.deployment {
        m.links.push(Link { id: "deployment", label: "Deployment in pacer", url: format!("{base_url}/api/v1/deployments/{}", encode(deployment)) });
    }
    m
}

fn digest(event: &Event, d: &Digest, base_url: &str) -> Message {
    let whose = event.team.as_deref().map_or_else(|| "every team".to_owned(), |team| format!("team {team}"));
    let title = format!("Week {} of {whose}", d.week);
    let summary = format!("The five keys of {whose} in {} from {}, with the change from the week before.", event.environment, d.days);
    let mut m = blank(event.kind, Tone::Neutral, title, summary);
    for key in &d.keys {
        let level = key.level.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        m.facts.push((digest_label(&key.name), format!("{}{level}\n{}", key.value, key.change)));
    }
    let team = event.team.as_deref().map(|t| format!("&team={}", encode(t))).unwrap_or_default();
    m.links.push(Link { id: "report", label: "Weekly report", url: format!("{base_url}/api/v1/reports/preview?week={}{team}", encode(&d.week)) });
    m.links.push(Link { id: "dora", label: "DORA keys", url: format!("{base_url}/api/v1/dora?from=now-7d{team}") });
    m
}

/// The fact labels are static: a key's name among the five, else `Key`.
fn digest_label(name: &str) -> &'static str {
    const NAMES: [&str; 6] =
        ["Deployment frequency", "Lead time for changes", "Change failure rate", "Time to restore", "Failed-deployment recovery time", "Rework rate"];
    NAMES.iter().find(|n| n.eq_ignore_ascii_case(name)).copied().unwrap_or("Key")
}
