//! Which deployments failed, why, and when they recovered.
//!
//! A deployment D is failed if (a) an incident names D or a commit of D's changeset, (b) an
//! incident with no named cause opens within the attribution window after D finished and D is
//! the latest deployment of that (service, environment) finished before the incident opened, or
//! (c) a later deployment rolls D back. D recovers at the earliest of the resolution of an
//! incident attributed to it and the finish of a rollback of it.

use serde::Serialize;

use crate::model::{Incident, Millis};

/// Why a deployment counts as failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureCause {
    /// An incident names the deployment.
    IncidentNamedDeployment {
        /// The incident.
        incident_id: String,
    },
    /// An incident names a commit the deployment shipped.
    IncidentNamedCommit {
        /// The incident.
        incident_id: String,
        /// The commit it names.
        commit_sha: String,
    },
    /// An incident without a named cause opened within the attribution window after the
    /// deployment, and the deployment was the latest one before it.
    IncidentInWindow {
        /// The incident.
        incident_id: String,
    },
    /// A later deployment rolled it back.
    RolledBack {
        /// The rollback deployment.
        deployment_id: String,
    },
}

impl FailureCause {
    /// The heap bytes of its strings.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Self::IncidentNamedDeployment { incident_id } | Self::IncidentInWindow { incident_id } => incident_id.capacity(),
            Self::IncidentNamedCommit { incident_id, commit_sha } => incident_id.capacity() + commit_sha.capacity(),
            Self::RolledBack { deployment_id } => deployment_id.capacity(),
        }
    }

    /// The incident behind this cause, unless it is a rollback.
    pub fn incident_id(&self) -> Option<&str> {
        match self {
            Self::IncidentNamedDeployment { incident_id }
            | Self::IncidentNamedCommit { incident_id, .. }
            | Self::IncidentInWindow { incident_id } => Some(incident_id),
            Self::RolledBack { .. } => None,
        }
    }
}

/// How an incident points at its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedCause<'a> {
    /// It names a deployment.
    Deployment(&'a str),
    /// It names a commit.
    Commit(&'a str),
    /// It names nothing.
    Unknown,
}

/// The cause an incident names; a named deployment takes precedence over a named commit.
pub fn named_cause(incident: &Incident) -> NamedCause<'_> {
    match (&incident.deployment_id, &incident.commit_sha) {
        (Some(id), _) => NamedCause::Deployment(id),
        (None, Some(sha)) => NamedCause::Commit(sha),
        (None, None) => NamedCause::Unknown,
    }
}

/// Index of the latest deployment in `finished` (ascending finish times) that finished strictly
/// before `opened_at`, if it finished no more than `window` earlier.
pub fn in_window(finished: &[Millis], opened_at: Millis, window: Millis) -> Option<usize> {
    let before = finished.partition_point(|&f| f < opened_at);
    let latest = before.checked_sub(1)?;
    (opened_at - finished[latest] <= window).then_some(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_deployment_before_the_incident_is_blamed_inside_the_window() {
        let finished = [100, 200, 300];
        assert_eq!(in_window(&finished, 350, 100), Some(2));
        assert_eq!(in_window(&finished, 301, 0), None);
        assert_eq!(in_window(&finished, 400, 100), Some(2));
        assert_eq!(in_window(&finished, 401, 100), None);
    }

    #[test]
    fn a_deployment_finishing_when_the_incident_opens_is_not_before_it() {
        assert_eq!(in_window(&[100, 200], 200, 1_000), Some(0));
        assert_eq!(in_window(&[100], 50, 1_000), None);
    }
}
