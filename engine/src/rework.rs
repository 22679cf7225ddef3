//! Rework (PRODUCT.md §4, "Rework rate"): which successful deployments are rework, and why.
//!
//! A deployment D of (service, environment) is rework when one of these holds; the first that
//! holds, in this order, is its reason:
//! 1. `rollback` — D rolls another deployment back;
//! 2. `unplanned` — D says it is unplanned (a hotfix);
//! 3. `fix_forward` — an incident of the same service and environment was open when D finished
//!    (opened ≤ D.finished ≤ resolved; an unresolved incident counts as open for
//!    [`OPEN_AT_MOST`]) and that incident is not attributed to D itself by the failed-deployment
//!    rules (a) or (b);
//! 4. `revert` — D's changeset holds a commit whose message's first line begins with `Revert "`.
//!
//! The first two and the fourth are D's own facts, kept with its service's shipments; the third
//! depends on incidents and attribution, so it is found with the failures (see
//! [`crate::attribution`]). Not for: counting windows (see [`crate::dora`]).

use serde::Serialize;

use crate::model::{DAY, Deployment, Millis};

/// How long an incident that never resolved counts as open.
pub const OPEN_AT_MOST: Millis = 7 * DAY;

/// What `git revert` and the hosts' revert buttons begin a message with.
pub const REVERT_PREFIX: &str = "Revert \"";

/// Why a deployment is rework.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// It rolls another deployment back.
    Rollback,
    /// It says it is unplanned.
    Unplanned,
    /// An incident of its service was open when it finished, and not because of it.
    FixForward,
    /// It shipped a revert commit first.
    Revert,
}

impl Reason {
    /// The name the JSON and the pages give it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rollback => "rollback",
            Self::Unplanned => "unplanned",
            Self::FixForward => "fix_forward",
            Self::Revert => "revert",
        }
    }
}

/// Rework deployments counted under their reason, each once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ByReason {
    /// Rollbacks.
    pub rollback: u64,
    /// Unplanned deployments that are not rollbacks.
    pub unplanned: u64,
    /// Fix-forwards during an incident.
    pub fix_forward: u64,
    /// Deployments that shipped a revert, and are none of the above.
    pub revert: u64,
}

impl ByReason {
    /// Counts one deployment with `reason`.
    pub fn add(&mut self, reason: Reason) {
        match reason {
            Reason::Rollback => self.rollback += 1,
            Reason::Unplanned => self.unplanned += 1,
            Reason::FixForward => self.fix_forward += 1,
            Reason::Revert => self.revert += 1,
        }
    }

    /// Every rework deployment counted.
    pub fn total(&self) -> u64 {
        self.rollback + self.unplanned + self.fix_forward + self.revert
    }
}

/// Whether a commit message's first line begins as a revert's does.
pub fn is_revert(message: &str) -> bool {
    message.starts_with(REVERT_PREFIX)
}

/// The reason D's own facts give, before incidents: a rollback, unplanned, or (when its
/// changeset ships a revert) a revert.
pub(crate) fn own_reason(d: &Deployment, ships_revert: bool) -> Option<Reason> {
    if d.rollback_of.is_some() {
        Some(Reason::Rollback)
    } else if d.unplanned {
        Some(Reason::Unplanned)
    } else if ships_revert {
        Some(Reason::Revert)
    } else {
        None
    }
}

/// The reason of a deployment whose own facts give `own`, and which is a fix-forward or not.
pub(crate) fn reason(own: Option<Reason>, fix_forward: bool) -> Option<Reason> {
    match own {
        Some(Reason::Rollback | Reason::Unplanned) => own,
        _ if fix_forward => Some(Reason::FixForward),
        _ => own,
    }
}

/// The deployments an incident was open at the finish of, as a range of indexes into
/// `finished_at` (ascending).
fn open_at(finished_at: &[Millis], opened_at: Millis, resolved_at: Option<Millis>) -> std::ops::Range<usize> {
    let start = finished_at.partition_point(|&f| f < opened_at);
    let end = match resolved_at {
        Some(resolved) => finished_at.partition_point(|&f| f <= resolved),
        None => finished_at.partition_point(|&f| f < opened_at + OPEN_AT_MOST),
    };
    start..end.max(start)
}

/// The fix-forwards of one service: for each deployment (index into `finished_at`, ascending)
/// that finished while one of the incidents (their opening and resolution times, `incidents`)
/// was open, the first such incident (its index there) — except the deployment that incident is attributed to (`blamed`, by rule (a) or
/// (b), when it is one of this service's). Ascending by deployment.
pub(crate) fn fix_forwards(finished_at: &[Millis], incidents: impl Iterator<Item = (Millis, Option<Millis>)>, blamed: &[Option<u32>]) -> Vec<(u32, u32)> {
    let mut found: Vec<(u32, u32)> = Vec::new();
    for (k, (opened_at, resolved_at)) in incidents.enumerate() {
        for i in open_at(finished_at, opened_at, resolved_at) {
            if blamed[k] != Some(i as u32) {
                found.push((i as u32, k as u32));
            }
        }
    }
    found.sort_unstable();
    found.dedup_by_key(|(i, _)| *i);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HOUR;

    #[test]
    fn a_deployment_finished_while_an_incident_was_open_is_a_fix_forward_unless_the_incident_is_its_own() {
        let finished = [0, 2 * HOUR, 3 * HOUR, 5 * HOUR];
        let incidents = [(HOUR, Some(3 * HOUR))];
        assert_eq!(fix_forwards(&finished, incidents.into_iter(), &[None]), [(1, 0), (2, 0)], "both ends of the open incident count");
        assert_eq!(fix_forwards(&finished, incidents.into_iter(), &[Some(1)]), [(2, 0)], "the deployment it is attributed to is not its fix");
    }

    #[test]
    fn an_unresolved_incident_counts_as_open_for_seven_days() {
        let finished = [6 * DAY, 8 * DAY];
        assert_eq!(fix_forwards(&finished, [(0, None)].into_iter(), &[None]), [(0, 0)]);
    }

    #[test]
    fn a_rollback_or_an_unplanned_deployment_keeps_its_own_reason_and_a_revert_yields_to_a_fix_forward() {
        assert_eq!(reason(Some(Reason::Rollback), true), Some(Reason::Rollback));
        assert_eq!(reason(Some(Reason::Unplanned), true), Some(Reason::Unplanned));
        assert_eq!(reason(Some(Reason::Revert), true), Some(Reason::FixForward));
        assert_eq!(reason(Some(Reason::Revert), false), Some(Reason::Revert));
        assert_eq!(reason(None, false), None);
        assert!(is_revert("Revert \"add the cache\"\n\nThis reverts commit 1234."));
        assert!(!is_revert("revert \"add the cache\"") && !is_revert("Reverting the cache") && !is_revert("fix: Revert \"x\""));
    }
}
