//! The DORA keys over one environment: build an [`Analysis`] once from the facts, then
//! [`Analysis::summary`] any window of it or [`Analysis::series`] it into calendar buckets.
//!
//! Building walks each (service, environment)'s deployments in finish order to find
//! changesets and lead-time samples, then attributes incidents and rollbacks; summarizing only
//! filters and counts. Because the analysis is rebuilt from stored facts, a commit or incident
//! that arrives late changes the numbers as soon as it is stored.
//!
//! An analysis keeps what the metrics read and nothing more, as columns of numbers: a
//! deployment is its finish time, its service, its team, its changeset and its lead-time
//! samples, and three short texts (its id, version and the deployment it rolls back). The rest
//! of its row is in the store, which is where pages read it from.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::attribution::{FailureCause, NamedCause, in_window, named_cause};
use crate::calendar::{Interval, day_number, rfc3339};
use crate::changeset::{CommitGraph, Listed, changesets};
use crate::flat::Flat;
use crate::levels::{Benchmarks, Level, overall};
use crate::model::{DAY, Deployment, DeploymentStatus, Incident, Millis};
use crate::percentile::percentiles_cont;
use crate::shas::{ShaId, SortedShas};
use crate::texts::Texts;

/// The facts of one environment that the metrics need.
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
}

/// A team index of a deployment that names none.
const NO_TEAM: u32 = u32::MAX;
/// A deployment index that names none.
const NONE: u32 = u32::MAX;

/// What an analysis keeps of the successful deployments, one entry per deployment in finish
/// order (then service, then id), column by column. Fixed until deployments, commits or pull
/// requests change, so an analysis and every [`Analysis::with_incidents`] made of it share one.
#[derive(Debug, Default)]
struct Shipments {
    /// Deployment `i`'s id, version and the id of the deployment it rolls back are texts `3i`,
    /// `3i + 1` and `3i + 2`; an empty version or rollback is none.
    texts: Texts,
    /// When each finished: its time in every metric.
    finished_at: Vec<Millis>,
    /// Each one's service, as an index into `services`.
    service: Vec<u32>,
    /// Each one's team, as an index into `teams`, or [`NO_TEAM`].
    team: Vec<u32>,
    /// Whether each is rework: a rollback or a hotfix or other unplanned deployment.
    rework: Vec<bool>,
    /// The commits each shipped first, as ids in `shas`.
    changesets: Flat<ShaId>,
    /// Each one's lead-time samples in seconds, one per commit of its changeset with a known
    /// start; in finish order, so the samples of a window of every service are one slice.
    seconds: Flat<f64>,
    /// One bit per entry of `changesets`' values, set when that commit has a lead-time sample:
    /// a deployment's samples are its changeset's commits with their bit set, in order, so the
    /// samples need no commit ids of their own.
    sampled: Vec<u64>,
    /// The shas the changesets name.
    shas: SortedShas,
    /// Merge commit of a pull request this environment shipped → the start of the PR's branch,
    /// for the starts found in the graph (see [`History::found_starts`]); ascending by merge
    /// commit (binary-searched: a map's buckets would double it).
    branch_starts: Vec<(ShaId, Millis)>,
    /// The changesets inverted: the first deployment (index, in finish order) that shipped each
    /// sha, or [`NONE`] for none...
    first_shipper: Vec<u32>,
    /// ...and, ascending by sha then deployment, every later one: each sha is shipped once per
    /// service, so this holds only the shas of repositories that several services deploy.
    later_shippers: Vec<(ShaId, u32)>,
    /// Indexes of the deployments, ascending by id (binary-searched: no second copy of the ids).
    by_id: Vec<u32>,
    /// Every service with a successful deployment, sorted.
    services: Vec<String>,
    /// Each service's deployments (by its index in `services`), ascending by finish time.
    by_service: Flat<u32>,
    /// Every team a deployment names, sorted.
    teams: Vec<String>,
    /// The services whose deployments name each team.
    team_services: BTreeMap<String, BTreeSet<String>>,
}

impl Shipments {
    /// The deployments that shipped `sha`, in finish order.
    fn shippers(&self, sha: ShaId) -> impl Iterator<Item = usize> + '_ {
        let first = self.first_shipper.get(sha as usize).copied().filter(|&i| i != NONE);
        let start = self.later_shippers.partition_point(|&(s, _)| s < sha);
        let later = self.later_shippers[start..].iter().take_while(move |&&(s, _)| s == sha).map(|&(_, i)| i);
        first.into_iter().chain(later).map(|i| i as usize)
    }

    /// Fills `first_shipper` and `later_shippers` from the changesets of `shas` shas.
    fn invert_changesets(&mut self, shas: usize) {
        self.first_shipper = vec![NONE; shas];
        for i in 0..self.changesets.len() {
            for &sha in self.changesets.of(i) {
                let first = &mut self.first_shipper[sha as usize];
                if *first == NONE {
                    *first = i as u32;
                } else {
                    self.later_shippers.push((sha, i as u32));
                }
            }
        }
        // Stable: each sha's deployments stay in finish order.
        self.later_shippers.sort_by_key(|&(sha, _)| sha);
        self.later_shippers.shrink_to_fit();
    }

    fn id(&self, i: usize) -> &str {
        self.texts.get(3 * i as u32)
    }

    fn optional(&self, text: usize) -> Option<&str> {
        Some(self.texts.get(text as u32)).filter(|s| !s.is_empty())
    }

    fn rollback_of(&self, i: usize) -> Option<&str> {
        self.optional(3 * i + 2)
    }

    fn service(&self, i: usize) -> &str {
        &self.services[self.service[i] as usize]
    }

    /// The deployments of the service named `name`.
    fn of_service(&self, name: &str) -> &[u32] {
        self.services.binary_search_by(|s| s.as_str().cmp(name)).map_or(&[], |k| self.by_service.of(k))
    }

    /// The index of deployment `id`.
    fn index(&self, id: &str) -> Option<usize> {
        let found = self.by_id.binary_search_by(|&i| self.id(i as usize).cmp(id)).ok()?;
        Some(self.by_id[found] as usize)
    }
}

/// Why a deployment failed and when it recovered.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    causes: Vec<FailureCause>,
    recovered_at: Option<Millis>,
}

/// A successful deployment as an analysis knows it: what it shipped, and whether the incidents
/// and rollbacks of the analysis make it failed. A view into the analysis, copied freely.
#[derive(Clone, Copy)]
pub struct AnalyzedDeployment<'a> {
    analysis: &'a Analysis,
    index: usize,
}

impl std::fmt::Debug for AnalyzedDeployment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyzedDeployment").field("id", &self.id()).field("finished_at", &self.finished_at()).finish_non_exhaustive()
    }
}

impl<'a> AnalyzedDeployment<'a> {
    fn shipments(self) -> &'a Shipments {
        &self.analysis.shipments
    }

    /// Its id.
    pub fn id(self) -> &'a str {
        self.shipments().id(self.index)
    }

    /// Its service.
    pub fn service(self) -> &'a str {
        self.shipments().service(self.index)
    }

    /// The team it names.
    pub fn team(self) -> Option<&'a str> {
        let s = self.shipments();
        s.teams.get(s.team[self.index] as usize).map(String::as_str)
    }

    /// Its version label.
    pub fn version(self) -> Option<&'a str> {
        self.shipments().optional(3 * self.index + 1)
    }

    /// Its version label, else its id: how pages name it.
    pub fn label(self) -> &'a str {
        self.version().unwrap_or_else(|| self.id())
    }

    /// The deployment it rolls back.
    pub fn rollback_of(self) -> Option<&'a str> {
        self.shipments().rollback_of(self.index)
    }

    /// When it finished: its time in every metric.
    pub fn finished_at(self) -> Millis {
        self.shipments().finished_at[self.index]
    }

    /// Whether it is rework: a rollback or an unplanned deployment.
    pub fn rework(self) -> bool {
        self.shipments().rework[self.index]
    }

    fn failure(self) -> Option<&'a Failure> {
        let slot = *self.analysis.failure_of.get(self.index)?;
        self.analysis.failures.get(slot as usize)
    }

    /// Whether it counts as failed.
    pub fn failed(self) -> bool {
        self.failure().is_some()
    }

    /// Why it counts as failed; empty when it did not fail.
    pub fn failure_causes(self) -> &'a [FailureCause] {
        self.failure().map_or(&[], |f| f.causes.as_slice())
    }

    /// When it recovered from its failure.
    pub fn recovered_at(self) -> Option<Millis> {
        self.failure().and_then(|f| f.recovered_at)
    }

    /// The commits it shipped first, as shas, in changeset order.
    pub fn changeset(self) -> impl ExactSizeIterator<Item = Cow<'a, str>> + Clone + 'a {
        let s = self.shipments();
        s.changesets.of(self.index).iter().map(|&sha| s.shas.sha(sha))
    }

    /// Its lead times in seconds, one per commit of its changeset with a known start.
    pub fn lead_times(self) -> &'a [f64] {
        self.shipments().seconds.of(self.index)
    }

    /// Its lead-time samples: each commit's sha and its lead time in seconds.
    pub fn lead_time_samples(self) -> impl Iterator<Item = (Cow<'a, str>, f64)> + 'a {
        let s = self.shipments();
        let entries = s.changesets.range(self.index);
        let commits = entries.filter(|&k| s.sampled[k / 64] >> (k % 64) & 1 == 1).map(|k| s.changesets.values()[k]);
        commits.zip(s.seconds.of(self.index)).map(|(sha, &seconds)| (s.shas.sha(sha), seconds))
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
    /// The environment's incidents.
    pub incidents: Vec<Incident>,
    /// The successful deployments (shared with [`Analysis::with_incidents`]).
    shipments: Arc<Shipments>,
    /// Each deployment's index into `failures`, or `u32::MAX` when it did not fail.
    failure_of: Vec<u32>,
    /// The failed deployments' causes and recoveries.
    failures: Vec<Failure>,
    /// Every service with a deployment or an incident, sorted.
    services: Vec<String>,
}

impl Analysis {
    /// Analyzes a history; `attribution_window` is how long after a deployment an incident
    /// with no named cause is blamed on it.
    pub fn build(history: History, attribution_window: Millis) -> Self {
        let History { environment, mut deployments, mut graph, pr_first_commit, found_starts, incidents, listed } = history;
        let listed = if listed.is_empty() { take_lists(&mut deployments, &mut graph) } else { listed };
        // Successful deployments by finish time, moved into place in the history's own vector
        // (not a second one); `was[i]` is where deployment `i` was, and so which list is its.
        let was = sort_succeeded(&mut deployments);
        let succeeded = deployments;
        let listed_by = |i: usize| listed.of(was[i] as usize);

        // Services and teams by name, numbered in sorted order.
        let services: Vec<String> = succeeded.iter().map(|d| d.service.as_str()).collect::<BTreeSet<_>>().into_iter().map(str::to_owned).collect();
        let mut team_services: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in &succeeded {
            if let Some(team) = &d.team
                && !team_services.get(team).is_some_and(|s| s.contains(&d.service))
            {
                team_services.entry(team.clone()).or_default().insert(d.service.clone());
            }
        }
        let teams: Vec<String> = team_services.keys().cloned().collect();
        let number = |names: &[String], name: &str| names.binary_search_by(|n| n.as_str().cmp(name)).map_or(u32::MAX, |k| k as u32);

        // Changesets per service, walked in finish order.
        let service: Vec<u32> = succeeded.iter().map(|d| number(&services, &d.service)).collect();
        let mut by_service: Vec<Vec<u32>> = vec![Vec::new(); services.len()];
        for (index, &s) in service.iter().enumerate() {
            by_service[s as usize].push(index as u32);
        }
        let mut sets: Vec<Vec<ShaId>> = vec![Vec::new(); succeeded.len()];
        for indexes in &by_service {
            let ordered: Vec<(&Deployment, &[Listed])> = indexes.iter().map(|&i| (&succeeded[i as usize], listed_by(i as usize))).collect();
            for (&i, set) in indexes.iter().zip(changesets(&ordered, &mut graph)) {
                sets[i as usize] = set;
            }
        }

        // The columns, deployment by deployment, each deployment dropped once it is read.
        let count = succeeded.len();
        let mut s = Shipments {
            texts: Texts::with_capacity(3 * count, 32 * count),
            finished_at: Vec::with_capacity(count),
            team: Vec::with_capacity(count),
            rework: Vec::with_capacity(count),
            changesets: Flat::with_capacity(count, sets.iter().map(Vec::len).sum()),
            seconds: Flat::with_capacity(count, 0),
            service,
            ..Shipments::default()
        };
        for (i, (deployment, changeset)) in succeeded.into_iter().zip(sets).enumerate() {
            let finished_at = deployment.finished_at.expect("sort_succeeded keeps finished deployments");
            let samples = changeset_lead_times(finished_at, &changeset, listed_by(i), &graph, &pr_first_commit);
            let first_entry = s.changesets.values().len();
            s.sampled.resize((first_entry + changeset.len()).div_ceil(64), 0);
            for (k, _) in samples.iter().enumerate().filter(|(_, sample)| sample.is_some()) {
                let entry = first_entry + k;
                s.sampled[entry / 64] |= 1 << (entry % 64);
            }
            s.seconds.push(samples.into_iter().flatten());
            s.changesets.push(changeset);
            s.texts.push(&deployment.id);
            s.texts.push(deployment.version.as_deref().unwrap_or_default());
            s.texts.push(deployment.rollback_of.as_deref().unwrap_or_default());
            s.finished_at.push(finished_at);
            s.team.push(deployment.team.as_deref().map_or(NO_TEAM, |t| number(&teams, t)));
            s.rework.push(deployment.unplanned || deployment.rollback_of.is_some());
        }
        drop(listed);

        // Keep only the shas the changesets name, and drop the graph.
        let mut named = vec![false; graph.shas().len()];
        for &sha in s.changesets.values() {
            named[sha as usize] = true;
        }
        let (shas, remap) = graph.into_shas().sorted(&named);
        let renamed = |sha: &mut ShaId| *sha = remap[*sha as usize].expect("a shipped sha is kept");
        s.changesets.values_mut().iter_mut().for_each(renamed);
        let found = pr_first_commit.into_iter().filter(|(sha, _)| found_starts.contains(sha));
        s.branch_starts = found.filter_map(|(sha, start)| Some((remap.get(sha as usize).copied().flatten()?, start))).collect();
        s.branch_starts.sort_unstable();
        s.invert_changesets(shas.len());
        s.shas = shas;
        let mut by_id: Vec<u32> = (0..u32::try_from(count).expect("fewer than 2^32 deployments")).collect();
        by_id.sort_unstable_by(|&a, &b| s.id(a as usize).cmp(s.id(b as usize)));
        s.by_id = by_id;
        s.by_service = by_service.into_iter().collect();
        s.services = services;
        s.teams = teams;
        s.team_services = team_services;
        s.texts.shrink_to_fit();
        s.seconds.shrink_to_fit();
        s.sampled.shrink_to_fit();
        Self::attributed(environment, Arc::new(s), incidents, attribution_window)
    }

    /// The same analysis with another set of incidents: changesets and lead times are kept, and
    /// failures are attributed again. Cheaper than [`Analysis::build`] when only incidents changed.
    pub fn with_incidents(&self, incidents: Vec<Incident>, attribution_window: Millis) -> Self {
        Self::attributed(self.environment.clone(), Arc::clone(&self.shipments), incidents, attribution_window)
    }

    /// The analysis of `shipments` once `incidents` and rollbacks are attributed.
    fn attributed(environment: String, shipments: Arc<Shipments>, incidents: Vec<Incident>, window: Millis) -> Self {
        let (failure_of, failures) = attribute(&shipments, &incidents, window);
        let mut services: BTreeSet<&str> = shipments.services.iter().map(String::as_str).collect();
        services.extend(incidents.iter().map(|i| i.service.as_str()));
        let services = services.into_iter().map(str::to_owned).collect();
        Self { environment, incidents, shipments, failure_of, failures, services }
    }

    fn at(&self, index: usize) -> AnalyzedDeployment<'_> {
        AnalyzedDeployment { analysis: self, index }
    }

    /// The successful deployments, ascending by finish time then id.
    pub fn deployments(&self) -> impl DoubleEndedIterator<Item = AnalyzedDeployment<'_>> + ExactSizeIterator {
        (0..self.shipments.finished_at.len()).map(|i| self.at(i))
    }

    /// What the analysis knows of a successful deployment.
    pub fn deployment(&self, id: &str) -> Option<AnalyzedDeployment<'_>> {
        self.shipments.index(id).map(|i| self.at(i))
    }

    /// The successful deployments of `service`, ascending by finish time.
    pub fn of_service<'a>(&'a self, service: &str) -> impl DoubleEndedIterator<Item = AnalyzedDeployment<'a>> + 'a {
        self.shipments.of_service(service).iter().map(|&i| self.at(i as usize))
    }

    /// The deployments that shipped `sha` (each once per service), in finish order.
    pub fn shipped<'a>(&'a self, sha: &str) -> impl Iterator<Item = AnalyzedDeployment<'a>> + 'a {
        let s = &self.shipments;
        s.shas.id(sha).into_iter().flat_map(|id| s.shippers(id)).map(|i| self.at(i))
    }

    /// The start of the branch of the pull request merged as `sha`, when this environment shipped
    /// `sha` and the store found the start in the commit graph (see [`History::found_starts`]).
    pub fn branch_start(&self, sha: &str) -> Option<Millis> {
        let s = &self.shipments;
        let id = s.shas.id(sha)?;
        s.branch_starts.binary_search_by_key(&id, |&(sha, _)| sha).ok().map(|k| s.branch_starts[k].1)
    }

    /// The deployments an incident is blamed on (by name or by the attribution window).
    pub fn blamed_on<'a>(&'a self, incident_id: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.deployments().filter(move |d| d.failure_causes().iter().any(|c| c.incident_id() == Some(incident_id))).map(|d| d.id())
    }

    /// Every team some deployment names, sorted.
    pub fn teams(&self) -> BTreeSet<&str> {
        self.shipments.teams.iter().map(String::as_str).collect()
    }

    /// The services whose deployments name `team`.
    pub fn team_services(&self, team: &str) -> Option<&BTreeSet<String>> {
        self.shipments.team_services.get(team)
    }

    /// Every service with a deployment or an incident in this environment.
    pub fn services(&self) -> BTreeSet<&str> {
        self.services.iter().map(String::as_str).collect()
    }

    /// The indexes of the successful deployments in scope that finished in `[from, to)`: one
    /// range of every service (deployments are sorted by finish time), or each named service's
    /// own, found by binary search, so a summary costs what its window holds.
    fn finished_in(&self, from: Millis, to: Millis, scope: &Scope) -> Window {
        let s = &self.shipments;
        match &scope.services {
            None => {
                let start = s.finished_at.partition_point(|&f| f < from);
                let end = s.finished_at.partition_point(|&f| f < to).max(start);
                Window::All(start..end)
            }
            Some(named) => {
                let mut found: Vec<u32> = Vec::new();
                for indexes in named.iter().map(|name| s.of_service(name)) {
                    let start = indexes.partition_point(|&i| s.finished_at[i as usize] < from);
                    let end = indexes.partition_point(|&i| s.finished_at[i as usize] < to).max(start);
                    found.extend_from_slice(&indexes[start..end]);
                }
                Window::Named(found)
            }
        }
    }

    /// The heap bytes the analysis holds, part by part (capacities, not lengths; strings inside
    /// incidents and failure causes counted by their capacity): what its memory is made of.
    pub fn footprint(&self) -> Vec<(&'static str, usize)> {
        let s = &self.shipments;
        let vec = |capacity: usize, size: usize| capacity * size;
        let strings = |strings: &[&String]| strings.iter().map(|s| s.capacity()).sum::<usize>();
        let incident_strings: usize = self
            .incidents
            .iter()
            .map(|i| {
                let optional = [&i.severity, &i.title, &i.url, &i.deployment_id, &i.commit_sha];
                strings(&[&i.id, &i.service, &i.environment]) + optional.iter().filter_map(|o| o.as_ref()).map(|s| s.capacity()).sum::<usize>()
            })
            .sum();
        let causes: usize =
            self.failures.iter().map(|f| vec(f.causes.capacity(), size_of::<FailureCause>()) + f.causes.iter().map(FailureCause::heap_bytes).sum::<usize>()).sum();
        vec![
            ("the sha table (sorted: 20 bytes a Git sha)", s.shas.heap_bytes()),
            ("changesets", s.changesets.heap_bytes()),
            ("the sha → deployments index", vec(s.first_shipper.capacity(), 4) + vec(s.later_shippers.capacity(), size_of::<(ShaId, u32)>())),
            ("lead-time samples (seconds, and which commits have one)", s.seconds.heap_bytes() + vec(s.sampled.capacity(), 8)),
            ("deployment texts (id, version, rolled-back id)", s.texts.heap_bytes()),
            (
                "deployment columns and indexes (finish time, service, team, rework, by id, by service)",
                vec(s.finished_at.capacity(), 8) + vec(s.service.capacity(), 4) + vec(s.team.capacity(), 4) + s.rework.capacity()
                    + vec(s.by_id.capacity(), 4)
                    + s.by_service.heap_bytes(),
            ),
            ("branch starts", vec(s.branch_starts.capacity(), size_of::<(ShaId, Millis)>())),
            ("failures and their causes", vec(self.failure_of.capacity(), 4) + vec(self.failures.capacity(), size_of::<Failure>()) + causes),
            ("incidents", vec(self.incidents.capacity(), size_of::<Incident>()) + incident_strings),
        ]
    }

    /// The DORA summary of the window `[from, to)`.
    pub fn summary(&self, from: Millis, to: Millis, benchmarks: Benchmarks, scope: &Scope) -> Summary {
        let bands = benchmarks.bands();
        let s = &self.shipments;
        let window = self.finished_in(from, to, scope);
        let count = window.len() as u64;

        let days = (to - from) as f64 / DAY as f64;
        let per_day = if days > 0.0 { count as f64 / days } else { 0.0 };
        let deploy_days = match &window {
            // In finish order: one day's deployments are together, so count where the day changes.
            Window::All(range) => {
                let days = s.finished_at[range.clone()].iter().map(|&f| day_number(f));
                days.fold((0, None), |(n, last), day| (n + u64::from(last != Some(day)), Some(day))).0
            }
            Window::Named(indexes) => {
                let mut days: Vec<i64> = indexes.iter().map(|&i| day_number(s.finished_at[i as usize])).collect();
                days.sort_unstable();
                days.dedup();
                days.len() as u64
            }
        };
        let deployment_frequency = DeploymentFrequency {
            deployments: count,
            deploy_days,
            per_day,
            per_week: per_day * 7.0,
            level: Some(bands.deployment_frequency(per_day)),
        };

        let lead = match &window {
            // Every service: the window's samples are one slice.
            Window::All(range) if !range.is_empty() => {
                Distribution::of(&s.seconds.values()[s.seconds.range(range.start).start..s.seconds.range(range.end - 1).end])
            }
            _ => Distribution::of(&window.indexes().flat_map(|i| s.seconds.of(i).iter().copied()).collect::<Vec<f64>>()),
        };
        let lead_time = LeadTime {
            samples: lead.samples,
            median_seconds: lead.median,
            p90_seconds: lead.p90,
            level: lead.median.map(|m| bands.lead_time(m)),
        };

        let failed: Vec<(usize, &Failure)> =
            window.indexes().filter_map(|i| Some((i, self.failures.get(*self.failure_of.get(i)? as usize)?))).collect();
        let rate = ratio(failed.len() as u64, count);
        let change_failure_rate = ChangeFailureRate {
            deployments: count,
            failed_deployments: failed.len() as u64,
            rate,
            level: rate.map(|r| bands.change_failure_rate(r)),
        };

        let restores: Vec<f64> = self
            .incidents
            .iter()
            .filter(|i| from <= i.opened_at && i.opened_at < to && scope.includes(&i.service))
            .filter_map(|i| Some(seconds(i.resolved_at? - i.opened_at)))
            .filter(|s| *s >= 0.0)
            .collect();
        let restore = Distribution::of(&restores);
        let time_to_restore =
            TimeToRestore { incidents: restore.samples, median_seconds: restore.median, level: restore.median.map(|m| bands.recovery(m)) };

        let recoveries: Vec<f64> =
            failed.iter().filter_map(|(i, f)| Some(seconds(f.recovered_at? - s.finished_at[*i]))).filter(|s| *s >= 0.0).collect();
        let recovery = Distribution::of(&recoveries);
        let failed_deployment_recovery_time = RecoveryTime {
            failed_deployments: failed.len() as u64,
            recovered: recovery.samples,
            median_seconds: recovery.median,
            level: recovery.median.map(|m| bands.recovery(m)),
        };

        let rework = window.indexes().filter(|&i| s.rework[i]).count() as u64;
        let rework_rate = ReworkRate { deployments: count, unplanned_deployments: rework, rate: ratio(rework, count) };

        let recovery_level = match benchmarks {
            Benchmarks::Y2021 => time_to_restore.level,
            Benchmarks::Y2023 | Benchmarks::Y2024 => failed_deployment_recovery_time.level,
        };
        let level = overall([deployment_frequency.level, lead_time.level, change_failure_rate.level, recovery_level]);

        let services: Vec<String> = match &scope.services {
            Some(named) => named.iter().cloned().collect(),
            None => self.services.clone(),
        };
        Summary {
            from: rfc3339(from),
            to: rfc3339(to),
            environment: self.environment.clone(),
            services,
            deployment_frequency,
            lead_time,
            change_failure_rate,
            time_to_restore,
            failed_deployment_recovery_time,
            rework_rate,
            level,
        }
    }

    /// The summary of each calendar bucket of `[from, to)`.
    pub fn series(&self, from: Millis, to: Millis, interval: Interval, benchmarks: Benchmarks, scope: &Scope) -> Vec<Summary> {
        interval.buckets(from, to).into_iter().map(|(start, end)| self.summary(start, end, benchmarks, scope)).collect()
    }
}

/// The deployments a summary counts: a range of every service's, or the named services' own.
enum Window {
    All(Range<usize>),
    Named(Vec<u32>),
}

impl Window {
    fn len(&self) -> usize {
        match self {
            Self::All(range) => range.len(),
            Self::Named(indexes) => indexes.len(),
        }
    }

    fn indexes(&self) -> impl Iterator<Item = usize> + '_ {
        let (range, named) = match self {
            Self::All(range) => (range.clone(), &[][..]),
            Self::Named(indexes) => (0..0, indexes.as_slice()),
        };
        range.chain(named.iter().map(|&i| i as usize))
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

/// The lead-time sample of each commit of a changeset, in changeset order: `None` for a commit
/// with no known start or a sample that is not positive (dropped by the definition).
fn changeset_lead_times(
    finished_at: Millis,
    changeset: &[ShaId],
    listed: &[Listed],
    graph: &CommitGraph,
    pr_first_commit: &HashMap<ShaId, Millis>,
) -> Vec<Option<f64>> {
    let explicit: HashMap<ShaId, Millis> = listed.iter().filter_map(|c| Some((c.sha, c.committed_at?))).collect();
    changeset
        .iter()
        .map(|&sha| {
            let committed = graph.committed_at(sha).or_else(|| explicit.get(&sha).copied());
            let branch_start = pr_first_commit.get(&sha).copied();
            let start = match (committed, branch_start) {
                (Some(c), Some(b)) => c.min(b),
                (c, b) => c.or(b)?,
            };
            let sample = finished_at - start;
            (sample > 0).then(|| seconds(sample))
        })
        .collect()
}

/// Moves the successful deployments with a finish time to the front of `deployments`, ascending
/// by finish time, service and id, and drops the rest; returns where each deployment left was
/// before. The move is a permutation applied in place, so the build holds one vector of
/// deployments, not two.
fn sort_succeeded(deployments: &mut Vec<Deployment>) -> Vec<u32> {
    let counts = |d: &Deployment| d.status == DeploymentStatus::Success && d.finished_at.is_some();
    let mut order: Vec<u32> = (0..u32::try_from(deployments.len()).expect("fewer than 2^32 deployments")).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&deployments[a as usize], &deployments[b as usize]);
        (!counts(a), a.finished_at, &a.service, &a.id).cmp(&(!counts(b), b.finished_at, &b.service, &b.id))
    });
    let kept = deployments.iter().filter(|d| counts(d)).count();
    // Apply the permutation: slot `k` takes what was at `order[k]`, one cycle at a time.
    let mut placed = vec![false; order.len()];
    for start in 0..order.len() {
        let mut k = start;
        while !placed[k] {
            placed[k] = true;
            let from = order[k] as usize;
            if from == start {
                break;
            }
            deployments.swap(k, from);
            k = from;
        }
    }
    deployments.truncate(kept);
    order.truncate(kept);
    order
}

/// Which deployments fail, from incidents and rollbacks: each deployment's index into the
/// failures (`u32::MAX` for none), and the failures.
fn attribute(s: &Shipments, incidents: &[Incident], window: Millis) -> (Vec<u32>, Vec<Failure>) {
    // Each service's finish times, for the window search.
    let times: Vec<Vec<Millis>> =
        (0..s.services.len()).map(|k| s.by_service.of(k).iter().map(|&i| s.finished_at[i as usize]).collect()).collect();
    let mut causes: Vec<(usize, FailureCause, Option<Millis>)> = Vec::new();
    for incident in incidents {
        let id = incident.id.clone();
        let blamed = match named_cause(incident) {
            NamedCause::Deployment(deployment_id) => {
                s.index(deployment_id).map(|i| (i, FailureCause::IncidentNamedDeployment { incident_id: id }))
            }
            // A commit counts once per service: at most one deployment of the incident's service shipped it.
            NamedCause::Commit(sha) => s
                .shas
                .id(sha)
                .and_then(|known| s.shippers(known).find(|&i| s.service(i) == incident.service))
                .map(|i| (i, FailureCause::IncidentNamedCommit { incident_id: id, commit_sha: sha.to_owned() })),
            NamedCause::Unknown => s.services.binary_search(&incident.service).ok().and_then(|k| {
                in_window(&times[k], incident.opened_at, window)
                    .map(|n| (s.by_service.of(k)[n] as usize, FailureCause::IncidentInWindow { incident_id: id }))
            }),
        };
        if let Some((i, cause)) = blamed {
            causes.push((i, cause, incident.resolved_at));
        }
    }
    for rollback in 0..s.finished_at.len() {
        let Some(target) = s.rollback_of(rollback).and_then(|id| s.index(id)) else { continue };
        if s.finished_at[target] <= s.finished_at[rollback] {
            let cause = FailureCause::RolledBack { deployment_id: s.id(rollback).to_owned() };
            causes.push((target, cause, Some(s.finished_at[rollback])));
        }
    }

    let mut failure_of = vec![u32::MAX; s.finished_at.len()];
    let mut failures: Vec<Failure> = Vec::new();
    for (i, cause, recovered) in causes {
        if failure_of[i] == u32::MAX {
            failure_of[i] = u32::try_from(failures.len()).expect("fewer than 2^32 failures");
            // Room for one cause, which is what nearly every failure has (a first push would
            // make room for four).
            failures.push(Failure { causes: Vec::with_capacity(1), recovered_at: None });
        }
        let f = &mut failures[failure_of[i] as usize];
        f.causes.push(cause);
        f.recovered_at = match (f.recovered_at, recovered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    (failure_of, failures)
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
    fn of(values: &[f64]) -> Self {
        // Selection, not a sort, and no copy: a year of every service's lead times is millions
        // of samples.
        let (median, p90) = match percentiles_cont(values, [0.5, 0.9]) {
            Some([median, p90]) => (Some(median), Some(p90)),
            None => (None, None),
        };
        Self { samples: values.len() as u64, median, p90 }
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
    /// Rollbacks and unplanned deployments among them.
    pub unplanned_deployments: u64,
    /// unplanned / deployments.
    pub rate: Option<f64>,
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
        let incident = |id: &str, service: &str, sha: &str| Incident {
            id: id.into(),
            service: service.into(),
            environment: "production".into(),
            opened_at: 13 * HOUR,
            resolved_at: Some(14 * HOUR),
            severity: None,
            title: None,
            url: None,
            deployment_id: None,
            commit_sha: Some(sha.into()),
        };
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
        let mut changeset: Vec<String> = web.changeset().map(Cow::into_owned).collect();
        changeset.sort();
        assert_eq!(changeset, ["b", "c", "x"]);
        let mut samples: Vec<(String, f64)> = web.lead_time_samples().map(|(sha, s)| (sha.into_owned(), s)).collect();
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(samples, [("b".to_owned(), 5.0 * 3_600.0), ("c".to_owned(), 2.0 * 3_600.0)], "x has no known start");
        let mut seconds = web.lead_times().to_vec();
        seconds.sort_by(f64::total_cmp);
        assert_eq!(seconds, [2.0 * 3_600.0, 5.0 * 3_600.0]);
        let api: Vec<f64> = analysis.deployment("api-2").expect("api-2 succeeded").lead_time_samples().map(|(_, s)| s).collect();
        assert_eq!(api.len(), 2, "api-2 ships b and c too: each commit counts once per service");
    }
}
