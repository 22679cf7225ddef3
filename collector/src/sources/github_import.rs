//! GitHub REST API objects, as `pacer import github` stores them, turned into the same facts the
//! webhooks give for the same objects.
//!
//! The importer stores what it reads as deliveries of the source `github-import`, one per object,
//! each shaped like the webhook payload of its kind (the REST objects are the objects webhooks
//! carry), so the webhook mapping of [`super::github`] reads them and ids, services, environments
//! and times come out the same. Only what no webhook carries is mapped here: a REST commit (with
//! its real parents), a pull request's commits and its list of reviews.
//!
//! REST reference: <https://docs.github.com/en/rest>.
//!
//! | event | payload | facts |
//! |---|---|---|
//! | `pull_request` | `pull_request` (`GET /repos/{repo}/pulls/{n}`), `commits` (`…/pulls/{n}/commits`), `reviews` (`…/pulls/{n}/reviews`), `repository` | the pull request as the `pull_request` webhook maps it, its first review and approval counted as the `pull_request_review` webhook counts each review, `first_commit_at` the earliest committer date of its commits; a `commit` per listed commit |
//! | `deployment` | `deployment` (`GET /repos/{repo}/deployments`), `statuses` (`…/deployments/{id}/statuses`), `repository` | the deployment as the `deployment` webhook maps it, then as the `deployment_status` webhook maps each status, oldest first, so the stored state is the one the webhooks leave |
//! | `workflow_run` | the `workflow_run` webhook payload: `action` `completed`, `workflow_run` (`GET /repos/{repo}/actions/runs`, or one attempt of a run), `repository` | as the webhook |
//! | `release` | the `release` webhook payload: `action` `published`, `release` (`GET /repos/{repo}/releases`), `repository` | as the webhook (a production deployment when releases are a deploy source; drafts and pre-releases are not) |
//! | `commit` | `commit` (`GET /repos/{repo}/commits`, or one commit with its `files`), `repository` | a `commit` with its parents; with `files`, the service of the paths it touches |
//!
//! `repository` needs `full_name` and, for workflow runs, `default_branch`. A dismissed review
//! counts as a review but no longer as an approval: the reviews API no longer tells what it was.

use serde_json::{Value, json};

use pacer_engine::model::{Commit, Fact};

use super::github::{self, apply_review};
use super::{Context, Doc, Outcome, Parsed, ignored};

/// Parses one stored import object of kind `event`.
pub(crate) fn parse(event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    match event {
        "pull_request" => pull_request(payload, cx),
        "deployment" => deployment(payload, cx),
        "workflow_run" | "release" => github::parse(event, payload, cx),
        "commit" => {
            let mut d = Doc::new(payload);
            let Some(repo) = d.req_str("/repository/full_name") else { return Err(d.errors) };
            let commit = rest_commit(&mut d, "/commit", &repo, cx);
            d.finish(commit.map(|c| Parsed::Facts(vec![Fact::Commit(c)])))
        }
        other => ignored(format!("pacer does not import GitHub {other:?} objects")),
    }
}

fn pull_request(payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    let Some(repo) = d.req_str("/repository/full_name") else { return Err(d.errors) };
    let Some(mut pr) = github::pull_request(&mut d, &repo, cx) else { return d.finish(None) };
    for i in 0..d.array("/reviews").len() {
        apply_review(&mut d, &format!("/reviews/{i}"), &mut pr);
    }
    let commits: Vec<Commit> = (0..d.array("/commits").len()).filter_map(|i| rest_commit(&mut d, &format!("/commits/{i}"), &repo, cx)).collect();
    pr.first_commit_at = commits.iter().map(|c| c.committed_at).min();
    let facts = std::iter::once(Fact::PullRequest(pr)).chain(commits.into_iter().map(Fact::Commit)).collect();
    d.finish(Some(Parsed::Facts(facts)))
}

fn deployment(payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut facts = match github::parse("deployment", payload, cx)? {
        Parsed::Facts(facts) => facts,
        ignored => return Ok(ignored),
    };
    let d = Doc::new(payload);
    // GitHub lists statuses newest first; webhooks deliver them as they happen.
    let mut statuses: Vec<&Value> = d.array("/statuses").iter().collect();
    statuses.sort_by_key(|s| {
        let s = Doc::new(s);
        (s.time("/created_at"), s.int("/id"))
    });
    for status in statuses {
        let event = json!({"deployment": payload["deployment"], "deployment_status": status, "repository": payload["repository"]});
        if let Parsed::Facts(more) = github::parse("deployment_status", &event, cx)? {
            facts.extend(more);
        }
    }
    Ok(Parsed::Facts(facts))
}

/// A commit as the commits API gives it at `pointer`: its committer date is when it was
/// committed (the time a push gives), its parents are the real ones.
fn rest_commit(d: &mut Doc<'_>, pointer: &str, repo: &str, cx: &Context<'_>) -> Option<Commit> {
    let at = |field: &str| format!("{pointer}/{field}");
    let sha = d.req_str(&at("sha"));
    let committed_at = d.req_time(&at("commit/committer/date"));
    let parents = d.array(&at("parents")).iter().filter_map(|p| p.get("sha").and_then(Value::as_str)).map(str::to_owned).collect();
    let paths = d.array(&at("files")).iter().filter_map(|f| f.get("filename").and_then(Value::as_str));
    let service = cx.config.service_of_paths(repo, paths);
    Some(Commit {
        sha: sha?,
        committed_at: committed_at?,
        repository: Some(repo.to_owned()),
        service: Some(service),
        parents,
        authored_at: d.time(&at("commit/author/date")),
        author: d.string(&at("author/login")).or_else(|| d.string(&at("commit/author/name"))),
        message: d.string(&at("commit/message")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Normalizer;
    use crate::sources::{Source, SourceConfig};

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../shared/fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).expect("json")
    }

    fn facts(source: Source, event: &str, payload: &Value) -> Vec<Fact> {
        let (normalizer, config) = (Normalizer::default(), SourceConfig::default());
        match crate::sources::parse(source, event, payload, &Context { normalizer: &normalizer, config: &config }) {
            Ok(Parsed::Facts(facts)) => facts,
            other => panic!("{event}: {other:?}"),
        }
    }

    fn rest_commit_json(sha: &str, date: &str) -> Value {
        json!({"sha": sha, "commit": {"author": {"name": "Mona", "date": "2019-05-15T14:00:00Z"}, "committer": {"date": date},
               "message": "Fix"}, "author": {"login": "octocat"}, "parents": [{"sha": "a".repeat(40)}, {"sha": "b".repeat(40)}]})
    }

    #[test]
    fn an_imported_deployment_ends_in_the_state_its_status_webhooks_leave() {
        let status = fixture("deployment_status.created.success.json");
        let mut pending = status["deployment_status"].clone();
        pending["state"] = json!("in_progress");
        pending["id"] = json!(1);
        pending["created_at"] = json!("2019-05-15T15:20:00Z");
        // Newest first, as the statuses API lists them.
        let import = json!({"deployment": status["deployment"], "statuses": [status["deployment_status"], pending], "repository": status["repository"]});
        let imported = facts(Source::GithubImport, "deployment", &import);
        let webhook = facts(Source::Github, "deployment_status", &status);
        assert_eq!(imported.last(), webhook.last(), "the last state is the success status's");
        assert_eq!(imported.len(), 3, "the deployment, then its two statuses oldest first: {imported:?}");
    }

    #[test]
    fn an_imported_pull_request_is_the_webhooks_pull_request_with_its_reviews_and_first_commit() {
        let opened = fixture("pull_request.opened.json");
        let review = fixture("pull_request_review.submitted.json");
        let mut approval = review["review"].clone();
        approval["state"] = json!("APPROVED");
        approval["user"]["login"] = json!("hubot");
        let mut own = approval.clone();
        own["user"]["login"] = opened["pull_request"]["user"]["login"].clone();
        own["submitted_at"] = json!("2019-05-15T14:00:00Z");
        let commits = [rest_commit_json(&"c".repeat(40), "2019-05-15T15:00:00Z"), rest_commit_json(&"d".repeat(40), "2019-05-15T13:00:00Z")];
        let import = json!({"pull_request": opened["pull_request"], "reviews": [own, approval], "commits": commits, "repository": opened["repository"]});
        let imported = facts(Source::GithubImport, "pull_request", &import);
        let [Fact::PullRequest(pr), Fact::Commit(first), Fact::Commit(_)] = imported.as_slice() else { panic!("{imported:?}") };
        let Ok::<[Fact; 1], _>([Fact::PullRequest(webhook)]) = facts(Source::Github, "pull_request", &opened).try_into() else { panic!() };
        assert_eq!(pr.id, webhook.id);
        assert_eq!(pr.first_commit_at, Some(1_557_925_200_000), "the earliest committer date, 13:00");
        let submitted = pacer_engine::model::PullRequest { first_review_at: pr.first_review_at, approved_at: pr.approved_at, first_commit_at: pr.first_commit_at, ..webhook };
        assert_eq!(pr, &submitted, "every other field as the webhook maps it");
        assert_eq!((pr.first_review_at, pr.approved_at), (Some(1_557_933_638_000), Some(1_557_933_638_000)), "the author's own review does not count");
        assert_eq!(first.parents.len(), 2, "a REST commit keeps both parents of a merge");
        assert_eq!((first.author.as_deref(), first.authored_at), (Some("octocat"), Some(1_557_928_800_000)));
    }
}
