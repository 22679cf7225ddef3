//! Scale-out on PostgreSQL: two and three `pacer serve` processes on one database behind a
//! round-robin client store every event exactly once, and roll back each bad deployment once
//! however many replicas hear the alert. (One report per recipient across replicas is in
//! `report.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use pacer_engine::model::Fact;
use pacer_generator::{Spec, generate, to_ndjson};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database};
use crate::hooks::{PacerProcess, Receiver};

/// Events per request.
const BATCH: usize = 150;
/// Concurrent clients.
const CLIENTS: usize = 4;

/// Rows per fact table, read straight from the database.
async fn row_counts(url: &str) -> BTreeMap<&'static str, i64> {
    let mut db = sqlx::PgConnection::connect(url).await.expect("connect");
    let mut counts = BTreeMap::new();
    for table in ["deployments", "deployment_commits", "commits", "commit_parents", "pull_requests", "incidents", "ci_runs", "sli_samples"] {
        let sql = format!("SELECT count(*) FROM {table}");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(&mut db).await.expect("count");
        counts.insert(table, n);
    }
    counts
}

/// What a user reads: the DORA summary per environment and the listings, over the whole history.
async fn numbers(base: &str, spec: &Spec) -> Value {
    let client = reqwest::Client::new();
    let at = |ms| pacer_engine::calendar::rfc3339(ms).replace(':', "%3A").replace('+', "%2B");
    let window = format!("from={}&to={}", at(spec.start()), at(spec.end + 1));
    let mut out = serde_json::Map::new();
    for path in [
        format!("/api/v1/dora?{window}"),
        format!("/api/v1/dora?{window}&environment=staging"),
        format!("/api/v1/dora/series?{window}&metric=lead_time&interval=week"),
    ] {
        let response = client.get(format!("{base}{path}")).send().await.expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        out.insert(path, response.json().await.expect("json"));
    }
    Value::Object(out)
}

/// Posts every batch to replica `i % n` and then again to the next replica, as a retrying load
/// balancer would; every answer must be a success.
async fn spread(bases: &[String], batches: Arc<Vec<String>>) {
    let client = reqwest::Client::new();
    let bases = Arc::new(bases.to_vec());
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CLIENTS {
        let (client, bases, batches) = (client.clone(), Arc::clone(&bases), Arc::clone(&batches));
        tasks.spawn(async move {
            for (i, body) in batches.iter().enumerate().skip(worker).step_by(CLIENTS) {
                for base in [&bases[i % bases.len()], &bases[(i + 1) % bases.len()]] {
                    let response = client
                        .post(format!("{base}/api/v1/events"))
                        .header("content-type", "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("request");
                    let status = response.status();
                    assert!(status.is_success(), "batch {i} to {base}: {status} {}", response.text().await.unwrap_or_default());
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_and_three_replicas_behind_a_round_robin_client_store_every_event_once() {
    let end = pacer_api::now();
    let spec = Spec { days: 21, services: 4, ..Spec::demo(end) };
    let facts: Vec<Fact> = generate(&spec).collect();
    let keys: BTreeSet<(&str, String)> = facts.iter().map(pacer_collector::key).collect();
    let batches: Arc<Vec<String>> = Arc::new(facts.iter().map(to_ndjson).collect::<Vec<_>>().chunks(BATCH).map(|c| c.join("\n")).collect());

    // The reference: the same events sent once, in order, to one process.
    let Some((reference_url, _reference_guard)) = fresh_database(Backend::Postgres).await else { return };
    let reference = TestApp::start(reference_url.clone(), CleanupGuard::none(), None, &[]).await;
    for body in batches.iter() {
        let response = reference.client.post(reference.url("/api/v1/events")).header("content-type", "application/x-ndjson").body(body.clone()).send().await.expect("request");
        assert_eq!(response.status(), 200);
    }
    let expected_rows = row_counts(&reference_url).await;
    let expected_numbers = numbers(&reference.base, &spec).await;
    let stored_keys = expected_rows["deployments"] + expected_rows["commits"] + expected_rows["pull_requests"] + expected_rows["incidents"] + expected_rows["ci_runs"];
    assert_eq!(stored_keys, keys.iter().filter(|(kind, _)| *kind != "sli").count() as i64, "the reference stored each generated fact once");
    assert!(expected_numbers.to_string().contains("\"median_seconds\":"), "the history has lead times: {expected_numbers}");

    for n in [2, 3] {
        let Some((url, _guard)) = fresh_database(Backend::Postgres).await else { return };
        pacer::app::open_store(&url).await.expect("migrate").close().await;
        let replicas: Vec<PacerProcess> = (0..n).map(|_| PacerProcess::start(&url, "")).collect();
        let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
        spread(&bases, Arc::clone(&batches)).await;
        assert_eq!(row_counts(&url).await, expected_rows, "{n} replicas: every row once, none lost");
        for base in &bases {
            assert_eq!(numbers(base, &spec).await, expected_numbers, "{n} replicas: {base} gives the numbers of one process");
        }
    }
}

/// A good deployment two hours ago and a bad one five minutes ago for each service.
fn histories(services: &[String]) -> Value {
    let ago = |minutes: i64| pacer_engine::calendar::rfc3339(pacer_api::now() - minutes * 60_000);
    let mut events = Vec::new();
    for service in services {
        events.push(json!({"type": "deployment", "id": format!("{service}-good"), "service": service, "status": "success", "finished_at": ago(120)}));
        events.push(json!({"type": "deployment", "id": format!("{service}-bad"), "service": service, "status": "success", "finished_at": ago(5)}));
    }
    Value::Array(events)
}

fn alert(service: &str) -> Value {
    let starts = pacer_engine::calendar::rfc3339(pacer_api::now() - 60_000);
    json!({
        "version": "4", "status": "firing", "receiver": "pacer", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager", "groupKey": format!("{{}}:{{service=\"{service}\"}}"), "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": {"alertname": "High5xx", "service": service}, "annotations": {},
                    "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": format!("{service}-5xx")}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_heard_by_three_replicas_roll_back_each_bad_deployment_once() {
    let Some((url, _guard)) = fresh_database(Backend::Postgres).await else { return };
    let receiver = Receiver::start().await;
    let toml = format!(
        "[[rollback]]\npolicy = \"auto\"\ncooldown_secs = 0\nmax_per_hour = 100\n[[rollback.hooks]]\nurl = \"{}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout_secs = 2\n",
        receiver.url
    );
    let services: Vec<String> = (0..6).map(|i| format!("svc{i}")).collect();
    let seed = TestApp::start(url.clone(), CleanupGuard::none(), Some(&toml), &[]).await;
    seed.ingest(histories(&services)).await;
    let replicas: Vec<PacerProcess> = (0..3).map(|_| PacerProcess::start(&url, &toml)).collect();

    // Every replica hears every alert three times, all at once (Alertmanager HA peers re-sending
    // through a round-robin balancer).
    let client = reqwest::Client::new();
    let mut posts = tokio::task::JoinSet::new();
    for _round in 0..3 {
        for service in &services {
            for replica in &replicas {
                let (client, base, body) = (client.clone(), replica.base.clone(), alert(service));
                posts.spawn(async move {
                    let response = client.post(format!("{base}/webhooks/alertmanager")).json(&body).send().await.expect("request");
                    assert_eq!(response.status(), 200);
                    let answer: Value = response.json().await.expect("json");
                    answer["rollbacks"].as_array().map_or(0, Vec::len)
                });
            }
        }
    }
    let mut created = 0;
    while let Some(answer) = posts.join_next().await {
        created += answer.expect("task");
    }
    assert_eq!(created, services.len(), "one rollback per bad deployment among {} alert deliveries", 9 * services.len());
    receiver.wait_for(services.len(), Duration::from_secs(20)).await;
    // Time for a duplicate delivery, were there one, to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.requests().len(), services.len(), "one hook request per rollback");
    let rolled_back: BTreeSet<String> =
        receiver.requests().iter().map(|r| r.json()["deployment"]["id"].as_str().unwrap_or("").to_owned()).collect();
    let bad: BTreeSet<String> = services.iter().map(|s| format!("{s}-bad")).collect();
    assert_eq!(rolled_back, bad, "each bad deployment, and only those");
    let ids: BTreeSet<String> = receiver.requests().iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert_eq!(ids.len(), services.len(), "distinct webhook ids");
    assert_eq!(seed.get("/api/v1/rollbacks").await["items"].as_array().map(Vec::len), Some(services.len()));
}
