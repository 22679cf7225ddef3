//! The DORA keys over one environment: build an [`Analysis`] from the facts, then
//! [`Analysis::summary`] any window of it or [`Analysis::series`] it into calendar buckets.
//!
//! An analysis is made of parts, one per service. A part holds the service's [`Shipments`]
//! (changesets and lead-time samples, walked in finish order), its incidents, and which of its
//! deployments failed. Changesets never cross services, so when a fact changes only the parts
//! it reaches are made again ([`Analysis::updated`], routed by [`crate::change`]); failures can
//! cross services (an incident or a rollback may name any deployment by id), so attribution
//! ([`crate::attribution`]) is routed over every part and redone for the parts made again and
//! the parts their causes land in. Summarizing filters and counts, part by part; a window costs what it holds.
//!
//! An analysis keeps what the metrics read and nothing more, as columns of numbers: a
//! deployment is its finish time, its team, its lead-time samples (four bytes each), a hash of
//! its id, and for a rollback the id of the deployment it rolls back. Its id, its version and its
//! changeset are kept out of memory, in the process's spill file ([`crate::spill`]), and read back
//! where they are shown, looked up or extended. The rest of its row is in the store, which is
//! where pages read it from.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::attribution::{Attributed, FailureCause, Failures, ServiceFacts, attribute};
use crate::calendar::{Interval, day_number, rfc3339};
use crate::changeset::{CommitGraph, Listed};
use crate::flat::Flat;
use crate::incidents::Incidents;
use crate::levels::{Benchmarks, Level, overall};
use crate::memo::Memo;
use crate::model::{DAY, Deployment, DeploymentStatus, Incident, Millis};
use crate::percentile::{Values, percentiles_cont_of};
use crate::samples::Run;
use crate::rework::{self, ByReason, Reason};
use crate::shas::ShaId;
use crate::shipments::{Shipments, Sources};
use crate::snapshot::{self, SnapshotError};
pub use crate::shipments::Appendix;

/// The facts of one environment (or of one service of it) that the metrics need.
#[derive(Debug, Default)]
pub struct History {
    /// The environment.
    pub environment: String,
    /// Its deployments; only `success` deployments with a finish time are used.
    pub deployments: Vec<Deployment>,
    /// The commit graph reachable from those deployments.
    pub graph: CommitGraph,
    /// Merge commit of a pull request (by its id in `graph`) → the PR's first commit time
    /// (squash merges keep the time spent on the branch).
    pub pr_first_commit: HashMap<ShaId, Millis>,
    /// The merge commits of `pr_first_commit` that some pull request without a first commit
    /// time of its own was merged as (its start was found in the graph): the only starts the
    /// PR stages read from the analysis ([`Analysis::branch_start`]), so the only ones it keeps.
    pub found_starts: HashSet<ShaId>,
    /// Its incidents.
    pub incidents: Vec<Incident>,
    /// The commits each deployment lists explicitly (list `i` is deployment `i`'s), by id in
    /// `graph`. The store reads lists this way; a history built by hand may leave this empty
    /// and list commits on the deployments themselves.
    pub listed: Flat<Listed>,
    /// For the starts found in the graph: merge commit → each commit the branch walk depended
    /// on. Kept with the parts that shipped the merge commit, so that a late commit on such a
    /// branch remakes them (see [`crate::reach`]). A history of one service read with exactly
    /// the graph it depends on leaves this empty.
    pub branch_nodes: HashMap<ShaId, Vec<ShaId>>,
    /// The commits of `graph` whose message begins as a revert's (see
    /// [`crate::rework::is_revert`]).
    pub reverts: HashSet<ShaId>,
}

/// One service's share of an analysis.
#[derive(Debug, Default)]
struct Part {
    service: String,
    /// Its successful deployments (kept when only its incidents or failures change).
    shipments: Arc<Shipments>,
    /// Its own incidents, ascending by opening time then id.
    incidents: Arc<Incidents>,
    /// The failed deployments' causes and recoveries, ascending by deployment.
    failures: Failures,
    /// The deployments that are fix-forwards, each with the incident (index into `incidents`)
    /// open when it finished; ascending by deployment.
    fix_forwards: Vec<(u32, u32)>,
    /// The store's generation its shipments were read at, in one snapshot (see
    /// [`ServicePart::read_at`]): it holds every change up to it. 0 when not known.
    read_at: i64,
}

impl Part {
    /// Where deployment `index`'s failure is in `failures`, when it failed.
    fn failure(&self, index: usize) -> Option<usize> {
        self.failures.of(index)
    }

    /// When deployment `index` recovered: `None` when it did not fail, `Some(None)` when it has
    /// not recovered.
    fn recovery(&self, index: usize) -> Option<Option<Millis>> {
        self.failure(index).map(|k| self.failures.recovered_at(k))
    }

    /// Its incidents `js`, each made whole (an incident of an analysis is of its environment).
    fn incidents_whole<'a>(&'a self, js: impl Iterator<Item = usize> + 'a, environment: &'a str) -> impl Iterator<Item = Incident> + 'a {
        js.map(move |j| self.incidents.get(j, &self.service, environment))
    }

    /// The id of the incident deployment `index` is a fix-forward of, if it is one.
    fn fix_forward(&self, index: usize) -> Option<&str> {
        let found = self.fix_forwards.binary_search_by_key(&(index as u32), |&(i, _)| i).ok()?;
        Some(self.incidents.id(self.fix_forwards[found].1 as usize))
    }

    /// The earliest time from which a window may count this part otherwise than `before`
    /// (`Millis::MAX` when none can): the finish of the first deployment whose finish, lead-time
    /// samples, failure, recovery or rework differ, or the opening of the first incident whose
    /// opening or resolution differs, whichever is earlier. A window ending by then holds the
    /// same facts in both, so its summary is the same.
    fn differs_from(&self, before: &Part) -> Millis {
        let (now, then) = (&self.shipments, &before.shipments);
        let same_samples = |i: usize| now.lead_times_of(i..i + 1).millis().eq(then.lead_times_of(i..i + 1).millis());
        let same = |i: usize| {
            i < now.len()
                && i < then.len()
                && now.finished_at[i] == then.finished_at[i]
                && same_samples(i)
                && self.recovery(i) == before.recovery(i)
                && self.rework(i) == before.rework(i)
        };
        let deployment = (0..now.len().max(then.len())).find(|&i| !same(i)).map(|i| [now.finished_at.get(i).copied(), then.finished_at.get(i).copied()]);
        let (here, there) = (&self.incidents, &before.incidents);
        let opened = |incidents: &Incidents, j: usize| (j < incidents.len()).then(|| incidents.opened_at(j));
        let times = |incidents: &Incidents, j: usize| (j < incidents.len()).then(|| (incidents.opened_at(j), incidents.resolved_at(j)));
        let incident = (0..here.len().max(there.len())).find(|&j| times(here, j) != times(there, j)).map(|j| [opened(here, j), opened(there, j)]);
        deployment.into_iter().chain(incident).flatten().flatten().min().unwrap_or(Millis::MAX)
    }

    /// Why deployment `index` is rework, if it is.
    fn rework(&self, index: usize) -> Option<Reason> {
        rework::reason(self.shipments.own_rework[index], self.fix_forward(index).is_some())
    }

    /// Counts the rework deployments of `range` under their reasons.
    fn rework_in(&self, range: std::ops::Range<usize>, counts: &mut ByReason) {
        let own = &self.shipments.own_rework[range.clone()];
        let mut fix = self.fix_forwards[self.fix_forwards.partition_point(|&(i, _)| (i as usize) < range.start)..].iter().peekable();
        for (i, own) in range.zip(own) {
            let fix_forward = fix.next_if(|&&(f, _)| f as usize == i).is_some();
            if let Some(reason) = rework::reason(*own, fix_forward) {
                counts.add(reason);
            }
        }
    }
}

/// A successful deployment as an analysis knows it: what it shipped, and whether the incidents
/// and rollbacks of the analysis make it failed. A view into the analysis, copied freely.
#[derive(Clone, Copy)]
pub struct AnalyzedDeployment<'a> {
    part: &'a Part,
    index: usize,
}

impl std::fmt::Debug for AnalyzedDeployment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyzedDeployment").field("id", &self.id()).field("finished_at", &self.finished_at()).finish_non_exhaustive()
    }
}

impl<'a> AnalyzedDeployment<'a> {
    fn shipments(self) -> &'a Shipments {
        &self.part.shipments
    }

    /// Its id, read from where the ids are kept (see [`crate::spill`]).
    pub fn id(self) -> String {
        self.shipments().id(self.index)
    }

    /// Its service.
    pub fn service(self) -> &'a str {
        &self.part.service
    }

    /// The team it names.
    pub fn team(self) -> Option<&'a str> {
        let s = self.shipments();
        s.teams.get(s.team[self.index] as usize).map(String::as_str)
    }

    /// Its version label.
    pub fn version(self) -> Option<String> {
        self.shipments().names().version(self.index).map(str::to_owned)
    }

    /// Its version label, else its id: how pages name it.
    pub fn label(self) -> String {
        let names = self.shipments().names();
        names.version(self.index).unwrap_or_else(|| names.id(self.index)).to_owned()
    }

    /// The deployment it rolls back.
    pub fn rollback_of(self) -> Option<&'a str> {
        self.shipments().rollback_of(self.index)
    }

    /// When it finished: its time in every metric.
    pub fn finished_at(self) -> Millis {
        self.shipments().finished_at[self.index]
    }

    /// Why it is rework, and what makes it so; `None` when it is not rework.
    pub fn rework(self) -> Option<Rework<'a>> {
        let own = self.shipments().own_rework[self.index];
        let incident = self.part.fix_forward(self.index);
        Some(match rework::reason(own, incident.is_some())? {
            Reason::Rollback => Rework::Rollback { deployment_id: self.rollback_of().unwrap_or_default() },
            Reason::Unplanned => Rework::Unplanned,
            Reason::FixForward => Rework::FixForward { incident_id: incident.unwrap_or_default() },
            Reason::Revert => {
                let s = self.shipments();
                let found = s.reverts.binary_search_by_key(&(self.index as u32), |&(i, _)| i).ok();
                let sha = found.and_then(|k| self.changeset().into_iter().nth(s.reverts[k].1 as usize));
                Rework::Revert { commit_sha: sha.unwrap_or_default() }
            }
        })
    }

    /// Whether it counts as failed.
    pub fn failed(self) -> bool {
        self.part.failure(self.index).is_some()
    }

    /// Why it counts as failed; empty when it did not fail.
    pub fn failure_causes(self) -> Vec<FailureCause> {
        self.part.failure(self.index).map_or_else(Vec::new, |k| self.part.failures.causes(k))
    }

    /// When it recovered from its failure.
    pub fn recovered_at(self) -> Option<Millis> {
        self.part.recovery(self.index).flatten()
    }

    /// The commits it shipped first, as shas, in changeset order. Read from where the commits
    /// are kept (see [`crate::spill`]): a summary never needs them.
    pub fn changeset(self) -> Vec<String> {
        self.shipments().commits.get().changeset(self.index)
    }

    /// Its lead times in seconds, one per commit of its changeset with a known start.
    pub fn lead_times(self) -> impl Iterator<Item = f64> + 'a {
        self.shipments().lead_times_of(self.index..self.index + 1).seconds()
    }

    /// Its lead-time samples: each commit's sha and its lead time in seconds.
    pub fn lead_time_samples(self) -> Vec<(String, f64)> {
        let commits = self.shipments().commits.get();
        commits.sampled_commits(self.index).zip(self.lead_times()).collect()
    }

    /// The order deployments are listed in: finish time, then service, then id (read only for
    /// two of one service that finished at the same time).
    fn order(self, other: Self) -> std::cmp::Ordering {
        (self.finished_at(), self.service()).cmp(&(other.finished_at(), other.service())).then_with(|| self.id().cmp(&other.id()))
    }
}

/// Which services a summary covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only these services; every service when `None`.
    pub services: Option<BTreeSet<String>>,
}

impl Scope {
    /// Every service.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the given services.
    pub fn services(names: impl IntoIterator<Item = String>) -> Self {
        Self { services: Some(names.into_iter().collect()) }
    }

    /// Whether `service` is in scope.
    pub fn includes(&self, service: &str) -> bool {
        self.services.as_ref().is_none_or(|s| s.contains(service))
    }
}

/// The analyzed history of one environment.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The environment.
    pub environment: String,
    /// How long after a deployment an incident with no named cause is blamed on it.
    attribution_window: Millis,
    /// One part per service with a successful deployment or an incident, by service name.
    parts: Vec<Arc<Part>>,
    /// The services whose deployments name each team.
    team_services: BTreeMap<String, BTreeSet<String>>,
    /// Bucket summaries computed, by scope and bands: carried to the analysis advanced from this
    /// one where nothing they count changed (see [`crate::memo`]).
    memo: Memo<(Scope, Benchmarks), Arc<Summary>>,
}

/// A part while an analysis is assembled: its facts, and the part itself when nothing that
/// decides its failures changed.
struct Draft {
    service: String,
    shipments: Arc<Shipments>,
    incidents: Arc<Incidents>,
    kept: Option<Arc<Part>>,
    read_at: i64,
}

impl Analysis {
    /// Analyzes a history; `attribution_window` is how long after a deployment an incident
    /// with no named cause is blamed on it.
    pub fn build(history: History, attribution_window: Millis) -> Self {
        let History { environment, mut deployments, mut graph, pr_first_commit, found_starts, incidents, listed, branch_nodes, reverts } = history;
        let listed = if listed.is_empty() { take_lists(&mut deployments, &mut graph) } else { listed };
        let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, d) in deployments.iter().enumerate().filter(|(_, d)| counts(d)) {
            by_service.entry(d.service.as_str()).or_default().push(i);
        }
        let shared = History { environment, graph, pr_first_commit, found_starts, incidents, branch_nodes, reverts, ..History::default() };
        let mut builder = Builder::new(shared, by_service.len());
        for (service, indexes) in by_service {
            builder.add(service, indexes.iter().map(|&i| (&deployments[i], listed.of(i))).collect());
        }
        drop((listed, deployments));
        builder.finish(attribution_window)
    }

    /// The analysis of parts read back from the bytes [`Analysis::encoded_part`] gave, with
    /// the environment's incidents (their failures are attributed again, as in a build).
    pub fn from_stored(environment: String, attribution_window: Millis, parts: Vec<StoredPart>, incidents: Vec<Incident>) -> Self {
        let shipped = parts.into_iter().map(|p| (p.service, p.shipments)).collect();
        Self::of_shipped(environment, attribution_window, shipped, incidents)
    }

    /// The shipments of `service` as bytes: what [`StoredPart::decode`] reads back, and
    /// [`Analysis::from_stored`] makes the same analysis from. `None` for a service without
    /// deployments (its incidents are facts of their own).
    pub fn encoded_part(&self, service: &str) -> Option<Vec<u8>> {
        self.part(service).filter(|p| p.shipments.len() > 0).map(|p| snapshot::encode(p.shipments.as_ref()))
    }

    /// The services with deployments whose shipments are not those `before` marks (every one,
    /// without `before`), and the services `before` marks that have no deployments here: what a
    /// snapshot holding `before` needs written and removed to hold this analysis.
    pub fn changed_since<'a>(&'a self, before: Option<&'a PartMarks>) -> (Vec<&'a str>, Vec<&'a str>) {
        let marked = |service: &str| before.and_then(|m| m.0.binary_search_by(|(s, _)| s.as_str().cmp(service)).ok().map(|k| &m.0[k].1));
        let changed = self
            .parts
            .iter()
            .filter(|p| p.shipments.len() > 0)
            .filter(|p| !marked(&p.service).is_some_and(|old| std::ptr::eq(old.as_ptr(), Arc::as_ptr(&p.shipments))))
            .map(|p| p.service.as_str())
            .collect();
        let removed = before.map(|m| m.0.iter().map(|(s, _)| s.as_str()).filter(|s| !self.part_exists(s)).collect()).unwrap_or_default();
        (changed, removed)
    }

    /// Marks of this analysis's shipments, to tell later which changed (see
    /// [`Analysis::changed_since`]); they keep none of them alive.
    pub fn marks(&self) -> PartMarks {
        PartMarks(self.parts.iter().filter(|p| p.shipments.len() > 0).map(|p| (p.service.clone(), Arc::downgrade(&p.shipments))).collect())
    }

    /// The analysis of each service's shipments and the environment's incidents.
    fn of_shipped(environment: String, attribution_window: Millis, mut shipped: BTreeMap<String, Shipments>, incidents: Vec<Incident>) -> Self {
        let mut own = own_incidents(incidents);
        let services: BTreeSet<String> = shipped.keys().chain(own.keys()).cloned().collect();
        let drafts = services
            .into_iter()
            .map(|service| Draft {
                shipments: Arc::new(shipped.remove(&service).unwrap_or_default()),
                incidents: Arc::new(Incidents::new(own.remove(&service).unwrap_or_default())),
                service,
                kept: None,
                read_at: 0,
            })
            .collect();
        Self::assemble(environment, attribution_window, drafts)
    }

    /// This analysis with some services made again: `rebuilt` services from their own reads
    /// (see [`ServicePart`]) and `incidents` services with a new list of their own incidents.
    /// Their failures are attributed again, and so are those of every service holding a
    /// deployment their incidents or rollbacks name (see `holders_named_by`). Every other part is
    /// shared with this analysis.
    pub fn updated(&self, rebuilt: Vec<ServicePart>, incidents: Vec<(String, Vec<Incident>)>) -> Self {
        let mut fresh: BTreeMap<String, Draft> = rebuilt.into_iter().map(|part| (part.0.service.clone(), part.0)).collect();
        for (service, list) in incidents {
            let list = Arc::new(Incidents::new(list));
            match fresh.get_mut(&service) {
                Some(d) => d.incidents = list,
                None => {
                    let (shipments, read_at) = self.part(&service).map(|p| (Arc::clone(&p.shipments), p.read_at)).unwrap_or_default();
                    fresh.insert(service.clone(), Draft { service, shipments, incidents: list, kept: None, read_at });
                }
            }
        }
        let reattributed = self.holders_named_by(&fresh);
        let services: BTreeSet<String> = self.parts.iter().map(|p| p.service.clone()).chain(fresh.keys().cloned()).collect();
        let drafts = services
            .into_iter()
            .filter_map(|service| match fresh.remove(&service) {
                Some(d) => Some(d),
                None => {
                    let p = self.part(&service)?;
                    let kept = (!reattributed.contains(&service)).then(|| Arc::clone(p));
                    Some(Draft { service, shipments: Arc::clone(&p.shipments), incidents: Arc::clone(&p.incidents), kept, read_at: p.read_at })
                }
            })
            .collect();
        let mut next = Self::assemble(self.environment.clone(), self.attribution_window, drafts);
        next.memo = self.memo.carried(next.changes_since(self));
        next
    }

    /// Which of the bucket summaries kept by `before` this analysis answers the same: those of
    /// windows ending by the time each changed service in their scope first differs.
    fn changes_since(&self, before: &Self) -> impl Fn(&(Scope, Benchmarks), (Millis, Millis)) -> bool + use<> {
        let none = Part::default();
        let services = self.parts.iter().chain(&before.parts).map(|p| p.service.as_str()).collect::<BTreeSet<_>>();
        let changes: Vec<(String, Millis)> = services
            .into_iter()
            .filter_map(|service| match (self.part(service), before.part(service)) {
                (Some(now), Some(then)) if Arc::ptr_eq(now, then) => None,
                (now, then) => Some((service.to_owned(), now.map_or(&none, |p| p).differs_from(then.map_or(&none, |p| p)))),
            })
            .filter(|&(_, at)| at < Millis::MAX)
            .collect();
        move |(scope, _), (_, end)| changes.iter().all(|(service, at)| end <= *at || !scope.includes(service))
    }

    /// The services holding a deployment that a fresh part's incidents or rollbacks name, before
    /// the change or after it: causes cross services, so their failures are attributed again. A
    /// named deployment may be one that arrived with the same changes, or whose part was made
    /// fresh earlier in the same advance.
    fn holders_named_by(&self, fresh: &BTreeMap<String, Draft>) -> BTreeSet<String> {
        let holder = |id: &str| fresh.values().find(|d| d.shipments.index(id).is_some()).map(|d| d.service.as_str()).or_else(|| self.service_of(id));
        let mut holders = BTreeSet::new();
        for d in fresh.values() {
            let before = self.part(&d.service);
            let incidents = std::iter::once(&d.incidents).chain(before.map(|p| &p.incidents));
            let named = incidents.flat_map(|list| (0..list.len()).filter_map(|j| list.deployment_id(j)));
            let shipments = std::iter::once(&d.shipments).chain(before.map(|p| &p.shipments));
            let rolled_back = shipments.flat_map(|s| s.rollbacks.iter().filter_map(|&i| s.rollback_of(i as usize)));
            for id in named.chain(rolled_back) {
                if let Some(service) = holder(id) {
                    holders.insert(service.to_owned());
                }
            }
        }
        holders
    }

    /// The analysis of `drafts`, their failures attributed where they are not kept.
    fn assemble(environment: String, attribution_window: Millis, drafts: Vec<Draft>) -> Self {
        let mut drafts: Vec<Draft> = drafts.into_iter().filter(|d| d.shipments.len() > 0 || !d.incidents.is_empty()).collect();
        // Parts are found by binary search on their service.
        drafts.sort_by(|a, b| a.service.cmp(&b.service));
        let services: Vec<ServiceFacts<'_>> =
            drafts.iter().map(|d| ServiceFacts { shipments: &d.shipments, incidents: &d.incidents, wanted: d.kept.is_none() }).collect();
        let mut failures = attribute(&services, attribution_window);
        let mut team_services: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in &drafts {
            for team in &d.shipments.teams {
                team_services.entry(team.clone()).or_default().insert(d.service.clone());
            }
        }
        let parts = drafts
            .into_iter()
            .zip(failures.iter_mut())
            .map(|(d, failed)| {
                d.kept.unwrap_or_else(|| {
                    let Attributed { failures, fix_forwards } = std::mem::take(failed);
                    Arc::new(Part { service: d.service, shipments: d.shipments, incidents: d.incidents, failures, fix_forwards, read_at: d.read_at })
                })
            })
            .collect();
        Self { environment, attribution_window, parts, team_services, memo: Memo::default() }
    }

    /// The generation `service`'s part was read at (see [`ServicePart::read_at`]); 0 when not
    /// known or when it has no part.
    pub(crate) fn read_at(&self, service: &str) -> i64 {
        self.part(service).map_or(0, |p| p.read_at)
    }

    /// The first deployment of `service` a change of the commit `sha` can touch, when the rest
    /// of its part stays as it is: the one that shipped it, from which on the part is made
    /// again (see [`ServicePart::truncated`]). `None` when the whole part must be: the commit
    /// is not in a changeset, or is the first deployment's, or the part found a pull request's
    /// start in its branch (a branch commit touches that pull request's shipper, wherever it is).
    pub(crate) fn shipper_of(&self, service: &str, sha: &str) -> Option<usize> {
        let commits = self.part(service)?.shipments.commits.get();
        if !commits.branch_starts.is_empty() {
            return None;
        }
        commits.shipper_of(sha).filter(|&k| k > 0)
    }

    /// Whether `service` has a successful deployment in this analysis.
    pub(crate) fn part_exists(&self, service: &str) -> bool {
        self.part(service).is_some_and(|p| p.shipments.len() > 0)
    }

    fn part(&self, service: &str) -> Option<&Arc<Part>> {
        self.parts.binary_search_by(|p| p.service.as_str().cmp(service)).ok().map(|k| &self.parts[k])
    }

    /// The parts of the services in `scope`.
    fn in_scope<'a>(&'a self, scope: &'a Scope) -> Box<dyn Iterator<Item = &'a Part> + 'a> {
        match &scope.services {
            None => Box::new(self.parts.iter().map(Arc::as_ref)),
            Some(named) => Box::new(named.iter().filter_map(|name| self.part(name)).map(Arc::as_ref)),
        }
    }

    /// The successful deployments of the services in `scope` that finished in `[from, to)` and
    /// roll another back, in [`Analysis::finished_between`]'s order: found from each service's
    /// list of rollbacks, so a window of many deployments is not sorted to find a few.
    pub fn rollbacks_between<'a>(&'a self, from: Millis, to: Millis, scope: &'a Scope) -> Vec<AnalyzedDeployment<'a>> {
        let mut found: Vec<AnalyzedDeployment<'_>> = self
            .in_scope(scope)
            .flat_map(|p| {
                let window = p.shipments.finished_in(from, to);
                p.shipments.rollbacks.iter().map(|&i| i as usize).filter(move |i| window.contains(i)).map(move |index| AnalyzedDeployment { part: p, index })
            })
            .collect();
        found.sort_by(|a, b| a.order(*b));
        found
    }

    /// Every successful deployment, service by service (in name order), each service's
    /// ascending by finish time; [`Analysis::finished_between`] lists a window in finish order.
    pub fn deployments(&self) -> impl Iterator<Item = AnalyzedDeployment<'_>> {
        self.parts.iter().flat_map(|p| (0..p.shipments.len()).map(move |index| AnalyzedDeployment { part: p, index }))
    }

    /// The successful deployments of the services in `scope` that finished in `[from, to)`,
    /// ascending by finish time, then service, then id: what a window holds, found by binary
    /// search in each service's part.
    pub fn finished_between<'a>(&'a self, from: Millis, to: Millis, scope: &'a Scope) -> Vec<AnalyzedDeployment<'a>> {
        let mut found: Vec<AnalyzedDeployment<'_>> = self
            .in_scope(scope)
            .flat_map(|p| p.shipments.finished_in(from, to).map(move |index| AnalyzedDeployment { part: p, index }))
            .collect();
        found.sort_by(|a, b| a.order(*b));
        found
    }

    /// What the analysis knows of a successful deployment.
    pub fn deployment(&self, id: &str) -> Option<AnalyzedDeployment<'_>> {
        self.parts.iter().find_map(|p| p.shipments.index(id).map(|index| AnalyzedDeployment { part: p, index }))
    }

    /// What this analysis found for the stored `deployment`, looked up in its service's part;
    /// in every part only when it is a successful deployment of this environment that part does
    /// not hold (the analysis is a moment behind a change of its service). [`Analysis::deployment`]
    /// searches every part, a thousand binary searches at the full size.
    pub fn analyzed(&self, deployment: &Deployment) -> Option<AnalyzedDeployment<'_>> {
        if let Some(found) = self.deployment_of(&deployment.service, &deployment.id) {
            return Some(found);
        }
        let counts = deployment.status == DeploymentStatus::Success && deployment.environment == self.environment;
        if counts { self.deployment(&deployment.id) } else { None }
    }

    /// Deployment `id`, looked for in `service`'s part first (where a rollback's or an
    /// incident's deployment nearly always is), then in every part.
    pub fn deployment_near(&self, service: &str, id: &str) -> Option<AnalyzedDeployment<'_>> {
        self.deployment_of(service, id).or_else(|| self.deployment(id))
    }

    /// Deployment `id` when `service`'s part holds it.
    fn deployment_of(&self, service: &str, id: &str) -> Option<AnalyzedDeployment<'_>> {
        let part = self.part(service)?;
        part.shipments.index(id).map(|index| AnalyzedDeployment { part, index })
    }

    /// The service that holds deployment `id`, when one does.
    pub fn service_of(&self, id: &str) -> Option<&str> {
        self.deployment(id).map(AnalyzedDeployment::service)
    }

    /// The successful deployments of `service`, ascending by finish time.
    pub fn of_service<'a>(&'a self, service: &str) -> impl DoubleEndedIterator<Item = AnalyzedDeployment<'a>> + 'a {
        let part = self.part(service).map(Arc::as_ref);
        let count = part.map_or(0, |p| p.shipments.len());
        (0..count).filter_map(move |index| Some(AnalyzedDeployment { part: part?, index }))
    }

    /// The deployments that shipped `sha` (each once per service), in finish order.
    pub fn shipped<'a>(&'a self, sha: &str) -> impl Iterator<Item = AnalyzedDeployment<'a>> + 'a {
        let shipper = |p: &'a Arc<Part>| p.shipments.commits_with(sha)?.shipper_of(sha).map(|index| AnalyzedDeployment { part: p, index });
        let mut found: Vec<AnalyzedDeployment<'a>> = self.parts.iter().filter_map(shipper).collect();
        found.sort_by(|a, b| a.order(*b));
        found.into_iter()
    }

    /// The start of the branch of the pull request merged as `sha`, when this environment shipped
    /// `sha` and the store found the start in the commit graph (see [`History::found_starts`]).
    pub fn branch_start(&self, sha: &str) -> Option<Millis> {
        self.parts.iter().find_map(|p| p.shipments.commits_with(sha)?.branch_start(sha))
    }

    /// The deployments an incident is blamed on (by name or by the attribution window).
    pub fn blamed_on<'a>(&'a self, incident: &'a Incident) -> impl Iterator<Item = String> + 'a {
        // Attribution puts an incident's causes in its own service's part, or on the deployment
        // it names, which nearly always is of the same service: those parts alone are read.
        let own = self.part(&incident.service).map(Arc::as_ref);
        let named = incident
            .deployment_id
            .as_deref()
            .and_then(|id| self.deployment_near(&incident.service, id))
            .map(|d| d.part)
            .filter(|p| !own.is_some_and(|o| std::ptr::eq(o, *p)));
        own.into_iter().chain(named).flat_map(move |p| {
            (0..p.failures.len()).filter(move |&k| p.failures.names_incident(k, &incident.id)).map(|k| p.shipments.id(p.failures.deployment(k)))
        })
    }

    /// Every team some deployment names, sorted.
    pub fn teams(&self) -> BTreeSet<&str> {
        self.team_services.keys().map(String::as_str).collect()
    }

    /// The services whose deployments name `team`.
    pub fn team_services(&self, team: &str) -> Option<&BTreeSet<String>> {
        self.team_services.get(team)
    }

    /// Every service with a deployment or an incident in this environment.
    pub fn services(&self) -> BTreeSet<&str> {
        self.parts.iter().map(|p| p.service.as_str()).collect()
    }

    /// The environment's incidents, service by service, each made whole as it is read.
    pub fn incidents(&self) -> impl Iterator<Item = Incident> + '_ {
        self.parts.iter().flat_map(move |p| p.incidents_whole(0..p.incidents.len(), &self.environment))
    }

    /// The incidents of `service`, ascending by opening time, then id.
    pub fn incidents_of(&self, service: &str) -> Vec<Incident> {
        self.part(service).map_or_else(Vec::new, |p| p.incidents_whole(0..p.incidents.len(), &self.environment).collect())
    }

    /// The incidents not resolved yet, service by service.
    pub fn unresolved_incidents(&self) -> impl Iterator<Item = Incident> + '_ {
        self.parts.iter().flat_map(move |p| p.incidents_whole((0..p.incidents.len()).filter(|&j| p.incidents.resolved_at(j).is_none()), &self.environment))
    }

    /// The service of incident `id`, when the analysis holds it.
    pub fn incident_service(&self, id: &str) -> Option<&str> {
        self.parts.iter().find(|p| p.incidents.position(id).is_some()).map(|p| p.service.as_str())
    }

    /// The services whose parts may depend on `sha`: those whose deployments reach it, list it,
    /// or shipped a pull request whose branch holds it (see [`crate::reach::Reach`]).
    pub fn services_reaching<'a>(&'a self, sha: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.parts.iter().filter(move |p| p.shipments.reach.may_hold(sha)).map(|p| p.service.as_str())
    }

    /// The heap bytes the analysis holds, part by part (capacities, not lengths; strings inside
    /// incidents and failure causes counted by their capacity): what its memory is made of; and
    /// the bytes of its commits kept in the spill file instead (see [`crate::spill`]), which
    /// the first three rows then do not hold.
    pub fn footprint(&self) -> (Vec<(&'static str, usize)>, usize) {
        const NAMES: [&str; 7] = [
            "the sha table (sorted: 20 bytes a Git sha)",
            "changesets and the branch starts found in the graph",
            "the sha → deployment index",
            "lead-time samples (seconds, and which commits have one)",
            "deployment texts (rolled-back id of a rollback; id and version without a spill file)",
            "deployment columns and indexes (finish time, team, rework, id hash, rollbacks)",
            "what each service depends on (reach filters)",
        ];
        let mut sums = [0usize; 7];
        let (mut failures, mut incidents, mut parts, mut spilled) = (0usize, 0usize, 0usize, 0usize);
        let string = |s: &String| s.capacity();
        for p in &self.parts {
            let (memory, on_disk) = p.shipments.heap_bytes();
            for (sum, bytes) in sums.iter_mut().zip(memory) {
                *sum += bytes;
            }
            spilled += on_disk;
            failures += p.failures.heap_bytes();
            incidents += size_of::<Incidents>() + p.incidents.heap_bytes();
            parts += size_of::<Part>() + size_of::<Shipments>() + p.service.capacity() + p.shipments.teams.iter().map(string).sum::<usize>();
        }
        let mut all: Vec<(&'static str, usize)> = NAMES.into_iter().zip(sums).collect();
        all.push(("failures and their causes", failures));
        all.push(("incidents", incidents));
        all.push(("the parts themselves (one a service)", parts + self.parts.capacity() * size_of::<Arc<Part>>()));
        all.push(("bucket summaries kept for series", self.memo.bytes(|s| size_of::<Summary>() + s.from.capacity() + s.to.capacity() + s.environment.capacity())));
        (all, spilled)
    }

    /// The DORA summary of the window `[from, to)`.
    pub fn summary(&self, from: Millis, to: Millis, benchmarks: Benchmarks, scope: &Scope) -> Summary {
        let mut summary = self.metrics(from, to, benchmarks, scope);
        summary.services = match &scope.services {
            Some(named) => named.iter().cloned().collect(),
            None => self.parts.iter().map(|p| p.service.clone()).collect(),
        };
        summary
    }

    /// The summary of each of `buckets` (`[start, end)` windows), without the list of services,
    /// which is every bucket's the same: a year of weeks over every service would copy it 52
    /// times.
    ///
    /// Buckets already summarized by this analysis, or by the one it advanced from where nothing
    /// they count changed since, are not summarized again ([`crate::memo`]).
    pub fn buckets(&self, buckets: &[(Millis, Millis)], benchmarks: Benchmarks, scope: &Scope) -> Vec<Summary> {
        let kept = self.memo.values(&(scope.clone(), benchmarks), buckets, |(start, end)| Arc::new(self.metrics(start, end, benchmarks, scope)));
        kept.into_iter().map(Arc::unwrap_or_clone).collect()
    }

    /// [`Analysis::summary`] with an empty `services`.
    fn metrics(&self, from: Millis, to: Millis, benchmarks: Benchmarks, scope: &Scope) -> Summary {
        let bands = benchmarks.bands();
        let window: Vec<(&Part, Range<usize>)> = self.in_scope(scope).map(|p| (p, p.shipments.finished_in(from, to))).collect();
        let count = window.iter().map(|(_, r)| r.len() as u64).sum::<u64>();

        let days = (to - from) as f64 / DAY as f64;
        let per_day = if days > 0.0 { count as f64 / days } else { 0.0 };
        let deploy_days = distinct_days(window.iter().flat_map(|(p, r)| p.shipments.finished_at[r.clone()].iter().copied()), from, to);
        let deployment_frequency = DeploymentFrequency {
            deployments: count,
            deploy_days,
            per_day,
            per_week: per_day * 7.0,
            level: Some(bands.deployment_frequency(per_day)),
        };

        let samples: Vec<Run> = window.iter().map(|(p, r)| p.shipments.lead_times_of(r.clone())).filter(|s| !s.is_empty()).collect();
        let lead = Distribution::of(&samples);
        let lead_time = LeadTime {
            samples: lead.samples,
            median_seconds: lead.median,
            p90_seconds: lead.p90,
            level: lead.median.map(|m| bands.lead_time(m)),
        };

        let failed: Vec<(&Part, usize)> = window.iter().flat_map(|(p, r)| p.failures.within(r.clone()).map(move |k| (*p, k))).collect();
        let rate = ratio(failed.len() as u64, count);
        let change_failure_rate = ChangeFailureRate {
            deployments: count,
            failed_deployments: failed.len() as u64,
            rate,
            level: rate.map(|r| bands.change_failure_rate(r)),
        };

        let restores: Vec<f64> = window
            .iter()
            .flat_map(|(p, _)| {
                let list = &p.incidents;
                list.opened_in(from, to).filter_map(|j| Some(seconds(list.resolved_at(j)? - list.opened_at(j))))
            })
            .filter(|s| *s >= 0.0)
            .collect();
        let restore = Distribution::of(&[restores.as_slice()]);
        let time_to_restore =
            TimeToRestore { incidents: restore.samples, median_seconds: restore.median, level: restore.median.map(|m| bands.recovery(m)) };

        let recoveries: Vec<f64> = failed
            .iter()
            .filter_map(|&(p, k)| Some(seconds(p.failures.recovered_at(k)? - p.shipments.finished_at[p.failures.deployment(k)])))
            .filter(|s| *s >= 0.0)
            .collect();
        let recovery = Distribution::of(&[recoveries.as_slice()]);
        let failed_deployment_recovery_time = RecoveryTime {
            failed_deployments: failed.len() as u64,
            recovered: recovery.samples,
            median_seconds: recovery.median,
            level: recovery.median.map(|m| bands.recovery(m)),
        };

        let mut by_reason = ByReason::default();
        for (p, r) in &window {
            p.rework_in(r.clone(), &mut by_reason);
        }
        let rework = by_reason.total();
        let rework_rate = ReworkRate { deployments: count, unplanned_deployments: rework, rate: ratio(rework, count), by_reason };

        let recovery_level = match benchmarks {
            Benchmarks::Y2021 => time_to_restore.level,
            Benchmarks::Y2023 | Benchmarks::Y2024 => failed_deployment_recovery_time.level,
        };
        let level = overall([deployment_frequency.level, lead_time.level, change_failure_rate.level, recovery_level]);

        Summary {
            from: rfc3339(from),
            to: rfc3339(to),
            environment: self.environment.clone(),
            services: Vec::new(),
            deployment_frequency,
            lead_time,
            change_failure_rate,
            time_to_restore,
            failed_deployment_recovery_time,
            rework_rate,
            level,
        }
    }

    /// The summary of each calendar bucket of `[from, to)`, as [`Analysis::buckets`].
    pub fn series(&self, from: Millis, to: Millis, interval: Interval, benchmarks: Benchmarks, scope: &Scope) -> Vec<Summary> {
        self.buckets(&interval.buckets(from, to), benchmarks, scope)
    }
}

/// Whether a deployment counts: successful, with a finish time.
fn counts(d: &Deployment) -> bool {
    d.status == DeploymentStatus::Success && d.finished_at.is_some()
}

/// One service's part of an analysis, made from that service's own read: a history of its
/// deployments, exactly the commit graph they depend on, and its incidents (the store's
/// `service_history`). Compact: the history is dropped once it is made.
pub struct ServicePart(Draft);

impl ServicePart {
    /// The part of `service` made from its history.
    pub fn build(service: String, history: History) -> Self {
        Self(draft(service, history))
    }

    /// This part, its history read at the store's `generation` in one snapshot: it holds every
    /// change up to that generation, so an advance leaves it as it is for a change logged at
    /// or before it (see [`Analysis::affected`]). Without this, every change the log names for
    /// the service is applied again, which is always right but remakes a part that a read
    /// newer than the advance's generation already made current.
    #[must_use]
    pub fn read_at(mut self, generation: i64) -> Self {
        self.0.read_at = generation;
        self
    }

    /// The part of `service` in `analysis` as it is, to append deployments to; `None` when the
    /// analysis has none.
    pub fn of(analysis: &Analysis, service: &str) -> Option<Self> {
        let part = analysis.part(service)?;
        let (shipments, incidents) = (Arc::clone(&part.shipments), Arc::clone(&part.incidents));
        Some(Self(Draft { service: service.to_owned(), shipments, incidents, kept: None, read_at: part.read_at }))
    }

    /// This part with more deployments after its last, in finish order (see [`Appendix`]): what
    /// a build from the service's history would give, at the cost of the new deployments' own
    /// commits. `None` when it cannot be made so, and the service must be built from its
    /// history.
    #[must_use]
    pub fn appended(self, appendices: &[Appendix]) -> Option<Self> {
        let shipments = self.0.shipments.appended(appendices)?;
        Some(Self(Draft { shipments: Arc::new(shipments), ..self.0 }))
    }

    /// This part without its deployments from the `k`-th on (in finish order), and their ids,
    /// to be appended again from their own commits (see [`Analysis::affected`]); `None` when
    /// that cannot be, and the service must be built from its history.
    pub fn truncated(self, k: usize) -> Option<(Self, Vec<String>)> {
        let (shipments, dropped) = self.0.shipments.truncated(k)?;
        Some((Self(Draft { shipments: Arc::new(shipments), ..self.0 }), dropped))
    }

    /// Whether a deployment that finished at `finished_at` with id `id` comes after this part's
    /// last (or at it, with an id after the last's): only such a deployment can be appended.
    pub fn finishes_last(&self, id: &str, finished_at: Millis) -> bool {
        self.0.shipments.finish_after_last(finished_at, id)
    }

    /// Whether a sha is live for this part: reached or listed by one of its deployments. Where
    /// the walk from a new deployment's head stops (see [`Appendix`]). The part's commits are
    /// read once, here, for every sha the walk asks about.
    pub fn live(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let commits = self.0.shipments.commits.get();
        move |sha| commits.is_live(sha)
    }
}

/// An analysis built from a whole history one service at a time, so that only one service's
/// deployments are held at once: the commit graph, the pull requests' starts, the revert commits
/// and the incidents are read first and shared (a [`History`] without deployments); each
/// service's deployments are then given with their lists ([`Builder::service`]), made into its
/// part and dropped. [`Analysis::build`] is the same over a history held whole.
pub struct Builder {
    /// The history without deployments.
    shared: History,
    /// Whether the environment has one service at most (see `Sources::graph_is_the_service_s`).
    single: bool,
    /// Each service's shipments made so far.
    shipped: BTreeMap<String, Shipments>,
}

impl Builder {
    /// A build over `shared` (its deployments and lists are not read), for an environment of
    /// `services` services with deployments.
    pub fn new(shared: History, services: usize) -> Self {
        Self { shared, single: services <= 1, shipped: BTreeMap::new() }
    }

    /// The commit graph, into which a service's listed commits are interned as they are read.
    pub fn graph(&mut self) -> &mut CommitGraph {
        &mut self.shared.graph
    }

    /// Makes the part of one service from its deployments (those that count: successful, with
    /// a finish time) and the commits each lists (list `i` is deployment `i`'s).
    pub fn service(&mut self, deployments: &[Deployment], listed: &Flat<Listed>) {
        let Some(service) = deployments.first().map(|d| d.service.clone()) else { return };
        self.add(&service, deployments.iter().enumerate().filter(|(_, d)| counts(d) && d.service == service).map(|(i, d)| (d, listed.of(i))).collect());
    }

    /// Makes the part of `service` from `given`, its deployments with their lists.
    fn add(&mut self, service: &str, given: Vec<(&Deployment, &[Listed])>) {
        let History { graph, pr_first_commit, found_starts, branch_nodes, reverts, .. } = &mut self.shared;
        let sources = Sources { graph, pr_first_commit, found_starts, branch_nodes, reverts, graph_is_the_service_s: self.single };
        self.shipped.insert(service.to_owned(), Shipments::build(given, sources));
    }

    /// The analysis of every service given; `attribution_window` as in [`Analysis::build`].
    pub fn finish(self, attribution_window: Millis) -> Analysis {
        // The graph and the starts are dropped before failures are attributed.
        let History { environment, incidents, graph, pr_first_commit, found_starts, branch_nodes, reverts, .. } = self.shared;
        drop((graph, pr_first_commit, found_starts, branch_nodes, reverts));
        Analysis::of_shipped(environment, attribution_window, self.shipped, incidents)
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("environment", &self.shared.environment).field("services", &self.shipped.len()).finish_non_exhaustive()
    }
}

/// Which shipments an analysis held, by service, without holding them: a weak reference keeps
/// only the allocation's address taken (so a later part can never be mistaken for a marked
/// one), not the part's columns.
#[derive(Debug, Clone, Default)]
pub struct PartMarks(Vec<(String, std::sync::Weak<Shipments>)>);

/// One service's shipments read back from their bytes (see [`crate::snapshot`]).
pub struct StoredPart {
    service: String,
    shipments: Shipments,
}

impl StoredPart {
    /// The part of `service` that `bytes` hold.
    ///
    /// # Errors
    /// The bytes are not a whole part of this build's format.
    pub fn decode(service: String, bytes: &[u8]) -> Result<Self, SnapshotError> {
        Ok(Self { service, shipments: snapshot::decode(bytes)? })
    }
}

impl std::fmt::Debug for StoredPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPart").field("service", &self.service).field("deployments", &self.shipments.len()).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ServicePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePart").field("service", &self.0.service).field("deployments", &self.0.shipments.len()).finish_non_exhaustive()
    }
}

/// The draft of one service read on its own.
fn draft(service: String, history: History) -> Draft {
    let History { mut deployments, mut graph, pr_first_commit, found_starts, incidents, listed, branch_nodes, reverts, .. } = history;
    let listed = if listed.is_empty() { take_lists(&mut deployments, &mut graph) } else { listed };
    let given = deployments.iter().enumerate().filter(|(_, d)| counts(d) && d.service == service).map(|(i, d)| (d, listed.of(i))).collect();
    let sources =
        Sources { graph: &mut graph, pr_first_commit: &pr_first_commit, found_starts: &found_starts, branch_nodes: &branch_nodes, reverts: &reverts, graph_is_the_service_s: true };
    let shipments = Shipments::build(given, sources);
    let incidents = Incidents::new(incidents.into_iter().filter(|i| i.service == service).collect());
    Draft { service, shipments: Arc::new(shipments), incidents: Arc::new(incidents), kept: None, read_at: 0 }
}

/// Incidents by service.
fn own_incidents(incidents: Vec<Incident>) -> BTreeMap<String, Vec<Incident>> {
    let mut own: BTreeMap<String, Vec<Incident>> = BTreeMap::new();
    for incident in incidents {
        own.entry(incident.service.clone()).or_default().push(incident);
    }
    own
}

/// How many distinct UTC dates `times` (all in `[from, to)`) fall on.
fn distinct_days(times: impl Iterator<Item = Millis>, from: Millis, to: Millis) -> u64 {
    let first = day_number(from);
    let span = usize::try_from(day_number(to.max(from)) - first + 1).unwrap_or(usize::MAX);
    if span <= 1 << 22 {
        let mut seen = vec![0u64; span.div_ceil(64)];
        for t in times {
            let d = (day_number(t) - first) as usize;
            seen[d / 64] |= 1 << (d % 64);
        }
        seen.iter().map(|w| u64::from(w.count_ones())).sum()
    } else {
        let mut days: Vec<i64> = times.map(day_number).collect();
        days.sort_unstable();
        days.dedup();
        days.len() as u64
    }
}

/// The lists of `deployments` themselves, interned into `graph`; their `commits` are emptied.
fn take_lists(deployments: &mut [Deployment], graph: &mut CommitGraph) -> Flat<Listed> {
    let mut lists = Flat::with_capacity(deployments.len(), 0);
    for d in deployments {
        let commits = std::mem::take(&mut d.commits);
        lists.push(commits.into_iter().map(|c| Listed { sha: graph.intern(&c.sha), committed_at: c.committed_at }));
    }
    lists
}

fn seconds(millis: Millis) -> f64 {
    millis as f64 / 1000.0
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Sample count, median and p90 of a set of samples.
struct Distribution {
    samples: u64,
    median: Option<f64>,
    p90: Option<f64>,
}

impl Distribution {
    /// The distribution of the values of every slice of `parts` together.
    fn of<V: Values>(parts: &[V]) -> Self {
        // Selection, not a sort, and no copy: a year of every service's lead times is millions
        // of samples.
        let (median, p90) = match percentiles_cont_of(parts, [0.5, 0.9]) {
            Some([median, p90]) => (Some(median), Some(p90)),
            None => (None, None),
        };
        Self { samples: parts.iter().map(|p| p.count() as u64).sum(), median, p90 }
    }
}

/// The DORA summary of one window, as `GET /api/v1/dora` returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Window start (inclusive).
    pub from: String,
    /// Window end (exclusive).
    pub to: String,
    /// The environment.
    pub environment: String,
    /// The services in scope.
    pub services: Vec<String>,
    /// Deployment frequency.
    pub deployment_frequency: DeploymentFrequency,
    /// Lead time for changes.
    pub lead_time: LeadTime,
    /// Change failure rate.
    pub change_failure_rate: ChangeFailureRate,
    /// Time to restore (2021 definition).
    pub time_to_restore: TimeToRestore,
    /// Failed-deployment recovery time (2023 definition).
    pub failed_deployment_recovery_time: RecoveryTime,
    /// Rework rate (2024).
    pub rework_rate: ReworkRate,
    /// Overall level: the lowest metric level.
    pub level: Option<Level>,
}

/// Deployment frequency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentFrequency {
    /// Deployments in the window.
    pub deployments: u64,
    /// Distinct UTC dates with a deployment.
    pub deploy_days: u64,
    /// Deployments per day of the window.
    pub per_day: f64,
    /// Deployments per week of the window.
    pub per_week: f64,
    /// Level.
    pub level: Option<Level>,
}

/// Lead time for changes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeadTime {
    /// Number of (deployment, commit) samples.
    pub samples: u64,
    /// Median in seconds.
    pub median_seconds: Option<f64>,
    /// 90th percentile in seconds.
    pub p90_seconds: Option<f64>,
    /// Level.
    pub level: Option<Level>,
}

/// Change failure rate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangeFailureRate {
    /// Deployments in the window.
    pub deployments: u64,
    /// Of which failed.
    pub failed_deployments: u64,
    /// failed / deployments.
    pub rate: Option<f64>,
    /// Level.
    pub level: Option<Level>,
}

/// Time to restore service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeToRestore {
    /// Resolved incidents opened in the window.
    pub incidents: u64,
    /// Median in seconds.
    pub median_seconds: Option<f64>,
    /// Level.
    pub level: Option<Level>,
}

/// Failed-deployment recovery time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecoveryTime {
    /// Failed deployments in the window.
    pub failed_deployments: u64,
    /// Of which recovered.
    pub recovered: u64,
    /// Median in seconds.
    pub median_seconds: Option<f64>,
    /// Level.
    pub level: Option<Level>,
}

/// Rework rate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReworkRate {
    /// Deployments in the window.
    pub deployments: u64,
    /// Rework deployments among them (the name is the field's first meaning: rollbacks and
    /// unplanned deployments; fix-forwards and reverts count since).
    pub unplanned_deployments: u64,
    /// rework / deployments.
    pub rate: Option<f64>,
    /// The rework deployments under their reasons, each once.
    pub by_reason: ByReason,
}

/// Why a deployment is rework, with the fact behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rework<'a> {
    /// It rolls back this deployment.
    Rollback {
        /// The deployment rolled back.
        deployment_id: &'a str,
    },
    /// It says it is unplanned.
    Unplanned,
    /// It finished while this incident of its service was open.
    FixForward {
        /// The incident.
        incident_id: &'a str,
    },
    /// It shipped this revert commit first.
    Revert {
        /// The revert commit.
        commit_sha: String,
    },
}

impl Rework<'_> {
    /// Its reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Rollback { .. } => Reason::Rollback,
            Self::Unplanned => Reason::Unplanned,
            Self::FixForward { .. } => Reason::FixForward,
            Self::Revert { .. } => Reason::Revert,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HOUR, ShippedCommit};

    fn deploy(id: &str, service: &str, sha: &str, hours: i64, listed: &[&str]) -> Deployment {
        let commits = listed.iter().map(|sha| ShippedCommit { sha: (*sha).into(), committed_at: None, authored_at: None }).collect();
        Deployment { commits, ..Deployment::succeeded(id, service, sha, hours * HOUR) }
    }

    /// Two services deployed from one repository (a monorepo): a → b → c, both services live on
    /// a, then both ship c; web also lists a commit x whose time nobody knows.
    fn monorepo() -> Analysis {
        let mut graph = CommitGraph::builder(3);
        for (sha, at, parent) in [("a", 0, None), ("b", 5, Some("a")), ("c", 8, Some("b"))] {
            graph.commit(sha, at * HOUR);
            if let Some(parent) = parent {
                graph.parent(sha, parent);
            }
        }
        let incident = |id: &str, service: &str, sha: &str| Incident { commit_sha: Some(sha.into()), ..Incident::opened(id, service, 13 * HOUR, Some(14 * HOUR)) };
        let history = History {
            environment: "production".into(),
            deployments: vec![
                deploy("web-1", "web", "a", 1, &[]),
                deploy("api-1", "api", "a", 2, &[]),
                deploy("web-2", "web", "c", 10, &["x"]),
                deploy("api-2", "api", "c", 12, &[]),
            ],
            graph: graph.build(),
            incidents: vec![incident("i-1", "api", "b")],
            ..History::default()
        };
        Analysis::build(history, 24 * HOUR)
    }

    /// web deploys twice; api's deployment rolls back web's first, and db's incident names web's
    /// second: causes that cross services.
    fn crossed() -> Analysis {
        let mut graph = CommitGraph::builder(1);
        graph.commit("a", 0);
        let incident = Incident { deployment_id: Some("web-2".into()), ..Incident::opened("db-down", "db", 6 * HOUR, Some(7 * HOUR)) };
        let history = History {
            environment: "production".into(),
            deployments: vec![
                deploy("web-1", "web", "a", 1, &[]),
                deploy("db-1", "db", "a", 2, &[]),
                Deployment { rollback_of: Some("web-1".into()), ..deploy("api-1", "api", "a", 3, &[]) },
                deploy("web-2", "web", "a", 5, &[]),
            ],
            graph: graph.build(),
            incidents: vec![incident],
            ..History::default()
        };
        Analysis::build(history, 24 * HOUR)
    }

    #[test]
    fn an_advance_attributing_one_service_again_keeps_the_causes_other_services_name() {
        let whole = crossed();
        // web's own incidents read again: web alone is attributed again, api and db are kept.
        let advanced = whole.updated(Vec::new(), vec![("web".to_owned(), Vec::new())]);
        let causes = |a: &Analysis, id: &str| a.deployment(id).map(AnalyzedDeployment::failure_causes);
        assert_eq!(causes(&advanced, "web-1"), Some(vec![FailureCause::RolledBack { deployment_id: "api-1".into() }]), "api's rollback of it");
        assert_eq!(causes(&advanced, "web-2"), Some(vec![FailureCause::IncidentNamedDeployment { incident_id: "db-down".into() }]), "db's incident");
        for id in ["web-1", "web-2", "db-1", "api-1"] {
            assert_eq!(causes(&advanced, id), causes(&whole, id), "{id}: as a whole build finds");
        }
    }

    /// web ships w1 on day 1 and w3 (after w2) on day 3; api ships p1 on day 2. With `backdated`,
    /// web also shipped w2 on day 2, reported after the rest. `web_only` leaves api out.
    fn two_services(backdated: bool, web_only: bool) -> History {
        let mut graph = CommitGraph::builder(4);
        for (sha, at, parent) in [("w1", 20, None), ("w2", 40, Some("w1")), ("w3", 70, Some("w2")), ("p1", 30, None)] {
            graph.commit(sha, at * HOUR);
            if let Some(parent) = parent {
                graph.parent(sha, parent);
            }
        }
        let mut deployments = vec![deploy("web-1", "web", "w1", 26, &[]), deploy("web-2", "web", "w3", 76, &[])];
        if backdated {
            deployments.push(deploy("web-b", "web", "w2", 50, &[]));
        }
        if !web_only {
            deployments.push(deploy("api-1", "api", "p1", 54, &[]));
        }
        History { environment: "production".into(), deployments, graph: graph.build(), ..History::default() }
    }

    #[test]
    fn an_advance_leaves_a_part_read_at_or_after_a_change_alone() {
        use crate::change::{Change, Changed, DeploymentNow};
        let commit = |sha: &str, generation| Changed { change: Change::Commit { sha: sha.into() }, generation };
        let now = Some(DeploymentNow { service: "web".into(), environment: "production".into(), counts: true, rollback_of: None });
        let web_b = |generation| Changed { change: Change::Deployment { id: "web-b".into(), now: now.clone() }, generation };
        let before = Analysis::build(two_services(false, false), 24 * HOUR);
        assert_eq!(before.affected(&[web_b(1)]).appended.get("web"), Some(&vec!["web-b".to_owned()]), "new to a part built whole: appended");
        let redone_from = |affected: crate::change::Affected| affected.redone.into_iter().collect::<Vec<_>>();
        assert_eq!(redone_from(before.affected(&[commit("w2", 1)])), [("web".to_owned(), 1)], "no read generation: every change applies, from web-2 (which shipped w2) on");
        assert_eq!(before.affected(&[commit("w1", 1)]).rebuild, ["web".to_owned()].into(), "what the first deployment reached: the part whole");

        // web read in one snapshot at generation 7, web-b in it.
        let advanced = before.updated(vec![ServicePart::build("web".into(), two_services(true, true)).read_at(7)], Vec::new());
        assert!(advanced.affected(&[web_b(6), commit("w2", 7)]).is_empty(), "changes at or before the read are in the part");
        assert_eq!(advanced.affected(&[web_b(8)]).rebuild, ["web".to_owned()].into(), "a later change of a held deployment remakes it");
        assert_eq!(redone_from(advanced.affected(&[commit("w2", 8)])), [("web".to_owned(), 1)], "a later change of a shipped commit remakes it from web-b on");
        assert_eq!(redone_from(advanced.affected(&[commit("w3", 8), commit("w2", 8)])), [("web".to_owned(), 1)], "from the earliest deployment a change touches");
        assert_eq!(advanced.affected(&[commit("p1", 2)]).rebuild, ["api".to_owned()].into(), "api, built whole, knows no generation");
    }

    #[test]
    fn a_part_truncated_at_a_deployment_is_the_part_of_the_deployments_before_it() {
        let days: Vec<(Millis, Millis)> = (0..5).map(|d| (d * DAY, (d + 1) * DAY)).collect();
        let web = || ServicePart::build("web".into(), two_services(true, true));
        assert!(web().truncated(0).is_none(), "the first deployment's reach is what every changeset starts from");
        assert!(web().truncated(3).is_none(), "nothing past the last");
        let (truncated, dropped) = web().truncated(1).expect("web has three deployments");
        assert_eq!(dropped, ["web-b", "web-2"], "in finish order");
        let live = truncated.live();
        assert!(live("w1") && !live("w2") && !live("w3"), "only what web-1 put live");

        let whole = Analysis::build(two_services(false, false), 24 * HOUR);
        let mut first = two_services(false, false);
        first.deployments.retain(|d| d.id != "web-2");
        let expected = Analysis::build(first, 24 * HOUR);
        let advanced = whole.updated(vec![truncated], Vec::new());
        for scope in [Scope::all(), Scope::services(["web".to_owned()])] {
            assert_eq!(advanced.buckets(&days, Benchmarks::default(), &scope), expected.buckets(&days, Benchmarks::default(), &scope), "{scope:?}");
        }
        let ids = |a: &Analysis| a.deployments().map(|d| (d.id(), d.changeset())).collect::<Vec<_>>();
        assert_eq!(ids(&advanced), ids(&expected));
    }

    #[test]
    fn an_advance_keeps_the_bucket_summaries_it_did_not_change_and_makes_the_others_again() {
        let days: Vec<(Millis, Millis)> = (0..5).map(|d| (d * DAY, (d + 1) * DAY)).collect();
        let before = Analysis::build(two_services(false, false), 24 * HOUR);
        let answered = before.buckets(&days, Benchmarks::default(), &Scope::all());
        let web = ServicePart::build("web".into(), two_services(true, true));
        let advanced = before.updated(vec![web], Vec::new());
        assert_eq!(advanced.memo.bytes(|_| 1), 2, "the days before web-b's (days 0 and 1) are carried; the rest go");

        let whole = Analysis::build(two_services(true, false), 24 * HOUR);
        for scope in [Scope::all(), Scope::services(["web".to_owned()]), Scope::services(["api".to_owned()])] {
            assert_eq!(advanced.buckets(&days, Benchmarks::default(), &scope), whole.buckets(&days, Benchmarks::default(), &scope), "{scope:?}");
        }
        let again = advanced.buckets(&days, Benchmarks::default(), &Scope::all());
        assert_ne!(again[2], answered[2], "web-b counts on day 2");
        assert_eq!(again[2].deployment_frequency.deployments, 2);
        assert_eq!(again[..2], answered[..2]);

        // An incident of api opened on day 4: only that day changes.
        let before = advanced;
        let incident = Incident::opened("down", "api", 100 * HOUR, Some(101 * HOUR));
        let advanced = before.updated(Vec::new(), vec![("api".to_owned(), vec![incident])]);
        assert_eq!(advanced.memo.bytes(|_| 1), 4 + 4 + 5, "the scopes holding api keep days 0 to 3; web's keeps all five");
        assert_eq!(advanced.buckets(&days, Benchmarks::default(), &Scope::all())[4].time_to_restore.incidents, 1);
    }

    #[test]
    fn a_build_one_service_at_a_time_gives_the_build_of_the_whole_history() {
        let days: Vec<(Millis, Millis)> = (0..5).map(|d| (d * DAY, (d + 1) * DAY)).collect();
        let incidents = vec![Incident::opened("down", "api", 55 * HOUR, Some(57 * HOUR)), Incident::opened("slow", "web", 90 * HOUR, None)];
        let whole = Analysis::build(History { incidents: incidents.clone(), ..two_services(true, false) }, 24 * HOUR);

        let History { environment, deployments, graph, .. } = two_services(true, false);
        let mut builder = Builder::new(History { environment, graph, incidents, ..History::default() }, 2);
        for service in ["web", "api"] {
            let mut own: Vec<Deployment> = deployments.iter().filter(|d| d.service == service).cloned().collect();
            let listed = take_lists(&mut own, builder.graph());
            builder.service(&own, &listed);
        }
        let streamed = builder.finish(24 * HOUR);
        for scope in [Scope::all(), Scope::services(["web".to_owned()]), Scope::services(["api".to_owned()])] {
            assert_eq!(streamed.buckets(&days, Benchmarks::default(), &scope), whole.buckets(&days, Benchmarks::default(), &scope), "{scope:?}");
        }
        let failed = |a: &Analysis| a.deployments().filter(|d| d.failed()).map(|d| (d.id(), d.changeset(), d.recovered_at())).collect::<Vec<_>>();
        assert_eq!(failed(&streamed), failed(&whole));
        let failures = failed(&whole);
        let ids: Vec<&str> = failures.iter().map(|(id, ..)| id.as_str()).collect();
        assert_eq!(ids, ["api-1", "web-2"], "each incident is a failure of the deployment of its service before it, within the day");
    }

    #[test]
    fn deployments_whose_ids_share_a_hash_are_each_found_by_their_own_id() {
        // Two ids with one 32-bit hash: the birthday bound finds a pair within some 100 000.
        let mut seen = HashMap::new();
        let (a, b) = (0..)
            .map(|n| format!("deploy-{n}"))
            .find_map(|id| seen.insert(crate::shipments::id_hash(&id), id.clone()).map(|earlier| (earlier, id)))
            .expect("a pair of ids with one hash");
        let history = History {
            environment: "production".into(),
            deployments: vec![deploy(&a, "web", "a", 1, &[]), deploy(&b, "web", "a", 2, &[]), deploy("other", "web", "a", 3, &[])],
            ..History::default()
        };
        let analysis = Analysis::build(history, 24 * HOUR);
        assert_eq!(analysis.deployment(&a).map(|d| (d.id(), d.finished_at())), Some((a.clone(), HOUR)));
        assert_eq!(analysis.deployment(&b).map(|d| (d.id(), d.finished_at())), Some((b.clone(), 2 * HOUR)));
        assert!(analysis.deployment("deploy-none").is_none());
        let web = ServicePart::of(&analysis, "web").expect("web deploys");
        assert!(web.finishes_last("zzz", 3 * HOUR) && !web.finishes_last("aaa", 3 * HOUR), "a tie in finish time goes by id");
    }

    #[test]
    fn a_commit_two_services_ship_is_found_under_both_in_finish_order() {
        let analysis = monorepo();
        let shipped = |sha: &str| analysis.shipped(sha).map(|d| d.id()).collect::<Vec<_>>();
        assert_eq!(shipped("c"), ["web-2", "api-2"]);
        assert_eq!(shipped("b"), ["web-2", "api-2"]);
        assert_eq!(shipped("x"), ["web-2"]);
        assert!(shipped("a").is_empty(), "a was live before the first deployments");
        assert!(shipped("unknown").is_empty());
    }

    #[test]
    fn an_incident_naming_a_commit_fails_the_deployment_of_its_own_service_that_shipped_it() {
        let analysis = monorepo();
        let failed = |id: &str| analysis.deployment(id).is_some_and(AnalyzedDeployment::failed);
        assert!(failed("api-2"), "api shipped b after web: the later shipper is found");
        assert!(!failed("web-2"), "the incident is api's");
    }

    #[test]
    fn lead_time_samples_pair_each_commit_with_a_known_start_with_its_own_sample() {
        let analysis = monorepo();
        let web = analysis.deployment("web-2").expect("web-2 succeeded");
        let mut changeset: Vec<String> = web.changeset();
        changeset.sort();
        assert_eq!(changeset, ["b", "c", "x"]);
        let mut samples: Vec<(String, f64)> = web.lead_time_samples();
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(samples, [("b".to_owned(), 5.0 * 3_600.0), ("c".to_owned(), 2.0 * 3_600.0)], "x has no known start");
        let mut seconds: Vec<f64> = web.lead_times().collect();
        seconds.sort_by(f64::total_cmp);
        assert_eq!(seconds, [2.0 * 3_600.0, 5.0 * 3_600.0]);
        let api: Vec<f64> = analysis.deployment("api-2").expect("api-2 succeeded").lead_time_samples().into_iter().map(|(_, s)| s).collect();
        assert_eq!(api.len(), 2, "api-2 ships b and c too: each commit counts once per service");
    }

    #[test]
    fn the_commits_are_kept_out_of_memory_and_read_back_where_they_are_shown() {
        let analysis = monorepo();
        let (memory, spilled) = analysis.footprint();
        // The tests' process makes its spill file in the temporary directory, as pacer does.
        assert!(spilled > 0, "the commits are in the spill file");
        assert_eq!(memory[..3].iter().map(|(_, bytes)| bytes).sum::<usize>(), 0, "no sha table, changeset or shipper in memory: {memory:?}");
        let mut changeset = analysis.deployment("web-2").expect("web-2 succeeded").changeset();
        changeset.sort();
        assert_eq!(changeset, ["b", "c", "x"], "read back from the file");
        let shipped: Vec<String> = analysis.shipped("b").map(AnalyzedDeployment::id).collect();
        assert_eq!(shipped, ["web-2", "api-2"], "each service's first shipper, in finish order");
    }

    #[test]
    fn an_analysis_read_back_from_its_parts_bytes_answers_as_the_one_built() {
        let built = monorepo();
        let encoded = |a: &Analysis| a.changed_since(None).0.into_iter().map(|s| (s.to_owned(), a.encoded_part(s).expect("a part"))).collect::<Vec<_>>();
        let stored: Vec<StoredPart> = encoded(&built).into_iter().map(|(service, bytes)| StoredPart::decode(service, &bytes).expect("its own bytes")).collect();
        let incidents: Vec<Incident> = built.incidents().collect();
        let read = Analysis::from_stored(built.environment.clone(), 24 * HOUR, stored, incidents);
        let every = |a: &Analysis| {
            a.deployments()
                .map(|d| (d.id(), d.failed(), d.rework().map(|r| r.reason()), d.changeset(), d.lead_times().collect::<Vec<_>>()))
                .collect::<Vec<_>>()
        };
        assert_eq!(every(&read), every(&built));
        assert_eq!(read.summary(0, 100 * HOUR, Benchmarks::default(), &Scope::all()), built.summary(0, 100 * HOUR, Benchmarks::default(), &Scope::all()));
        assert_eq!(encoded(&read), encoded(&built), "written again, the same bytes");
        let marks = read.marks();
        assert_eq!(read.changed_since(Some(&marks)), (vec![], vec![]));
        assert_eq!(read.changed_since(Some(&built.marks())).0, ["api", "web"], "read parts are not the built ones");
        let live = ServicePart::of(&read, "web").expect("web deploys").live();
        assert!(live("c") && !live("d"));
    }

    #[test]
    fn bytes_of_another_part_or_damaged_are_refused() {
        let built = monorepo();
        let mut bytes = built.encoded_part("web").expect("web deploys");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        assert!(StoredPart::decode("web".into(), &bytes).is_err());
        assert_eq!(built.encoded_part("nobody"), None);
    }
}
