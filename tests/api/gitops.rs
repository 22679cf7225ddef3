//! The whole story of a bad GitOps deployment, through the public API only, for Argo CD and for
//! Flux: the sync of a bad revision, its unhealthy workloads, pacer's incident, the deploy gate
//! answering "halt", pacer's signed rollback hook, the rollback sync, the incident resolved, and
//! the DORA numbers that result, asserted exactly.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::deployers::{ARGOCD_AUTH, argocd_body, flux, flux_body, post};
use crate::helpers::{Backend, TestApp};
use crate::hooks::Receiver;

const GOOD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const REVERT: &str = "cccccccccccccccccccccccccccccccccccccccc";

/// `minutes` before `now`, to the second.
fn before(now: DateTime<Utc>, minutes: i64) -> String {
    (now - chrono::Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn config(service: &str, hook: &str, source: &str) -> String {
    format!(
        "{source}\n[[rollback]]\nservice = \"{service}\"\npolicy = \"auto\"\ncooldown_secs = 0\n[[rollback.hooks]]\nurl = \"{hook}\"\ntimeout_secs = 2\n"
    )
}

/// What both stories assert once the bad revision is unhealthy: the gate halts for the alert and
/// the rollback, and the hook asks to go from the bad deployment back to the good one.
async fn halted_and_rolled_back(app: &TestApp, hook: &Receiver, service: &str, bad: &str, good: &str) {
    let gate = app.get(&format!("/api/v1/gate?service={service}")).await;
    assert_eq!(gate["proceed"], false, "{gate:#}");
    let kinds: Vec<&str> = gate["reasons"].as_array().into_iter().flatten().filter_map(|r| r["kind"].as_str()).collect();
    assert!(kinds.contains(&"alert_since_start") && kinds.contains(&"rollback"), "{gate:#}");
    let requests = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(requests.len(), 1, "one signed rollback hook");
    let report = requests[0].json();
    assert_eq!((report["deployment"]["id"].as_str(), report["target"]["id"].as_str()), (Some(bad), Some(good)), "{report:#}");
    let rollbacks = app.get("/api/v1/rollbacks").await;
    assert_eq!(rollbacks["items"][0]["incident_id"], format!("{bad}/{}", if bad.starts_with("argocd:") { "degraded" } else { "unhealthy" }), "{rollbacks:#}");
}

/// The DORA numbers of the last hour: the bad deployment and the rollback deployment, one failed,
/// recovered when the incident was resolved.
async fn assert_numbers(app: &TestApp, now: DateTime<Utc>, bad_finished: i64, opened: i64, resolved: i64) {
    let from = (now - chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true).replace(':', "%3A").replace('+', "%2B");
    let to = (now + chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true).replace(':', "%3A").replace('+', "%2B");
    let dora = app.dora(&format!("from={from}&to={to}")).await;
    assert_eq!(dora["deployment_frequency"]["deployments"], 2, "the bad revision and the rollback: {dora:#}");
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora:#}");
    assert_eq!(dora["change_failure_rate"]["rate"], 0.5, "{dora:#}");
    let recovery = &dora["failed_deployment_recovery_time"];
    assert_eq!((&recovery["failed_deployments"], &recovery["recovered"]), (&json!(1), &json!(1)), "{dora:#}");
    assert_eq!(recovery["median_seconds"], json!(((bad_finished - resolved) * 60) as f64), "from the bad deployment's finish to the resolution: {dora:#}");
    assert_eq!(dora["time_to_restore"]["median_seconds"], json!(((opened - resolved) * 60) as f64), "{dora:#}");
}

/// Resolves an incident through the events API, as the README says a deployer's incident is.
async fn resolve(app: &TestApp, id: &str, service: &str, opened_at: &str, resolved_at: &str) {
    app.ingest(json!({"type": "incident", "id": id, "service": service, "opened_at": opened_at, "resolved_at": resolved_at})).await;
}

async fn argo_cd_story(backend: Backend) {
    let hook = Receiver::start().await;
    let source = "[argocd]\ntoken = \"argocd-token-0123\"\nenvironments = { \"test-lla\" = \"production\" }";
    let Some(app) = TestApp::spawn_with_config(backend, &config("velero-test", &hook.url, source), &[]).await else { return };
    let now = Utc::now();
    let sync = |revision: &str, started: i64, finished: i64, health: &str, changed: i64| {
        argocd_body(&[
            ("/status/operationState/syncResult/revision", json!(revision)),
            ("/status/sync/revision", json!(revision)),
            ("/status/operationState/startedAt", json!(before(now, started))),
            ("/status/operationState/finishedAt", json!(before(now, finished))),
            ("/status/health/status", json!(health)),
            ("/status/health/lastTransitionTime", json!(before(now, changed))),
        ])
    };
    let deliver = |body: String| {
        let app = &app;
        async move {
            let (status, _, answer) = post(app, "/webhooks/argocd", &[ARGOCD_AUTH], body).await;
            assert_eq!(status, 200, "{answer:#}");
            answer
        }
    };
    deliver(sync(GOOD, 121, 120, "Healthy", 119)).await;
    deliver(sync(BAD, 10, 9, "Progressing", 9)).await;
    let bad = format!("argocd:argo-cd/velero-test/{BAD}@{}", before(now, 10));
    let good = format!("argocd:argo-cd/velero-test/{GOOD}@{}", before(now, 121));
    let answer = deliver(sync(BAD, 10, 9, "Degraded", 6)).await;
    assert_eq!(answer["rollbacks"].as_array().map(Vec::len), Some(1), "the degraded health decides a rollback: {answer:#}");
    halted_and_rolled_back(&app, &hook, "velero-test", &bad, &good).await;

    // The hook's receiver syncs the good revision again; the application is healthy.
    deliver(sync(GOOD, 4, 3, "Healthy", 3)).await;
    resolve(&app, &format!("{bad}/degraded"), "velero-test", &before(now, 6), &before(now, 2)).await;
    assert_numbers(&app, now, 9, 6, 2).await;
    let gate = app.get("/api/v1/gate?service=velero-test&rollout=after-recovery").await;
    assert_eq!(gate["reasons"].as_array().map(Vec::len), Some(0), "a fresh rollout after recovery may proceed: {gate:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argo_cd_sync_of_a_bad_revision_is_halted_rolled_back_and_counted_on_sqlite() {
    argo_cd_story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argo_cd_sync_of_a_bad_revision_is_halted_rolled_back_and_counted_on_postgres() {
    argo_cd_story(Backend::Postgres).await;
}

async fn flux_story(backend: Backend) {
    let hook = Receiver::start().await;
    let source = "[flux]\nsecret = \"7152fed34dd6149a7c75a276c510da27cb6f82b0\"";
    let Some(app) = TestApp::spawn_with_config(backend, &config("webapp", &hook.url, source), &[]).await else { return };
    let now = Utc::now();
    let event = |reason: &str, revision: &str, minutes: i64| {
        flux_body(
            "flux/k8s-event.kustomization.reconciliation-succeeded.json",
            &[
                ("reason", json!(reason)),
                ("severity", json!(if reason.ends_with("Failed") { "error" } else { "info" })),
                ("timestamp", json!(before(now, minutes))),
                ("metadata", json!({"revision": format!("main@sha1:{revision}"), "service": "webapp", "env": "production"})),
            ],
        )
    };
    let deliver = |body: String| {
        let app = &app;
        async move {
            let (status, answer) = flux(app, &body).await;
            assert_eq!(status, 200, "{answer:#}");
            answer
        }
    };
    deliver(event("ReconciliationSucceeded", GOOD, 120)).await;
    deliver(event("ReconciliationSucceeded", BAD, 9)).await;
    let bad = format!("flux:Kustomization/flux-system/flux-system@main@sha1:{BAD}");
    let good = format!("flux:Kustomization/flux-system/flux-system@main@sha1:{GOOD}");
    let answer = deliver(event("HealthCheckFailed", BAD, 6)).await;
    assert_eq!(answer["rollbacks"].as_array().map(Vec::len), Some(1), "the failed health check decides a rollback: {answer:#}");
    halted_and_rolled_back(&app, &hook, "webapp", &bad, &good).await;

    // The hook's receiver pushes a revert; Flux applies it.
    app.ingest(json!({"type": "commit", "id": REVERT, "committed_at": before(now, 5), "parents": [BAD], "message": format!("Revert \"{BAD}\"")})).await;
    deliver(event("ReconciliationSucceeded", REVERT, 3)).await;
    resolve(&app, &format!("{bad}/unhealthy"), "webapp", &before(now, 6), &before(now, 2)).await;
    assert_numbers(&app, now, 9, 6, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flux_reconciliation_of_a_bad_revision_is_halted_rolled_back_and_counted_on_sqlite() {
    flux_story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flux_reconciliation_of_a_bad_revision_is_halted_rolled_back_and_counted_on_postgres() {
    flux_story(Backend::Postgres).await;
}

