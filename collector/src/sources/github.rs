//! GitHub webhooks, dispatched on the `X-GitHub-Event` header.
//!
//! Payload reference: <https://docs.github.com/en/webhooks/webhook-events-and-payloads>.
//!
//! | event | facts |
//! |---|---|
//! | `push` to a branch | a `commit` per listed commit, chained `before` → commits → `after` |
//! | `pull_request` opened, reopened, synchronize, edited, ready_for_review, converted_to_draft, closed | the `pull_request`; merge commit and merge time only when merged |
//! | `pull_request_review` submitted | the `pull_request` with its first review (and approval) time; reviews by the PR's author do not count |
//! | `deployment` created | the `deployment`, in progress |
//! | `deployment_status` | the `deployment` at the status's `created_at`: `success`; `failure`/`error` → failure; `queued`/`pending`/`in_progress` → in progress; `inactive` ignored |
//! | `workflow_run`, `workflow_job`, `check_suite` completed | a `ci_run` (queued, start and finish times; the run attempt is part of the id) |
//! | `issues` carrying the incident label | an `incident`, opened and resolved with the issue |
//! | `release` published or released (when releases are a deploy source) | a production `deployment`, one per release |
//!
//! Ids follow github.com paths: `github:owner/name/deployments/1`, `github:owner/name/pull/2`,
//! `github:owner/name/issues/3`, `github:owner/name/actions/runs/4/attempts/1`,
//! `github:owner/name/actions/jobs/5`, `github:owner/name/check-suites/6`,
//! `github:owner/name/releases/7`. A deployment's `payload` may name its `service` (for
//! monorepos) and the deployment it is a `rollback_of` (a GitHub deployment number or an id).

use serde_json::Value;

use pacer_engine::model::{CiRun, Deployment, DeploymentStatus, Fact, Incident, PullRequest};

use super::{Context, Doc, Outcome, Parsed, ci_status, chain, has_label, ignored, is_sha, issue_cause, pushed_commits, release_deployment};
use crate::normalize::PRODUCTION;

/// Parses one GitHub delivery of type `event`.
pub(crate) fn parse(event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    if event == "ping" {
        return ignored("ping: the webhook is set up");
    }
    let action = d.str("/action").unwrap_or("");
    let known = match event {
        "push" => true,
        "pull_request" => {
            ["opened", "reopened", "synchronize", "edited", "ready_for_review", "converted_to_draft", "closed"].contains(&action)
        }
        "pull_request_review" => action == "submitted",
        "deployment" => action == "created" || action.is_empty(),
        // Statuses from before GitHub added `action` have none.
        "deployment_status" => action == "created" || action.is_empty(),
        "workflow_run" | "workflow_job" | "check_suite" => {
            if action != "completed" {
                return ignored(format!("{event} {action:?}: CI runs are recorded when they complete"));
            }
            true
        }
        "issues" => ["opened", "edited", "closed", "reopened", "labeled", "unlabeled"].contains(&action),
        // A release made public sends `published`, and `released` too unless it is a pre-release:
        // both name the same release, so they are one deployment.
        "release" => action == "published" || action == "released",
        other => return ignored(format!("pacer does not use GitHub {other:?} events")),
    };
    if !known {
        return ignored(format!("{event} {action:?} changes nothing pacer records"));
    }
    let Some(repo) = d.req_str("/repository/full_name") else { return Err(d.errors) };
    let host = &cx.config.github;
    let fact = match event {
        "push" => return push(d, &repo, cx),
        "pull_request" => pull_request(&mut d, &repo, cx).map(Fact::PullRequest),
        "pull_request_review" => review(&mut d, &repo, cx).map(Fact::PullRequest),
        "deployment" | "deployment_status" if !host.deploy_source.deployments() => {
            return ignored("deployments are not the deploy source (github.deploy_source)");
        }
        "deployment" => deployment(&mut d, &repo, cx, None).map(Fact::Deployment),
        "deployment_status" => match deployment_status(&mut d) {
            Ok(status) => deployment(&mut d, &repo, cx, status).map(Fact::Deployment),
            Err(reason) => return ignored(reason),
        },
        "workflow_run" => workflow_run(&mut d, &repo, cx).map(Fact::CiRun),
        "workflow_job" => workflow_job(&mut d, &repo, cx).map(Fact::CiRun),
        "check_suite" => check_suite(&mut d, &repo, cx).map(Fact::CiRun),
        "issues" => {
            if !has_label(d.array("/issue/labels"), "name", &host.incident_label) {
                return ignored(format!("an issue without the {:?} label", host.incident_label));
            }
            issue(&mut d, &repo, cx).map(Fact::Incident)
        }
        _ => match release(&mut d, &repo, cx) {
            Ok(fact) => fact.map(Fact::Deployment),
            Err(reason) => return ignored(reason),
        },
    };
    d.finish(fact.map(|f| Parsed::Facts(vec![f])))
}

/// The id of the object at `path` of `repo`, as github.com spells its address.
pub(crate) fn id(repo: &str, path: &str) -> String {
    format!("github:{repo}/{path}")
}

fn push(mut d: Doc<'_>, repo: &str, cx: &Context<'_>) -> Outcome {
    let reference = d.str("/ref").unwrap_or("");
    if !reference.starts_with("refs/heads/") {
        return ignored(format!("a push to {reference:?}: pacer records branch pushes"));
    }
    if d.bool("/deleted") == Some(true) {
        return ignored("a deleted branch");
    }
    let before = if d.bool("/forced") == Some(true) { None } else { d.string("/before") };
    let commits = pushed_commits(&mut d, "/commits");
    let facts = chain(repo, before, commits, cx);
    d.finish(Some(Parsed::Facts(facts)))
}

/// The pull request object at `/pull_request`, as `pull_request` and `pull_request_review`
/// events carry it.
pub(crate) fn pull_request(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Option<PullRequest> {
    let number = d.req_int("/pull_request/number");
    let opened_at = d.req_time("/pull_request/created_at");
    let merged_at = d.time("/pull_request/merged_at");
    // An open pull request's merge_commit_sha is GitHub's test merge, which never lands.
    let merge_commit_sha = merged_at.and_then(|_| d.string("/pull_request/merge_commit_sha"));
    // Once closed, the base may already contain the head: only open states tell the branch apart.
    let open = d.str("/pull_request/state") == Some("open");
    let branch = |side: &str| if open { d.string(&format!("/pull_request/{side}/sha")) } else { None };
    Some(PullRequest {
        id: id(repo, &format!("pull/{}", number?)),
        repository: repo.to_owned(),
        number: number?,
        opened_at: opened_at?,
        service: Some(cx.config.service(repo)),
        author: d.string("/pull_request/user/login"),
        first_commit_at: None,
        first_review_at: None,
        approved_at: None,
        merged_at,
        closed_at: d.time("/pull_request/closed_at"),
        merge_commit_sha,
        additions: d.int("/pull_request/additions"),
        deletions: d.int("/pull_request/deletions"),
        head_sha: branch("head"),
        base_sha: branch("base"),
    })
}

fn review(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Option<PullRequest> {
    let mut pr = pull_request(d, repo, cx)?;
    apply_review(d, "/review", &mut pr);
    Some(pr)
}

/// Counts the review at `pointer` (a review object, as `pull_request_review` events and the
/// reviews API give it) into `pr`'s first review and approval times, keeping the earliest.
/// Answering comments on one's own pull request is not a review, nor is a pending one.
pub(crate) fn apply_review(d: &mut Doc<'_>, pointer: &str, pr: &mut PullRequest) {
    let state = d.req_str(&format!("{pointer}/state")).map(|s| s.to_ascii_lowercase());
    if state.as_deref() == Some("pending") {
        return;
    }
    let submitted_at = d.req_time(&format!("{pointer}/submitted_at"));
    let reviewer = d.str(&format!("{pointer}/user/login"));
    if reviewer.is_some() && reviewer == pr.author.as_deref() {
        return;
    }
    let earliest = |stored: Option<i64>| match (stored, submitted_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    pr.first_review_at = earliest(pr.first_review_at);
    if state.as_deref() == Some("approved") {
        pr.approved_at = earliest(pr.approved_at);
    }
}

/// The deployment status, or why it is ignored.
fn deployment_status(d: &mut Doc<'_>) -> Result<Option<(DeploymentStatus, Option<i64>)>, String> {
    let Some(state) = d.req_str("/deployment_status/state") else { return Ok(None) };
    let at = d.req_time("/deployment_status/created_at");
    let status = match state.to_ascii_lowercase().as_str() {
        "success" => DeploymentStatus::Success,
        "failure" | "error" => DeploymentStatus::Failure,
        "queued" | "pending" | "in_progress" => DeploymentStatus::InProgress,
        "inactive" => return Err("an inactive deployment: a later deployment replaced it".to_owned()),
        other => return Err(format!("a deployment status {other:?} pacer does not know")),
    };
    Ok(Some((status, at)))
}

/// The deployment at `/deployment`; `status` is the deployment status and its time, `None` for a
/// `deployment` event (in progress since the deployment's creation).
fn deployment(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>, status: Option<(DeploymentStatus, Option<i64>)>) -> Option<Deployment> {
    let number = d.req_id("/deployment/id");
    let (status, finished_at) = match status {
        Some((status, at)) => (status, if status == DeploymentStatus::InProgress { None } else { Some(at?) }),
        None => (DeploymentStatus::InProgress, None),
    };
    let environment = d.str("/deployment/environment").or_else(|| d.str("/deployment_status/environment")).unwrap_or(PRODUCTION);
    let service = d.string("/deployment/payload/service").unwrap_or_else(|| cx.config.service(repo));
    let rollback_of = d.id("/deployment/payload/rollback_of").map(|target| {
        if target.bytes().all(|b| b.is_ascii_digit()) { id(repo, &format!("deployments/{target}")) } else { target }
    });
    let url = ["/deployment_status/log_url", "/deployment_status/target_url", "/deployment_status/environment_url"]
        .iter()
        .find_map(|p| d.string(p));
    Some(Deployment {
        id: id(repo, &format!("deployments/{}", number?)),
        service,
        environment: cx.normalizer.environment(environment),
        version: d.string("/deployment/ref"),
        commit_sha: d.string("/deployment/sha"),
        status,
        started_at: d.time("/deployment/created_at"),
        finished_at,
        commits: Vec::new(),
        rollback_of,
        unplanned: false,
        team: None,
        url,
    })
}

/// The delivery stage of a run: pull request runs, then runs on the default branch.
fn stage(d: &Doc<'_>, trigger: Option<&str>, branch: Option<&str>, pull_requests: &str) -> Option<String> {
    let default_branch = d.str("/repository/default_branch");
    if trigger.is_some_and(|t| t.starts_with("pull_request")) {
        Some("pull_request".to_owned())
    } else if branch.is_some() && branch == default_branch {
        Some("post_merge".to_owned())
    } else if !d.array(pull_requests).is_empty() {
        Some("pull_request".to_owned())
    } else {
        None
    }
}

fn workflow_run(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Option<CiRun> {
    let run = d.req_id("/workflow_run/id");
    let attempt = d.int("/workflow_run/run_attempt").unwrap_or(1);
    let pipeline = d.string("/workflow_run/name").or_else(|| d.string("/workflow/name")).or_else(|| d.string("/workflow_run/path"));
    let pipeline = if pipeline.is_none() { d.req_str("/workflow_run/name") } else { pipeline };
    let conclusion = d.req_str("/workflow_run/conclusion");
    let queued_at = d.time("/workflow_run/created_at");
    let started_at = d.time("/workflow_run/run_started_at").or(queued_at);
    let started_at = if started_at.is_none() { d.req_time("/workflow_run/run_started_at") } else { started_at };
    // A completed run's last update is its completion.
    let finished_at = d.req_time("/workflow_run/updated_at");
    let branch = d.string("/workflow_run/head_branch");
    Some(CiRun {
        id: id(repo, &format!("actions/runs/{}/attempts/{attempt}", run?)),
        pipeline: pipeline?,
        status: ci_status(&conclusion?),
        started_at: started_at?,
        finished_at: finished_at?,
        stage: stage(d, d.str("/workflow_run/event"), branch.as_deref(), "/workflow_run/pull_requests"),
        repository: Some(repo.to_owned()),
        service: Some(cx.config.service(repo)),
        commit_sha: d.string("/workflow_run/head_sha"),
        branch,
        queued_at,
        url: d.string("/workflow_run/html_url"),
        attempt: Some(attempt).filter(|a| *a >= 1),
    })
}

fn workflow_job(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Option<CiRun> {
    let job = d.req_id("/workflow_job/id");
    let name = d.req_str("/workflow_job/name");
    let conclusion = d.req_str("/workflow_job/conclusion");
    let started_at = d.req_time("/workflow_job/started_at");
    let finished_at = d.req_time("/workflow_job/completed_at");
    let branch = d.string("/workflow_job/head_branch");
    let stage = if d.value("/deployment").is_some() { Some("deploy".to_owned()) } else { stage(d, None, branch.as_deref(), "") };
    let pipeline = match (d.str("/workflow_job/workflow_name"), name) {
        (Some(workflow), Some(name)) => Some(format!("{workflow} / {name}")),
        (None, name) => name,
        (_, None) => None,
    };
    Some(CiRun {
        id: id(repo, &format!("actions/jobs/{}", job?)),
        pipeline: pipeline?,
        status: ci_status(&conclusion?),
        started_at: started_at?,
        finished_at: finished_at?,
        stage,
        repository: Some(repo.to_owned()),
        service: Some(cx.config.service(repo)),
        commit_sha: d.string("/workflow_job/head_sha"),
        branch,
        queued_at: d.time("/workflow_job/created_at"),
        url: d.string("/workflow_job/html_url"),
        attempt: d.int("/workflow_job/run_attempt").filter(|a| *a >= 1),
    })
}

fn check_suite(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Option<CiRun> {
    let suite = d.req_id("/check_suite/id");
    let conclusion = d.req_str("/check_suite/conclusion");
    let started_at = d.req_time("/check_suite/created_at");
    let finished_at = d.req_time("/check_suite/updated_at");
    let branch = d.string("/check_suite/head_branch");
    Some(CiRun {
        id: id(repo, &format!("check-suites/{}", suite?)),
        pipeline: d.string("/check_suite/app/name").unwrap_or_else(|| "check suite".to_owned()),
        status: ci_status(&conclusion?),
        started_at: started_at?,
        finished_at: finished_at?,
        stage: stage(d, None, branch.as_deref(), "/check_suite/pull_requests"),
        repository: Some(repo.to_owned()),
        service: Some(cx.config.service(repo)),
        commit_sha: d.string("/check_suite/head_sha"),
        branch,
        queued_at: None,
        url: None,
        attempt: None,
    })
}

fn issue(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Option<Incident> {
    let number = d.req_int("/issue/number");
    let opened_at = d.req_time("/issue/created_at");
    let closed = d.str("/issue/state") == Some("closed");
    let cause = issue_cause(d.str("/issue/body"), |n| id(repo, &format!("deployments/{n}")));
    Some(Incident {
        id: id(repo, &format!("issues/{}", number?)),
        service: cx.config.service(repo),
        environment: PRODUCTION.to_owned(),
        opened_at: opened_at?,
        resolved_at: if closed { d.time("/issue/closed_at") } else { None },
        severity: None,
        title: d.string("/issue/title"),
        url: d.string("/issue/html_url"),
        deployment_id: cause.deployment,
        commit_sha: cause.commit_sha,
    })
}

/// A published release as a production deployment, or why it is ignored.
fn release(d: &mut Doc<'_>, repo: &str, cx: &Context<'_>) -> Result<Option<Deployment>, String> {
    if !cx.config.github.deploy_source.releases() {
        return Err("releases are not a deploy source (github.deploy_source)".to_owned());
    }
    if d.bool("/release/draft") == Some(true) || d.bool("/release/prerelease") == Some(true) {
        return Err("a draft or pre-release is not a production deployment".to_owned());
    }
    let number = d.req_id("/release/id");
    let published_at = d.req_time("/release/published_at");
    let (Some(number), Some(published_at)) = (number, published_at) else { return Ok(None) };
    Ok(Some(release_deployment(
        id(repo, &format!("releases/{number}")),
        cx.config.service(repo),
        d.string("/release/tag_name"),
        // The target is usually a branch name; only a sha names the commit.
        d.string("/release/target_commitish").filter(|s| is_sha(s)),
        published_at,
        d.string("/release/html_url"),
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::normalize::Normalizer;
    use crate::sources::{Source, SourceConfig};

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../shared/fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).expect("json")
    }

    fn facts(event: &str, payload: &Value) -> Vec<Fact> {
        let (normalizer, config) = (Normalizer::default(), SourceConfig::default());
        match crate::sources::parse(Source::Github, event, payload, &Context { normalizer: &normalizer, config: &config }) {
            Ok(Parsed::Facts(facts)) => facts,
            other => panic!("{event}: {other:?}"),
        }
    }

    #[test]
    fn a_push_chains_its_commits_unless_it_was_forced() {
        let mut push = fixture("push.new-branch.json");
        let first = push["commits"][0].clone();
        let mut second = first.clone();
        second["id"] = json!("b".repeat(40));
        push["before"] = json!("a".repeat(40));
        push["commits"] = json!([first, second]);
        let parents = |facts: Vec<Fact>| -> Vec<Vec<String>> {
            facts.into_iter().map(|f| if let Fact::Commit(c) = f { c.parents } else { panic!("{f:?}") }).collect()
        };
        let chained = parents(facts("push", &push));
        assert_eq!(chained, [vec!["a".repeat(40)], vec!["6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_owned()]]);
        push["forced"] = json!(true);
        assert!(parents(facts("push", &push))[0].is_empty(), "a force push's before is no parent");
    }

    #[test]
    fn another_reviewers_approval_sets_the_first_review_and_approval() {
        let mut review = fixture("pull_request_review.submitted.json");
        review["review"]["state"] = json!("approved");
        review["review"]["user"]["login"] = json!("hubot");
        let Ok::<[Fact; 1], _>([Fact::PullRequest(pr)]) = facts("pull_request_review", &review).try_into() else { panic!("not one pull request") };
        assert_eq!((pr.first_review_at, pr.approved_at), (Some(1_557_933_638_000), Some(1_557_933_638_000)));
        assert_eq!(pr.merge_commit_sha, None, "an open pull request's test merge is not its merge");
    }

    #[test]
    fn a_deployment_payload_names_its_service_and_the_deployment_it_rolls_back() {
        let mut status = fixture("deployment_status.created.success.json");
        status["deployment"]["payload"] = json!({"service": "payments", "rollback_of": 145_988_700});
        let Ok::<[Fact; 1], _>([Fact::Deployment(d)]) = facts("deployment_status", &status).try_into() else { panic!("not one deployment") };
        assert_eq!(d.service, "payments");
        assert_eq!(d.rollback_of.as_deref(), Some("github:Codertocat/Hello-World/deployments/145988700"));
        assert_eq!(d.started_at, Some(1_557_933_653_000), "started when the deployment was created");
    }
}
