//! An incident's timeline, assembled from facts already read: every entry in time order, and the
//! durations derived from them (detect, decide, roll back, restore). Pure: no I/O, no clock; what
//! the facts do not hold stays `None` and is named in [`Timeline::unknown`], never guessed.
//!
//! [`super`] reads the facts; the route serializes a [`Timeline`]; [`super::draft`] turns one into
//! the postmortem's sections.

use std::collections::BTreeMap;

use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{Deployment, Incident};
use pacer_store::{CiRunRow, CommitSummary, GateAnswerRow, PullRequestSummary, RollbackRow};
use serde::{Serialize, Serializer};

use crate::gate::verdict::Reason;

/// Everything known about an incident, as read from the store and the analysis.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The incident.
    pub incident: Incident,
    /// Why a deployment is blamed, when one is.
    pub cause: Cause,
    /// The deployments it is blamed on, with what they shipped.
    pub suspects: Vec<Suspect>,
    /// pacer's rollback decisions about it or its suspects, with their deliveries.
    pub rollbacks: Vec<RollbackRow>,
    /// The gate's answers for the service while the incident was open (the first ones).
    pub gate_answers: Vec<GateAnswerRow>,
    /// Whether the gate answered more often than `gate_answers` holds.
    pub more_gate_answers: bool,
    /// The deployments that carried out a rollback of a suspect, or fixed forward while it was
    /// open.
    pub recoveries: Vec<Deployment>,
}

/// A deployment an incident is blamed on, with what it shipped.
#[derive(Debug, Clone)]
pub struct Suspect {
    /// The deployment.
    pub deployment: Deployment,
    /// The commits it shipped first.
    pub commits: Vec<CommitSummary>,
    /// The pull requests merged as those commits.
    pub pull_requests: Vec<PullRequestSummary>,
    /// The CI runs of its head commit.
    pub ci_runs: Vec<CiRunRow>,
    /// The compare link from the deployment before it, when the repository and both commits are
    /// known.
    pub compare_url: Option<String>,
}

/// Why a deployment is blamed for an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The incident names the deployment.
    NamedDeployment,
    /// The incident names a commit the deployment shipped.
    NamedCommit,
    /// pacer blamed the deployment the alert followed within the guard window.
    GuardWindow,
    /// The incident names no cause; the deployment was the latest one before it, within the
    /// attribution window.
    AttributionWindow,
    /// No deployment is known to have caused it.
    Unknown,
}

/// What kind of fact an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A suspect deployment started.
    DeploymentStarted,
    /// A suspect deployment finished, with what it shipped.
    DeploymentFinished,
    /// The alert that opened the incident fired.
    AlertFired,
    /// pacer's SLO evaluator found the error budget burning at the paging rate.
    SloBurnStarted,
    /// The incident opened.
    IncidentOpened,
    /// pacer decided to roll back.
    RollbackDecided,
    /// Someone approved a manual rollback.
    RollbackApproved,
    /// pacer tried to deliver a rollback hook.
    HookAttempt,
    /// The deploy gate answered a rollout.
    GateAnswer,
    /// The deployment that rolled a suspect back finished.
    RollbackDeploymentFinished,
    /// A deployment finished while the incident was open (a fix forward).
    FixForwardDeploymentFinished,
    /// The alert resolved.
    AlertResolved,
    /// The SLO burn ended.
    SloBurnEnded,
    /// The incident was resolved.
    IncidentResolved,
}

/// Who told pacer of an entry's fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A deployer (native events, a Git host, CD tool or CI).
    Deployer,
    /// An alert receiver (Alertmanager, Grafana alerting, a deployer's health report).
    Alerting,
    /// pacer's SLO evaluator.
    Slo,
    /// The incident's tracker (native events, a Git host's issue, PagerDuty, …).
    Incident,
    /// pacer itself: its rollback decisions and hook deliveries.
    Pacer,
    /// pacer's deploy gate.
    Gate,
}

/// One fact of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// When it happened.
    #[serde(serialize_with = "time")]
    pub at: Millis,
    /// What kind of fact it is.
    pub kind: Kind,
    /// Who told pacer.
    pub source: Source,
    /// One line for people.
    pub summary: String,
    /// Where to see more, when known.
    pub link: Option<String>,
    /// What the fact holds, by kind.
    pub details: Details,
}

/// What an entry holds, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Details {
    /// A deployment.
    Deployment(DeploymentDetails),
    /// An alert or SLO burn.
    Alert(AlertDetails),
    /// The incident itself.
    Incident(IncidentDetails),
    /// A rollback decision or approval.
    Rollback(RollbackDetails),
    /// A hook delivery attempt.
    Attempt(AttemptDetails),
    /// A gate answer.
    Gate(GateDetails),
}

/// A deployment entry's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentDetails {
    /// Its id.
    pub deployment_id: String,
    /// Its service.
    pub service: String,
    /// Its version.
    pub version: Option<String>,
    /// Its head commit.
    pub commit_sha: Option<String>,
    /// The deployment it rolls back.
    pub rollback_of: Option<String>,
    /// What it shipped: on a suspect's finish only.
    pub shipped: Option<Shipped>,
}

/// What a suspect deployment shipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shipped {
    /// Its changeset's commits.
    pub commits: Vec<ShippedCommit>,
    /// The pull requests merged as them, with their stages.
    pub pull_requests: Vec<ShippedPullRequest>,
    /// The CI runs that built its head commit.
    pub ci_runs: Vec<BuildRun>,
    /// The compare link.
    pub compare_url: Option<String>,
}

/// A shipped commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShippedCommit {
    /// Its sha.
    pub sha: String,
    /// Its author.
    pub author: Option<String>,
    /// The first line of its message.
    pub message: Option<String>,
    /// When it was committed.
    #[serde(serialize_with = "time")]
    pub committed_at: Millis,
}

/// A shipped pull request with its stages' times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShippedPullRequest {
    /// Its id.
    pub id: String,
    /// Its repository.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// Its author.
    pub author: Option<String>,
    /// Its first commit.
    #[serde(serialize_with = "maybe_time")]
    pub first_commit_at: Option<Millis>,
    /// When it was opened.
    #[serde(serialize_with = "time")]
    pub opened_at: Millis,
    /// Its first review.
    #[serde(serialize_with = "maybe_time")]
    pub first_review_at: Option<Millis>,
    /// When it was merged.
    #[serde(serialize_with = "maybe_time")]
    pub merged_at: Option<Millis>,
}

/// A CI run that built a deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildRun {
    /// Its id.
    pub id: String,
    /// Its pipeline.
    pub pipeline: String,
    /// How it ended.
    pub status: String,
    /// Its link.
    pub url: Option<String>,
    /// When it finished.
    #[serde(serialize_with = "time")]
    pub finished_at: Millis,
}

/// An alert entry's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDetails {
    /// The alert's name.
    pub alert: String,
    /// Its labels, when known (pacer keeps them with a rollback decision).
    pub labels: Option<BTreeMap<String, String>>,
    /// Its annotations, when known.
    pub annotations: Option<BTreeMap<String, String>>,
    /// The link to the query that fired it.
    pub generator_url: Option<String>,
    /// The SLO whose budget burned, for an SLO burn.
    pub slo: Option<String>,
}

/// The incident's own entries' details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentDetails {
    /// Its id.
    pub incident_id: String,
    /// Its title.
    pub title: Option<String>,
    /// Its severity.
    pub severity: Option<String>,
}

/// A rollback entry's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackDetails {
    /// Its id.
    pub rollback_id: String,
    /// `auto`, `manual` or `dry_run`.
    pub mode: String,
    /// Where it stands now.
    pub state: String,
    /// pacer's one-line reason.
    pub reason: String,
    /// The deployment rolled back.
    pub deployment_id: String,
    /// The deployment returned to.
    pub target_deployment_id: String,
    /// Who approved it: pacer by policy for `auto`; for a manual approval, who approved it
    /// (`None` while it waits, or for one approved before pacer recorded approvers).
    pub approved_by: Option<String>,
}

/// A hook delivery attempt's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptDetails {
    /// The rollback delivered.
    pub rollback_id: String,
    /// The hook.
    pub hook_url: String,
    /// The stable webhook id.
    pub webhook_id: String,
    /// The attempt's number, from 1.
    pub attempt: i64,
    /// The hook's status code, when it answered.
    pub status_code: Option<i64>,
    /// How long the attempt took.
    pub latency_ms: i64,
    /// Why it failed without an answer.
    pub error: Option<String>,
}

/// A gate answer's details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDetails {
    /// Who asked.
    pub asker: String,
    /// Whether the rollout could proceed.
    pub proceed: bool,
    /// The deployment the asker named.
    pub deployment_id: Option<String>,
    /// The rollout's key.
    pub rollout: Option<String>,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// The durations derived from the entries, in seconds; `None` when a fact they need is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Durations {
    /// The suspect deployment finished → the first alert (or, without one, the incident opened).
    pub detect_seconds: Option<f64>,
    /// The first alert (or the opening) → pacer's rollback decision.
    pub decide_seconds: Option<f64>,
    /// The rollback decision → the rollback deployment finished.
    pub roll_back_seconds: Option<f64>,
    /// The incident opened → resolved.
    pub restore_seconds: Option<f64>,
}

/// The incident as the timeline heads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heading {
    /// Its id.
    pub id: String,
    /// Its service.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// Its title.
    pub title: Option<String>,
    /// Its severity.
    pub severity: Option<String>,
    /// Its link.
    pub url: Option<String>,
    /// When it opened.
    #[serde(serialize_with = "time")]
    pub opened_at: Millis,
    /// When it was resolved.
    #[serde(serialize_with = "maybe_time")]
    pub resolved_at: Option<Millis>,
    /// Why a deployment is blamed.
    pub cause: Cause,
    /// The deployments it is blamed on.
    pub blamed_deployments: Vec<String>,
}

/// An incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The incident.
    pub incident: Heading,
    /// Every fact, in time order.
    pub entries: Vec<Entry>,
    /// The derived durations.
    pub durations: Durations,
    /// What pacer does not know about the incident, in words.
    pub unknown: Vec<String>,
}

fn time<S: Serializer>(at: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*at))
}

fn maybe_time<S: Serializer>(at: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => time(at, s),
        None => s.serialize_none(),
    }
}

/// How an alert-born incident's id reads: `alert:<fingerprint>:<starts at>`.
pub(crate) struct AlertId<'a> {
    /// The alert's fingerprint; pacer's SLO evaluator uses `slo-<name>`.
    pub fingerprint: &'a str,
}

impl<'a> AlertId<'a> {
    /// The parts of an incident id made from an alert, or `None` for another incident.
    pub fn parse(incident_id: &'a str) -> Option<Self> {
        let rest = incident_id.strip_prefix("alert:")?;
        let (fingerprint, starts) = rest.rsplit_once(':')?;
        starts.parse::<Millis>().ok()?;
        Some(Self { fingerprint })
    }

    /// The SLO that burned, for an incident of pacer's SLO evaluator.
    pub fn slo(&self) -> Option<&'a str> {
        self.fingerprint.strip_prefix("slo-")
    }
}

fn seconds(from: Millis, to: Millis) -> f64 {
    (to - from) as f64 / 1000.0
}

/// The one-line label of a deployment: its version, else its id.
pub(crate) fn label(d: &Deployment) -> &str {
    d.version.as_deref().unwrap_or(&d.id)
}

/// Assembles the timeline of `facts`.
pub fn assemble(facts: &Facts) -> Timeline {
    let incident = &facts.incident;
    let alert_id = AlertId::parse(&incident.id);
    let slo = alert_id.as_ref().and_then(AlertId::slo);
    let mut entries = Vec::new();
    for suspect in &facts.suspects {
        suspect_entries(suspect, &mut entries);
    }
    // The alert that opened the incident: its labels are known when pacer decided on it.
    let trigger = facts.rollbacks.iter().find(|r| r.incident_id.as_deref() == Some(incident.id.as_str())).and_then(|r| trigger_of(&r.report));
    if alert_id.is_some() {
        let name = trigger.as_ref().map(|t| t.alert.clone()).unwrap_or_else(|| alert_name(incident));
        let details = AlertDetails {
            alert: name.clone(),
            labels: trigger.as_ref().map(|t| t.labels.clone()),
            annotations: trigger.as_ref().map(|t| t.annotations.clone()),
            generator_url: incident.url.clone(),
            slo: slo.map(str::to_owned),
        };
        let (kind, source, summary) = match slo {
            Some(slo) => (Kind::SloBurnStarted, Source::Slo, format!("the error budget of SLO {slo} started burning at the paging rate")),
            None => (Kind::AlertFired, Source::Alerting, format!("alert {name} fired")),
        };
        entries.push(Entry { at: incident.opened_at, kind, source, summary, link: incident.url.clone(), details: Details::Alert(details.clone()) });
        if let Some(resolved) = incident.resolved_at {
            let (kind, summary) = match slo {
                Some(slo) => (Kind::SloBurnEnded, format!("the error budget of SLO {slo} stopped burning at the paging rate")),
                None => (Kind::AlertResolved, format!("alert {name} resolved")),
            };
            entries.push(Entry { at: resolved, kind, source, summary, link: incident.url.clone(), details: Details::Alert(details) });
        }
    }
    let incident_source = match (&alert_id, slo) {
        (Some(_), Some(_)) => Source::Slo,
        (Some(_), None) => Source::Alerting,
        (None, _) => Source::Incident,
    };
    let incident_details = || Details::Incident(IncidentDetails { incident_id: incident.id.clone(), title: incident.title.clone(), severity: incident.severity.clone() });
    let title = incident.title.as_deref().map_or_else(String::new, |t| format!(": {t}"));
    entries.push(Entry {
        at: incident.opened_at,
        kind: Kind::IncidentOpened,
        source: incident_source,
        summary: format!("incident {} opened{title}", incident.id),
        link: incident.url.clone(),
        details: incident_details(),
    });
    if let Some(resolved) = incident.resolved_at {
        entries.push(Entry {
            at: resolved,
            kind: Kind::IncidentResolved,
            source: incident_source,
            summary: format!("incident {} resolved", incident.id),
            link: incident.url.clone(),
            details: incident_details(),
        });
    }
    for rollback in &facts.rollbacks {
        rollback_entries(rollback, &mut entries);
    }
    for answer in &facts.gate_answers {
        entries.push(gate_entry(answer));
    }
    for d in &facts.recoveries {
        let Some(finished) = d.finished_at else { continue };
        let (kind, summary) = match &d.rollback_of {
            Some(of) => (Kind::RollbackDeploymentFinished, format!("{} {} rolled back {of}", d.service, label(d))),
            None => (Kind::FixForwardDeploymentFinished, format!("{} {} deployed while the incident was open", d.service, label(d))),
        };
        entries.push(Entry { at: finished, kind, source: Source::Deployer, summary, link: d.url.clone(), details: Details::Deployment(deployment_details(d, None)) });
    }
    // Time order; at one instant, the order of the kinds (an alert before the incident it opens).
    entries.sort_by_key(|e| (e.at, e.kind));
    let durations = durations(facts, &entries);
    let unknown = unknown(facts, &durations, alert_id.is_some(), trigger.is_some());
    let heading = Heading {
        id: incident.id.clone(),
        service: incident.service.clone(),
        environment: incident.environment.clone(),
        title: incident.title.clone(),
        severity: incident.severity.clone(),
        url: incident.url.clone(),
        opened_at: incident.opened_at,
        resolved_at: incident.resolved_at,
        cause: facts.cause,
        blamed_deployments: facts.suspects.iter().map(|s| s.deployment.id.clone()).collect(),
    };
    Timeline { incident: heading, entries, durations, unknown }
}

/// The alert's name as the incident's title holds it (`name: summary`, or the name alone).
fn alert_name(incident: &Incident) -> String {
    incident.title.as_deref().map_or("alert", |t| t.split_once(": ").map_or(t, |(name, _)| name)).to_owned()
}

/// The alert a rollback report names, as the report stores it.
#[derive(Debug, Clone, serde::Deserialize)]
struct Trigger {
    alert: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The trigger of a stored rollback report (the hook body pacer wrote), read back typed.
fn trigger_of(report: &serde_json::Value) -> Option<Trigger> {
    #[derive(serde::Deserialize)]
    struct Report {
        trigger: Trigger,
    }
    serde_json::from_value::<Report>(report.clone()).ok().map(|r| r.trigger)
}

fn deployment_details(d: &Deployment, shipped: Option<Shipped>) -> DeploymentDetails {
    DeploymentDetails {
        deployment_id: d.id.clone(),
        service: d.service.clone(),
        version: d.version.clone(),
        commit_sha: d.commit_sha.clone(),
        rollback_of: d.rollback_of.clone(),
        shipped,
    }
}

fn suspect_entries(suspect: &Suspect, entries: &mut Vec<Entry>) {
    let d = &suspect.deployment;
    if let Some(started) = d.started_at {
        entries.push(Entry {
            at: started,
            kind: Kind::DeploymentStarted,
            source: Source::Deployer,
            summary: format!("{} {} started deploying", d.service, label(d)),
            link: d.url.clone(),
            details: Details::Deployment(deployment_details(d, None)),
        });
    }
    let Some(finished) = d.finished_at else { return };
    let shipped = Shipped {
        commits: suspect
            .commits
            .iter()
            .map(|c| ShippedCommit { sha: c.sha.clone(), author: c.author.clone(), message: c.message.clone(), committed_at: c.committed_at })
            .collect(),
        pull_requests: suspect
            .pull_requests
            .iter()
            .map(|p| ShippedPullRequest {
                id: p.id.clone(),
                repository: p.repository.clone(),
                number: p.number,
                author: p.author.clone(),
                first_commit_at: p.first_commit_at,
                opened_at: p.opened_at,
                first_review_at: p.first_review_at,
                merged_at: p.merged_at,
            })
            .collect(),
        ci_runs: suspect
            .ci_runs
            .iter()
            .map(|r| BuildRun { id: r.id.clone(), pipeline: r.pipeline.clone(), status: r.status.clone(), url: r.url.clone(), finished_at: r.finished_at })
            .collect(),
        compare_url: suspect.compare_url.clone(),
    };
    let count = |n: usize, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    entries.push(Entry {
        at: finished,
        kind: Kind::DeploymentFinished,
        source: Source::Deployer,
        summary: format!(
            "{} {} finished deploying ({}, {})",
            d.service,
            label(d),
            count(shipped.commits.len(), "commit", "commits"),
            count(shipped.pull_requests.len(), "pull request", "pull requests")
        ),
        link: d.url.clone(),
        details: Details::Deployment(deployment_details(d, Some(shipped))),
    });
}

fn rollback_entries(r: &RollbackRow, entries: &mut Vec<Entry>) {
    let link = Some(format!("/api/v1/rollbacks/{}", r.id));
    let details = RollbackDetails {
        rollback_id: r.id.clone(),
        mode: r.mode.clone(),
        state: r.state.clone(),
        reason: r.reason.clone(),
        deployment_id: r.deployment_id.clone(),
        target_deployment_id: r.target_deployment_id.clone(),
        approved_by: if r.mode == "auto" { Some("pacer (auto policy)".to_owned()) } else { r.approved_by.clone() },
    };
    let decided = match r.mode.as_str() {
        "manual" => format!("pacer decided to roll back {} (manual policy: awaiting approval)", r.deployment_id),
        "dry_run" => format!("pacer would roll back {} (dry run: no hook fired)", r.deployment_id),
        _ => format!("pacer decided to roll back {} to {}", r.deployment_id, r.target_deployment_id),
    };
    entries.push(Entry { at: r.created_at, kind: Kind::RollbackDecided, source: Source::Pacer, summary: decided, link: link.clone(), details: Details::Rollback(details.clone()) });
    if let Some(approved) = r.approved_at {
        entries.push(Entry {
            at: approved,
            kind: Kind::RollbackApproved,
            source: Source::Pacer,
            summary: match &r.approved_by {
                Some(by) => format!("rollback {} approved by {by}", r.id),
                None => format!("rollback {} approved (the approver is not recorded)", r.id),
            },
            link: link.clone(),
            details: Details::Rollback(details),
        });
    }
    for delivery in &r.deliveries {
        for a in &delivery.attempts {
            let answer = match (a.status_code, &a.error) {
                (Some(code), _) => format!("answered {code}"),
                (None, Some(error)) => format!("failed: {error}"),
                (None, None) => "got no answer".to_owned(),
            };
            entries.push(Entry {
                at: a.at,
                kind: Kind::HookAttempt,
                source: Source::Pacer,
                summary: format!("rollback hook {} attempt {} {answer}", delivery.hook_url, a.attempt),
                link: link.clone(),
                details: Details::Attempt(AttemptDetails {
                    rollback_id: r.id.clone(),
                    hook_url: delivery.hook_url.clone(),
                    webhook_id: delivery.webhook_id.clone(),
                    attempt: a.attempt,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                }),
            });
        }
    }
}

fn gate_entry(answer: &GateAnswerRow) -> Entry {
    // The reasons are the gate's own JSON, written by pacer: read back typed, none when unreadable.
    let reasons: Vec<Reason> = serde_json::from_str(&answer.reasons).unwrap_or_default();
    let verdict = if answer.proceed { "proceed" } else { "halt" };
    let about = answer.deployment_id.as_deref().or(answer.rollout.as_deref()).map_or_else(String::new, |d| format!(" for {d}"));
    Entry {
        at: answer.asked_at,
        kind: Kind::GateAnswer,
        source: Source::Gate,
        summary: format!("the deploy gate answered {}{about}: {verdict}", answer.asker),
        link: Some(format!("/api/v1/gates?service={}", answer.service)),
        details: Details::Gate(GateDetails {
            asker: answer.asker.clone(),
            proceed: answer.proceed,
            deployment_id: answer.deployment_id.clone(),
            rollout: answer.rollout.clone(),
            reasons,
        }),
    }
}

fn durations(facts: &Facts, entries: &[Entry]) -> Durations {
    let incident = &facts.incident;
    let first = |kinds: &[Kind]| entries.iter().find(|e| kinds.contains(&e.kind)).map(|e| e.at);
    // The first signal: the first alert or burn, else the incident's opening.
    let detected = first(&[Kind::AlertFired, Kind::SloBurnStarted]).unwrap_or(incident.opened_at);
    let shipped = facts.suspects.iter().filter_map(|s| s.deployment.finished_at).max();
    let decided = first(&[Kind::RollbackDecided]);
    let rolled_back = decided.and_then(|decided| {
        let bad: Vec<&str> = facts.rollbacks.iter().map(|r| r.deployment_id.as_str()).collect();
        facts
            .recoveries
            .iter()
            .filter(|d| d.rollback_of.as_deref().is_some_and(|of| bad.contains(&of)))
            .filter_map(|d| d.finished_at)
            .filter(|&f| f >= decided)
            .min()
    });
    Durations {
        detect_seconds: shipped.map(|s| seconds(s, detected)),
        decide_seconds: decided.map(|d| seconds(detected, d)),
        roll_back_seconds: decided.zip(rolled_back).map(|(d, r)| seconds(d, r)),
        restore_seconds: incident.resolved_at.map(|r| seconds(incident.opened_at, r)),
    }
}

fn unknown(facts: &Facts, durations: &Durations, from_alert: bool, labels_known: bool) -> Vec<String> {
    let mut unknown = Vec::new();
    if facts.suspects.is_empty() {
        unknown.push(match &facts.incident.deployment_id {
            Some(named) => format!("The incident names deployment {named} as its cause, but pacer has no record of that deployment."),
            None => "No deployment is known to have caused this incident: it names none, and none finished within the attribution window before it opened.".to_owned(),
        });
    }
    if from_alert && !labels_known {
        unknown.push("The alert's labels and annotations are not known: pacer keeps them only with a rollback decision.".to_owned());
    }
    if facts.rollbacks.is_empty() {
        unknown.push("pacer decided no rollback for this incident.".to_owned());
    } else if durations.roll_back_seconds.is_none() {
        unknown.push("No deployment carrying out the rollback has been reported.".to_owned());
    }
    if facts.more_gate_answers {
        unknown.push(format!("The gate answered more than {} times while the incident was open; only the first {} answers are listed.", facts.gate_answers.len(), facts.gate_answers.len()));
    }
    if facts.incident.resolved_at.is_none() {
        unknown.push("The incident is not resolved yet.".to_owned());
    }
    unknown
}

#[cfg(test)]
mod tests {
    use pacer_engine::model::DeploymentStatus;
    use pacer_store::{AttemptRow, DeliveryRow};
    use serde_json::json;

    use super::*;

    const MIN: Millis = 60_000;

    fn deployment(id: &str, finished: Millis, rollback_of: Option<&str>) -> Deployment {
        Deployment {
            id: id.into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: Some(format!("{id}.0")),
            commit_sha: None,
            status: DeploymentStatus::Success,
            started_at: Some(finished - 2 * MIN),
            finished_at: Some(finished),
            commits: Vec::new(),
            rollback_of: rollback_of.map(str::to_owned),
            unplanned: false,
            team: None,
            url: None,
        }
    }

    fn incident(id: &str, opened: Millis, resolved: Option<Millis>) -> Incident {
        Incident {
            id: id.into(),
            service: "checkout".into(),
            environment: "production".into(),
            opened_at: opened,
            resolved_at: resolved,
            severity: Some("page".into()),
            title: Some("High5xx: 5xx above 5 %".into()),
            url: Some("http://prometheus/graph".into()),
            deployment_id: None,
            commit_sha: None,
        }
    }

    fn suspect(d: Deployment) -> Suspect {
        Suspect { deployment: d, commits: Vec::new(), pull_requests: Vec::new(), ci_runs: Vec::new(), compare_url: None }
    }

    fn rollback(incident_id: &str, decided: Millis, attempts: &[(Millis, Option<i64>)]) -> RollbackRow {
        RollbackRow {
            id: "rb_1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            deployment_id: "v2".into(),
            target_deployment_id: "v1".into(),
            mode: "auto".into(),
            state: "delivered".into(),
            incident_id: Some(incident_id.into()),
            reason: "High5xx fired".into(),
            report: json!({"trigger": {"alert": "High5xx", "labels": {"severity": "page"}, "annotations": {}}}),
            created_at: decided,
            approved_at: None,
            approved_by: None,
            deliveries: vec![DeliveryRow {
                id: 1,
                hook_url: "http://hook".into(),
                webhook_id: "msg_1".into(),
                state: "delivered".into(),
                attempt_count: attempts.len() as i64,
                next_attempt_at: decided,
                delivered_at: None,
                attempts: attempts
                    .iter()
                    .enumerate()
                    .map(|(i, &(at, status_code))| AttemptRow { delivery_id: 1, attempt: i as i64 + 1, at, status_code, latency_ms: 3, error: None })
                    .collect(),
            }],
        }
    }

    #[test]
    fn a_rolled_back_incident_orders_every_fact_and_derives_every_duration() {
        let alert = "alert:a1b2:600000";
        let facts = Facts {
            incident: incident(alert, 10 * MIN, Some(30 * MIN)),
            cause: Cause::AttributionWindow,
            suspects: vec![suspect(deployment("v2", 6 * MIN, None))],
            rollbacks: vec![rollback(alert, 10 * MIN + 1_500, &[(10 * MIN + 1_600, Some(503)), (11 * MIN, Some(200))])],
            gate_answers: Vec::new(),
            more_gate_answers: false,
            recoveries: vec![deployment("v3", 14 * MIN, Some("v2"))],
        };
        let timeline = assemble(&facts);
        let kinds: Vec<Kind> = timeline.entries.iter().map(|e| e.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [DeploymentStarted, DeploymentFinished, AlertFired, IncidentOpened, RollbackDecided, HookAttempt, HookAttempt, RollbackDeploymentFinished, AlertResolved, IncidentResolved]
        );
        assert_eq!(
            timeline.durations,
            Durations { detect_seconds: Some(240.0), decide_seconds: Some(1.5), roll_back_seconds: Some(238.5), restore_seconds: Some(1_200.0) }
        );
        let Details::Alert(a) = &timeline.entries[2].details else { panic!("an alert's details") };
        assert_eq!(a.labels.as_ref().and_then(|l| l.get("severity")).map(String::as_str), Some("page"), "labels come from the decision");
        assert!(timeline.unknown.is_empty(), "{:?}", timeline.unknown);
    }

    #[test]
    fn an_incident_without_a_cause_says_so_and_leaves_the_durations_it_cannot_know_empty() {
        let facts = Facts {
            incident: Incident { title: Some("checkout is down".into()), url: None, ..incident("INC-1", 10 * MIN, None) },
            cause: Cause::Unknown,
            suspects: Vec::new(),
            rollbacks: Vec::new(),
            gate_answers: Vec::new(),
            more_gate_answers: false,
            recoveries: Vec::new(),
        };
        let timeline = assemble(&facts);
        assert_eq!(timeline.entries.iter().map(|e| e.kind).collect::<Vec<_>>(), [Kind::IncidentOpened]);
        assert_eq!(timeline.entries[0].source, Source::Incident);
        assert_eq!(timeline.durations, Durations::default());
        assert_eq!(timeline.unknown.len(), 3, "no cause, no rollback, not resolved: {:?}", timeline.unknown);
    }

    #[test]
    fn an_slo_burn_is_named_as_one_and_its_labels_are_said_to_be_unknown() {
        let facts = Facts {
            incident: incident("alert:slo-checkout-availability:600000", 10 * MIN, Some(20 * MIN)),
            cause: Cause::Unknown,
            suspects: Vec::new(),
            rollbacks: Vec::new(),
            gate_answers: Vec::new(),
            more_gate_answers: false,
            recoveries: Vec::new(),
        };
        let timeline = assemble(&facts);
        let kinds: Vec<Kind> = timeline.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::SloBurnStarted, Kind::IncidentOpened, Kind::SloBurnEnded, Kind::IncidentResolved]);
        assert!(timeline.entries.iter().all(|e| e.source == Source::Slo));
        assert!(timeline.unknown.iter().any(|u| u.contains("labels")), "{:?}", timeline.unknown);
        assert_eq!(timeline.durations.restore_seconds, Some(600.0));
        assert_eq!(timeline.durations.detect_seconds, None, "no deployment, no time to detect");
    }

    #[test]
    fn an_alert_id_names_its_fingerprint_and_only_pacer_s_burns_name_an_slo() {
        assert_eq!(AlertId::parse("alert:slo-api:12").and_then(|a| a.slo()), Some("api"));
        assert_eq!(AlertId::parse("alert:a1b2:12").map(|a| a.fingerprint), Some("a1b2"));
        assert!(AlertId::parse("alert:a1b2:12").and_then(|a| a.slo()).is_none());
        assert!(AlertId::parse("INC-7").is_none());
        assert!(AlertId::parse("alert:no-time").is_none());
    }
}
