//! The generated history through the public API: what the engine computes from it, its
//! internal consistency, its determinism, and its native-event form.

use std::collections::{HashMap, HashSet};

use pacer_collector::normalize::Normalizer;
use pacer_engine::attribution::FailureCause;
use pacer_engine::changeset::CommitGraph;
use pacer_engine::dora::{Analysis, History, Scope};
use pacer_engine::levels::Benchmarks;
use pacer_engine::rework::is_revert;
use pacer_engine::model::{
    CiRun, Commit, DAY, Deployment, DeploymentStatus, Fact, HOUR, Incident, Millis, PullRequest, SliSample,
};
use pacer_generator::{Spec, generate, service_facts, services, to_ndjson};

/// 2026-03-02T12:34:56Z: not on a day boundary, as `pacer demo` run at any moment.
const END: Millis = 1_772_454_896_000;

#[derive(Default)]
struct Split {
    deployments: Vec<Deployment>,
    commits: Vec<Commit>,
    pull_requests: Vec<PullRequest>,
    incidents: Vec<Incident>,
    ci_runs: Vec<CiRun>,
    sli: Vec<SliSample>,
}

fn split(facts: impl IntoIterator<Item = Fact>) -> Split {
    let mut s = Split::default();
    for fact in facts {
        match fact {
            Fact::Deployment(d) => s.deployments.push(d),
            Fact::Commit(c) => s.commits.push(c),
            Fact::PullRequest(p) => s.pull_requests.push(p),
            Fact::Incident(i) => s.incidents.push(i),
            Fact::CiRun(r) => s.ci_runs.push(r),
            Fact::Sli(x) => s.sli.push(x),
        }
    }
    s
}

/// What the api will hand the engine for one environment.
fn history(s: &Split, environment: &str) -> History {
    let mut graph = CommitGraph::builder(s.commits.len());
    for c in &s.commits {
        graph.commit(&c.sha, c.committed_at);
        for parent in &c.parents {
            graph.parent(&c.sha, parent);
        }
    }
    let mut graph = graph.build();
    let pr_first_commit =
        s.pull_requests.iter().filter_map(|p| Some((graph.intern(p.merge_commit_sha.as_deref()?), p.first_commit_at?))).collect();
    let reverts = s.commits.iter().filter(|c| c.message.as_deref().is_some_and(is_revert)).map(|c| graph.intern(&c.sha)).collect();
    History {
        environment: environment.to_owned(),
        deployments: s.deployments.iter().filter(|d| d.environment == environment).cloned().collect(),
        graph,
        pr_first_commit,
        found_starts: Default::default(),
        incidents: s.incidents.iter().filter(|i| i.environment == environment).cloned().collect(),
        listed: Default::default(),
        branch_nodes: Default::default(),
        reverts,
    }
}

fn demo(seed: u64) -> Split {
    split(generate(&Spec { seed, ..Spec::demo(END) }))
}

#[test]
fn the_demo_history_gives_every_dora_metric_a_plausible_value_over_the_last_30_days() {
    for seed in [Spec::demo(END).seed, 1, 2, 3, 4] {
        let facts = demo(seed);
        let analysis = Analysis::build(history(&facts, "production"), 24 * HOUR);
        let summary = analysis.summary(END - 30 * DAY, END, Benchmarks::Y2024, &Scope::all());
        let shown = serde_json::to_string_pretty(&summary).expect("summary serializes");
        if seed == Spec::demo(END).seed {
            println!("seed {seed}: {shown}");
        }

        let frequency = &summary.deployment_frequency;
        assert!(frequency.deployments >= 100, "seed {seed}: enough deployments in 30 days: {shown}");
        assert!(frequency.deploy_days >= 20, "seed {seed}: deployments on most days: {shown}");
        assert!(frequency.level.is_some(), "seed {seed}: {shown}");

        let lead = &summary.lead_time;
        assert!(lead.samples >= 300, "seed {seed}: lead-time samples: {shown}");
        let (median, p90) = (lead.median_seconds.expect("median lead time"), lead.p90_seconds.expect("p90 lead time"));
        assert!((HOUR / 1000) as f64 <= median && median <= (7 * DAY / 1000) as f64, "seed {seed}: median lead time: {shown}");
        assert!(median < p90, "seed {seed}: p90 above the median: {shown}");

        let rate = summary.change_failure_rate.rate.expect("change failure rate");
        assert!((0.01..=0.40).contains(&rate), "seed {seed}: change failure rate: {shown}");

        let restore = &summary.time_to_restore;
        assert!(restore.incidents >= 3, "seed {seed}: resolved incidents: {shown}");
        let restore_median = restore.median_seconds.expect("time to restore");
        assert!((60.0..=(DAY / 1000) as f64).contains(&restore_median), "seed {seed}: time to restore: {shown}");

        let recovery = &summary.failed_deployment_recovery_time;
        assert!(recovery.recovered >= 3, "seed {seed}: recovered failed deployments: {shown}");
        let recovery_median = recovery.median_seconds.expect("failed-deployment recovery time");
        assert!((60.0..=(DAY / 1000) as f64).contains(&recovery_median), "seed {seed}: recovery time: {shown}");

        let rework = summary.rework_rate.rate.expect("rework rate");
        assert!(0.0 < rework && rework < rate + 0.05, "seed {seed}: rework comes from failures: {shown}");
        // Every reason shows over the quarter: rollbacks, hotfixes marked unplanned, hotfixes not
        // marked (fix-forwards) and the reverts that follow rollbacks.
        let quarter = analysis.summary(END - 90 * DAY, END, Benchmarks::Y2024, &Scope::all()).rework_rate.by_reason;
        for (reason, n) in [("rollback", quarter.rollback), ("unplanned", quarter.unplanned), ("fix_forward", quarter.fix_forward), ("revert", quarter.revert)] {
            assert!(n > 0, "seed {seed}: {reason} rework over 90 days: {quarter:?}");
        }
        assert!(summary.level.is_some(), "seed {seed}: overall level: {shown}");
    }
}

#[test]
fn every_kind_of_failure_and_every_cause_naming_appears_in_the_demo() {
    let facts = demo(Spec::demo(END).seed);
    let production: Vec<&Deployment> = facts.deployments.iter().filter(|d| d.environment == "production").collect();
    let staging = facts.deployments.iter().filter(|d| d.environment == "staging").count();
    let releases = production.iter().filter(|d| d.rollback_of.is_none()).count();
    assert!(staging >= releases, "every release is staged first ({staging} staging, {releases} production)");
    assert!(production.iter().any(|d| d.rollback_of.is_some()), "rollbacks");
    assert!(production.iter().any(|d| d.unplanned), "hotfixes");
    assert!(production.iter().any(|d| d.status == DeploymentStatus::Failure), "failed production deployments");
    assert!(production.iter().any(|d| !d.commits.is_empty()), "deployers that list commits");
    assert!(production.iter().any(|d| d.commits.is_empty() && d.rollback_of.is_none()), "deployers that do not");
    let incidents = &facts.incidents;
    assert!(incidents.iter().any(|i| i.deployment_id.is_some()), "incidents naming a deployment");
    assert!(incidents.iter().any(|i| i.commit_sha.is_some()), "incidents naming a commit");
    assert!(incidents.iter().any(|i| i.deployment_id.is_none() && i.commit_sha.is_none()), "incidents naming nothing");
    let resolved = incidents.iter().filter(|i| i.resolved_at.is_some()).count();
    assert!(resolved * 10 >= incidents.len() * 9, "most incidents are resolved ({resolved} of {})", incidents.len());
    // Every incident makes a deployment failed, by each of the definition's routes.
    let analysis = Analysis::build(history(&facts, "production"), 24 * HOUR);
    let mut attributed = HashSet::new();
    let mut kinds = HashSet::new();
    for d in analysis.deployments() {
        for cause in d.failure_causes() {
            let (kind, incident) = match cause {
                FailureCause::IncidentNamedDeployment { incident_id } => ("named deployment", Some(incident_id)),
                FailureCause::IncidentNamedCommit { incident_id, .. } => ("named commit", Some(incident_id)),
                FailureCause::IncidentInWindow { incident_id } => ("in window", Some(incident_id)),
                FailureCause::RolledBack { .. } => ("rolled back", None),
            };
            kinds.insert(kind);
            attributed.extend(incident);
        }
    }
    assert_eq!(kinds.len(), 4, "failure causes: {kinds:?}");
    let unattributed: Vec<&str> = incidents.iter().map(|i| i.id.as_str()).filter(|id| !attributed.contains(*id)).collect();
    assert!(unattributed.is_empty(), "incidents blamed on no deployment: {unattributed:?}");
    let all_services: HashSet<&str> = production.iter().map(|d| d.service.as_str()).collect();
    let with_incidents: HashSet<&str> = incidents.iter().map(|i| i.service.as_str()).collect();
    assert_eq!(with_incidents, all_services, "every service has incidents over 180 days");
    for stage in ["pull_request", "post_merge", "deploy"] {
        assert!(facts.ci_runs.iter().any(|r| r.stage.as_deref() == Some(stage)), "CI runs of stage {stage}");
    }
    let mut outcomes: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for run in &facts.ci_runs {
        outcomes.entry((run.pipeline.as_str(), run.commit_sha.as_deref().unwrap_or_default())).or_default().push(&run.status);
    }
    assert!(outcomes.values().any(|s| s == &["failure", "success"]), "flaky CI: a failure then a success on the same commit");
    let worst = facts.sli.iter().map(|s| 1.0 - s.good as f64 / s.total as f64).fold(0.0, f64::max);
    let typical = facts.sli.iter().filter(|s| s.good * 1000 >= s.total * 999).count();
    assert!(worst > 0.01, "error bursts in the SLI samples (worst error ratio {worst})");
    assert!(typical * 10 >= facts.sli.len() * 9, "mostly healthy SLI samples ({typical} of {})", facts.sli.len());
}

#[test]
fn the_same_seed_gives_the_same_facts_and_another_seed_different_ones() {
    let spec = Spec::demo(END);
    let first: Vec<Fact> = generate(&spec).collect();
    let again: Vec<Fact> = generate(&spec).collect();
    assert!(first == again, "same spec, same facts");
    let other: Vec<Fact> = generate(&Spec { seed: spec.seed + 1, ..spec.clone() }).collect();
    assert!(first != other, "another seed, other facts");
    let by_service: Vec<Fact> = (0..spec.services).flat_map(|i| service_facts(&spec, i)).collect();
    assert!(first == by_service, "services generated one by one give the same facts");
}

#[test]
fn ids_are_unique_per_type() {
    let mut seen: HashSet<(&str, String)> = HashSet::new();
    let facts: Vec<Fact> = generate(&Spec::demo(END)).collect();
    for fact in &facts {
        let key = pacer_collector::key(fact);
        assert!(seen.insert(key.clone()), "duplicate {key:?}");
    }
}

#[test]
fn timestamps_are_consistent_and_nothing_is_in_the_future() {
    let spec = Spec::demo(END);
    let start = spec.start();
    let facts = demo(spec.seed);
    let commits: HashMap<&str, &Commit> = facts.commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    let within = |at: Millis, what: &str| assert!(start <= at && at <= END, "{what} at {at} outside [{start}, {END}]");

    for c in &facts.commits {
        within(c.committed_at, &c.sha);
        assert!(c.authored_at.is_none_or(|a| a <= c.committed_at), "authored after committed: {c:?}");
        assert!(c.repository.as_deref() == Some(&format!("acme/{}", c.service.as_deref().unwrap_or_default())), "{c:?}");
        for parent in &c.parents {
            let p = commits.get(parent.as_str()).unwrap_or_else(|| panic!("unknown parent of {c:?}"));
            assert!(p.committed_at <= c.committed_at, "parent after child: {c:?}");
        }
    }

    for p in &facts.pull_requests {
        within(p.opened_at, &p.id);
        let stages = [p.first_commit_at, Some(p.opened_at), p.first_review_at, p.approved_at, p.merged_at];
        let known: Vec<Millis> = stages.into_iter().flatten().collect();
        assert!(known.windows(2).all(|w| w[0] <= w[1]), "first commit ≤ opened ≤ review ≤ approved ≤ merged: {p:?}");
        assert!(p.closed_at.is_none_or(|c| p.opened_at <= c && c <= END), "{p:?}");
        if let (Some(merged), Some(sha)) = (p.merged_at, &p.merge_commit_sha) {
            within(merged, &p.id);
            let merge = commits.get(sha.as_str()).unwrap_or_else(|| panic!("unknown merge commit of {p:?}"));
            assert_eq!(merge.committed_at, merged, "{p:?}");
            assert!(p.first_commit_at.is_some_and(|f| f < merged), "{p:?}");
        }
    }

    for d in &facts.deployments {
        let started = d.started_at.expect("started");
        within(started, &d.id);
        if d.status == DeploymentStatus::InProgress {
            assert!(d.finished_at.is_none(), "{d:?}");
            continue;
        }
        let finished = d.finished_at.expect("finished");
        within(finished, &d.id);
        assert!(started <= finished, "{d:?}");
        let head = commits.get(d.commit_sha.as_deref().expect("commit")).unwrap_or_else(|| panic!("unknown commit of {d:?}"));
        assert!(head.committed_at < finished, "deployed before committed: {d:?}");
        for listed in &d.commits {
            assert!(listed.committed_at.is_some_and(|c| c < finished), "{d:?}");
        }
    }
    let merged: HashMap<&str, Millis> =
        facts.pull_requests.iter().filter_map(|p| Some((p.merge_commit_sha.as_deref()?, p.merged_at?))).collect();
    let analysis = Analysis::build(history(&facts, "production"), 24 * HOUR);
    for d in analysis.deployments() {
        for sha in d.changeset() {
            assert!(merged.get(sha.as_str()).is_none_or(|m| *m < d.finished_at()), "PR merged after its deployment: {sha}");
        }
    }

    for i in &facts.incidents {
        within(i.opened_at, &i.id);
        assert!(i.resolved_at.is_none_or(|r| i.opened_at <= r && r <= END), "{i:?}");
    }
    for r in &facts.ci_runs {
        let queued = r.queued_at.expect("queued");
        assert!(start <= queued && queued <= r.started_at && r.started_at <= r.finished_at && r.finished_at <= END, "{r:?}");
    }
    for s in &facts.sli {
        within(s.at, "sli");
        assert!(0 <= s.good && s.good <= s.total && s.total > 0, "{s:?}");
    }
}

#[test]
fn pull_requests_are_merged_with_merge_commits_or_squashed() {
    let facts = demo(Spec::demo(END).seed);
    let commits: HashMap<&str, &Commit> = facts.commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    let (mut merges, mut squashes) = (0, 0);
    for pr in facts.pull_requests.iter().filter(|p| p.merged_at.is_some()) {
        let merge = commits[pr.merge_commit_sha.as_deref().expect("merged PRs name their commit")];
        match merge.parents.as_slice() {
            [main, tip] => {
                merges += 1;
                // The branch chains back, through its own commits, to a commit on main before it.
                let mut branch = commits[tip.as_str()];
                let mut steps = 0;
                while !is_first_parent_ancestor(&commits, main, &branch.sha) {
                    let [parent] = branch.parents.as_slice() else { panic!("branch commits have one parent: {branch:?}") };
                    assert!(branch.committed_at >= pr.first_commit_at.expect("first commit"), "{pr:?}");
                    branch = commits[parent.as_str()];
                    steps += 1;
                }
                assert!((1..=4).contains(&steps), "{steps} branch commits in {pr:?}");
            }
            [_] => {
                squashes += 1;
                assert!(pr.first_commit_at.expect("first commit") < merge.committed_at, "{pr:?}");
            }
            other => panic!("{} parents for the merge of {pr:?}", other.len()),
        }
        assert!(pr.additions.is_some() && pr.deletions.is_some() && pr.author.is_some(), "{pr:?}");
    }
    assert!(merges >= 100 && squashes >= 100, "{merges} merge commits, {squashes} squashes");
    assert!(facts.pull_requests.iter().any(|p| p.merged_at.is_none() && p.closed_at.is_some()), "PRs closed unmerged");
    assert!(facts.pull_requests.iter().any(|p| p.closed_at.is_none()), "PRs still open");
}

/// Whether `ancestor` is on the first-parent chain from `from`.
fn is_first_parent_ancestor(commits: &HashMap<&str, &Commit>, from: &str, ancestor: &str) -> bool {
    let mut at = Some(from);
    while let Some(sha) = at {
        if sha == ancestor {
            return true;
        }
        at = commits.get(sha).and_then(|c| c.parents.first()).map(String::as_str);
    }
    false
}

#[test]
fn production_deploys_mains_head_and_rollbacks_restore_the_last_good_commit() {
    let facts = demo(Spec::demo(END).seed);
    let commits: HashMap<&str, &Commit> = facts.commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    let by_id: HashMap<&str, &Deployment> = facts.deployments.iter().map(|d| (d.id.as_str(), d)).collect();
    let rolled_back: HashSet<&str> = facts.deployments.iter().filter_map(|d| d.rollback_of.as_deref()).collect();
    for (service, _) in services(&Spec::demo(END)) {
        let mut production: Vec<&Deployment> = facts
            .deployments
            .iter()
            .filter(|d| d.service == service && d.environment == "production" && d.status == DeploymentStatus::Success)
            .collect();
        production.sort_by_key(|d| d.finished_at);
        // Main's first-parent history, newest first, from the newest commit on main.
        // (Not the last deployment's: a rollback deploys an older commit.)
        let newest = production.iter().filter_map(|d| d.commit_sha.as_deref()).max_by_key(|sha| commits[sha].committed_at).expect("deployments");
        let mut main: Vec<&Commit> = Vec::new();
        let mut at = Some(newest);
        while let Some(sha) = at {
            let c = commits[sha];
            main.push(c);
            at = c.parents.first().map(String::as_str);
        }
        main.reverse();

        for (k, d) in production.iter().enumerate() {
            assert!(d.id.starts_with(&format!("{service}-prod-")), "{d:?}");
            assert!(d.version.as_deref().is_some_and(|v| v.starts_with('v') && v.split('.').count() == 3), "{d:?}");
            assert_eq!(d.team.as_deref().map(str::is_empty), Some(false), "{d:?}");
            let sha = d.commit_sha.as_deref().expect("commit");
            if let Some(bad) = d.rollback_of.as_deref() {
                let bad = by_id[bad];
                let previous = production[..k]
                    .iter()
                    .rev()
                    .find(|p| p.rollback_of.is_none() && !rolled_back.contains(p.id.as_str()))
                    .expect("an earlier good deployment");
                assert_eq!(Some(sha), previous.commit_sha.as_deref(), "rollback {} restores the last good commit", d.id);
                let after = d.finished_at.expect("finished") - bad.finished_at.expect("finished");
                assert!(0 < after && after < HOUR, "rollback {} minutes after {}", d.id, bad.id);
                continue;
            }
            let position = main.iter().position(|c| c.sha == sha).unwrap_or_else(|| panic!("{} deploys a commit on main", d.id));
            if let Some(next) = main.get(position + 1) {
                assert!(next.committed_at > d.started_at.expect("started"), "{} deploys main's head at its start", d.id);
            }
        }
    }
}

#[test]
fn every_ndjson_line_is_a_native_event_the_collector_accepts_unchanged() {
    let normalizer = Normalizer::default();
    let mut types = HashSet::new();
    for fact in generate(&Spec { days: 20, ..Spec::demo(END) }) {
        let line = to_ndjson(&fact);
        assert!(!line.contains('\n'), "one line: {line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let expected = match &fact {
            Fact::Deployment(_) => "deployment",
            Fact::Commit(_) => "commit",
            Fact::PullRequest(_) => "pull_request",
            Fact::Incident(_) => "incident",
            Fact::CiRun(_) => "ci_run",
            Fact::Sli(_) => "sli",
        };
        assert_eq!(value["type"], expected, "{line}");
        types.insert(expected);
        for (name, field) in value.as_object().expect("an object") {
            if name.ends_with("_at") || name == "at" {
                assert!(field.as_str().is_some_and(|t| t.ends_with('Z')), "{name} in UTC: {line}");
            }
        }
        let parsed = pacer_collector::native::parse_event(&value, "/0", &normalizer)
            .unwrap_or_else(|problems| panic!("rejected: {problems:?}\n{line}"));
        assert_eq!(parsed, fact, "round trip of {line}");
    }
    assert_eq!(types.len(), 6, "every event type: {types:?}");
}

#[test]
fn the_benchmark_spec_is_sized_as_asked() {
    let (services_asked, deployments, commits) = (20, 20_000, 100_000);
    let spec = Spec::benchmark(END, services_asked, deployments, commits);
    let facts = split(generate(&spec));
    let production =
        facts.deployments.iter().filter(|d| d.environment == "production" && d.status == DeploymentStatus::Success).count();
    let services: HashSet<&str> = facts.deployments.iter().map(|d| d.service.as_str()).collect();
    assert_eq!(services.len(), services_asked);
    let near = |got: usize, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.05;
    assert!(near(production, deployments), "{production} production deployments for {deployments} asked");
    assert!(near(facts.commits.len(), commits), "{} commits for {commits} asked", facts.commits.len());
    assert!(facts.deployments.iter().all(|d| d.environment == "production"), "no staging unless asked");
    assert!(facts.ci_runs.is_empty() && facts.sli.is_empty(), "no CI runs or SLI samples unless asked");
}

#[test]
fn services_have_realistic_names_and_teams_beyond_the_named_list_too() {
    let demo = services(&Spec::demo(END));
    assert!(demo.len() >= 6, "{demo:?}");
    assert_eq!(demo[0], ("checkout".to_owned(), "commerce".to_owned()));
    let teams: HashSet<&str> = demo.iter().map(|(_, t)| t.as_str()).collect();
    assert!(teams.len() >= 2 && teams.contains("platform"), "{teams:?}");
    let many = services(&Spec::benchmark(END, 1_000, 1_000_000, 5_000_000));
    assert_eq!(many.len(), 1_000);
    assert_eq!(many[42].0, "svc-0042");
    assert_eq!(many.iter().map(|(s, _)| s).collect::<HashSet<_>>().len(), 1_000, "unique names");
}
