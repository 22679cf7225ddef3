//! CI timings (`docs/metrics.md`, "CI pipelines" and "CI budgets"): how long pipelines take and
//! wait, how often they pass, retry, flake and stay red, and how often each delivery stage meets
//! its time budget.
//!
//! This module owns the definitions over a window's CI runs, as pure functions: the store loads
//! the runs that finished in `[from, to)` and the api shapes the answer. It does not know where
//! runs come from (native events, GitHub, GitLab, CDEvents all become [`CiRun`]s) nor how the
//! PR stages are found (the deploy budget takes them from [`crate::stages`]).
//!
//! Each run is first judged against the others — is it a retry, a flaky failure, the green run
//! that ended a red streak — and then counted in its group, so a pipeline, a stage, a repository
//! and a service all count a run the same way.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::calendar::rfc3339;
use crate::model::{CiRun, Millis};
use crate::percentile::percentiles_cont;
use crate::stages::Stages;

/// The stage whose budget is measured from merge to production (the PR `deploy` stage) rather
/// than from CI run durations.
pub const DEPLOY_STAGE: &str = "deploy";

/// What a run's status means for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `success`.
    Green,
    /// `failure`, `timed_out` or `error`: the run said the change is not good.
    Red,
    /// `cancelled`, `skipped` or anything else: the run gave no verdict.
    NoVerdict,
}

impl Outcome {
    /// The outcome of a status as the collector names it.
    pub fn of(status: &str) -> Self {
        match status {
            "success" => Self::Green,
            "failure" | "timed_out" | "error" => Self::Red,
            _ => Self::NoVerdict,
        }
    }
}

/// How runs are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By (repository, pipeline): a pipeline name is only unique within its repository.
    Pipeline,
    /// By delivery stage (`pre_commit`, `pull_request`, …; runs without one are `null`).
    Stage,
    /// By repository.
    Repository,
    /// By service.
    Service,
}

impl GroupBy {
    /// Every grouping with its name.
    pub const ALL: [(&'static str, Self); 4] =
        [("pipeline", Self::Pipeline), ("stage", Self::Stage), ("repository", Self::Repository), ("service", Self::Service)];

    /// Parses a name (`pipeline`, `stage`, `repository`, `service`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, g)| *g)
    }
}

/// A distribution in seconds: how many samples, the median and the 95th percentile
/// (PERCENTILE_CONT); null without samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// Samples.
    pub samples: u64,
    /// Median, seconds.
    pub p50_seconds: Option<f64>,
    /// 95th percentile, seconds.
    pub p95_seconds: Option<f64>,
}

impl Distribution {
    /// The distribution of `values` (seconds).
    pub fn of(values: &[f64]) -> Self {
        let [p50_seconds, p95_seconds] = percentiles_cont(values, [0.5, 0.95]).map_or([None; 2], |ps| ps.map(Some));
        Self { samples: values.len() as u64, p50_seconds, p95_seconds }
    }
}

/// The numbers of a set of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineStats {
    /// Runs that finished in the window.
    pub runs: u64,
    /// Runs that succeeded.
    pub successes: u64,
    /// Runs that failed, timed out or errored.
    pub failures: u64,
    /// successes / (successes + failures); null when no run gave a verdict.
    pub success_rate: Option<f64>,
    /// started → finished of every run.
    pub duration: Distribution,
    /// queued → started of every run whose queue time is known.
    pub queue: Distribution,
    /// Runs that repeat an earlier run of the same pipeline on the same commit, or say they are
    /// a later attempt.
    pub retries: u64,
    /// Red runs followed by a green run of the same pipeline on the same commit.
    pub flaky_runs: u64,
    /// First red run of a streak → the green run that ended it, per pipeline and branch.
    pub time_to_green: Distribution,
}

/// One group of runs and its numbers; the fields that do not define the group are null.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineGroup {
    /// The pipeline (grouping by pipeline).
    pub pipeline: Option<String>,
    /// The stage (grouping by stage).
    pub stage: Option<String>,
    /// The repository (grouping by pipeline or repository).
    pub repository: Option<String>,
    /// The service (grouping by service).
    pub service: Option<String>,
    /// Its numbers.
    #[serde(flatten)]
    pub stats: PipelineStats,
}

/// What the neighbours of a run say about it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Judged {
    retry: bool,
    flaky: bool,
    /// Seconds from the first red run of the streak this green run ended.
    time_to_green: Option<f64>,
}

fn seconds(millis: Millis) -> f64 {
    millis as f64 / 1_000.0
}

/// Judges every run against the others (same order as `runs`).
fn judge(runs: &[CiRun]) -> Vec<Judged> {
    let mut judged = vec![Judged::default(); runs.len()];
    // Retries and flakes: the runs of one pipeline on one commit, in start order.
    let mut by_commit: HashMap<(Option<&str>, &str, &str), Vec<usize>> = HashMap::new();
    // Red streaks: the runs of one pipeline on one branch, in finish order.
    let mut by_branch: HashMap<(Option<&str>, &str, &str), Vec<usize>> = HashMap::new();
    for (index, run) in runs.iter().enumerate() {
        if let Some(sha) = &run.commit_sha {
            by_commit.entry((run.repository.as_deref(), run.pipeline.as_str(), sha.as_str())).or_default().push(index);
        }
        if let Some(branch) = &run.branch {
            by_branch.entry((run.repository.as_deref(), run.pipeline.as_str(), branch.as_str())).or_default().push(index);
        }
        judged[index].retry = run.attempt.is_some_and(|a| a > 1);
    }
    for mut indexes in by_commit.into_values() {
        indexes.sort_by(|&a, &b| (runs[a].started_at, &runs[a].id).cmp(&(runs[b].started_at, &runs[b].id)));
        for (position, &index) in indexes.iter().enumerate() {
            judged[index].retry |= position > 0;
            let red = Outcome::of(&runs[index].status) == Outcome::Red;
            judged[index].flaky = red && indexes[position + 1..].iter().any(|&later| Outcome::of(&runs[later].status) == Outcome::Green);
        }
    }
    for mut indexes in by_branch.into_values() {
        indexes.sort_by(|&a, &b| (runs[a].finished_at, &runs[a].id).cmp(&(runs[b].finished_at, &runs[b].id)));
        let mut red_since: Option<Millis> = None;
        for index in indexes {
            match Outcome::of(&runs[index].status) {
                Outcome::Red => red_since = red_since.or(Some(runs[index].finished_at)),
                Outcome::Green => {
                    judged[index].time_to_green = red_since.take().map(|since| seconds(runs[index].finished_at - since));
                }
                Outcome::NoVerdict => {}
            }
        }
    }
    judged
}

fn stats<'a>(runs: impl Iterator<Item = (&'a CiRun, &'a Judged)>) -> PipelineStats {
    let (mut count, mut successes, mut failures, mut retries, mut flaky) = (0, 0, 0, 0, 0);
    let (mut durations, mut queues, mut greens) = (Vec::new(), Vec::new(), Vec::new());
    for (run, judged) in runs {
        count += 1;
        match Outcome::of(&run.status) {
            Outcome::Green => successes += 1,
            Outcome::Red => failures += 1,
            Outcome::NoVerdict => {}
        }
        durations.push(seconds(run.finished_at - run.started_at));
        if let Some(queued) = run.queued_at.filter(|q| *q <= run.started_at) {
            queues.push(seconds(run.started_at - queued));
        }
        retries += u64::from(judged.retry);
        flaky += u64::from(judged.flaky);
        greens.extend(judged.time_to_green);
    }
    PipelineStats {
        runs: count,
        successes,
        failures,
        success_rate: (successes + failures > 0).then(|| successes as f64 / (successes + failures) as f64),
        duration: Distribution::of(&durations),
        queue: Distribution::of(&queues),
        retries,
        flaky_runs: flaky,
        time_to_green: Distribution::of(&greens),
    }
}

/// The numbers of every run together, and of each group of `by`, groups sorted by their key.
pub fn pipelines(runs: &[CiRun], by: GroupBy) -> (PipelineStats, Vec<PipelineGroup>) {
    let judged = judge(runs);
    let total = stats(runs.iter().zip(&judged));
    let mut groups: BTreeMap<[Option<&str>; 4], Vec<usize>> = BTreeMap::new();
    for (index, run) in runs.iter().enumerate() {
        let key = match by {
            GroupBy::Pipeline => [Some(run.pipeline.as_str()), None, run.repository.as_deref(), None],
            GroupBy::Stage => [None, run.stage.as_deref(), None, None],
            GroupBy::Repository => [None, None, run.repository.as_deref(), None],
            GroupBy::Service => [None, None, None, run.service.as_deref()],
        };
        groups.entry(key).or_default().push(index);
    }
    let owned = |s: Option<&str>| s.map(str::to_owned);
    let groups = groups
        .into_iter()
        .map(|([pipeline, stage, repository, service], indexes)| PipelineGroup {
            pipeline: owned(pipeline),
            stage: owned(stage),
            repository: owned(repository),
            service: owned(service),
            stats: stats(indexes.iter().map(|&i| (&runs[i], &judged[i]))),
        })
        .collect();
    (total, groups)
}

/// One measurement against a stage's budget: a CI run's wait, or a pull request's merge → deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetSample {
    /// The stage whose budget applies.
    pub stage: String,
    /// The CI run's id, or the pull request's id.
    pub id: String,
    /// What was measured: the pipeline's name, or `owner/name#number`.
    pub name: String,
    /// The repository.
    pub repository: Option<String>,
    /// The service.
    pub service: Option<String>,
    /// When it ended (the run's finish, the deployment's finish).
    #[serde(skip)]
    pub at: Millis,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// A link to the run, when known.
    pub url: Option<String>,
}

/// The budget samples of CI runs: every run with a stage other than [`DEPLOY_STAGE`] that gave a
/// verdict, measured from when it was queued (else started) to when it finished — the wait of
/// whoever needs its answer.
pub fn run_samples(runs: &[CiRun]) -> Vec<BudgetSample> {
    runs.iter()
        .filter(|r| Outcome::of(&r.status) != Outcome::NoVerdict)
        .filter_map(|r| {
            let stage = r.stage.as_deref().filter(|s| *s != DEPLOY_STAGE)?;
            let start = r.queued_at.filter(|q| *q <= r.started_at).unwrap_or(r.started_at);
            Some(BudgetSample {
                stage: stage.to_owned(),
                id: r.id.clone(),
                name: r.pipeline.clone(),
                repository: r.repository.clone(),
                service: r.service.clone(),
                at: r.finished_at,
                seconds: seconds(r.finished_at - start),
                url: r.url.clone(),
            })
        })
        .collect()
}

/// The budget samples of the [`DEPLOY_STAGE`]: each merged pull request first shipped in the
/// window, measured from its merge to the finish of the deployment that shipped it.
pub fn deploy_samples(stages: &Stages) -> Vec<BudgetSample> {
    stages
        .pull_requests
        .iter()
        .filter_map(|pr| {
            Some(BudgetSample {
                stage: DEPLOY_STAGE.to_owned(),
                id: pr.id.clone(),
                name: format!("{}#{}", pr.repository, pr.number),
                repository: Some(pr.repository.clone()),
                service: Some(pr.service.clone()),
                at: pr.deployed_millis,
                seconds: pr.deploy_seconds?,
                url: None,
            })
        })
        .collect()
}

/// How one stage did against its budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetCompliance {
    /// The stage.
    pub stage: String,
    /// Its budget, in seconds.
    pub budget_seconds: f64,
    /// Measurements in the window.
    pub samples: u64,
    /// Measurements within the budget (at most the budget).
    pub within_budget: u64,
    /// Measurements over the budget.
    pub breaches: u64,
    /// within_budget / samples × 100; null without samples.
    pub compliance_percent: Option<f64>,
    /// Median and 95th percentile of the measurements.
    #[serde(flatten)]
    pub distribution: Distribution,
}

/// A breach: a measurement over its stage's budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    /// The measurement.
    #[serde(flatten)]
    pub sample: BudgetSample,
    /// When it ended, RFC 3339.
    pub finished_at: String,
    /// The stage's budget, in seconds.
    pub budget_seconds: f64,
    /// How far over the budget, in seconds.
    pub over_seconds: f64,
}

/// Each budgeted stage (in `budgets` order, budgets in milliseconds) against the samples, and
/// every breach, worst first.
pub fn budgets(budgets: &[(String, Millis)], samples: &[BudgetSample]) -> (Vec<BudgetCompliance>, Vec<Breach>) {
    let mut breaches = Vec::new();
    let compliance = budgets
        .iter()
        .map(|(stage, budget)| {
            let budget_seconds = seconds(*budget);
            let values: Vec<f64> = samples.iter().filter(|s| &s.stage == stage).map(|s| s.seconds).collect();
            let within = values.iter().filter(|v| **v <= budget_seconds).count() as u64;
            breaches.extend(samples.iter().filter(|s| &s.stage == stage && s.seconds > budget_seconds).map(|s| Breach {
                sample: s.clone(),
                finished_at: rfc3339(s.at),
                budget_seconds,
                over_seconds: s.seconds - budget_seconds,
            }));
            BudgetCompliance {
                stage: stage.clone(),
                budget_seconds,
                samples: values.len() as u64,
                within_budget: within,
                breaches: values.len() as u64 - within,
                compliance_percent: (!values.is_empty()).then(|| within as f64 * 100.0 / values.len() as f64),
                distribution: Distribution::of(&values),
            }
        })
        .collect();
    breaches.sort_by(|a, b| b.over_seconds.total_cmp(&a.over_seconds).then_with(|| a.sample.id.cmp(&b.sample.id)));
    (compliance, breaches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MINUTE, SECOND};
    use proptest::prelude::*;

    fn run(id: &str, pipeline: &str, status: &str, sha: &str, started_min: i64, minutes: i64) -> CiRun {
        CiRun {
            id: id.into(),
            pipeline: pipeline.into(),
            status: status.into(),
            started_at: started_min * MINUTE,
            finished_at: (started_min + minutes) * MINUTE,
            stage: Some("pull_request".into()),
            repository: Some("acme/shop".into()),
            service: Some("shop".into()),
            commit_sha: Some(sha.into()),
            branch: Some("main".into()),
            queued_at: Some(started_min * MINUTE - 30 * SECOND),
            url: None,
            attempt: None,
        }
    }

    #[test]
    fn a_failure_passed_by_a_rerun_on_the_same_commit_is_flaky_and_the_rerun_is_a_retry() {
        let runs = [run("1", "test", "failure", "a", 0, 4), run("2", "test", "success", "a", 10, 6), run("3", "test", "failure", "b", 20, 2)];
        let (total, _) = pipelines(&runs, GroupBy::Pipeline);
        assert_eq!((total.runs, total.successes, total.failures, total.retries, total.flaky_runs), (3, 1, 2, 1, 1));
        assert_eq!(total.success_rate, Some(1.0 / 3.0));
        // Durations 2, 4, 6 minutes: p50 4 min, p95 = 4 + (6 - 4) × 0.9 = 5.8 min.
        assert_eq!(total.duration.p50_seconds, Some(240.0));
        assert!((total.duration.p95_seconds.expect("p95") - 348.0).abs() < 1e-9);
        assert_eq!(total.queue.p50_seconds, Some(30.0));
        // Red at 4 min, green at 16 min; run 3 is red and stays red.
        assert_eq!(total.time_to_green.samples, 1);
        assert_eq!(total.time_to_green.p50_seconds, Some(720.0));
    }

    #[test]
    fn a_later_attempt_is_a_retry_even_alone_and_a_new_commit_is_not() {
        let mut second = run("2", "test", "success", "a", 0, 1);
        second.attempt = Some(2);
        let runs = [second, run("3", "test", "success", "b", 5, 1)];
        assert_eq!(pipelines(&runs, GroupBy::Stage).0.retries, 1);
    }

    #[test]
    fn a_red_streak_is_timed_from_its_first_red_run_and_a_cancelled_run_changes_nothing() {
        let runs = [
            run("1", "build", "success", "a", 0, 1),
            run("2", "build", "failure", "b", 10, 1),
            run("3", "build", "cancelled", "c", 20, 1),
            run("4", "build", "timed_out", "c", 30, 1),
            run("5", "build", "success", "d", 40, 1),
        ];
        let (total, _) = pipelines(&runs, GroupBy::Pipeline);
        assert_eq!(total.time_to_green.p50_seconds, Some(30.0 * 60.0), "from 11 min to 41 min");
        assert_eq!(total.flaky_runs, 0, "c never passed");
        assert_eq!((total.successes, total.failures, total.runs), (2, 2, 5));
    }

    #[test]
    fn groups_split_by_their_key_and_judge_runs_across_groups_alike() {
        let mut lint = run("3", "lint", "success", "a", 0, 1);
        lint.stage = Some("pre_commit".into());
        let runs = [run("1", "test", "failure", "a", 0, 4), run("2", "test", "success", "a", 10, 6), lint];
        let (_, by_pipeline) = pipelines(&runs, GroupBy::Pipeline);
        let names: Vec<_> = by_pipeline.iter().map(|g| (g.pipeline.as_deref(), g.stats.runs, g.stats.flaky_runs)).collect();
        assert_eq!(names, [(Some("lint"), 1, 0), (Some("test"), 2, 1)]);
        let (_, by_stage) = pipelines(&runs, GroupBy::Stage);
        let stages: Vec<_> = by_stage.iter().map(|g| (g.stage.as_deref(), g.stats.runs)).collect();
        assert_eq!(stages, [(Some("pre_commit"), 1), (Some("pull_request"), 2)]);
    }

    #[test]
    fn budgets_count_the_wait_from_the_queue_and_list_breaches_worst_first() {
        // Waits: 4.5, 6.5 and 12.5 minutes against 10 minutes; the skipped run gives no verdict.
        let runs = [run("1", "test", "failure", "a", 0, 4), run("2", "test", "success", "a", 10, 6), run("3", "test", "success", "b", 20, 12), run("4", "test", "skipped", "c", 40, 30)];
        let (compliance, breaches) = budgets(&[("pull_request".into(), 10 * MINUTE), ("pre_commit".into(), SECOND)], &run_samples(&runs));
        assert_eq!((compliance[0].samples, compliance[0].within_budget, compliance[0].breaches), (3, 2, 1));
        assert!((compliance[0].compliance_percent.expect("percent") - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(compliance[0].distribution.p50_seconds, Some(390.0));
        assert_eq!((compliance[1].samples, compliance[1].compliance_percent), (0, None), "no pre-commit runs: unknown, not 100 %");
        assert_eq!(breaches.len(), 1);
        assert_eq!((breaches[0].sample.id.as_str(), breaches[0].over_seconds), ("3", 150.0));
    }

    #[test]
    fn a_deploy_stage_run_does_not_count_against_the_deploy_budget() {
        let mut deploy = run("1", "release", "success", "a", 0, 30);
        deploy.stage = Some(DEPLOY_STAGE.into());
        assert!(run_samples(&[deploy]).is_empty());
    }

    fn status() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("success"), Just("failure"), Just("cancelled"), Just("timed_out")]
    }

    proptest! {
        #[test]
        fn counts_stay_consistent_whatever_the_runs(
            specs in proptest::collection::vec((0..3usize, status(), 0..4usize, 0..500i64, 0..60i64), 0..40),
        ) {
            let pipelines_names = ["build", "test", "lint"];
            let runs: Vec<CiRun> = specs
                .iter()
                .enumerate()
                .map(|(i, (p, s, sha, start, minutes))| run(&i.to_string(), pipelines_names[*p], s, &sha.to_string(), *start, *minutes))
                .collect();
            let (total, groups) = pipelines(&runs, GroupBy::Pipeline);
            prop_assert_eq!(total.runs, runs.len() as u64);
            prop_assert!(total.flaky_runs <= total.failures);
            prop_assert!(total.retries < total.runs.max(1));
            prop_assert!(total.time_to_green.samples <= total.successes);
            prop_assert_eq!(groups.iter().map(|g| g.stats.runs).sum::<u64>(), total.runs);
            prop_assert_eq!(groups.iter().map(|g| g.stats.flaky_runs).sum::<u64>(), total.flaky_runs, "a flake belongs to its pipeline");
            if let (Some(p50), Some(p95)) = (total.duration.p50_seconds, total.duration.p95_seconds) {
                prop_assert!(p50 <= p95);
            }
            let (compliance, breaches) = budgets(&[("pull_request".into(), 10 * MINUTE)], &run_samples(&runs));
            prop_assert_eq!(compliance[0].within_budget + compliance[0].breaches, compliance[0].samples);
            prop_assert_eq!(breaches.len() as u64, compliance[0].breaches);
        }
    }
}
