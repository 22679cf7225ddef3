//! The DORA keys over one environment: build an [`Analysis`] once from the facts, then
//! [`Analysis::summary`] any window of it or [`Analysis::series`] it into calendar buckets.
//!
//! Building walks each (service, environment)'s deployments in finish order to find
//! changesets and lead-time samples, then attributes incidents and rollbacks; summarizing only
//! filters and counts. Because the analysis is rebuilt from stored facts, a commit or incident
//! that arrives late changes the numbers as soon as it is stored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::attribution::{FailureCause, NamedCause, in_window, named_cause};
use crate::calendar::{Interval, day_number, rfc3339};
use crate::changeset::{CommitGraph, Listed, changesets};
use crate::levels::{Benchmarks, Level, overall};
use crate::model::{DAY, Deployment, DeploymentStatus, Incident, Millis};
use crate::percentile::percentile_cont_select;
use crate::shas::{ShaId, Shas};

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
    /// Its incidents.
    pub incidents: Vec<Incident>,
    /// The commits the deployments list explicitly, by id in `graph`. The store reads lists
    /// this way; a history built by hand may leave this empty and list commits on the
    /// deployments themselves.
    pub listed: Lists,
}

/// Every deployment's explicit list, one after another: deployment `i`'s (by its index in
/// [`History::deployments`]) are `commits[first[i]..first[i + 1]]`. Two flat vectors rather
/// than a list per deployment.
#[derive(Debug, Default)]
pub struct Lists {
    /// The listed commits, deployment after deployment, each deployment's in list order.
    pub commits: Vec<Listed>,
    /// Where each deployment's list starts in `commits`, plus the end: one more entry than
    /// there are deployments, or none at all when no deployment lists a commit this way.
    pub first: Vec<u32>,
}

impl Lists {
    /// Deployment `i`'s list.
    fn of(&self, i: usize) -> &[Listed] {
        match (self.first.get(i), self.first.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.commits[start as usize..end as usize],
            _ => &[],
        }
    }

    /// The lists of `deployments` themselves, interned into `graph`; their `commits` are emptied.
    fn take(deployments: &mut [Deployment], graph: &mut CommitGraph) -> Self {
        let mut lists = Self { commits: Vec::new(), first: Vec::with_capacity(deployments.len() + 1) };
        for d in deployments {
            lists.first.push(u32::try_from(lists.commits.len()).expect("fewer than 2^32 listed commits"));
            let listed = std::mem::take(&mut d.commits).into_iter().map(|c| Listed { sha: graph.intern(&c.sha), committed_at: c.committed_at });
            lists.commits.extend(listed);
        }
        lists.first.push(u32::try_from(lists.commits.len()).expect("fewer than 2^32 listed commits"));
        lists
    }
}

/// What a successful deployment shipped: fixed until deployments, commits or pull requests
/// change, so an analysis and every [`Analysis::with_incidents`] made of it share one copy.
/// Commits are ids in the analysis's table of shas: read them as shas with
/// [`Analysis::changeset`] and [`Analysis::lead_time_samples`].
#[derive(Debug)]
pub struct Shipped {
    /// The deployment. Its explicit commit list is dropped once the build has folded it into
    /// the changeset and the lead times.
    pub deployment: Deployment,
    /// Its time: when it finished.
    pub finished_at: Millis,
    /// The commits it shipped first.
    pub changeset: Box<[ShaId]>,
    /// Where its lead-time samples are in the analysis's [`Samples`], one per commit of the
    /// changeset with a known start: read them with [`Analysis::lead_times`].
    samples: Range<u32>,
}

/// Every deployment's lead-time samples, one deployment after another in finish order, so the
/// samples of a window of all services are one slice.
#[derive(Debug, Default)]
struct Samples {
    /// Lead times in seconds.
    seconds: Vec<f64>,
    /// The commit of each sample.
    commits: Vec<ShaId>,
}

/// What the analysis knows of one deployment: what it [`Shipped`] (shared, and read through
/// `Deref`), and whether the incidents and rollbacks of this analysis make it failed.
#[derive(Debug, Clone)]
pub struct AnalyzedDeployment {
    shipped: Arc<Shipped>,
    /// Why it counts as failed; empty when it did not fail.
    pub failure_causes: Vec<FailureCause>,
    /// When it recovered from its failure.
    pub recovered_at: Option<Millis>,
}

impl std::ops::Deref for AnalyzedDeployment {
    type Target = Shipped;

    fn deref(&self) -> &Shipped {
        &self.shipped
    }
}

impl AnalyzedDeployment {
    /// Whether it counts as failed.
    pub fn failed(&self) -> bool {
        !self.failure_causes.is_empty()
    }

    /// Whether it is rework: a rollback or an unplanned deployment.
    pub fn rework(&self) -> bool {
        self.deployment.rollback_of.is_some() || self.deployment.unplanned
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
    /// Successful deployments, ascending by finish time then id.
    pub deployments: Vec<AnalyzedDeployment>,
    /// The environment's incidents.
    pub incidents: Vec<Incident>,
    /// The shas of every changeset, which the deployments name by id.
    shas: Arc<Shas>,
    /// The deployments' lead-time samples (shared with [`Analysis::with_incidents`]).
    samples: Arc<Samples>,
    /// Merge commit of a pull request this environment shipped → the start of the PR's branch
    /// (see [`History`]).
    branch_starts: HashMap<ShaId, Millis>,
    /// Which deployments shipped each sha (the changesets inverted): sha `i`'s are
    /// `shipped_by[first_shipped_by[i]..first_shipped_by[i + 1]]`, indexes into `deployments`
    /// in finish order. Shared with [`Analysis::with_incidents`], like the changesets.
    shipped_by: Arc<ShippedBy>,
    /// Indexes into `deployments`, ascending by deployment id (binary-searched: no second copy
    /// of every id).
    by_id: Vec<u32>,
    /// Every service with a deployment or an incident, sorted.
    services: Vec<String>,
    /// Each service's deployments, as indexes into `deployments` (so ascending by finish time).
    by_service: HashMap<String, Vec<usize>>,
    /// The services whose deployments name each team.
    teams: HashMap<String, BTreeSet<String>>,
}

impl Analysis {
    /// Analyzes a history; `attribution_window` is how long after a deployment an incident
    /// with no named cause is blamed on it.
    pub fn build(history: History, attribution_window: Millis) -> Self {
        let History { environment, mut deployments, mut graph, pr_first_commit, incidents, listed } = history;
        let listed = if listed.first.is_empty() { Lists::take(&mut deployments, &mut graph) } else { listed };
        // Successful deployments by finish time, moved into place in the history's own vector
        // (not a second one); `was[i]` is where deployment `i` was, and so which list is its.
        let was = sort_succeeded(&mut deployments);
        let succeeded = deployments;
        let listed_by = |i: usize| listed.of(was[i] as usize);

        // Changesets per service, walked in finish order.
        let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, d) in succeeded.iter().enumerate() {
            by_service.entry(d.service.as_str()).or_default().push(index);
        }
        let mut sets: Vec<Vec<ShaId>> = vec![Vec::new(); succeeded.len()];
        for indexes in by_service.values() {
            let ordered: Vec<(&Deployment, &[Listed])> = indexes.iter().map(|&i| (&succeeded[i], listed_by(i))).collect();
            for (&i, set) in indexes.iter().zip(changesets(&ordered, &mut graph)) {
                sets[i] = set;
            }
        }

        // Every deployment left has a finish time, so the vector is exactly as long as `succeeded`.
        let mut analyzed: Vec<AnalyzedDeployment> = Vec::with_capacity(succeeded.len());
        let mut samples = Samples::default();
        analyzed.extend(succeeded.into_iter().zip(sets).enumerate().filter_map(|(i, (deployment, changeset))| {
            let finished_at = deployment.finished_at?;
            let start = sample_index(samples.seconds.len());
            for (sha, seconds) in changeset_lead_times(finished_at, &changeset, listed_by(i), &graph, &pr_first_commit) {
                samples.commits.push(sha);
                samples.seconds.push(seconds);
            }
            let samples = start..sample_index(samples.seconds.len());
            let shipped = Shipped { deployment, finished_at, changeset: changeset.into(), samples };
            Some(AnalyzedDeployment { shipped: Arc::new(shipped), failure_causes: Vec::new(), recovered_at: None })
        }));
        drop(listed);

        // Keep only the shas the changesets name, and drop the graph.
        let mut named = vec![false; graph.shas().len()];
        for d in &analyzed {
            for &sha in d.changeset.iter() {
                named[sha as usize] = true;
            }
        }
        let (shas, remap) = graph.into_shas().retain(&named);
        let renamed = |sha: &mut ShaId| *sha = remap[*sha as usize].expect("a shipped sha is kept");
        for d in &mut analyzed {
            Arc::get_mut(&mut d.shipped).expect("nothing shares a deployment during the build").changeset.iter_mut().for_each(renamed);
        }
        samples.commits.iter_mut().for_each(renamed);
        samples.seconds.shrink_to_fit();
        samples.commits.shrink_to_fit();
        let branch_starts: HashMap<ShaId, Millis> =
            pr_first_commit.into_iter().filter_map(|(sha, start)| Some((remap.get(sha as usize).copied().flatten()?, start))).collect();

        let shipped_by = Arc::new(ShippedBy::of(&analyzed, shas.len()));
        attribute(&mut analyzed, &incidents, attribution_window, &shas, &shipped_by);
        let mut by_id: Vec<u32> = (0..u32::try_from(analyzed.len()).expect("fewer than 2^32 deployments")).collect();
        by_id.sort_unstable_by(|&a, &b| analyzed[a as usize].deployment.id.cmp(&analyzed[b as usize].deployment.id));
        let services = services_of(&analyzed, &incidents);
        let by_service = index_by_service(&analyzed);
        let mut teams: HashMap<String, BTreeSet<String>> = HashMap::new();
        for d in &analyzed {
            if let Some(team) = &d.deployment.team {
                teams.entry(team.clone()).or_default().insert(d.deployment.service.clone());
            }
        }
        let (shas, samples) = (Arc::new(shas), Arc::new(samples));
        Self { environment, deployments: analyzed, incidents, shas, samples, branch_starts, shipped_by, by_id, services, by_service, teams }
    }

    /// The same analysis with another set of incidents: changesets and lead times are kept, and
    /// failures are attributed again. Cheaper than [`Analysis::build`] when only incidents changed.
    pub fn with_incidents(&self, incidents: Vec<Incident>, attribution_window: Millis) -> Self {
        let mut deployments: Vec<AnalyzedDeployment> = self
            .deployments
            .iter()
            .map(|d| AnalyzedDeployment { shipped: Arc::clone(&d.shipped), failure_causes: Vec::new(), recovered_at: None })
            .collect();
        attribute(&mut deployments, &incidents, attribution_window, &self.shas, &self.shipped_by);
        let services = services_of(&deployments, &incidents);
        Self {
            environment: self.environment.clone(),
            deployments,
            incidents,
            shas: Arc::clone(&self.shas),
            samples: Arc::clone(&self.samples),
            branch_starts: self.branch_starts.clone(),
            shipped_by: Arc::clone(&self.shipped_by),
            by_id: self.by_id.clone(),
            services,
            by_service: self.by_service.clone(),
            teams: self.teams.clone(),
        }
    }

    /// What the analysis knows of a successful deployment.
    pub fn deployment(&self, id: &str) -> Option<&AnalyzedDeployment> {
        let found = self.by_id.binary_search_by(|&i| self.deployments[i as usize].deployment.id.as_str().cmp(id)).ok()?;
        Some(&self.deployments[self.by_id[found] as usize])
    }

    /// The successful deployments of `service`, ascending by finish time.
    pub fn of_service<'a>(&'a self, service: &str) -> impl Iterator<Item = &'a AnalyzedDeployment> + 'a {
        self.by_service.get(service).into_iter().flatten().map(|&i| &self.deployments[i])
    }

    /// The deployments that shipped `sha` (each once per service), in finish order.
    pub fn shipped<'a>(&'a self, sha: &str) -> impl Iterator<Item = &'a AnalyzedDeployment> + 'a {
        let found = self.shas.id(sha).map_or(&[][..], |id| self.shipped_by.of_sha(id));
        found.iter().map(|&i| &self.deployments[i as usize])
    }

    /// The commits a deployment of this analysis shipped first, as shas, in changeset order.
    pub fn changeset<'a>(&'a self, d: &'a AnalyzedDeployment) -> impl ExactSizeIterator<Item = &'a str> + Clone + 'a {
        d.changeset.iter().map(|&sha| self.shas.sha(sha))
    }

    /// A deployment's lead-time samples: each commit's sha and its lead time in seconds.
    pub fn lead_time_samples<'a>(&'a self, d: &'a AnalyzedDeployment) -> impl ExactSizeIterator<Item = (&'a str, f64)> + 'a {
        let range = d.samples.start as usize..d.samples.end as usize;
        self.samples.commits[range.clone()].iter().zip(&self.samples.seconds[range]).map(|(&sha, &seconds)| (self.shas.sha(sha), seconds))
    }

    /// A deployment's lead times in seconds, one per commit of its changeset with a known start.
    pub fn lead_times(&self, d: &AnalyzedDeployment) -> &[f64] {
        &self.samples.seconds[d.samples.start as usize..d.samples.end as usize]
    }

    /// The start of the branch of the pull request merged as `sha`, when this environment shipped
    /// `sha` and the store found a start (see [`History`]).
    pub fn branch_start(&self, sha: &str) -> Option<Millis> {
        self.branch_starts.get(&self.shas.id(sha)?).copied()
    }

    /// The deployments an incident is blamed on (by name or by the attribution window).
    pub fn blamed_on<'a>(&'a self, incident_id: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.deployments.iter().filter(move |d| d.failure_causes.iter().any(|c| c.incident_id() == Some(incident_id))).map(|d| d.deployment.id.as_str())
    }

    /// Every team some deployment names, sorted.
    pub fn teams(&self) -> BTreeSet<&str> {
        self.teams.keys().map(String::as_str).collect()
    }

    /// The services whose deployments name `team`.
    pub fn team_services(&self, team: &str) -> Option<&BTreeSet<String>> {
        self.teams.get(team)
    }

    /// Every service with a deployment or an incident in this environment.
    pub fn services(&self) -> BTreeSet<&str> {
        self.services.iter().map(String::as_str).collect()
    }

    /// The successful deployments that finished in `[from, to)`: a slice, found by binary search
    /// (deployments are sorted by finish time), so a summary costs what its window holds.
    fn finished_in(&self, from: Millis, to: Millis) -> &[AnalyzedDeployment] {
        let start = self.deployments.partition_point(|d| d.finished_at < from);
        let end = self.deployments.partition_point(|d| d.finished_at < to).max(start);
        &self.deployments[start..end]
    }

    /// The DORA summary of the window `[from, to)`.
    pub fn summary(&self, from: Millis, to: Millis, benchmarks: Benchmarks, scope: &Scope) -> Summary {
        let bands = benchmarks.bands();
        let in_window: Vec<&AnalyzedDeployment> = match &scope.services {
            // A few services: binary-search each one's own deployments rather than the window's.
            Some(named) => {
                let mut found: Vec<&AnalyzedDeployment> = Vec::new();
                for indexes in named.iter().filter_map(|s| self.by_service.get(s)) {
                    let start = indexes.partition_point(|&i| self.deployments[i].finished_at < from);
                    let end = indexes.partition_point(|&i| self.deployments[i].finished_at < to).max(start);
                    found.extend(indexes[start..end].iter().map(|&i| &self.deployments[i]));
                }
                found
            }
            None => self.finished_in(from, to).iter().collect(),
        };
        let count = in_window.len() as u64;

        let days = (to - from) as f64 / DAY as f64;
        let per_day = if days > 0.0 { count as f64 / days } else { 0.0 };
        // In finish order (per service when the scope names services), so runs of one day are
        // mostly together and the sort is cheap.
        let mut days: Vec<i64> = in_window.iter().map(|d| day_number(d.finished_at)).collect();
        days.sort_unstable();
        days.dedup();
        let deploy_days = days.len() as u64;
        let deployment_frequency = DeploymentFrequency {
            deployments: count,
            deploy_days,
            per_day,
            per_week: per_day * 7.0,
            level: Some(bands.deployment_frequency(per_day)),
        };

        let lead = Distribution::of(match (&scope.services, in_window.first(), in_window.last()) {
            // Every service: the window's samples are one slice.
            (None, Some(first), Some(last)) => self.samples.seconds[first.samples.start as usize..last.samples.end as usize].to_vec(),
            _ => in_window.iter().flat_map(|d| self.lead_times(d).iter().copied()).collect(),
        });
        let lead_time = LeadTime {
            samples: lead.samples,
            median_seconds: lead.median,
            p90_seconds: lead.p90,
            level: lead.median.map(|m| bands.lead_time(m)),
        };

        let failed: Vec<&&AnalyzedDeployment> = in_window.iter().filter(|d| d.failed()).collect();
        let rate = ratio(failed.len() as u64, count);
        let change_failure_rate = ChangeFailureRate {
            deployments: count,
            failed_deployments: failed.len() as u64,
            rate,
            level: rate.map(|r| bands.change_failure_rate(r)),
        };

        let restore = Distribution::of(
            self.incidents
                .iter()
                .filter(|i| from <= i.opened_at && i.opened_at < to && scope.includes(&i.service))
                .filter_map(|i| Some(seconds(i.resolved_at? - i.opened_at)))
                .filter(|s| *s >= 0.0)
                .collect(),
        );
        let time_to_restore =
            TimeToRestore { incidents: restore.samples, median_seconds: restore.median, level: restore.median.map(|m| bands.recovery(m)) };

        let recovery = Distribution::of(
            failed.iter().filter_map(|d| Some(seconds(d.recovered_at? - d.finished_at))).filter(|s| *s >= 0.0).collect(),
        );
        let failed_deployment_recovery_time = RecoveryTime {
            failed_deployments: failed.len() as u64,
            recovered: recovery.samples,
            median_seconds: recovery.median,
            level: recovery.median.map(|m| bands.recovery(m)),
        };

        let rework = in_window.iter().filter(|d| d.rework()).count() as u64;
        let rework_rate = ReworkRate { deployments: count, unplanned_deployments: rework, rate: ratio(rework, count) };

        let recovery_level = match benchmarks {
            Benchmarks::Y2021 => time_to_restore.level,
            Benchmarks::Y2023 | Benchmarks::Y2024 => failed_deployment_recovery_time.level,
        };
        let level = overall([deployment_frequency.level, lead_time.level, change_failure_rate.level, recovery_level]);

        let services: Vec<String> = match &scope.services {
            Some(named) => named.iter().cloned().collect(),
            None => self.services().into_iter().map(str::to_owned).collect(),
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

/// The lead-time sample of each commit of a changeset with a known start.
fn changeset_lead_times(
    finished_at: Millis,
    changeset: &[ShaId],
    listed: &[Listed],
    graph: &CommitGraph,
    pr_first_commit: &HashMap<ShaId, Millis>,
) -> Vec<(ShaId, f64)> {
    let explicit: HashMap<ShaId, Millis> = listed.iter().filter_map(|c| Some((c.sha, c.committed_at?))).collect();
    changeset
        .iter()
        .filter_map(|&sha| {
            let committed = graph.committed_at(sha).or_else(|| explicit.get(&sha).copied());
            let branch_start = pr_first_commit.get(&sha).copied();
            let start = match (committed, branch_start) {
                (Some(c), Some(b)) => c.min(b),
                (c, b) => c.or(b)?,
            };
            let sample = finished_at - start;
            (sample > 0).then(|| (sha, seconds(sample)))
        })
        .collect()
}

/// A position in [`Samples`].
fn sample_index(len: usize) -> u32 {
    u32::try_from(len).expect("fewer than 2^32 lead-time samples")
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

/// Marks failed deployments and their recovery, from incidents and rollbacks.
fn attribute(deployments: &mut [AnalyzedDeployment], incidents: &[Incident], window: Millis, shas: &Shas, shipped_by: &ShippedBy) {
    let by_id: HashMap<&str, usize> = deployments.iter().enumerate().map(|(i, d)| (d.deployment.id.as_str(), i)).collect();
    let mut finish_order: HashMap<&str, (Vec<Millis>, Vec<usize>)> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        let (times, indexes) = finish_order.entry(d.deployment.service.as_str()).or_default();
        times.push(d.finished_at);
        indexes.push(i);
    }

    let mut causes: Vec<(usize, FailureCause, Option<Millis>)> = Vec::new();
    for incident in incidents {
        let id = incident.id.clone();
        let blamed = match named_cause(incident) {
            NamedCause::Deployment(deployment_id) => {
                by_id.get(deployment_id).map(|&i| (i, FailureCause::IncidentNamedDeployment { incident_id: id }))
            }
            // A commit counts once per service: at most one deployment of the incident's service shipped it.
            NamedCause::Commit(sha) => shas
                .id(sha)
                .and_then(|known| shipped_by.of_sha(known).iter().map(|&i| i as usize).find(|&i| deployments[i].deployment.service == incident.service))
                .map(|i| (i, FailureCause::IncidentNamedCommit { incident_id: id, commit_sha: sha.to_owned() })),
            NamedCause::Unknown => finish_order.get(incident.service.as_str()).and_then(|(times, indexes)| {
                in_window(times, incident.opened_at, window).map(|k| (indexes[k], FailureCause::IncidentInWindow { incident_id: id }))
            }),
        };
        if let Some((i, cause)) = blamed {
            causes.push((i, cause, incident.resolved_at));
        }
    }
    for rollback in deployments.iter() {
        let Some(target) = rollback.deployment.rollback_of.as_deref().and_then(|id| by_id.get(id)) else { continue };
        if deployments[*target].finished_at <= rollback.finished_at {
            let cause = FailureCause::RolledBack { deployment_id: rollback.deployment.id.clone() };
            causes.push((*target, cause, Some(rollback.finished_at)));
        }
    }

    for (i, cause, recovered) in causes {
        let d = &mut deployments[i];
        d.failure_causes.push(cause);
        d.recovered_at = match (d.recovered_at, recovered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The changesets inverted: which deployments shipped each sha.
#[derive(Debug, Default)]
struct ShippedBy {
    /// Where each sha's deployments start in `deployments`; sha `i`'s run to `first[i + 1]`.
    first: Vec<u32>,
    /// Indexes of deployments, sha after sha, each sha's in finish order.
    deployments: Vec<u32>,
}

impl ShippedBy {
    /// Inverts the changesets of `deployments` (sorted by finish time) over `shas` ids, with a
    /// counting sort: two flat vectors, no map.
    fn of(deployments: &[AnalyzedDeployment], shas: usize) -> Self {
        let mut first = vec![0u32; shas + 1];
        for d in deployments {
            for &sha in d.changeset.iter() {
                first[sha as usize + 1] += 1;
            }
        }
        for i in 1..first.len() {
            first[i] += first[i - 1];
        }
        let mut next = first.clone();
        let mut shipped = vec![0u32; first[shas] as usize];
        for (i, d) in deployments.iter().enumerate() {
            for &sha in d.changeset.iter() {
                let slot = &mut next[sha as usize];
                shipped[*slot as usize] = u32::try_from(i).expect("fewer than 2^32 deployments");
                *slot += 1;
            }
        }
        Self { first, deployments: shipped }
    }

    /// The deployments that shipped sha `id`, in finish order.
    fn of_sha(&self, id: ShaId) -> &[u32] {
        let i = id as usize;
        match (self.first.get(i), self.first.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.deployments[start as usize..end as usize],
            _ => &[],
        }
    }
}

/// Each service's deployments, as ascending indexes into `deployments`.
fn index_by_service(deployments: &[AnalyzedDeployment]) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        index.entry(d.deployment.service.clone()).or_default().push(i);
    }
    index
}

/// Every service with a deployment or an incident, sorted.
fn services_of(deployments: &[AnalyzedDeployment], incidents: &[Incident]) -> Vec<String> {
    let mut services: BTreeSet<&str> = deployments.iter().map(|d| d.deployment.service.as_str()).collect();
    services.extend(incidents.iter().map(|i| i.service.as_str()));
    services.into_iter().map(str::to_owned).collect()
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
    fn of(mut values: Vec<f64>) -> Self {
        // Selection, not a sort: a year of every service's lead times is millions of samples.
        let known = !values.is_empty();
        Self {
            samples: values.len() as u64,
            median: known.then(|| percentile_cont_select(&mut values, 0.5)),
            p90: known.then(|| percentile_cont_select(&mut values, 0.9)),
        }
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
