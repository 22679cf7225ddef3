//! API tokens: created, listed and revoked with `pacer token`, checked by scope on every API
//! route; and no token, secret or signature ever reaches pacer's log.

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::cli::pacer;
use crate::helpers::{Backend, TestApp, fresh_database};
use crate::webhooks::{fixture, sign};
use crate::{deploy, on_both};

/// Runs `pacer token …` on `database`; returns success, stdout and stderr.
fn token(database: &str, args: &[&str]) -> (bool, String, String) {
    let output = pacer().arg("token").args(args).args(["--database", database]).output().expect("run pacer token");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Creates a token and returns it.
fn create(database: &str, name: &str, scopes: &str) -> String {
    let (ok, stdout, stderr) = token(database, &["create", "--name", name, "--scope", scopes]);
    assert!(ok, "token create failed: {stderr}");
    let token = stdout.trim().to_owned();
    assert!(token.starts_with("pacer_") && !token.contains(char::is_whitespace), "stdout holds the token alone: {stdout:?}");
    token
}

/// The status of a request, after checking that an error is a problem.
async fn status(request: reqwest::RequestBuilder) -> u16 {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    if status >= 400 {
        let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(media, "application/problem+json", "a {status} is a problem");
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["status"], status, "{problem}");
    }
    status
}

on_both!(a_token_lifecycle_through_the_cli_grants_its_scopes_and_ends_with_revocation, env = [("PACER_READ_ACCESS", "token")], |app| {
    let db = app.database_url.clone();
    let events = || app.client.post(app.url("/api/v1/events")).json(&json!(deploy("d1", "shop", "a", 1.0)));
    let dora = || app.client.get(app.url("/api/v1/dora?from=now-3650d"));
    let approve = || app.client.post(app.url("/api/v1/rollbacks/nope/approve"));
    assert_eq!(status(dora()).await, 401, "read_access = token: reads need a token");
    assert_eq!(status(events()).await, 200, "no token exists yet: ingestion is open");

    let ingest = create(&db, "ci", "ingest");
    let reader = create(&db, "grafana", "read");
    let admin = create(&db, "ops", "admin,read");
    assert_eq!(status(events()).await, 401, "the first token closes ingestion to anonymous callers");
    assert_eq!(status(events().bearer_auth("pacer_not-a-token-at-all")).await, 401, "an unknown token");
    assert_eq!(status(events().bearer_auth(&ingest)).await, 200);
    assert_eq!(status(events().bearer_auth(&reader)).await, 403, "read cannot ingest");
    assert_eq!(status(dora().bearer_auth(&ingest)).await, 403, "ingest cannot read");
    assert_eq!(status(dora().bearer_auth(&reader)).await, 200);
    assert_eq!(status(approve().bearer_auth(&ingest)).await, 403, "ingest cannot approve rollbacks");
    assert_eq!(status(approve().bearer_auth(&admin)).await, 404, "admin reaches the approval (of no such rollback)");
    let dora_json: Value = dora().bearer_auth(&admin).send().await.expect("dora").json().await.expect("json");
    assert_eq!(dora_json["deployment_frequency"]["deployments"], 1, "only the accepted requests stored");

    let (ok, _, stderr) = token(&db, &["create", "--name", "ci", "--scope", "read"]);
    assert!(!ok && stderr.contains("exists already"), "a taken name: {stderr}");
    let (ok, _, stderr) = token(&db, &["create", "--name", "x", "--scope", "ingest,write"]);
    assert!(!ok && stderr.contains("\"write\""), "an unknown scope: {stderr}");
    let (ok, list, _) = token(&db, &["list"]);
    assert!(ok, "{list}");
    for (name, scopes) in [("ci", "ingest"), ("grafana", "read"), ("ops", "read,admin")] {
        assert!(list.lines().any(|l| l.contains(name) && l.contains(scopes) && l.contains("active")), "{name} {scopes} in {list}");
    }
    for secret in [&ingest, &reader, &admin] {
        assert!(!list.contains(secret.as_str()) && list.contains(&secret[..12]), "the list shows a prefix, never the token: {list}");
    }
    assert!(list.lines().filter(|l| l.contains("ci ")).all(|l| !l.trim_end().ends_with(" -")), "ci was used, so it has a last-used time: {list}");

    let (ok, stdout, stderr) = token(&db, &["revoke", "ci"]);
    assert!(ok && stdout.contains("revoked token ci"), "{stdout}{stderr}");
    assert_eq!(status(events().bearer_auth(&ingest)).await, 401, "a revoked token");
    assert_eq!(status(events()).await, 401, "revoking the only ingest token does not reopen ingestion");
    let (ok, _, stderr) = token(&db, &["revoke", "ci"]);
    assert!(!ok && stderr.contains("no active token"), "{stderr}");
    let (_, list, _) = token(&db, &["list"]);
    assert!(list.lines().any(|l| l.contains("ci ") && l.contains("revoked")), "{list}");
    let grafana_id = list.lines().find(|l| l.contains("grafana")).and_then(|l| l.split_whitespace().next()).expect("grafana's id").to_owned();
    assert!(token(&db, &["revoke", &grafana_id]).0, "revoked by id");
    assert_eq!(status(dora().bearer_auth(&reader)).await, 401);

    let (ok, _, stderr) = token(&db, &["create", "--name", "old", "--scope", "read", "--expires", "2020-01-01T00:00:00Z"]);
    assert!(!ok && stderr.contains("--expires"), "an expiry in the past: {stderr}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_tokens_keep_working_with_their_scopes_beside_stored_ones() {
    const API: &str = "static-api-token-0123456789";
    const READ: &str = "static-read-token-0123456789";
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, &[("PACER_API_TOKEN", API), ("PACER_READ_TOKEN", READ)]).await else { return };
    let stored = create(&app.database_url, "ci", "ingest");
    let events = || app.client.post(app.url("/api/v1/events")).json(&json!(deploy("d1", "shop", "a", 1.0)));
    assert_eq!(status(events().bearer_auth(API)).await, 200, "api_token: ingest");
    assert_eq!(status(events().bearer_auth(&stored)).await, 200, "a stored token beside it");
    assert_eq!(status(events().bearer_auth(READ)).await, 403, "read_token: read only");
    assert_eq!(status(app.client.get(app.url("/api/v1/deployments")).bearer_auth(READ)).await, 200);
    assert_eq!(status(app.client.get(app.url("/api/v1/deployments")).bearer_auth(API)).await, 200, "api_token: read");
    assert_eq!(status(app.client.get(app.url("/api/v1/deployments"))).await, 401, "a read_token makes reads need a token");
    assert_eq!(status(app.client.post(app.url("/api/v1/rollbacks/nope/approve")).bearer_auth(API)).await, 404, "api_token: admin");
}

/// Whatever pacer logs at trace level while it is sent good and bad tokens, secrets and
/// signatures, none of them appears in its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_secret_or_signature_appears_in_the_log_even_at_trace_level() {
    let Some((url, _guard)) = fresh_database(Backend::Sqlite).await else { return };
    let stored = create(&url, "ci", "ingest,read,admin");
    let secrets = [
        ("PACER_API_TOKEN", "log-secret-api-token-3141"),
        ("PACER_READ_TOKEN", "log-secret-read-token-2718"),
        ("PACER_GITHUB_SECRET", "log-secret-github-1618"),
        ("PACER_GITLAB_TOKEN", "log-secret-gitlab-1414"),
        ("PACER_CDEVENTS_TOKEN", "log-secret-cdevents-1732"),
        ("PACER_PAGERDUTY_SECRET", "log-secret-pagerduty-2236"),
        ("PACER_ALERTMANAGER_TOKEN", "log-secret-alertmanager-2645"),
        ("PACER_GRAFANA_SECRET", "log-secret-grafana-3162"),
    ];
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("pacer_log")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", &url])
        .env_remove("PACER_CONFIG")
        .env("PACER_LOG", "trace")
        .envs(secrets)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("pacer serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = async {
        loop {
            if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), ready).await.expect("pacer became ready");

    let secret = |name: &str| secrets.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).expect("configured");
    let wrong = ["log-wrong-token-5772", "log-wrong-secret-6931"];
    let mut leaked: Vec<String> = secrets.iter().map(|(_, v)| (*v).to_owned()).chain(wrong.iter().map(|w| (*w).to_owned())).collect();
    leaked.push(stored.clone());
    let events = json!(deploy("d1", "shop", "a", 1.0)).to_string();
    for bearer in [secret("PACER_API_TOKEN"), secret("PACER_READ_TOKEN"), stored.as_str(), wrong[0]] {
        let _ = client.post(format!("{base}/api/v1/events")).bearer_auth(bearer).header("content-type", "application/json").body(events.clone()).send().await;
        let _ = client.get(format!("{base}/api/v1/dora")).bearer_auth(bearer).send().await;
        let _ = client.post(format!("{base}/webhooks/alertmanager")).bearer_auth(bearer).body("{}").send().await;
        let _ = client.post(format!("{base}/webhooks/cdevents")).bearer_auth(bearer).body("{}").send().await;
    }
    let github = fixture("github/deployment_status.created.success.json");
    for key in [secret("PACER_GITHUB_SECRET"), wrong[1]] {
        let signature = format!("sha256={}", sign(key, &github));
        leaked.push(signature.clone());
        let headers = [("x-github-event", "deployment_status"), ("x-hub-signature-256", signature.as_str()), ("content-type", "application/json")];
        let mut request = client.post(format!("{base}/webhooks/github")).body(github.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let _ = request.send().await;
    }
    let pagerduty = fixture("pagerduty/incident.priority_updated.json");
    for key in [secret("PACER_PAGERDUTY_SECRET"), wrong[1]] {
        let signature = format!("v1={}", sign(key, &pagerduty));
        leaked.push(signature.clone());
        let _ = client.post(format!("{base}/webhooks/pagerduty")).header("x-pagerduty-signature", &signature).body(pagerduty.clone()).send().await;
    }
    let grafana = json!({"alerts": []}).to_string();
    for key in [secret("PACER_GRAFANA_SECRET"), wrong[1]] {
        let signature = sign(key, &grafana);
        leaked.push(signature.clone());
        let _ = client.post(format!("{base}/webhooks/grafana")).header("x-grafana-alerting-signature", &signature).body(grafana.clone()).send().await;
    }
    for token in [secret("PACER_GITLAB_TOKEN"), wrong[1]] {
        let body = fixture("gitlab/deployment.success.json");
        let _ = client.post(format!("{base}/webhooks/gitlab")).header("x-gitlab-event", "Deployment Hook").header("x-gitlab-token", token).body(body).send().await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    std::fs::File::open(&log).expect("log").read_to_string(&mut text).expect("read log");
    let _ = std::fs::remove_file(&log);
    assert!(text.lines().filter(|l| l.contains("request")).count() >= 20, "the log holds the requests at trace level:\n{text}");
    assert!(text.contains("TRACE") || text.contains("DEBUG"), "trace-level logging is on");
    for secret in &leaked {
        assert!(!text.contains(secret.as_str()), "{secret:?} appears in the log");
        // Nor a recognizable part of it.
        assert!(!text.contains(&secret[secret.len() - 12..]), "the end of {secret:?} appears in the log");
    }
}
