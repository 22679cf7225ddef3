//! GitLab webhooks, dispatched on the `X-Gitlab-Event` header (system hooks on `object_kind`).
//!
//! Payload reference: <https://docs.gitlab.com/user/project/integrations/webhook_events/>.
//!
//! | hook | facts |
//! |---|---|
//! | Push Hook | a `commit` per listed commit, chained `before` → commits → `after` |
//! | Merge Request Hook (open, reopen, update, close, merge, approved, approval) | the `pull_request`; approvals set the first review and approval times |
//! | Pipeline Hook (finished) | a `ci_run` |
//! | Job Hook (finished) | a `ci_run`, stage `deploy` when the job has an environment |
//! | Deployment Hook | the `deployment` at `status_changed_at` (`running` → in progress, `success`, `failed`, `canceled`) |
//! | Issue Hook with the incident label, or of type incident | an `incident`, opened and resolved with the issue |
//! | Release Hook create (when releases are a deploy source) | a production `deployment`; an upcoming release (dated after its creation) is ignored |
//!
//! Tag pushes, notes, wiki and other hooks are ignored. Ids follow gitlab.com paths:
//! `gitlab:group/project/deployments/15`, `gitlab:group/project/merge_requests/1`,
//! `gitlab:group/project/issues/23`, `gitlab:group/project/pipelines/31`,
//! `gitlab:group/project/jobs/380`, `gitlab:group/project/releases/v1.0.0`.
//!
//! A push lists at most 20 commits (`total_commits_count` says how many there were): pacer chains
//! those it is given, the first onto `before`, so the graph stays connected.

use serde_json::Value;

use pacer_engine::model::{CiRun, Deployment, DeploymentStatus, Fact, Incident, PullRequest};

use super::{Context, Doc, Outcome, Parsed, ci_status, chain, has_label, ignored, is_sha, issue_cause, pushed_commits, release_deployment};
use crate::normalize::PRODUCTION;

/// The statuses of a pipeline or job that mean it finished.
const FINISHED: [&str; 4] = ["success", "failed", "canceled", "skipped"];

/// Parses one GitLab delivery whose `X-Gitlab-Event` header is `event`.
pub(crate) fn parse(event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    let kind = match event {
        "Push Hook" => "push",
        "Tag Push Hook" => "tag_push",
        "Merge Request Hook" => "merge_request",
        "Pipeline Hook" => "pipeline",
        "Job Hook" => "build",
        "Deployment Hook" => "deployment",
        "Issue Hook" | "Confidential Issue Hook" => "issue",
        "Release Hook" => "release",
        // System hooks name the kind in the payload.
        "System Hook" => d.str("/object_kind").or_else(|| d.str("/event_name")).unwrap_or(""),
        other => return ignored(format!("pacer does not use GitLab {other:?} events")),
    };
    let host = &cx.config.gitlab;
    let fact = match kind {
        "push" => return push(d, cx),
        "merge_request" => {
            let action = d.str("/object_attributes/action").unwrap_or("");
            if !["open", "reopen", "update", "close", "merge", "approved", "approval"].contains(&action) {
                return ignored(format!("a merge request {action:?} changes nothing pacer records"));
            }
            merge_request(&mut d, cx, action).map(Fact::PullRequest)
        }
        "pipeline" | "build" => {
            let pointer = if kind == "pipeline" { "/object_attributes/status" } else { "/build_status" };
            let status = d.str(pointer).unwrap_or("");
            if !FINISHED.contains(&status) {
                return ignored(format!("a {kind} {status:?}: CI runs are recorded when they finish"));
            }
            if kind == "pipeline" { pipeline(&mut d, cx) } else { job(&mut d, cx) }.map(Fact::CiRun)
        }
        "deployment" if !host.deploy_source.deployments() => return ignored("deployments are not the deploy source (gitlab.deploy_source)"),
        "deployment" => match deployment(&mut d, cx) {
            Ok(deployment) => deployment.map(Fact::Deployment),
            Err(reason) => return ignored(reason),
        },
        "issue" => {
            let labelled = has_label(d.array("/labels"), "title", &host.incident_label)
                || has_label(d.array("/object_attributes/labels"), "title", &host.incident_label);
            let typed = d.str("/object_attributes/issue_type").or_else(|| d.str("/object_attributes/type")).is_some_and(|t| t.eq_ignore_ascii_case("incident"));
            if !labelled && !typed {
                return ignored(format!("an issue without the {:?} label", host.incident_label));
            }
            issue(&mut d, cx).map(Fact::Incident)
        }
        "release" if !host.deploy_source.releases() => return ignored("releases are not a deploy source (gitlab.deploy_source)"),
        "release" if d.str("/action") != Some("create") => return ignored("only a created release is a deployment"),
        "release" if upcoming(&d) => {
            return ignored("an upcoming release (released_at after its creation) is not yet released: GitLab sends no hook when its date comes");
        }
        "release" => release(&mut d, cx).map(Fact::Deployment),
        other => return ignored(format!("pacer does not use GitLab {other:?} events")),
    };
    d.finish(fact.map(|f| Parsed::Facts(vec![f])))
}

/// The project's `group/project` path. Job hooks carry no `project` object in older GitLab
/// versions: the path is then read from the repository's homepage.
fn project(d: &mut Doc<'_>) -> Option<String> {
    if let Some(path) = d.string("/project/path_with_namespace") {
        return Some(path);
    }
    let from_homepage = d.str("/repository/homepage").and_then(|url| {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        rest.split_once('/').map(|(_, path)| path.trim_matches('/').to_owned()).filter(|p| p.contains('/'))
    });
    if from_homepage.is_none() {
        return d.req_str("/project/path_with_namespace");
    }
    from_homepage
}

fn id(project: &str, path: &str) -> String {
    format!("gitlab:{project}/{path}")
}

fn push(mut d: Doc<'_>, cx: &Context<'_>) -> Outcome {
    let Some(project) = project(&mut d) else { return Err(d.errors) };
    let mut commits = pushed_commits(&mut d, "/commits");
    // GitLab lists commits oldest first; should a version list them newest first, turn them.
    if commits.len() > 1 && d.str("/after").is_some_and(|after| commits.first().is_some_and(|c| c.sha() == after)) {
        commits.reverse();
    }
    let facts = chain(&project, d.string("/before"), commits, cx);
    d.finish(Some(Parsed::Facts(facts)))
}

fn merge_request(d: &mut Doc<'_>, cx: &Context<'_>, action: &str) -> Option<PullRequest> {
    let project = project(d);
    let number = d.req_int("/object_attributes/iid");
    let opened_at = d.req_time("/object_attributes/created_at");
    let updated_at = d.time("/object_attributes/updated_at");
    let state = d.str("/object_attributes/state").unwrap_or("");
    let merged_at = match state {
        "merged" => d.time("/object_attributes/merged_at").or(updated_at),
        _ => None,
    };
    let closed_at = match state {
        "closed" => d.time("/object_attributes/closed_at").or(updated_at),
        _ => merged_at,
    };
    // A fast-forward merge lands the source branch's head itself.
    let merge_commit_sha = merged_at.and_then(|_| {
        ["/object_attributes/merge_commit_sha", "/object_attributes/squash_commit_sha", "/object_attributes/last_commit/id"]
            .iter()
            .find_map(|p| d.string(p))
    });
    let approved_at = if ["approved", "approval"].contains(&action) { updated_at } else { None };
    let project = project?;
    Some(PullRequest {
        id: id(&project, &format!("merge_requests/{}", number?)),
        service: Some(cx.config.service(&project)),
        repository: project,
        number: number?,
        opened_at: opened_at?,
        author: None,
        first_commit_at: None,
        first_review_at: approved_at,
        approved_at,
        merged_at,
        closed_at,
        merge_commit_sha,
        additions: None,
        deletions: None,
        head_sha: d.string("/object_attributes/last_commit/id"),
        base_sha: None,
    })
}

/// The delivery stage of a pipeline or job on `reference`.
fn stage(d: &Doc<'_>, from_merge_request: bool, reference: Option<&str>) -> Option<String> {
    if from_merge_request {
        Some("pull_request".to_owned())
    } else if reference.is_some() && reference == d.str("/project/default_branch") {
        Some("post_merge".to_owned())
    } else {
        None
    }
}

fn pipeline(d: &mut Doc<'_>, cx: &Context<'_>) -> Option<CiRun> {
    let project = project(d);
    let number = d.req_int("/object_attributes/id");
    let queued_at = d.req_time("/object_attributes/created_at");
    let finished_at = d.req_time("/object_attributes/finished_at");
    // Seconds in the queue; a value that is no duration (negative, not finite) counts as none, and
    // a huge one saturates rather than overflowing the start time.
    let waited = d
        .value("/object_attributes/queued_duration")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(0, |s| (s * 1_000.0) as i64);
    let status = d.str("/object_attributes/status").map(ci_status);
    let reference = d.string("/object_attributes/ref");
    let from_merge_request = d.str("/object_attributes/source") == Some("merge_request_event") || d.value("/merge_request").is_some();
    let project = project?;
    let number = number?;
    Some(CiRun {
        id: id(&project, &format!("pipelines/{number}")),
        pipeline: d.string("/object_attributes/name").unwrap_or_else(|| "pipeline".to_owned()),
        status: status?,
        started_at: queued_at?.saturating_add(waited),
        finished_at: finished_at?,
        stage: stage(d, from_merge_request, reference.as_deref()),
        service: Some(cx.config.service(&project)),
        commit_sha: d.string("/object_attributes/sha"),
        branch: reference.filter(|_| d.bool("/object_attributes/tag") != Some(true)),
        queued_at,
        url: d.str("/project/web_url").map(|web| format!("{web}/-/pipelines/{number}")),
        repository: Some(project),
        attempt: None,
    })
}

fn job(d: &mut Doc<'_>, cx: &Context<'_>) -> Option<CiRun> {
    let project = project(d);
    let number = d.req_int("/build_id");
    let name = d.req_str("/build_name");
    let queued_at = d.req_time("/build_created_at");
    // A skipped job never started or finished: it took no time.
    let started_at = d.time("/build_started_at").or(queued_at);
    let finished_at = d.time("/build_finished_at").or(started_at);
    let status = d.str("/build_status").map(ci_status);
    let reference = d.string("/ref");
    let deploys = d.str("/environment/name").is_some();
    let project = project?;
    let number = number?;
    Some(CiRun {
        id: id(&project, &format!("jobs/{number}")),
        pipeline: name?,
        status: status?,
        started_at: started_at?,
        finished_at: finished_at?,
        stage: if deploys { Some("deploy".to_owned()) } else { stage(d, false, reference.as_deref()) },
        service: Some(cx.config.service(&project)),
        commit_sha: d.string("/sha"),
        branch: reference.filter(|_| d.bool("/tag") != Some(true)),
        queued_at,
        url: d.str("/repository/homepage").map(|home| format!("{home}/-/jobs/{number}")),
        repository: Some(project),
        // A retried job is a new job whose `retries_count` says how many ran before it.
        attempt: d.int("/retries_count").filter(|r| *r >= 0).and_then(|retries| retries.checked_add(1)),
    })
}

/// The deployment, or why it is ignored.
fn deployment(d: &mut Doc<'_>, cx: &Context<'_>) -> Result<Option<Deployment>, String> {
    let status = match d.str("/status").unwrap_or("") {
        "created" | "running" => DeploymentStatus::InProgress,
        "success" => DeploymentStatus::Success,
        "failed" => DeploymentStatus::Failure,
        "canceled" => DeploymentStatus::Cancelled,
        other => return Err(format!("a deployment status {other:?} pacer does not record")),
    };
    let project = project(d);
    let number = d.req_id("/deployment_id");
    let at = d.req_time("/status_changed_at");
    let environment = d.req_str("/environment");
    // The payload names the commit by URL (and a short sha).
    let commit_sha = d.str("/commit_url").and_then(|url| url.rsplit('/').next()).filter(|s| is_sha(s)).map(str::to_owned);
    let (Some(project), Some(number), Some(at), Some(environment)) = (project, number, at, environment) else { return Ok(None) };
    let in_progress = status == DeploymentStatus::InProgress;
    Ok(Some(Deployment {
        id: id(&project, &format!("deployments/{number}")),
        service: cx.config.service(&project),
        environment: cx.normalizer.environment(&environment),
        version: d.string("/ref"),
        commit_sha,
        status,
        started_at: in_progress.then_some(at),
        finished_at: (!in_progress).then_some(at),
        commits: Vec::new(),
        rollback_of: None,
        unplanned: false,
        team: None,
        url: d.string("/deployable_url"),
    }))
}

fn issue(d: &mut Doc<'_>, cx: &Context<'_>) -> Option<Incident> {
    let project = project(d);
    let number = d.req_int("/object_attributes/iid");
    let opened_at = d.req_time("/object_attributes/created_at");
    let closed = d.str("/object_attributes/state") == Some("closed");
    let resolved_at = if closed { d.time("/object_attributes/closed_at").or_else(|| d.time("/object_attributes/updated_at")) } else { None };
    let project = project?;
    let cause = issue_cause(d.str("/object_attributes/description"), |n| id(&project, &format!("deployments/{n}")));
    Some(Incident {
        id: id(&project, &format!("issues/{}", number?)),
        service: cx.config.service(&project),
        environment: PRODUCTION.to_owned(),
        opened_at: opened_at?,
        resolved_at,
        severity: d.string("/object_attributes/severity").filter(|s| s != "unknown"),
        title: d.string("/object_attributes/title"),
        url: d.string("/object_attributes/url"),
        deployment_id: cause.deployment,
        commit_sha: cause.commit_sha,
    })
}

/// Whether a release is an upcoming one: created with a `released_at` still ahead. Read from the
/// hook itself rather than the clock, so re-reading a kept delivery gives the same answer.
fn upcoming(d: &Doc<'_>) -> bool {
    matches!((d.time("/released_at"), d.time("/created_at")), (Some(released), Some(created)) if released > created)
}

fn release(d: &mut Doc<'_>, cx: &Context<'_>) -> Option<Deployment> {
    let project = project(d);
    let tag = d.req_str("/tag");
    let released_at = d.time("/released_at").or_else(|| d.time("/created_at"));
    let released_at = if released_at.is_none() { d.req_time("/released_at") } else { released_at };
    let project = project?;
    Some(release_deployment(
        id(&project, &format!("releases/{}", tag.as_deref()?)),
        cx.config.service(&project),
        tag,
        d.string("/commit/id"),
        released_at?,
        d.string("/url"),
    ))
}

#[cfg(test)]
mod tests {
    use crate::normalize::Normalizer;
    use crate::sources::{Context, Source, SourceConfig, parse};

    #[test]
    fn a_retry_count_at_the_integer_limit_is_no_crash() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/gitlab/job.success.production.json");
        let text = std::fs::read_to_string(path).expect("the shared GitLab job fixture");
        let mut job: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
        job["retries_count"] = serde_json::json!(i64::MAX);
        let (normalizer, config) = (Normalizer::default(), SourceConfig::default());
        let outcome = parse(Source::Gitlab, "Job Hook", &job, &Context { normalizer: &normalizer, config: &config });
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}
