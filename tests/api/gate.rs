//! The deploy gate: `GET /api/v1/gate` halts a rollout for each reason on its own — an open
//! incident, an alert since the rollout started, pacer's rollback decision, an SLO burn at the
//! configured level, a change freeze — says why, records every answer (`GET /api/v1/gates`), and
//! answers Flagger's webhooks by status as Flagger reads them.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::hooks::Receiver;
use crate::on_both;
use crate::rollback::{alert, config, history};

fn ago_secs(seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The kinds of an answer's reasons, in order, each with whether it blocks.
fn kinds(answer: &Value) -> Vec<(String, bool)> {
    answer["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["kind"].as_str().unwrap_or_default().to_owned(), r["blocking"].as_bool().unwrap_or_default()))
        .collect()
}

async fn flagger(app: &TestApp, hook: &str, body: &Value) -> (u16, Value) {
    app.post_webhook(&format!("/webhooks/flagger/{hook}"), &[], body.to_string()).await
}

fn canary(checksum: &str) -> Value {
    json!({"name": "checkout", "namespace": "shop", "phase": "Progressing", "checksum": checksum, "metadata": {"type": "bash"}})
}

on_both!(a_quiet_service_may_proceed_and_every_answer_is_recorded, |app| {
    app.ingest(history()).await;
    let answer = app.get("/api/v1/gate?service=checkout&asker=argo-rollouts").await;
    assert_eq!(answer["proceed"], true, "{answer:#}");
    assert_eq!(answer["decision"], "proceed");
    assert_eq!(answer["rollback"], false);
    assert_eq!(answer["since_from"], "guard_window", "{answer:#}");
    assert_eq!(answer["reasons"], json!([]));
    let noted = app.get("/api/v1/gate?service=checkout&deployment=v9").await;
    assert_eq!(kinds(&noted), vec![("unknown".to_owned(), false)], "an unknown deployment is said, not held against the rollout: {noted:#}");
    assert_eq!(noted["proceed"], true);

    let listed = app.get("/api/v1/gates?service=checkout&limit=1").await;
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{listed:#}");
    assert_eq!(items[0]["id"], noted["id"], "newest first");
    assert_eq!(items[0]["deployment"], "v9");
    let next = listed["next_cursor"].as_str().expect("a next page");
    let older = app.get(&format!("/api/v1/gates?service=checkout&cursor={next}")).await;
    assert_eq!(older["items"][0]["id"], answer["id"], "{older:#}");
    assert_eq!(older["items"][0]["asker"], "argo-rollouts");
    assert_eq!(older["next_cursor"], Value::Null);

    let missing = app.client.get(app.url("/api/v1/gate?environment=production")).send().await.expect("request");
    assert_eq!(missing.status(), 400, "a question without a service is refused");
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let typo = app.client.get(app.url("/api/v1/gate?service=checkout&servce=x")).send().await.expect("request");
    assert_eq!(typo.status(), 400, "unknown parameters are refused");
});

on_both!(an_open_incident_halts_until_it_is_resolved, |app| {
    app.ingest(history()).await;
    let opened = json!({"type": "incident", "id": "inc-7", "service": "checkout", "opened_at": ago_secs(7_200), "title": "payments down", "url": "https://status.example/7"});
    app.ingest(json!([opened])).await;
    let answer = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(answer["proceed"], false, "{answer:#}");
    assert_eq!(kinds(&answer), vec![("open_incident".to_owned(), true)]);
    assert_eq!(answer["reasons"][0]["subject"], "inc-7");
    assert_eq!(answer["reasons"][0]["url"], "https://status.example/7");
    assert_eq!(answer["rollback"], false, "an incident older than the rollout halts it without calling for its rollback");
    assert!(answer["summary"].as_str().is_some_and(|s| s.starts_with("halt:") && s.contains("payments down")), "{answer:#}");
    let other = app.get("/api/v1/gate?service=search").await;
    assert_eq!(other["proceed"], true, "another service is not held: {other:#}");

    let mut resolved = opened.clone();
    resolved["resolved_at"] = json!(ago_secs(60));
    app.ingest(json!([resolved])).await;
    let answer = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(answer["proceed"], true, "{answer:#}");
});

on_both!(an_alert_since_the_deployment_started_halts_and_calls_for_a_rollback_even_once_resolved, |app| {
    app.ingest(history()).await;
    let before = app.get("/api/v1/gate?service=checkout&deployment=v2").await;
    assert_eq!(before["proceed"], true, "{before:#}");
    assert_eq!(before["since_from"], "deployment");
    let started = crate::rollback::ago(3);
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert("firing", &started, None)).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let answer = app.get("/api/v1/gate?service=checkout&deployment=v2").await;
    assert_eq!(answer["proceed"], false, "{answer:#}");
    assert_eq!(kinds(&answer), vec![("alert_since_start".to_owned(), true)], "{answer:#}");
    assert_eq!(answer["rollback"], true);

    let ended = crate::rollback::ago(1);
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert("resolved", &started, Some(&ended))).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let answer = app.get("/api/v1/gate?service=checkout&deployment=v2").await;
    assert_eq!(answer["proceed"], false, "a canary that alerted stays suspect: {answer:#}");
    assert!(answer["reasons"][0]["detail"].as_str().is_some_and(|d| d.contains("resolved")), "{answer:#}");
});

async fn a_rollback_decision_halts(backend: crate::helpers::Backend) {
    let hook = Receiver::start().await;
    let Some(app) = TestApp::spawn_with_config(backend, &config("auto", &[&hook.url]), &[]).await else { return };
    app.ingest(history()).await;
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert("firing", &crate::rollback::ago(1), None)).send().await.expect("request");
    assert_eq!(response.status(), 200);
    hook.wait_for(1, Duration::from_secs(10)).await;
    let answer = app.get("/api/v1/gate?service=checkout").await;
    let found = kinds(&answer);
    assert!(found.contains(&("rollback".to_owned(), true)), "{answer:#}");
    assert!(found.contains(&("alert_since_start".to_owned(), true)), "{answer:#}");
    let rollback = answer["reasons"].as_array().into_iter().flatten().find(|r| r["kind"] == "rollback").cloned().unwrap_or_default();
    assert!(rollback["detail"].as_str().is_some_and(|d| d.contains("deployment v2") && d.contains("auto")), "{rollback:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_decision_halts_on_sqlite() {
    a_rollback_decision_halts(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_decision_halts_on_postgres() {
    a_rollback_decision_halts(crate::helpers::Backend::Postgres).await;
}

/// `sli` samples of the last `minutes`, one a minute, with `bad` of every 1 000 requests failing.
fn samples(minutes: i64, bad: i64) -> Value {
    let events: Vec<Value> = (0..minutes)
        .map(|m| json!({"type": "sli", "service": "checkout", "at": ago_secs(m * 60 + 1), "good": 1000 - bad, "total": 1000}))
        .collect();
    Value::Array(events)
}

const SLO: &str = "slo_interval_secs = 3600\n[[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.9\nmin_events = 1\n";

on_both!(a_page_level_burn_halts, config = SLO, |app| {
    app.ingest(samples(70, 500)).await;
    let answer = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(answer["proceed"], false, "{answer:#}");
    assert_eq!(answer["reasons"][0]["kind"], "slo_burn");
    assert_eq!(answer["reasons"][0]["subject"], "checkout-availability");
    assert!(answer["reasons"][0]["detail"].as_str().is_some_and(|d| d.contains("page level (1h&5m)")), "{answer:#}");
    assert_eq!(answer["rollback"], true);
});

on_both!(a_ticket_level_burn_is_said_and_halts_only_at_slo_level_ticket, config = SLO, |app| {
    // 0.5 % of requests fail for seven hours: burn 5 — over 3 for the ticket pair (1d & 2h), under
    // 6 and 14.4 for the page pairs.
    app.ingest(samples(7 * 60, 5)).await;
    let answer = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(answer["proceed"], true, "{answer:#}");
    assert_eq!(kinds(&answer), vec![("slo_burn".to_owned(), false)], "{answer:#}");
    assert!(answer["reasons"][0]["detail"].as_str().is_some_and(|d| d.contains("ticket level")), "{answer:#}");
});

on_both!(a_ticket_level_burn_halts_at_slo_level_ticket, config = &format!("{SLO}[gate]\nslo_level = \"ticket\"\n"), |app| {
    app.ingest(samples(7 * 60, 5)).await;
    let answer = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(answer["proceed"], false, "{answer:#}");
    assert_eq!(kinds(&answer), vec![("slo_burn".to_owned(), true)]);
});

/// A one-off freeze from an hour ago to an hour ahead, of checkout only, and a weekly one of
/// staging that never covers now (a minute-long window a day away).
fn freezes() -> String {
    let now = Utc::now();
    let (from, to) = ((now - chrono::Duration::hours(1)).to_rfc3339(), (now + chrono::Duration::hours(1)).to_rfc3339());
    let later = now + chrono::Duration::hours(24);
    let weekday = |t: chrono::DateTime<Utc>| t.format("%a %H:%M").to_string();
    format!(
        "[[freeze]]\nname = \"release-week\"\nreason = \"year-end release\"\nservices = [\"checkout\"]\nstarts_at = \"{from}\"\nends_at = \"{to}\"\n\
         [[freeze]]\nname = \"staging-nightly\"\nenvironments = [\"staging\"]\ntimezone = \"UTC\"\nfrom = \"{}\"\nto = \"{}\"\n",
        weekday(later),
        weekday(later + chrono::Duration::minutes(1))
    )
}

on_both!(a_change_freeze_halts_the_services_it_holds, config = &freezes(), |app| {
    let answer = app.get("/api/v1/gate?service=checkout").await;
    assert_eq!(answer["proceed"], false, "{answer:#}");
    assert_eq!(kinds(&answer), vec![("freeze".to_owned(), true)]);
    assert!(answer["reasons"][0]["detail"].as_str().is_some_and(|d| d.starts_with("change freeze release-week holds") && d.ends_with(": year-end release")), "{answer:#}");
    assert_eq!(answer["rollback"], false, "a freeze stops a rollout, it does not undo it");
    assert_eq!(app.get("/api/v1/gate?service=search").await["proceed"], true, "search is not frozen");
    assert_eq!(app.get("/api/v1/gate?service=search&environment=staging").await["proceed"], true, "the nightly window is a day away");
});

on_both!(flagger_reads_the_gate_by_status, |app| {
    app.ingest(history()).await;
    let (status, answer) = flagger(&app, "confirm-rollout", &canary("7f3a")).await;
    assert_eq!(status, 200, "a quiet canary may go on: {answer:#}");
    assert_eq!(answer["rollout"], "shop/checkout@7f3a");
    assert_eq!(answer["asker"], "flagger:confirm-rollout");
    let (status, answer) = flagger(&app, "rollback", &canary("7f3a")).await;
    assert_eq!(status, 409, "nothing calls for a rollback, and Flagger reads 409 as no: {answer:#}");
    assert!(answer["detail"].as_str().is_some_and(|d| d.starts_with("no reason to roll back")), "{answer:#}");

    // The canary alerts after its first question: the rollout's own alert.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let response = app.client.post(app.url("/webhooks/alertmanager")).json(&alert("firing", &ago_secs(0), None)).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let (status, answer) = flagger(&app, "rollout", &canary("7f3a")).await;
    assert_eq!(status, 409, "{answer:#}");
    assert_eq!(answer["type"], "/problems/gate-halted");
    assert_eq!(answer["answer"]["since_from"], "rollout");
    let (status, answer) = flagger(&app, "rollback", &canary("7f3a")).await;
    assert_eq!(status, 200, "the canary's own alert calls for its rollback: {answer:#}");
    assert_eq!(answer["rollback"], true);

    let (status, answer) = flagger(&app, "event", &json!({"name": "checkout", "namespace": "shop", "phase": "Progressing", "metadata": {"eventMessage": "New revision detected!", "eventType": "Normal", "timestamp": "1733472000000"}})).await;
    assert_eq!((status, answer["ignored"].clone()), (200, json!(true)), "{answer:#}");
    let (status, answer) = flagger(&app, "promote-everything", &canary("7f3a")).await;
    assert_eq!(status, 404, "{answer:#}");
    let (status, answer) = app.post_webhook("/webhooks/flagger/confirm-rollout", &[], "{\"name\": 3}").await;
    assert_eq!(status, 400, "{answer:#}");
    assert!(answer["errors"][0]["detail"].as_str().is_some_and(|m| m.contains("Flagger")), "{answer:#}");

    let recorded = app.get("/api/v1/gates?service=checkout").await;
    assert_eq!(recorded["items"].as_array().map(Vec::len), Some(4), "four questions, the event told nothing: {recorded:#}");
    let page = app.client.get(app.url("/?service=checkout")).send().await.expect("request").text().await.expect("text");
    let table = page.split(r#"<table id="gate">"#).nth(1).and_then(|t| t.split("</table>").next()).expect("the page has the gate's table");
    assert_eq!(table.matches("<tr>").count(), 5, "a header and four answers: {table}");
    assert!(table.contains("flagger:rollback") && table.contains("shop/checkout@7f3a") && table.contains("<strong>halt</strong>"), "{table}");
    assert!(table.contains("fired since the rollout started"), "the reasons are shown: {table}");
});

/// A GitHub App's side of GitHub's REST API: installation tokens for a JWT the App's public key
/// verifies (checked with `openssl`), and reviews of deployment protection rules.
struct FakeGithubApp {
    url: String,
    dir: std::path::PathBuf,
    reviews: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
}

impl FakeGithubApp {
    async fn start() -> Self {
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;
        let dir = std::env::temp_dir().join(crate::helpers::unique("pacer-github-app"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = dir.join("app.pem");
        let made = std::process::Command::new("openssl").args(["genrsa", "-traditional", "-out"]).arg(&key).arg("2048").output().expect("openssl runs");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let public = std::process::Command::new("openssl").args(["rsa", "-pubout", "-in"]).arg(&key).arg("-out").arg(dir.join("app.pub")).output().expect("openssl runs");
        assert!(public.status.success());
        let reviews = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        type Shared = (std::path::PathBuf, std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>);
        async fn token(State((dir, _)): State<Shared>, headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
            let jwt = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_owned();
            if !verifies(&dir, &jwt) {
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "A JSON web token could not be decoded"})));
            }
            let expires = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
            (StatusCode::CREATED, axum::Json(json!({"token": "ghs_installation_token", "expires_at": expires, "permissions": {"deployments": "write"}})))
        }
        async fn review(State((_, reviews)): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> StatusCode {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            reviews.lock().expect("lock").push((auth, body));
            StatusCode::NO_CONTENT
        }
        let app = axum::Router::new()
            .route("/app/installations/{id}/access_tokens", post(token))
            .route("/repos/{owner}/{repo}/actions/runs/{run}/deployment_protection_rule", post(review))
            .with_state((dir.clone(), std::sync::Arc::clone(&reviews)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { url, dir, reviews }
    }

    fn key_file(&self) -> String {
        self.dir.join("app.pem").display().to_string()
    }

    fn reviews(&self) -> Vec<(String, Value)> {
        self.reviews.lock().expect("lock").clone()
    }
}

/// Whether `jwt` is an RS256 token of App 4242, signed by the key in `dir`.
fn verifies(dir: &std::path::Path, jwt: &str) -> bool {
    use base64::Engine as _;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else { return false };
    let header: Value = url.decode(header).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let claims: Value = url.decode(claims).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    if header["alg"] != "RS256" || (claims["iss"] != "4242" && claims["iss"] != 4242) {
        return false;
    }
    let (data, sig) = (dir.join(crate::helpers::unique("signed")), dir.join(crate::helpers::unique("signature")));
    std::fs::write(&data, format!("{}.{}", parts[0], parts[1])).expect("write");
    std::fs::write(&sig, url.decode(signature).unwrap_or_default()).expect("write");
    let checked = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("app.pub"))
        .arg("-signature")
        .arg(&sig)
        .arg(&data)
        .output()
        .expect("openssl runs");
    checked.status.success()
}

async fn a_github_deployment_protection_rule_is_approved_or_rejected_as_the_app(backend: crate::helpers::Backend) {
    let github = FakeGithubApp::start().await;
    let toml = format!(
        "[github]\nsecret = \"app-webhook-secret\"\n[[repositories]]\nrepository = \"Codertocat/Hello-World\"\nservice = \"checkout\"\n\
         [gate]\ngithub_app_id = 4242\ngithub_private_key_file = \"{}\"\ngithub_api_url = \"{}\"\n",
        github.key_file(),
        github.url
    );
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    let text = std::fs::read_to_string(format!("{}/github-protection/deployment_protection_rule.requested.json", crate::fixtures::FIXTURES)).expect("fixture");
    let mut rule: Value = serde_json::from_str(&text).expect("json");
    rule["environment"] = json!("prod");
    rule["deployment_callback_url"] = json!(format!("{}/repos/Codertocat/Hello-World/actions/runs/77/deployment_protection_rule", github.url));
    rule["installation"] = json!({"id": 9});
    let deliver = |rule: Value| {
        let app = &app;
        async move {
            let body = rule.to_string();
            let signature = format!("sha256={}", crate::webhooks::sign("app-webhook-secret", &body));
            app.post_webhook("/webhooks/github", &[("x-github-event", "deployment_protection_rule"), ("x-hub-signature-256", &signature)], body).await
        }
    };

    let (status, answer) = deliver(rule.clone()).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["reviewed"], "approved", "{answer:#}");
    assert_eq!(answer["gate"]["service"], "checkout", "the repository's service");
    assert_eq!(answer["gate"]["environment"], "production", "prod means production");
    let reviews = github.reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].0, "Bearer ghs_installation_token", "the review is made with the installation's token");
    assert_eq!(reviews[0].1["environment_name"], "prod", "GitHub's own name of the environment");
    assert_eq!(reviews[0].1["state"], "approved");

    app.ingest(json!([{"type": "incident", "id": "inc-1", "service": "checkout", "opened_at": ago_secs(600), "title": "checkout 5xx"}])).await;
    let (status, answer) = deliver(rule.clone()).await;
    assert_eq!((status, answer["reviewed"].clone()), (200, json!("rejected")), "{answer:#}");
    let reviews = github.reviews();
    assert_eq!(reviews[1].1["state"], "rejected");
    assert!(reviews[1].1["comment"].as_str().is_some_and(|c| c.contains("inc-1") && c.chars().count() <= 1024), "{:#}", reviews[1].1);
    assert_eq!(app.get("/api/v1/gates?service=checkout").await["items"][0]["asker"], "github");

    let (status, _) = app.post_webhook("/webhooks/github", &[("x-github-event", "deployment_protection_rule")], rule.to_string()).await;
    assert_eq!(status, 401, "an unsigned question is refused");
    let mut unroutable = rule.clone();
    unroutable["installation"] = Value::Null;
    let (status, answer) = deliver(unroutable).await;
    assert_eq!(status, 400, "{answer:#}");
    assert_eq!(answer["errors"][0]["pointer"], "/installation/id");
    assert_eq!(github.reviews().len(), 2, "nothing reviewed for refused deliveries");

    // The README's settings for the App are what pacer reads.
    let toml = readme_blocks("### GitHub deployment protection rules", "toml").remove(0).replace("/etc/pacer/github-app.pem", &github.key_file());
    let file = github.dir.join("readme.toml");
    std::fs::write(&file, toml).expect("write");
    let output = crate::cli::pacer().args(["check-config", "--config"]).arg(&file).output().expect("pacer runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("gate.github_app_id = 123456 (private key set) via https://api.github.com"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_deployment_protection_rule_is_approved_or_rejected_as_the_app_on_sqlite() {
    a_github_deployment_protection_rule_is_approved_or_rejected_as_the_app(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_deployment_protection_rule_is_approved_or_rejected_as_the_app_on_postgres() {
    a_github_deployment_protection_rule_is_approved_or_rejected_as_the_app(crate::helpers::Backend::Postgres).await;
}

/// A YAML document as JSON.
fn yaml_json(yaml: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match yaml {
        Yaml::Hash(map) => Value::Object(map.iter().map(|(k, v)| (k.as_str().map(str::to_owned).unwrap_or_else(|| format!("{k:?}")), yaml_json(v))).collect()),
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_json).collect()),
        Yaml::String(s) => json!(s),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => r.parse::<f64>().map_or(json!(r), |f| json!(f)),
        Yaml::Boolean(b) => json!(b),
        _ => Value::Null,
    }
}

/// The README's code blocks of `language` in the section titled `heading`, each as text.
fn readme_blocks(heading: &str, language: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme.split(&format!("\n{heading}\n")).nth(1).unwrap_or_else(|| panic!("README has no {heading}"));
    let section = section.split("\n## ").next().unwrap_or_default();
    let section = section.split("\n### ").next().unwrap_or_default();
    section.split(&format!("```{language}\n")).skip(1).filter_map(|block| block.split("\n```").next()).map(str::to_owned).collect()
}

on_both!(the_readmes_argo_rollouts_template_and_flagger_canary_work_as_written, |app| {
    app.ingest(history()).await;
    // Argo Rollouts: the web metric's URL, with the Rollout's arguments, reaches the gate, and
    // the jsonPath finds the boolean the conditions compare.
    let blocks = readme_blocks("### Argo Rollouts", "yaml");
    let docs = yaml_rust2::YamlLoader::load_from_str(&blocks[0]).expect("the README's YAML parses");
    let (template, rollout) = (yaml_json(&docs[0]), yaml_json(&docs[1]));
    assert_eq!((template["kind"].as_str(), rollout["kind"].as_str()), (Some("AnalysisTemplate"), Some("Rollout")));
    assert_eq!(rollout["spec"]["strategy"]["canary"]["analysis"]["templates"][0]["templateName"], template["metadata"]["name"]);
    let metric = &template["spec"]["metrics"][0];
    assert_eq!(metric["successCondition"], "result == true");
    let web = &metric["provider"]["web"];
    assert_eq!(web["jsonPath"], "{$.proceed}");
    let declared: Vec<&str> = template["spec"]["args"].as_array().into_iter().flatten().filter_map(|a| a["name"].as_str()).collect();
    let url = web["url"].as_str().expect("a url");
    for used in url.split("{{args.").skip(1).filter_map(|rest| rest.split("}}").next()) {
        assert!(declared.contains(&used), "the template uses args.{used} but declares only {declared:?}");
    }
    let path = url.split_once(":3000").map(|(_, p)| p).expect("the URL names pacer's port");
    let path = path.replace("{{args.service}}", "checkout").replace("{{args.rollout}}", "5d8f7c9b");
    let answer = app.get(&path).await;
    assert_eq!(answer["proceed"], true, "{answer:#}");
    assert_eq!(answer["rollout"], "5d8f7c9b");
    assert_eq!(answer["asker"], "argo-rollouts");

    // Flagger: every webhook of the Canary is one pacer answers, with the metadata it is given.
    let blocks = readme_blocks("### Flagger", "yaml");
    let canary = yaml_json(&yaml_rust2::YamlLoader::load_from_str(&blocks[0]).expect("the README's YAML parses")[0]);
    let hooks = canary["spec"]["analysis"]["webhooks"].as_array().cloned().unwrap_or_default();
    assert!(hooks.len() >= 4, "{canary:#}");
    for hook in hooks {
        let kind = hook["type"].as_str().expect("a type");
        let url = hook["url"].as_str().expect("a url");
        assert!(url.ends_with(&format!("/webhooks/flagger/{kind}")), "{url} is not pacer's {kind} hook");
        let payload = json!({"name": canary["metadata"]["name"], "namespace": canary["metadata"]["namespace"], "phase": "Progressing", "checksum": "6bd5f", "metadata": hook["metadata"]});
        let (status, answer) = flagger(&app, kind, &payload).await;
        let expected = if kind == "rollback" { 409 } else { 200 };
        assert_eq!(status, expected, "{kind}: {answer:#}");
    }

    // The configuration example is valid.
    let toml = readme_blocks("## Deploy gate", "toml").remove(0);
    let dir = std::env::temp_dir().join(crate::helpers::unique("pacer-gate-readme"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("gate.toml"), &toml).expect("write");
    let output = crate::cli::pacer().args(["check-config", "--config"]).arg(dir.join("gate.toml")).output().expect("pacer runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_dir_all(&dir);
});
