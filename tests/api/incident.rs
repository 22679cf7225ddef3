//! The last step of an incident: its timeline (`GET /api/v1/incidents/{id}/timeline`) and its
//! postmortem draft (`GET /api/v1/incidents/{id}/postmortem`), driven through the public API only:
//! a rolled-back deployment with every fact pacer records, and the shorter timelines of an incident
//! without a known cause, one attributed through the window, and one from an SLO burn.
//!
//! Events carry explicit times, a whole number of seconds from a base instant; the times pacer's
//! own clock sets (its decision, each hook attempt, the gate's answer) are read back from
//! `GET /api/v1/rollbacks/{id}` and `GET /api/v1/gates`. The expected postmortem
//! (`tests/api/expected/postmortem.md`) names both kinds by placeholders: `{{T-300}}` is the base
//! less 300 s, `{{decided}}` the decision, and so on; everything else is compared as written.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::hooks::Receiver;
use crate::on_both;

/// Hook URLs are only known once the receiver listens, so the configuration is made per test.
fn config(hook: &str) -> String {
    format!(
        "[[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\ncooldown_secs = 0\nmax_per_hour = 100\n\
         [[rollback.hooks]]\nurl = \"{hook}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout_secs = 2\n\
         [[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\n"
    )
}

/// The base instant: now, to the whole second.
fn base() -> i64 {
    Utc::now().timestamp() * 1000
}

fn rfc3339(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis).expect("valid time").to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn millis(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("expected a time but found {value}"));
    DateTime::parse_from_rfc3339(text).expect("RFC 3339").timestamp_millis()
}

/// A time as the postmortem writes it.
fn when(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis).expect("valid time").format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration as the postmortem writes it (one decimal under a minute, else whole seconds).
fn exact(seconds: f64) -> String {
    if seconds < 59.95 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    let (h, m, s) = (whole / 3_600, whole / 60 % 60, whole % 60);
    if h > 0 { format!("{h} h {m} min {s} s") } else { format!("{m} min {s} s") }
}

/// The Alertmanager notification of the High5xx alert the rollback tests send, at explicit times.
fn alert(status: &str, starts: i64, ends: Option<i64>) -> Value {
    crate::rollback::alert(status, &rfc3339(starts), ends.map(rfc3339).as_deref())
}

async fn post(app: &crate::helpers::TestApp, path: &str, body: &Value) -> Value {
    let response = app.client.post(app.url(path)).json(body).send().await.expect("request");
    let status = response.status();
    let json: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "POST {path}: {json:#}");
    json
}

/// Polls `path` until `done` holds (or ten seconds pass) and returns the last answer.
async fn poll(app: &crate::helpers::TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = app.get(path).await;
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fills the expected file's placeholders: `{{T±n}}` from the base, the rest from `named`.
fn fill(template: &str, base: i64, named: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").map(|e| start + e).expect("a closed placeholder");
        let name = &rest[start + 2..end];
        let value = match name.strip_prefix('T') {
            Some(offset) => when(base + offset.parse::<i64>().expect("seconds") * 1000),
            None => named.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no value for {{{{{name}}}}}")),
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn kinds(timeline: &Value) -> Vec<&str> {
    timeline["entries"].as_array().expect("entries").iter().map(|e| e["kind"].as_str().expect("kind")).collect()
}

/// Two deployments with the commits and pull request the second shipped, an Alertmanager alert,
/// pacer's rollback decision and its delivery (503, then 200), a gate question while it is open,
/// the rollback deployment and the resolution: every entry in order, every duration exact, and the
/// postmortem as committed.
async fn a_rolled_back_incident_has_every_fact_in_order_and_its_postmortem_as_committed(backend: crate::helpers::Backend) {
    let hook = Receiver::start().await;
    let Some(app) = crate::helpers::TestApp::spawn_with_config(backend, &config(&hook.url), &[]).await else { return };
    let b = base();
    let t = |seconds: i64| rfc3339(b + seconds * 1000);
    app.ingest(json!([
        {"type": "commit", "id": "c1", "committed_at": t(-30_000), "repository": "acme/checkout", "author": "lin", "message": "Start"},
        {"type": "commit", "id": "c2", "committed_at": t(-5_400), "repository": "acme/checkout", "parents": ["c1"],
         "message": "Cache prices\n\nso the page is faster", "author": "ana"},
        {"type": "pull_request", "id": "acme/checkout#7", "repository": "acme/checkout", "number": 7, "author": "ana",
         "first_commit_at": t(-6_000), "opened_at": t(-4_800), "first_review_at": t(-4_200), "merged_at": t(-3_600), "merge_commit_sha": "c2"},
        {"type": "ci_run", "id": "build-41", "pipeline": "build", "status": "success", "started_at": t(-3_500), "finished_at": t(-3_300),
         "repository": "acme/checkout", "commit_sha": "c2", "url": "https://ci.example/build-41"},
        {"type": "deployment", "id": "v1", "service": "checkout", "version": "1.0.0", "commit_sha": "c1", "status": "success",
         "started_at": t(-12_000), "finished_at": t(-11_400)},
        {"type": "deployment", "id": "v2", "service": "checkout", "version": "1.1.0", "commit_sha": "c2", "status": "success",
         "started_at": t(-420), "finished_at": t(-300), "url": "https://ci.example/deploys/v2"},
        {"type": "sli", "service": "checkout", "at": t(-10_800), "good": 100_000, "total": 100_000},
        {"type": "sli", "service": "checkout", "at": t(60), "good": 990, "total": 1_000},
    ]))
    .await;

    // The hook fails once, then takes the delivery.
    hook.answer(503);
    let fired = post(&app, "/webhooks/alertmanager", &alert("firing", b - 30_000, None)).await;
    let rollback_id = fired["rollbacks"][0].as_str().unwrap_or_else(|| panic!("a rollback: {fired}")).to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.answered() < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hook.answer(200);
    let rollback = poll(&app, &format!("/api/v1/rollbacks/{rollback_id}"), |r| r["state"] == "delivered").await;
    assert_eq!(rollback["state"], "delivered", "{rollback:#}");
    let gate = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(gate["proceed"], false, "the gate halts while the incident is open: {gate:#}");
    let asked = app.get("/api/v1/gates?service=checkout").await;

    // The deployer rolls back; the alert resolves.
    app.ingest(json!({"type": "deployment", "id": "v3", "service": "checkout", "version": "1.0.0", "commit_sha": "c1", "status": "success",
                      "started_at": t(60), "finished_at": t(120), "rollback_of": "v2", "url": "https://ci.example/deploys/v3"}))
    .await;
    post(&app, "/webhooks/alertmanager", &alert("resolved", b - 30_000, Some(b + 180_000))).await;

    let incident_id = format!("alert:a1b2c3d4e5f60708:{}", b - 30_000);
    let encoded = incident_id.replace(':', "%3A");
    let timeline = app.get(&format!("/api/v1/incidents/{encoded}/timeline")).await;
    assert_eq!(
        kinds(&timeline),
        [
            "deployment_started",
            "deployment_finished",
            "alert_fired",
            "incident_opened",
            "rollback_decided",
            "hook_attempt",
            "hook_attempt",
            "gate_answer",
            "rollback_deployment_finished",
            "alert_resolved",
            "incident_resolved",
        ],
        "{timeline:#}"
    );
    let entries = &timeline["entries"];
    let decided = millis(&rollback["created_at"]);
    let attempts = &rollback["deliveries"][0]["attempts"];
    let (first, second) = (millis(&attempts[0]["at"]), millis(&attempts[1]["at"]));
    let gate_at = millis(&asked["items"][0]["asked_at"]);
    let times: Vec<i64> = entries.as_array().expect("entries").iter().map(|e| millis(&e["at"])).collect();
    assert_eq!(times, [b - 420_000, b - 300_000, b - 30_000, b - 30_000, decided, first, second, gate_at, b + 120_000, b + 180_000, b + 180_000]);

    let shipped = &entries[1]["details"]["shipped"];
    assert_eq!(entries[1]["source"], "deployer");
    assert_eq!(entries[1]["link"], "https://ci.example/deploys/v2");
    // pacer writes times as RFC 3339 with as many fraction digits as they need (none here).
    let served = |seconds: i64| DateTime::from_timestamp_millis(b + seconds * 1000).expect("valid time").to_rfc3339_opts(SecondsFormat::AutoSi, true);
    assert_eq!(shipped["commits"], json!([{"sha": "c2", "author": "ana", "message": "Cache prices", "committed_at": served(-5_400)}]));
    assert_eq!(shipped["pull_requests"][0]["number"], 7);
    assert_eq!(shipped["pull_requests"][0]["first_review_at"], served(-4_200));
    assert_eq!(shipped["ci_runs"][0]["id"], "build-41");
    assert_eq!(shipped["compare_url"], "https://github.com/acme/checkout/compare/c1...c2");
    let fired = &entries[2];
    assert_eq!((&fired["source"], &fired["link"]), (&json!("alerting"), &json!("http://prometheus/graph?g0.expr=rate")));
    assert_eq!(fired["details"]["labels"], json!({"alertname": "High5xx", "service": "checkout", "severity": "page"}));
    assert_eq!(fired["details"]["annotations"], json!({"summary": "5xx above 5 %"}));
    let decision = &entries[4]["details"];
    assert_eq!((&decision["mode"], &decision["approved_by"]), (&json!("auto"), &json!("pacer (auto policy)")));
    assert_eq!(decision["reason"], rollback["reason"]);
    assert_eq!(entries[4]["link"], format!("/api/v1/rollbacks/{rollback_id}"));
    assert_eq!((&entries[5]["details"]["status_code"], &entries[6]["details"]["status_code"]), (&json!(503), &json!(200)));
    assert_eq!(entries[5]["details"]["attempt"], 1);
    assert_eq!(entries[7]["details"]["proceed"], false);
    assert_eq!(entries[8]["details"]["rollback_of"], "v2");
    assert_eq!(timeline["incident"]["cause"], "guard_window");
    assert_eq!(timeline["incident"]["blamed_deployments"], json!(["v2"]));
    assert_eq!(timeline["unknown"], json!([]));

    let seconds = |from: i64, to: i64| (to - from) as f64 / 1000.0;
    assert_eq!(
        timeline["durations"],
        json!({
            "detect_seconds": 270.0,
            "decide_seconds": seconds(b - 30_000, decided),
            "roll_back_seconds": seconds(decided, b + 120_000),
            "restore_seconds": 210.0,
        })
    );

    let response = app.client.get(app.url(&format!("/api/v1/incidents/{encoded}/postmortem"))).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/markdown; charset=utf-8");
    let markdown = response.text().await.expect("text");
    let expected = fill(
        include_str!("expected/postmortem.md"),
        b,
        &[
            ("incident", incident_id.clone()),
            ("hook", hook.url.clone()),
            ("rollback", rollback_id.clone()),
            ("decided", when(decided)),
            ("attempt1", when(first)),
            ("attempt2", when(second)),
            ("gate", when(gate_at)),
            ("decide", exact(seconds(b - 30_000, decided))),
            ("roll_back", exact(seconds(decided, b + 120_000))),
        ],
    );
    if markdown != expected {
        println!("----- postmortem as served -----\n{markdown}\n----- end -----");
    }
    assert!(markdown == expected, "the postmortem differs from tests/api/expected/postmortem.md (served text above)");

    let page = app.client.get(app.url(&format!("/api/v1/incidents/{encoded}/postmortem?format=html"))).send().await.expect("request");
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.expect("text");
    assert!(html.contains("<h2>Timeline</h2>") && html.contains("Time to roll back:"), "{html}");
    let listed = app.client.get(app.url("/")).send().await.expect("request").text().await.expect("text");
    assert!(listed.contains(&format!("/api/v1/incidents/{}/postmortem?format=html", incident_id.replace(':', "%3A"))), "the page links the postmortem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_incident_has_every_fact_in_order_and_its_postmortem_as_committed_on_sqlite() {
    a_rolled_back_incident_has_every_fact_in_order_and_its_postmortem_as_committed(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_incident_has_every_fact_in_order_and_its_postmortem_as_committed_on_postgres() {
    a_rolled_back_incident_has_every_fact_in_order_and_its_postmortem_as_committed(crate::helpers::Backend::Postgres).await;
}

on_both!(an_incident_without_a_known_cause_says_so_and_invents_no_duration, |app| {
    let b = base();
    let t = |seconds: i64| rfc3339(b + seconds * 1000);
    app.ingest(json!([
        {"type": "deployment", "id": "s1", "service": "search", "status": "success", "finished_at": t(-3 * 86_400)},
        {"type": "incident", "id": "INC-1", "service": "search", "opened_at": t(-600), "resolved_at": t(-60), "title": "search is slow"},
    ]))
    .await;
    let timeline = app.get("/api/v1/incidents/INC-1/timeline").await;
    assert_eq!(kinds(&timeline), ["incident_opened", "incident_resolved"], "{timeline:#}");
    assert_eq!(timeline["entries"][0]["source"], "incident");
    assert_eq!(timeline["incident"]["cause"], "unknown");
    assert_eq!(
        timeline["durations"],
        json!({"detect_seconds": null, "decide_seconds": null, "roll_back_seconds": null, "restore_seconds": 540.0})
    );
    let unknown = timeline["unknown"].as_array().expect("unknown");
    assert!(unknown.iter().any(|u| u.as_str().is_some_and(|u| u.starts_with("No deployment is known to have caused"))), "{timeline:#}");
    let markdown = app.client.get(app.url("/api/v1/incidents/INC-1/postmortem")).send().await.expect("request").text().await.expect("text");
    assert!(markdown.contains("- **Cause:** unknown"), "{markdown}");
    assert!(markdown.contains("- **Time to detect:** unknown (no deployment is blamed)"), "{markdown}");
    assert!(markdown.contains("No deployment is blamed, so nothing shipped is known to be involved."), "{markdown}");

    let missing = app.client.get(app.url("/api/v1/incidents/INC-404/timeline")).send().await.expect("request");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let bad = app.client.get(app.url("/api/v1/incidents/INC-1/postmortem?format=pdf")).send().await.expect("request");
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
});

on_both!(an_incident_attributed_through_the_window_shows_the_deployment_before_it_and_no_rollback, |app| {
    let b = base();
    let t = |seconds: i64| rfc3339(b + seconds * 1000);
    app.ingest(json!([
        {"type": "commit", "id": "a1", "committed_at": t(-9_000), "repository": "acme/search", "author": "kim", "message": "Reindex nightly"},
        {"type": "deployment", "id": "s1", "service": "search", "version": "2.0", "commit_sha": "a1", "status": "success",
         "started_at": t(-7_500), "finished_at": t(-7_200), "commits": [{"sha": "a1", "committed_at": t(-9_000)}]},
        {"type": "incident", "id": "INC-2", "service": "search", "opened_at": t(-3_600), "resolved_at": t(-1_800), "title": "stale results"},
    ]))
    .await;
    let timeline = app.get("/api/v1/incidents/INC-2/timeline").await;
    assert_eq!(kinds(&timeline), ["deployment_started", "deployment_finished", "incident_opened", "incident_resolved"], "{timeline:#}");
    assert_eq!(timeline["incident"]["cause"], "attribution_window");
    assert_eq!(timeline["incident"]["blamed_deployments"], json!(["s1"]));
    assert_eq!(timeline["entries"][1]["details"]["shipped"]["commits"][0]["message"], "Reindex nightly");
    assert_eq!(timeline["entries"][1]["details"]["shipped"]["compare_url"], Value::Null, "no deployment before it: no compare link");
    assert_eq!(
        timeline["durations"],
        json!({"detect_seconds": 3_600.0, "decide_seconds": null, "roll_back_seconds": null, "restore_seconds": 1_800.0})
    );
    assert_eq!(timeline["unknown"], json!(["pacer decided no rollback for this incident."]));
});

on_both!(an_incident_from_an_slo_burn_starts_with_the_burn_and_says_what_is_not_known, config = "slo_interval_secs = 1\n\
    [[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\nmin_events = 100\n", |app| {
    let mut events = Vec::new();
    for minute in 0..60 {
        let good = if minute <= 10 { 500 } else { 1000 };
        events.push(json!({"type": "sli", "service": "checkout", "at": rfc3339(base() - minute * 60_000 - 1_000), "good": good, "total": 1000}));
    }
    app.ingest(Value::Array(events)).await;
    let listed = poll(&app, "/api/v1/incidents", |l| l["items"].as_array().is_some_and(|i| !i.is_empty())).await;
    let id = listed["items"][0]["id"].as_str().expect("the burn opened an incident").to_owned();
    assert!(id.starts_with("alert:slo-checkout-availability:"), "{id}");
    let timeline = app.get(&format!("/api/v1/incidents/{}/timeline", id.replace(':', "%3A"))).await;
    assert_eq!(kinds(&timeline), ["slo_burn_started", "incident_opened"], "{timeline:#}");
    assert_eq!(timeline["entries"][0]["source"], "slo");
    assert_eq!(timeline["entries"][0]["details"]["slo"], "checkout-availability");
    assert_eq!(timeline["entries"][0]["details"]["labels"], Value::Null, "no decision, so the labels are not known");
    assert_eq!(timeline["entries"][0]["at"], timeline["incident"]["opened_at"]);
    assert_eq!(timeline["incident"]["cause"], "unknown");
    assert_eq!(timeline["durations"], json!({"detect_seconds": null, "decide_seconds": null, "roll_back_seconds": null, "restore_seconds": null}));
    let unknown: Vec<&str> = timeline["unknown"].as_array().expect("unknown").iter().filter_map(Value::as_str).collect();
    assert_eq!(unknown.len(), 4, "no cause, no labels, no rollback, not resolved: {unknown:?}");
    let markdown = app.client.get(app.url(&format!("/api/v1/incidents/{}/postmortem", id.replace(':', "%3A")))).send().await.expect("request").text().await.expect("text");
    assert!(markdown.contains("**SLO burn started**"), "{markdown}");
    assert!(markdown.contains("- **SLO checkout-availability** (99.9 % over 30 days):"), "{markdown}");
    assert!(markdown.contains("- **Resolved:** not yet"), "{markdown}");
});
