//! The DORA keys over one environment: build an [`Analysis`] once from the facts, then
//! [`Analysis::summary`] any window of it or [`Analysis::series`] it into calendar buckets.
//!
//! Building walks each (service, environment)'s deployments in finish order to find
//! changesets and lead-time samples, then attributes incidents and rollbacks; summarizing only
//! filters and counts. Because the analysis is rebuilt from stored facts, a commit or incident
//! that arrives late changes the numbers as soon as it is stored.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::attribution::{FailureCause, NamedCause, in_window, named_cause};
use crate::calendar::{Interval, day_number, rfc3339};
use crate::changeset::{CommitGraph, changesets};
use crate::levels::{Benchmarks, Level, overall};
use crate::model::{DAY, Deployment, DeploymentStatus, Incident, Millis};
use crate::percentile::percentile_cont_sorted;
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
}

/// What the analysis knows of one deployment. Commits are ids in the analysis's table of shas:
/// read them as shas with [`Analysis::changeset`] and [`Analysis::lead_time_samples`].
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzedDeployment {
    /// The deployment. Its explicit commit list is dropped once the build has folded it into
    /// the changeset and the lead times.
    pub deployment: Deployment,
    /// Its time: when it finished.
    #[serde(skip)]
    pub finished_at: Millis,
    /// The commits it shipped first.
    #[serde(skip)]
    pub changeset: Box<[ShaId]>,
    /// Lead-time samples in seconds, one per commit of the changeset with a known start.
    #[serde(skip)]
    pub lead_times: Box<[f64]>,
    /// The commit of each lead-time sample, in the same order.
    #[serde(skip)]
    pub lead_time_commits: Box<[ShaId]>,
    /// Why it counts as failed; empty when it did not fail.
    pub failure_causes: Vec<FailureCause>,
    /// When it recovered from its failure.
    #[serde(skip)]
    pub recovered_at: Option<Millis>,
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
    /// Merge commit of a pull request this environment shipped → the start of the PR's branch
    /// (see [`History`]).
    branch_starts: HashMap<ShaId, Millis>,
    by_id: HashMap<String, usize>,
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
        let History { environment, deployments, mut graph, pr_first_commit, incidents } = history;
        // Filtered and sorted in place: the history's own vector, not a second one.
        let mut succeeded = deployments;
        succeeded.retain(|d| d.status == DeploymentStatus::Success && d.finished_at.is_some());
        succeeded.sort_by(|a, b| (a.finished_at, &a.service, &a.id).cmp(&(b.finished_at, &b.service, &b.id)));

        // Changesets per service, walked in finish order.
        let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, d) in succeeded.iter().enumerate() {
            by_service.entry(d.service.as_str()).or_default().push(index);
        }
        let mut sets: Vec<Vec<ShaId>> = vec![Vec::new(); succeeded.len()];
        for indexes in by_service.values() {
            let ordered: Vec<&Deployment> = indexes.iter().map(|&i| &succeeded[i]).collect();
            for (&i, set) in indexes.iter().zip(changesets(&ordered, &mut graph)) {
                sets[i] = set;
            }
        }

        // Every deployment left has a finish time, so the vector is exactly as long as `succeeded`.
        let mut analyzed: Vec<AnalyzedDeployment> = Vec::with_capacity(succeeded.len());
        analyzed.extend(succeeded.into_iter().zip(sets).filter_map(|(mut deployment, changeset)| {
            let finished_at = deployment.finished_at?;
            let (lead_time_commits, lead_times): (Vec<ShaId>, Vec<f64>) =
                lead_times(&deployment, finished_at, &changeset, &graph, &pr_first_commit).into_iter().unzip();
            // Only the changeset and the samples need the explicit list.
            deployment.commits = Vec::new();
            Some(AnalyzedDeployment {
                deployment,
                finished_at,
                changeset: changeset.into(),
                lead_times: lead_times.into(),
                lead_time_commits: lead_time_commits.into(),
                failure_causes: Vec::new(),
                recovered_at: None,
            })
        }));

        // Keep only the shas the changesets name, and drop the graph.
        let mut shipped = vec![false; graph.shas().len()];
        for d in &analyzed {
            for &sha in d.changeset.iter() {
                shipped[sha as usize] = true;
            }
        }
        let (shas, remap) = graph.into_shas().retain(&shipped);
        let renamed = |sha: &ShaId| remap[*sha as usize].expect("a shipped sha is kept");
        for d in &mut analyzed {
            d.changeset = d.changeset.iter().map(renamed).collect();
            d.lead_time_commits = d.lead_time_commits.iter().map(renamed).collect();
        }
        let branch_starts: HashMap<ShaId, Millis> =
            pr_first_commit.into_iter().filter_map(|(sha, start)| Some((remap.get(sha as usize).copied().flatten()?, start))).collect();

        attribute(&mut analyzed, &incidents, attribution_window, &shas);
        let by_id = analyzed.iter().enumerate().map(|(i, d)| (d.deployment.id.clone(), i)).collect();
        let services = services_of(&analyzed, &incidents);
        let by_service = index_by_service(&analyzed);
        let mut teams: HashMap<String, BTreeSet<String>> = HashMap::new();
        for d in &analyzed {
            if let Some(team) = &d.deployment.team {
                teams.entry(team.clone()).or_default().insert(d.deployment.service.clone());
            }
        }
        Self { environment, deployments: analyzed, incidents, shas: Arc::new(shas), branch_starts, by_id, services, by_service, teams }
    }

    /// The same analysis with another set of incidents: changesets and lead times are kept, and
    /// failures are attributed again. Cheaper than [`Analysis::build`] when only incidents changed.
    pub fn with_incidents(&self, incidents: Vec<Incident>, attribution_window: Millis) -> Self {
        let mut deployments: Vec<AnalyzedDeployment> = self
            .deployments
            .iter()
            .map(|d| AnalyzedDeployment { failure_causes: Vec::new(), recovered_at: None, ..d.clone() })
            .collect();
        attribute(&mut deployments, &incidents, attribution_window, &self.shas);
        let services = services_of(&deployments, &incidents);
        Self {
            environment: self.environment.clone(),
            deployments,
            incidents,
            shas: Arc::clone(&self.shas),
            branch_starts: self.branch_starts.clone(),
            by_id: self.by_id.clone(),
            services,
            by_service: self.by_service.clone(),
            teams: self.teams.clone(),
        }
    }

    /// What the analysis knows of a successful deployment.
    pub fn deployment(&self, id: &str) -> Option<&AnalyzedDeployment> {
        self.by_id.get(id).map(|&i| &self.deployments[i])
    }

    /// The commits a deployment of this analysis shipped first, as shas, in changeset order.
    pub fn changeset<'a>(&'a self, d: &'a AnalyzedDeployment) -> impl ExactSizeIterator<Item = &'a str> + Clone + 'a {
        d.changeset.iter().map(|&sha| self.shas.sha(sha))
    }

    /// A deployment's lead-time samples: each commit's sha and its lead time in seconds.
    pub fn lead_time_samples<'a>(&'a self, d: &'a AnalyzedDeployment) -> impl ExactSizeIterator<Item = (&'a str, f64)> + 'a {
        d.lead_time_commits.iter().zip(d.lead_times.iter()).map(|(&sha, &seconds)| (self.shas.sha(sha), seconds))
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
        let deploy_days = in_window.iter().map(|d| day_number(d.finished_at)).collect::<HashSet<_>>().len() as u64;
        let deployment_frequency = DeploymentFrequency {
            deployments: count,
            deploy_days,
            per_day,
            per_week: per_day * 7.0,
            level: Some(bands.deployment_frequency(per_day)),
        };

        let lead = Distribution::of(in_window.iter().flat_map(|d| d.lead_times.iter().copied()).collect());
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

fn lead_times(
    deployment: &Deployment,
    finished_at: Millis,
    changeset: &[ShaId],
    graph: &CommitGraph,
    pr_first_commit: &HashMap<ShaId, Millis>,
) -> Vec<(ShaId, f64)> {
    // `changesets` interned every explicit sha into the graph.
    let explicit: HashMap<ShaId, Millis> =
        deployment.commits.iter().filter_map(|c| Some((graph.id(&c.sha)?, c.committed_at?))).collect();
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

/// Marks failed deployments and their recovery, from incidents and rollbacks.
fn attribute(deployments: &mut [AnalyzedDeployment], incidents: &[Incident], window: Millis, shas: &Shas) {
    let by_id: HashMap<&str, usize> = deployments.iter().enumerate().map(|(i, d)| (d.deployment.id.as_str(), i)).collect();
    let mut shipped: HashMap<(&str, ShaId), usize> = HashMap::new();
    let mut finish_order: HashMap<&str, (Vec<Millis>, Vec<usize>)> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        for &sha in d.changeset.iter() {
            shipped.insert((d.deployment.service.as_str(), sha), i);
        }
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
            NamedCause::Commit(sha) => shas.id(sha).and_then(|known| shipped.get(&(incident.service.as_str(), known))).map(|&i| {
                (i, FailureCause::IncidentNamedCommit { incident_id: id, commit_sha: sha.to_owned() })
            }),
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
        values.sort_by(f64::total_cmp);
        let known = !values.is_empty();
        Self {
            samples: values.len() as u64,
            median: known.then(|| percentile_cont_sorted(&values, 0.5)),
            p90: known.then(|| percentile_cont_sorted(&values, 0.9)),
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
