//! Which deployments failed, why, and when they recovered.
//!
//! A deployment D is failed if (a) an incident names D or a commit of D's changeset, (b) an
//! incident with no named cause opens within the attribution window after D finished and D is
//! the latest deployment of that (service, environment) finished before the incident opened, or
//! (c) a later deployment rolls D back. D recovers at the earliest of the resolution of an
//! incident attributed to it and the finish of a rollback of it.
//!
//! This module owns those rules and the routine that applies them, `attribute`: given every
//! service's deployments and incidents, the failures of the services wanted, with their causes
//! and recoveries. It does not decide which services are attributed again after a change (the
//! analysis routes that, see [`crate::change`]) nor keep the failures: [`crate::dora::Analysis`]
//! calls it while it assembles and keeps what it returns in its parts. The fix-forwards of the
//! rework rule are found here too, from the same attribution ([`crate::rework`] owns the rule).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Incident, Millis};
use crate::rework::fix_forwards;
use crate::shipments::Shipments;

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

/// Why a deployment failed and when it recovered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// The deployment, by its index in its service's deployments.
    pub(crate) deployment: u32,
    /// Its causes, in the order [`attribute`] finds them.
    pub(crate) causes: Vec<FailureCause>,
    /// When it recovered: the earliest resolution of an incident attributed to it and finish of
    /// a rollback of it.
    pub(crate) recovered_at: Option<Millis>,
}

/// What attribution found for one service.
#[derive(Debug, Default)]
pub(crate) struct Attributed {
    /// The failed deployments' causes and recoveries, ascending by deployment: a window's
    /// failures are one slice, found by binary search.
    pub(crate) failures: Vec<Failure>,
    /// The deployments that finished while one of the service's own incidents not attributed
    /// to them was open, each with the first such incident (see [`crate::rework`]).
    pub(crate) fix_forwards: Vec<(u32, u32)>,
}

/// What attribution reads of one service: its successful deployments, its own incidents, and
/// whether its failures are wanted (an analysis keeps those of a part nothing changed for). Every
/// service is given, wanted or not, since a cause in one may name a deployment of another.
pub(crate) struct ServiceFacts<'a> {
    /// Its successful deployments, in finish order.
    pub(crate) shipments: &'a Shipments,
    /// Its own incidents, ascending by opening time then id.
    pub(crate) incidents: &'a [Incident],
    /// Whether its failures are attributed.
    pub(crate) wanted: bool,
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

/// The failures of every service that is `wanted`, as an analysis's part keeps them: each
/// deployment's index into its failures (`u32::MAX` for none), the failures, and the service's
/// fix-forwards, which hang on the same attribution (an incident's fix is not the deployment it
/// is attributed to); nothing for a service that is not wanted. Causes are routed over every
/// service, since an incident or a rollback may name a deployment of another service; a cause
/// names its own service's deployment nearly always, which is found first. `window` is the
/// attribution window.
///
/// An advance wants a few services of many, so a service that is not wanted is only searched for
/// what names a deployment of a wanted one (a deployment id is one deployment's, of one service):
/// its other causes land in itself, where nothing is kept. Attributing every service's incidents
/// on every advance took 16 % of a replica's CPU samples under a stream at the full size.
pub(crate) fn attribute(services: &[ServiceFacts<'_>], window: Millis) -> Vec<Attributed> {
    let every: Vec<usize> = (0..services.len()).collect();
    let wanted: Vec<usize> = every.iter().copied().filter(|&k| services[k].wanted).collect();
    // The service among `own` and `others` whose deployment `id` is, and its index there.
    let holder = |own: Option<usize>, id: &str, others: &[usize]| -> Option<(usize, usize)> {
        if let Some(own) = own
            && let Some(i) = services[own].shipments.index(id)
        {
            return Some((own, i));
        }
        others.iter().find_map(|&k| services[k].shipments.index(id).map(|i| (k, i)))
    };
    let mut causes: Vec<Vec<(usize, FailureCause, Option<Millis>)>> = services.iter().map(|_| Vec::new()).collect();
    // Per wanted service, per own incident: the deployment of that service it is attributed to.
    let mut own_blamed: Vec<Vec<Option<u32>>> = services.iter().map(|_| Vec::new()).collect();
    for (k, d) in services.iter().enumerate() {
        let s = &d.shipments;
        // Where a cause of this service may be kept: anywhere when it is wanted, else only in
        // the wanted services, never in itself.
        let (own, others) = if d.wanted { (Some(k), every.as_slice()) } else { (None, wanted.as_slice()) };
        // The service's commits, read once, at its first incident that names a commit.
        let mut commits = None;
        for incident in d.incidents.iter() {
            let cause = named_cause(incident);
            let blamed = match cause {
                NamedCause::Deployment(deployment_id) => holder(own, deployment_id, others),
                // A commit counts once per service: at most one deployment of the incident's service shipped it.
                NamedCause::Commit(sha) if d.wanted => commits.get_or_insert_with(|| s.commits.get()).shipper_of(sha).map(|i| (k, i)),
                NamedCause::Unknown if d.wanted => in_window(&s.finished_at, incident.opened_at, window).map(|i| (k, i)),
                NamedCause::Commit(_) | NamedCause::Unknown => None,
            };
            if d.wanted {
                own_blamed[k].push(blamed.filter(|(t, _)| *t == k).map(|(_, i)| i as u32));
            }
            if let Some((t, i)) = blamed.filter(|(t, _)| services[*t].wanted) {
                let incident_id = incident.id.clone();
                let cause = match cause {
                    NamedCause::Deployment(_) => FailureCause::IncidentNamedDeployment { incident_id },
                    NamedCause::Commit(sha) => FailureCause::IncidentNamedCommit { incident_id, commit_sha: sha.to_owned() },
                    NamedCause::Unknown => FailureCause::IncidentInWindow { incident_id },
                };
                causes[t].push((i, cause, incident.resolved_at));
            }
        }
        for &rollback in &s.rollbacks {
            let rollback = rollback as usize;
            let Some((t, target)) = s.rollback_of(rollback).and_then(|id| holder(own, id, others)) else { continue };
            let finished = s.finished_at[rollback];
            if services[t].wanted && services[t].shipments.finished_at[target] <= finished {
                causes[t].push((target, FailureCause::RolledBack { deployment_id: s.id(rollback).to_owned() }, Some(finished)));
            }
        }
    }
    services
        .iter()
        .zip(causes)
        .zip(own_blamed)
        .map(|((d, causes), blamed)| {
            if !d.wanted {
                return Attributed::default();
            }
            let mut failed: BTreeMap<u32, Failure> = BTreeMap::new();
            for (i, cause, recovered) in causes {
                let deployment = u32::try_from(i).expect("fewer than 2^32 deployments");
                // Room for one cause, which is what nearly every failure has.
                let f = failed.entry(deployment).or_insert_with(|| Failure { deployment, causes: Vec::with_capacity(1), recovered_at: None });
                f.causes.push(cause);
                f.recovered_at = match (f.recovered_at, recovered) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let fix_forwards = fix_forwards(&d.shipments.finished_at, d.incidents, &blamed);
            Attributed { failures: failed.into_values().collect(), fix_forwards }
        })
        .collect()
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
