//! Permuting the arrival order of events, splitting them into batches and re-sending some never
//! changes any number.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::{commit, deploy, deploy_with, t, window};

/// A history with every kind of rule in play: merges, a squash merge, a rollback, an
/// in-progress state before the final one, incidents open before resolved, with and without a
/// named cause, a revert commit whose message is told after its first telling, and a
/// fix-forward during an incident that never resolves.
fn history() -> Vec<Value> {
    vec![
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        commit("x", 1.5, &["a"]),
        commit("m", 2.0, &["b", "x"]),
        commit("s", 30.0, &["m"]),
        commit("c", 40.0, &["s"]),
        json!({"type": "commit", "id": "c", "committed_at": t(40.0), "repository": "acme/shop", "parents": ["s"], "message": "Revert \"s\"\n\nThis reverts commit s."}),
        commit("e", 100.5, &["c"]),
        json!({"type": "pull_request", "id": "pr", "repository": "acme/shop", "number": 1, "opened_at": t(20.0), "first_commit_at": t(10.0), "merged_at": t(30.0), "merge_commit_sha": "s"}),
        deploy("d1", "shop", "a", 0.5),
        json!({"type": "deployment", "id": "d2", "service": "shop", "status": "in_progress", "started_at": t(2.5)}),
        deploy("d2", "shop", "m", 3.0),
        deploy("d3", "shop", "s", 31.0),
        deploy_with("d4", "shop", "m", 31.5, json!({"rollback_of": "d3"})),
        deploy_with("d5", "shop", "c", 41.0, json!({"unplanned": true})),
        deploy("w1", "web", "a", 0.7),
        deploy("w2", "web", "c", 42.0),
        json!({"type": "incident", "id": "i1", "service": "shop", "opened_at": t(4.0)}),
        json!({"type": "incident", "id": "i1", "service": "shop", "opened_at": t(4.0), "resolved_at": t(5.0)}),
        json!({"type": "incident", "id": "i2", "service": "web", "opened_at": t(43.0), "resolved_at": t(44.0), "commit_sha": "c"}),
        json!({"type": "incident", "id": "i3", "service": "shop", "opened_at": t(100.0)}),
        deploy("d6", "shop", "e", 101.0),
    ]
}

/// Every number pacer reports about the history, and the per-deployment verdicts.
async fn numbers(app: &TestApp) -> Value {
    let summary = app.dora(&window(0.0, 120.0)).await;
    let series = app.get(&format!("/api/v1/dora/series?interval=day&{}", window(0.0, 120.0))).await;
    let deployments = app.get("/api/v1/deployments?limit=500").await;
    let verdicts: Vec<Value> = deployments["items"]
        .as_array()
        .map(|items| items.iter().map(|d| json!([d["id"], d["status"], d["changeset"], d["failed"], d["recovered_at"], d["rework"]])).collect())
        .unwrap_or_default();
    json!({"summary": summary, "series": series["buckets"], "deployments": verdicts})
}

async fn deliver(app: &TestApp, events: &[Value], batch: usize) {
    for chunk in events.chunks(batch.max(1)) {
        app.ingest(Value::Array(chunk.to_vec())).await;
    }
}

fn arrival_order_never_changes_a_number(backend: Backend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let Some(expected) = runtime.block_on(async {
        let app = TestApp::spawn(backend).await?;
        deliver(&app, &history(), usize::MAX).await;
        Some(numbers(&app).await)
    }) else {
        return;
    };
    assert_eq!(expected["summary"]["change_failure_rate"]["failed_deployments"], 3, "the history exercises failures: {expected}");
    let by_reason = &expected["summary"]["rework_rate"]["by_reason"];
    assert_eq!(by_reason, &json!({"rollback": 1, "unplanned": 1, "fix_forward": 1, "revert": 1}), "the history exercises every rework reason: {expected}");

    let n = history().len();
    let strategy = (Just(history()).prop_shuffle(), proptest::collection::vec(0..n, 0..6), 1..=n);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy, |(mut events, resend, batch)| {
            let originals = history();
            events.extend(resend.iter().map(|&i| originals[i].clone()));
            let actual = runtime.block_on(async {
                let app = TestApp::spawn(backend).await.expect("backend available");
                deliver(&app, &events, batch).await;
                numbers(&app).await
            });
            prop_assert_eq!(&actual, &expected);
            Ok(())
        })
        .expect("every arrival order gives the same numbers");
}

#[test]
fn arrival_order_and_redelivery_never_change_a_number_on_sqlite() {
    arrival_order_never_changes_a_number(Backend::Sqlite, 24);
}

#[test]
fn arrival_order_and_redelivery_never_change_a_number_on_postgres() {
    arrival_order_never_changes_a_number(Backend::Postgres, 12);
}
