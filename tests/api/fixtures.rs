//! Every third-party fixture under `../shared/fixtures` (`github`, `gitlab`, `cdevents/conformance-*`,
//! `pagerduty`) sent to its webhook with the headers its sender uses, each into a fresh pacer, and
//! the facts it must produce — service, environment, sha, times, status — read back through the API.
//! A fixture that produces nothing must be answered 200 and reported as ignored.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::mutate::gitlab_event;

/// The shared fixtures, read at test time (never copied into the repository).
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

const F95F: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
const HELLO: &str = "github:Codertocat/Hello-World";
/// The time of every CDEvents conformance event except incidents.
const CD_AT: &str = "2023-03-20T14:27:05.315Z";
/// The time of the CDEvents conformance incidents.
const CD_INCIDENT_AT: &str = "2022-11-11T13:52:20.079Z";

/// A fact a fixture must produce. Times are RFC 3339 as the API renders them.
#[derive(Debug)]
enum Fact {
    Deployment { id: String, service: &'static str, environment: &'static str, status: &'static str, sha: Option<&'static str>, finished_at: Option<&'static str> },
    Incident { id: String, service: &'static str, environment: &'static str, opened_at: &'static str, resolved_at: Option<&'static str> },
    Commit { sha: &'static str, repository: &'static str, parents: &'static [&'static str], committed_at: &'static str },
    PullRequest { id: String, opened_at: &'static str, first_review_at: Option<&'static str>, merged_at: Option<&'static str>, closed_at: Option<&'static str>, merge_commit_sha: Option<&'static str> },
    CiRun { id: String, pipeline: &'static str, status: &'static str, started_at: &'static str, finished_at: &'static str, stage: Option<&'static str> },
}

struct Case {
    file: &'static str,
    /// Settings of the pacer it is sent to.
    env: &'static [(&'static str, &'static str)],
    /// What it must produce; nothing means ignored.
    facts: Vec<Fact>,
}

fn case(file: &'static str, env: &'static [(&'static str, &'static str)], facts: Vec<Fact>) -> Case {
    Case { file, env, facts }
}

fn deployment(id: &str, service: &'static str, environment: &'static str, status: &'static str, sha: Option<&'static str>, finished_at: Option<&'static str>) -> Fact {
    Fact::Deployment { id: id.to_owned(), service, environment, status, sha, finished_at }
}

fn incident(id: &str, service: &'static str, environment: &'static str, opened_at: &'static str, resolved_at: Option<&'static str>) -> Fact {
    Fact::Incident { id: id.to_owned(), service, environment, opened_at, resolved_at }
}

fn pull_request(id: &str, opened_at: &'static str, first_review_at: Option<&'static str>, merged_at: Option<&'static str>, closed_at: Option<&'static str>, merge_commit_sha: Option<&'static str>) -> Fact {
    Fact::PullRequest { id: id.to_owned(), opened_at, first_review_at, merged_at, closed_at, merge_commit_sha }
}

fn ci_run(id: &str, pipeline: &'static str, status: &'static str, started_at: &'static str, finished_at: &'static str, stage: Option<&'static str>) -> Fact {
    Fact::CiRun { id: id.to_owned(), pipeline, status, started_at, finished_at, stage }
}

const BUG_IS_INCIDENT: &[(&str, &str)] = &[("PACER_GITHUB_INCIDENT_LABEL", "bug")];
const GITHUB_RELEASES: &[(&str, &str)] = &[("PACER_GITHUB_DEPLOY_SOURCE", "both")];

fn github() -> Vec<Case> {
    let hello = |path: &str| format!("{HELLO}/{path}");
    let pr2 = hello("pull/2");
    let job = hello("actions/jobs/289782451");
    let run = "github:octo-org/octo-repo/actions/runs/289782451/attempts/1";
    vec![
        case("github/check_suite.completed.json", &[], vec![ci_run(&hello("check-suites/118578147"), "octocoders-linter", "success", "2019-05-15T15:20:31Z", "2019-05-15T15:21:14Z", Some("pull_request"))]),
        case("github/deployment.created.json", &[], vec![deployment(&hello("deployments/145988746"), "Hello-World", "production", "in_progress", Some(F95F), None)]),
        case("github/deployment.created.gh-pages.json", &[], vec![deployment(&hello("deployments/145988746"), "Hello-World", "github-pages", "in_progress", Some(F95F), None)]),
        case("github/deployment_status.created.success.json", &[], vec![deployment(&hello("deployments/145988746"), "Hello-World", "production", "success", Some(F95F), Some("2019-05-15T15:20:55Z"))]),
        case("github/deployment_status.created.in_progress.json", &[], vec![deployment(&hello("deployments/145988746"), "Hello-World", "github-pages", "in_progress", Some(F95F), None)]),
        case(
            "github/deployment_status.created.failure.legacy-format.json",
            &[],
            vec![deployment("github:baxterthehacker/public-repo/deployments/710692", "public-repo", "production", "failure", Some("9049f1265b7d61be4a8904a9a27120d2064dab3b"), Some("2015-05-05T23:40:39Z"))],
        ),
        // Issues are incidents only with the incident label: `incident` by default.
        case("github/issues.opened.json", &[], vec![]),
        case("github/issues.opened.json", BUG_IS_INCIDENT, vec![incident(&hello("issues/1"), "Hello-World", "production", "2019-05-15T15:20:18Z", None)]),
        case("github/issues.labeled.json", BUG_IS_INCIDENT, vec![incident(&hello("issues/1"), "Hello-World", "production", "2019-05-15T15:20:18Z", None)]),
        // Reopened: open again, although it carries its earlier closing time.
        case("github/issues.reopened.json", BUG_IS_INCIDENT, vec![incident(&hello("issues/1"), "Hello-World", "production", "2021-07-05T18:05:24Z", None)]),
        case("github/issues.closed.json", BUG_IS_INCIDENT, vec![]),
        case("github/pull_request.opened.json", &[], vec![pull_request(&pr2, "2019-05-15T15:20:33Z", None, None, None, None)]),
        case("github/pull_request.synchronize.json", &[], vec![pull_request(&pr2, "2019-05-15T15:20:33Z", None, None, None, None)]),
        // Closed without merging: its merge_commit_sha is GitHub's test merge, not a commit that landed.
        case("github/pull_request.closed.not-merged.json", &[], vec![pull_request(&pr2, "2019-05-15T15:20:33Z", None, None, Some("2019-05-15T15:21:18Z"), None)]),
        // The author commenting on their own pull request is no review.
        case("github/pull_request_review.submitted.json", &[], vec![pull_request(&pr2, "2019-05-15T15:20:33Z", None, None, None, None)]),
        // A deleted tag.
        case("github/push.json", &[], vec![]),
        case(
            "github/push.new-branch.json",
            &[],
            vec![Fact::Commit { sha: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", repository: "Codertocat/Hello-World", parents: &[], committed_at: "2019-05-15T15:19:25Z" }],
        ),
        case("github/release.published.json", &[], vec![]),
        case("github/release.published.json", GITHUB_RELEASES, vec![deployment(&hello("releases/17372790"), "Hello-World", "production", "success", None, Some("2019-05-15T15:20:53Z"))]),
        case("github/workflow_job.queued.json", &[], vec![]),
        case("github/workflow_job.queued.with-deployment.json", &[], vec![]),
        case("github/workflow_job.in_progress.json", &[], vec![]),
        case("github/workflow_job.completed.success.json", &[], vec![ci_run(&job, "CodeQL / linters", "success", "2021-08-05T10:34:58Z", "2021-08-05T10:38:16Z", None)]),
        case("github/workflow_job.completed.failure.json", &[], vec![ci_run(&job, "CodeQL / linters", "failure", "2021-08-05T10:34:58Z", "2021-08-05T10:38:16Z", None)]),
        case("github/workflow_run.requested.json", &[], vec![]),
        case("github/workflow_run.in_progress.json", &[], vec![]),
        case("github/workflow_run.completed.success.json", &[], vec![ci_run(run, "test", "success", "2020-10-05T16:33:49Z", "2020-10-05T16:33:49Z", Some("post_merge"))]),
        case("github/workflow_run.completed.with-pull-requests.json", &[], vec![ci_run(run, "test", "success", "2020-10-05T16:33:49Z", "2020-10-05T16:33:49Z", Some("post_merge"))]),
    ]
}

fn gitlab() -> Vec<Case> {
    let hello = "gitlab:gitlab-org/hello-world";
    vec![
        case(
            "gitlab/deployment.success.json",
            &[],
            vec![deployment("gitlab:root/test-deployment-webhooks/deployments/15", "test-deployment-webhooks", "staging", "success", Some("279484c09fbe69ededfced8c1bb6e6d24616b468"), Some("2021-04-28T19:50:00Z"))],
        ),
        case("gitlab/issue.open.json", &[], vec![]),
        case("gitlab/issue.open.json", &[("PACER_GITLAB_INCIDENT_LABEL", "api")], vec![incident("gitlab:gitlabhq/gitlab-test/issues/23", "gitlab-test", "production", "2013-12-03T17:15:43Z", None)]),
        case("gitlab/issue.close.json", &[], vec![]),
        case(
            "gitlab/issue.close.json",
            &[("PACER_GITLAB_INCIDENT_LABEL", "Critical")],
            vec![incident(&format!("{hello}/issues/1"), "hello-world", "production", "2017-12-10T16:37:38Z", Some("2017-12-10T16:41:28Z"))],
        ),
        case(
            "gitlab/job.success.production.json",
            &[],
            vec![ci_run("gitlab:jsmithy2/release-tools-fake/jobs/3580121225", "auto_deploy:start", "success", "2023-01-10T13:50:05Z", "2023-01-10T13:50:54Z", Some("deploy"))],
        ),
        case("gitlab/merge_request.open.json", &[], vec![pull_request("gitlab:gitlabhq/gitlab-test/merge_requests/1", "2013-12-03T17:23:34Z", None, None, None, None)]),
        case(
            "gitlab/merge_request.close.json",
            &[],
            vec![pull_request(&format!("{hello}/merge_requests/1"), "2017-12-10T17:01:11Z", None, None, Some("2017-12-10T17:02:46Z"), None)],
        ),
        case(
            "gitlab/merge_request.merge.json",
            &[],
            vec![pull_request(
                &format!("{hello}/merge_requests/1"),
                "2017-12-10T17:01:11Z",
                None,
                Some("2017-12-10T17:08:07Z"),
                Some("2017-12-10T17:08:07Z"),
                Some("78a76ee6b4992a6baf64c59fc4c44c7323d60438"),
            )],
        ),
        case(
            "gitlab/pipeline.success.json",
            &[],
            vec![ci_run("gitlab:gitlab-org/gitlab-test/pipelines/31", "pipeline", "success", "2016-08-12T15:23:40Z", "2016-08-12T15:26:29Z", Some("pull_request"))],
        ),
        case(
            "gitlab/push.json",
            &[],
            vec![
                Fact::Commit {
                    sha: "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
                    repository: "mike/diaspora",
                    parents: &["95790bf891e76fee5e1747ab589903a6a1f80f22"],
                    committed_at: "2011-12-12T12:27:31Z",
                },
                Fact::Commit {
                    sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
                    repository: "mike/diaspora",
                    parents: &["b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"],
                    committed_at: "2012-01-03T21:36:29Z",
                },
            ],
        ),
        case("gitlab/tag_push.json", &[], vec![]),
        case("gitlab/release.create.json", &[], vec![]),
        case(
            "gitlab/release.create.json",
            &[("PACER_GITLAB_DEPLOY_SOURCE", "releases")],
            vec![deployment("gitlab:exm-namespace/example-project/releases/1.0.0", "example-project", "production", "success", Some("2626dbdb936782b5c54816b1c6d45b1279303c6d"), Some("2021-02-25T21:23:34Z"))],
        ),
    ]
}

fn cdevents() -> Vec<Case> {
    let deployed = "cdevents:/event/source/123/271069a8-fc18-44f1-b38f-9d70a1695819";
    let subject = "cdevents:/event/source/123/mySubject123";
    let incident_id = "cdevents:/monitoring/prod1/incident-123";
    let mut cases = Vec::new();
    for version in ["conformance-v0.4.1", "conformance-v0.5.1", "conformance-main-0.6-draft"] {
        let file = |name: &str| -> &'static str { Box::leak(format!("cdevents/{version}/{name}").into_boxed_str()) };
        cases.extend([
            case(file("service_deployed.json"), &[], vec![deployment(deployed, "mySubject123", "test123", "success", None, Some(CD_AT))]),
            case(file("service_upgraded.json"), &[], vec![deployment(deployed, "mySubject123", "test123", "success", None, Some(CD_AT))]),
            case(file("service_rolledback.json"), &[], vec![deployment(deployed, "mySubject123", "test123", "success", None, Some(CD_AT))]),
            case(file("change_created.json"), &[], vec![pull_request(subject, CD_AT, None, None, None, None)]),
            case(file("change_reviewed.json"), &[], vec![pull_request(subject, CD_AT, Some(CD_AT), None, None, None)]),
            case(file("change_merged.json"), &[], vec![pull_request(subject, CD_AT, None, Some(CD_AT), Some(CD_AT), None)]),
            case(file("pipelinerun_started.json"), &[], vec![]),
            case(file("pipelinerun_finished.json"), &[], vec![ci_run(subject, "myPipeline", "failure", CD_AT, CD_AT, None)]),
            case(file("incident_detected.json"), &[], vec![incident(incident_id, "myApp", "prod1", CD_INCIDENT_AT, None)]),
            case(file("incident_reported.json"), &[], vec![incident(incident_id, "myApp", "prod1", CD_INCIDENT_AT, None)]),
            case(file("incident_resolved.json"), &[], vec![incident(incident_id, "myApp", "prod1", CD_INCIDENT_AT, Some(CD_INCIDENT_AT))]),
        ]);
    }
    let draft = |name: &'static str| -> &'static str { Box::leak(format!("cdevents/conformance-main-0.6-draft/{name}").into_boxed_str()) };
    cases.extend([
        case(draft("change_abandoned.json"), &[], vec![pull_request(subject, CD_AT, None, None, Some(CD_AT), None)]),
        case(draft("change_updated.json"), &[], vec![]),
        case(draft("pipelinerun_queued.json"), &[], vec![]),
        case(draft("service_removed.json"), &[], vec![]),
        case(draft("artifact_published.json"), &[], vec![]),
        case(draft("build_finished.json"), &[], vec![]),
        case(draft("environment_created.json"), &[], vec![]),
        case(draft("taskrun_finished.json"), &[], vec![]),
    ]);
    cases
}

fn pagerduty() -> Vec<Case> {
    vec![case(
        "pagerduty/incident.priority_updated.json",
        &[],
        vec![incident("pagerduty:PGR0VU2", "API Service", "production", "2020-04-09T15:16:27Z", None)],
    )]
}

/// Sends a fixture the way its sender does; CDEvents in binary mode (`ce-*` headers).
pub async fn send(app: &TestApp, file: &str) -> (u16, Value) {
    let body = std::fs::read(format!("{FIXTURES}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (source, name) = file.split_once('/').expect("source/file");
    let kind = name.split('.').next().unwrap_or_default();
    match source {
        "github" => app.post_webhook("/webhooks/github", &[("x-github-event", kind), ("x-github-delivery", name)], body).await,
        "gitlab" => app.post_webhook("/webhooks/gitlab", &[("x-gitlab-event", gitlab_event(kind))], body).await,
        "pagerduty" => app.post_webhook("/webhooks/pagerduty", &[], body).await,
        _ => {
            let event: Value = serde_json::from_slice(&body).expect("json");
            let attribute = |name: &str| event["context"][name].as_str().unwrap_or_default().to_owned();
            let (id, source, kind) = (attribute("id"), attribute("source"), attribute("type"));
            let headers = [("ce-specversion", "1.0"), ("ce-id", id.as_str()), ("ce-source", source.as_str()), ("ce-type", kind.as_str())];
            app.post_webhook("/webhooks/cdevents", &headers, body).await
        }
    }
}

/// The item of a listing whose `key` is `id`.
async fn find(app: &TestApp, path: &str, key: &str, id: &str) -> Value {
    let listing = app.get(path).await;
    let items = listing["items"].as_array().cloned().unwrap_or_default();
    items.into_iter().find(|item| item[key] == id).unwrap_or_else(|| panic!("no {id} in {path}: {listing:#}"))
}

fn opt(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.to_owned()))
}

/// Checks one fact through the read API.
async fn check(app: &TestApp, file: &str, fact: &Fact) {
    match fact {
        Fact::Deployment { id, service, environment, status, sha, finished_at } => {
            let d = find(app, &format!("/api/v1/deployments?environment={environment}&limit=500"), "id", id).await;
            assert_eq!(
                (&d["service"], &d["status"], &d["commit_sha"], &d["finished_at"]),
                (&Value::from(*service), &Value::from(*status), &opt(*sha), &opt(*finished_at)),
                "{file}: {d:#}"
            );
        }
        Fact::Incident { id, service, environment, opened_at, resolved_at } => {
            let i = find(app, &format!("/api/v1/incidents?environment={environment}&limit=500"), "id", id).await;
            assert_eq!(
                (&i["service"], &i["opened_at"], &i["resolved_at"]),
                (&Value::from(*service), &Value::from(*opened_at), &opt(*resolved_at)),
                "{file}: {i:#}"
            );
        }
        Fact::Commit { sha, repository, parents, committed_at } => {
            let c = find(app, &format!("/api/v1/commits?repository={repository}&limit=500"), "sha", sha).await;
            assert_eq!((&c["parents"], &c["committed_at"]), (&Value::from(parents.to_vec()), &Value::from(*committed_at)), "{file}: {c:#}");
        }
        Fact::PullRequest { id, opened_at, first_review_at, merged_at, closed_at, merge_commit_sha } => {
            let p = find(app, "/api/v1/pull-requests?limit=500", "id", id).await;
            assert_eq!(
                (&p["opened_at"], &p["first_review_at"], &p["merged_at"], &p["closed_at"], &p["merge_commit_sha"]),
                (&Value::from(*opened_at), &opt(*first_review_at), &opt(*merged_at), &opt(*closed_at), &opt(*merge_commit_sha)),
                "{file}: {p:#}"
            );
        }
        Fact::CiRun { id, pipeline, status, started_at, finished_at, stage } => {
            let r = find(app, "/api/v1/ci-runs?limit=500", "id", id).await;
            assert_eq!(
                (&r["pipeline"], &r["status"], &r["started_at"], &r["finished_at"], &r["stage"]),
                (&Value::from(*pipeline), &Value::from(*status), &Value::from(*started_at), &Value::from(*finished_at), &opt(*stage)),
                "{file}: {r:#}"
            );
        }
    }
}

/// Every fixture file of the shared directories, as `source/name` paths.
fn fixture_files() -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut directories: Vec<String> = vec!["github".into(), "gitlab".into(), "pagerduty".into()];
    for entry in std::fs::read_dir(format!("{FIXTURES}/cdevents")).expect("cdevents fixtures").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("conformance-") {
            directories.push(format!("cdevents/{name}"));
        }
    }
    for directory in directories {
        for entry in std::fs::read_dir(format!("{FIXTURES}/{directory}")).expect("fixtures").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                files.insert(format!("{directory}/{name}"));
            }
        }
    }
    files
}

async fn every_fixture_produces_its_facts(backend: Backend) {
    let cases: Vec<Case> = [github(), gitlab(), cdevents(), pagerduty()].into_iter().flatten().collect();
    let listed: BTreeSet<String> = cases.iter().map(|c| c.file.to_owned()).collect();
    let files = fixture_files();
    assert_eq!(listed, files, "the table must state what every fixture produces");
    for case in &cases {
        let Some(app) = TestApp::spawn_with(backend, case.env).await else { return };
        let (status, answer) = send(&app, case.file).await;
        assert_eq!(status, 200, "{}: {answer:#}", case.file);
        assert_eq!(answer["ignored"], case.facts.is_empty(), "{}: {answer:#}", case.file);
        if !case.facts.is_empty() {
            assert_eq!(answer["accepted"], case.facts.len(), "{}: {answer:#}", case.file);
        }
        for fact in &case.facts {
            check(&app, case.file, fact).await;
        }
        if case.file.starts_with("cdevents/") {
            // The same CloudEvent in structured mode is the same delivery.
            let data: Value = serde_json::from_slice(&std::fs::read(format!("{FIXTURES}/{}", case.file)).expect("fixture")).expect("json");
            let envelope = serde_json::json!({"specversion": "1.0", "id": data["context"]["id"], "source": data["context"]["source"],
                                              "type": data["context"]["type"], "datacontenttype": "application/json", "data": data});
            let (status, again) = app.post_webhook("/webhooks/cdevents", &[("content-type", "application/cloudevents+json")], envelope.to_string()).await;
            assert_eq!(status, 200, "{} structured: {again:#}", case.file);
            let expected = if case.facts.is_empty() { "ignored" } else { "replayed" };
            assert_eq!(again[expected], true, "{} structured: {again:#}", case.file);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_produces_its_facts_on_sqlite() {
    every_fixture_produces_its_facts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_produces_its_facts_on_postgres() {
    every_fixture_produces_its_facts(Backend::Postgres).await;
}
