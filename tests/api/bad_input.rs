//! Every kind of bad input gets a 4xx `application/problem+json` naming each problem, and nothing
//! of the request is stored.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::{deploy, t};

struct Case {
    description: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    /// Pointers every one of which must be named in `errors`.
    pointers: &'static [&'static str],
}

fn json_case(description: &'static str, body: Value, pointers: &'static [&'static str]) -> Case {
    Case { description, content_type: "application/json", body: body.to_string().into_bytes(), status: 400, pointers }
}

fn cases() -> Vec<Case> {
    let good = deploy("good", "shop", "a", 1.0);
    vec![
        Case { description: "invalid JSON", content_type: "application/json", body: b"{\"type\":".to_vec(), status: 400, pointers: &[""] },
        json_case("a wrong type", json!({"type": "deployment", "id": 5, "service": "shop", "status": "success", "finished_at": t(1.0)}), &["/0/id"]),
        json_case("a missing required field", json!({"type": "deployment", "id": "d", "status": "success", "finished_at": t(1.0)}), &["/0/service"]),
        json_case("an unknown type", json!({"type": "deploy", "id": "d"}), &["/0/type"]),
        json_case("an unknown field", json!({"type": "commit", "id": "a", "committed_at": t(0.0), "colour": "red"}), &["/0/colour"]),
        json_case("a timestamp without an offset", json!({"type": "commit", "id": "a", "committed_at": "2026-01-05T00:00:00"}), &["/0/committed_at"]),
        json_case(
            "finished_at before started_at",
            json!({"type": "deployment", "id": "d", "service": "shop", "status": "success", "started_at": t(2.0), "finished_at": t(1.0)}),
            &["/0/finished_at"],
        ),
        json_case("success without finished_at", json!({"type": "deployment", "id": "d", "service": "shop", "status": "success"}), &["/0/finished_at"]),
        json_case(
            "negative numbers",
            json!([{"type": "pull_request", "id": "p", "repository": "acme/shop", "number": 1, "opened_at": t(0.0), "additions": -1},
                   {"type": "sli", "service": "shop", "at": t(0.0), "good": -1, "total": 10}]),
            &["/0/additions", "/1/good"],
        ),
        Case {
            description: "deeply nested JSON",
            content_type: "application/json",
            body: format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(),
            status: 400,
            pointers: &[""],
        },
        json_case("an empty batch", json!([]), &[""]),
        json_case("an event that is not an object", json!([good.clone(), 3]), &["/1"]),
        json_case(
            "one bad event among good ones",
            json!([good.clone(), {"type": "incident", "id": "i", "service": "shop"}, deploy("good2", "shop", "b", 2.0)]),
            &["/1/opened_at"],
        ),
        Case {
            description: "a bad NDJSON line among good ones",
            content_type: "application/x-ndjson",
            body: format!("{good}\nnot json\n{good}\n").into_bytes(),
            status: 400,
            pointers: &["/1"],
        },
        Case {
            description: "a body over the limit",
            content_type: "application/json",
            // Just over the 64 KiB limit: small enough to sit in the socket buffer, so the early 413 does
            // not race a client still writing.
            body: format!("[{}]", vec![good.to_string(); 450].join(",")).into_bytes(),
            status: 413,
            pointers: &[],
        },
        Case { description: "an unsupported media type", content_type: "text/plain", body: good.to_string().into_bytes(), status: 415, pointers: &[] },
    ]
}

async fn every_bad_request_is_a_problem_and_stores_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[("PACER_MAX_BODY_BYTES", "65536")]).await else { return };
    for case in cases() {
        let response = app
            .client
            .post(app.url("/api/v1/events"))
            .header("content-type", case.content_type)
            .body(case.body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let problem: Value = response.json().await.expect("a JSON body");
        assert_eq!(status, case.status, "{}: {problem:#}", case.description);
        assert_eq!(media, "application/problem+json", "{}", case.description);
        assert_eq!(problem["status"], case.status, "{}", case.description);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}: {problem:#}", case.description);
        let named: Vec<&str> = problem["errors"].as_array().map(|e| e.iter().filter_map(|e| e["pointer"].as_str()).collect()).unwrap_or_default();
        for pointer in case.pointers {
            assert!(named.contains(pointer), "{}: expected a problem at {pointer:?} in {problem:#}", case.description);
        }
    }
    let stored = app.get("/api/v1/deployments").await;
    assert_eq!(stored["items"], json!([]), "nothing of a rejected request is stored");
    assert_eq!(app.dora("from=now-3650d").await["deployment_frequency"]["deployments"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_a_problem_and_stores_nothing_on_sqlite() {
    every_bad_request_is_a_problem_and_stores_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_a_problem_and_stores_nothing_on_postgres() {
    every_bad_request_is_a_problem_and_stores_nothing(Backend::Postgres).await;
}

#[tokio::test]
async fn bad_query_parameters_and_unknown_paths_are_problems() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    for (path, status, parameter) in [
        ("/api/v1/dora?from=yesterday", 400, "?from"),
        ("/api/v1/dora?from=now-1d&to=now-2d", 400, "?from"),
        ("/api/v1/dora?benchmarks=2019", 400, "?benchmarks"),
        ("/api/v1/dora?servce=shop", 400, "?servce"),
        ("/api/v1/dora/series?interval=hour", 400, "?interval"),
        ("/api/v1/dora/series?metric=mttr", 400, "?metric"),
        ("/api/v1/dora/series?interval=day&from=now-36500d", 400, "?interval"),
        ("/api/v1/deployments?limit=0", 400, "?limit"),
        ("/api/v1/deployments?cursor=abc", 400, "?cursor"),
        ("/api/v1/deployments?status=done", 400, "?status"),
        ("/api/v1/deployments/nope", 404, ""),
        ("/api/v2/nothing", 404, ""),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
        let problem: Value = response.json().await.expect("json");
        if !parameter.is_empty() {
            assert_eq!(problem["errors"][0]["pointer"], parameter, "{path}: {problem}");
        }
    }
    let response = app.client.delete(app.url("/api/v1/dora")).send().await.expect("request");
    assert_eq!(response.status(), 405);
}
