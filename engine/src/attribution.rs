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
use std::ops::Range;

use serde::Serialize;

use crate::flat::Flat;
use crate::incidents::Incidents;
use crate::model::Millis;
use crate::rework::fix_forwards;
use crate::shipments::Shipments;
use crate::texts::Texts;

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

/// A service's failed deployments, ascending, each with its causes and when it recovered, as
/// columns: a window's failures are one range, found by binary search. Causes are kept as a
/// kind and the texts they name (one buffer of ids and shas), not as [`FailureCause`]s with a
/// `String` each, which took more than twice the room at the full size (BENCHMARKS.md, Live).
#[derive(Debug, Clone, Default)]
pub(crate) struct Failures {
    /// The failed deployments, by their index in the service's deployments, ascending.
    deployments: Vec<u32>,
    /// When each recovered: the earliest resolution of an incident attributed to it and finish
    /// of a rollback of it.
    recovered_at: Vec<Option<Millis>>,
    /// Each one's causes, in the order [`attribute`] finds them.
    causes: Flat<Cause>,
    /// The ids and shas the causes name.
    texts: Texts,
}

/// A [`FailureCause`] as [`Failures`] keeps it: its kind and the index of its first text (an
/// incident that names a commit has two: the incident's id, then the sha).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cause {
    kind: Kind,
    text: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    IncidentNamedDeployment,
    IncidentNamedCommit,
    IncidentInWindow,
    RolledBack,
}

impl Failures {
    /// Adds a failed deployment after the last one.
    fn push(&mut self, deployment: u32, causes: &[FailureCause], recovered_at: Option<Millis>) {
        let texts = &mut self.texts;
        let kept: Vec<Cause> = causes
            .iter()
            .map(|cause| match cause {
                FailureCause::IncidentNamedDeployment { incident_id } => Cause { kind: Kind::IncidentNamedDeployment, text: texts.push(incident_id) },
                FailureCause::IncidentNamedCommit { incident_id, commit_sha } => {
                    let text = texts.push(incident_id);
                    texts.push(commit_sha);
                    Cause { kind: Kind::IncidentNamedCommit, text }
                }
                FailureCause::IncidentInWindow { incident_id } => Cause { kind: Kind::IncidentInWindow, text: texts.push(incident_id) },
                FailureCause::RolledBack { deployment_id } => Cause { kind: Kind::RolledBack, text: texts.push(deployment_id) },
            })
            .collect();
        self.causes.push(kept);
        self.deployments.push(deployment);
        self.recovered_at.push(recovered_at);
    }

    /// How many deployments failed.
    pub(crate) fn len(&self) -> usize {
        self.deployments.len()
    }

    /// Where deployment `index`'s failure is, when it failed.
    pub(crate) fn of(&self, index: usize) -> Option<usize> {
        self.deployments.binary_search(&(index as u32)).ok()
    }

    /// Where the failures of the deployments `range` are.
    pub(crate) fn within(&self, range: Range<usize>) -> Range<usize> {
        let at = |i: usize| self.deployments.partition_point(|&d| (d as usize) < i);
        at(range.start)..at(range.end)
    }

    /// The deployment failure `k` is of.
    pub(crate) fn deployment(&self, k: usize) -> usize {
        self.deployments[k] as usize
    }

    /// When failure `k` recovered.
    pub(crate) fn recovered_at(&self, k: usize) -> Option<Millis> {
        self.recovered_at[k]
    }

    /// Failure `k`'s causes, in the order they were found.
    pub(crate) fn causes(&self, k: usize) -> Vec<FailureCause> {
        let text = |i: u32| self.texts.get(i).to_owned();
        self.causes
            .of(k)
            .iter()
            .map(|&Cause { kind, text: t }| match kind {
                Kind::IncidentNamedDeployment => FailureCause::IncidentNamedDeployment { incident_id: text(t) },
                Kind::IncidentNamedCommit => FailureCause::IncidentNamedCommit { incident_id: text(t), commit_sha: text(t + 1) },
                Kind::IncidentInWindow => FailureCause::IncidentInWindow { incident_id: text(t) },
                Kind::RolledBack => FailureCause::RolledBack { deployment_id: text(t) },
            })
            .collect()
    }

    /// Whether incident `id` is among failure `k`'s causes.
    pub(crate) fn names_incident(&self, k: usize, id: &str) -> bool {
        self.causes.of(k).iter().any(|c| c.kind != Kind::RolledBack && self.texts.get(c.text) == id)
    }

    /// The heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.deployments.capacity() * size_of::<u32>() + self.recovered_at.capacity() * size_of::<Option<Millis>>() + self.causes.heap_bytes() + self.texts.heap_bytes()
    }

    /// Gives back the spare capacity once nothing more will be pushed.
    fn shrink_to_fit(&mut self) {
        self.deployments.shrink_to_fit();
        self.recovered_at.shrink_to_fit();
        self.causes.shrink_to_fit();
        self.texts.shrink_to_fit();
    }
}

/// What attribution found for one service.
#[derive(Debug, Default)]
pub(crate) struct Attributed {
    /// The failed deployments' causes and recoveries.
    pub(crate) failures: Failures,
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
    pub(crate) incidents: &'a Incidents,
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

/// The cause incident `j` of `incidents` names; a named deployment takes precedence over a named
/// commit.
fn named_cause(incidents: &Incidents, j: usize) -> NamedCause<'_> {
    match (incidents.deployment_id(j), incidents.commit_sha(j)) {
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
        let incidents = d.incidents;
        for j in 0..incidents.len() {
            let cause = named_cause(incidents, j);
            let blamed = match cause {
                NamedCause::Deployment(deployment_id) => holder(own, deployment_id, others),
                // A commit counts once per service: at most one deployment of the incident's service shipped it.
                NamedCause::Commit(sha) if d.wanted => commits.get_or_insert_with(|| s.commits.get()).shipper_of(sha).map(|i| (k, i)),
                NamedCause::Unknown if d.wanted => in_window(&s.finished_at, incidents.opened_at(j), window).map(|i| (k, i)),
                NamedCause::Commit(_) | NamedCause::Unknown => None,
            };
            if d.wanted {
                own_blamed[k].push(blamed.filter(|(t, _)| *t == k).map(|(_, i)| i as u32));
            }
            if let Some((t, i)) = blamed.filter(|(t, _)| services[*t].wanted) {
                let incident_id = incidents.id(j).to_owned();
                let cause = match cause {
                    NamedCause::Deployment(_) => FailureCause::IncidentNamedDeployment { incident_id },
                    NamedCause::Commit(sha) => FailureCause::IncidentNamedCommit { incident_id, commit_sha: sha.to_owned() },
                    NamedCause::Unknown => FailureCause::IncidentInWindow { incident_id },
                };
                causes[t].push((i, cause, incidents.resolved_at(j)));
            }
        }
        for &rollback in &s.rollbacks {
            let rollback = rollback as usize;
            let Some((t, target)) = s.rollback_of(rollback).and_then(|id| holder(own, id, others)) else { continue };
            let finished = s.finished_at[rollback];
            if services[t].wanted && services[t].shipments.finished_at[target] <= finished {
                causes[t].push((target, FailureCause::RolledBack { deployment_id: s.id(rollback) }, Some(finished)));
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
            let mut failed: BTreeMap<u32, (Vec<FailureCause>, Option<Millis>)> = BTreeMap::new();
            for (i, cause, recovered) in causes {
                let deployment = u32::try_from(i).expect("fewer than 2^32 deployments");
                let (causes, recovered_at) = failed.entry(deployment).or_default();
                causes.push(cause);
                *recovered_at = match (*recovered_at, recovered) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let mut failures = Failures::default();
            for (deployment, (causes, recovered_at)) in failed {
                failures.push(deployment, &causes, recovered_at);
            }
            failures.shrink_to_fit();
            let fix_forwards = fix_forwards(&d.shipments.finished_at, d.incidents.times(), &blamed);
            Attributed { failures, fix_forwards }
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
    fn failures_read_back_their_causes_and_recoveries_by_deployment() {
        let incident = |id: &str| id.to_owned();
        let first = [FailureCause::IncidentNamedCommit { incident_id: incident("inc-1"), commit_sha: "abc".into() }, FailureCause::RolledBack { deployment_id: "d-9".into() }];
        let second = [FailureCause::IncidentNamedDeployment { incident_id: incident("inc-2") }, FailureCause::IncidentInWindow { incident_id: incident("inc-3") }];
        let mut failures = Failures::default();
        failures.push(2, &first, Some(500));
        failures.push(7, &second, None);
        assert_eq!((failures.len(), failures.of(2), failures.of(7), failures.of(3)), (2, Some(0), Some(1), None));
        assert_eq!((failures.within(0..7), failures.within(3..8), failures.within(8..9)), (0..1, 1..2, 2..2));
        assert_eq!((failures.deployment(1), failures.recovered_at(0), failures.recovered_at(1)), (7, Some(500), None));
        assert_eq!((failures.causes(0), failures.causes(1)), (first.to_vec(), second.to_vec()));
        assert!(failures.names_incident(0, "inc-1") && failures.names_incident(1, "inc-3"));
        assert!(!failures.names_incident(0, "d-9") && !failures.names_incident(0, "abc"), "a rollback's id and a sha are not incidents");
    }

    #[test]
    fn a_deployment_finishing_when_the_incident_opens_is_not_before_it() {
        assert_eq!(in_window(&[100, 200], 200, 1_000), Some(0));
        assert_eq!(in_window(&[100], 50, 1_000), None);
    }
}
