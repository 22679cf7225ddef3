//! Which parts of an analysis a changed fact touches, so that only those are made again.
//!
//! The store records the key of every deployment, commit, pull request and incident a write
//! changed; [`Analysis::affected`] turns those keys (with where each fact stands now) into the
//! services whose parts must be rebuilt and whose incidents must be read again. Which other
//! services' failures follow (a cause may name another service's deployment) is found when the
//! parts are made ([`Analysis::updated`]), when every named deployment is known. The routing errs only toward doing more: a part it names may turn
//! out unchanged, but no part a change touches is left out (the property test in
//! `tests/api/live.rs` checks the maintained answers against an analysis built from scratch).
//! Each key comes with the last generation that changed it, and a part read whole in one
//! snapshot knows the generation it was read at: a change at or before that is already in it.
//! Without this, a part read while writes go on (so newer than the advance that read it) was
//! remade by the next advance for the changes it already held, and by the one after for the
//! same reason, for as long as its service kept receiving facts.
//!
//! Not for: reading the facts (the store) or applying the work ([`Analysis::updated`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::dora::Analysis;

/// A fact a write changed, with where it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A deployment; `now` is `None` when it is gone.
    Deployment {
        /// Its id.
        id: String,
        /// Where it stands now.
        now: Option<DeploymentNow>,
    },
    /// An incident; `now` is `None` when it is gone.
    Incident {
        /// Its id.
        id: String,
        /// Where it stands now.
        now: Option<IncidentNow>,
    },
    /// A commit (its time, its parents, or that it is known at all).
    Commit {
        /// Its sha.
        sha: String,
    },
    /// A pull request; what it changes is the start of the commit it was merged as. (When that
    /// commit changes, the store logs the one it was merged as before as a changed commit.)
    PullRequest {
        /// The commit it was merged as, when it has one.
        merge_commit_sha: Option<String>,
    },
}

/// A change as the log holds it: the fact, and the last generation in the stretch read that
/// changed it (row 1 of the store's generations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The fact, with where it stands now.
    pub change: Change,
    /// The last write that changed it, by the generation it took.
    pub generation: i64,
}

/// A changed deployment's place now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentNow {
    /// Its service.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// Whether it counts: successful, with a finish time.
    pub counts: bool,
    /// The deployment it rolls back.
    pub rollback_of: Option<String>,
}

/// A changed incident's place now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentNow {
    /// Its service.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// The deployment it names as its cause.
    pub deployment_id: Option<String>,
}

/// What a set of changes asks of an analysis, by service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affected {
    /// Services whose parts are made again from their facts.
    pub rebuild: BTreeSet<String>,
    /// Services whose own incidents are read again.
    pub incidents: BTreeSet<String>,
    /// New deployments, by service, that may be added after the service's last one instead of
    /// rebuilding it (a service in `rebuild` is never here).
    pub appended: BTreeMap<String, Vec<String>>,
    /// Services whose deployments from this one on (an index in finish order) are made again
    /// from their own commits instead of rebuilding the service: a commit that one shipped
    /// changed, and no earlier one can reach it (a service in `rebuild` is never here).
    pub redone: BTreeMap<String, usize>,
}

impl Affected {
    /// Whether nothing needs doing.
    pub fn is_empty(&self) -> bool {
        self.rebuild.is_empty() && self.incidents.is_empty() && self.appended.is_empty() && self.redone.is_empty()
    }
}

impl Analysis {
    /// The services `changes` touch in this analysis's environment. A service whose part was
    /// read at or after a change's generation already holds it (see
    /// [`crate::dora::ServicePart::read_at`]) and is left out for that change.
    pub fn affected(&self, changes: &[Changed]) -> Affected {
        let mut affected = Affected::default();
        let here = |environment: &str| environment == self.environment;
        for Changed { change, generation } in changes {
            let behind = |service: &str| self.read_at(service) < *generation;
            match change {
                Change::Deployment { id, now } => {
                    let before = self.deployment(id);
                    // Where the analysis has it, that part changes.
                    if let Some(before) = before.filter(|b| behind(b.service())) {
                        affected.rebuild.insert(before.service().to_owned());
                    }
                    if let Some(now) = now.as_ref().filter(|n| here(&n.environment) && n.counts && behind(&n.service)) {
                        if before.is_none() && self.part_exists(&now.service) {
                            // New to a service the analysis has: the common case, a deployment
                            // after the last one, is added without rebuilding the service.
                            affected.appended.entry(now.service.clone()).or_default().push(id.clone());
                        } else {
                            affected.rebuild.insert(now.service.clone());
                        }
                    }
                }
                Change::Incident { id, now } => {
                    if let Some(service) = self.incident_service(id) {
                        affected.incidents.insert(service.to_owned());
                    }
                    if let Some(now) = now.as_ref().filter(|n| here(&n.environment)) {
                        affected.incidents.insert(now.service.clone());
                    }
                }
                Change::Commit { sha } | Change::PullRequest { merge_commit_sha: Some(sha) } => {
                    // A commit told after the deployment that shipped it (its time, parents or
                    // message), or the pull request merged as it (its start): that deployment on.
                    for service in self.services_reaching(sha).filter(|s| behind(s)) {
                        match self.shipper_of(service, sha) {
                            Some(k) => {
                                let from = affected.redone.entry(service.to_owned()).or_insert(k);
                                *from = (*from).min(k);
                            }
                            None => {
                                affected.rebuild.insert(service.to_owned());
                            }
                        }
                    }
                }
                Change::PullRequest { merge_commit_sha: None } => {}
            }
        }
        affected.appended.retain(|service, _| !affected.rebuild.contains(service));
        affected.redone.retain(|service, _| !affected.rebuild.contains(service));
        affected
    }
}
