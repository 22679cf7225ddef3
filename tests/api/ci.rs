//! CI timings and PR flow: `GET /api/v1/ci/pipelines`, `/ci/budgets`, `/prs/stages` and
//! `/prs/throughput`, with numbers worked out by hand from the runs and pull requests each test
//! sends, and the GitHub and GitLab CI fixtures flowing through the webhooks into them.

use serde_json::{Value, json};

use crate::fixtures::FIXTURES;
use crate::helpers::close;
use crate::{commit, deploy, on_both, t, window};

/// Minutes after the base time.
fn m(minutes: f64) -> String {
    t(minutes / 60.0)
}

// One argument per field of the run, as a table of runs reads best in the tests below.
#[allow(clippy::too_many_arguments)]
fn run(id: &str, pipeline: &str, stage: &str, status: &str, sha: &str, queued: Option<f64>, started: f64, finished: f64) -> Value {
    let mut run = json!({"type": "ci_run", "id": id, "pipeline": pipeline, "stage": stage, "status": status, "commit_sha": sha,
                         "branch": "feature-x", "repository": "acme/shop", "service": "shop",
                         "started_at": m(started), "finished_at": m(finished)});
    if let Some(queued) = queued {
        run["queued_at"] = json!(m(queued));
    }
    run
}

/// The CI runs of the scenarios:
/// - `test` (pull_request): r1 fails on c1 (queued 0, 1 → 5 min); r2, attempt 2, passes c1
///   (queued 10, 10.5 → 16.5); r3 passes c2 (20, 20 → 32); r4 fails c3 (40, 42 → 44).
/// - `lint` (pre_commit, no queue time): 0.5 s and 2 s passes, and a cancelled 0.8 s run.
fn runs() -> Value {
    let mut r2 = run("r2", "test", "pull_request", "success", "c1", Some(10.0), 10.5, 16.5);
    r2["attempt"] = json!(2);
    json!([
        run("r1", "test", "pull_request", "failure", "c1", Some(0.0), 1.0, 5.0),
        r2,
        run("r3", "test", "pull_request", "success", "c2", Some(20.0), 20.0, 32.0),
        run("r4", "test", "pull_request", "failure", "c3", Some(40.0), 42.0, 44.0),
        run("l1", "lint", "pre_commit", "success", "c1", None, 0.0, 0.5 / 60.0),
        run("l2", "lint", "pre_commit", "success", "c2", None, 20.0, 20.0 + 2.0 / 60.0),
        run("l3", "lint", "pre_commit", "cancelled", "c3", None, 40.0, 40.0 + 0.8 / 60.0),
    ])
}

/// Two merged pull requests shipped 5 s and 60 s after their merges, and two open ones.
fn pull_requests() -> Value {
    json!([
        commit("m0", -1.0, &[]),
        deploy("d0", "shop", "m0", -0.5),
        {"type": "pull_request", "id": "p1", "repository": "acme/shop", "number": 1, "service": "shop",
         "first_commit_at": t(0.2), "opened_at": t(0.5), "first_review_at": t(0.7), "merged_at": t(1.0),
         "merge_commit_sha": "m1", "additions": 8, "deletions": 2},
        commit("m1", 1.0, &["m0"]),
        {"type": "deployment", "id": "d1", "service": "shop", "commit_sha": "m1", "status": "success",
         "started_at": t(1.0), "finished_at": t(1.0 + 5.0 / 3600.0)},
        {"type": "pull_request", "id": "p2", "repository": "acme/web", "number": 2, "service": "shop",
         "first_commit_at": t(1.2), "opened_at": t(1.5), "merged_at": t(2.0), "merge_commit_sha": "m2",
         "additions": 100, "deletions": 30},
        commit("m2", 2.0, &["m1"]),
        {"type": "deployment", "id": "d2", "service": "shop", "commit_sha": "m2", "status": "success",
         "started_at": t(2.0), "finished_at": t(2.0 + 60.0 / 3600.0)},
        {"type": "pull_request", "id": "p3", "repository": "acme/shop", "number": 3, "service": "shop", "opened_at": t(3.0)},
        {"type": "pull_request", "id": "p4", "repository": "acme/shop", "number": 4, "service": "shop", "opened_at": t(3.0),
         "first_review_at": t(4.0)},
    ])
}

fn group<'a>(body: &'a Value, field: &str, name: &str) -> &'a Value {
    body["groups"].as_array().into_iter().flatten().find(|g| g[field] == name).unwrap_or_else(|| panic!("no group {field}={name} in {body:#}"))
}

fn budget<'a>(body: &'a Value, stage: &str) -> &'a Value {
    body["budgets"].as_array().into_iter().flatten().find(|b| b["stage"] == stage).unwrap_or_else(|| panic!("no budget {stage} in {body:#}"))
}

on_both!(pipelines_report_exact_percentiles_retries_flakes_and_time_to_green, |app| {
    app.ingest(runs()).await;
    let body = app.get(&format!("/api/v1/ci/pipelines?{}", window(-1.0, 24.0))).await;
    let test = group(&body, "pipeline", "test");
    assert_eq!((test["runs"].as_u64(), test["successes"].as_u64(), test["failures"].as_u64()), (Some(4), Some(2), Some(2)), "{test}");
    assert!(close(&test["success_rate"], 0.5), "{test}");
    // Durations 120, 240, 360, 720 s: median 300; p95 at rank 2.85 = 360 + 360 × 0.85 = 666.
    assert!(close(&test["duration"]["p50_seconds"], 300.0), "{test}");
    assert!(close(&test["duration"]["p95_seconds"], 666.0), "{test}");
    // Queues 0, 30, 60, 120 s: median 45; p95 = 60 + 60 × 0.85 = 111.
    assert!(close(&test["queue"]["p50_seconds"], 45.0), "{test}");
    assert!(close(&test["queue"]["p95_seconds"], 111.0), "{test}");
    assert_eq!((test["retries"].as_u64(), test["flaky_runs"].as_u64()), (Some(1), Some(1)), "r2 re-ran c1, which r1 failed: {test}");
    // Red at 5 min (r1), green at 16.5 min (r2); r4 is still red.
    assert_eq!(test["time_to_green"]["samples"], 1, "{test}");
    assert!(close(&test["time_to_green"]["p50_seconds"], 690.0), "{test}");
    let lint = group(&body, "pipeline", "lint");
    assert_eq!((lint["runs"].as_u64(), lint["successes"].as_u64(), lint["failures"].as_u64()), (Some(3), Some(2), Some(0)), "{lint}");
    assert!(close(&lint["success_rate"], 1.0), "a cancelled run gives no verdict: {lint}");
    // 0.5, 0.8, 2 s: median 0.8; p95 at rank 1.9 = 0.8 + 1.2 × 0.9 = 1.88.
    assert!(close(&lint["duration"]["p50_seconds"], 0.8), "{lint}");
    assert!(close(&lint["duration"]["p95_seconds"], 1.88), "{lint}");
    assert_eq!(lint["queue"]["samples"], 0, "{lint}");
    assert!(lint["queue"]["p50_seconds"].is_null(), "no queue time is unknown, not 0: {lint}");
    assert_eq!(body["total"]["runs"], 7, "{body}");
    assert!(close(&body["total"]["success_rate"], 4.0 / 6.0), "{body}");

    let by_stage = app.get(&format!("/api/v1/ci/pipelines?by=stage&{}", window(-1.0, 24.0))).await;
    assert_eq!(group(&by_stage, "stage", "pre_commit")["runs"], 3, "{by_stage}");
    assert_eq!(group(&by_stage, "stage", "pull_request")["flaky_runs"], 1, "{by_stage}");
    let only_pr = app.get(&format!("/api/v1/ci/pipelines?stage=pull_request&service=shop&{}", window(-1.0, 24.0))).await;
    assert_eq!(only_pr["total"]["runs"], 4, "{only_pr}");
    let later = app.get(&format!("/api/v1/ci/pipelines?{}", window(0.5, 24.0))).await;
    assert_eq!(later["total"]["runs"], 3, "only r3, r4 and l3 finish after 30 min: {later}");
    assert_eq!(later["total"]["flaky_runs"], 0, "r1 is outside the window: {later}");
});

on_both!(budgets_give_compliance_and_the_breaches_of_each_stage, |app| {
    app.ingest(runs()).await;
    app.ingest(pull_requests()).await;
    let body = app.get(&format!("/api/v1/ci/budgets?{}", window(-1.0, 24.0))).await;
    let pre = budget(&body, "pre_commit");
    assert_eq!((pre["budget_seconds"].as_f64(), pre["samples"].as_u64(), pre["breaches"].as_u64()), (Some(1.0), Some(2), Some(1)), "{pre}");
    assert!(close(&pre["compliance_percent"], 50.0), "{pre}");
    // Waits from the queue: 300, 390, 720, 240 s against 600 s.
    let pr = budget(&body, "pull_request");
    assert_eq!((pr["samples"].as_u64(), pr["within_budget"].as_u64()), (Some(4), Some(3)), "{pr}");
    assert!(close(&pr["compliance_percent"], 75.0), "{pr}");
    assert!(close(&pr["p50_seconds"], 345.0), "{pr}");
    // Merge → deploy: 5 s and 60 s against 10 s.
    let deploy = budget(&body, "deploy");
    assert_eq!((deploy["samples"].as_u64(), deploy["within_budget"].as_u64()), (Some(2), Some(1)), "{deploy}");
    assert!(close(&deploy["compliance_percent"], 50.0), "{deploy}");
    assert!(close(&deploy["p95_seconds"], 57.25), "{deploy}");
    let breaches: Vec<(&str, f64)> =
        body["breaches"].as_array().expect("breaches").iter().map(|b| (b["id"].as_str().unwrap_or(""), b["over_seconds"].as_f64().unwrap_or(-1.0))).collect();
    assert_eq!(body["breaches_total"], 3, "{body}");
    assert_eq!(breaches.len(), 3, "{body}");
    assert_eq!(breaches[0].0, "r3", "worst first: {body}");
    assert!((breaches[0].1 - 120.0).abs() < 1e-6 && (breaches[1].1 - 50.0).abs() < 1e-6 && (breaches[2].1 - 1.0).abs() < 1e-6, "{breaches:?}");
    assert_eq!((breaches[1].0, breaches[2].0), ("p2", "l2"), "{body}");
    let first = app.get(&format!("/api/v1/ci/budgets?limit=1&repository=acme/shop&{}", window(-1.0, 24.0))).await;
    assert_eq!((first["breaches_total"].as_u64(), first["breaches"].as_array().map(Vec::len)), (Some(2), Some(1)), "p2 is acme/web's: {first}");
});

on_both!(
    configured_budgets_replace_the_defaults_stage_by_stage,
    config = "[ci.budgets]\npull_request_secs = 350\npost_merge_secs = 1800\n",
    |app| {
        app.ingest(runs()).await;
        let body = app.get(&format!("/api/v1/ci/budgets?{}", window(-1.0, 24.0))).await;
        let stages: Vec<&str> = body["budgets"].as_array().expect("budgets").iter().filter_map(|b| b["stage"].as_str()).collect();
        assert_eq!(stages, ["pre_commit", "pull_request", "deploy", "post_merge"], "{body}");
        let pr = budget(&body, "pull_request");
        assert!(close(&pr["budget_seconds"], 350.0) && close(&pr["compliance_percent"], 50.0), "300 and 240 s fit in 350 s: {pr}");
        assert!(close(&budget(&body, "pre_commit")["budget_seconds"], 1.0), "{body}");
        assert!(budget(&body, "post_merge")["compliance_percent"].is_null(), "{body}");
    }
);

on_both!(
    pr_stages_are_summarized_per_team_and_repository,
    config = "[teams]\ncommerce = [\"shop\"]\n",
    |app| {
        app.ingest(pull_requests()).await;
        let body = app.get(&format!("/api/v1/prs/stages?{}", window(-1.0, 24.0))).await;
        assert_eq!(body["pull_requests"], 2, "{body}");
        assert!(close(&body["coding"]["median_seconds"], 1_080.0), "{body}");
        assert_eq!(body["pickup"]["samples"], 1, "p2 had no review: {body}");
        assert!(close(&body["pickup"]["median_seconds"], 720.0), "{body}");
        // Deploy 5 and 60 s: median 32.5; p90 = 5 + 55 × 0.9 = 54.5.
        assert!(close(&body["deploy"]["median_seconds"], 32.5) && close(&body["deploy"]["p90_seconds"], 54.5), "{body}");
        let teams = body["teams"].as_array().expect("teams");
        assert_eq!((teams.len(), &teams[0]["team"], &teams[0]["pull_requests"]), (1, &json!("commerce"), &json!(2)), "{body}");
        let repositories: Vec<(&str, u64)> =
            body["repositories"].as_array().expect("repositories").iter().map(|r| (r["repository"].as_str().unwrap_or(""), r["pull_requests"].as_u64().unwrap_or(0))).collect();
        assert_eq!(repositories, [("acme/shop", 1), ("acme/web", 1)], "{body}");
        assert!(close(&body["repositories"][1]["deploy"]["median_seconds"], 60.0), "{body}");
        let team = app.get(&format!("/api/v1/prs/stages?team=commerce&repository=acme/web&{}", window(-1.0, 24.0))).await;
        assert_eq!(team["pull_requests"], 1, "{team}");
    }
);

on_both!(throughput_counts_merges_per_week_and_size_and_lists_prs_waiting_for_review, |app| {
    app.ingest(pull_requests()).await;
    // Monday 2026-01-05 to the Monday two weeks later.
    let body = app.get(&format!("/api/v1/prs/throughput?{}", window(0.0, 336.0))).await;
    assert_eq!(body["merged"], 2, "{body}");
    assert!(close(&body["merged_per_week"], 1.0), "{body}");
    let weeks: Vec<u64> = body["weeks"].as_array().expect("weeks").iter().filter_map(|w| w["merged"].as_u64()).collect();
    assert_eq!(weeks, [2, 0], "{body}");
    let sizes: Vec<(&str, u64)> = body["sizes"].as_array().expect("sizes").iter().map(|s| (s["size"].as_str().unwrap_or(""), s["merged"].as_u64().unwrap_or(0))).collect();
    assert_eq!(sizes, [("xs", 1), ("s", 0), ("m", 1), ("l", 0), ("xl", 0)], "10 and 130 changed lines: {body}");
    assert!(close(&body["median_lines"], 70.0), "{body}");
    let waiting = body["waiting_for_first_review"].as_array().expect("waiting");
    assert_eq!(waiting.len(), 1, "p4 was reviewed: {body}");
    assert_eq!(waiting[0]["id"], "p3", "{body}");
    assert!(waiting[0]["waiting_seconds"].as_f64().is_some_and(|s| s > 0.0), "{body}");
    let web = app.get(&format!("/api/v1/prs/throughput?repository=acme/web&{}", window(0.0, 336.0))).await;
    assert_eq!((web["merged"].as_u64(), web["waiting_for_first_review"].as_array().map(Vec::len)), (Some(1), Some(0)), "{web}");
});

on_both!(bad_ci_and_pr_parameters_are_problems, |app| {
    for (path, parameter, description) in [
        ("/api/v1/ci/pipelines?by=week", "?by", "an unknown grouping"),
        ("/api/v1/ci/pipelines?environment=production", "?environment", "CI runs have no environment"),
        ("/api/v1/ci/pipelines?from=yesterday", "?from", "a time that is not one"),
        ("/api/v1/ci/budgets?limit=0", "?limit", "a limit below 1"),
        ("/api/v1/ci/budgets?benchmarks=2024", "?benchmarks", "budgets have no DORA bands"),
        ("/api/v1/prs/stages?by=team", "?by", "an unknown parameter"),
        ("/api/v1/prs/throughput?team=nobody", "?team", "an unknown team"),
        ("/api/v1/prs/throughput?from=now-1d&to=now-2d", "?from", "a window that ends before it starts"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 400, "{description}: {path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{description}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["errors"][0]["pointer"], parameter, "{description}: {body}");
    }
});

on_both!(the_budget_compliance_chart_draws_a_line_per_budgeted_stage, |app| {
    app.ingest(runs()).await;
    app.ingest(pull_requests()).await;
    let response = app.client.get(app.url(&format!("/charts/budget-compliance.svg?interval=day&{}", window(-24.0, 48.0)))).send().await.expect("chart");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let text = response.text().await.expect("svg");
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    let texts: Vec<&str> = svg.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    for expected in ["Stage budget compliance", "% within the stage's budget", "pre_commit ≤ 1 s", "pull_request ≤ 10 min", "deploy ≤ 10 s"] {
        assert!(texts.iter().any(|t| t.contains(expected)), "no text {expected:?} in {texts:?}");
    }
    let bad = app.client.get(app.url("/charts/budget-compliance.svg?benchmarks=2024")).send().await.expect("chart");
    assert_eq!(bad.status(), 400, "budgets have no DORA bands");
});

/// A fixture as JSON, changed by `edit`.
fn fixture(file: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let text = std::fs::read(format!("{FIXTURES}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut json: Value = serde_json::from_slice(&text).expect("json");
    edit(&mut json);
    serde_json::to_vec(&json).expect("json")
}

async fn github(app: &crate::helpers::TestApp, kind: &str, delivery: &str, body: Vec<u8>) {
    let (status, answer) = app.post_webhook("/webhooks/github", &[("x-github-event", kind), ("x-github-delivery", delivery)], body).await;
    assert_eq!(status, 200, "{kind}: {answer}");
}

async fn gitlab(app: &crate::helpers::TestApp, event: &str, body: Vec<u8>) {
    let (status, answer) = app.post_webhook("/webhooks/gitlab", &[("x-gitlab-event", event)], body).await;
    assert_eq!(status, 200, "{event}: {answer}");
}

on_both!(github_and_gitlab_ci_webhooks_flow_into_the_pipeline_numbers, |app| {
    // A job fails on 3484a3f and its re-run (a new job, attempt 2) passes the same commit.
    let failed = fixture("github/workflow_job.completed.failure.json", |j| j["workflow_job"]["id"] = json!(1001));
    let rerun = fixture("github/workflow_job.completed.success.json", |j| {
        let job = &mut j["workflow_job"];
        job["id"] = json!(1002);
        job["run_attempt"] = json!(2);
        job["created_at"] = json!("2021-08-05T10:44:00Z");
        job["started_at"] = json!("2021-08-05T10:44:58Z");
        job["completed_at"] = json!("2021-08-05T10:46:16Z");
    });
    github(&app, "workflow_job", "job-1", failed).await;
    github(&app, "workflow_job", "job-2", rerun).await;
    // A workflow run and its second attempt, both green.
    github(&app, "workflow_run", "run-1", fixture("github/workflow_run.completed.success.json", |_| {})).await;
    github(&app, "workflow_run", "run-2", fixture("github/workflow_run.completed.success.json", |r| r["workflow_run"]["run_attempt"] = json!(2))).await;
    gitlab(&app, "Pipeline Hook", fixture("gitlab/pipeline.success.json", |_| {})).await;
    gitlab(&app, "Job Hook", fixture("gitlab/job.success.production.json", |_| {})).await;

    let range = "from=2016-01-01T00:00:00Z&to=2024-01-01T00:00:00Z";
    let body = app.get(&format!("/api/v1/ci/pipelines?{range}")).await;
    assert_eq!(body["total"]["runs"], 6, "{body}");
    let job = group(&body, "pipeline", "CodeQL / linters");
    assert_eq!((job["runs"].as_u64(), job["retries"].as_u64(), job["flaky_runs"].as_u64()), (Some(2), Some(1), Some(1)), "{job}");
    assert!(close(&job["success_rate"], 0.5), "{job}");
    // 198 s and 78 s: median 138, p95 = 78 + 120 × 0.95 = 192; queues 60 and 58 s.
    assert!(close(&job["duration"]["p50_seconds"], 138.0) && close(&job["duration"]["p95_seconds"], 192.0), "{job}");
    assert!(close(&job["queue"]["p50_seconds"], 59.0), "{job}");
    assert!(close(&job["time_to_green"]["p50_seconds"], 480.0), "red at 10:38:16, green at 10:46:16: {job}");
    let run = group(&body, "pipeline", "test");
    assert_eq!((run["runs"].as_u64(), run["retries"].as_u64(), run["flaky_runs"].as_u64()), (Some(2), Some(1), Some(0)), "{run}");
    assert!(close(&run["queue"]["p50_seconds"], 25.0), "created 16:33:24, started 16:33:49: {run}");
    let pipeline = group(&body, "pipeline", "pipeline");
    assert!(close(&pipeline["duration"]["p50_seconds"], 169.0) && close(&pipeline["queue"]["p50_seconds"], 12.0), "{pipeline}");
    let deploy = group(&body, "pipeline", "auto_deploy:start");
    assert_eq!(deploy["retries"], 1, "GitLab's retries_count 1 makes it attempt 2: {deploy}");
    assert!(close(&deploy["duration"]["p50_seconds"], 49.0) && close(&deploy["queue"]["p50_seconds"], 3.0), "{deploy}");

    let budgets = app.get(&format!("/api/v1/ci/budgets?{range}")).await;
    let pr = budget(&budgets, "pull_request");
    assert_eq!(pr["samples"], 1, "the merge-request pipeline: {budgets}");
    assert!(close(&pr["p50_seconds"], 181.0) && close(&pr["compliance_percent"], 100.0), "queued 15:23:28, finished 15:26:29: {pr}");
    assert_eq!(budget(&budgets, "deploy")["samples"], 0, "a deploy job is not merge → deploy: {budgets}");
    let listed = app.get("/api/v1/ci-runs?repository=gitlab-org/gitlab-test").await;
    assert_eq!(listed["items"][0]["attempt"], Value::Null, "{listed}");
});
