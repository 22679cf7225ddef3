//! Limits a flooding, oversized or slow client runs into: each answers with the right status,
//! a problem, `Retry-After` where a retry helps, and stores nothing of the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Backend, TestApp};
use crate::webhooks::patched;
use crate::{deploy, on_both, t};

/// Generous: no assertion depends on how fast the machine is, only on things happening.
const EVENTUALLY: Duration = Duration::from_secs(30);

/// A response's status, `Retry-After` and problem body, after checking it is a problem.
async fn problem(response: reqwest::Response) -> (u16, Option<u64>, Value) {
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(media, "application/problem+json", "{status}: {body}");
    assert_eq!(body["status"], status, "{body}");
    (status, retry, body)
}

async fn deployments(app: &TestApp) -> usize {
    app.get("/api/v1/deployments?limit=500").await["items"].as_array().map_or(0, Vec::len)
}

fn events(n: usize) -> Value {
    Value::Array((0..n).map(|i| deploy(&format!("d{i}"), "shop", "a", 1.0 + i as f64)).collect())
}

/// Nested `depth` arrays deep inside an event's field.
fn nested(depth: usize) -> String {
    format!(r#"{{"type":"commit","id":"a","committed_at":"{}","parents":{}"x"{}}}"#, t(0.0), "[".repeat(depth - 1), "]".repeat(depth - 1))
}

on_both!(bodies_depth_and_batches_over_their_limits_are_refused_and_store_nothing, env = [
    ("PACER_MAX_BODY_BYTES", "65536"),
    ("PACER_LIMITS_ALERT_BODY_BYTES", "2048"),
    ("PACER_LIMITS_QUERY_BODY_BYTES", "1024"),
    ("PACER_LIMITS_JSON_DEPTH", "8"),
    ("PACER_LIMITS_BATCH_EVENTS", "3"),
], |app| {
    let padding = "x".repeat(3_000);
    let cases: Vec<(&str, &str, &str, String, u16)> = vec![
        ("an alert over the alert limit", "/webhooks/alertmanager", "application/json", json!({"alerts": [], "padding": padding}).to_string(), 413),
        ("a Grafana query over the query limit", "/grafana/query", "application/json", json!({"targets": [], "padding": padding}).to_string(), 413),
        ("events over the ingest limit", "/api/v1/events", "application/json", json!([deploy("big", "shop", "a", 1.0), {"padding": "x".repeat(70_000)}]).to_string(), 413),
        ("four events over a batch of three", "/api/v1/events", "application/json", events(4).to_string(), 413),
        ("four NDJSON lines over a batch of three", "/api/v1/events", "application/x-ndjson", events(4).as_array().map(|a| a.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")).unwrap_or_default(), 413),
        ("JSON nested nine deep", "/api/v1/events", "application/json", nested(9), 400),
        ("an alert nested nine deep", "/webhooks/alertmanager", "application/json", format!(r#"{{"alerts":{}{}}}"#, "[".repeat(8), "]".repeat(8)), 400),
        ("a Grafana query nested nine deep", "/grafana/query", "application/json", format!(r#"{{"targets":{}{}}}"#, "[".repeat(8), "]".repeat(8)), 400),
    ];
    for (description, path, media, body, expected) in cases {
        let response = app.client.post(app.url(path)).header("content-type", media).body(body).send().await.expect("request");
        let (status, _, body) = problem(response).await;
        assert_eq!(status, expected, "{description}: {body:#}");
        if expected == 400 {
            assert!(body["errors"][0]["detail"].as_str().is_some_and(|d| d.contains("at most 8 levels")), "{description}: {body:#}");
        }
    }
    assert_eq!(deployments(&app).await, 0, "nothing of a refused request is stored");
    let (accepted, _) = app.ingest(events(3)).await;
    assert_eq!(accepted, 3, "a full batch within every limit is accepted");
    let alert = json!({"alerts": [], "padding": "x".repeat(1_500)});
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert).send().await.expect("request");
    assert_eq!(response.status(), 200, "an alert within its limit, though over the query limit");
    // Eight deep passes the depth check and is judged as an event (parents must be strings).
    let response = app.client.post(app.url("/api/v1/events")).header("content-type", "application/json").body(nested(8)).send().await.expect("request");
    let (_, _, body) = problem(response).await;
    assert_eq!(body["errors"][0]["pointer"], "/0/parents/0", "eight deep is within the limit: {body:#}");
});

on_both!(a_client_over_its_rate_gets_429_with_retry_after_and_health_stays_reachable, env = [
    ("PACER_LIMITS_IP_REQUESTS_PER_SEC", "0.01"),
    ("PACER_LIMITS_IP_BURST", "3"),
], |app| {
    for n in 0..3 {
        let response = app.post_events(&json!(deploy(&format!("d{n}"), "shop", "a", 1.0))).await;
        assert_eq!(response.status(), 200, "request {n} is within the burst");
    }
    let (status, retry, body) = problem(app.post_events(&json!(deploy("over", "shop", "a", 1.0))).await).await;
    assert_eq!(status, 429, "{body:#}");
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After in seconds: {retry:?}");
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("health").status(), 200, "probes are not rate limited");
    let (status, _, _) = problem(app.client.get(app.url("/api/v1/deployments")).send().await.expect("request")).await;
    assert_eq!(status, 429, "the limit is per client, whatever the route");
});

on_both!(each_token_has_its_own_rate, env = [
    ("PACER_LIMITS_TOKEN_REQUESTS_PER_SEC", "0.01"),
    ("PACER_LIMITS_TOKEN_BURST", "2"),
    ("PACER_LIMITS_IP_REQUESTS_PER_SEC", "0"),
], |app| {
    let mint = |name: &str| {
        let output = crate::cli::pacer().args(["token", "create", "--name", name, "--scope", "ingest,read", "--database", &app.database_url]).output().expect("run");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let (a, b) = (mint("a"), mint("b"));
    let post = |token: &str, id: &str| app.client.post(app.url("/api/v1/events")).bearer_auth(token).json(&json!(deploy(id, "shop", "a", 1.0))).send();
    assert_eq!(post(&a, "a1").await.expect("request").status(), 200);
    assert_eq!(post(&a, "a2").await.expect("request").status(), 200);
    let (status, retry, body) = problem(post(&a, "a3").await.expect("request")).await;
    assert_eq!((status, retry.is_some()), (429, true), "{body:#}");
    assert_eq!(post(&b, "b1").await.expect("request").status(), 200, "another token is not slowed by the first");
    let stored: Vec<String> = app.get("/api/v1/deployments").await["items"].as_array().map(|i| i.iter().filter_map(|d| d["id"].as_str().map(str::to_owned)).collect()).unwrap_or_default();
    assert!(!stored.contains(&"a3".to_owned()) && stored.len() == 3, "the limited request stored nothing: {stored:?}");
});

/// A Prometheus that accepts connections and never answers, so a query on its SLO waits; it
/// counts the connections it holds, and lets them go when the task is aborted.
async fn silent_prometheus() -> (tokio::task::JoinHandle<()>, Arc<AtomicUsize>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (task, count, url)
}

fn slo_config(prometheus: &str) -> String {
    format!(
        "[[slo]]\nname = \"avail\"\nservice = \"shop\"\nobjective = 99.9\n[slo.prometheus]\nurl = \"{prometheus}\"\n\
         total = \"sum(rate(t[$window]))\"\nerrors = \"sum(rate(e[$window]))\"\n\
         [limits]\nheavy_queries = 1\nheavy_queue_ms = 0\n"
    )
}

async fn heavy_queries_beyond_the_pool_get_503_with_retry_after(backend: Backend) {
    let (prometheus, connections, url) = silent_prometheus().await;
    let Some(app) = TestApp::spawn_with_config(backend, &slo_config(&url), &[]).await else { return };
    let chart = app.client.get(app.url("/charts/slo-burn.svg?slo=avail&from=now-1d&interval=day")).send();
    let held = tokio::spawn(chart);
    // The SLO evaluator holds one connection (its query waits 10 s); the chart, which holds the
    // only heavy slot while it waits, opens the second.
    let asked = async {
        while connections.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(EVENTUALLY, asked).await.expect("the chart asks Prometheus");
    let (status, retry, body) = problem(app.client.get(app.url("/api/v1/dora")).send().await.expect("request")).await;
    assert_eq!((status, retry), (503, Some(1)), "{body:#}");
    assert_eq!(body["type"], "/problems/busy", "{body:#}");
    assert_eq!(app.client.get(app.url("/api/v1/deployments")).send().await.expect("request").status(), 200, "light reads are not queued behind heavy ones");
    prometheus.abort();
    let _ = held.await;
    assert_eq!(app.client.get(app.url("/api/v1/dora")).send().await.expect("request").status(), 200, "the slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_queries_beyond_the_pool_get_503_with_retry_after_on_sqlite() {
    heavy_queries_beyond_the_pool_get_503_with_retry_after(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_queries_beyond_the_pool_get_503_with_retry_after_on_postgres() {
    heavy_queries_beyond_the_pool_get_503_with_retry_after(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_deadline_is_abandoned_with_503() {
    let (prometheus, _, url) = silent_prometheus().await;
    let config = format!("{}request_timeout_secs = 2\nbody_timeout_secs = 1\n", slo_config(&url));
    let Some(app) = TestApp::spawn_with_config(Backend::Sqlite, &config, &[]).await else { return };
    let response = app.client.get(app.url("/charts/slo-burn.svg?slo=avail&from=now-1d&interval=day")).send().await.expect("request");
    let (status, retry, body) = problem(response).await;
    assert_eq!((status, retry), (503, Some(1)), "{body:#}");
    assert_eq!(body["type"], "/problems/timed-out", "{body:#}");
    prometheus.abort();
}

/// Reads what the server sends until it closes the connection; `None` if it stays open past
/// [`EVENTUALLY`].
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4_096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(EVENTUALLY, read).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

on_both!(a_client_that_stalls_in_its_headers_or_body_is_cut_off_while_others_are_served, env = [
    ("PACER_LIMITS_HEADER_TIMEOUT_SECS", "1"),
    ("PACER_LIMITS_BODY_TIMEOUT_SECS", "1"),
    ("PACER_LIMITS_REQUEST_TIMEOUT_SECS", "20"),
], |app| {
    // The header timeout also closes a kept-alive connection idle for 1 s: a request sent on one
    // as it closes fails. Each request of this test opens its own connection.
    let mut app = app;
    app.client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut headers = TcpStream::connect(&addr).await.expect("connect");
    headers.write_all(b"POST /api/v1/events HTTP/1.1\r\nHost: pacer\r\nContent-Ty").await.expect("half a header line");
    let body = json!(deploy("slow", "shop", "a", 1.0)).to_string();
    let mut slow_body = TcpStream::connect(&addr).await.expect("connect");
    let head = format!("POST /api/v1/events HTTP/1.1\r\nHost: pacer\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    slow_body.write_all(head.as_bytes()).await.expect("headers");
    slow_body.write_all(&body.as_bytes()[..10]).await.expect("a tenth of the body");

    // While both stall, others are served.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("health").status(), 200);
    app.ingest(json!(deploy("fast", "shop", "b", 2.0))).await;

    let cut = until_closed(&mut headers).await;
    assert!(cut.is_some(), "the connection stalled in its headers is closed");
    let answered = until_closed(&mut slow_body).await.expect("the connection stalled in its body is closed");
    assert!(answered.starts_with("HTTP/1.1 408"), "a stalled body is answered 408: {answered}");
    assert!(answered.contains("application/problem+json"), "{answered}");
    let ids: Vec<Value> = app.get("/api/v1/deployments").await["items"].as_array().map(|i| i.iter().map(|d| d["id"].clone()).collect()).unwrap_or_default();
    assert_eq!(ids, vec![json!("fast")], "nothing of the slow request is stored");
});

on_both!(events_dated_beyond_the_tolerance_are_refused_naming_the_index_and_field, env = [("PACER_LIMITS_FUTURE_TOLERANCE_SECS", "3600")], |app| {
    let at = |hours: i64| (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339();
    let soon = json!({"type": "deployment", "id": "soon", "service": "shop", "status": "success", "finished_at": at(0)});
    let later = json!({"type": "deployment", "id": "later", "service": "shop", "status": "success", "finished_at": at(2)});
    let (status, _, body) = problem(app.post_events(&json!([soon, later])).await).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["errors"][0]["pointer"], "/1/finished_at", "{body:#}");
    assert!(body["errors"][0]["detail"].as_str().is_some_and(|d| d.contains("at most 1 h ahead")), "{body:#}");
    let github = patched("github/deployment_status.created.success.json", &[("/deployment_status/created_at", json!(at(24 * 365)))]);
    let (status, answer) = app.post_webhook("/webhooks/github", &[("x-github-event", "deployment_status")], github.to_string()).await;
    assert_eq!(status, 400, "a webhook from the future is refused too: {answer:#}");
    assert!(answer["errors"][0]["pointer"].as_str().is_some_and(|p| p.starts_with("/0/") && p.ends_with("_at")), "{answer:#}");
    assert_eq!(deployments(&app).await, 0, "nothing of either is stored");
    let within = json!({"type": "deployment", "id": "skewed", "service": "shop", "status": "success", "finished_at": (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339()});
    app.ingest(within).await;
});
