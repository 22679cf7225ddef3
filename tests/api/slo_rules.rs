//! `pacer slo rules`: the printed rules pass `promtool check rules`, and `promtool test rules`
//! over series written here fires what pacer's own evaluator decides on the same series — the
//! page for a fast burn and not a slow one, the ticket for a slow burn, nothing under the minimum
//! traffic. An alert those rules fire, delivered as Alertmanager delivers it, rolls back only as
//! its SLO allows. OpenSLO files load into the same SLOs, and `check-config` names every problem.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use pacer_engine::burn::{Budgeting, Counts, Measure, Severity, Slices, WINDOWS, WindowCounts, WindowMeasures, firing, firing_measured};
use pacer_engine::model::MINUTE;
use serde_json::json;
use yaml_rust2::{Yaml, YamlLoader};

use crate::cli::pacer;
use crate::helpers::{Backend, TestApp, require_all, unique};
use crate::hooks::Receiver;

const OBJECTIVE: f64 = 0.999;
const MIN_EVENTS: f64 = 100.0;

/// Two SLOs over the same requests, one counting errors and one counting good responses.
fn config(extra: &str) -> String {
    format!(
        "[[slo]]\nname = \"checkout-errors\"\nservice = \"checkout\"\nobjective = 99.9\nmin_events = {MIN_EVENTS}\n\
         [slo.prometheus]\nurl = \"http://127.0.0.1:9090\"\n\
         total = 'sum(increase(http_requests_total{{service=\"checkout\"}}[$window]))'\n\
         errors = 'sum(increase(http_requests_total{{service=\"checkout\",code=~\"5..\"}}[$window]))'\n\
         [[slo]]\nname = \"checkout-good\"\nservice = \"checkout\"\nenvironment = \"prod\"\nobjective = 0.999\nmin_events = {MIN_EVENTS}\n\
         [slo.prometheus]\nurl = \"http://127.0.0.1:9090\"\n\
         total = 'sum(increase(http_requests_total{{service=\"checkout\"}}[$window]))'\n\
         good = 'sum by (code) (increase(http_requests_total{{service=\"checkout\",code=\"200\"}}[$window]))'\n\
         [environments]\nprod = \"production\"\n{extra}"
    )
}

fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join("promtool")).find(|p| p.is_file());
    if found.is_none() {
        assert!(!require_all(), "promtool is required (PACER_REQUIRE_ALL=1); apt-get install prometheus");
        println!("skipped: promtool is not installed");
    }
    found
}

/// Runs `pacer slo rules` with `args` on the configuration `toml`; its standard output.
fn rules(dir: &Path, toml: &str, args: &[&str]) -> String {
    let file = dir.join(format!("{}.toml", unique("pacer")));
    std::fs::write(&file, toml).expect("write");
    let output = pacer().args(["slo", "rules", "--config"]).arg(&file).args(args).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("run promtool");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// Requests per minute, steady for the whole history.
struct Scenario {
    what: &'static str,
    good_per_minute: f64,
    bad_per_minute: f64,
    /// What the scenario is built to fire.
    fires: &'static [Severity],
}

const SCENARIOS: [Scenario; 4] = [
    // 1.5 % errors: a burn rate of 15, above the fast page's 14.4.
    Scenario { what: "a fast burn", good_per_minute: 985.0, bad_per_minute: 15.0, fires: &[Severity::Page, Severity::Ticket] },
    // 0.5 % errors: a burn rate of 5, below both pages, above the 1d & 2h ticket's 3.
    Scenario { what: "a slow burn", good_per_minute: 995.0, bad_per_minute: 5.0, fires: &[Severity::Ticket] },
    // Half the requests fail, but the short windows see 0.625 (5m) to 45 (6h) requests. (A
    // sixteenth is exact in binary, so the counters' sums are exact too.)
    Scenario { what: "too little traffic", good_per_minute: 0.0625, bad_per_minute: 0.0625, fires: &[] },
    // The same burn with 30 requests a minute: 150 in 5m pass the guard of 100.
    Scenario { what: "enough traffic", good_per_minute: 15.0, bad_per_minute: 15.0, fires: &[Severity::Page, Severity::Ticket] },
];

/// Samples, one a minute, for 3 days and 2 hours; the rules are evaluated every hour (alerts have
/// no `for`, so the evaluation at `EVAL_MINUTES` decides alone) and checked at 73 h, when the 3d
/// window is full.
const SAMPLES: i64 = 74 * 60;
const EVAL_MINUTES: i64 = 73 * 60;

/// What pacer's evaluator decides on the scenario's counts (each window's requests at the
/// scenario's steady rates).
fn pacer_decides(s: &Scenario) -> BTreeSet<Severity> {
    let counts: WindowCounts = WINDOWS.map(|(name, length)| {
        let minutes = (length / MINUTE) as f64;
        (name, Counts { good: s.good_per_minute * minutes, total: (s.good_per_minute + s.bad_per_minute) * minutes })
    });
    firing(&counts, OBJECTIVE, MIN_EVENTS).iter().map(|c| c.severity).collect()
}

fn yaml(text: &str) -> Yaml {
    YamlLoader::load_from_str(text).expect("YAML").remove(0)
}

/// The expected alerts of `severities`, as the rule file labels and annotates them.
fn expected_alerts(rule_file: &Yaml, severities: &BTreeSet<Severity>) -> Vec<serde_json::Value> {
    let mut alerts = Vec::new();
    for group in rule_file["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let Some(severity) = rule["labels"]["severity"].as_str() else { continue };
            let wanted = severities.iter().any(|s| matches!((s, severity), (Severity::Page, "page") | (Severity::Ticket, "ticket")));
            if wanted {
                alerts.push(json!({"exp_labels": to_json(&rule["labels"]), "exp_annotations": to_json(&rule["annotations"])}));
            }
        }
    }
    alerts
}

fn to_json(map: &Yaml) -> serde_json::Value {
    let entries = map.as_hash().expect("a mapping").iter().map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), json!(v.as_str().unwrap_or_default())));
    serde_json::Value::Object(entries.collect())
}

/// The recorded requests and error ratio of every burn window, for both SLOs: the counts pacer's
/// evaluator is given in [`pacer_decides`].
fn expected_counts(s: &Scenario) -> Vec<serde_json::Value> {
    let mut tests = Vec::new();
    for (window, length) in WINDOWS {
        let minutes = (length / MINUTE) as f64;
        let total = (s.good_per_minute + s.bad_per_minute) * minutes;
        for slo in ["checkout-errors", "checkout-good"] {
            for (metric, value) in [("requests", total), ("error_ratio", s.bad_per_minute * minutes / total)] {
                let series = format!("pacer_slo:{metric}:increase{window}{{environment=\"production\",service=\"checkout\",slo=\"{slo}\"}}");
                tests.push(json!({"expr": series, "eval_time": format!("{EVAL_MINUTES}m"), "exp_samples": [{"labels": series, "value": value}]}));
            }
        }
    }
    tests
}

/// A `promtool test rules` file of one scenario expecting `severities` (JSON is YAML).
fn unit_test(rule_file: &Yaml, s: &Scenario, severities: &BTreeSet<Severity>) -> String {
    let series = |code: &str, per_minute: f64| json!({"series": format!("http_requests_total{{service=\"checkout\",code=\"{code}\"}}"), "values": format!("0+{per_minute}x{SAMPLES}")});
    json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1h",
        "tests": [{
            "name": s.what,
            "interval": "1m",
            "input_series": [series("200", s.good_per_minute), series("500", s.bad_per_minute)],
            "promql_expr_test": expected_counts(s),
            "alert_rule_test": [{"eval_time": format!("{EVAL_MINUTES}m"), "alertname": "SLOBurnRate", "exp_alerts": expected_alerts(rule_file, severities)}],
        }],
    })
    .to_string()
}

#[test]
fn generated_rules_pass_promtool_and_fire_as_pacers_evaluator_decides() {
    let Some(promtool) = promtool() else { return };
    let dir = std::env::temp_dir().join(unique("pacer_slo_rules"));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = rules(&dir, &config(""), &[]);
    std::fs::write(dir.join("rules.yml"), &text).expect("write");
    let (ok, out) = run(Command::new(&promtool).args(["check", "rules"]).arg(dir.join("rules.yml")));
    assert!(ok, "promtool check rules: {out}\n{text}");
    assert!(out.contains("SUCCESS: 52 rules found"), "2 SLOs × (8 windows × 3 recordings + 2 alerts): {out}");
    let rule_file = yaml(&text);

    for s in &SCENARIOS {
        let decided = pacer_decides(s);
        assert_eq!(decided, s.fires.iter().copied().collect(), "pacer's evaluator on {}", s.what);
        let file = dir.join("test.yml");
        std::fs::write(&file, unit_test(&rule_file, s, &decided)).expect("write");
        let (ok, out) = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        assert!(ok, "Prometheus counts what pacer's evaluator is given and fires what it decides on {}: {out}", s.what);
        // The assertion can fail: the opposite page decision is refused.
        let mut flipped = decided.clone();
        if !flipped.remove(&Severity::Page) {
            flipped.insert(Severity::Page);
        }
        std::fs::write(&file, unit_test(&rule_file, s, &flipped)).expect("write");
        let (ok, out) = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        assert!(!ok && out.contains("FAILED") && out.contains("alertname: SLOBurnRate"), "promtool must refuse {flipped:?} on {}: {out}", s.what);
    }

    // The same groups as a PrometheusRule for the Prometheus Operator.
    let resource = yaml(&rules(&dir, &config(""), &["--format", "operator", "--namespace", "monitoring", "--label", "release=prometheus"]));
    assert_eq!(resource["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
    assert_eq!(resource["kind"].as_str(), Some("PrometheusRule"));
    assert_eq!(resource["metadata"]["name"].as_str(), Some("pacer-slos"));
    assert_eq!(resource["metadata"]["labels"]["release"].as_str(), Some("prometheus"));
    assert_eq!(resource["spec"]["groups"], rule_file["groups"]);
    let only = yaml(&rules(&dir, &config(""), &["--slo", "checkout-good"]));
    assert_eq!(only["groups"].as_vec().map(Vec::len), Some(1));
    assert_eq!(only["groups"][0]["rules"][0]["labels"]["environment"].as_str(), Some("production"), "environment aliases apply");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A time-slice SLO of 99 % over one-minute slices, each good when 95 % of its requests are.
const SLICE_OBJECTIVE: f64 = 0.99;
const SLICE_CONFIG: &str = "[[slo]]\nname = \"checkout-slices\"\nservice = \"checkout\"\nobjective = 99\nmin_events = 10\n\
    budgeting = \"timeslices\"\ntime_slice_secs = 60\ntime_slice_target = 0.95\n\
    [slo.prometheus]\nurl = \"http://127.0.0.1:9090\"\n\
    total = 'sum(increase(http_requests_total{service=\"checkout\"}[$window]))'\n\
    errors = 'sum(increase(http_requests_total{service=\"checkout\",code=~\"5..\"}[$window]))'\n";

/// Minutes of samples, and the minute the alerts are checked at (a multiple of every period).
const SLICE_SAMPLES: i64 = 7 * 60;
const SLICE_EVAL_MINUTES: i64 = 6 * 60;

/// 100 requests a minute: 5 fail in a good minute (95 %, exactly the slice target), 10 in a bad
/// one, every `bad_every` minutes.
fn slice_errors(minute: i64, bad_every: i64) -> f64 {
    if minute % bad_every == 0 { 10.0 } else { 5.0 }
}

/// What pacer's evaluator decides over the same minutes, cut into slices by the engine.
fn pacer_decides_on_slices(bad_every: i64) -> BTreeSet<Severity> {
    let budgeting = Budgeting::Timeslices { slice: MINUTE, target: 0.95 };
    // Minute m's increase is slice m − 1, [m − 1, m) minutes.
    let by_slice: Vec<(i64, Counts)> = (1..=SLICE_SAMPLES).map(|m| (m - 1, Counts { good: 100.0 - slice_errors(m, bad_every), total: 100.0 })).collect();
    let now = SLICE_EVAL_MINUTES * MINUTE;
    let measures: WindowMeasures = WINDOWS.map(|(name, length)| {
        let slices = Slices::within(&by_slice, budgeting, now - length, now);
        let minutes = (length / MINUTE).min(SLICE_EVAL_MINUTES) as f64;
        (name, Measure { counts: Counts { good: 95.0 * minutes, total: 100.0 * minutes }, slices: Some(slices) })
    });
    firing_measured(&measures, SLICE_OBJECTIVE, 10.0).iter().map(|c| c.severity).collect()
}

fn slice_unit_test(rule_file: &Yaml, bad_every: i64, severities: &BTreeSet<Severity>) -> String {
    let counter = |per_minute: &dyn Fn(i64) -> f64| {
        let mut value = 0.0;
        let mut values = vec!["0".to_owned()];
        for minute in 1..=SLICE_SAMPLES {
            value += per_minute(minute);
            values.push(format!("{value}"));
        }
        values.join(" ")
    };
    json!({
        "rule_files": ["slices.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "name": format!("a bad slice every {bad_every} minutes"),
            "interval": "1m",
            "input_series": [
                {"series": "http_requests_total{service=\"checkout\",code=\"200\"}", "values": counter(&|m| 100.0 - slice_errors(m, bad_every))},
                {"series": "http_requests_total{service=\"checkout\",code=\"500\"}", "values": counter(&|m| slice_errors(m, bad_every))},
            ],
            "alert_rule_test": [{"eval_time": format!("{SLICE_EVAL_MINUTES}m"), "alertname": "SLOBurnRate", "exp_alerts": expected_alerts(rule_file, severities)}],
        }],
    })
    .to_string()
}

#[test]
fn time_slice_rules_page_on_a_fast_slice_burn_and_not_a_slow_one_as_pacer_decides() {
    let Some(promtool) = promtool() else { return };
    let dir = std::env::temp_dir().join(unique("pacer_slo_slices"));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = rules(&dir, SLICE_CONFIG, &[]);
    std::fs::write(dir.join("slices.yml"), &text).expect("write");
    let (ok, out) = run(Command::new(&promtool).args(["check", "rules"]).arg(dir.join("slices.yml")));
    assert!(ok, "promtool check rules: {out}\n{text}");
    assert!(out.contains("SUCCESS: 27 rules found"), "the slices' rule, 8 windows × 3 recordings and 2 alerts: {out}");
    let rule_file = yaml(&text);
    assert_eq!(rule_file["groups"][0]["interval"].as_str(), Some("1m"), "slices are recorded once per slice width");
    // A bad slice in 5 burns 20 times the budget of a 99 % SLO; one in 20, 5 times. Counted as
    // events (6 % and 5.25 % errors), neither would page.
    for (bad_every, fires) in [(5, vec![Severity::Page, Severity::Ticket]), (20, vec![Severity::Ticket])] {
        let decided = pacer_decides_on_slices(bad_every);
        assert_eq!(decided, fires.into_iter().collect(), "pacer's evaluator on a bad slice every {bad_every} minutes");
        let file = dir.join("test.yml");
        std::fs::write(&file, slice_unit_test(&rule_file, bad_every, &decided)).expect("write");
        let (ok, out) = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        assert!(ok, "Prometheus fires what pacer decides on a bad slice every {bad_every} minutes: {out}");
        let mut flipped = decided.clone();
        if !flipped.remove(&Severity::Page) {
            flipped.insert(Severity::Page);
        }
        std::fs::write(&file, slice_unit_test(&rule_file, bad_every, &flipped)).expect("write");
        let (ok, out) = run(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        assert!(!ok && out.contains("FAILED"), "promtool must refuse {flipped:?} on a bad slice every {bad_every} minutes: {out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn slo_rules_refuses_an_unknown_slo_and_an_slo_of_sli_events() {
    let dir = std::env::temp_dir().join(unique("pacer_slo_rules"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("pacer.toml");
    std::fs::write(&file, config("[[slo]]\nname = \"events\"\nservice = \"checkout\"\nobjective = 99.0\n")).expect("write");
    for (slo, expected) in [("nope", "no [[slo]] is named \"nope\""), ("events", "counts sli events")] {
        let output = pacer().args(["slo", "rules", "--slo", slo, "--config"]).arg(&file).output().expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Alertmanager body of one burn alert as the generated rules label it.
fn burn_alert(slo: &str, severity: &str, fingerprint: &str) -> serde_json::Value {
    let starts_at = chrono::Utc::now().to_rfc3339();
    json!({
        "version": "4", "status": "firing", "receiver": "pacer",
        "alerts": [{"status": "firing", "fingerprint": fingerprint, "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z",
                    "labels": {"alertname": "SLOBurnRate", "slo": slo, "service": "checkout", "environment": "production", "severity": severity},
                    "annotations": {"summary": format!("error budget of {slo} burning")}}],
    })
}

async fn a_burn_alert_rolls_back_only_when_it_pages_for_an_slo_that_allows_it(backend: Backend) {
    let hook = Receiver::start().await;
    let toml = config(&format!(
        "[[slo]]\nname = \"checkout-latency\"\nservice = \"checkout\"\nobjective = 99.0\nrollback = false\n\
         [[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\n[[rollback.hooks]]\nurl = \"{}\"\n",
        hook.url
    ));
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    let ago = |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
    app.ingest(json!([
        {"type": "deployment", "id": "checkout-41", "service": "checkout", "status": "success", "finished_at": ago(120)},
        {"type": "deployment", "id": "checkout-42", "service": "checkout", "status": "success", "finished_at": ago(1)},
    ]))
    .await;
    for (slo, severity, fingerprint) in [("checkout-latency", "page", "a1"), ("checkout-errors", "ticket", "a2")] {
        let (status, answer) = app.post_webhook("/webhooks/alertmanager", &[], burn_alert(slo, severity, fingerprint).to_string()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!((answer["accepted"].as_u64(), answer["rollbacks"].as_array().map(Vec::len)), (Some(1), Some(0)), "{slo} {severity}: an incident, no rollback: {answer}");
    }
    let (status, answer) = app.post_webhook("/webhooks/alertmanager", &[], burn_alert("checkout-errors", "page", "a3").to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rollbacks"].as_array().map(Vec::len), Some(1), "a page of an SLO with rollback = true rolls back: {answer}");
    let requests = hook.wait_for(1, std::time::Duration::from_secs(15)).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].json()["trigger"]["labels"]["slo"], "checkout-errors");
    let incidents = app.get("/api/v1/incidents").await;
    assert_eq!(incidents["items"].as_array().map(Vec::len), Some(3), "{incidents:#}");
}

#[tokio::test]
async fn a_burn_alert_rolls_back_only_when_it_pages_for_an_slo_that_allows_it_sqlite() {
    a_burn_alert_rolls_back_only_when_it_pages_for_an_slo_that_allows_it(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_burn_alert_rolls_back_only_when_it_pages_for_an_slo_that_allows_it_postgres() {
    a_burn_alert_rolls_back_only_when_it_pages_for_an_slo_that_allows_it(Backend::Postgres).await;
}

fn fixture(name: &str) -> String {
    format!("{}/../shared/fixtures/openslo/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_config_names_the_file_path_and_problem_of_every_openslo_slo_pacer_cannot_count() {
    let dir = std::env::temp_dir().join(unique("pacer_openslo"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("pacer.toml");
    let toml = format!(
        "[[openslo]]\nfiles = [\"{}\", \"{}\", \"{}\"]\nprometheus_url = \"http://127.0.0.1:9090\"\n",
        fixture("v1-examples--slos.yaml"),
        fixture("budgeting-method--occurences-slo.yaml"),
        fixture("*timeslices*.yaml"),
    );
    std::fs::write(&file, toml).expect("write");
    let output = pacer().args(["check-config", "--config"]).arg(&file).output().expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "budgeting-method--occurences-slo.yaml: spec.indicator.spec.thresholdMetric: pacer counts good and total events: expected a ratioMetric",
        "budgeting-method--ratio-timeslices.yaml: spec.indicator.spec.ratioMetric.good.metricSource.type: pacer reads Prometheus sources: expected Prometheus but found \"Any\"",
        "budgeting-method--timeslices-slo.yaml: spec.timeWindow[0].duration: expected a calendar period of days or longer (d, w, M, Q or Y; m is minutes) but found \"1m\"",
        "treat-low-traffic-as-equally-important--timeslices-slo.yaml: spec.indicator.spec.ratioMetric.good.metricSource.type: pacer reads Prometheus sources: expected Prometheus but found \"Any\"",
    ] {
        assert!(stderr.contains(expected), "{expected}\nnot in\n{stderr}");
    }
    assert!(!stderr.contains("v1-examples--slos.yaml"), "the specification's example loads: {stderr}");
    assert!(!stderr.contains("budgetingMethod") && !stderr.contains(".calendar") && !stderr.contains("timeSlice"), "every budgeting method and calendar window reads: {stderr}");

    // The specification's Prometheus ratio SLO loads as it is published, and prints the same
    // settings and rules as the [[slo]] it stands for.
    std::fs::write(&file, format!("[[openslo]]\nfiles = [\"{}\"]\nprometheus_url = \"http://127.0.0.1:9090\"\n", fixture("v1-examples--slos.yaml"))).expect("write");
    let check = |file: &Path| {
        let output = pacer().args(["check-config", "--config"]).arg(file).output().expect("run");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.starts_with("slo ")).map(str::to_owned).collect::<Vec<_>>()
    };
    let described = check(&file);
    assert_eq!(
        described,
        ["slo web-availability = web 0.9950 over 7 days, calendar periods of 7d from 2022-01-01 12:00:00 America/New_York, time slices of 60 s good at 0.95"],
    );
    let from_openslo = rules(&dir, &std::fs::read_to_string(&file).expect("read"), &[]);
    let equivalent = "[[slo]]\nname = \"web-availability\"\nservice = \"web\"\nobjective = 99.5\n\
                      window = \"calendar\"\ncalendar_period = \"1w\"\ncalendar_start = \"2022-01-01T12:00:00\"\ncalendar_time_zone = \"America/New_York\"\n\
                      budgeting = \"timeslices\"\ntime_slice_secs = 60\ntime_slice_target = 95\n\
                      [slo.prometheus]\nurl = \"http://127.0.0.1:9090\"\n\
                      total = 'sum(increase(http_requests{k8s_cluster=\"prod\",component=\"web\"}[$window]))'\n\
                      good = 'sum(increase(http_requests{k8s_cluster=\"prod\",component=\"web\",code=~\"2xx|4xx\"}[$window]))'\n";
    let slo_file = dir.join("equivalent.toml");
    std::fs::write(&slo_file, equivalent).expect("write");
    assert_eq!(check(&slo_file), described, "the OpenSLO file and the [[slo]] are the same SLO");
    assert_eq!(from_openslo, rules(&dir, equivalent, &[]), "the OpenSLO file and the [[slo]] give the same rules");
    assert!(from_openslo.contains("interval: \"1m\"") && from_openslo.contains("pacer_slo:slice_badness:1m"), "{from_openslo}");
    assert!(from_openslo.contains("increase3d") && !from_openslo.contains("increase7d"), "the burn windows are recorded, the calendar week is not: {from_openslo}");
    let _ = std::fs::remove_dir_all(&dir);
}
