//! Ingestion: formats, idempotency, raw events kept for recompute.

use serde_json::json;

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database};
use crate::{commit, deploy, deploy_with, on_both, t, window};

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

/// A batch deletes its commits' parents and its deployments' lists before writing them anew, and
/// the analysis following the writes reads commits' parents by key. Without a table's statistics
/// (a new table, or autovacuum off) PostgreSQL's planner scanned the whole table for each: a
/// batch took longer the more was stored. Every such statement must follow its index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_reads_by_key_scan_no_whole_table_on_postgres() {
    use sqlx::Connection as _;
    let Some((url, guard)) = fresh_database(Backend::Postgres).await else { return };
    let app = TestApp::start(url.clone(), CleanupGuard::none(), None, &[]).await;
    for batch in 0..4 {
        let events: Vec<serde_json::Value> = (batch * 250..(batch + 1) * 250)
            .flat_map(|n: usize| {
                let (sha, parent) = (format!("c{n}"), format!("c{}", n.wrapping_sub(1)));
                let parents: &[&str] = if n == 0 { &[] } else { &[&parent] };
                let at = n as f64 / 100.0;
                let listed = json!({"commits": [{"sha": sha, "committed_at": t(at)}]});
                [commit(&sha, at, parents), deploy_with(&format!("d{n}"), "shop", &sha, at + 0.001, listed)]
            })
            .collect();
        app.ingest(json!(events)).await;
    }
    drop(app);
    // Each of pacer's connections reports what it read as it closes.
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let others = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>(others).fetch_one(&mut conn).await.expect("activity") > 0 {
        assert!(std::time::Instant::now() < deadline, "pacer's connections closed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let scanned: Vec<(String, i64)> =
        sqlx::query_as("SELECT relname::text, seq_tup_read FROM pg_stat_user_tables WHERE relname IN ('commit_parents', 'deployment_commits') AND seq_tup_read > 0")
            .fetch_all(&mut conn)
            .await
            .expect("statistics");
    assert!(scanned.is_empty(), "rows read by scanning the whole table: {scanned:?}");
    let parents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM commit_parents").fetch_one(&mut conn).await.expect("count");
    assert_eq!(parents, 999, "every parent is stored");
    let listed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deployment_commits").fetch_one(&mut conn).await.expect("count");
    assert_eq!(listed, 1_000, "every list is stored");
    drop(conn);
    drop(guard);
}
