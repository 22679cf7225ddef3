//! `pacer import github` against a local server that answers in GitHub's REST shapes (the
//! objects of the shared webhook fixtures, listed as the REST API lists them): pages joined by
//! `Link` headers, a used-up rate limit, a transient 502, and a server that breaks for good in the
//! middle of an import. The facts must be those of an uninterrupted import, and the same whether
//! or not webhooks delivered some of the objects first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pacer::import::{Event, ImportError, Options, Progress, import_github};
use pacer_collector::Normalizer;
use pacer_collector::sources::SourceConfig;
use serde_json::{Value, json};

use crate::fixtures::FIXTURES;
use crate::helpers::{Backend, TestApp};
use crate::{on_both, t, window};

const REPO: &str = "acme/shop";
const TOKEN: &str = "ghp_test_token";
/// Objects per page: small, so every listing has several pages.
const PAGE: usize = 2;

const M0: &str = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
const M1: &str = "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a";
const M2: &str = "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a";
const M3: &str = "3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a";
const B1: &str = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
const B2: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const B3: &str = "b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3";

fn fixture(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/github/{file}")).expect("fixture");
    serde_json::from_str(&text).expect("json")
}

/// `object` with the fields at the given JSON pointers replaced.
fn patched(mut object: Value, fields: &[(&str, Value)]) -> Value {
    for (pointer, value) in fields {
        *object.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = value.clone();
    }
    object
}

fn repository() -> Value {
    patched(fixture("pull_request.opened.json")["repository"].clone(), &[("/full_name", json!(REPO)), ("/name", json!("shop")), ("/default_branch", json!("main"))])
}

/// A commit as `GET /repos/{repo}/commits` lists it.
fn rest_commit(sha: &str, hours: f64, parents: &[&str]) -> Value {
    let person = |login: &str| json!({"login": login, "id": 1, "type": "User", "site_admin": false});
    json!({
        "sha": sha,
        "node_id": "C_kwDO",
        "commit": {
            "author": {"name": "Mona Lisa", "email": "mona@example.com", "date": t(hours - 0.25)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": t(hours)},
            "message": format!("change at {hours} h"),
            "tree": {"sha": "f".repeat(40), "url": "https://api.github.com/repos/acme/shop/git/trees/x"},
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null}
        },
        "url": format!("https://api.github.com/repos/{REPO}/commits/{sha}"),
        "html_url": format!("https://github.com/{REPO}/commit/{sha}"),
        "author": person("mona"),
        "committer": person("web-flow"),
        "parents": parents.iter().map(|p| json!({"sha": p, "url": format!("https://api.github.com/repos/{REPO}/commits/{p}")})).collect::<Vec<_>>()
    })
}

/// A pull request as `GET /repos/{repo}/pulls/{n}` gives it (and webhooks carry it).
fn pull(number: i64, opened: f64, updated: f64, merged: Option<(f64, &str)>, open: bool, head: &str) -> Value {
    let closed = if open { Value::Null } else { json!(t(merged.map_or(updated, |(at, _)| at))) };
    patched(
        fixture("pull_request.opened.json")["pull_request"].clone(),
        &[
            ("/number", json!(number)),
            ("/url", json!(format!("https://api.github.com/repos/{REPO}/pulls/{number}"))),
            ("/state", json!(if open { "open" } else { "closed" })),
            ("/created_at", json!(t(opened))),
            ("/updated_at", json!(t(updated))),
            ("/closed_at", closed),
            ("/merged_at", merged.map_or(Value::Null, |(at, _)| json!(t(at)))),
            ("/merge_commit_sha", json!(merged.map_or("9".repeat(40), |(_, sha)| sha.to_owned()))),
            ("/merged", json!(merged.is_some())),
            ("/user/login", json!("mona")),
            ("/head/sha", json!(head)),
            ("/base/sha", json!(M0)),
            ("/additions", json!(10 * number)),
            ("/deletions", json!(number)),
        ],
    )
}

fn review(id: i64, state: &str, hours: f64, by: &str) -> Value {
    patched(
        fixture("pull_request_review.submitted.json")["review"].clone(),
        &[("/id", json!(id)), ("/state", json!(state)), ("/submitted_at", json!(t(hours))), ("/user/login", json!(by))],
    )
}

fn deployment(id: i64, sha: &str, created: f64) -> Value {
    patched(
        fixture("deployment.created.json")["deployment"].clone(),
        &[("/id", json!(id)), ("/sha", json!(sha)), ("/ref", json!("main")), ("/created_at", json!(t(created))), ("/updated_at", json!(t(created)))],
    )
}

fn status(id: i64, state: &str, hours: f64) -> Value {
    patched(
        fixture("deployment_status.created.success.json")["deployment_status"].clone(),
        &[("/id", json!(id)), ("/state", json!(state)), ("/created_at", json!(t(hours))), ("/updated_at", json!(t(hours)))],
    )
}

fn release(id: i64, created: f64, target: &str, draft: bool) -> Value {
    patched(
        fixture("release.published.json")["release"].clone(),
        &[
            ("/id", json!(id)),
            ("/tag_name", json!(format!("v{id}"))),
            ("/target_commitish", json!(target)),
            ("/draft", json!(draft)),
            ("/created_at", json!(t(created))),
            ("/published_at", if draft { Value::Null } else { json!(t(created + 0.05)) }),
        ],
    )
}

fn run(id: i64, attempt: i64, conclusion: Option<&str>, created: f64, event: &str, sha: &str) -> Value {
    patched(
        fixture("workflow_run.completed.success.json")["workflow_run"].clone(),
        &[
            ("/id", json!(id)),
            ("/name", json!("CI")),
            ("/run_attempt", json!(attempt)),
            ("/status", json!(if conclusion.is_some() { "completed" } else { "in_progress" })),
            ("/conclusion", conclusion.map_or(Value::Null, |c| json!(c))),
            ("/created_at", json!(t(created))),
            ("/run_started_at", json!(t(created + 0.05))),
            ("/updated_at", json!(t(created + 0.2 + attempt as f64 * 0.1))),
            ("/event", json!(event)),
            ("/head_branch", json!(if event == "push" { "main" } else { "feature" })),
            ("/head_sha", json!(sha)),
        ],
    )
}

/// The repository's history, keyed by API path: listings (newest first, as GitHub lists them)
/// and single objects. Everything is from 2026-01-05 on, except one object per listing from
/// before `--since`, where a pass must stop.
fn history() -> (HashMap<String, Vec<Value>>, HashMap<String, Value>) {
    let r = |path: &str| format!("/repos/{REPO}{path}");
    let pr7 = pull(7, 3.0, 9.5, Some((9.5, M3)), false, B2);
    let pr8 = pull(8, 11.0, 12.0, None, true, B3);
    let pr6 = pull(6, 4.0, 4.5, None, false, B1);
    let pr5 = pull(5, -60.0, -48.0, None, false, B1);
    let lists = HashMap::from([
        (r("/commits"), vec![rest_commit(M3, 10.0, &[M2]), rest_commit(M2, 5.0, &[M1]), rest_commit(M1, 1.0, &[M0]), rest_commit(M0, 0.5, &[])]),
        (r("/pulls"), vec![pr8.clone(), pr7.clone(), pr6.clone(), pr5]),
        (r("/pulls/8/commits"), vec![rest_commit(B3, 10.5, &[M3])]),
        (r("/pulls/8/reviews"), vec![review(82, "COMMENTED", 12.0, "hubot")]),
        (r("/pulls/7/commits"), vec![rest_commit(B1, 2.0, &[M1]), rest_commit(B2, 2.5, &[B1])]),
        (r("/pulls/7/reviews"), vec![review(71, "COMMENTED", 7.0, "mona"), review(72, "CHANGES_REQUESTED", 7.5, "hubot"), review(73, "APPROVED", 8.0, "hubot")]),
        (r("/pulls/6/commits"), vec![rest_commit(B1, 2.0, &[M1])]),
        (r("/pulls/6/reviews"), vec![]),
        (r("/deployments"), vec![deployment(303, M3, 10.2), deployment(302, M2, 5.2), deployment(301, M1, 1.2), deployment(300, M0, -30.0)]),
        (r("/deployments/303/statuses"), vec![status(3032, "success", 10.5), status(3031, "in_progress", 10.3)]),
        (r("/deployments/302/statuses"), vec![status(3022, "success", 5.6), status(3021, "pending", 5.3)]),
        (r("/deployments/301/statuses"), vec![status(3011, "success", 1.5)]),
        (r("/deployments/300/statuses"), vec![status(3001, "success", -29.0)]),
        (r("/releases"), vec![release(903, 10.8, M3, true), release(902, 10.55, M3, false), release(901, 1.55, "main", false), release(900, -50.0, M0, false)]),
        (r("/actions/runs"), vec![run(503, 1, None, 11.5, "pull_request", B3), run(502, 2, Some("success"), 9.6, "push", M3), run(501, 1, Some("success"), 3.1, "pull_request", B2), run(500, 1, Some("success"), -40.0, "push", M0)]),
    ]);
    let objects = HashMap::from([
        (r(""), repository()),
        (r("/pulls/8"), pr8),
        (r("/pulls/7"), pr7),
        (r("/pulls/6"), pr6),
        (r("/actions/runs/502/attempts/1"), run(502, 1, Some("failure"), 9.6, "push", M3)),
    ]);
    (lists, objects)
}

/// What the fake GitHub does besides answering.
#[derive(Default)]
struct Script {
    /// Paths answered once with a used-up rate limit (403, remaining 0, reset 2 s ahead).
    rate_limited: HashSet<String>,
    /// Paths answered once with a 502.
    bad_gateway: HashSet<String>,
    /// From the first request for this path on, every request fails with a 500.
    breaks_at: Option<String>,
    broken: bool,
    /// Every request, as path and query.
    requests: Vec<String>,
}

struct FakeGithub {
    lists: HashMap<String, Vec<Value>>,
    objects: HashMap<String, Value>,
    script: Mutex<Script>,
    origin: OnceLock<String>,
}

impl FakeGithub {
    async fn start(script: Script) -> Arc<Self> {
        let (lists, objects) = history();
        let fake = Arc::new(Self { lists, objects, script: Mutex::new(script), origin: OnceLock::new() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let _ = fake.origin.set(format!("http://{}", listener.local_addr().expect("addr")));
        let app = Router::new().fallback(answer).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn url(&self) -> String {
        self.origin.get().cloned().unwrap_or_default()
    }

    fn requests(&self) -> Vec<String> {
        self.script.lock().expect("lock").requests.clone()
    }

    fn repair(&self) {
        let mut script = self.script.lock().expect("lock");
        script.broken = false;
        script.breaks_at = None;
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message, "documentation_url": "https://docs.github.com/rest"}))).into_response()
}

async fn answer(State(fake): State<Arc<FakeGithub>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    {
        let mut script = fake.script.lock().expect("lock");
        script.requests.push(uri.path_and_query().map(ToString::to_string).unwrap_or_default());
        if script.breaks_at.as_deref() == Some(path.as_str()) {
            script.broken = true;
        }
        if script.broken {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
        }
        if script.bad_gateway.remove(&path) {
            return error(StatusCode::BAD_GATEWAY, "Bad Gateway");
        }
        if script.rate_limited.remove(&path) {
            let reset = chrono::Utc::now().timestamp() + 2;
            let mut response = error(StatusCode::FORBIDDEN, "API rate limit exceeded for user ID 1.");
            for (name, value) in [("x-ratelimit-limit", "5000".to_owned()), ("x-ratelimit-remaining", "0".to_owned()), ("x-ratelimit-reset", reset.to_string())] {
                response.headers_mut().insert(name, value.parse().expect("header"));
            }
            return response;
        }
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if let Some(object) = fake.objects.get(&path) {
        return axum::Json(object.clone()).into_response();
    }
    let Some(list) = fake.lists.get(&path) else { return error(StatusCode::NOT_FOUND, "Not Found") };
    let query = uri.query().unwrap_or("");
    let page: usize = query.split('&').find_map(|kv| kv.strip_prefix("page=")).and_then(|n| n.parse().ok()).unwrap_or(1);
    let last = list.len().div_ceil(PAGE).max(1);
    let items: Vec<Value> = list.iter().skip((page - 1) * PAGE).take(PAGE).cloned().collect();
    let others: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("page=")).collect();
    let link = |n: usize| format!("<{}{path}?{}page={n}>", fake.url(), others.iter().map(|kv| format!("{kv}&")).collect::<String>());
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link(page + 1)));
        links.push(format!("{}; rel=\"last\"", link(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link(page - 1)));
        links.push(format!("{}; rel=\"first\"", link(1)));
    }
    let body = if path.ends_with("/actions/runs") { json!({"total_count": list.len(), "workflow_runs": items}) } else { Value::Array(items) };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert("x-ratelimit-remaining", "4999".parse().expect("header"));
    if !links.is_empty() {
        response.headers_mut().insert("link", links.join(", ").parse().expect("header"));
    }
    response
}

/// What an import said and did.
struct Imported {
    progress: Progress,
    result: Result<(), ImportError>,
    notices: Vec<String>,
}

async fn import(app: &TestApp, fake: &FakeGithub) -> Imported {
    import_with(app, fake, &SourceConfig::default()).await
}

async fn import_with(app: &TestApp, fake: &FakeGithub, sources: &SourceConfig) -> Imported {
    let store = pacer::app::open_store(&app.database_url).await.expect("store");
    let options = Options {
        repo: REPO.to_owned(),
        since: chrono::DateTime::parse_from_rfc3339(&t(-24.0)).expect("time").timestamp_millis(),
        api_url: fake.url(),
        token: Some(TOKEN.to_owned()),
        retries: 2,
        backoff: Duration::from_millis(20),
    };
    let mut notices = Vec::new();
    let normalizer = Normalizer::default();
    let mut report = |event: Event<'_>| {
        if let Event::Notice(text) = event {
            notices.push(text);
        }
    };
    let (progress, result) = import_github(&store, &normalizer, sources, &options, &mut report, std::future::pending()).await;
    Imported { progress, result, notices }
}

/// Every listing a user sees, and the DORA numbers and PR stages of the imported days.
async fn everything(app: &TestApp) -> Value {
    let period = window(-72.0, 48.0);
    json!({
        "commits": app.get(&format!("/api/v1/commits?repository={REPO}&limit=500")).await,
        "pull_requests": app.get(&format!("/api/v1/pull-requests?repository={REPO}&limit=500")).await,
        "ci_runs": app.get(&format!("/api/v1/ci-runs?repository={REPO}&limit=500")).await,
        "deployments": app.get(&format!("/api/v1/deployments?{period}&limit=500")).await,
        "dora": app.dora(&period).await,
        "stages": app.get(&format!("/api/v1/lead-time/stages?{period}")).await,
    })
}

/// A time as the API renders it (whole seconds without a fraction).
fn at(hours: f64) -> Value {
    let parsed = chrono::DateTime::parse_from_rfc3339(&t(hours)).expect("time").timestamp_millis();
    json!(pacer_engine::calendar::rfc3339(parsed))
}

fn backend(app: &TestApp) -> Backend {
    if app.database_url.starts_with("sqlite") { Backend::Sqlite } else { Backend::Postgres }
}

/// The facts the history must give, checked field by field on one database.
fn assert_expected(all: &Value) {
    let ids = |list: &str, field: &str| -> Vec<String> {
        all[list]["items"].as_array().expect("items").iter().map(|i| i[field].as_str().unwrap_or_default().to_owned()).collect()
    };
    let mut commits = ids("commits", "sha");
    commits.sort();
    assert_eq!(commits, [M0, M1, M2, M3, B1, B2, B3], "default-branch and pull request commits, each once");
    let m3 = all["commits"]["items"].as_array().and_then(|c| c.iter().find(|c| c["sha"] == M3)).expect("M3");
    assert_eq!((&m3["parents"], &m3["committed_at"], &m3["service"]), (&json!([M2]), &at(10.0), &json!("shop")), "{m3:#}");
    let mut pulls = ids("pull_requests", "id");
    pulls.sort();
    assert_eq!(pulls, ["github:acme/shop/pull/6", "github:acme/shop/pull/7", "github:acme/shop/pull/8"], "the pull request from before --since is left out");
    let pr7 = all["pull_requests"]["items"].as_array().and_then(|p| p.iter().find(|p| p["number"] == 7)).expect("PR 7");
    let expected = [("first_commit_at", at(2.0)), ("opened_at", at(3.0)), ("first_review_at", at(7.5)), ("approved_at", at(8.0)),
        ("merged_at", at(9.5)), ("merge_commit_sha", json!(M3)), ("additions", json!(70)), ("deletions", json!(7))];
    for (field, value) in expected {
        assert_eq!(pr7[field], value, "PR 7 {field} (the author's own comment is no review): {pr7:#}");
    }
    let mut runs = ids("ci_runs", "id");
    runs.sort();
    assert_eq!(
        runs,
        ["github:acme/shop/actions/runs/501/attempts/1", "github:acme/shop/actions/runs/502/attempts/1", "github:acme/shop/actions/runs/502/attempts/2"],
        "both attempts of a re-run, no run still in progress, none from before --since"
    );
    let mut deployments = ids("deployments", "id");
    deployments.sort();
    assert_eq!(deployments, ["github:acme/shop/deployments/301", "github:acme/shop/deployments/302", "github:acme/shop/deployments/303"]);
    for d in all["deployments"]["items"].as_array().expect("deployments") {
        assert_eq!(d["status"], "success", "the latest status wins: {d:#}");
    }
    let dora = &all["dora"];
    assert_eq!(dora["deployment_frequency"]["deployments"], 3, "{dora:#}");
    // D302 ships M2 (5 h − 5.6 h) and D303 ships M3, whose PR's first commit was at 2 h.
    assert_eq!(dora["lead_time"]["samples"], 2, "{dora:#}");
    assert!(crate::helpers::close(&dora["lead_time"]["p90_seconds"], 0.9 * 8.5 * 3_600.0 + 0.1 * 0.6 * 3_600.0), "{dora:#}");
}

on_both!(an_interrupted_import_resumes_and_ends_with_the_facts_of_an_uninterrupted_one, |app| {
    // The uninterrupted import, through a used-up rate limit and a 502.
    let script = Script {
        rate_limited: HashSet::from([format!("/repos/{REPO}/deployments")]),
        bad_gateway: HashSet::from([format!("/repos/{REPO}/pulls/7/reviews")]),
        ..Script::default()
    };
    let fake = FakeGithub::start(script).await;
    let whole = import(&app, &fake).await;
    assert!(whole.result.is_ok(), "{:?} {:?}", whole.result, whole.notices);
    assert_eq!((whole.progress.rate_limit_waits, whole.progress.retries), (1, 1), "{:?}", whole.notices);
    assert!(whole.notices.iter().any(|n| n.contains("rate limit is used up: waiting until")), "says it waits, and until when: {:?}", whole.notices);
    assert!(whole.notices.iter().any(|n| n.contains("502") && n.contains("retrying")), "says it retries: {:?}", whole.notices);
    assert!(fake.requests().iter().any(|r| r.contains("/pulls?") && r.contains("page=2")), "follows the Link header");
    let expected = everything(&app).await;
    assert_expected(&expected);

    // The same import into a fresh database, broken for good in the middle of the pull requests.
    let Some(other) = TestApp::spawn(backend(&app)).await else { return };
    let fake = FakeGithub::start(Script { breaks_at: Some(format!("/repos/{REPO}/pulls/6")), ..Script::default() }).await;
    let broken = import(&other, &fake).await;
    assert!(matches!(broken.result, Err(ImportError::GaveUp { .. })), "{:?}", broken.result);
    let partial = everything(&other).await;
    assert_ne!(partial["pull_requests"], expected["pull_requests"], "the import stopped before the last pull request");
    assert_eq!(partial["commits"], expected["commits"], "what was imported before the break stays");
    fake.repair();
    let before = fake.requests().len();
    let resumed = import(&other, &fake).await;
    assert!(resumed.result.is_ok(), "{:?} {:?}", resumed.result, resumed.notices);
    assert!(resumed.notices.iter().any(|n| n == "pull requests: resuming where an earlier import stopped"), "{:?}", resumed.notices);
    let again = &fake.requests()[before..];
    assert!(!again.iter().any(|r| r.starts_with(&format!("/repos/{REPO}/pulls/8"))), "pages stored before the break are not read again: {again:?}");
    assert_eq!(everything(&other).await, expected, "the resumed import ends with exactly the facts of the uninterrupted one");

    // Importing again changes nothing.
    let third = import(&other, &fake).await;
    assert!(third.result.is_ok(), "{:?}", third.result);
    assert!(third.progress.resources.values().all(|c| c.facts_changed == 0), "{:?}", third.progress.resources);
    assert_eq!(everything(&other).await, expected);
});

/// A webhook delivery to pacer that must be stored.
async fn deliver(app: &TestApp, event: &str, id: &str, payload: Value) {
    let headers = [("x-github-event", event), ("x-github-delivery", id)];
    let (status, body) = app.post_webhook("/webhooks/github", &headers, payload.to_string()).await;
    assert_eq!(status, 200, "{event}: {body:#}");
    assert_eq!(body["ignored"], false, "{event}: {body:#}");
}

on_both!(an_import_overlapping_webhooks_stores_each_fact_once_with_the_same_values, |app| {
    let fake = FakeGithub::start(Script::default()).await;
    let alone = import(&app, &fake).await;
    assert!(alone.result.is_ok(), "{:?}", alone.result);
    let expected = everything(&app).await;
    assert_expected(&expected);

    // Webhooks delivered part of the same period first.
    let Some(hooked) = TestApp::spawn(backend(&app)).await else { return };
    let (lists, objects) = history();
    let repo = repository();
    let push = patched(
        fixture("push.new-branch.json"),
        &[
            ("/ref", json!("refs/heads/main")),
            ("/created", json!(false)),
            ("/before", json!(M0)),
            ("/after", json!(M2)),
            ("/repository/full_name", json!(REPO)),
            ("/commits", json!([{"id": M1, "timestamp": t(1.0), "message": "change at 1 h", "author": {"name": "Mona Lisa", "username": "mona"}},
                                 {"id": M2, "timestamp": t(5.0), "message": "change at 5 h", "author": {"name": "Mona Lisa", "username": "mona"}}])),
        ],
    );
    deliver(&hooked, "push", "d-push", push).await;
    let pr7 = objects[&format!("/repos/{REPO}{}", "/pulls/7")].clone();
    deliver(&hooked, "pull_request", "d-pr", json!({"action": "closed", "number": 7, "pull_request": pr7, "repository": repo})).await;
    let approval = lists[&format!("/repos/{REPO}/pulls/7/reviews")][2].clone();
    deliver(&hooked, "pull_request_review", "d-review", json!({"action": "submitted", "review": approval, "pull_request": pr7, "repository": repo})).await;
    let d301 = lists[&format!("/repos/{REPO}/deployments")][2].clone();
    deliver(&hooked, "deployment", "d-dep", json!({"action": "created", "deployment": d301, "repository": repo})).await;
    let success = lists[&format!("/repos/{REPO}/deployments/301/statuses")][0].clone();
    deliver(&hooked, "deployment_status", "d-status", json!({"action": "created", "deployment": d301, "deployment_status": success, "repository": repo})).await;
    let r501 = lists[&format!("/repos/{REPO}/actions/runs")][2].clone();
    deliver(&hooked, "workflow_run", "d-run", json!({"action": "completed", "workflow_run": r501, "repository": repo})).await;
    let before = hooked.dora(&window(-72.0, 48.0)).await;
    assert_eq!(before["deployment_frequency"]["deployments"], 1, "the webhooks alone: {before:#}");

    let overlapping = import(&hooked, &fake).await;
    assert!(overlapping.result.is_ok(), "{:?}", overlapping.result);
    let deployments = &overlapping.progress.resources[&pacer::import::Resource::Deployments];
    assert!(deployments.facts_unchanged >= 1, "the webhooks' deployment is already stored: {deployments:?}");
    assert_eq!(everything(&hooked).await, expected, "each fact once, with the values of the import alone, and the same DORA numbers");

    // The imported objects are kept as they were read: the facts rebuild from them.
    let store = pacer::app::open_store(&hooked.database_url).await.expect("store");
    pacer::recompute::recompute_with(&store, &Normalizer::default(), &SourceConfig::default(), |_| {}).await.expect("recompute");
    assert_eq!(everything(&hooked).await, expected, "pacer recompute rebuilds the same facts");
});

on_both!(the_cli_imports_a_repository_and_says_what_went_wrong, |app| {
    let fake = FakeGithub::start(Script::default()).await;
    let pacer = |args: &[&str], token: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pacer"));
        command.args(["import", "github", "--database", &app.database_url, "--api-url", &fake.url(), "--since", &t(-24.0)]).args(args);
        command.env("PACER_GITHUB_TOKEN", token).env_remove("PACER_CONFIG").env_remove("PACER_DATABASE_URL").env_remove("PACER_GITHUB_API_URL");
        let output = command.output().expect("pacer runs");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stdout, stderr) = pacer(&["--repo", REPO], TOKEN);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("importing acme/shop: commits 4"), "progress per resource on stderr: {stderr}");
    assert!(stderr.contains("pull requests 3"), "{stderr}");
    assert!(stdout.starts_with("imported acme/shop in "), "{stdout}");
    assert!(stdout.contains("deployments") && stdout.contains("3 read"), "a summary per resource: {stdout}");
    assert_expected(&everything(&app).await);

    let cases: [(&[&str], &str, &str); 3] = [
        (&["--repo", "acme"], TOKEN, "expected --repo owner/name"),
        (&["--repo", REPO], "ghp_revoked", "GitHub answered 401 Bad credentials"),
        (&["--repo", "acme/nothing"], TOKEN, "GitHub answered 404 Not Found for /repos/acme/nothing"),
    ];
    for (args, token, says) in cases {
        let (code, stdout, stderr) = pacer(args, token);
        assert_eq!(code, Some(1), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(says), "{args:?} says {says:?}: {stderr}");
        assert!(!stderr.contains("ghp_"), "the token is never printed: {stderr}");
    }
});

on_both!(releases_are_imported_as_deployments_when_they_are_the_deploy_source, |app| {
    let fake = FakeGithub::start(Script::default()).await;
    let mut sources = SourceConfig::default();
    sources.github.deploy_source = pacer_collector::sources::DeploySource::Releases;
    let imported = import_with(&app, &fake, &sources).await;
    assert!(imported.result.is_ok(), "{:?}", imported.result);
    let deployments = app.get(&format!("/api/v1/deployments?{}&limit=500", window(-72.0, 48.0))).await;
    let mut found: Vec<(String, Value, Value)> = deployments["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| (d["id"].as_str().unwrap_or_default().to_owned(), d["finished_at"].clone(), d["commit_sha"].clone()))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found,
        [("github:acme/shop/releases/901".to_owned(), at(1.6), Value::Null), ("github:acme/shop/releases/902".to_owned(), at(10.6), json!(M3))],
        "published releases since --since, not the draft; a branch target names no commit"
    );
    assert!(!fake.requests().iter().any(|r| r.contains("/deployments")), "deployments are not read when they are not the deploy source");
});
