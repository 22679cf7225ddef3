//! API conformance: schemathesis (PyPI) drives a running pacer from `GET /api/v1/openapi.json`
//! and checks that no request is answered with a 5xx, and that every status code, content type
//! and body is one the document describes — on SQLite and on PostgreSQL, each over a fresh
//! database seeded with a realistic history so listings, SLOs and rollbacks have items.
//!
//! The run is bounded (`PACER_CONFORMANCE_EXAMPLES` cases per operation, 25 by default) and
//! seeded (`PACER_CONFORMANCE_SEED`) so CI stays within a couple of minutes and repeats itself;
//! README.md says how to run it longer. Without schemathesis
//! the test prints `skipped: …` (and fails under `PACER_REQUIRE_ALL=1`).

use std::process::Stdio;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, require_all};
use crate::on_both;

/// The checks that must hold for every response (schemathesis's names, as of the version
/// `.ci/run` pins).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// An SLO on `sli` events and a dry-run rollback policy, so both have something to show; no
/// per-IP rate limit, since every generated request comes from one client.
const CONFIG: &str = "[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\n\
                      [[rollback]]\nservice = \"checkout\"\npolicy = \"dry_run\"\n\
                      [limits]\nip_requests_per_sec = 0.0\n";

/// `minutes` before now, RFC 3339.
fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A little of everything: a commit graph, deployments (one failed, one rolled back), merged
/// pull requests (one of unknown size) and one waiting for a first review, an incident, CI runs
/// (a flaky failure passed by a retry, a cancelled run, waits over their budgets), SLI counts,
/// and an alert that pacer answers with a dry-run rollback.
async fn seed(app: &TestApp) {
    let events = json!([
        {"type": "commit", "id": "c1", "committed_at": ago(600), "repository": "acme/checkout", "service": "checkout"},
        {"type": "commit", "id": "c2", "committed_at": ago(300), "repository": "acme/checkout", "parents": ["c1"], "author": "ada", "message": "faster"},
        {"type": "commit", "id": "c3", "committed_at": ago(100), "repository": "acme/checkout", "parents": ["c2"]},
        {"type": "pull_request", "id": "acme/checkout#7", "repository": "acme/checkout", "number": 7, "opened_at": ago(290),
         "first_review_at": ago(280), "merged_at": ago(250), "merge_commit_sha": "c2", "additions": 10, "deletions": 2},
        {"type": "deployment", "id": "d1", "service": "checkout", "commit_sha": "c1", "status": "success", "started_at": ago(500), "finished_at": ago(490), "team": "payments"},
        {"type": "deployment", "id": "d2", "service": "checkout", "commit_sha": "c2", "status": "success", "started_at": ago(200), "finished_at": ago(190), "version": "v2",
         "commits": [{"sha": "c2", "committed_at": ago(300)}]},
        {"type": "deployment", "id": "d3", "service": "checkout", "commit_sha": "c3", "status": "success", "finished_at": ago(20), "version": "v3"},
        {"type": "deployment", "id": "d4", "service": "checkout", "commit_sha": "c2", "status": "success", "finished_at": ago(150), "rollback_of": "d2"},
        {"type": "deployment", "id": "d5", "service": "search", "status": "in_progress", "started_at": ago(5)},
        {"type": "incident", "id": "i1", "service": "checkout", "opened_at": ago(185), "resolved_at": ago(140), "severity": "sev2", "title": "errors", "deployment_id": "d2"},
        {"type": "ci_run", "id": "r1", "pipeline": "build", "status": "success", "started_at": ago(310), "finished_at": ago(305), "stage": "post_merge", "repository": "acme/checkout", "commit_sha": "c2"},
        {"type": "ci_run", "id": "r2", "pipeline": "test", "status": "failure", "queued_at": ago(122), "started_at": ago(120), "finished_at": ago(116), "stage": "pull_request",
         "repository": "acme/checkout", "service": "checkout", "commit_sha": "c3", "branch": "faster-search", "url": "https://ci.example/r2"},
        {"type": "ci_run", "id": "r3", "pipeline": "test", "status": "success", "queued_at": ago(110), "started_at": ago(100), "finished_at": ago(85), "stage": "pull_request",
         "repository": "acme/checkout", "service": "checkout", "commit_sha": "c3", "branch": "faster-search", "attempt": 2, "url": "https://ci.example/r3"},
        {"type": "ci_run", "id": "r4", "pipeline": "lint", "status": "cancelled", "started_at": ago(60), "finished_at": ago(59), "stage": "pre_commit", "service": "checkout"},
        {"type": "ci_run", "id": "r5", "pipeline": "lint", "status": "success", "started_at": ago(58), "finished_at": ago(57), "stage": "pre_commit", "service": "checkout"},
        {"type": "pull_request", "id": "acme/checkout#8", "repository": "acme/checkout", "number": 8, "opened_at": ago(95), "service": "checkout",
         "merged_at": ago(60), "merge_commit_sha": "c3"},
        {"type": "pull_request", "id": "acme/checkout#9", "repository": "acme/checkout", "number": 9, "opened_at": ago(45), "service": "checkout", "author": "grace"},
        {"type": "sli", "service": "checkout", "at": ago(3), "good": 990, "total": 1000},
        {"type": "sli", "service": "checkout", "at": ago(90), "good": 1000, "total": 1000},
    ]);
    app.ingest(events).await;
    let alert = json!({"version": "4", "status": "firing", "receiver": "pacer", "alerts": [{
        "status": "firing", "labels": {"alertname": "High5xx", "service": "checkout", "environment": "production"},
        "annotations": {"summary": "5xx above 5 %"}, "startsAt": ago(10), "fingerprint": "f1"}]});
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert).send().await.expect("request");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["rollbacks"].as_array().map(Vec::len), Some(1), "the alert leads to a dry-run rollback: {answer}");
    // The CI and PR reads have items to describe, so their schemas meet real answers.
    let seeded = [
        ("/api/v1/ci/pipelines?by=service", "/groups"),
        ("/api/v1/ci/budgets", "/breaches"),
        ("/api/v1/prs/stages", "/teams"),
        ("/api/v1/prs/throughput", "/waiting_for_first_review"),
    ];
    for (path, list) in seeded {
        let read = app.get(path).await;
        assert!(read.pointer(list).and_then(Value::as_array).is_some_and(|items| !items.is_empty()), "{path} lists nothing at {list}: {read:#}");
    }
}

/// Whether schemathesis answers; otherwise prints why the test is skipped (or fails under
/// `PACER_REQUIRE_ALL=1`).
fn schemathesis_present() -> bool {
    let found = std::process::Command::new("schemathesis").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    match found {
        Ok(status) if status.success() => true,
        other => {
            assert!(!require_all(), "schemathesis is required (PACER_REQUIRE_ALL=1) but does not run: {other:?}");
            println!("skipped: schemathesis is not installed (pip install schemathesis)");
            false
        }
    }
}

async fn conforms(backend: Backend) {
    if !schemathesis_present() {
        return;
    }
    let Some(app) = TestApp::spawn_with_config(backend, CONFIG, &[]).await else { return };
    seed(&app).await;
    let examples = std::env::var("PACER_CONFORMANCE_EXAMPLES").unwrap_or_else(|_| "25".to_owned());
    let seed = std::env::var("PACER_CONFORMANCE_SEED").unwrap_or_else(|_| "20261201".to_owned());
    let workdir = std::env::temp_dir().join(crate::helpers::unique("schemathesis"));
    std::fs::create_dir_all(&workdir).expect("a work directory");
    let url = app.url("/api/v1/openapi.json");
    let dir = workdir.clone();
    // Blocking on the child in its own thread keeps the runtime free to serve its requests.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            .current_dir(dir)
            .args(["run", &url, "--checks", CHECKS, "--max-examples", &examples])
            .args(["--phases", "examples,coverage,fuzzing", "--seed", &seed, "--workers", "1", "--request-timeout", "30"])
            .args(["--no-color", "--output-truncate", "false"])
            .output()
    })
    .await
    .expect("the schemathesis thread finishes")
    .expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&workdir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis found problems on {backend:?}:\n{stdout}\n{stderr}");
    // A run that tested nothing would also exit 0.
    assert!(stdout.contains("passed"), "schemathesis reported no passed operations on {backend:?}:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_document_on_sqlite() {
    conforms(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_document_on_postgres() {
    conforms(Backend::Postgres).await;
}

#[tokio::test]
async fn the_document_is_served_and_every_operation_reaches_a_handler() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    let response = app.client.get(app.url("/api/v1/openapi.json")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = path.replace("{id}", "x").replace("{name}", "x").replace("{file}", "lead-time.svg");
        for method in item.as_object().expect("path item").keys() {
            let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("an HTTP method");
            let response = app.client.request(method.clone(), app.url(&concrete)).send().await.expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            // The router's fallbacks answer paths and methods no handler serves.
            assert!(!body.contains("no endpoint at this path") && status != 405, "{method} {path} is not served: {status} {body}");
            operations += 1;
        }
    }
    assert!(operations > 35, "expected every operation but found {operations}");
}

on_both!(a_nul_character_in_a_path_a_query_or_a_native_event_is_a_client_error_and_stores_nothing, |app| {
    let event = |id: &str| json!({"type": "deployment", "id": id, "service": "checkout", "status": "success", "finished_at": ago(1)});
    let cases: [(&str, &str, Option<Value>, u16); 5] = [
        ("a query parameter", "/api/v1/dora?environment=prod%00uction", None, 400),
        ("a repeated service", "/api/v1/deployments?service=a&service=b%00", None, 400),
        ("a path id", "/api/v1/deployments/d%001", None, 404),
        ("a rollback id", "/api/v1/rollbacks/r%00", None, 404),
        ("a native event id", "/api/v1/events", Some(json!([event("fine"), event("d\u{0}1")])), 400),
    ];
    for (what, path, body, status) in cases {
        let request = match &body {
            Some(body) => app.client.post(app.url(path)).json(body),
            None => app.client.get(app.url(path)),
        };
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), status, "NUL in {what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "NUL in {what}");
    }
    let listed = app.get("/api/v1/deployments").await;
    assert_eq!(listed["items"], json!([]), "nothing of the refused batch was stored");
});

on_both!(a_team_and_services_that_do_not_meet_list_nothing_on_every_read, |app| {
    app.ingest(json!([
        {"type": "deployment", "id": "d1", "service": "checkout", "status": "success", "finished_at": ago(30), "team": "payments"},
        {"type": "incident", "id": "i1", "service": "checkout", "opened_at": ago(20)},
    ]))
    .await;
    for path in ["/api/v1/deployments?team=payments&service=search", "/api/v1/incidents?team=payments&service=search"] {
        assert_eq!(app.get(path).await["items"], json!([]), "{path}");
    }
    assert_eq!(app.get("/api/v1/dora?team=payments&service=search").await["deployment_frequency"]["deployments"], 0);
    let page = app.client.get(app.url("/?team=payments&service=search")).send().await.expect("request");
    assert_eq!(page.status(), 200, "the web page with an empty scope");
    let grafana = json!({"range": {"from": "now-1d", "to": "now"}, "filters": [{"key": "team", "value": "payments"}, {"key": "service", "value": "search"}],
                         "targets": [{"target": "deployments_table"}, {"target": "incidents_table"}]});
    let tables: Value = app.client.post(app.url("/grafana/query")).json(&grafana).send().await.expect("request").json().await.expect("json");
    assert_eq!(tables[0]["rows"], json!([]), "{tables}");
});
