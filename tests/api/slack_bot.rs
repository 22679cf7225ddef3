//! The Slack deploy bot through `POST /webhooks/slack/commands`: Slack's request signing (a
//! wrong, missing or replayed signature is a 401 and nothing is done), `status` (with the five
//! keys over 30 days and the SLO budgets), `history`, and `approve` for admins only — one approval
//! and one hook delivery however often it is sent; an answer not ready in time goes to the
//! command's `response_url`.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::hooks::Receiver;
use crate::rollback::{alert, ago, history};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const ADMIN: &str = "U0ADMIN01";

/// checkout's SLO, read from `sli` events.
const SLO: &str = "[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\n";

fn config(hook: &str) -> String {
    format!("{SLO}{}[slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nadmins = [\"{ADMIN}\"]\n", crate::rollback::config("manual", &[hook]))
}

fn encoded(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

fn form(user: &str, text: &str) -> String {
    form_answered_at(user, text, "https://hooks.slack.com/commands/T1/1/x")
}

/// A command whose later answers go to `response_url`.
fn form_answered_at(user: &str, text: &str, response_url: &str) -> String {
    format!("token=x&team_id=T1&channel_id=C1&user_id={user}&user_name=someone&command=%2Fpacer&text={}&response_url={}", encoded(text), encoded(response_url))
}

fn signature(timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).expect("key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `body` with the given timestamp and signature headers; returns the status, content type
/// and JSON body.
async fn post(app: &TestApp, body: &str, timestamp: Option<i64>, signature: Option<String>) -> (u16, String, Value) {
    let mut request = app.client.post(app.url("/webhooks/slack/commands")).header("content-type", "application/x-www-form-urlencoded").body(body.to_owned());
    if let Some(timestamp) = timestamp {
        request = request.header("x-slack-request-timestamp", timestamp.to_string());
    }
    if let Some(signature) = signature {
        request = request.header("x-slack-signature", signature);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, content_type, response.json().await.unwrap_or(Value::Null))
}

async fn signed(app: &TestApp, user: &str, text: &str) -> Value {
    let body = form(user, text);
    let at = now();
    let (status, _, json) = post(app, &body, Some(at), Some(signature(at, &body))).await;
    assert_eq!(status, 200, "{text}: {json}");
    json
}

/// A rollback the manual policy holds; returns its id.
async fn held_rollback(app: &TestApp) -> String {
    app.ingest(history()).await;
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert("firing", &ago(1), None)).send().await.expect("alert");
    assert_eq!(response.status(), 200);
    let listed = app.get("/api/v1/rollbacks").await;
    assert_eq!(listed["items"][0]["state"], "awaiting_approval", "{listed}");
    listed["items"][0]["id"].as_str().expect("id").to_owned()
}

async fn refused_requests_do_nothing(backend: Backend) {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &config(&hook.url), &[]).await else { return };
    let id = held_rollback(&app).await;
    let body = form(ADMIN, &format!("approve {id}"));
    let at = now();
    let cases = [
        ("a wrong signature", Some(at), Some(signature(at, "another body"))),
        ("no signature", Some(at), None),
        ("no timestamp", None, Some(signature(at, &body))),
        ("a replay six minutes later", Some(at - 360), Some(signature(at - 360, &body))),
        ("a signature of another time", Some(at), Some(signature(at - 1, &body))),
    ];
    for (what, timestamp, signature) in cases {
        let (status, content_type, json) = post(&app, &body, timestamp, signature).await;
        assert_eq!(status, 401, "{what}: {json}");
        assert_eq!(content_type, "application/problem+json", "{what}");
        assert_eq!(json["status"], 401, "{what}: {json}");
    }
    assert_eq!(app.get(&format!("/api/v1/rollbacks/{id}")).await["state"], "awaiting_approval", "nothing was approved");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(hook.requests().is_empty(), "no hook fired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_do_nothing_on_sqlite() {
    refused_requests_do_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_do_nothing_on_postgres() {
    refused_requests_do_nothing(Backend::Postgres).await;
}

async fn status_and_history_answer_from_the_store(backend: Backend) {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &config(&hook.url), &[]).await else { return };
    let id = held_rollback(&app).await;
    // A fifth of a percent of checkout's requests failed over the last hour: 0.2 % against 99.9 %.
    app.ingest(json!([{"type": "sli", "service": "checkout", "at": ago(30), "good": 998, "total": 1000}])).await;
    let status = signed(&app, "U0SOMEONE", "status checkout").await;
    assert_eq!(status["response_type"], "ephemeral");
    let text = status["text"].as_str().expect("text");
    assert!(text.starts_with("*checkout* in production\nLive: `1.1.0 (c2)` since "), "{text}");
    // The five keys as `GET /api/v1/dora` gives them over the same 30 days, and the SLO's budget
    // as `GET /api/v1/slos` gives it.
    let dora = app.get("/api/v1/dora?from=now-30d&service=checkout").await;
    let per_day = dora["deployment_frequency"]["per_day"].as_f64().or_else(|| dora["deployment_frequency"]["value"].as_f64()).expect("a frequency");
    let keys = text.split("DORA keys, last 30 days:\n").nth(1).expect("the keys").lines().take(5).collect::<Vec<_>>();
    assert!(keys[0].starts_with(&format!("• *Deployment frequency*: {per_day:.2} / day (")), "{text}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("• *")).count(), 5, "{text}");
    let slo = app.get("/api/v1/slos/checkout-availability").await;
    let left = slo["budget_remaining"].as_f64().expect("a budget");
    assert!(text.contains(&format!("SLOs:\n• *checkout-availability* (99.9 % over 30 days): {:.1} % of the error budget left, ", left * 100.0)), "{text}");
    assert!(text.contains("Open incidents:\n• High5xx: 5xx above 5 %"), "{text}");
    assert!(text.contains(&format!("Rollbacks awaiting approval:\n• `{id}`: High5xx fired")), "{text}");

    let history = signed(&app, "U0SOMEONE", "history checkout 2").await;
    let text = history["text"].as_str().expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "Last 2 deployments of *checkout* in production:");
    assert!(lines[1].starts_with("• `1.1.0 (c2)` success ") && lines[2].starts_with("• `1.0.0 (c1)` success "), "{text}");

    let dora = signed(&app, "U0SOMEONE", "dora").await;
    let text = dora["text"].as_str().expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "a heading and the five keys: {text}");
    assert_eq!(lines[0], "DORA keys of every team in production, last 7 days:");
    assert!(lines[1].starts_with("• *Deployment frequency*: 0.29 / day (") && lines[1].ends_with("— no number the week before"), "{text}");

    let escaped = signed(&app, "U0SOMEONE", "status <!channel>&co").await;
    assert_eq!(escaped["text"], "No deployments of *&lt;!channel&gt;&amp;co* in production yet.");
    let usage = signed(&app, "U0SOMEONE", "").await;
    assert!(usage["text"].as_str().is_some_and(|t| t.starts_with("Usage:\n• `/pacer status")), "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_history_answer_from_the_store_on_sqlite() {
    status_and_history_answer_from_the_store(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_history_answer_from_the_store_on_postgres() {
    status_and_history_answer_from_the_store(Backend::Postgres).await;
}

async fn only_admins_approve_and_twice_is_once(backend: Backend) {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &config(&hook.url), &[]).await else { return };
    let id = held_rollback(&app).await;
    let refused = signed(&app, "U0SOMEONE", &format!("approve {id}")).await;
    assert_eq!(refused["response_type"], "ephemeral");
    assert!(refused["text"].as_str().is_some_and(|t| t.starts_with("Only pacer admins may approve rollbacks")), "{refused}");
    assert_eq!(app.get(&format!("/api/v1/rollbacks/{id}")).await["state"], "awaiting_approval");

    let approved = signed(&app, ADMIN, &format!("approve {id}")).await;
    assert_eq!(approved, json!({"response_type": "in_channel", "text": format!("<@{ADMIN}> approved rollback `{id}`: its hooks are on their way.")}));
    let again = signed(&app, ADMIN, &format!("approve {id}")).await;
    assert!(again["text"].as_str().is_some_and(|t| t.starts_with("Nothing was done: rollback ") && t.contains("not awaiting approval")), "{again}");
    assert_eq!(hook.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(hook.requests().len(), 1, "one hook delivery");
    let recorded = app.get(&format!("/api/v1/rollbacks/{id}")).await;
    assert_eq!(recorded["approved_by"], format!("slack:{ADMIN}"), "the approver is recorded: {recorded:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_approve_and_twice_is_once_on_sqlite() {
    only_admins_approve_and_twice_is_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_approve_and_twice_is_once_on_postgres() {
    only_admins_approve_and_twice_is_once(Backend::Postgres).await;
}

#[test]
fn the_manifest_points_the_command_at_pacer() {
    let output = crate::cli::pacer().args(["slack", "manifest", "--url", "https://pacer.example.com"]).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest: Value = serde_json::from_slice(&output.stdout).expect("the manifest is JSON");
    assert_eq!(manifest["features"]["slash_commands"][0]["command"], "/pacer");
    assert_eq!(manifest["features"]["slash_commands"][0]["url"], "https://pacer.example.com/webhooks/slack/commands");
    let refused = crate::cli::pacer().args(["slack", "manifest", "--url", "pacer.example.com"]).output().expect("run");
    assert!(!refused.status.success(), "a URL without a scheme is refused");
}

/// Posts a signed click of the `rollback` button for `value` by `user`.
async fn click(app: &TestApp, user: &str, value: &str) -> Value {
    let payload = json!({"type": "block_actions", "user": {"id": user}, "actions": [{"action_id": "rollback", "value": value, "type": "button"}]}).to_string();
    let enc: String = payload.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect();
    let body = format!("payload={enc}");
    let at = now();
    let response = app
        .client
        .post(app.url("/webhooks/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", at.to_string())
        .header("x-slack-signature", signature(at, &body))
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn a_confirmed_rollback_goes_through_the_policy_once(backend: Backend) {
    let hook = Receiver::start().await;
    let toml = format!("{}[slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nadmins = [\"{ADMIN}\"]\n", crate::rollback::config("auto", &[&hook.url]));
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    app.ingest(history()).await;

    let refused = signed(&app, "U0SOMEONE", "rollback checkout").await;
    assert!(refused["text"].as_str().is_some_and(|t| t.starts_with("Only pacer admins may ask for rollbacks")), "{refused}");
    assert!(refused.get("blocks").is_none(), "no button for someone who may not use it");

    let asked = signed(&app, ADMIN, "rollback checkout").await;
    let button = &asked["blocks"][1]["elements"][0];
    assert_eq!((button["action_id"].as_str(), button["value"].as_str()), (Some("rollback"), Some("checkout production")), "{asked}");
    assert!(app.get("/api/v1/rollbacks").await["items"].as_array().is_some_and(Vec::is_empty), "nothing before the confirmation");

    let stranger = click(&app, "U0SOMEONE", "checkout production").await;
    assert!(stranger["text"].as_str().is_some_and(|t| t.starts_with("Only pacer admins")), "{stranger}");
    assert!(app.get("/api/v1/rollbacks").await["items"].as_array().is_some_and(Vec::is_empty), "a click by a non-admin does nothing");

    let first = click(&app, ADMIN, "checkout production").await;
    let second = click(&app, ADMIN, "checkout production").await;
    assert_eq!(first["response_type"], "in_channel", "{first}");
    assert!(first["text"].as_str().is_some_and(|t| t.starts_with(&format!("<@{ADMIN}> asked to roll back *checkout* in production: rollback `rb_"))), "{first}");
    let listed = app.get("/api/v1/rollbacks").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "one decision for two clicks: {listed} / {second}");
    assert_eq!(listed["items"][0]["deployment_id"], "v2");
    assert_eq!(listed["items"][0]["target_deployment_id"], "v1");
    let requests = hook.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(requests[0].json()["trigger"]["alert"], format!("rollback requested by slack:{ADMIN}"), "the report names who asked");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(hook.requests().len(), 1, "one hook delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_rollback_goes_through_the_policy_once_on_sqlite() {
    a_confirmed_rollback_goes_through_the_policy_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_rollback_goes_through_the_policy_once_on_postgres() {
    a_confirmed_rollback_goes_through_the_policy_once(Backend::Postgres).await;
}

/// A command whose answer is not ready within `[slack] answer_within_ms` is answered at once, and
/// its answer is posted to the `response_url` Slack gave.
async fn a_slow_answer_goes_to_the_response_url(backend: Backend) {
    let (hook, slack) = (Receiver::start().await, Receiver::start().await);
    let toml = format!("{SLO}{}[slack]\nsigning_secret = \"{SIGNING_SECRET}\"\nadmins = [\"{ADMIN}\"]\nanswer_within_ms = 1\n", crate::rollback::config("manual", &[&hook.url]));
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    app.ingest(history()).await;
    let body = form_answered_at("U0SOMEONE", "status checkout", &slack.url);
    let at = now();
    let (status, _, json) = post(&app, &body, Some(at), Some(signature(at, &body))).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json, json!({"response_type": "ephemeral", "text": "Working on it: the answer follows here in a moment."}));
    let later = slack.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(later.len(), 1, "the answer is posted to the response_url");
    let answer = later[0].json();
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().unwrap_or("");
    assert!(text.starts_with("*checkout* in production\nLive: `1.1.0 (c2)` since ") && text.contains("DORA keys, last 30 days:\n• *Deployment frequency*"), "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slack.requests().len(), 1, "answered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_goes_to_the_response_url_on_sqlite() {
    a_slow_answer_goes_to_the_response_url(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_goes_to_the_response_url_on_postgres() {
    a_slow_answer_goes_to_the_response_url(Backend::Postgres).await;
}
