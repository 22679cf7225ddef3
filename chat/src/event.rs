//! What chat tells of: the events pacer notices in stored facts and rollback decisions, each
//! with a key that names it once (`deployment.succeeded:<id>`).
//!
//! Pure: the facts and rollbacks come in as the store reads them, and what each says now is what
//! it announces. A deployment noticed only after it finished is announced as finished (its start
//! is not announced late); an incident noticed only once resolved is announced as resolved.
//!
//! SLO burns, gate halts and weekly digests are not facts: the SLO evaluator, the gate and the
//! report scheduler [`record`] them in the store (`chat_events`), once by key, and an SLO burn or
//! a halted rollout once per episode (until it ends, another replica or tick records nothing).

use pacer_engine::Millis;
use pacer_engine::model::{Deployment, DeploymentStatus, Incident};
use pacer_rollback::report::Report;
use pacer_store::{ChatEventRow, RollbackRow, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The kinds of event a rule can hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A deployment is in progress.
    DeploymentStarted,
    /// A deployment finished successfully.
    DeploymentSucceeded,
    /// A deployment failed.
    DeploymentFailed,
    /// pacer decided to roll a deployment back (auto), or a manual rollback was approved.
    RollbackDecided,
    /// A rollback under the manual policy waits for someone to approve it.
    RollbackAwaitingApproval,
    /// Every rollback hook accepted the rollback.
    RollbackDelivered,
    /// A rollback hook gave up: the rollback did not reach the deployer.
    RollbackFailed,
    /// An incident opened.
    IncidentOpened,
    /// An incident was resolved.
    IncidentResolved,
    /// An SLO burns its error budget fast enough to page someone.
    SloPage,
    /// An SLO burns its error budget fast enough for a ticket.
    SloTicket,
    /// The deploy gate halted a rollout.
    GateHalted,
    /// A team's week: the five keys with their levels and the change from the week before.
    DigestWeekly,
}

impl Kind {
    /// Every kind with its name.
    pub const ALL: [(&'static str, Self); 13] = [
        ("deployment.started", Self::DeploymentStarted),
        ("deployment.succeeded", Self::DeploymentSucceeded),
        ("deployment.failed", Self::DeploymentFailed),
        ("rollback.decided", Self::RollbackDecided),
        ("rollback.awaiting_approval", Self::RollbackAwaitingApproval),
        ("rollback.delivered", Self::RollbackDelivered),
        ("rollback.failed", Self::RollbackFailed),
        ("incident.opened", Self::IncidentOpened),
        ("incident.resolved", Self::IncidentResolved),
        ("slo.page", Self::SloPage),
        ("slo.ticket", Self::SloTicket),
        ("gate.halted", Self::GateHalted),
        ("digest.weekly", Self::DigestWeekly),
    ];

    /// The kind named `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, kind)| *kind)
    }

    /// Its name, `deployment.succeeded`.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, k)| *k == self).map_or("", |(name, _)| name)
    }

    /// Whether a rule's `pattern` (a name, or a prefix ending in `.*`) selects the kind `name`.
    pub fn matches(pattern: &str, name: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some(prefix) => prefix.ends_with('.') && name.starts_with(prefix),
            None => pattern == name,
        }
    }
}

/// A rollback as chat tells of it: the stored decision and its typed report.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackNotice {
    /// Its id.
    pub id: String,
    /// `auto`, `manual` or `dry_run`.
    pub mode: String,
    /// One line for humans.
    pub reason: String,
    /// The report its hooks receive; `None` if it cannot be read.
    pub report: Option<Report>,
}

/// An SLO burning its error budget, as the evaluator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Burn {
    /// The SLO's name.
    pub slo: String,
    /// Its objective, such as 0.999.
    pub objective: f64,
    /// The windows whose burn holds, `1h&5m`.
    pub windows: String,
    /// The share of the error budget left over the SLO window, when there was traffic.
    pub budget_remaining: Option<f64>,
    /// The error ratio over the SLO window, when there was traffic.
    pub error_ratio: Option<f64>,
}

/// The deploy gate's answer that halted a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// The answer's id in the gate's history.
    pub answer_id: i64,
    /// Who asked: `api`, `argo-rollouts`, `flagger:<hook type>`, `github`.
    pub asker: String,
    /// The deployment the rollout named.
    pub deployment: Option<String>,
    /// The asker's key of the rollout.
    pub rollout: Option<String>,
    /// Whether what halts it came from the rollout itself, so it should be undone.
    pub rollback: bool,
    /// The blocking reasons, in words.
    pub reasons: Vec<String>,
}

/// One of the five keys of a team's week, worded as the page and the weekly email word it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestKey {
    /// `Deployment frequency`.
    pub name: String,
    /// `3.1 a day`.
    pub value: String,
    /// `elite`, when rated.
    pub level: Option<String>,
    /// `up 20 % (better; was 2.6 a day)`.
    pub change: String,
}

/// A team's week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The ISO week, `2026-W47`.
    pub week: String,
    /// Its days, `17–23 Nov 2026`.
    pub days: String,
    /// The keys.
    pub keys: Vec<DigestKey>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A deployment.
    Deployment(Deployment),
    /// An incident.
    Incident(Incident),
    /// A rollback.
    Rollback(Box<RollbackNotice>),
    /// An SLO burn.
    Burn(Burn),
    /// A gate halt.
    Halt(Halt),
    /// A team's weekly digest.
    Digest(Digest),
}

/// One event to announce.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its kind.
    pub kind: Kind,
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The team, when the deployment names one.
    pub team: Option<String>,
    /// When it happened (epoch ms).
    pub at: Millis,
    /// What it is about.
    pub subject: Subject,
}

impl Event {
    /// Its key, unique among every event ever: `<kind>:<subject id>`.
    pub fn key(&self) -> String {
        let id = match &self.subject {
            Subject::Deployment(d) => d.id.clone(),
            Subject::Incident(i) => i.id.clone(),
            Subject::Rollback(r) => r.id.clone(),
            Subject::Burn(b) => format!("{}@{}", b.slo, self.at),
            Subject::Halt(h) => h.answer_id.to_string(),
            Subject::Digest(d) => format!("{}:{}", d.week, self.team.as_deref().unwrap_or("")),
        };
        format!("{}:{id}", self.kind.as_str())
    }

    /// What lasts while the event holds, if anything: an SLO burning at one severity
    /// (`slo.page:<slo>`), a rollout halted (`gate.halted:<service>:<environment>:<rollout>`).
    /// While it is open no second event of it is recorded.
    pub fn episode(&self) -> Option<String> {
        match &self.subject {
            Subject::Burn(b) => Some(burn_episode(self.kind, &b.slo)),
            Subject::Halt(h) => Some(halt_episode(&self.service, &self.environment, h.rollout.as_deref().or(h.deployment.as_deref()))),
            _ => None,
        }
    }

    /// The event as the store records it; `None` for the events read from facts and rollbacks.
    pub fn to_row(&self) -> Option<ChatEventRow> {
        let subject = match &self.subject {
            Subject::Burn(b) => serde_json::to_string(b),
            Subject::Halt(h) => serde_json::to_string(h),
            Subject::Digest(d) => serde_json::to_string(d),
            Subject::Deployment(_) | Subject::Incident(_) | Subject::Rollback(_) => return None,
        }
        .ok()?;
        Some(ChatEventRow {
            event_key: self.key(),
            kind: self.kind.as_str().to_owned(),
            service: self.service.clone(),
            environment: self.environment.clone(),
            team: self.team.clone(),
            at: self.at,
            subject,
            episode: self.episode(),
        })
    }

    /// The event a recorded row tells of; `None` for a kind or subject this version cannot read.
    pub fn of_row(row: &ChatEventRow) -> Option<Self> {
        let kind = Kind::named(&row.kind)?;
        let subject = match kind {
            Kind::SloPage | Kind::SloTicket => Subject::Burn(serde_json::from_str(&row.subject).ok()?),
            Kind::GateHalted => Subject::Halt(serde_json::from_str(&row.subject).ok()?),
            Kind::DigestWeekly => Subject::Digest(serde_json::from_str(&row.subject).ok()?),
            _ => return None,
        };
        Some(Self { kind, service: row.service.clone(), environment: row.environment.clone(), team: row.team.clone(), at: row.at, subject })
    }

    /// The event a deployment's present state tells of, if any (a cancelled deployment tells of
    /// none).
    pub fn of_deployment(d: &Deployment) -> Option<Self> {
        let (kind, at) = match d.status {
            DeploymentStatus::InProgress => (Kind::DeploymentStarted, d.started_at?),
            DeploymentStatus::Success => (Kind::DeploymentSucceeded, d.finished_at?),
            DeploymentStatus::Failure => (Kind::DeploymentFailed, d.finished_at?),
            DeploymentStatus::Cancelled => return None,
        };
        Some(Self { kind, service: d.service.clone(), environment: d.environment.clone(), team: d.team.clone(), at, subject: Subject::Deployment(d.clone()) })
    }

    /// The event an incident's present state tells of.
    pub fn of_incident(i: &Incident) -> Self {
        let (kind, at) = match i.resolved_at {
            None => (Kind::IncidentOpened, i.opened_at),
            Some(resolved) => (Kind::IncidentResolved, resolved),
        };
        Self { kind, service: i.service.clone(), environment: i.environment.clone(), team: None, at, subject: Subject::Incident(i.clone()) }
    }

    /// The events a rollback's present state tells of, noticed at `now`: its decision (or its
    /// wait for approval, and the decision once approved), and how its delivery ended. A dry run
    /// tells of its decision only.
    pub fn of_rollback(r: &RollbackRow, now: Millis) -> Vec<Self> {
        let notice = RollbackNotice {
            id: r.id.clone(),
            mode: r.mode.clone(),
            reason: r.reason.clone(),
            report: serde_json::from_value(r.report.clone()).ok(),
        };
        let team = None;
        let event = |kind, at| Self {
            kind,
            service: r.service.clone(),
            environment: r.environment.clone(),
            team: team.clone(),
            at,
            subject: Subject::Rollback(Box::new(notice.clone())),
        };
        let mut events = Vec::new();
        if r.mode == "manual" {
            events.push(event(Kind::RollbackAwaitingApproval, r.created_at));
            if let Some(approved) = r.approved_at {
                events.push(event(Kind::RollbackDecided, approved));
            }
        } else {
            events.push(event(Kind::RollbackDecided, r.created_at));
        }
        match r.state.as_str() {
            "delivered" => events.push(event(Kind::RollbackDelivered, now)),
            "failed" => events.push(event(Kind::RollbackFailed, now)),
            _ => {}
        }
        events
    }
}

/// The episode of `slo` burning at the severity of `kind`.
pub fn burn_episode(kind: Kind, slo: &str) -> String {
    format!("{}:{slo}", kind.as_str())
}

/// The episode of a rollout of `service` in `environment` (named by the asker's key or the
/// deployment, if at all) being halted.
pub fn halt_episode(service: &str, environment: &str, rollout: Option<&str>) -> String {
    format!("gate.halted:{service}:{environment}:{}", rollout.unwrap_or(""))
}

/// Records `event` (an SLO burn, a gate halt, a digest) at `now` for the notifiers to announce;
/// returns whether it is new (not recorded before, and its episode not open).
///
/// # Errors
/// The database failed.
pub async fn record(store: &Store, event: &Event, now: Millis) -> Result<bool, StoreError> {
    match event.to_row() {
        Some(row) => store.record_chat_event(&row, now).await,
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(status: DeploymentStatus) -> Deployment {
        Deployment {
            id: "d1".into(),
            service: "shop".into(),
            environment: "production".into(),
            version: Some("1.2.0".into()),
            commit_sha: None,
            status,
            started_at: Some(1_000),
            finished_at: (status != DeploymentStatus::InProgress).then_some(2_000),
            commits: Vec::new(),
            rollback_of: None,
            unplanned: false,
            team: Some("payments".into()),
            url: None,
        }
    }

    #[test]
    fn a_deployment_tells_of_where_it_stands_now() {
        let started = Event::of_deployment(&deployment(DeploymentStatus::InProgress)).expect("an event");
        assert_eq!((started.kind, started.at, started.key()), (Kind::DeploymentStarted, 1_000, "deployment.started:d1".to_owned()));
        let done = Event::of_deployment(&deployment(DeploymentStatus::Success)).expect("an event");
        assert_eq!((done.kind, done.at), (Kind::DeploymentSucceeded, 2_000));
        assert_eq!(Event::of_deployment(&deployment(DeploymentStatus::Failure)).map(|e| e.kind), Some(Kind::DeploymentFailed));
        assert_eq!(Event::of_deployment(&deployment(DeploymentStatus::Cancelled)), None);
    }

    #[test]
    fn prefixes_select_whole_families_only() {
        assert!(Kind::matches("rollback.*", "rollback.failed"));
        assert!(!Kind::matches("roll*", "rollback.failed"), "a prefix ends at a dot");
        assert!(Kind::matches("incident.opened", "incident.opened"));
        assert!(!Kind::matches("incident", "incident.opened"));
    }
}
