//! SLO burn from `sli` events: exact weighted ratios through the API, and a fast burn after a
//! deployment that rolls it back through the same loop as an alert.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::hooks::Receiver;

fn ago(seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9 * expected.abs().max(1.0))
}

async fn a_fast_burn_after_a_deployment_pages_and_rolls_it_back(backend: Backend) {
    let hook = Receiver::start().await;
    let toml = format!(
        "slo_interval_secs = 1\n\
         [[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\nmin_events = 100\n\
         [[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\n[[rollback.hooks]]\nurl = \"{}\"\n",
        hook.url
    );
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    let mut events = vec![
        json!({"type": "deployment", "id": "v1", "service": "checkout", "version": "1.0", "status": "success", "finished_at": ago(7_200)}),
        json!({"type": "deployment", "id": "v2", "service": "checkout", "version": "1.1", "status": "success", "finished_at": ago(660)}),
    ];
    // One sample a minute for an hour: clean until ten minutes ago, then half the requests fail.
    for minute in 0..60 {
        let good = if minute <= 10 { 500 } else { 1000 };
        events.push(json!({"type": "sli", "service": "checkout", "at": ago(minute * 60 + 1), "good": good, "total": 1000}));
    }
    app.ingest(Value::Array(events)).await;

    let slo = app.get("/api/v1/slos/checkout-availability").await;
    let five = &slo["windows"][0];
    assert_eq!(five["window"], "5m");
    assert!(close(&five["error_ratio"], 0.5), "{slo:#}");
    assert!(close(&five["burn_rate"], 500.0), "{slo:#}");
    let hour = &slo["windows"][2];
    assert!(close(&hour["error_ratio"], 5_500.0 / 60_000.0), "weighted by traffic: {slo:#}");
    assert!(close(&slo["budget_remaining"], 1.0 - (5_500.0 / 60_000.0) / 0.001_000_000_000_000_000_9), "{slo:#}");
    assert_eq!(slo["status"], "page");
    assert_eq!(slo["firing"][0]["long"], "1h");
    assert_eq!(app.get("/api/v1/slos").await["items"].as_array().map(Vec::len), Some(1));

    let requests = hook.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(requests.len(), 1, "the burn rolled back the deployment");
    let report = requests[0].json();
    assert_eq!(report["trigger"]["alert"], "SLOBurnRate");
    assert_eq!(report["trigger"]["labels"]["slo"], "checkout-availability");
    assert_eq!(report["deployment"]["id"], "v2");
    assert_eq!(report["target"]["id"], "v1");
    let missing = app.client.get(app.url("/api/v1/slos/nope")).send().await.expect("request");
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_after_a_deployment_pages_and_rolls_it_back_on_sqlite() {
    a_fast_burn_after_a_deployment_pages_and_rolls_it_back(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_after_a_deployment_pages_and_rolls_it_back_on_postgres() {
    a_fast_burn_after_a_deployment_pages_and_rolls_it_back(Backend::Postgres).await;
}

/// The same minutes of `sli` samples under three SLOs: time slices over the last 30 days, ratio
/// time slices, and time slices over a daily calendar period that began 30 minutes before the
/// current minute (in a zone five hours behind UTC).
fn time_slice_config(calendar_start: &str) -> String {
    format!(
        "[[slo]]\nname = \"slices\"\nservice = \"checkout\"\nobjective = 99\nmin_events = 10\nbudgeting = \"timeslices\"\ntime_slice_secs = 60\ntime_slice_target = 95\n\
         [[slo]]\nname = \"ratios\"\nservice = \"checkout\"\nobjective = 99\nmin_events = 10\nbudgeting = \"ratio_timeslices\"\n\
         [[slo]]\nname = \"today\"\nservice = \"checkout\"\nobjective = 99\nmin_events = 10\nbudgeting = \"timeslices\"\ntime_slice_target = 0.95\n\
         window = \"calendar\"\ncalendar_period = \"1d\"\ncalendar_start = \"{calendar_start}\"\ncalendar_time_zone = \"Etc/GMT+5\"\n"
    )
}

async fn time_slice_slos_count_slices_of_sli_events(backend: Backend) {
    // The samples are laid out from the current minute, and the answers must all come within its
    // first half, while the 5m window still holds the sample 4½ minutes back. On a loaded machine
    // a start or a read may take longer: then the minute is tried again, three times at most.
    for attempt in 1..=3 {
        match time_slice_answers(backend).await {
            Attempt::Skipped => return,
            Attempt::Answered(answers) => return check_time_slice_answers(*answers),
            Attempt::Late => eprintln!("attempt {attempt}: the answers came after the minute's first 30 s; trying the next minute"),
        }
    }
    panic!("three minutes in a row, the app could not start and answer within the first 30 s of the minute");
}

/// One try at the minute.
enum Attempt {
    /// The backend is absent (`TestApp::spawn_with_config` said so).
    Skipped,
    /// The answers did not all come within the first 30 s of the minute.
    Late,
    /// They did.
    Answered(Box<TimeSliceAnswers>),
}

/// The three SLOs' answers, and the minute their samples were laid out from.
struct TimeSliceAnswers {
    current: i64,
    slices: Value,
    ratios: Value,
    today: Value,
    listed: Value,
}

async fn time_slice_answers(backend: Backend) -> Attempt {
    let second = Utc::now().timestamp() % 60;
    if second > 5 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    let minute_ms = 60_000;
    let current = Utc::now().timestamp_millis().div_euclid(minute_ms) * minute_ms;
    // The calendar's start is set from the minute too, so the app starts after it is known.
    let begun = chrono::DateTime::from_timestamp_millis(current - 30 * minute_ms).expect("time") - chrono::Duration::hours(5);
    let toml = time_slice_config(&begun.format("%Y-%m-%dT%H:%M:%S").to_string());
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return Attempt::Skipped };
    // The minute slices that ended k minutes before the current one began, one sample in each:
    // k = 0 has 94 good of 100 (bad), k = 1 95 of 100 (exactly the target: good), k = 2 nothing,
    // k = 3 90 of 100 (bad), k = 4 1000 of 1000; then 55 clean minutes of 100.
    let slice = |k: i64, good: i64, total: i64| {
        let at = chrono::DateTime::from_timestamp_millis(current - k * minute_ms - 30_000).expect("time");
        json!({"type": "sli", "service": "checkout", "at": at.to_rfc3339_opts(SecondsFormat::Millis, true), "good": good, "total": total})
    };
    let mut events = vec![slice(0, 94, 100), slice(1, 95, 100), slice(3, 90, 100), slice(4, 1000, 1000)];
    events.extend((5..60).map(|k| slice(k, 100, 100)));
    app.ingest(Value::Array(events)).await;
    let answers = TimeSliceAnswers {
        current,
        slices: app.get("/api/v1/slos/slices").await,
        ratios: app.get("/api/v1/slos/ratios").await,
        today: app.get("/api/v1/slos/today").await,
        listed: app.get("/api/v1/slos").await,
    };
    if Utc::now().timestamp_millis() - current < 30_000 { Attempt::Answered(Box::new(answers)) } else { Attempt::Late }
}

fn check_time_slice_answers(TimeSliceAnswers { current, slices, ratios, today, listed }: TimeSliceAnswers) {
    let minute_ms = 60_000;
    assert_eq!(slices["budgeting"], "timeslices", "{slices:#}");
    let five = &slices["windows"][0];
    assert_eq!(five["window"], "5m");
    assert_eq!((five["slices"]["counted"].as_f64(), five["slices"]["bad"].as_f64()), (Some(4.0), Some(2.0)), "the empty minute is not counted: {slices:#}");
    assert!(close(&five["error_ratio"], 0.5), "2 bad slices of 4, not 21 bad events of 1300: {slices:#}");
    assert!(close(&five["total"], 1_300.0), "the events are still counted for the traffic guard: {slices:#}");
    let hour = &slices["windows"][2];
    assert!(close(&hour["error_ratio"], 2.0 / 59.0), "{slices:#}");
    let whole = &slices["windows"][7];
    assert_eq!(whole["window"], "window");
    assert!(close(&slices["error_ratio"], 2.0 / 59.0), "{slices:#}");
    assert!(close(&slices["budget_remaining"], 1.0 - (2.0 / 59.0) / (1.0 - 0.99)), "{slices:#}");
    // 30m: 2 bad of 29, a burn of 6.9 (> 6), but 6h only 3.4: no page; 1d & 2h at 3.4 (> 3): a ticket.
    assert_eq!(slices["status"], "ticket", "{slices:#}");

    assert_eq!(ratios["budgeting"], "ratio_timeslices");
    assert!(close(&ratios["windows"][0]["error_ratio"], (0.06 + 0.05 + 0.10 + 0.0) / 4.0), "the mean of the slices' ratios: {ratios:#}");
    assert!(close(&ratios["error_ratio"], (0.06 + 0.05 + 0.10) / 59.0), "{ratios:#}");

    let start = chrono::DateTime::from_timestamp_millis(current - 30 * minute_ms).expect("time").to_rfc3339_opts(SecondsFormat::AutoSi, true);
    assert_eq!(today["window_start"], start.as_str(), "the period began at its wall-clock start in its zone: {today:#}");
    assert!(close(&today["window_days"], 1.0), "{today:#}");
    assert!(close(&today["error_ratio"], 2.0 / 29.0), "the 29 slices with traffic since the period began: {today:#}");
    assert!(close(&today["windows"][2]["error_ratio"], 2.0 / 59.0), "the burn windows keep rolling: {today:#}");

    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3), "{listed:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_slice_slos_count_slices_of_sli_events_on_sqlite() {
    time_slice_slos_count_slices_of_sli_events(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_slice_slos_count_slices_of_sli_events_on_postgres() {
    time_slice_slos_count_slices_of_sli_events(Backend::Postgres).await;
}
