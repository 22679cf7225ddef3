//! `pacer send` against a running pacer: a deployment stored once however often a job re-runs,
//! a retry through a 503, pacer's problem text on a 4xx, and a token only from the environment.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::helpers::TestApp;
use crate::on_both;

const TOKEN: &str = "send-test-token-0123456789";

/// Runs `pacer send …` with `PACER_TOKEN` set to `token`; returns success, stdout and stderr.
async fn send(token: Option<&str>, args: Vec<String>) -> (bool, String, String) {
    let token = token.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut command = crate::cli::pacer();
        command.env_remove("PACER_TOKEN").env_remove("PACER_SERVER").arg("send").args(&args).args(["--backoff-ms", "50"]);
        if let Some(token) = token {
            command.env("PACER_TOKEN", token);
        }
        let output = command.output().expect("pacer runs");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await
    .expect("joined")
}

fn deployment(server: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["deployment", "--server", server, "--service", "checkout", "--version", "1.4.2", "--commit", "abc123", "--status", "success", "--finished-at", "2026-01-05T10:00:00Z"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

async fn deployments(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/deployments?limit=100").await["items"].as_array().cloned().unwrap_or_default()
}

/// A server that answers the first request 503 and forwards the rest to `target`.
async fn flaky(target: String) -> (String, Arc<AtomicUsize>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (target, counter) = (target.clone(), Arc::clone(&counter));
        async move {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")], "busy").into_response();
            }
            let mut request = reqwest::Client::new().post(format!("{target}/api/v1/events")).body(body).header("content-type", "application/json");
            if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.expect("forwarded");
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, response.bytes().await.unwrap_or_default()).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, seen)
}

on_both!(a_deployment_sent_twice_is_stored_once, env = [("PACER_API_TOKEN", TOKEN)], |app| {
    let (ok, stdout, stderr) = send(Some(TOKEN), deployment(&app.base, &[])).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "deployment checkout/production/1.4.2: stored");
    let (ok, stdout, stderr) = send(Some(TOKEN), deployment(&app.base, &[])).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "deployment checkout/production/1.4.2: already stored", "a re-run job changes nothing");
    let stored = deployments(&app).await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert_eq!(stored[0]["commit_sha"], "abc123");
    assert_eq!(stored[0]["version"], "1.4.2");

    let (ok, _, stderr) = send(Some(TOKEN), vec!["incident".into(), "--server".into(), app.base.clone(), "--id".into(), "inc-1".into(), "--service".into(), "checkout".into(), "--opened-at".into(), "2026-01-05T10:30:00Z".into(), "--deployment".into(), "checkout/production/1.4.2".into()]).await;
    assert!(ok, "{stderr}");
    let failures = app.dora("from=2026-01-05T00%3A00%3A00Z&to=2026-01-06T00%3A00%3A00Z").await;
    assert_eq!(failures["change_failure_rate"]["failed_deployments"], 1, "the incident names the deployment: {failures:#}");
});

on_both!(a_busy_pacer_is_retried_and_a_refusal_is_explained, env = [("PACER_API_TOKEN", TOKEN)], |app| {
    let (proxy, seen) = flaky(app.base.clone()).await;
    let (ok, stdout, stderr) = send(Some(TOKEN), deployment(&proxy, &[])).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("503"), "the wait is said: {stderr}");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one retry after the 503");
    assert!(stdout.contains(": stored"), "{stdout}");
    assert_eq!(deployments(&app).await.len(), 1);

    let (ok, _, stderr) = send(Some(TOKEN), deployment(&app.base, &["--id", "bad", "--started-at", "yesterday"])).await;
    assert!(!ok, "a refused event fails the step");
    assert!(stderr.contains("400") && stderr.contains("started_at:"), "pacer's reason, by field: {stderr}");
    let (ok, _, stderr) = send(None, deployment(&app.base, &["--id", "anonymous"])).await;
    assert!(!ok && stderr.contains("401"), "no token, no deployment: {stderr}");
    let (ok, _, stderr) = send(Some(TOKEN), deployment("http://127.0.0.1:9", &["--retries", "1"])).await;
    assert!(!ok && stderr.contains("2 attempts"), "an unreachable pacer is given up on: {stderr}");
    assert_eq!(deployments(&app).await.len(), 1, "nothing else was stored");
});
