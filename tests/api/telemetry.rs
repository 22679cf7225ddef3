//! `/metrics`: valid for promtool, scraped by a real Prometheus, OpenMetrics on request.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::{deploy, on_both, t};

fn installed(name: &str) -> bool {
    std::env::var_os("PATH").and_then(|p| p.to_str().map(|p| p.split(':').any(|d| Path::new(d).join(name).is_file()))).unwrap_or(false)
}

fn require(name: &str) -> bool {
    if installed(name) {
        return true;
    }
    assert!(std::env::var("PACER_REQUIRE_ALL").as_deref() != Ok("1"), "{name} is required (PACER_REQUIRE_ALL=1)");
    println!("skipped: {name} is not installed");
    false
}

on_both!(ci_run_histograms_are_bucketed_by_the_database, |app| {
    let run = |id: &str, status: &str, queued: Option<&str>, started: &str, finished: &str| {
        let mut run = json!({"type": "ci_run", "id": id, "pipeline": "build", "status": status, "stage": "post_merge",
                             "started_at": started, "finished_at": finished});
        if let Some(queued) = queued {
            run["queued_at"] = json!(queued);
        }
        run
    };
    app.ingest(json!([
        // 100 ms: on the first bound, so in its bucket; queued 0 ms.
        run("r1", "success", Some("2026-01-05T00:00:00.000Z"), "2026-01-05T00:00:00.000Z", "2026-01-05T00:00:00.100Z"),
        // 200 ms, with no queue time.
        run("r2", "success", None, "2026-01-05T00:00:00.000Z", "2026-01-05T00:00:00.200Z"),
        // 5 s, between the 2.7 s and 8.1 s bounds.
        run("r3", "success", None, "2026-01-05T00:00:00.000Z", "2026-01-05T00:00:05.000Z"),
        // 20 000 s: past the last bound (17 714.7 s).
        run("r4", "failure", None, "2026-01-05T00:00:00.000Z", "2026-01-05T05:33:20.000Z"),
    ]))
    .await;
    let text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    let success = "pipeline=\"build\",stage=\"post_merge\",status=\"success\"";
    let failure = "pipeline=\"build\",stage=\"post_merge\",status=\"failure\"";
    let queue = "pipeline=\"build\",stage=\"post_merge\"";
    for expected in [
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"0.1\",{success}}} 1\n"),
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"0.3\",{success}}} 2\n"),
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"2.7\",{success}}} 2\n"),
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"8.1\",{success}}} 3\n"),
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"+Inf\",{success}}} 3\n"),
        format!("pacer_ci_run_duration_seconds_sum{{{success}}} 5.3\n"),
        format!("pacer_ci_run_duration_seconds_count{{{success}}} 3\n"),
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"17714.7\",{failure}}} 0\n"),
        format!("pacer_ci_run_duration_seconds_bucket{{le=\"+Inf\",{failure}}} 1\n"),
        format!("pacer_ci_run_duration_seconds_sum{{{failure}}} 20000.0\n"),
        format!("pacer_ci_run_queue_seconds_bucket{{le=\"0.1\",{queue}}} 1\n"),
        format!("pacer_ci_run_queue_seconds_count{{{queue}}} 1\n"),
        format!("pacer_ci_run_queue_seconds_sum{{{queue}}} 0.0\n"),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_a_real_prometheus_scrapes_them() {
    if !require("promtool") || !require("prometheus") {
        return;
    }
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    app.ingest(json!([deploy("d1", "shop", "a", 1.0), deploy("d2", "shop", "b", 2.0),
                      {"type": "incident", "id": "i", "service": "shop", "opened_at": t(3.0)},
                      {"type": "ci_run", "id": "r", "pipeline": "build", "status": "success", "stage": "post_merge", "queued_at": t(0.45), "started_at": t(0.5), "finished_at": t(0.6)}]))
        .await;
    let _ = app.client.get(app.url("/nowhere")).send().await;
    let text = app.client.get(app.url("/metrics")).send().await.expect("metrics");
    assert!(text.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("text/plain; version=0.0.4")));
    let text = text.text().await.expect("text");
    for expected in [
        "pacer_deployments{service=\"shop\",environment=\"production\",status=\"success\"} 2",
        "pacer_open_incidents{service=\"shop\",environment=\"production\"} 1",
        "pacer_failed_deployments{service=\"shop\",environment=\"production\"} 1",
        "pacer_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "pacer_events_ingested_total{source=\"native\",outcome=\"accepted\"} 4",
        "pacer_ci_run_duration_seconds_count{pipeline=\"build\",stage=\"post_merge\",status=\"success\"} 1",
        "pacer_ci_run_queue_seconds_count{pipeline=\"build\",stage=\"post_merge\"} 1",
        "pacer_ci_run_queue_seconds_sum{pipeline=\"build\",stage=\"post_merge\"} 180.0",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    let mut promtool = Command::new("promtool").args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("promtool");
    std::io::Write::write_all(promtool.stdin.as_mut().expect("stdin"), text.as_bytes()).expect("write");
    let checked = promtool.wait_with_output().expect("promtool");
    assert!(checked.status.success(), "promtool: {}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));

    let open = app.client.get(app.url("/metrics")).header("accept", "application/openmetrics-text; version=1.0.0").send().await.expect("metrics");
    assert!(open.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("application/openmetrics-text")));
    assert!(open.text().await.expect("text").trim_end().ends_with("# EOF"));

    let dir = std::env::temp_dir().join(crate::helpers::unique("pacer_scrape"));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let target = app.base.trim_start_matches("http://");
    std::fs::write(dir.join("prometheus.yml"), format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pacer\n    static_configs:\n      - targets: ['{target}']\n")).expect("config");
    let mut prometheus = Command::new("prometheus")
        .args([
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = Value::Null;
    while Instant::now() < deadline {
        let answer = app.client.get(format!("http://127.0.0.1:{port}/api/v1/query")).query(&[("query", "pacer_deployments{status=\"success\"}")]).send().await;
        if let Ok(answer) = answer
            && let Ok(body) = answer.json::<Value>().await
            && body["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
        {
            found = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found["data"]["result"][0]["metric"]["service"], "shop", "Prometheus scraped pacer: {found}");
    assert_eq!(found["data"]["result"][0]["value"][1], "2");
}

/// `pacer serve` itself (whose allocator is jemalloc) reports what its allocator holds and what
/// the analysis's heap is, so that a replica's memory can be read apart from `/proc`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_its_allocator_and_the_analysis_heap() {
    let Some((url, _guard)) = crate::helpers::fresh_database(Backend::Sqlite).await else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", &url])
        .env_remove("PACER_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pacer serve");
    let (base, client) = (format!("http://127.0.0.1:{port}"), reqwest::Client::new());
    let value = |text: &str, name: &str| text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    let started = Instant::now();
    let mut text = String::new();
    while started.elapsed() < Duration::from_secs(60) {
        let events = json!([deploy("d1", "shop", "a", 1.0), deploy("d2", "shop", "b", 2.0)]);
        let posted = client.post(format!("{base}/api/v1/events")).json(&events).send().await.is_ok_and(|r| r.status().is_success());
        if posted && let Ok(response) = client.get(format!("{base}/metrics")).send().await {
            text = response.text().await.unwrap_or_default();
            if value(&text, "pacer_analysis_bytes{environment=\"production\"}").is_some_and(|b| b > 0.0) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let kind = |k: &str| value(&text, &format!("pacer_allocator_bytes{{kind=\"{k}\"}}")).unwrap_or_else(|| panic!("no {k} bytes in\n{text}"));
    assert!(value(&text, "pacer_analysis_bytes{environment=\"production\"}").is_some_and(|b| b > 0.0), "the analysis's heap in\n{text}");
    let (allocated, active, resident) = (kind("allocated"), kind("active"), kind("resident"));
    assert!(allocated > 0.0 && allocated <= active && active <= resident, "allocated {allocated} ≤ active {active} ≤ resident {resident}");
    assert!(kind("metadata") > 0.0);
}
