//! Rework rate (PRODUCT.md §4, "Rework rate"; docs/metrics.md): each reason, in its order, and
//! each exclusion, asserted as `by_reason` and as each deployment's `rework` in the listing.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::{commit, deploy, deploy_with, on_both, t, window};

/// A commit event with a message.
fn commit_saying(sha: &str, hours: f64, parents: &[&str], message: &str) -> Value {
    let mut c = commit(sha, hours, parents);
    c["message"] = json!(message);
    c
}

/// Each listed deployment's id → its `rework` (null when it is not rework).
async fn rework_of(app: &TestApp) -> Value {
    let listed = app.get("/api/v1/deployments?limit=100").await;
    let mut by_id = serde_json::Map::new();
    for d in listed["items"].as_array().into_iter().flatten() {
        by_id.insert(d["id"].as_str().unwrap_or_default().to_owned(), d["rework"].clone());
    }
    Value::Object(by_id)
}

// The worked example of docs/metrics.md: day 1 at 09:00 is hour 9.
on_both!(the_worked_example_of_the_definition_gives_every_reason_in_its_order, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 8.0, &["a"]),
        commit("c", 10.2, &["b"]),
        commit("d", 10.8, &["c"]),
        commit_saying("r1", 11.8, &["d"], "Revert \"add cache\"\n\nThis reverts commit c."),
        commit("e", 12.8, &["r1"]),
        commit_saying("r2", 13.2 + 7.0 * 24.0, &["e"], "Revert \"d5\""),
        deploy("d0", "api", "a", 1.0),
        deploy("d1", "api", "b", 9.0),
        deploy("d2", "api", "c", 10.5),
        deploy_with("d3", "api", "d", 11.0, json!({"unplanned": true})),
        deploy("d4", "api", "r1", 12.0),
        deploy("d5", "api", "e", 13.0),
        deploy_with("d6", "api", "r1", 14.0, json!({"rollback_of": "d5"})),
        deploy("d7", "api", "r2", 13.5 + 7.0 * 24.0),
        {"type": "incident", "id": "I1", "service": "api", "opened_at": t(10.0), "resolved_at": t(12.0)},
        {"type": "incident", "id": "I2", "service": "api", "opened_at": t(12.0 + 50.0 / 60.0), "deployment_id": "d5"},
    ]))
    .await;
    let dora = app.dora(&window(2.0, 9.0 * 24.0)).await;
    let rework = &dora["rework_rate"];
    assert_eq!(rework["deployments"], 7, "{rework}");
    assert_eq!(rework["unplanned_deployments"], 5, "{rework}");
    assert_eq!(rework["by_reason"], json!({"rollback": 1, "unplanned": 1, "fix_forward": 2, "revert": 1}), "{rework}");
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 2, "d1 (I1 by the window), d5 (named by I2, rolled back by d6): {dora}");
    let of = rework_of(&app).await;
    assert_eq!(of["d0"], Value::Null);
    assert_eq!(of["d1"], Value::Null, "I1 falls to d1: it is failed, not rework");
    assert_eq!(of["d2"], json!({"reason": "fix_forward", "incident_id": "I1"}));
    assert_eq!(of["d3"], json!({"reason": "unplanned"}), "unplanned comes before fix-forward");
    assert_eq!(of["d4"], json!({"reason": "fix_forward", "incident_id": "I1"}), "open until its resolution, inclusive; before revert");
    assert_eq!(of["d5"], Value::Null, "an incident is never its own deployment's fix");
    assert_eq!(of["d6"], json!({"reason": "rollback", "deployment_id": "d5"}));
    assert_eq!(of["d7"], json!({"reason": "revert", "commit_sha": "r2"}), "I2 counts as open for 7 days only");
});

on_both!(a_deployment_just_after_the_incident_resolved_is_not_a_fix_forward, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 3.0, &["a"]),
        deploy("d1", "api", "a", 1.0),
        deploy("d2", "api", "b", 3.0 + 1.0 / 60.0),
        {"type": "incident", "id": "i", "service": "api", "opened_at": t(2.0), "resolved_at": t(3.0), "commit_sha": "zzz"},
    ]))
    .await;
    let dora = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(dora["rework_rate"]["by_reason"], json!({"rollback": 0, "unplanned": 0, "fix_forward": 0, "revert": 0}), "{dora}");
});

on_both!(an_unresolved_incident_makes_fix_forwards_for_seven_days_and_only_of_its_own_service, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit("b", 26.0 + 6.0 * 24.0 - 1.0, &["a"]),
        commit("c", 26.0 + 8.0 * 24.0 - 1.0, &["b"]),
        deploy("d1", "api", "a", 1.0),
        // 6 days and 8 days after the incident opened.
        deploy("d2", "api", "b", 26.0 + 6.0 * 24.0),
        deploy("d3", "api", "c", 26.0 + 8.0 * 24.0),
        deploy("w1", "web", "a", 1.0),
        deploy("w2", "web", "b", 26.0 + 6.0 * 24.0),
        // Opened 24 h and a bit after d1: beyond the attribution window, so it falls to nobody.
        {"type": "incident", "id": "open", "service": "api", "opened_at": t(26.0)},
    ]))
    .await;
    let dora = app.dora(&window(0.0, 10.0 * 24.0)).await;
    assert_eq!(dora["rework_rate"]["by_reason"]["fix_forward"], 1, "d2 at 6 days; not d3 at 8 days, not web's w2: {dora}");
    let of = rework_of(&app).await;
    assert_eq!(of["d2"], json!({"reason": "fix_forward", "incident_id": "open"}));
    assert_eq!(of["d3"], Value::Null);
    assert_eq!(of["w2"], Value::Null);
});

on_both!(a_revert_counts_only_for_the_deployment_that_first_ships_it, |app| {
    app.ingest(json!([
        commit("a", 0.0, &[]),
        commit_saying("r", 2.0, &["a"], "Revert \"feature\""),
        commit("b", 4.0, &["r"]),
        commit_saying("n", 6.0, &["b"], "revert \"not quite\": lower case is no revert"),
        commit_saying("m", 7.0, &["n"], "Reverting the flag, not a revert commit"),
        deploy("d1", "api", "a", 1.0),
        deploy("d2", "api", "r", 3.0),
        deploy("d3", "api", "b", 5.0),
        deploy("d4", "api", "m", 8.0),
        // Another service shipping the same revert commit first counts it too (per service).
        deploy("w1", "web", "a", 1.0),
        deploy("w2", "web", "b", 5.5),
    ]))
    .await;
    let dora = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(dora["rework_rate"]["by_reason"]["revert"], 2, "d2 and web's w2, not d3 or d4: {dora}");
    let of = rework_of(&app).await;
    assert_eq!(of["d2"], json!({"reason": "revert", "commit_sha": "r"}));
    assert_eq!(of["d3"], Value::Null);
    assert_eq!(of["d4"], Value::Null);
    assert_eq!(of["w2"], json!({"reason": "revert", "commit_sha": "r"}));
});

on_both!(a_revert_message_told_after_the_deployment_makes_it_rework_then, |app| {
    app.ingest(json!([commit("a", 0.0, &[]), commit("r", 2.0, &["a"]), deploy("d1", "api", "a", 1.0), deploy("d2", "api", "r", 3.0)])).await;
    let before = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(before["rework_rate"]["unplanned_deployments"], 0, "{before}");
    app.ingest(json!([commit_saying("r", 2.0, &["a"], "Revert \"a\"")])).await;
    let after = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(after["rework_rate"]["by_reason"]["revert"], 1, "{after}");
    // A later telling without the message does not erase it.
    app.ingest(json!([commit("r", 2.0, &["a"])])).await;
    let again = app.dora(&window(0.0, 10.0)).await;
    assert_eq!(again["rework_rate"]["by_reason"]["revert"], 1, "{again}");
});
