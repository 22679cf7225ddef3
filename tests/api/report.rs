//! The weekly report email against a real SMTP server on loopback (aiosmtpd, through
//! `tests/smtp_sink.py`, which saves each message and Python's own parse of its MIME tree):
//! it arrives once per recipient, shaped as mail clients expect, with the numbers of
//! `GET /api/v1/dora` for its week and team — and never again, whatever the scheduler ticks or
//! replicas; while the SMTP server is down it is retried, and sent once it is back.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use pacer_api::week::{Week, Zone};
use serde_json::{Value, json};

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database, require_all, unique};
use crate::hooks::PacerProcess;

/// aiosmtpd on 127.0.0.1:`port`, saving messages under `dir`; killed when dropped.
struct SmtpSink {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

/// Whether Python with aiosmtpd is here; prints why not (or fails under PACER_REQUIRE_ALL=1).
fn smtp_available() -> bool {
    let found = Command::new("python3").args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !found {
        assert!(!require_all(), "aiosmtpd is required (PACER_REQUIRE_ALL=1) but `python3 -c 'import aiosmtpd'` failed; pip install aiosmtpd");
        println!("skipped: no SMTP server to test against (pip install aiosmtpd)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl SmtpSink {
    /// A sink on a free port, not started yet.
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("pacer_smtp"));
        std::fs::create_dir_all(&dir).expect("mail dir");
        Self { child: None, port: free_port(), dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    fn start(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .args([script, "--port", &self.port.to_string(), "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let first = BufReader::new(stdout).lines().next().and_then(Result::ok);
            let _ = tx.send(first);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).ok().flatten();
        assert_eq!(line.as_deref(), Some("ready"), "the SMTP sink did not start");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far (Python's parse), in arrival order.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&self.dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        files.iter().map(|p| serde_json::from_slice(&std::fs::read(p).expect("read message")).expect("message json")).collect()
    }

    /// Waits until at least `n` messages arrived (or `timeout` passed) and returns them all.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        while self.messages().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The week that ended last (UTC), and `hours` into it as RFC 3339.
fn last_week() -> (Week, i64, i64) {
    let week = Week::ended_by(Utc::now().timestamp_millis(), &Zone::utc());
    let (from, to) = week.bounds(&Zone::utc());
    (week, from, to)
}

fn at(base: i64, hours: f64) -> String {
    let millis = base + (hours * 3_600_000.0) as i64;
    DateTime::<Utc>::from_timestamp_millis(millis).expect("time").to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Two teams' week: commerce (checkout, cart) ships four times, one deployment fails, is rolled
/// back and has an incident; platform (identity) ships once. The week before has one deployment.
fn history(from: i64) -> Value {
    let deploy = |id: &str, service: &str, sha: &str, hours: f64, extra: Value| {
        let mut d = json!({"type": "deployment", "id": id, "service": service, "commit_sha": sha, "status": "success",
                           "version": format!("v-{id}"), "started_at": at(from, hours - 0.2), "finished_at": at(from, hours)});
        if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
            d.extend(extra.clone());
        }
        d
    };
    json!([
        {"type": "commit", "id": "a0", "committed_at": at(from, -60.0), "repository": "acme/checkout", "message": "Start"},
        {"type": "commit", "id": "a1", "committed_at": at(from, 2.0), "repository": "acme/checkout", "parents": ["a0"], "message": "Cache prices"},
        {"type": "commit", "id": "a2", "committed_at": at(from, 20.0), "repository": "acme/checkout", "parents": ["a1"], "message": "Faster basket\n\nbody"},
        {"type": "commit", "id": "a3", "committed_at": at(from, 30.0), "repository": "acme/checkout", "parents": ["a2"], "message": "Revert basket"},
        {"type": "pull_request", "id": "acme/checkout#12", "repository": "acme/checkout", "number": 12, "first_commit_at": at(from, -10.0),
         "opened_at": at(from, 1.0), "first_review_at": at(from, 5.0), "merged_at": at(from, 19.0), "merge_commit_sha": "a2"},
        {"type": "commit", "id": "b1", "committed_at": at(from, 40.0), "repository": "acme/cart", "message": "Cart totals"},
        {"type": "commit", "id": "i1", "committed_at": at(from, 10.0), "repository": "acme/identity", "message": "Login"},
        deploy("w0", "checkout", "a0", -50.0, json!({})),
        deploy("d1", "checkout", "a1", 8.0, json!({})),
        deploy("d2", "checkout", "a2", 26.0, json!({})),
        deploy("d3", "checkout", "a3", 31.0, json!({"rollback_of": "d2"})),
        deploy("d4", "cart", "b1", 50.0, json!({"commits": [{"sha": "b1", "committed_at": at(from, 40.0)}]})),
        deploy("d5", "identity", "i1", 60.0, json!({"commits": [{"sha": "i1", "committed_at": at(from, 10.0)}]})),
        {"type": "incident", "id": "INC-7", "service": "checkout", "opened_at": at(from, 27.0), "resolved_at": at(from, 31.5),
         "severity": "sev2", "title": "Basket errors", "deployment_id": "d2"},
        {"type": "sli", "service": "checkout", "at": at(from, 100.0), "good": 9995, "total": 10000},
    ])
}

fn config(smtp_url: &str, extra: &str) -> String {
    format!(
        r#"[teams]
commerce = ["checkout", "cart"]
platform = ["identity"]

[report]
schedule = "* * * * * *"
timezone = "UTC"
from = "pacer <pacer@example.com>"
smtp_url = "{smtp_url}"
subject = "pacer weekly: {{team}} {{week}}"
base_url = "http://pacer.example.com"
retry_secs = 1
{extra}"#
    )
}

const RECIPIENTS: &str = "recipients = [\"cto@example.com\"]\n[report.teams]\ncommerce = [\"Lead <lead@example.com>\", \"dev@example.com\"]\n";
/// Half the error budget of checkout's SLO is spent in the week (5 bad in 10 000 against 99.9 %).
const SLO: &str = "[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\n";

/// Every `data-metric="…" data-value="…"` pair of the HTML.
fn metrics(html: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("data-metric=\"") {
        rest = &rest[start + 13..];
        let name_end = rest.find('"').expect("closing quote");
        let name = rest[..name_end].to_owned();
        rest = &rest[name_end..];
        let value_start = rest.find("data-value=\"").expect("a value beside each metric") + 12;
        let value_end = rest[value_start..].find('"').expect("closing quote") + value_start;
        found.push((name, rest[value_start..value_end].to_owned()));
        rest = &rest[value_end..];
    }
    found
}

/// Every number and level of a `/api/v1/dora` body, by field path (`rework_rate.by_reason.revert`).
fn dora_numbers(dora: &Value) -> Vec<(String, Value)> {
    fn leaves(path: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value.as_object() {
            Some(fields) => fields.iter().for_each(|(f, v)| leaves(&format!("{path}.{f}"), v, out)),
            None => out.push((path.to_owned(), value.clone())),
        }
    }
    let mut out = vec![("level".to_owned(), dora["level"].clone())];
    for (metric, fields) in dora.as_object().expect("object") {
        if fields.is_object() {
            leaves(metric, fields, &mut out);
        }
    }
    out
}

/// Asserts the HTML's numbers are exactly those of `dora`, and that it shows every one of them.
fn assert_same_numbers(html: &str, dora: &Value, what: &str) {
    let shown = metrics(html);
    for (path, value) in &shown {
        let pointer = format!("/{}", path.replace('.', "/"));
        let expected = dora.pointer(&pointer).unwrap_or_else(|| panic!("{what}: {path} is not in /api/v1/dora: {dora:#}"));
        match expected {
            Value::Null => assert_eq!(value, "", "{what}: {path} has no data in the API but {value:?} in the email"),
            Value::String(s) => assert_eq!(value, s, "{what}: {path}"),
            Value::Number(n) => {
                // Read with the parser that read the API's body, so that equal text is equal.
                let email: Value = serde_json::from_str(value).unwrap_or_else(|_| panic!("{what}: {path} = {value:?} is not a number"));
                assert!(email.is_number(), "{what}: {path} = {value:?} is not a number");
                assert_eq!(email.as_f64(), n.as_f64(), "{what}: {path} differs from /api/v1/dora");
            }
            other => panic!("{what}: unexpected {other} at {path}"),
        }
    }
    let listed: BTreeSet<&str> = shown.iter().map(|(p, _)| p.as_str()).collect();
    for (path, _) in dora_numbers(dora) {
        assert!(listed.contains(path.as_str()), "{what}: the email does not show {path}");
    }
}

/// The `cid:` references of the HTML.
fn cid_references(html: &str) -> BTreeSet<String> {
    html.split("src=\"cid:").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

/// Asserts the MIME shape: alternative(text, related(html, png…)) with the PNGs exactly the
/// ones the HTML references. Returns the HTML and the text.
fn assert_shape(message: &Value) -> (String, String) {
    let tree = &message["tree"];
    assert_eq!(tree["content_type"], "multipart/alternative", "{tree:#}");
    let parts = tree["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2, "{tree:#}");
    assert_eq!(parts[0]["content_type"], "text/plain");
    let related = &parts[1];
    assert_eq!(related["content_type"], "multipart/related", "the HTML and its pictures are related: {tree:#}");
    let inner = related["parts"].as_array().expect("related parts");
    assert_eq!(inner[0]["content_type"], "text/html");
    let html = inner[0]["text"].as_str().expect("html").to_owned();
    let mut attached = BTreeSet::new();
    for image in &inner[1..] {
        assert_eq!(image["content_type"], "image/png", "{image}");
        assert_eq!(image["png"], true, "a real PNG: {image}");
        assert_eq!(image["disposition"], "inline", "{image}");
        let id = image["content_id"].as_str().expect("Content-ID");
        attached.insert(id.trim_start_matches('<').trim_end_matches('>').to_owned());
    }
    let referenced = cid_references(&html);
    assert!(referenced.len() >= 4, "the report shows its charts: {referenced:?}");
    assert_eq!(referenced, attached, "the PNG parts are exactly the pictures the HTML references");
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("<style"), "inline styles only");
    (html, parts[0]["text"].as_str().expect("text").to_owned())
}

async fn sends(app: &TestApp, week: Week) -> Vec<Value> {
    app.get(&format!("/api/v1/reports/sends?week={week}")).await["items"].as_array().cloned().unwrap_or_default()
}

/// Starts a pacer without a mailer to load the history, then the one under test on the same
/// database with the report configured.
async fn with_history(backend: Backend, toml: &str) -> Option<(TestApp, TestApp, i64)> {
    let (url, guard) = fresh_database(backend).await?;
    let loader = TestApp::start(url.clone(), guard, None, &[]).await;
    let (_, from, _) = last_week();
    loader.ingest(history(from)).await;
    let app = TestApp::start(url, CleanupGuard::none(), Some(toml), &[]).await;
    Some((loader, app, from))
}

async fn the_weekly_report_arrives_once_per_recipient_with_the_numbers_of_the_api(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let mut smtp = SmtpSink::new();
    smtp.start();
    let toml = config(&smtp.url(), &format!("{RECIPIENTS}{SLO}"));
    let Some((_loader, app, from)) = with_history(backend, &toml).await else { return };
    let (week, _, to) = last_week();

    let messages = smtp.wait_for(3, Duration::from_secs(60)).await;
    assert_eq!(messages.len(), 3, "one message per recipient: {messages:#?}");
    let mut seen = BTreeSet::new();
    for message in &messages {
        let rcpt = message["rcpt_tos"][0].as_str().expect("recipient").to_owned();
        let team = if rcpt == "cto@example.com" { None } else { Some("commerce") };
        assert_eq!(message["rcpt_tos"].as_array().map(Vec::len), Some(1), "one recipient per message");
        assert_eq!(message["mail_from"], "pacer@example.com");
        assert_eq!(message["subject"], format!("pacer weekly: {} {week}", team.unwrap_or("all teams")));
        let (html, text) = assert_shape(message);
        let query = format!("from={}&to={}{}", enc(&at(from, 0.0)), enc(&at(to, 0.0)), team.map_or_else(String::new, |t| format!("&team={t}")));
        let dora = app.dora(&query).await;
        assert_same_numbers(&html, &dora, &rcpt);
        assert!(html.contains(&format!("<strong id=\"week\">{week}</strong>")), "the week is named");
        assert!(text.contains(&week.to_string()) && text.contains("Lead time for changes"), "{text}");
        if team.is_some() {
            assert_eq!(dora["deployment_frequency"]["deployments"], 4, "{dora:#}");
            assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora:#}");
            assert!(html.contains("INC-7") && html.contains("Basket errors"), "the week's incident is listed");
            let postmortem = "http://pacer.example.com/api/v1/incidents/INC-7/postmortem?format=html";
            assert!(html.contains(&format!("href=\"{postmortem}\"")), "the incident links its postmortem draft");
            assert!(text.contains(&format!("postmortem draft: {postmortem}")), "{text}");
            assert!(html.contains("rolled back by d3"), "the rollback is the failure's reason");
            assert!(html.contains("acme/checkout#12"), "the slowest change names its pull request");
            assert!(html.contains("11.0 h / 4.0 h / 14.0 h / 7.0 h"), "its coding, pickup, review and deploy stages");
            assert!(html.contains("checkout-availability") && html.contains("50.000 %"), "the SLO's budget at the end of the week");
            assert!(!html.contains("identity"), "another team's service stays out");
        } else {
            assert_eq!(dora["deployment_frequency"]["deployments"], 5, "{dora:#}");
        }
        seen.insert(rcpt);
    }
    assert_eq!(seen, BTreeSet::from(["cto@example.com".to_owned(), "lead@example.com".to_owned(), "dev@example.com".to_owned()]));

    let metrics = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("pacer_report_sends_total{outcome=\"sent\"} 3"), "{metrics}");

    // The schedule fires every second: later ticks, and a second pacer process on the same
    // database, send nothing more.
    let second = PacerProcess::start(&app.database_url, &toml);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(smtp.messages().len(), 3, "nothing is sent twice");
    drop(second);
    let log = sends(&app, week).await;
    assert_eq!(log.len(), 3, "{log:#?}");
    for row in &log {
        assert_eq!((row["state"].as_str(), row["attempts"].as_i64()), (Some("sent"), Some(1)), "{row}");
    }
}

async fn three_replicas_starting_together_send_each_report_once(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let mut smtp = SmtpSink::new();
    smtp.start();
    let toml = config(&smtp.url(), RECIPIENTS);
    let Some((url, guard)) = fresh_database(backend).await else { return };
    let loader = TestApp::start(url.clone(), guard, None, &[]).await;
    let (week, from, _) = last_week();
    loader.ingest(history(from)).await;
    // All three race for the same sends from their first tick.
    let (a, b, c) = tokio::join!(
        TestApp::start(url.clone(), CleanupGuard::none(), Some(&toml), &[]),
        TestApp::start(url.clone(), CleanupGuard::none(), Some(&toml), &[]),
        TestApp::start(url.clone(), CleanupGuard::none(), Some(&toml), &[])
    );
    let messages = smtp.wait_for(3, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 3, "{messages:#?}");
    for replica in [&a, &b, &c] {
        assert!(sends(replica, week).await.iter().all(|r| r["attempts"] == 1));
    }
}

async fn a_report_waits_for_the_smtp_server_and_goes_out_once_it_is_back(backend: Backend) {
    if !smtp_available() {
        return;
    }
    let mut smtp = SmtpSink::new();
    let toml = config(&smtp.url(), "recipients = [\"cto@example.com\"]\n");
    let Some((_loader, app, _)) = with_history(backend, &toml).await else { return };
    let (week, _, _) = last_week();

    // Nobody listens on the port: attempts fail and are retried with backoff (1 s, 2 s, …).
    let deadline = Instant::now() + Duration::from_secs(30);
    let failing = loop {
        let log = sends(&app, week).await;
        if log.first().is_some_and(|r| r["attempts"].as_i64() >= Some(2)) || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(failing[0]["state"], "pending", "{failing:#?}");
    assert!(failing[0]["attempts"].as_i64() >= Some(2), "retried: {failing:#?}");
    assert!(failing[0]["last_error"].as_str().is_some_and(|e| e.contains("unavailable")), "{failing:#?}");
    assert!(failing[0]["next_attempt_at"].is_string(), "{failing:#?}");

    smtp.start();
    let messages = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(messages.len(), 1, "sent once the server is back");
    assert_eq!(messages[0]["subject"], format!("pacer weekly: all teams {week}"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1);
    let log = sends(&app, week).await;
    assert_eq!(log[0]["state"], "sent", "{log:#?}");
    assert!(log[0]["attempts"].as_i64() >= Some(3), "{log:#?}");
    assert_eq!(log[0]["message_id"].as_str(), messages[0]["message_id"].as_str(), "every attempt carries the same Message-ID");
}

async fn the_preview_is_the_report_as_html_and_a_bad_week_is_a_problem(backend: Backend) {
    let Some((url, guard)) = fresh_database(backend).await else { return };
    let app = TestApp::start(url, guard, Some("[teams]\ncommerce = [\"checkout\", \"cart\"]\n"), &[]).await;
    let (week, from, to) = last_week();
    app.ingest(history(from)).await;
    let response = app.client.get(app.url(&format!("/api/v1/reports/preview?week={week}&team=commerce"))).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let html = response.text().await.expect("body");
    assert!(html.contains("data:image/png;base64,"), "charts are inlined in the preview");
    assert!(cid_references(&html).is_empty());
    let dora = app.dora(&format!("from={}&to={}&team=commerce", enc(&at(from, 0.0)), enc(&at(to, 0.0)))).await;
    assert_same_numbers(&html, &dora, "preview");

    for (query, pointer) in [
        ("week=2026-W99", "?week"),
        ("week=next%20monday", "?week"),
        ("week=2025-W53", "?week"),
        ("team=nobody", "?team"),
        ("colour=red", "?colour"),
    ] {
        let response = app.client.get(app.url(&format!("/api/v1/reports/preview?{query}"))).send().await.expect("request");
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{query}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{query}: {problem}");
    }
    let bad = app.client.get(app.url("/api/v1/reports/sends?week=W47")).send().await.expect("request");
    assert_eq!(bad.status(), 400);
}

/// Runs each `async fn name(Backend)` as two tests, `name::on_sqlite` and `name::on_postgres`.
macro_rules! on_sqlite_and_postgres {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    )+};
}

/// `(name, value)` pairs read off marked cells.
type Cells = Vec<(String, String)>;

/// Every `data-budget="stage" data-value="…"` of the HTML, and every `data-ci="field">…<` cell.
fn budget_cells(html: &str) -> (Cells, Cells) {
    let pairs = |marker: &str, end: char| {
        html.split(marker)
            .skip(1)
            .filter_map(|rest| {
                let (name, rest) = rest.split_once('"')?;
                let value = match end {
                    '"' => rest.split_once("data-value=\"")?.1.split('"').next()?,
                    _ => rest.strip_prefix('>')?.split('<').next()?,
                };
                Some((name.to_owned(), value.to_owned()))
            })
            .collect::<Vec<_>>()
    };
    (pairs("data-budget=\"", '"'), pairs("data-ci=\"", '<'))
}

async fn the_report_shows_each_stage_against_its_budget_as_the_api_does(backend: Backend) {
    let Some((url, guard)) = fresh_database(backend).await else { return };
    let app = TestApp::start(url, guard, Some("[teams]\ncommerce = [\"checkout\", \"cart\"]\nplatform = [\"identity\"]\n"), &[]).await;
    let (week, from, to) = last_week();
    app.ingest(history(from)).await;
    let run = |id: &str, service: &str, status: &str, sha: &str, start: f64, minutes: f64| {
        json!({"type": "ci_run", "id": id, "pipeline": "test", "stage": "pull_request", "status": status, "service": service,
               "repository": format!("acme/{service}"), "commit_sha": sha, "branch": "main",
               "started_at": at(from, start), "finished_at": at(from, start + minutes / 60.0)})
    };
    // checkout: a 4-minute failure, its 12-minute re-run passes; identity's run is platform's.
    app.ingest(json!([run("r1", "checkout", "failure", "a1", 3.0, 4.0), run("r2", "checkout", "success", "a1", 4.0, 12.0),
                      run("r3", "identity", "success", "i1", 11.0, 1.0)]))
        .await;
    let preview = app.client.get(app.url(&format!("/api/v1/reports/preview?week={week}&team=commerce"))).send().await.expect("preview");
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.expect("html");
    let query = format!("from={}&to={}&team=commerce", enc(&at(from, 0.0)), enc(&at(to, 0.0)));
    let api = app.get(&format!("/api/v1/ci/budgets?{query}")).await;
    let (budgets, ci) = budget_cells(&html);
    let stages: Vec<&str> = budgets.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(stages, ["pre_commit", "pull_request", "deploy"], "{html}");
    for (stage, value) in &budgets {
        let expected = api["budgets"].as_array().expect("budgets").iter().find(|b| b["stage"] == stage.as_str()).expect("stage");
        match expected["compliance_percent"].as_f64() {
            None => assert_eq!(value, "", "{stage} has no samples in the API"),
            Some(percent) => assert_eq!(value.parse::<f64>().ok(), Some(percent), "{stage} differs from /api/v1/ci/budgets"),
        }
    }
    assert_eq!(budgets[1].1.parse::<f64>().ok(), Some(50.0), "the 12-minute re-run breaks the 10-minute budget: {budgets:?}");
    assert_eq!(budgets[2].1.parse::<f64>().ok(), Some(0.0), "acme/checkout#12 shipped 7 h after its merge: {budgets:?}");
    let pipelines = app.get(&format!("/api/v1/ci/pipelines?{query}")).await;
    assert_eq!(pipelines["total"]["runs"], 2, "{pipelines}");
    let cell = |field: &str| ci.iter().find(|(f, _)| f == field).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {field} in {ci:?}"));
    assert_eq!((cell("runs"), cell("retries"), cell("flaky_runs")), ("2", "1", "1"), "{ci:?}");
    assert_eq!(cell("success_rate"), "50.0 %");
}

on_sqlite_and_postgres!(
    the_report_shows_each_stage_against_its_budget_as_the_api_does,
    the_weekly_report_arrives_once_per_recipient_with_the_numbers_of_the_api,
    three_replicas_starting_together_send_each_report_once,
    a_report_waits_for_the_smtp_server_and_goes_out_once_it_is_back,
    the_preview_is_the_report_as_html_and_a_bad_week_is_a_problem,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacer_report_writes_html_and_eml_and_sends_by_hand_only_once() {
    if !smtp_available() {
        return;
    }
    let mut smtp = SmtpSink::new();
    smtp.start();
    let Some((url, guard)) = fresh_database(Backend::Sqlite).await else { return };
    let loader = TestApp::start(url.clone(), guard, None, &[]).await;
    let (week, from, _) = last_week();
    loader.ingest(history(from)).await;
    // A schedule that will not fire during the test: only the command sends.
    let toml = config(&smtp.url(), RECIPIENTS).replace("* * * * * *", "0 0 1 1 *");
    let dir = std::env::temp_dir().join(unique("pacer_report_cli"));
    std::fs::create_dir_all(&dir).expect("dir");
    let config_path = dir.join("pacer.toml");
    std::fs::write(&config_path, &toml).expect("config");
    let pacer = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .arg("report")
            .args(["--database", &url, "--config"])
            .arg(&config_path)
            .args(args)
            .env_remove("PACER_REPORT_SMTP_URL")
            .output()
            .expect("run pacer report");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "pacer report {args:?}: {}{stdout}", String::from_utf8_lossy(&output.stderr));
        stdout
    };

    let html = dir.join("report.html");
    let eml = dir.join("report.eml");
    let week = week.to_string();
    pacer(&["--week", &week, "--team", "commerce", "--out", html.to_str().expect("path")]);
    let written = std::fs::read_to_string(&html).expect("html written");
    assert!(written.contains("data:image/png;base64,") && written.contains(&week));
    pacer(&["--week", &week, "--team", "commerce", "--out", eml.to_str().expect("path")]);
    let message = std::fs::read_to_string(&eml).expect("eml written");
    for part in ["multipart/alternative", "multipart/related", "text/plain", "text/html", "image/png", "lead@example.com", "dev@example.com"] {
        assert!(message.contains(part), "{part} missing from the .eml");
    }

    let first = pacer(&["--week", &week, "--send"]);
    assert!(first.contains("cto@example.com: sent after 1 attempt"), "{first}");
    assert_eq!(smtp.wait_for(1, Duration::from_secs(20)).await.len(), 1);
    let again = pacer(&["--week", &week, "--send"]);
    assert!(again.contains("cto@example.com: sent after 1 attempt"), "{again}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "a second --send sends nothing more");
    let _ = std::fs::remove_dir_all(&dir);
}

fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}
