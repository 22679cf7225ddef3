//! What chat tells of: the events pacer notices in stored facts and rollback decisions, each
//! with a key that names it once (`deployment.succeeded:<id>`).
//!
//! Pure: the facts and rollbacks come in as the store reads them, and what each says now is what
//! it announces. A deployment noticed only after it finished is announced as finished (its start
//! is not announced late); an incident noticed only once resolved is announced as resolved.

use pacer_engine::Millis;
use pacer_engine::model::{Deployment, DeploymentStatus, Incident};
use pacer_rollback::report::Report;
use pacer_store::RollbackRow;

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
}

impl Kind {
    /// Every kind with its name.
    pub const ALL: [(&'static str, Self); 9] = [
        ("deployment.started", Self::DeploymentStarted),
        ("deployment.succeeded", Self::DeploymentSucceeded),
        ("deployment.failed", Self::DeploymentFailed),
        ("rollback.decided", Self::RollbackDecided),
        ("rollback.awaiting_approval", Self::RollbackAwaitingApproval),
        ("rollback.delivered", Self::RollbackDelivered),
        ("rollback.failed", Self::RollbackFailed),
        ("incident.opened", Self::IncidentOpened),
        ("incident.resolved", Self::IncidentResolved),
    ];

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

/// What an event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A deployment.
    Deployment(Deployment),
    /// An incident.
    Incident(Incident),
    /// A rollback.
    Rollback(Box<RollbackNotice>),
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
            Subject::Deployment(d) => &d.id,
            Subject::Incident(i) => &i.id,
            Subject::Rollback(r) => &r.id,
        };
        format!("{}:{id}", self.kind.as_str())
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
