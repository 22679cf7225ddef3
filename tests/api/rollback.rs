//! The loop closed: an alert after a deployment → one signed rollback hook → the rollback
//! deployment → exact metrics. Exactly once under duplicates and replicas, resumed after a crash.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use pacer_rollback::sign;
use serde_json::{Value, json};

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database};
use crate::hooks::{PacerProcess, Receiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) fn ago(minutes: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn config(policy: &str, hooks: &[&str]) -> String {
    let mut toml = format!("[[rollback]]\nservice = \"checkout\"\npolicy = \"{policy}\"\ncooldown_secs = 0\nmax_per_hour = 100\n");
    for hook in hooks {
        toml.push_str(&format!("[[rollback.hooks]]\nurl = \"{hook}\"\nsecret = \"{SECRET}\"\ntimeout_secs = 2\n"));
    }
    toml
}

/// A good release two hours ago and a bad one five minutes ago, with the commit and PR it shipped.
pub(crate) fn history() -> Value {
    json!([
        {"type": "commit", "id": "c1", "committed_at": ago(180), "repository": "acme/checkout"},
        {"type": "commit", "id": "c2", "committed_at": ago(30), "repository": "acme/checkout", "parents": ["c1"], "message": "Cache prices\n\nlonger body", "author": "ana"},
        {"type": "pull_request", "id": "acme/checkout#7", "repository": "acme/checkout", "number": 7, "opened_at": ago(60), "merged_at": ago(30), "merge_commit_sha": "c2"},
        {"type": "deployment", "id": "v1", "service": "checkout", "version": "1.0.0", "commit_sha": "c1", "status": "success", "finished_at": ago(120)},
        {"type": "deployment", "id": "v2", "service": "checkout", "version": "1.1.0", "commit_sha": "c2", "status": "success", "finished_at": ago(5), "url": "https://ci.example/v2"},
    ])
}

pub(crate) fn alert(status: &str, starts: &str, ends: Option<&str>) -> Value {
    json!({
        "version": "4", "status": status, "receiver": "pacer", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager", "groupKey": "{}:{alertname=\"High5xx\"}", "truncatedAlerts": 0,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "High5xx", "service": "checkout", "severity": "page"},
            "annotations": {"summary": "5xx above 5 %"},
            "startsAt": starts, "endsAt": ends.unwrap_or("0001-01-01T00:00:00Z"),
            "generatorURL": "http://prometheus/graph?g0.expr=rate", "fingerprint": "a1b2c3d4e5f60708"
        }]
    })
}

async fn post_alert(client: &reqwest::Client, base: &str, body: &Value) -> Value {
    let response = client.post(format!("{base}/webhooks/alertmanager")).json(body).send().await.expect("request");
    let status = response.status();
    let json: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{json:#}");
    json
}

fn assert_signed(request: &crate::hooks::Received) {
    let id = &request.headers["webhook-id"];
    let timestamp: i64 = request.headers["webhook-timestamp"].parse().expect("timestamp");
    assert!(sign::verify(SECRET, id, timestamp, &request.body, &request.headers["webhook-signature"]), "signature verifies");
}

async fn an_alert_after_a_deployment_fires_one_signed_hook_and_closes_the_loop(backend: Backend) {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &config("auto", &[&hook.url]), &[]).await else { return };
    app.ingest(history()).await;
    let started = ago(1);
    let first = post_alert(&app.client, &app.base, &alert("firing", &started, None)).await;
    assert_eq!(first["rollbacks"].as_array().map(Vec::len), Some(1), "{first}");

    let requests = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(requests.len(), 1);
    assert_signed(&requests[0]);
    let report = requests[0].json();
    assert_eq!(report["deployment"]["id"], "v2");
    assert_eq!(report["deployment"]["version"], "1.1.0");
    assert_eq!(report["target"]["id"], "v1");
    assert_eq!(report["target"]["commit_sha"], "c1");
    assert_eq!(report["trigger"]["alert"], "High5xx");
    assert_eq!(report["trigger"]["labels"]["severity"], "page");
    assert_eq!(report["changes"]["commits"][0]["sha"], "c2");
    assert_eq!(report["changes"]["commits"][0]["message"], "Cache prices");
    assert_eq!(report["changes"]["pull_requests"][0]["number"], 7);
    assert_eq!(report["changes"]["compare_url"], "https://github.com/acme/checkout/compare/c1...c2");
    assert!(report["reason"].as_str().is_some_and(|r| r.contains("High5xx") && r.contains("1.1.0") && r.contains("1.0.0")), "{report}");

    // Alertmanager repeats itself; nothing more is sent.
    for _ in 0..5 {
        let again = post_alert(&app.client, &app.base, &alert("firing", &started, None)).await;
        assert_eq!(again["rollbacks"], json!([]));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(hook.requests().len(), 1, "exactly one hook request");

    let id = first["rollbacks"][0].as_str().expect("id").to_owned();
    let rollback = app.get(&format!("/api/v1/rollbacks/{id}")).await;
    assert_eq!(rollback["state"], "delivered", "{rollback:#}");
    assert_eq!(rollback["deliveries"][0]["attempts"][0]["status_code"], 200);
    assert_eq!(rollback["deliveries"][0]["webhook_id"], requests[0].headers["webhook-id"]);

    // The errors stop, the alert resolves, the deployer reports the rollback it made.
    post_alert(&app.client, &app.base, &alert("resolved", &started, Some(&ago(0)))).await;
    app.ingest(json!({"type": "deployment", "id": "v3", "service": "checkout", "version": "1.0.0", "commit_sha": "c1",
                      "status": "success", "finished_at": ago(0), "rollback_of": "v2"}))
        .await;
    let dora = app.dora("").await;
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora:#}");
    assert_eq!(dora["failed_deployment_recovery_time"]["recovered"], 1, "{dora:#}");
    assert!(dora["failed_deployment_recovery_time"]["median_seconds"].as_f64().is_some_and(|s| (200.0..400.0).contains(&s)), "{dora:#}");
    assert_eq!(dora["time_to_restore"]["incidents"], 1, "{dora:#}");
    assert_eq!(app.get(&format!("/api/v1/rollbacks/{id}")).await["carried_out_by"]["id"], "v3");
    let incident = &app.get("/api/v1/incidents").await["items"][0];
    assert_eq!(incident["deployment_id"], "v2", "the alert is attributed to the deployment in the guard window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_after_a_deployment_fires_one_signed_hook_and_closes_the_loop_on_sqlite() {
    an_alert_after_a_deployment_fires_one_signed_hook_and_closes_the_loop(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_after_a_deployment_fires_one_signed_hook_and_closes_the_loop_on_postgres() {
    an_alert_after_a_deployment_fires_one_signed_hook_and_closes_the_loop(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_policy_waits_for_approval_and_dry_run_fires_nothing() {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(Backend::Sqlite, &config("manual", &[&hook.url]), &[]).await else { return };
    app.ingest(history()).await;
    let posted = post_alert(&app.client, &app.base, &alert("firing", &ago(1), None)).await;
    let id = posted["rollbacks"][0].as_str().expect("a rollback awaits approval").to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(hook.requests().is_empty(), "nothing fires before approval");
    let waiting = app.get(&format!("/api/v1/rollbacks/{id}")).await;
    assert_eq!((&waiting["state"], &waiting["approved_by"]), (&json!("awaiting_approval"), &Value::Null), "{waiting:#}");
    let approve = app.client.post(app.url(&format!("/api/v1/rollbacks/{id}/approve"))).send().await.expect("request");
    assert_eq!(approve.status(), 202);
    let approved = app.get(&format!("/api/v1/rollbacks/{id}")).await;
    assert_eq!(approved["approved_by"], "api", "approved through the API, which needs no token here: {approved:#}");
    assert_eq!(hook.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    let again = app.client.post(app.url(&format!("/api/v1/rollbacks/{id}/approve"))).send().await.expect("request");
    assert_eq!(again.status(), 409);
    let missing = app.client.post(app.url("/api/v1/rollbacks/rb_nope/approve")).send().await.expect("request");
    assert_eq!(missing.status(), 404);

    let Some(dry) = TestApp::spawn_with_config(Backend::Sqlite, &config("dry_run", &[]), &[]).await else { return };
    dry.ingest(history()).await;
    let posted = post_alert(&dry.client, &dry.base, &alert("firing", &ago(1), None)).await;
    let id = posted["rollbacks"][0].as_str().expect("a dry-run rollback is recorded").to_owned();
    let recorded = dry.get(&format!("/api/v1/rollbacks/{id}")).await;
    assert_eq!(recorded["state"], "dry_run");
    assert_eq!(recorded["deliveries"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rollback_without_a_recent_deployment_or_for_a_rollback() {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(Backend::Sqlite, &config("auto", &[&hook.url]), &[]).await else { return };
    app.ingest(history()).await;
    // Started 40 minutes after v2: outside the 30-minute guard window.
    let late = post_alert(&app.client, &app.base, &alert("firing", &ago(-35), None)).await;
    assert_eq!(late["rollbacks"], json!([]));
    assert_eq!(late["skipped"][0]["reason"], "no_recent_deployment", "{late}");
    app.ingest(json!({"type": "deployment", "id": "v3", "service": "checkout", "commit_sha": "c1", "status": "success", "finished_at": ago(2), "rollback_of": "v2"})).await;
    let after_rollback = post_alert(&app.client, &app.base, &alert("firing", &ago(1), None)).await;
    assert_eq!(after_rollback["skipped"][0]["reason"], "is_rollback", "{after_rollback}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hook.requests().is_empty());
}

#[tokio::test]
async fn every_alert_fixture_is_accepted_and_bad_alerts_are_refused() {
    let toml = "[alerts]\nalertmanager_token = \"alertmanager-token-0123\"\ngrafana_secret = \"grafana-secret\"\n";
    let Some(app) = TestApp::spawn_with_config(Backend::Sqlite, toml, &[]).await else { return };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/alerts");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures beside the repository") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
        let body = std::fs::read(&path).expect("read");
        let request = if name.starts_with("grafana") {
            let signature = pacer_collector::signature::hmac_hex(b"grafana-secret", &body);
            app.client.post(app.url("/webhooks/grafana")).header("x-grafana-alerting-signature", signature)
        } else {
            app.client.post(app.url("/webhooks/alertmanager")).bearer_auth("alertmanager-token-0123")
        };
        let response = request.header("content-type", "application/json").body(body).send().await.expect("request");
        assert_eq!(response.status(), 200, "{name}: {:?}", response.text().await);
        seen += 1;
    }
    assert_eq!(seen, 9, "every fixture was sent");
    // The Kubernetes fixtures resolve alerts that name a service (job); they are incidents now.
    assert!(app.get("/api/v1/incidents?limit=500&from=now-36500d").await["items"].as_array().is_some_and(|i| !i.is_empty()));

    for (path, body, auth, status) in [
        ("/webhooks/alertmanager", "{", Some("alertmanager-token-0123"), 400),
        ("/webhooks/alertmanager", r#"{"alerts": 3}"#, Some("alertmanager-token-0123"), 400),
        ("/webhooks/alertmanager", r#"{"alerts": [{"labels": {}}]}"#, Some("alertmanager-token-0123"), 400),
        ("/webhooks/alertmanager", r#"{"alerts": []}"#, None, 401),
        ("/webhooks/alertmanager", r#"{"alerts": []}"#, Some("wrong-token-0123456"), 401),
        ("/webhooks/grafana", r#"{"alerts": []}"#, None, 401),
    ] {
        let mut request = app.client.post(app.url(path)).body(body);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{path} {body}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let forged = app.client.post(app.url("/webhooks/grafana")).header("x-grafana-alerting-signature", "00ff").body(r#"{"alerts": []}"#).send().await.expect("request");
    assert_eq!(forged.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_duplicate_alerts_across_two_processes_make_one_rollback_and_one_delivery_per_hook() {
    let Some((url, _guard)) = fresh_database(Backend::Postgres).await else { return };
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    let toml = config("auto", &[&first.url, &second.url]);
    // Migrate and load the history through one replica, then start the second.
    let seed = TestApp::start(url.clone(), CleanupGuard::none(), Some(&toml), &[]).await;
    seed.ingest(history()).await;
    let replicas = [PacerProcess::start(&url, &toml), PacerProcess::start(&url, &toml)];
    let client = reqwest::Client::new();
    let body = alert("firing", &ago(1), None);
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (client, base, body) = (client.clone(), replicas[i % 2].base.clone(), body.clone());
        posts.spawn(async move { post_alert(&client, &base, &body).await });
    }
    let mut created = 0;
    while let Some(answer) = posts.join_next().await {
        created += answer.expect("task")["rollbacks"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(created, 1, "one rollback among 50 duplicates");
    assert_eq!(first.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    assert_eq!(second.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(first.requests().len(), 1, "one delivery per hook");
    assert_eq!(second.requests().len(), 1, "one delivery per hook");
    assert_eq!(seed.get("/api/v1/rollbacks").await["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pacer_completes_the_delivery_after_restart_with_the_same_id_and_body() {
    let Some((url, _guard)) = fresh_database(Backend::Sqlite).await else { return };
    let hook = Receiver::start().await;
    hook.answer(503);
    let toml = config("auto", &[&hook.url]);
    let pacer = PacerProcess::start(&url, &toml);
    let client = reqwest::Client::new();
    let loaded = client.post(format!("{}/api/v1/events", pacer.base)).json(&history()).send().await.expect("request");
    assert_eq!(loaded.status(), 200);
    post_alert(&client, &pacer.base, &alert("firing", &ago(1), None)).await;
    let failed = hook.wait_for(1, Duration::from_secs(10)).await;
    assert!(!failed.is_empty(), "the first attempt reached the hook");
    pacer.kill();

    hook.answer(200);
    let before = hook.requests().len();
    let restarted = PacerProcess::start(&url, &toml);
    let all = hook.wait_for(before + 1, Duration::from_secs(30)).await;
    assert!(all.len() > before, "the delivery resumed after the restart");
    let last = all.last().expect("delivered");
    assert_eq!(last.headers["webhook-id"], failed[0].headers["webhook-id"], "same webhook-id");
    assert_eq!(last.body, failed[0].body, "same body");
    assert_signed(last);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let rollbacks: Value = client.get(format!("{}/api/v1/rollbacks", restarted.base)).send().await.expect("request").json().await.expect("json");
    assert_eq!(rollbacks["items"][0]["state"], "delivered", "{rollbacks}");
    assert_eq!(hook.requests().len(), all.len(), "nothing is sent after the delivery succeeded");
}
