//! Webhook behaviour a sender or an operator notices: signatures and tokens (a bad one is a 401
//! and stores nothing), redeliveries counted once, malformed payloads named, unknown events
//! ignored, arrival order not mattering, configuration mapping repositories and services, and
//! `pacer recompute` rebuilding the same facts from the kept deliveries.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::fixtures::{FIXTURES, send};
use crate::helpers::{Backend, TestApp, close};
use crate::on_both;

const SECRET: &str = "It's a Secret to Everybody";

/// A fixture file's text.
pub fn fixture(file: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{file}")).expect("fixture")
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// How many deployments and incidents are stored, over every status.
async fn stored(app: &TestApp) -> (usize, usize) {
    let count = |v: Value| v["items"].as_array().map_or(0, Vec::len);
    let deployments = count(app.get("/api/v1/deployments?limit=500").await);
    let incidents = count(app.get("/api/v1/incidents?limit=500").await);
    (deployments, incidents)
}

on_both!(github_signatures_are_verified_and_a_bad_one_stores_nothing, env = [("PACER_GITHUB_SECRET", SECRET)], |app| {
    let body = fixture("github/deployment_status.created.success.json");
    let event = ("x-github-event", "deployment_status");
    // GitHub's documented example: this signature of "Hello, World!" is valid, the body is no JSON.
    let known = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let (status, answer) = app.post_webhook("/webhooks/github", &[event, ("x-hub-signature-256", known)], "Hello, World!").await;
    assert_eq!(status, 400, "a valid signature gets past the check: {answer:#}");
    let valid = format!("sha256={}", sign(SECRET, &body));
    let other = format!("sha256={}", sign(SECRET, "{}"));
    let wrong_key = format!("sha256={}", sign("another secret", &body));
    let upper = valid.to_ascii_uppercase().replacen("SHA256=", "sha256=", 1);
    for (description, signature) in [("no signature", None), ("another body's", Some(other.as_str())), ("another secret's", Some(wrong_key.as_str())), ("no sha256= prefix", Some(&valid[7..]))] {
        let mut headers = vec![event];
        headers.extend(signature.map(|s| ("x-hub-signature-256", s)));
        let (status, answer) = app.post_webhook("/webhooks/github", &headers, body.clone()).await;
        assert_eq!(status, 401, "{description}: {answer:#}");
        assert_eq!(answer["type"], "/problems/unauthorized", "{description}: {answer:#}");
    }
    assert_eq!(stored(&app).await, (0, 0), "nothing is stored without a valid signature");
    let (status, answer) = app.post_webhook("/webhooks/github", &[event, ("x-hub-signature-256", &upper)], body).await;
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer:#}");
    assert_eq!(stored(&app).await, (1, 0));
    // GitHub's form content type: the signature covers the form body.
    let issue = fixture("github/pull_request.opened.json");
    let form = format!("payload={}", issue.bytes().map(|b| format!("%{b:02X}")).collect::<String>());
    let signature = format!("sha256={}", sign(SECRET, &form));
    let headers = [("x-github-event", "pull_request"), ("x-hub-signature-256", signature.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    let (status, answer) = app.post_webhook("/webhooks/github", &headers, form).await;
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer:#}");
});

on_both!(gitlab_tokens_and_pagerduty_and_cdevents_secrets_are_checked, env = [
    ("PACER_GITLAB_TOKEN", "gitlab-token"),
    ("PACER_PAGERDUTY_SECRET", SECRET),
    ("PACER_CDEVENTS_TOKEN", "cdevents-token"),
], |app| {
    let gitlab = fixture("gitlab/deployment.success.json");
    let hook = ("x-gitlab-event", "Deployment Hook");
    for token in [None, Some("wrong-token")] {
        let mut headers = vec![hook];
        headers.extend(token.map(|t| ("x-gitlab-token", t)));
        assert_eq!(app.post_webhook("/webhooks/gitlab", &headers, gitlab.clone()).await.0, 401, "{token:?}");
    }
    let pagerduty = fixture("pagerduty/incident.priority_updated.json");
    let valid = format!("v1={}", sign(SECRET, &pagerduty));
    for signature in [None, Some("v1=00ff".to_owned()), Some(valid.replace("v1=", "v0="))] {
        let headers: Vec<(&str, &str)> = signature.iter().map(|s| ("x-pagerduty-signature", s.as_str())).collect();
        assert_eq!(app.post_webhook("/webhooks/pagerduty", &headers, pagerduty.clone()).await.0, 401, "{signature:?}");
    }
    let cdevent = fixture("cdevents/conformance-v0.5.1/incident_detected.json");
    assert_eq!(app.post_webhook("/webhooks/cdevents", &[("authorization", "Bearer nope")], cdevent.clone()).await.0, 401);
    assert_eq!(stored(&app).await, (0, 0), "nothing is stored without valid proof");

    assert_eq!(app.post_webhook("/webhooks/gitlab", &[hook, ("x-gitlab-token", "gitlab-token")], gitlab).await.0, 200);
    // While a secret is rotated PagerDuty sends several signatures: one valid one is enough.
    let rotating = format!("v1={},{valid}", sign("the old secret", &pagerduty));
    assert_eq!(app.post_webhook("/webhooks/pagerduty", &[("x-pagerduty-signature", &rotating)], pagerduty).await.0, 200);
    assert_eq!(app.post_webhook("/webhooks/cdevents", &[("authorization", "Bearer cdevents-token")], cdevent).await.0, 200);
    let incidents = app.get("/api/v1/incidents?limit=500").await["items"].as_array().map_or(0, Vec::len);
    let prod1 = app.get("/api/v1/incidents?environment=prod1").await["items"].as_array().map_or(0, Vec::len);
    assert_eq!((stored(&app).await.0, incidents + prod1), (0, 2), "the GitLab deployment is in staging");
    assert_eq!(app.get("/api/v1/deployments?environment=staging").await["items"][0]["status"], "success");
});

on_both!(a_redelivery_is_counted_once_and_never_undoes_a_later_state, |app| {
    let failure = patched("github/deployment_status.created.success.json", &[("/deployment_status/state", json!("failure"))]);
    let success = fixture("github/deployment_status.created.success.json");
    let app = &app;
    let post = |delivery: &'static str, body: String| async move {
        app.post_webhook("/webhooks/github", &[("x-github-event", "deployment_status"), ("x-github-delivery", delivery)], body).await
    };
    let (_, first) = post("d-failure", failure.to_string()).await;
    assert_eq!(first["accepted"], 1, "{first:#}");
    let (_, second) = post("d-success", success.clone()).await;
    assert_eq!(second["accepted"], 1, "a new state of the deployment: {second:#}");
    // GitHub's "Redeliver" of the failure, after the success.
    let (status, replay) = post("d-failure", failure.to_string()).await;
    assert_eq!((status, &replay["replayed"], &replay["accepted"]), (200, &json!(true), &json!(0)), "{replay:#}");
    let (_, again) = post("d-success", success).await;
    assert_eq!(again["replayed"], true, "{again:#}");
    let dora = app.dora("from=2019-05-15T00:00:00Z&to=2019-05-16T00:00:00Z").await;
    assert_eq!(dora["deployment_frequency"]["deployments"], 1, "counted once, and still a success: {dora:#}");
});

/// A fixture with fields replaced at JSON pointers.
pub fn patched(file: &str, fields: &[(&str, Value)]) -> Value {
    let mut payload: Value = serde_json::from_str(&fixture(file)).expect("json");
    for (pointer, value) in fields {
        *payload.pointer_mut(pointer).unwrap_or_else(|| panic!("{file} has no {pointer}")) = value.clone();
    }
    payload
}

/// A bad request: where it goes, its headers and body, and the pointers the 400 must name.
struct Bad {
    description: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    pointers: &'static [&'static str],
}

fn bad_requests() -> Vec<Bad> {
    let github = |event: &'static str| vec![("x-github-event", event)];
    let cdevent = patched("cdevents/conformance-v0.5.1/service_deployed.json", &[]);
    let mut no_environment = cdevent.clone();
    no_environment["subject"]["content"].as_object_mut().map(|c| c.remove("environment"));
    let mut no_ticket = patched("cdevents/conformance-v0.4.1/incident_reported.json", &[]);
    no_ticket["subject"]["content"].as_object_mut().map(|c| c.remove("ticketURI"));
    let mut no_created = patched("pagerduty/incident.priority_updated.json", &[("/event/event_type", json!("incident.triggered"))]);
    no_created["event"]["data"].as_object_mut().map(|d| d.remove("created_at"));
    vec![
        Bad { description: "a body that is no JSON", path: "/webhooks/github", headers: github("push"), body: "{\"ref\":".into(), pointers: &[""] },
        Bad { description: "a JSON array", path: "/webhooks/github", headers: github("push"), body: "[]".into(), pointers: &[""] },
        Bad { description: "no X-GitHub-Event header", path: "/webhooks/github", headers: vec![], body: fixture("github/push.json"), pointers: &["header:x-github-event"] },
        Bad {
            description: "a deployment status without its time",
            path: "/webhooks/github",
            headers: github("deployment_status"),
            body: patched("github/deployment_status.created.success.json", &[("/deployment_status/created_at", Value::Null)]).to_string(),
            pointers: &["/deployment_status/created_at"],
        },
        Bad {
            description: "a pushed commit without id or time",
            path: "/webhooks/github",
            headers: github("push"),
            body: patched("github/push.new-branch.json", &[("/commits/0/timestamp", json!("yesterday")), ("/commits/0/id", json!(""))]).to_string(),
            pointers: &["/commits/0/id", "/commits/0/timestamp"],
        },
        Bad {
            description: "a merge request without iid",
            path: "/webhooks/gitlab",
            headers: vec![("x-gitlab-event", "Merge Request Hook")],
            body: patched("gitlab/merge_request.merge.json", &[("/object_attributes/iid", json!("one"))]).to_string(),
            pointers: &["/object_attributes/iid"],
        },
        Bad {
            description: "a service.deployed without its environment",
            path: "/webhooks/cdevents",
            headers: vec![],
            body: no_environment.to_string(),
            pointers: &["/subject/content/environment/id"],
        },
        Bad { description: "an incident.reported without ticketURI", path: "/webhooks/cdevents", headers: vec![], body: no_ticket.to_string(), pointers: &["/subject/content/ticketURI"] },
        Bad {
            description: "a CDEvents type that is not dev.cdevents.<subject>.<predicate>.<version>",
            path: "/webhooks/cdevents",
            headers: vec![],
            body: patched("cdevents/conformance-v0.5.1/service_deployed.json", &[("/context/type", json!("dev.cdevents.deployed"))]).to_string(),
            pointers: &["/context/type"],
        },
        Bad {
            description: "a structured CloudEvent without data",
            path: "/webhooks/cdevents",
            headers: vec![("content-type", "application/cloudevents+json")],
            body: json!({"specversion": "1.0", "id": "1", "source": "/x", "type": "dev.cdevents.service.deployed.0.3.0"}).to_string(),
            pointers: &["/data"],
        },
        Bad {
            description: "binary mode without ce-id",
            path: "/webhooks/cdevents",
            headers: vec![("ce-specversion", "1.0"), ("ce-source", "/x"), ("ce-type", "dev.cdevents.service.deployed.0.3.0")],
            body: cdevent.to_string(),
            pointers: &["header:ce-id"],
        },
        Bad { description: "a PagerDuty incident without created_at", path: "/webhooks/pagerduty", headers: vec![], body: no_created.to_string(), pointers: &["/event/data/created_at"] },
    ]
}

on_both!(malformed_payloads_of_known_types_are_named_and_store_nothing, |app| {
    for bad in bad_requests() {
        let typed = bad.headers.iter().any(|(name, _)| *name == "content-type");
        let response = app.client.post(app.url(bad.path));
        let response = if typed { response } else { response.header("content-type", "application/json") };
        let response = bad.headers.iter().fold(response, |r, (name, value)| r.header(*name, *value));
        let response = response.body(bad.body).send().await.expect("request");
        assert_eq!(response.status(), 400, "{}", bad.description);
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{}", bad.description);
        let problem: Value = response.json().await.expect("json");
        let named: Vec<&str> = problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["pointer"].as_str()).collect();
        for pointer in bad.pointers {
            assert!(named.contains(pointer), "{}: expected {pointer:?} among {problem:#}", bad.description);
        }
    }
    assert_eq!(stored(&app).await, (0, 0));
    let commits = app.get("/api/v1/commits").await;
    assert_eq!(commits["items"], json!([]), "{commits:#}");
});

on_both!(events_pacer_does_not_use_are_answered_200_and_ignored, |app| {
    let cases = [
        ("/webhooks/github", vec![("x-github-event", "star")], json!({"action": "created", "repository": {"full_name": "a/b"}})),
        ("/webhooks/github", vec![("x-github-event", "ping")], json!({"zen": "Keep it logically awesome.", "hook_id": 1})),
        ("/webhooks/github", vec![("x-github-event", "pull_request")], json!({"action": "labeled", "pull_request": {}})),
        ("/webhooks/gitlab", vec![("x-gitlab-event", "Wiki Page Hook")], json!({"object_kind": "wiki_page"})),
        ("/webhooks/pagerduty", vec![], json!({"event": {"id": "e1", "event_type": "service.updated", "data": {"type": "service"}}})),
        ("/webhooks/cdevents", vec![], json!({"context": {"id": "1", "source": "/x", "type": "dev.cdevents.testcaserun.finished.0.2.0"}, "subject": {}})),
    ];
    for (path, headers, body) in cases {
        let (status, answer) = app.post_webhook(path, &headers, body.to_string()).await;
        assert_eq!((status, &answer["ignored"]), (200, &json!(true)), "{path} {headers:?}: {answer:#}");
        assert!(answer["reason"].as_str().is_some_and(|r| !r.is_empty()), "{answer:#}");
    }
});

on_both!(an_incident_resolved_before_it_is_detected_keeps_its_detection_time, |app| {
    let at = |file: &str, time: &str, id: &str| {
        patched(&format!("cdevents/conformance-v0.5.1/{file}"), &[("/context/timestamp", json!(time)), ("/context/id", json!(id))]).to_string()
    };
    let resolved = at("incident_resolved.json", "2026-01-05T11:30:00Z", "e-2");
    let detected = at("incident_detected.json", "2026-01-05T10:00:00Z", "e-1");
    assert_eq!(app.post_webhook("/webhooks/cdevents", &[], resolved).await.0, 200);
    assert_eq!(app.post_webhook("/webhooks/cdevents", &[], detected).await.0, 200);
    let incident = &app.get("/api/v1/incidents?environment=prod1").await["items"][0];
    assert_eq!((&incident["opened_at"], &incident["resolved_at"]), (&json!("2026-01-05T10:00:00Z"), &json!("2026-01-05T11:30:00Z")), "{incident:#}");
    let dora = app.dora("environment=prod1&from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00Z").await;
    assert!(close(&dora["time_to_restore"]["median_seconds"], 5_400.0), "{dora:#}");

    // PagerDuty: the resolution first, then the trigger it followed; the incident stays resolved.
    let pagerduty = |event_type: &str, id: &str| {
        patched("pagerduty/incident.priority_updated.json", &[("/event/event_type", json!(event_type)), ("/event/id", json!(id)), ("/event/occurred_at", json!("2020-04-09T16:16:27Z"))]).to_string()
    };
    assert_eq!(app.post_webhook("/webhooks/pagerduty", &[], pagerduty("incident.resolved", "p-2")).await.0, 200);
    assert_eq!(app.post_webhook("/webhooks/pagerduty", &[], pagerduty("incident.triggered", "p-1")).await.0, 200);
    let incident = &app.get("/api/v1/incidents?from=2020-04-09T00:00:00Z&to=2020-04-10T00:00:00Z").await["items"][0];
    assert_eq!(incident["restore_seconds"], json!(3_600.0), "{incident:#}");
});

const MONOREPO: &str = r#"
[[repositories]]
repository = "codertocat/hello-world"
service = "hello"

[[repositories]]
repository = "Codertocat/Hello-World"
path_prefix = "README"
service = "docs"

[pagerduty]
services = { "API Service" = "api" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_repositories_paths_and_pagerduty_services_name_the_service() {
    let Some(app) = TestApp::spawn_with_config(Backend::Sqlite, MONOREPO, &[]).await else { return };
    for file in ["github/push.new-branch.json", "github/deployment_status.created.success.json", "github/pull_request.opened.json", "pagerduty/incident.priority_updated.json"] {
        assert_eq!(send(&app, file).await.0, 200, "{file}");
    }
    let commit = &app.get("/api/v1/commits").await["items"][0];
    assert_eq!(commit["service"], "docs", "the commit only touched README.md: {commit:#}");
    let deployment = &app.get("/api/v1/deployments").await["items"][0];
    assert_eq!(deployment["service"], "hello", "{deployment:#}");
    assert_eq!(app.get("/api/v1/pull-requests").await["items"][0]["service"], "hello");
    assert_eq!(app.get("/api/v1/incidents?from=2020-01-01T00:00:00Z").await["items"][0]["service"], "api");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recompute_rebuilds_the_same_facts_from_the_kept_deliveries() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let files = [
        "github/push.new-branch.json",
        "github/deployment_status.created.success.json",
        "github/pull_request.closed.not-merged.json",
        "github/workflow_run.completed.success.json",
        "gitlab/push.json",
        "gitlab/merge_request.merge.json",
        "cdevents/conformance-v0.5.1/incident_detected.json",
        "pagerduty/incident.priority_updated.json",
    ];
    for file in files {
        assert_eq!(send(&app, file).await.0, 200, "{file}");
    }
    let snapshot = || async {
        let mut all = Vec::new();
        for path in ["/api/v1/deployments", "/api/v1/incidents?from=2000-01-01T00:00:00Z", "/api/v1/incidents?environment=prod1", "/api/v1/commits", "/api/v1/pull-requests", "/api/v1/ci-runs"] {
            all.push(app.get(path).await);
        }
        all
    };
    let before = snapshot().await;
    let store = pacer::app::open_store(&app.database_url).await.expect("store");
    let sources = pacer_collector::sources::SourceConfig::default();
    let done = pacer::recompute::recompute_with(&store, &pacer_collector::Normalizer::default(), &sources, |_| {}).await.expect("recompute");
    assert_eq!((done.read, done.skipped), (8, 0), "{done:?}");
    assert_eq!(snapshot().await, before);
    assert_eq!(before[3]["items"].as_array().map(Vec::len), Some(3), "{:#}", before[3]);
}

/// A peer payload (`../shared/fixtures/peer`): real senders' examples, not in the fixture table.
fn peer(file: &str) -> String {
    fixture(&format!("peer/{file}"))
}

on_both!(a_released_github_release_counts_like_a_published_one_and_both_are_one_deployment, env = [("PACER_GITHUB_DEPLOY_SOURCE", "releases")], |app| {
    let release = |delivery: &'static str| [("x-github-event", "release"), ("x-github-delivery", delivery)];
    let (status, answer) = app.post_webhook("/webhooks/github", &release("d-released"), peer("github/release/released.json")).await;
    assert_eq!((status, &answer["ignored"], &answer["accepted"]), (200, &json!(false), &json!(1)), "released: {answer:#}");
    // GitHub sends `published` for the same release too.
    let (status, answer) = app.post_webhook("/webhooks/github", &release("d-published"), peer("github/release/published.payload.json")).await;
    assert_eq!((status, &answer["accepted"], &answer["duplicates"]), (200, &json!(0), &json!(1)), "published: {answer:#}");
    let deployments = app.get("/api/v1/deployments?limit=500").await;
    let items = deployments["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "one deployment per release: {deployments:#}");
    assert_eq!(
        (&items[0]["id"], &items[0]["service"], &items[0]["version"], &items[0]["finished_at"]),
        (&json!("github:Codertocat/Hello-World/releases/17372790"), &json!("Hello-World"), &json!("0.0.1"), &json!("2019-05-15T15:20:53Z")),
        "{deployments:#}"
    );
});

on_both!(an_upcoming_gitlab_release_is_answered_200_and_ignored_until_it_is_released, env = [("PACER_GITLAB_DEPLOY_SOURCE", "releases")], |app| {
    let hook = [("x-gitlab-event", "Release Hook")];
    let mut upcoming: Value = serde_json::from_str(&peer("gitlab/release.json")).expect("json");
    upcoming["released_at"] = json!("2099-01-01 00:00:00 UTC");
    let (status, answer) = app.post_webhook("/webhooks/gitlab", &hook, upcoming.to_string()).await;
    assert_eq!((status, &answer["ignored"]), (200, &json!(true)), "an upcoming release is no 400: {answer:#}");
    assert!(answer["reason"].as_str().is_some_and(|r| r.contains("upcoming")), "{answer:#}");
    assert_eq!(stored(&app).await, (0, 0));
    let (status, answer) = app.post_webhook("/webhooks/gitlab", &hook, peer("gitlab/release.json")).await;
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "a release of its own date: {answer:#}");
    let deployment = &app.get("/api/v1/deployments").await["items"][0];
    assert_eq!((&deployment["version"], &deployment["finished_at"]), (&json!("v1.1"), &json!("2020-11-02T12:55:12Z")), "{deployment:#}");
});
