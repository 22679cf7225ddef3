//! Ingestion: formats, idempotency, raw events kept for recompute.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::{commit, deploy, on_both, t, window};

on_both!(ndjson_and_single_objects_are_accepted, |app| {
    let lines = format!("{}\n\n{}\n", commit("a", 0.0, &[]), deploy("d1", "shop", "a", 1.0));
    let response = app
        .client
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.expect("json"), json!({"accepted": 2, "duplicates": 0}));
    assert_eq!(app.ingest(json!({"type": "sli", "service": "shop", "at": t(1.0), "good": 99, "total": 100})).await, (1, 0));
    assert_eq!(app.ingest(json!({"type": "ci_run", "id": "r1", "pipeline": "ci", "status": "success", "started_at": t(0.1), "finished_at": t(0.2)})).await, (1, 0));
});

on_both!(a_batch_with_two_states_of_one_deployment_keeps_the_furthest, |app| {
    let started = json!({"type": "deployment", "id": "d1", "service": "shop", "status": "in_progress", "started_at": t(0.9)});
    // The finished state first, then the older in-progress one, in one batch.
    assert_eq!(app.ingest(json!([deploy("d1", "shop", "a", 1.0), started])).await, (1, 1));
    assert_eq!(app.get("/api/v1/deployments/d1").await["status"], "success");
});

on_both!(readiness_reports_a_reachable_database, |app| {
    assert_eq!(app.get("/readyz").await["status"], "ready");
    assert_eq!(app.get("/healthz").await["status"], "ok");
});

#[tokio::test]
async fn recompute_rebuilds_the_same_facts_from_raw_events() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        deploy("d1", "shop", "a", 0.5),
        {"type": "deployment", "id": "d2", "service": "shop", "status": "in_progress", "started_at": t(1.5)},
    ]))
    .await;
    app.ingest(json!([deploy("d2", "shop", "b", 2.0), {"type": "incident", "id": "i", "service": "shop", "opened_at": t(3.0), "resolved_at": t(4.0)}])).await;
    let before = app.dora(&window(0.0, 10.0)).await;
    let store = pacer::app::open_store(&app.database_url).await.expect("store");
    let done = pacer::recompute::recompute(&store, &pacer_collector::Normalizer::default(), |_| {}).await.expect("recompute");
    assert_eq!(done.read, 6);
    assert_eq!(done.skipped, 0);
    assert_eq!(app.dora(&window(0.0, 10.0)).await, before);
    assert_eq!(before["change_failure_rate"]["failed_deployments"], 1);
}

on_both!(ci_runs_and_sli_samples_leave_the_analysis_generations_alone, |app| {
    let store = pacer_store::Store::connect(&app.database_url).await.expect("store");
    let before = store.generations().await.expect("generations");
    app.ingest(json!([{"type": "ci_run", "id": "r", "pipeline": "build", "status": "success", "started_at": t(0.5), "finished_at": t(0.6)},
                      {"type": "sli", "service": "shop", "at": t(1.0), "good": 99, "total": 100}]))
        .await;
    let ci = store.generations().await.expect("generations");
    assert!(ci.facts > before.facts, "a new CI run moves the facts generation: {before:?} → {ci:?}");
    assert_eq!((ci.structure, ci.incidents), (before.structure, before.incidents), "CI runs and SLI samples leave the analysis alone");

    let incident = json!({"type": "incident", "id": "i", "service": "shop", "opened_at": t(2.0)});
    app.ingest(incident.clone()).await;
    let opened = store.generations().await.expect("generations");
    assert!(opened.incidents > ci.incidents && opened.facts > ci.facts, "an incident moves the incidents generation: {ci:?} → {opened:?}");
    assert_eq!(opened.structure, ci.structure, "an incident leaves the changesets alone");

    assert_eq!(app.ingest(incident).await, (0, 1));
    assert_eq!(store.generations().await.expect("generations"), opened, "a duplicate moves nothing");

    app.ingest(deploy("d1", "shop", "a", 3.0)).await;
    let deployed = store.generations().await.expect("generations");
    assert!(deployed.structure > opened.structure, "a deployment moves the structure generation: {opened:?} → {deployed:?}");
    assert_eq!(deployed.incidents, opened.incidents);
});
