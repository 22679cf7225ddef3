//! PR stages (PRODUCT.md §4, `docs/metrics.md` "PR stages"): where a merged pull request's lead
//! time went — coding (first commit → opened), pickup (opened → first review), review (first
//! review → merged) and deploy (merged → the finish of D, the first deployment whose changeset
//! holds the PR's merge commit).
//!
//! A pull request belongs to the window of D's finish, like lead-time samples. A stage whose
//! start or end is unknown, or whose end is before its start, has no sample. Medians and p90s use
//! PERCENTILE_CONT like every other distribution.

use serde::Serialize;

use crate::calendar::rfc3339;
use crate::dora::{Analysis, Scope};
use crate::model::Millis;
use crate::percentile::percentiles_cont;

/// What the stages need of a merged pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPullRequest {
    /// Its id.
    pub id: String,
    /// Its repository.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// When its branch's first commit was made, when a sender said so.
    pub first_commit_at: Option<Millis>,
    /// When it was opened.
    pub opened_at: Millis,
    /// When it was first reviewed.
    pub first_review_at: Option<Millis>,
    /// When it was merged.
    pub merged_at: Millis,
    /// The commit its merge produced.
    pub merge_commit_sha: String,
}

/// The stages of one pull request, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRequestStages {
    /// The pull request.
    pub id: String,
    /// Its repository.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// The service of the deployment that shipped it.
    pub service: String,
    /// That deployment.
    pub deployment_id: String,
    /// When that deployment finished.
    pub deployed_at: String,
    /// The same, in milliseconds, for grouping by time.
    #[serde(skip)]
    pub deployed_millis: Millis,
    /// First commit → opened.
    pub coding_seconds: Option<f64>,
    /// Opened → first review.
    pub pickup_seconds: Option<f64>,
    /// First review → merged.
    pub review_seconds: Option<f64>,
    /// Merged → deployed.
    pub deploy_seconds: Option<f64>,
}

/// One stage over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummary {
    /// Pull requests with a sample of this stage.
    pub samples: u64,
    /// Median in seconds; null without samples.
    pub median_seconds: Option<f64>,
    /// 90th percentile in seconds; null without samples.
    pub p90_seconds: Option<f64>,
}

/// The PR stages of a window, as `GET /api/v1/lead-time/stages` returns them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stages {
    /// Window start (inclusive).
    pub from: String,
    /// Window end (exclusive).
    pub to: String,
    /// The environment.
    pub environment: String,
    /// Coding.
    pub coding: StageSummary,
    /// Pickup.
    pub pickup: StageSummary,
    /// Review.
    pub review: StageSummary,
    /// Deploy.
    pub deploy: StageSummary,
    /// Each pull request shipped in the window, by deployment time.
    pub pull_requests: Vec<PullRequestStages>,
}

/// The PR stages of the pull requests first shipped in `[from, to)` by deployments in `scope`.
pub fn stages(analysis: &Analysis, pull_requests: &[MergedPullRequest], from: Millis, to: Millis, scope: &Scope) -> Stages {
    // The first deployment of the scope to ship a merge commit wins (they come in finish order).
    let first_ship = |sha: &str| analysis.shipped(sha).find(|d| scope.includes(d.service()));
    let span = |start: Option<Millis>, end: Option<Millis>| match (start, end) {
        (Some(s), Some(e)) if e >= s => Some((e - s) as f64 / 1_000.0),
        _ => None,
    };
    let mut shipped: Vec<(Millis, PullRequestStages)> = pull_requests
        .iter()
        .filter_map(|pr| {
            let d = first_ship(&pr.merge_commit_sha)?;
            (from <= d.finished_at() && d.finished_at() < to).then_some((pr, d))
        })
        .map(|(pr, d)| {
            let first_commit_at = pr.first_commit_at.or_else(|| analysis.branch_start(&pr.merge_commit_sha));
            let stages = PullRequestStages {
                id: pr.id.clone(),
                repository: pr.repository.clone(),
                number: pr.number,
                service: d.service().to_owned(),
                deployment_id: d.id(),
                deployed_at: rfc3339(d.finished_at()),
                deployed_millis: d.finished_at(),
                coding_seconds: span(first_commit_at, Some(pr.opened_at)),
                pickup_seconds: span(Some(pr.opened_at), pr.first_review_at),
                review_seconds: span(pr.first_review_at, Some(pr.merged_at)),
                deploy_seconds: span(Some(pr.merged_at), Some(d.finished_at())),
            };
            (d.finished_at(), stages)
        })
        .collect();
    shipped.sort_by(|(a, pa), (b, pb)| (a, &pa.id).cmp(&(b, &pb.id)));
    let pull_requests: Vec<PullRequestStages> = shipped.into_iter().map(|(_, s)| s).collect();
    let StageSummaries { coding, pickup, review, deploy } = StageSummaries::of(pull_requests.iter());
    Stages { from: rfc3339(from), to: rfc3339(to), environment: analysis.environment.clone(), coding, pickup, review, deploy, pull_requests }
}

/// The four stages summarized over some pull requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummaries {
    /// Coding.
    pub coding: StageSummary,
    /// Pickup.
    pub pickup: StageSummary,
    /// Review.
    pub review: StageSummary,
    /// Deploy.
    pub deploy: StageSummary,
}

impl StageSummaries {
    /// The median and p90 of each stage over `pull_requests`.
    pub fn of<'a>(pull_requests: impl Iterator<Item = &'a PullRequestStages> + Clone) -> Self {
        let summary = |stage: fn(&PullRequestStages) -> Option<f64>| {
            let values: Vec<f64> = pull_requests.clone().filter_map(stage).collect();
            let [median_seconds, p90_seconds] = percentiles_cont(&values, [0.5, 0.9]).map_or([None; 2], |ps| ps.map(Some));
            StageSummary { samples: values.len() as u64, median_seconds, p90_seconds }
        };
        Self {
            coding: summary(|s| s.coding_seconds),
            pickup: summary(|s| s.pickup_seconds),
            review: summary(|s| s.review_seconds),
            deploy: summary(|s| s.deploy_seconds),
        }
    }
}

/// The pull requests of `stages` grouped by `key` (pull requests without one are left out),
/// each group with its count and stage summaries, sorted by key.
pub fn grouped(stages: &Stages, key: impl Fn(&PullRequestStages) -> Option<String>) -> Vec<(String, u64, StageSummaries)> {
    let mut groups: std::collections::BTreeMap<String, Vec<&PullRequestStages>> = std::collections::BTreeMap::new();
    for pr in &stages.pull_requests {
        if let Some(k) = key(pr) {
            groups.entry(k).or_default().push(pr);
        }
    }
    groups.into_iter().map(|(k, prs)| (k, prs.len() as u64, StageSummaries::of(prs.into_iter()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changeset::CommitGraph;
    use crate::dora::History;
    use crate::model::{Deployment, HOUR};

    fn deploy(id: &str, service: &str, sha: &str, hours: i64) -> Deployment {
        Deployment::succeeded(id, service, sha, hours * HOUR)
    }

    fn pr(id: &str, first_commit: Option<i64>, opened: i64, review: Option<i64>, merged: i64, sha: &str) -> MergedPullRequest {
        MergedPullRequest {
            id: id.into(),
            repository: "acme/shop".into(),
            number: 1,
            first_commit_at: first_commit.map(|h| h * HOUR),
            opened_at: opened * HOUR,
            first_review_at: review.map(|h| h * HOUR),
            merged_at: merged * HOUR,
            merge_commit_sha: sha.into(),
        }
    }

    #[test]
    fn each_stage_runs_from_its_start_to_the_first_deployment_that_shipped_the_merge() {
        let mut graph = CommitGraph::builder(3);
        for (sha, at, parent) in [("a", 0, None), ("s", 10, Some("a")), ("t", 20, Some("s"))] {
            graph.commit(sha, at * HOUR);
            if let Some(parent) = parent {
                graph.parent(sha, parent);
            }
        }
        let mut graph = graph.build();
        let t = graph.intern("t");
        let history = History {
            environment: "production".into(),
            // d2 ships s; d3, a redeploy of t by another path, ships only t.
            deployments: vec![deploy("d1", "shop", "a", 1), deploy("d2", "shop", "s", 12), deploy("d3", "shop", "t", 30)],
            graph,
            pr_first_commit: [(t, 15 * HOUR)].into(),
            // p2 gives no first commit time: its start was found in the graph.
            found_starts: [t].into(),
            incidents: Vec::new(),
            listed: Default::default(),
            branch_nodes: Default::default(),
            reverts: Default::default(),
        };
        let analysis = Analysis::build(history, 24 * HOUR);
        let prs = [pr("p1", Some(2), 4, Some(7), 10, "s"), pr("p2", None, 16, None, 20, "t"), pr("p3", Some(1), 2, Some(3), 4, "never-shipped")];
        let s = stages(&analysis, &prs, 0, 100 * HOUR, &Scope::all());
        let ids: Vec<&str> = s.pull_requests.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p1", "p2"]);
        let p1 = &s.pull_requests[0];
        assert_eq!((p1.coding_seconds, p1.pickup_seconds, p1.review_seconds, p1.deploy_seconds), (Some(7_200.0), Some(10_800.0), Some(10_800.0), Some(7_200.0)));
        assert_eq!(p1.deployment_id, "d2");
        let p2 = &s.pull_requests[1];
        assert_eq!((p2.coding_seconds, p2.pickup_seconds, p2.review_seconds), (Some(3_600.0), None, None), "the branch start from the graph");
        assert_eq!(s.pickup.samples, 1);
        assert_eq!(s.deploy.median_seconds, Some((7_200.0 + 36_000.0) / 2.0));
        assert!(stages(&analysis, &prs, 13 * HOUR, 100 * HOUR, &Scope::all()).pull_requests.iter().all(|p| p.id != "p1"), "p1 shipped before the window");
    }
}
