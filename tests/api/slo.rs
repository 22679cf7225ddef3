//! SLO burn from `sli` events: exact weighted ratios through the API, and a fast burn after a
//! deployment that rolls it back through the same loop as an alert.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::hooks::Receiver;

fn ago(seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9 * expected.abs().max(1.0))
}

async fn a_fast_burn_after_a_deployment_pages_and_rolls_it_back(backend: Backend) {
    let hook = Receiver::start().await;
    let toml = format!(
        "slo_interval_secs = 1\n\
         [[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\nmin_events = 100\n\
         [[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\n[[rollback.hooks]]\nurl = \"{}\"\n",
        hook.url
    );
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    let mut events = vec![
        json!({"type": "deployment", "id": "v1", "service": "checkout", "version": "1.0", "status": "success", "finished_at": ago(7_200)}),
        json!({"type": "deployment", "id": "v2", "service": "checkout", "version": "1.1", "status": "success", "finished_at": ago(660)}),
    ];
    // One sample a minute for an hour: clean until ten minutes ago, then half the requests fail.
    for minute in 0..60 {
        let good = if minute <= 10 { 500 } else { 1000 };
        events.push(json!({"type": "sli", "service": "checkout", "at": ago(minute * 60 + 1), "good": good, "total": 1000}));
    }
    app.ingest(Value::Array(events)).await;

    let slo = app.get("/api/v1/slos/checkout-availability").await;
    let five = &slo["windows"][0];
    assert_eq!(five["window"], "5m");
    assert!(close(&five["error_ratio"], 0.5), "{slo:#}");
    assert!(close(&five["burn_rate"], 500.0), "{slo:#}");
    let hour = &slo["windows"][2];
    assert!(close(&hour["error_ratio"], 5_500.0 / 60_000.0), "weighted by traffic: {slo:#}");
    assert!(close(&slo["budget_remaining"], 1.0 - (5_500.0 / 60_000.0) / 0.001_000_000_000_000_000_9), "{slo:#}");
    assert_eq!(slo["status"], "page");
    assert_eq!(slo["firing"][0]["long"], "1h");
    assert_eq!(app.get("/api/v1/slos").await["items"].as_array().map(Vec::len), Some(1));

    let requests = hook.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(requests.len(), 1, "the burn rolled back the deployment");
    let report = requests[0].json();
    assert_eq!(report["trigger"]["alert"], "SLOBurnRate");
    assert_eq!(report["trigger"]["labels"]["slo"], "checkout-availability");
    assert_eq!(report["deployment"]["id"], "v2");
    assert_eq!(report["target"]["id"], "v1");
    let missing = app.client.get(app.url("/api/v1/slos/nope")).send().await.expect("request");
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_after_a_deployment_pages_and_rolls_it_back_on_sqlite() {
    a_fast_burn_after_a_deployment_pages_and_rolls_it_back(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_after_a_deployment_pages_and_rolls_it_back_on_postgres() {
    a_fast_burn_after_a_deployment_pages_and_rolls_it_back(Backend::Postgres).await;
}
