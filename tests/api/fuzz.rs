//! Fuzzing through the front door: the configuration file parser, and mutated fixtures posted to
//! every ingest endpoint of a running pacer on SQLite and on PostgreSQL. Whatever arrives, the
//! answer is a 2xx or a 4xx `application/problem+json` whose `status` matches — never a 5xx —
//! and the read endpoints still answer over whatever was stored.
//!
//! Each target runs for `PACER_FUZZ_SECONDS` (a short default in CI); the long run is
//! `PACER_FUZZ_SECONDS=300 cargo test --release --test api fuzz:: -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use pacer::config::{Overrides, Settings};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{TestApp, unique};
use crate::mutate::{Input, budget, cdevents_seeds, first_seed, fixtures, gitlab_event, mutations, native_seeds, run_for, to_json, to_toml};

/// Seconds per target when `PACER_FUZZ_SECONDS` is not set: a short run for CI.
const DEFAULT_SECS: f64 = 2.0;

/// The example configuration and a few variations that switch on every section.
fn config_seeds() -> Vec<Value> {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pacer.example.toml")).expect("example");
    let table: toml::Table = toml::from_str(&example).expect("the example parses");
    let example = serde_json::to_value(&table).expect("as JSON");
    let full = json!({
        "listen": "127.0.0.1:0", "database_url": "postgres://pacer:secret@db/pacer", "api_token": "0123456789abcdef0123",
        "attribution_window_secs": 3600, "benchmarks": 2023, "max_body_bytes": 2048,
        "rollback": [{"service": "checkout", "environment": "production", "policy": "auto", "guard_window_secs": 900,
                      "matchers": {"severity": "page"},
                      "hooks": [{"url": "https://deploy.example/rollback", "secret": "whsec_abc", "timeout_secs": 5, "headers": {"x": "y"}}]}],
        "slo": [{"name": "availability", "service": "checkout", "objective": 0.999, "window_days": 28,
                 "prometheus": {"url": "http://prometheus:9090", "total": "sum(rate(x[5m]))", "errors": "sum(rate(y[5m]))"}}],
        "repositories": [{"repository": "acme/mono", "path_prefix": "services/api/", "service": "api"}],
        "report": {"schedule": "0 8 * * MON", "timezone": "Europe/Paris", "from": "pacer@example.com",
                   "smtp_url": "smtp://mail:25", "recipients": ["a@example.com"], "teams": {"t": ["b@example.com"]}},
        "teams": {"payments": ["checkout", "billing"]}, "environments": {"prd": "production"},
        "github": {"secret": "s", "incident_label": "bug", "deploy_source": "both"}, "pagerduty": {"services": {"API": "api"}},
    });
    vec![example, full]
}

#[test]
fn the_configuration_parser_reports_problems_and_never_panics() {
    let seeds = Arc::new(config_seeds());
    let file = std::env::temp_dir().join(format!("{}.toml", unique("pacer_fuzz_config")));
    let env = HashMap::new();
    run_for("config", budget(DEFAULT_SECS), &mutations(seeds, to_toml), |input: Input| {
        std::fs::write(&file, &input.bytes).expect("write");
        match Settings::load(Some(&file), &env, &Overrides::default()) {
            Ok(settings) => {
                let _ = settings.describe();
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty(), "a rejection without any problem");
                prop_assert!(errors.iter().all(|e| !e.trim().is_empty()), "an empty problem: {errors:?}");
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_file(file);
}

/// One ingest endpoint: where it is, the seeds, the headers for a seed.
struct Endpoint {
    name: &'static str,
    path: &'static str,
    seeds: Vec<Value>,
    headers: Box<dyn Fn(usize) -> Vec<(String, String)> + Send + Sync>,
}

fn endpoints() -> Vec<Endpoint> {
    let names = |dir: &str, keep: fn(&str) -> bool| -> (Vec<String>, Vec<Value>) { fixtures(dir, keep).into_iter().unzip() };
    let (github_names, github) = names("github", |_| true);
    let (gitlab_names, gitlab) = names("gitlab", |_| true);
    let (_, pagerduty) = names("pagerduty", |_| true);
    let (_, alertmanager) = names("alerts", |n| n.starts_with("alertmanager"));
    let (_, grafana) = names("alerts", |n| n.starts_with("grafana"));
    let cdevents: Vec<Value> = cdevents_seeds().into_iter().map(|(_, v)| v).collect();
    let json = || vec![("content-type".to_owned(), "application/json".to_owned())];
    vec![
        Endpoint { name: "native", path: "/api/v1/events", seeds: native_seeds(), headers: Box::new(move |seed| {
            let media = if seed % 2 == 0 { "application/json" } else { "application/x-ndjson" };
            vec![("content-type".to_owned(), media.to_owned())]
        }) },
        Endpoint { name: "github", path: "/webhooks/github", seeds: github, headers: Box::new(move |seed| {
            let event = github_names.get(seed).map_or("push", |n| n.split('.').next().unwrap_or("push"));
            let mut h = json();
            h.push(("x-github-event".to_owned(), event.to_owned()));
            h.push(("x-github-delivery".to_owned(), unique("delivery")));
            h
        }) },
        Endpoint { name: "gitlab", path: "/webhooks/gitlab", seeds: gitlab, headers: Box::new(move |seed| {
            let mut h = json();
            h.push(("x-gitlab-event".to_owned(), gitlab_event(gitlab_names.get(seed).map_or("push", String::as_str)).to_owned()));
            h
        }) },
        Endpoint { name: "cdevents", path: "/webhooks/cdevents", seeds: cdevents, headers: Box::new(move |_| json()) },
        Endpoint { name: "pagerduty", path: "/webhooks/pagerduty", seeds: pagerduty, headers: Box::new(move |_| json()) },
        Endpoint { name: "alertmanager", path: "/webhooks/alertmanager", seeds: alertmanager, headers: Box::new(move |_| json()) },
        Endpoint { name: "grafana", path: "/webhooks/grafana", seeds: grafana, headers: Box::new(move |_| json()) },
    ]
}

/// Checks one answer: 2xx, or a 4xx problem+json whose `status` is the HTTP status.
async fn check(response: reqwest::Response, what: &str) -> u16 {
    let status = response.status().as_u16();
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = response.bytes().await.expect("a body");
    assert!(status < 500, "{what}: answered {status}: {}", String::from_utf8_lossy(&body));
    if status >= 400 {
        assert_eq!(media, "application/problem+json", "{what}: a {status} that is not a problem");
        let problem: Value = serde_json::from_slice(&body).expect("a problem is JSON");
        assert_eq!(problem["status"], status, "{what}: {problem}");
    }
    status
}

async fn mutated_deliveries_to_every_endpoint_get_2xx_or_a_4xx_problem(app: TestApp) {
    let seed = first_seed();
    let engine = if app.database_url.starts_with("sqlite:") { "sqlite" } else { "postgres" };
    for endpoint in endpoints() {
        let strategy = mutations(Arc::new(endpoint.seeds), to_json);
        let config = Config { rng_seed: RngSeed::Fixed(seed), failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new(config);
        let (limit, started) = (budget(DEFAULT_SECS), Instant::now());
        let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
        while started.elapsed() < limit {
            let input = strategy.new_tree(&mut runner).expect("an input").current();
            let mut request = app.client.post(app.url(endpoint.path)).body(input.bytes.clone());
            for (name, value) in (endpoint.headers)(input.seed) {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("an answer");
            let what = format!("{} with {input:?}", endpoint.name);
            *statuses.entry(check(response, &what).await).or_default() += 1;
        }
        let total: u64 = statuses.values().sum();
        println!("fuzz http {} on {engine}: {total} requests in {:.1} s, statuses {statuses:?} (PACER_FUZZ_SEED={seed})", endpoint.name, started.elapsed().as_secs_f64());
    }
    // Whatever was stored, the numbers and listings are still computed.
    for path in ["/api/v1/dora", "/api/v1/dora/series", "/api/v1/deployments", "/api/v1/incidents", "/api/v1/commits", "/api/v1/pull-requests", "/api/v1/ci-runs", "/api/v1/lead-time/stages", "/api/v1/reports/preview"] {
        let response = app.client.get(app.url(path)).send().await.expect("an answer");
        let status = check(response, path).await;
        assert_eq!(status, 200, "{path} over fuzzed data");
    }
}

// The fuzzer sends as fast as it can from one address: the per-IP rate limit is off, so every
// request reaches a parser.
crate::on_both!(mutated_deliveries_to_every_endpoint_get_2xx_or_a_4xx_problem, env = [("PACER_LIMITS_IP_REQUESTS_PER_SEC", "0")], |app| {
    mutated_deliveries_to_every_endpoint_get_2xx_or_a_4xx_problem(app).await;
});

// Found by the fuzzer: PostgreSQL text cannot hold U+0000, and such input was answered 500 there.
crate::on_both!(text_with_nul_is_refused_by_the_native_api_and_replaced_in_webhooks, |app| {
    let response = app.post_events(&json!([{"type": "deployment", "id": "a\u{0}b", "service": "api", "status": "success",
                                             "finished_at": "2026-01-05T10:00:00Z"}])).await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["errors"][0]["pointer"], "/0/id", "{problem}");

    let alert = json!({"alerts": [{"labels": {"alertname": "Down\u{0}", "service": "api"}, "startsAt": "2026-01-05T10:00:00Z"}]});
    let (status, body) = app.post_webhook("/webhooks/alertmanager", &[], alert.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let incidents = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"][0]["title"], "Down\u{fffd}", "{incidents}");
});
