//! A change's whole life in GitHub's own webhook shapes — branch pushes, a pull request opened,
//! approved and squash-merged, the push to the default branch, a deployment with its successful
//! status, and an `incident` issue naming the squash commit, opened then closed — and the DORA
//! numbers and PR stages it must give. The payloads are the shared fixtures with the fields of this story set.

use serde_json::{Value, json};

use crate::fixtures::FIXTURES;
use crate::helpers::{TestApp, close};
use crate::{on_both, t, window};

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B1: &str = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
const B2: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const SQUASH: &str = "5555555555555555555555555555555555555555";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// A fixture with the fields at the given JSON pointers replaced.
fn patched(file: &str, fields: &[(&str, Value)]) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/github/{file}")).expect("fixture");
    let mut payload: Value = serde_json::from_str(&text).expect("json");
    for (pointer, value) in fields {
        *payload.pointer_mut(pointer).unwrap_or_else(|| panic!("{file} has no {pointer}")) = value.clone();
    }
    payload
}

fn push(branch: &str, before: &str, commits: &[(&str, f64)]) -> Value {
    let template = patched("push.new-branch.json", &[]);
    let listed: Vec<Value> = commits
        .iter()
        .map(|(sha, hours)| {
            let mut commit = template["commits"][0].clone();
            commit["id"] = json!(sha);
            commit["timestamp"] = json!(t(*hours));
            commit["message"] = json!(format!("work at {hours} h"));
            commit
        })
        .collect();
    let after = commits.last().map_or(ZERO, |(sha, _)| sha);
    patched(
        "push.new-branch.json",
        &[
            ("/ref", json!(format!("refs/heads/{branch}"))),
            ("/before", json!(before)),
            ("/after", json!(after)),
            ("/created", json!(before == ZERO)),
            ("/commits", Value::Array(listed.clone())),
            ("/head_commit", listed.last().cloned().unwrap_or(Value::Null)),
        ],
    )
}

/// The pull request fields of this story in a `pull_request` or `pull_request_review` payload.
fn pull_request(file: &str, extra: &[(&str, Value)]) -> Value {
    let mut fields = vec![
        ("/pull_request/number", json!(7)),
        ("/pull_request/created_at", json!(t(6.0))),
        ("/pull_request/head/sha", json!(B2)),
        ("/pull_request/base/sha", json!(A)),
    ];
    fields.extend(extra.iter().cloned());
    patched(file, &fields)
}

fn deployment_status(number: u64, sha: &str, created: f64, finished: f64) -> Value {
    patched(
        "deployment_status.created.success.json",
        &[
            ("/deployment/id", json!(number)),
            ("/deployment/sha", json!(sha)),
            ("/deployment/created_at", json!(t(created))),
            ("/deployment_status/created_at", json!(t(finished))),
        ],
    )
}

fn issue(action: &str, closed_at: Option<f64>) -> Value {
    patched(
        "issues.opened.json",
        &[
            ("/action", json!(action)),
            ("/issue/number", json!(9)),
            ("/issue/labels", json!([{"name": "Incident"}, {"name": "sev2"}])),
            ("/issue/created_at", json!(t(13.0))),
            ("/issue/state", json!(if closed_at.is_some() { "closed" } else { "open" })),
            ("/issue/closed_at", closed_at.map_or(Value::Null, |h| json!(t(h)))),
            ("/issue/body", json!(format!("Checkout fails for every card payment.\n\n**Root cause:** `{SQUASH}`\n"))),
        ],
    )
}

/// The story, in the order GitHub sends it: (event, payload).
fn story() -> Vec<(&'static str, Value)> {
    vec![
        ("push", push("master", ZERO, &[(A, 0.0)])),
        ("deployment_status", deployment_status(1001, A, 0.9, 1.0)),
        // A new branch: its first commit's parent is not in the push.
        ("push", push("feature", ZERO, &[(B1, 2.0), (B2, 5.0)])),
        ("pull_request", pull_request("pull_request.opened.json", &[])),
        (
            "pull_request_review",
            pull_request(
                "pull_request_review.submitted.json",
                &[("/review/state", json!("approved")), ("/review/submitted_at", json!(t(8.0))), ("/review/user/login", json!("hubot"))],
            ),
        ),
        (
            "pull_request",
            pull_request(
                "pull_request.closed.not-merged.json",
                &[
                    ("/pull_request/merged", json!(true)),
                    ("/pull_request/merged_at", json!(t(10.0))),
                    ("/pull_request/closed_at", json!(t(10.0))),
                    ("/pull_request/merge_commit_sha", json!(SQUASH)),
                ],
            ),
        ),
        // The squash commit lands on the default branch.
        ("push", push("master", A, &[(SQUASH, 10.0)])),
        ("deployment", patched("deployment.created.json", &[("/deployment/id", json!(1002)), ("/deployment/sha", json!(SQUASH)), ("/deployment/created_at", json!(t(11.0)))])),
        ("deployment_status", deployment_status(1002, SQUASH, 11.0, 12.0)),
        ("issues", issue("opened", None)),
        ("issues", issue("closed", Some(15.0))),
    ]
}

async fn deliver(app: &TestApp, events: &[(&str, Value)]) {
    for (n, (event, payload)) in events.iter().enumerate() {
        let delivery = format!("story-{n}-{event}");
        let (status, answer) = app.post_webhook("/webhooks/github", &[("x-github-event", event), ("x-github-delivery", &delivery)], payload.to_string()).await;
        assert_eq!((status, &answer["ignored"]), (200, &json!(false)), "{event} #{n}: {answer:#}");
    }
}

/// What the story must give: one lead-time sample from the branch's first commit (2 h) to the
/// deployment (12 h), the deployment failed by the incident naming the squash commit, restored
/// in 2 h, recovered 3 h after the deployment finished.
async fn assert_numbers(app: &TestApp) {
    let dora = app.dora(&window(0.0, 48.0)).await;
    assert_eq!(dora["services"], json!(["Hello-World"]), "{dora:#}");
    assert_eq!(dora["deployment_frequency"]["deployments"], 2, "{dora:#}");
    let lead = &dora["lead_time"];
    assert_eq!(lead["samples"], 1, "the first deployment counts no commit: {lead}");
    assert!(close(&lead["median_seconds"], 10.0 * 3600.0), "the squash commit starts at the branch's first commit: {lead}");
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora:#}");
    assert!(close(&dora["change_failure_rate"]["rate"], 0.5), "{dora:#}");
    assert_eq!(dora["time_to_restore"]["incidents"], 1, "{dora:#}");
    assert!(close(&dora["time_to_restore"]["median_seconds"], 2.0 * 3600.0), "{dora:#}");
    assert_eq!(dora["failed_deployment_recovery_time"]["recovered"], 1, "{dora:#}");
    assert!(close(&dora["failed_deployment_recovery_time"]["median_seconds"], 3.0 * 3600.0), "{dora:#}");

    let deployment = app.get("/api/v1/deployments/github:Codertocat%2FHello-World%2Fdeployments%2F1002").await;
    assert_eq!(deployment["changeset"], json!([SQUASH]), "{deployment:#}");
    assert_eq!(deployment["failure_causes"][0]["kind"], "incident_named_commit", "{deployment:#}");
    let pr = &app.get("/api/v1/pull-requests?repository=Codertocat/Hello-World").await["items"][0];
    assert_eq!(
        [&pr["opened_at"], &pr["first_review_at"], &pr["approved_at"], &pr["merged_at"], &pr["merge_commit_sha"]],
        [&json!(t_secs(6.0)), &json!(t_secs(8.0)), &json!(t_secs(8.0)), &json!(t_secs(10.0)), &json!(SQUASH)],
        "{pr:#}"
    );
}

/// The PR's stages: coding from the branch's first commit (2 h) to the opening (6 h), pickup to
/// the approval (8 h), review to the merge (10 h), deploy to the deployment's finish (12 h).
async fn assert_stages(app: &TestApp) {
    let stages = app.get(&format!("/api/v1/lead-time/stages?{}", window(0.0, 48.0))).await;
    let pr = &stages["pull_requests"][0];
    assert_eq!(pr["id"], "github:Codertocat/Hello-World/pull/7", "{stages:#}");
    assert_eq!(pr["deployment_id"], "github:Codertocat/Hello-World/deployments/1002", "{stages:#}");
    let seconds = [&pr["coding_seconds"], &pr["pickup_seconds"], &pr["review_seconds"], &pr["deploy_seconds"]];
    assert_eq!(seconds, [&json!(14_400.0), &json!(7_200.0), &json!(7_200.0), &json!(7_200.0)], "{stages:#}");
    for stage in ["coding", "pickup", "review", "deploy"] {
        assert_eq!(stages[stage]["samples"], 1, "{stage}: {stages:#}");
    }
    assert!(close(&stages["coding"]["median_seconds"], 14_400.0), "{stages:#}");
}

/// [`t`] as the API renders it (whole seconds, no fraction).
fn t_secs(hours: f64) -> String {
    t(hours).replace(".000Z", "Z")
}

on_both!(a_change_told_by_github_webhooks_gives_its_lead_time_failure_and_recovery, |app| {
    deliver(&app, &story()).await;
    assert_numbers(&app).await;
    assert_stages(&app).await;
});

on_both!(the_same_story_delivered_backwards_gives_the_same_numbers, |app| {
    let mut events = story();
    events.reverse();
    deliver(&app, &events).await;
    assert_numbers(&app).await;
    assert_stages(&app).await;
});
