//! Black-box tests of pacer through its HTTP API, each on SQLite and on PostgreSQL with a fresh
//! database. Test names read as sentences about what a user would notice.

mod helpers;
/// Fuzzing inputs, shared with the collector's fuzz targets.
#[path = "../../collector/tests/mutate/mod.rs"]
mod mutate;

mod access;
mod auth;
mod backfill;
mod bad_input;
mod charts;
mod chat;
mod ci;
mod conformance;
mod cli;
mod deployers;
mod faults;
mod fuzz;
mod gate;
mod grafana;
mod hooks;
mod incident;
mod fixtures;
mod github_flow;
mod gitops;
mod ingest;
mod limits;
mod listing;
mod live;
mod page;
mod prometheus;
mod property;
mod report;
mod rework;
mod rollback;
mod scale_out;
mod scenarios;
mod send;
mod slack_bot;
mod slo;
mod slo_rules;
mod telemetry;
mod traces;
mod webhooks;

use serde_json::{Value, json};

/// Monday 2026-01-05 00:00 UTC, plus `hours`.
pub fn t(hours: f64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z").expect("valid");
    let at = base + chrono::Duration::milliseconds((hours * 3_600_000.0).round() as i64);
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A commit event.
pub fn commit(sha: &str, hours: f64, parents: &[&str]) -> Value {
    json!({"type": "commit", "id": sha, "committed_at": t(hours), "repository": "acme/shop", "parents": parents})
}

/// A successful production deployment of `service` at `sha`, finished at `hours`.
pub fn deploy(id: &str, service: &str, sha: &str, hours: f64) -> Value {
    json!({"type": "deployment", "id": id, "service": service, "commit_sha": sha, "status": "success",
           "started_at": t(hours - 0.1), "finished_at": t(hours)})
}

/// The same, with extra fields.
pub fn deploy_with(id: &str, service: &str, sha: &str, hours: f64, extra: Value) -> Value {
    let mut d = deploy(id, service, sha, hours);
    if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
        d.extend(extra.clone());
    }
    d
}

/// The query string of a window from `from` to `to` hours after the base time.
pub fn window(from: f64, to: f64) -> String {
    format!("from={}&to={}", enc(&t(from)), enc(&t(to)))
}

fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}
