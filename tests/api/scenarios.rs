//! One scenario per rule of the metric definitions (PRODUCT.md §4). Each asserts the exact
//! numbers, chosen so that a different reading of the rule gives different numbers.

use serde_json::json;

use crate::helpers::close;
use crate::{commit, deploy, deploy_with, on_both, t, window};

on_both!(a_squash_merge_keeps_the_time_spent_on_the_branch, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        deploy("d1", "shop", "a", 1.0),
        // Branch work starts Monday 09:00; the squash commit lands Wednesday 15:00.
        {"type": "pull_request", "id": "pr-7", "repository": "acme/shop", "number": 7, "opened_at": t(10.0),
         "first_commit_at": t(9.0), "merged_at": t(63.0), "merge_commit_sha": "s"},
        commit("s", 63.0, &["a"]),
        deploy("d2", "shop", "s", 64.0),
    ]))
    .await;
    let lead = &app.dora(&window(0.0, 100.0)).await["lead_time"];
    assert_eq!(lead["samples"], 1, "{lead}");
    assert!(close(&lead["median_seconds"], 55.0 * 3600.0), "lead time starts at the branch's first commit: {lead}");
});

on_both!(a_merge_commit_ships_both_sides_of_its_branch, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("x", 1.0, &["a"]),
        commit("b", 2.0, &["a"]),
        commit("y", 3.0, &["x"]),
        commit("m", 4.0, &["b", "y"]),
        deploy("d1", "shop", "a", 0.5),
        deploy("d2", "shop", "m", 5.0),
    ]))
    .await;
    let lead = &app.dora(&window(0.0, 10.0)).await["lead_time"];
    // Samples 1 h (m), 2 h (y), 3 h (b), 4 h (x): PERCENTILE_CONT median 2.5 h, p90 3.7 h.
    assert_eq!(lead["samples"], 4, "{lead}");
    assert!(close(&lead["median_seconds"], 9_000.0), "{lead}");
    assert!(close(&lead["p90_seconds"], 13_320.0), "{lead}");
});

on_both!(a_rollback_then_a_forward_deploy_counts_no_commit_twice, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        commit("c", 3.0, &["b"]),
        deploy("d1", "shop", "a", 0.5),
        deploy("d2", "shop", "b", 2.0),
        deploy_with("d3", "shop", "a", 2.5, json!({"rollback_of": "d2"})),
        deploy("d4", "shop", "c", 4.0),
    ]))
    .await;
    let dora = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(dora["lead_time"]["samples"], 2, "b once at d2, c once at d4: {dora}");
    assert!(close(&dora["lead_time"]["median_seconds"], 3_600.0), "{dora}");
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora}");
    assert!(close(&dora["change_failure_rate"]["rate"], 0.25), "{dora}");
    assert!(close(&dora["rework_rate"]["rate"], 0.25), "{dora}");
    assert_eq!(dora["failed_deployment_recovery_time"]["recovered"], 1, "{dora}");
    assert!(close(&dora["failed_deployment_recovery_time"]["median_seconds"], 1_800.0), "{dora}");
    let d4 = app.get("/api/v1/deployments/d4").await;
    assert_eq!(d4["changeset"], json!(["c"]));
});

on_both!(the_first_deployment_counts_only_the_commits_it_lists, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        deploy_with("d1", "shop", "b", 2.0, json!({"commits": [{"sha": "b", "committed_at": t(1.0)}]})),
        deploy("d1-web", "web", "b", 2.0),
    ]))
    .await;
    let shop = app.dora(&format!("{}&service=shop", window(0.0, 10.0))).await;
    assert_eq!(shop["lead_time"]["samples"], 1, "a was live before pacer knew: {shop}");
    assert!(close(&shop["lead_time"]["median_seconds"], 3_600.0), "{shop}");
    let web = app.dora(&format!("{}&service=web", window(0.0, 10.0))).await;
    assert_eq!(web["lead_time"]["samples"], 0, "{web}");
    assert!(web["lead_time"]["median_seconds"].is_null(), "no samples is null, never 0: {web}");
    assert_eq!(web["deployment_frequency"]["deployments"], 1, "{web}");
});

on_both!(each_environment_has_its_own_changesets_and_failures, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        deploy_with("s1", "shop", "a", 0.5, json!({"environment": "staging"})),
        deploy_with("s2", "shop", "b", 2.0, json!({"environment": "staging"})),
        deploy_with("p1", "shop", "a", 1.0, json!({"environment": "prod"})),
        deploy("p2", "shop", "b", 5.0),
        {"type": "incident", "id": "i-stg", "service": "shop", "environment": "staging", "opened_at": t(2.5), "resolved_at": t(3.0)},
    ]))
    .await;
    let production = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(production["environment"], "production");
    assert_eq!(production["deployment_frequency"]["deployments"], 2, "`prod` means production: {production}");
    assert!(close(&production["lead_time"]["median_seconds"], 4.0 * 3600.0), "{production}");
    assert_eq!(production["change_failure_rate"]["failed_deployments"], 0, "{production}");
    assert_eq!(production["time_to_restore"]["incidents"], 0, "{production}");
    let staging = app.dora(&format!("{}&environment=staging", window(0.0, 10.0))).await;
    assert!(close(&staging["lead_time"]["median_seconds"], 3_600.0), "{staging}");
    assert_eq!(staging["change_failure_rate"]["failed_deployments"], 1, "{staging}");
    assert!(close(&staging["time_to_restore"]["median_seconds"], 1_800.0), "{staging}");
});

on_both!(two_services_in_one_repository_each_count_a_shared_commit, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        deploy("api1", "api", "a", 0.5),
        deploy("web1", "web", "a", 0.5),
        deploy("api2", "api", "b", 2.0),
        deploy("web2", "web", "b", 3.0),
    ]))
    .await;
    let all = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(all["lead_time"]["samples"], 2, "{all}");
    assert!(close(&all["lead_time"]["median_seconds"], 5_400.0), "{all}");
    let web = app.dora(&format!("{}&service=web", window(0.0, 10.0))).await;
    assert!(close(&web["lead_time"]["median_seconds"], 7_200.0), "{web}");
    assert_eq!(web["services"], json!(["web"]));
});

on_both!(an_incident_naming_a_commit_fails_the_deployment_that_shipped_it, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        commit("c", 3.0, &["b"]),
        deploy("d1", "shop", "a", 0.5),
        deploy("d2", "shop", "b", 2.0),
        deploy("d3", "shop", "c", 4.0),
        // Opened after d3, which the attribution window alone would blame.
        {"type": "incident", "id": "i1", "service": "shop", "opened_at": t(5.0), "resolved_at": t(6.0), "commit_sha": "b"},
    ]))
    .await;
    let dora = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora}");
    assert!(close(&dora["time_to_restore"]["median_seconds"], 3_600.0), "{dora}");
    assert!(close(&dora["failed_deployment_recovery_time"]["median_seconds"], 4.0 * 3600.0), "{dora}");
    let d2 = app.get("/api/v1/deployments/d2").await;
    assert_eq!(d2["failed"], true);
    assert_eq!(d2["failure_causes"][0]["kind"], "incident_named_commit");
    assert_eq!(app.get("/api/v1/deployments/d3").await["failed"], false);
    let incidents = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"][0]["blamed_deployments"], json!(["d2"]));
});

on_both!(an_incident_without_a_cause_fails_the_latest_deployment_only_inside_the_window, |app| {
    app.ingest(json!([
        deploy("d1", "shop", "a", 0.0),
        deploy("d2", "shop", "b", 1.0),
        {"type": "incident", "id": "inside", "service": "shop", "opened_at": t(3.0), "resolved_at": t(3.5)},
        // 29 h after d2: outside the default 24 h window.
        {"type": "incident", "id": "outside", "service": "shop", "opened_at": t(30.0), "resolved_at": t(31.0)},
    ]))
    .await;
    let dora = app.dora(&window(0.0, 48.0)).await;
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora}");
    assert_eq!(dora["time_to_restore"]["incidents"], 2, "{dora}");
    assert!(close(&dora["failed_deployment_recovery_time"]["median_seconds"], 2.5 * 3600.0), "{dora}");
    assert_eq!(app.get("/api/v1/deployments/d2").await["failed"], true);
    assert_eq!(app.get("/api/v1/deployments/d1").await["failed"], false, "only the latest deployment is blamed");
});

#[tokio::test]
async fn a_shorter_configured_attribution_window_blames_nothing_after_it() {
    let Some(app) = crate::helpers::TestApp::spawn_with(crate::helpers::Backend::Sqlite, &[("PACER_ATTRIBUTION_WINDOW_SECS", "3600")]).await
    else {
        return;
    };
    app.ingest(json!([
        deploy("d1", "shop", "a", 0.0),
        {"type": "incident", "id": "late", "service": "shop", "opened_at": t(2.0)},
    ]))
    .await;
    let dora = app.dora(&window(0.0, 48.0)).await;
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 0, "{dora}");
    assert!(dora["time_to_restore"]["median_seconds"].is_null(), "an open incident has no restore time: {dora}");
}

on_both!(a_deployment_that_ships_nothing_still_counts_as_a_deployment, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 1.0, &["a"]),
        deploy("d1", "shop", "a", 0.5),
        deploy("d2", "shop", "b", 2.0),
        deploy("d3", "shop", "b", 3.0),
    ]))
    .await;
    let dora = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(dora["deployment_frequency"]["deployments"], 3, "{dora}");
    assert_eq!(dora["lead_time"]["samples"], 1, "{dora}");
    assert_eq!(app.get("/api/v1/deployments/d3").await["changeset"], json!([]));
});

on_both!(windows_are_half_open, |app| {
    app.ingest(json!([
        deploy("at-from", "shop", "a", 1.0),
        deploy("at-to", "shop", "b", 2.0),
        {"type": "incident", "id": "at-to", "service": "shop", "opened_at": t(2.0), "resolved_at": t(2.5)},
    ]))
    .await;
    let dora = app.dora(&window(1.0, 2.0)).await;
    assert_eq!(dora["deployment_frequency"]["deployments"], 1, "{dora}");
    assert_eq!(dora["deployment_frequency"]["deploy_days"], 1, "{dora}");
    assert!(close(&dora["deployment_frequency"]["per_day"], 24.0), "1 deployment in 1 hour: {dora}");
    assert_eq!(dora["time_to_restore"]["incidents"], 0, "an incident opened at `to` is outside: {dora}");
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "at-to finished with, not before, the incident: {dora}");
    let next = app.dora(&window(2.0, 3.0)).await;
    assert_eq!(next["deployment_frequency"]["deployments"], 1, "{next}");
    assert_eq!(next["change_failure_rate"]["failed_deployments"], 0, "{next}");
    assert_eq!(next["time_to_restore"]["incidents"], 1, "{next}");
});

on_both!(data_that_arrives_late_changes_the_numbers_at_once, |app| {
    app.ingest(json!([deploy("d1", "shop", "a", 0.5), deploy("d2", "shop", "c", 4.0)])).await;
    let before = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(before["lead_time"]["samples"], 0, "{before}");
    assert_eq!(before["change_failure_rate"]["failed_deployments"], 0, "{before}");
    app.ingest(json!([commit("c", 3.0, &["b"]), commit("b", 1.0, &["a"]), commit("a", 0.0, &[])])).await;
    let commits = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(commits["lead_time"]["samples"], 2, "{commits}");
    assert!(close(&commits["lead_time"]["median_seconds"], 2.0 * 3600.0), "{commits}");
    app.ingest(json!({"type": "incident", "id": "i", "service": "shop", "opened_at": t(5.0), "deployment_id": "d2"})).await;
    let incident = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(incident["change_failure_rate"]["failed_deployments"], 1, "{incident}");
});

on_both!(a_redelivered_batch_is_counted_once, |app| {
    let batch = json!([commit("a", 0.0, &[]), commit("b", 1.0, &["a"]), deploy("d1", "shop", "a", 0.5), deploy("d2", "shop", "b", 2.0)]);
    assert_eq!(app.ingest(batch.clone()).await, (4, 0));
    let first = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(app.ingest(batch).await, (0, 4));
    assert_eq!(app.dora(&window(0.0, 10.0)).await, first);
    assert_eq!(first["deployment_frequency"]["deployments"], 2);
});

on_both!(an_in_progress_deployment_counts_once_it_succeeds_and_a_late_in_progress_never_undoes_it, |app| {
    let in_progress = json!({"type": "deployment", "id": "d1", "service": "shop", "status": "in_progress", "started_at": t(1.0)});
    app.ingest(in_progress.clone()).await;
    assert_eq!(app.dora(&window(0.0, 10.0)).await["deployment_frequency"]["deployments"], 0);
    assert_eq!(app.ingest(deploy("d1", "shop", "a", 1.5)).await, (1, 0));
    assert_eq!(app.dora(&window(0.0, 10.0)).await["deployment_frequency"]["deployments"], 1);
    assert_eq!(app.ingest(in_progress).await, (0, 1), "an older state is a no-op");
    assert_eq!(app.dora(&window(0.0, 10.0)).await["deployment_frequency"]["deployments"], 1);
    assert_eq!(app.get("/api/v1/deployments/d1").await["status"], "success");
});

on_both!(an_incident_that_resolves_updates_restore_time, |app| {
    app.ingest(json!({"type": "incident", "id": "i", "service": "shop", "opened_at": t(1.0)})).await;
    assert_eq!(app.dora(&window(0.0, 10.0)).await["time_to_restore"]["incidents"], 0);
    app.ingest(json!({"type": "incident", "id": "i", "service": "shop", "opened_at": t(1.0), "resolved_at": t(1.25)})).await;
    let ttr = &app.dora(&window(0.0, 10.0)).await["time_to_restore"];
    assert_eq!(ttr["incidents"], 1);
    assert!(close(&ttr["median_seconds"], 900.0), "{ttr}");
});

on_both!(unplanned_deployments_are_rework_and_levels_follow_the_chosen_report, |app| {
    app.ingest(json!([
        deploy("d1", "shop", "a", 1.0),
        deploy_with("d2", "shop", "b", 2.0, json!({"unplanned": true})),
        deploy("d3", "shop", "c", 3.0),
        deploy("d4", "shop", "d", 4.0),
        deploy("d5", "shop", "e", 5.0),
        deploy("d6", "shop", "f", 6.0),
        deploy("d7", "shop", "g", 7.0),
        {"type": "incident", "id": "i", "service": "shop", "opened_at": t(2.5), "resolved_at": t(2.6), "deployment_id": "d2"},
    ]))
    .await;
    // 1 failure in 7 deployments is 14.3 %: elite by the 2021 bands (≤ 15 %), high by 2024 (≤ 20 %).
    let y2024 = app.dora(&window(0.0, 24.0)).await;
    assert!(close(&y2024["rework_rate"]["rate"], 1.0 / 7.0), "{y2024}");
    assert_eq!(y2024["change_failure_rate"]["level"], "high", "{y2024}");
    let y2021 = app.dora(&format!("{}&benchmarks=2021", window(0.0, 24.0))).await;
    assert_eq!(y2021["change_failure_rate"]["level"], "elite", "{y2021}");
});

on_both!(teams_select_their_services, |app| {
    app.ingest(json!([
        deploy_with("a1", "api", "a", 1.0, json!({"team": "core"})),
        deploy_with("w1", "web", "b", 2.0, json!({"team": "front"})),
    ]))
    .await;
    let core = app.dora(&format!("{}&team=core", window(0.0, 24.0))).await;
    assert_eq!(core["services"], json!(["api"]));
    assert_eq!(core["deployment_frequency"]["deployments"], 1);
    let response = app.client.get(app.url("/api/v1/dora?team=nobody")).send().await.expect("request");
    assert_eq!(response.status(), 400, "an unknown team is an error, not zeros");
});

on_both!(a_series_splits_the_window_into_calendar_buckets_with_the_same_numbers, |app| {
    // Monday, Tuesday and the next Monday.
    app.ingest(json!([deploy("d1", "shop", "a", 1.0), deploy("d2", "shop", "b", 25.0), deploy("d3", "shop", "c", 7.0 * 24.0 + 1.0)])).await;
    let series = app.get(&format!("/api/v1/dora/series?metric=deployment_frequency&interval=week&{}", window(0.0, 14.0 * 24.0))).await;
    let buckets = series["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 2, "{series}");
    assert_eq!(buckets[0]["from"], "2026-01-05T00:00:00Z");
    assert_eq!(buckets[0]["deployment_frequency"]["deployments"], 2);
    assert_eq!(buckets[1]["deployment_frequency"]["deployments"], 1);
    assert!(buckets[0].get("lead_time").is_none(), "only the metric asked for");
});
