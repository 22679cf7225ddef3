//! Jenkins builds, as the Notification plugin posts them, turned into CI runs and, for deploy
//! jobs, deployments.
//!
//! Payload: the plugin's JSON (<https://plugins.jenkins.io/notification/>, fields from
//! `com.tikal.hudson.plugins.notification.model`): `name`, `url` (the job's path), `build`
//! {`number`, `phase`, `status`, `timestamp` (epoch ms), `duration` (ms), `full_url`, `url`,
//! `scm` {`url`, `branch`, `commit`}}.
//!
//! | phase | facts |
//! |---|---|
//! | `COMPLETED`, `FINALIZED` | a `ci_run` of the job (the pipeline), and for a deploy job also a `deployment` |
//! | `QUEUED`, `STARTED`, `NONE` | ignored: a build is recorded when it ends (a CI run has no in-progress state) |
//!
//! Both final phases of one build are one fact (`jenkins:<job path>/<number>`); the one received
//! last sets its times. `COMPLETED`'s `timestamp` is the build's end and `FINALIZED`'s the moment
//! it was finalized, a few seconds later; the start is the timestamp less the `duration`. The
//! queue time is not in a final phase's payload. The run's service is the deploy job's, else the
//! repository's (`scm.url`, mapped like GitHub's by `[[repositories]]`). Statuses: `SUCCESS` →
//! success, `UNSTABLE`, `FAILURE` → failure, `ABORTED` → cancelled, `NOT_BUILT` → skipped.
//! `scm.branch` loses its remote (`origin/main` → `main`).
//!
//! Deploy jobs are configured (`[[jenkins.deploy_jobs]]`: a job name or a glob with `*`, the
//! service and environment); the first that matches the job's name makes the build a deployment
//! too: `success`, `failure`, or `cancelled` (aborted or not built), of `scm.commit`.

use serde_json::Value;

use pacer_engine::Millis;
use pacer_engine::model::{CiRun, Deployment, DeploymentStatus, Fact};

use super::{Context, Doc, Outcome, Parsed, ci_status, ignored, is_sha};

/// What `[jenkins]` configures for the parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JenkinsConfig {
    /// Jobs whose builds are deployments, first match wins.
    pub deploy_jobs: Vec<DeployJob>,
}

/// A job (or jobs, by glob) whose builds deploy a service to an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployJob {
    /// The job's name, or a glob where `*` matches any run of characters.
    pub job: String,
    /// The service it deploys.
    pub service: String,
    /// The environment it deploys to.
    pub environment: String,
}

impl JenkinsConfig {
    /// The deploy job `name` matches, if any.
    pub fn deploy_job(&self, name: &str) -> Option<&DeployJob> {
        self.deploy_jobs.iter().find(|job| glob(&job.job, name))
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none included).
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return pattern == text };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Parses one notification; `_event` is unused (the phase is in the body).
pub(crate) fn parse(_event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    let phase = d.req_str("/build/phase");
    let name = d.req_str("/name");
    let number = d.req_id("/build/number");
    let (Some(phase), Some(name), Some(number)) = (phase, name, number) else { return Err(d.errors) };
    if !matches!(phase.as_str(), "COMPLETED" | "FINALIZED") {
        return ignored(format!("a build in phase {phase}: a build is recorded when it ends"));
    }
    let result = d.req_str("/build/status");
    // Epoch milliseconds, unlike the epoch seconds other senders use.
    let finished_at = d.int("/build/timestamp");
    let finished_at = if finished_at.is_none() { d.req_int("/build/timestamp") } else { finished_at };
    let (Some(result), Some(finished_at)) = (result, finished_at) else { return Err(d.errors) };
    let started_at: Millis = finished_at.saturating_sub(d.int("/build/duration").unwrap_or(0).max(0));
    let job = d.str("/url").map_or_else(|| format!("job/{name}"), |url| url.trim_matches('/').to_owned());
    let id = format!("jenkins:{job}/{number}");
    let commit_sha = d.str("/build/scm/commit").filter(|sha| is_sha(sha)).map(str::to_ascii_lowercase);
    let url = d.string("/build/full_url");
    let deploy = cx.config.jenkins.deploy_job(&name);
    let repository = d.str("/build/scm/url").and_then(repository);
    let mut facts = vec![Fact::CiRun(CiRun {
        id: id.clone(),
        pipeline: name,
        status: ci_status(status_word(&result)),
        started_at,
        finished_at,
        stage: deploy.map(|_| "deploy".to_owned()),
        // A deploy job's service, else the repository's, as for GitHub's and GitLab's runs.
        service: deploy.map(|job| job.service.clone()).or_else(|| repository.as_deref().map(|r| cx.config.service(r))),
        repository,
        commit_sha: commit_sha.clone(),
        branch: d.str("/build/scm/branch").map(branch),
        queued_at: None,
        url: url.clone(),
        attempt: None,
    })];
    if let Some(job) = deploy {
        facts.push(Fact::Deployment(Deployment {
            id,
            service: job.service.clone(),
            environment: cx.normalizer.environment(&job.environment),
            version: None,
            commit_sha,
            status: deployment_status(&result),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            commits: Vec::new(),
            rollback_of: None,
            unplanned: false,
            team: None,
            url,
        }));
    }
    d.finish(Some(Parsed::Facts(facts)))
}

/// Jenkins's result name in the CI words `ci_status` reads.
fn status_word(result: &str) -> &str {
    match result {
        "SUCCESS" => "success",
        "UNSTABLE" | "FAILURE" | "FAILED" => "failure",
        "ABORTED" => "cancelled",
        "NOT_BUILT" => "skipped",
        other => other,
    }
}

/// A deploy job's result as a deployment's status.
fn deployment_status(result: &str) -> DeploymentStatus {
    match status_word(result) {
        "success" => DeploymentStatus::Success,
        "cancelled" | "skipped" => DeploymentStatus::Cancelled,
        _ => DeploymentStatus::Failure,
    }
}

/// A Git branch as Jenkins names it (`origin/main`, `refs/remotes/origin/main`), without the remote.
fn branch(name: &str) -> String {
    let name = name.trim_start_matches("refs/remotes/").trim_start_matches("refs/heads/");
    name.strip_prefix("origin/").unwrap_or(name).to_owned()
}

/// `owner/name` of a clone URL (`https://github.com/owner/name.git`, `git@host:owner/name.git`).
fn repository(url: &str) -> Option<String> {
    let path = url.split_once("://").map_or_else(|| url.split_once(':').map_or(url, |(_, p)| p), |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let path = path.trim_matches('/').trim_end_matches(".git");
    path.contains('/').then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::Normalizer;
    use crate::sources::{Source, SourceConfig};

    #[test]
    fn extreme_times_are_answered_not_a_crash() {
        let (config, normalizer) = (SourceConfig::default(), Normalizer::default());
        for (at, duration) in [(i64::MIN, 60_000), (i64::MAX, -5), (0, i64::MAX)] {
            let payload = json!({"name": "build", "build": {"number": 1, "phase": "COMPLETED", "status": "SUCCESS", "timestamp": at, "duration": duration}});
            let _ = crate::sources::parse(Source::Jenkins, "", &payload, &Context { normalizer: &normalizer, config: &config });
        }
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("deploy-*", "deploy-shop"));
        assert!(glob("*-prod", "shop-prod") && glob("a*b*c", "a-b-c") && glob("exact", "exact") && glob("*", ""));
        assert!(!glob("deploy-*", "build-deploy-shop") && !glob("*-prod", "shop-prod-2") && !glob("exact", "exact2") && !glob("a*b*c", "a-c"));
    }

    #[test]
    fn branches_lose_their_remote_and_clone_urls_give_a_repository() {
        assert_eq!((branch("origin/master"), branch("refs/remotes/origin/feature/x"), branch("main")), ("master".into(), "feature/x".into(), "main".into()));
        assert_eq!(repository("https://github.com/evgeny-goldin/asgard.git").as_deref(), Some("evgeny-goldin/asgard"));
        assert_eq!(repository("git@gitlab.com:group/sub/project.git").as_deref(), Some("group/sub/project"));
        assert_eq!(repository("https://example.com/"), None);
    }

    #[test]
    fn results_map_to_ci_and_deployment_statuses() {
        let table = [("SUCCESS", "success", DeploymentStatus::Success), ("UNSTABLE", "failure", DeploymentStatus::Failure), ("FAILURE", "failure", DeploymentStatus::Failure),
                     ("ABORTED", "cancelled", DeploymentStatus::Cancelled), ("NOT_BUILT", "skipped", DeploymentStatus::Cancelled)];
        for (result, ci, deployment) in table {
            assert_eq!((ci_status(status_word(result)).as_str(), deployment_status(result)), (ci, deployment), "{result}");
        }
    }

    #[test]
    fn both_final_phases_of_a_build_are_one_run_and_a_deploy_job_is_also_a_deployment() {
        let mut config = SourceConfig::default();
        config.jenkins.deploy_jobs.push(DeployJob { job: "deploy-*".into(), service: "shop".into(), environment: "prod".into() });
        let normalizer = Normalizer::default();
        let build = |phase: &str, at: i64| json!({"name": "deploy-shop", "url": "job/deploy-shop/", "build": {"number": 7, "phase": phase, "status": "SUCCESS",
                                                   "timestamp": at, "duration": 60_000, "scm": {"commit": "C6D86DC654B12425E706BCF951ADFE5A8627A517", "branch": "origin/main"}}});
        let parse = |payload: &Value| crate::sources::parse(Source::Jenkins, "", payload, &Context { normalizer: &normalizer, config: &config });
        let Ok(Parsed::Facts(completed)) = parse(&build("COMPLETED", 1_700_000_060_000)) else { panic!("facts") };
        let Ok(Parsed::Facts(finalized)) = parse(&build("FINALIZED", 1_700_000_062_000)) else { panic!("facts") };
        let ids = |facts: &[Fact]| facts.iter().map(|f| crate::key(f)).collect::<Vec<_>>();
        assert_eq!(ids(&completed), vec![("ci_run", "jenkins:job/deploy-shop/7".to_owned()), ("deployment", "jenkins:job/deploy-shop/7".to_owned())]);
        assert_eq!(ids(&completed), ids(&finalized));
        let [Fact::CiRun(run), Fact::Deployment(deployment)] = completed.as_slice() else { panic!("{completed:?}") };
        assert_eq!((run.started_at, run.finished_at, run.branch.as_deref(), run.stage.as_deref()), (1_700_000_000_000, 1_700_000_060_000, Some("main"), Some("deploy")));
        assert_eq!((deployment.environment.as_str(), deployment.commit_sha.as_deref()), ("production", Some("c6d86dc654b12425e706bcf951adfe5a8627a517")));
        assert!(matches!(parse(&build("STARTED", 1)), Ok(Parsed::Ignored(_))));
        let mut tests = build("FINALIZED", 1_700_000_062_000);
        tests["name"] = json!("unit-tests");
        tests["build"]["scm"]["url"] = json!("https://github.com/acme/shop.git");
        let Ok(Parsed::Facts(facts)) = parse(&tests) else { panic!("facts") };
        let [Fact::CiRun(run)] = facts.as_slice() else { panic!("a CI run only: {facts:?}") };
        assert_eq!((run.service.as_deref(), run.repository.as_deref(), run.stage.as_deref()), (Some("shop"), Some("acme/shop"), None));
    }
}
