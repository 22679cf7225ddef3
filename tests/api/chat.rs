//! Chat notifications against a local receiver standing in for Slack, Teams and a webhook: the
//! exact message for each event kind (`tests/api/expected/chat-*.json`), escaping for Slack's
//! mrkdwn and Teams' card markdown, once per destination across replicas, Slack's 429
//! with `Retry-After`, a gone channel, and a dead channel that holds up nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::{DateTime, SecondsFormat, Utc};
use pacer_rollback::sign;
use serde_json::{Value, json};

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database};
use crate::hooks::Receiver;
use crate::rollback::{alert, ago, history};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BASE: &str = "https://pacer.example.com";

/// One message a channel got.
#[derive(Debug, Clone)]
struct Got {
    channel: String,
    headers: HeaderMap,
    body: Value,
    raw: Vec<u8>,
    at: Instant,
}

/// The answers scripted per channel: (channel, status, `Retry-After`), first come first used.
type Script = Arc<Mutex<Vec<(String, u16, Option<&'static str>)>>>;

/// Slack, Teams and a webhook on one local server: `/{channel}` records the request and answers
/// with the next scripted answer for that channel (then 200 `ok`).
#[derive(Clone)]
struct Channels {
    base: String,
    got: Arc<Mutex<Vec<Got>>>,
    script: Script,
}

impl Channels {
    async fn start() -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let script: Script = Arc::default();
        let (log, answers) = (Arc::clone(&got), Arc::clone(&script));
        let app = axum::Router::new().route(
            "/{channel}",
            post(move |Path(channel): Path<String>, headers: HeaderMap, body: Bytes| {
                let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                async move {
                    let raw = body.to_vec();
                    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                    log.lock().expect("lock").push(Got { channel: channel.clone(), headers, body, raw, at: Instant::now() });
                    let mut answers = answers.lock().expect("lock");
                    let next = answers.iter().position(|(c, ..)| *c == channel).map(|i| answers.remove(i));
                    match next {
                        Some((_, status, retry_after)) => {
                            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                            let mut headers = HeaderMap::new();
                            if let Some(seconds) = retry_after {
                                headers.insert("retry-after", seconds.parse().expect("header"));
                            }
                            (status, headers, "rate_limited").into_response()
                        }
                        None => (StatusCode::OK, "ok").into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, got, script }
    }

    /// The next request to `channel` is answered with `status` (and `Retry-After`).
    fn answer_next(&self, channel: &str, status: u16, retry_after: Option<&'static str>) {
        self.script.lock().expect("lock").push((channel.to_owned(), status, retry_after));
    }

    fn got(&self, channel: &str) -> Vec<Got> {
        self.got.lock().expect("lock").iter().filter(|g| g.channel == channel).cloned().collect()
    }

    /// Waits until `channel` got `n` messages (or `timeout` passed); returns them all.
    async fn wait_for(&self, channel: &str, n: usize, timeout: Duration) -> Vec<Got> {
        let deadline = Instant::now() + timeout;
        while self.got(channel).len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got(channel)
    }

    /// The configuration of three rules, one a channel, each hearing `events`.
    fn config(&self, events: &str) -> String {
        format!(
            "[chat]\nbase_url = \"{BASE}\"\nmax_attempts = 5\n\
             [[notify]]\nname = \"slack\"\nkind = \"slack\"\nurl = \"{b}/slack\"\nevents = {events}\n\
             [[notify]]\nname = \"teams\"\nkind = \"teams\"\nurl = \"{b}/teams\"\nevents = {events}\n\
             [[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{b}/hook\"\nsecret = \"{SECRET}\"\nevents = {events}\n",
            b = self.base
        )
    }
}

/// pacer's text for a time sent as `sent`.
fn shown(sent: &str) -> String {
    DateTime::parse_from_rfc3339(sent).expect("time").with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn deployment(status: &str, started: &str, finished: Option<&str>) -> Value {
    let mut d = json!({"type": "deployment", "id": "shop-42", "service": "shop", "version": "2.4.0 <beta> & more", "commit_sha": "0123456789abcdef",
                       "status": status, "started_at": started, "team": "payments", "url": "https://ci.example/runs/42?x=1&y=2"});
    if let Some(finished) = finished {
        d["finished_at"] = json!(finished);
    }
    d
}

/// A deployment's start and success reach each channel once, each in its own format.
async fn deployments_announced(backend: Backend) {
    let channels = Channels::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &channels.config("[\"deployment.*\"]"), &[]).await else { return };
    let (started, finished) = (ago(10), ago(2));
    app.ingest(json!([deployment("in_progress", &started, None)])).await;
    channels.wait_for("slack", 1, Duration::from_secs(10)).await;
    app.ingest(json!([deployment("success", &started, Some(&finished))])).await;
    let slack = channels.wait_for("slack", 2, Duration::from_secs(10)).await;
    assert_eq!(slack.len(), 2, "one message per event: {slack:#?}");
    assert_eq!(
        slack[0].body,
        json!({
            "text": "Deploying shop 2.4.0 &lt;beta&gt; &amp; more: shop 2.4.0 &lt;beta&gt; &amp; more is being deployed to production.",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": ":rocket: Deploying shop 2.4.0 <beta> & more", "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "shop 2.4.0 &lt;beta&gt; &amp; more is being deployed to production."}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Service*\nshop"},
                    {"type": "mrkdwn", "text": "*Environment*\nproduction"},
                    {"type": "mrkdwn", "text": "*Version*\n2.4.0 &lt;beta&gt; &amp; more"},
                    {"type": "mrkdwn", "text": "*Commit*\n0123456"},
                    {"type": "mrkdwn", "text": "*Team*\npayments"},
                ]},
                {"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open in pacer"}, "url": format!("{BASE}/?service=shop&environment=production"), "action_id": "pacer"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Deployment in pacer"}, "url": format!("{BASE}/api/v1/deployments/shop-42"), "action_id": "deployment"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Build"}, "url": "https://ci.example/runs/42?x=1&y=2", "action_id": "build"},
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("pacer · production · {}", shown(&started))}]},
            ]
        })
    );
    assert_eq!(slack[1].body["blocks"][0]["text"]["text"], ":white_check_mark: Deployed shop 2.4.0 <beta> & more");
    assert_eq!(slack[1].body["blocks"][2]["fields"][5], json!({"type": "mrkdwn", "text": "*Took*\n8 min"}));

    let teams = channels.wait_for("teams", 2, Duration::from_secs(10)).await;
    assert_eq!(teams.len(), 2);
    assert_eq!(
        teams[1].body,
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "Deployed shop 2.4.0 \\<beta\\> \\& more", "size": "Large", "weight": "Bolder", "color": "Good", "wrap": true},
                        {"type": "TextBlock", "text": "shop 2.4.0 \\<beta\\> \\& more is live in production.", "wrap": true},
                        {"type": "FactSet", "facts": [
                            {"title": "Service", "value": "shop"},
                            {"title": "Environment", "value": "production"},
                            {"title": "Version", "value": "2.4.0 \\<beta\\> \\& more"},
                            {"title": "Commit", "value": "0123456"},
                            {"title": "Team", "value": "payments"},
                            {"title": "Took", "value": "8 min"},
                        ]},
                        {"type": "TextBlock", "text": format!("pacer · production · {}", shown(&finished)), "isSubtle": true, "size": "Small", "wrap": true},
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Open in pacer", "url": format!("{BASE}/?service=shop&environment=production")},
                        {"type": "Action.OpenUrl", "title": "Deployment in pacer", "url": format!("{BASE}/api/v1/deployments/shop-42")},
                        {"type": "Action.OpenUrl", "title": "Build", "url": "https://ci.example/runs/42?x=1&y=2"},
                    ],
                },
            }],
        })
    );

    let hooks = channels.wait_for("hook", 2, Duration::from_secs(10)).await;
    assert_eq!(hooks.len(), 2);
    let hook = &hooks[1];
    let header = |name: &str| hook.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let timestamp: i64 = header("webhook-timestamp").parse().expect("timestamp");
    assert!(header("webhook-id").starts_with("msg_"));
    assert!(sign::verify(SECRET, &header("webhook-id"), timestamp, &hook.raw, &header("webhook-signature")), "the webhook is signed per Standard Webhooks");
    assert_eq!(hook.body["type"], "deployment.succeeded");
    assert_eq!(hook.body["event_id"], "deployment.succeeded:shop-42");
    assert_eq!((hook.body["service"].as_str(), hook.body["team"].as_str()), (Some("shop"), Some("payments")));
    assert_eq!(hook.body["deployment"]["version"], "2.4.0 <beta> & more");
    assert_eq!(hook.body["links"][0], json!({"label": "Open in pacer", "url": format!("{BASE}/?service=shop&environment=production")}));

    // Sending the same state again announces nothing again.
    app.ingest(json!([deployment("success", &started, Some(&finished))])).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(channels.got("slack").len(), 2, "a duplicate event is not announced twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_announced_on_sqlite() {
    deployments_announced(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_announced_on_postgres() {
    deployments_announced(Backend::Postgres).await;
}

/// The configuration of a rollback policy whose hook is `hook`, and of one Slack rule at `slack`
/// hearing `events`.
fn rollback_config(hook: &str, slack: &str, events: &str) -> String {
    format!(
        "{}[chat]\nbase_url = \"{BASE}\"\n[[notify]]\nname = \"oncall\"\nkind = \"slack\"\nurl = \"{slack}\"\nevents = {events}\ntimeout_secs = 1\n",
        crate::rollback::config("auto", &[hook])
    )
}

async fn post_alert(app: &TestApp, body: &Value) -> Duration {
    let started = Instant::now();
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(body).send().await.expect("request");
    assert_eq!(response.status(), 200);
    started.elapsed()
}

/// An incident and a rollback tell the channel what happened, what shipped and where it went back.
async fn incidents_and_rollbacks_announced(backend: Backend) {
    let (hook, channels) = (Receiver::start().await, Channels::start().await);
    let events = "[\"incident.opened\", \"rollback.*\"]";
    let Some(app) = TestApp::spawn_with_config(backend, &rollback_config(&hook.url, &format!("{}/slack", channels.base), events), &[]).await else { return };
    app.ingest(history()).await;
    post_alert(&app, &alert("firing", &ago(1), None)).await;
    assert_eq!(hook.wait_for(1, Duration::from_secs(10)).await.len(), 1, "the rollback hook fired");
    let got = channels.wait_for("slack", 3, Duration::from_secs(10)).await;
    let titles: Vec<&str> = got.iter().filter_map(|g| g.body["blocks"][0]["text"]["text"].as_str()).collect();
    assert_eq!(got.len(), 3, "{titles:?}");
    for expected in [":rotating_light: Incident: High5xx: 5xx above 5 %", ":rotating_light: Rolling back checkout", ":white_check_mark: Rolled back checkout"] {
        assert!(titles.contains(&expected), "{expected} in {titles:?}");
    }
    let decided = got.iter().find(|g| g.body["blocks"][0]["text"]["text"] == ":rotating_light: Rolling back checkout").expect("decided");
    let blocks = decided.body["blocks"].as_array().expect("blocks");
    let text = |i: usize| blocks[i]["text"]["text"].as_str().unwrap_or("").to_owned();
    assert!(text(1).starts_with("High5xx fired ") && text(1).ends_with("after checkout 1.1.0 (c2) was deployed; rolling back to 1.0.0 (c1)"), "{}", text(1));
    let fields: Vec<&str> = blocks[2]["fields"].as_array().expect("fields").iter().filter_map(|f| f["text"].as_str()).collect();
    assert_eq!(fields, ["*Service*\ncheckout", "*Environment*\nproduction", "*From*\n1.1.0 (c2)", "*Back to*\n1.0.0 (c1)", "*Alert*\nHigh5xx", "*Policy*\nauto"]);
    assert_eq!(text(3), "*Changes shipped*\n• `#7` acme/checkout\n• `c2` Cache prices — ana");
    let buttons: Vec<(&str, &str)> = blocks[4]["elements"]
        .as_array()
        .expect("buttons")
        .iter()
        .filter_map(|b| Some((b["action_id"].as_str()?, b["url"].as_str()?)))
        .collect();
    let rollback_id = decided.body.to_string().split("/api/v1/rollbacks/").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_owned();
    assert_eq!(
        buttons,
        [
            ("pacer", format!("{BASE}/?service=checkout&environment=production").as_str()),
            ("rollback", format!("{BASE}/api/v1/rollbacks/{rollback_id}").as_str()),
            ("alert", "http://prometheus/graph?g0.expr=rate"),
            ("compare", "https://github.com/acme/checkout/compare/c1...c2"),
            ("build", "https://ci.example/v2"),
        ]
    );
    assert!(rollback_id.starts_with("rb_"), "{rollback_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_rollbacks_announced_on_sqlite() {
    incidents_and_rollbacks_announced(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_rollbacks_announced_on_postgres() {
    incidents_and_rollbacks_announced(Backend::Postgres).await;
}

/// Slack's 429 is retried no sooner than its `Retry-After`, and the message then arrives once.
async fn rate_limited_messages_wait_as_asked(backend: Backend) {
    let channels = Channels::start().await;
    channels.answer_next("slack", 429, Some("3"));
    let Some(app) = TestApp::spawn_with_config(backend, &channels.config("[\"deployment.succeeded\"]"), &[]).await else { return };
    app.ingest(json!([deployment("success", &ago(10), Some(&ago(2)))])).await;
    let got = channels.wait_for("slack", 2, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 2, "the message is sent again after the 429");
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(2_900) && waited < Duration::from_secs(8), "Retry-After: 3 honoured, waited {waited:?}");
    assert_eq!(got[0].body, got[1].body, "the same message on every attempt");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(channels.got("slack").len(), 2, "delivered once, then never again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_messages_wait_as_asked_on_sqlite() {
    rate_limited_messages_wait_as_asked(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_messages_wait_as_asked_on_postgres() {
    rate_limited_messages_wait_as_asked(Backend::Postgres).await;
}

/// A channel that answers 404 or 410 is gone: pacer stops sending to it at once.
async fn a_gone_channel_is_not_retried(backend: Backend) {
    let channels = Channels::start().await;
    channels.answer_next("slack", 404, None);
    channels.answer_next("teams", 410, None);
    let Some(app) = TestApp::spawn_with_config(backend, &channels.config("[\"deployment.succeeded\"]"), &[]).await else { return };
    app.ingest(json!([deployment("success", &ago(10), Some(&ago(2)))])).await;
    channels.wait_for("slack", 1, Duration::from_secs(10)).await;
    channels.wait_for("teams", 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!((channels.got("slack").len(), channels.got("teams").len()), (1, 1), "no retry after 404 or 410");
    let listed = app.get("/api/v1/chat/messages").await;
    let mut states: Vec<(String, String, i64, Option<i64>)> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| (m["destination"].as_str().unwrap_or("").to_owned(), m["state"].as_str().unwrap_or("").to_owned(), m["attempts"].as_i64().unwrap_or(0), m["last_status"].as_i64()))
        .collect();
    states.sort();
    assert_eq!(
        states,
        [("hook".into(), "delivered".into(), 1, Some(200)), ("slack".into(), "gone".into(), 1, Some(404)), ("teams".into(), "gone".into(), 1, Some(410))],
        "an operator sees which channel is gone: {listed}"
    );
    assert!(!listed.to_string().contains(&channels.base), "destination URLs are never listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_channel_is_not_retried_on_sqlite() {
    a_gone_channel_is_not_retried(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_channel_is_not_retried_on_postgres() {
    a_gone_channel_is_not_retried(Backend::Postgres).await;
}

/// Two replicas on one PostgreSQL database, each hearing some of the events: every event reaches
/// every destination exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_send_each_message_once_per_destination() {
    let Some((url, guard)) = fresh_database(Backend::Postgres).await else { return };
    let channels = Channels::start().await;
    let toml = channels.config("[\"deployment.*\"]");
    let first = TestApp::start(url.clone(), guard, Some(&toml), &[]).await;
    let second = TestApp::start(url, CleanupGuard::none(), Some(&toml), &[]).await;
    let services: Vec<String> = (0..12).map(|i| format!("svc{i}")).collect();
    for (i, service) in services.iter().enumerate() {
        let replica = if i % 2 == 0 { &first } else { &second };
        let d = json!({"type": "deployment", "id": format!("{service}-1"), "service": service, "status": "success",
                       "started_at": ago(5), "finished_at": ago(1)});
        // Each replica hears every event: a retrying client, or two senders.
        replica.ingest(json!([d.clone()])).await;
        let other = if i % 2 == 0 { &second } else { &first };
        other.ingest(json!([d])).await;
    }
    for channel in ["slack", "teams", "hook"] {
        let got = channels.wait_for(channel, services.len(), Duration::from_secs(15)).await;
        assert_eq!(got.len(), services.len(), "{channel}: every event once");
    }
    // Both replicas keep running a while: nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for channel in ["slack", "teams", "hook"] {
        let mut ids: Vec<String> = channels.got(channel).iter().map(|g| g.body.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!((channels.got(channel).len(), ids.len()), (services.len(), services.len()), "{channel}: one message per event");
    }
}

/// A chat destination that never answers delays neither ingestion nor the rollback hook.
async fn a_dead_channel_holds_up_nothing(backend: Backend) {
    // Accepts connections and never answers.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_url = format!("http://{}/slack", dead.local_addr().expect("addr"));
    let held = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&held);
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = dead.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            open.push(socket);
        }
    });
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &rollback_config(&hook.url, &dead_url, "[\"deployment.*\", \"incident.*\", \"rollback.*\"]"), &[]).await else { return };
    app.ingest(history()).await;
    // The sender is already held up by the dead channel before anything is measured.
    let deadline = Instant::now() + Duration::from_secs(10);
    while held.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(held.load(Ordering::SeqCst) > 0, "the dead channel is being tried");
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        app.ingest(json!([{"type": "deployment", "id": format!("other-{i}"), "service": "other", "status": "success", "started_at": ago(3), "finished_at": ago(2)}])).await;
        slowest = slowest.max(started.elapsed());
    }
    let fired = Instant::now();
    post_alert(&app, &alert("firing", &ago(1), None)).await;
    assert_eq!(hook.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    let to_hook = fired.elapsed();
    assert!(slowest < Duration::from_millis(900), "ingestion never waits on chat: slowest {slowest:?}");
    assert!(to_hook < Duration::from_secs(2), "the rollback hook never waits on chat: {to_hook:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_channel_holds_up_nothing_on_sqlite() {
    a_dead_channel_holds_up_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_channel_holds_up_nothing_on_postgres() {
    a_dead_channel_holds_up_nothing(Backend::Postgres).await;
}

/// Events from long ago — a backfill, an import — are stored but not announced.
async fn old_events_are_not_announced(backend: Backend) {
    let channels = Channels::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &channels.config("[\"deployment.*\"]"), &[]).await else { return };
    app.ingest(json!([deployment("success", &ago(600), Some(&ago(590)))])).await;
    app.ingest(json!([{"type": "deployment", "id": "fresh", "service": "shop", "status": "success", "started_at": ago(3), "finished_at": ago(2)}])).await;
    channels.wait_for("slack", 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let titles: Vec<Value> = channels.got("slack").iter().map(|g| g.body["blocks"][0]["text"]["text"].clone()).collect();
    assert_eq!(titles, [json!(":white_check_mark: Deployed shop fresh")], "only the recent deployment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_are_not_announced_on_sqlite() {
    old_events_are_not_announced(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_are_not_announced_on_postgres() {
    old_events_are_not_announced(Backend::Postgres).await;
}

/// `value` with what changes from run to run written as a placeholder: times (RFC 3339, and
/// epoch milliseconds, alone or inside an id), rollback ids, and the `dated` values (the week a
/// digest is about, as its webhook message names it).
fn normalized(value: &Value, dated: &[(String, &str)]) -> Value {
    match value {
        Value::String(s) => {
            let text = dated.iter().filter(|(from, _)| !from.is_empty()).fold(s.clone(), |text, (from, to)| text.replace(from.as_str(), to));
            Value::String(placeholders(&text))
        }
        Value::Number(n) if n.as_i64().is_some_and(|n| n > 1_000_000_000_000) => json!("<epoch ms>"),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalized(v, dated)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalized(v, dated))).collect()),
        other => other.clone(),
    }
}

/// `text` with every RFC 3339 time as `<time>`, every run of 13 digits (epoch milliseconds) as
/// `<epoch ms>` and every rollback id as `rb_<id>`.
fn placeholders(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let digits = |from: usize, n: usize| (from..from + n).all(|j| chars.get(j).is_some_and(char::is_ascii_digit));
    while i < chars.len() {
        // 2026-12-06T13:08:59(.123)Z
        if digits(i, 4) && chars.get(i + 4) == Some(&'-') && digits(i + 5, 2) && chars.get(i + 10) == Some(&'T') && digits(i + 11, 2) {
            let mut end = i + 19;
            while end < chars.len() && (chars[end] == '.' || chars[end].is_ascii_digit()) {
                end += 1;
            }
            if chars.get(end) == Some(&'Z') {
                out.push_str("<time>");
                i = end + 1;
                continue;
            }
        }
        let starts_number = i == 0 || !chars[i - 1].is_ascii_digit();
        if starts_number && digits(i, 13) && !digits(i + 13, 1) {
            out.push_str("<epoch ms>");
            i += 13;
            continue;
        }
        if chars[i..].starts_with(&['r', 'b', '_']) {
            let mut end = i + 3;
            while end < chars.len() && chars[end].is_ascii_alphanumeric() {
                end += 1;
            }
            out.push_str("rb_<id>");
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The messages each channel got about the first event of each kind, normalized, against
/// `tests/api/expected/chat-<channel>.json` (`PACER_BLESS=1` writes those kinds into the files
/// instead, keeping the others). Slack and
/// Teams messages do not name their event: each is found by the title the webhook's message about
/// the same event gives.
fn assert_as_expected(channels: &Channels, kinds: &[&str]) {
    let hooks = channels.got("hook");
    let digest = hooks.iter().find(|h| h.body["type"] == "digest.weekly").map(|h| h.body["digest"].clone()).unwrap_or(Value::Null);
    let dated = [
        (digest["days"].as_str().unwrap_or("").to_owned(), "<days>"),
        (digest["week"].as_str().unwrap_or("").to_owned(), "<week>"),
    ];
    for channel in ["slack", "teams", "hook"] {
        let got = channels.got(channel);
        let mut by_kind = serde_json::Map::new();
        for kind in kinds {
            let hook = hooks.iter().find(|h| h.body["type"] == *kind).unwrap_or_else(|| panic!("no {kind} message reached the webhook"));
            let title = hook.body["title"].as_str().unwrap_or("");
            let titled = |g: &&Got| match channel {
                "slack" => g.body["blocks"][0]["text"]["text"].as_str().and_then(|t| t.split_once(' ')).is_some_and(|(_, t)| t == title),
                "teams" => g.body["attachments"][0]["content"]["body"][0]["text"].as_str().is_some_and(|t| t.replace('\\', "") == title.replace('\\', "")),
                _ => g.body["event_id"] == hook.body["event_id"],
            };
            let found = got.iter().find(titled).unwrap_or_else(|| panic!("{channel}: no message titled {title:?}"));
            by_kind.insert((*kind).to_owned(), normalized(&found.body, &dated));
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/api/expected/chat-{channel}.json"));
        let expected: Value = std::fs::read_to_string(&path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_else(|| json!({}));
        if std::env::var("PACER_BLESS").is_ok_and(|v| v == "1") {
            let mut all = expected.as_object().cloned().unwrap_or_default();
            all.extend(by_kind);
            std::fs::write(&path, serde_json::to_string_pretty(&Value::Object(all)).expect("json") + "\n").expect("write the expected file");
            continue;
        }
        let actual = Value::Object(by_kind);
        for kind in kinds {
            assert_eq!(actual[kind], expected[kind], "{channel}, {kind}: the exact message (expected in {})", path.display());
        }
    }
}

/// Every kind of event, one after the other, to Slack, Teams and a webhook: each channel's exact
/// message for each kind, with user text holding `<`, `>`, `&` and markdown.
async fn every_kind_as_each_channel_gets_it(backend: Backend) {
    let (hook, channels) = (Receiver::start().await, Channels::start().await);
    // Nothing listens here: the weekly email is retried, the digest is recorded all the same.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let smtp = format!("smtp://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let toml = format!(
        "slo_interval_secs = 1\n\
         [teams]\ncommerce = [\"checkout\", \"shop\"]\n\
         [[slo]]\nname = \"search-availability\"\nservice = \"search\"\nobjective = 99.9\nmin_events = 100\n\
         [[slo]]\nname = \"web-availability\"\nservice = \"web\"\nobjective = 99.9\nmin_events = 100\n\
         [report]\nschedule = \"* * * * *\"\ntimezone = \"UTC\"\nfrom = \"pacer <pacer@example.com>\"\nsmtp_url = \"{smtp}\"\nrecipients = [\"cto@example.com\"]\nretry_secs = 60\n\
         {}{}",
        crate::rollback::config("manual", &[&hook.url]),
        channels.config("[\"deployment.*\", \"incident.*\", \"rollback.*\", \"slo.*\", \"gate.*\", \"digest.*\"]")
    );
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    let wait = |n: usize| {
        let channels = channels.clone();
        async move {
            for channel in ["slack", "teams", "hook"] {
                let got = channels.wait_for(channel, n, Duration::from_secs(15)).await;
                assert!(got.len() >= n, "{channel}: {} of {n} messages", got.len());
            }
        }
    };
    // The digest of last week, recorded at start by the report's schedule (every minute here).
    wait(1).await;
    let (started, finished) = (ago(10), ago(2));
    app.ingest(json!([deployment("in_progress", &started, None)])).await;
    wait(2).await;
    app.ingest(json!([deployment("success", &started, Some(&finished))])).await;
    wait(3).await;
    let mut failed = deployment("failure", &ago(9), Some(&ago(4)));
    failed["id"] = json!("shop-43");
    failed["version"] = json!("2.4.1 *bold* [link](https://evil.example) {{DATE(x)}}");
    app.ingest(json!([failed])).await;
    wait(4).await;
    let incident = json!({"type": "incident", "id": "INC-9", "service": "shop", "opened_at": ago(30), "severity": "sev2",
                          "title": "Basket <500> & timeouts", "url": "https://pager.example/INC-9?a=1&b=2"});
    app.ingest(json!([incident.clone()])).await;
    wait(5).await;
    let mut resolved = incident;
    resolved["resolved_at"] = json!(ago(3));
    app.ingest(json!([resolved])).await;
    wait(6).await;
    // checkout's bad deployment (its good one is older than an hour: not announced); the alert
    // opens an incident and a rollback the manual policy holds; approved, it is decided and
    // delivered.
    app.ingest(history()).await;
    wait(7).await;
    post_alert(&app, &alert("firing", &ago(1), None)).await;
    wait(9).await;
    let rollbacks = app.get("/api/v1/rollbacks").await;
    let id = rollbacks["items"][0]["id"].as_str().expect("a rollback").to_owned();
    let approved = app.client.post(app.url(&format!("/api/v1/rollbacks/{id}/approve"))).send().await.expect("request");
    assert!(approved.status().is_success(), "{}", approved.text().await.unwrap_or_default());
    assert_eq!(hook.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    wait(11).await;
    // The incident the alert opened is still open: the gate halts checkout's rollout.
    let answer = app.get("/api/v1/gate?service=checkout&asker=argo-rollouts").await;
    assert_eq!(answer["decision"], "halt", "{answer:#}");
    wait(12).await;
    // Asked again while halted: the same episode, no second message.
    app.get("/api/v1/gate?service=checkout&asker=argo-rollouts").await;
    // search burns fast (half its requests fail): a page; web slowly (0.4 % of 1 000 a sample for a
    // day against 99.9 %): a ticket.
    let mut sli = Vec::new();
    for minute in 0..60 {
        sli.push(json!({"type": "sli", "service": "search", "at": ago(minute), "good": 500, "total": 1000}));
    }
    for step in 0..144 {
        sli.push(json!({"type": "sli", "service": "web", "at": ago(step * 10), "good": 996, "total": 1000}));
    }
    app.ingest(Value::Array(sli)).await;
    // The page also opens an incident (the burn is an alert); the ticket does not.
    wait(15).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let kinds: Vec<String> = channels.got("hook").iter().filter_map(|g| g.body["type"].as_str().map(str::to_owned)).collect();
    for (kind, n) in [("gate.halted", 1), ("slo.page", 1), ("slo.ticket", 1), ("digest.weekly", 1)] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), n, "{kind} once: {kinds:?}");
    }
    assert_as_expected(
        &channels,
        &[
            "deployment.started",
            "deployment.succeeded",
            "deployment.failed",
            "incident.opened",
            "incident.resolved",
            "rollback.awaiting_approval",
            "rollback.decided",
            "rollback.delivered",
            "gate.halted",
            "slo.page",
            "slo.ticket",
            "digest.weekly",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_as_each_channel_gets_it_on_sqlite() {
    every_kind_as_each_channel_gets_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_as_each_channel_gets_it_on_postgres() {
    every_kind_as_each_channel_gets_it(Backend::Postgres).await;
}

/// A sender's text far over every limit reaches Slack and Teams cut to their limits, with a
/// marker, and never cut inside an escape.
async fn long_text_is_cut_to_each_channels_limits(backend: Backend) {
    let channels = Channels::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &channels.config("[\"deployment.succeeded\"]"), &[]).await else { return };
    let mut d = deployment("success", &ago(10), Some(&ago(2)));
    // 1 000 characters, pacer's limit for a version: escaped, over Slack's and Teams' limits.
    d["version"] = json!(format!("{}&", "<&>".repeat(333)));
    app.ingest(json!([d])).await;
    let slack = channels.wait_for("slack", 1, Duration::from_secs(10)).await;
    let teams = channels.wait_for("teams", 1, Duration::from_secs(10)).await;
    assert_eq!((slack.len(), teams.len()), (1, 1));
    let blocks = slack[0].body["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= 50);
    let header = blocks[0]["text"]["text"].as_str().expect("header");
    assert_eq!(header.chars().count(), 150, "{header}");
    assert!(header.ends_with('…'));
    let summary = blocks[1]["text"]["text"].as_str().expect("summary");
    assert!(summary.chars().count() <= 3_000 && summary.ends_with('…'), "{} characters", summary.chars().count());
    let before = summary.trim_end_matches('…');
    assert!(before.ends_with("&lt;") || before.ends_with("&gt;") || before.ends_with("&amp;"), "never inside an escape: {}", &before[before.len() - 12..]);
    let version = blocks[2]["fields"][2]["text"].as_str().expect("the version field");
    assert!(version.starts_with("*Version*\n&lt;&amp;&gt;") && version.chars().count() <= 2_000 && version.ends_with('…'), "{}", version.chars().count());
    let card = &teams[0].body["attachments"][0]["content"]["body"];
    let title = card[0]["text"].as_str().expect("title");
    assert!(title.starts_with("Deployed shop \\<\\&\\>") && title.chars().count() <= 2_000 && title.ends_with('…'), "{}", title.chars().count());
    let cut = title.trim_end_matches('…');
    assert_eq!((cut.len() - cut.trim_end_matches('\\').len()) % 2, 0, "never between a backslash and what it escapes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_text_is_cut_to_each_channels_limits_on_sqlite() {
    long_text_is_cut_to_each_channels_limits(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_text_is_cut_to_each_channels_limits_on_postgres() {
    long_text_is_cut_to_each_channels_limits(Backend::Postgres).await;
}

/// A rollback hook that is gone fails the rollback: each channel is told to roll back by hand, in
/// its exact message.
async fn a_failed_rollback_says_roll_back_by_hand(backend: Backend) {
    let channels = Channels::start().await;
    channels.answer_next("deployer", 410, None);
    let toml = format!("{}{}", crate::rollback::config("auto", &[&format!("{}/deployer", channels.base)]), channels.config("[\"rollback.failed\"]"));
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    app.ingest(history()).await;
    post_alert(&app, &alert("firing", &ago(1), None)).await;
    for channel in ["teams", "hook"] {
        assert_eq!(channels.wait_for(channel, 1, Duration::from_secs(15)).await.len(), 1, "{channel}: one message about the failed rollback");
    }
    let got = channels.wait_for("slack", 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "one message about the failed rollback");
    assert_eq!(channels.got("deployer").len(), 1, "the hook answered 410 once and was not tried again");
    let blocks = got[0].body["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["text"]["text"], ":rotating_light: Rollback of checkout failed");
    assert_eq!(
        blocks[1]["text"]["text"],
        "A rollback hook gave up: the rollback of checkout in production did not reach the deployer. Roll back by hand."
    );
    let fields: Vec<&str> = blocks[2]["fields"].as_array().expect("fields").iter().filter_map(|f| f["text"].as_str()).collect();
    assert_eq!(fields, ["*Service*\ncheckout", "*Environment*\nproduction", "*From*\n1.1.0 (c2)", "*Back to*\n1.0.0 (c1)", "*Alert*\nHigh5xx", "*Policy*\nauto"]);
    assert_as_expected(&channels, &["rollback.failed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollback_says_roll_back_by_hand_on_sqlite() {
    a_failed_rollback_says_roll_back_by_hand(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollback_says_roll_back_by_hand_on_postgres() {
    a_failed_rollback_says_roll_back_by_hand(Backend::Postgres).await;
}
