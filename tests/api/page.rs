//! The web page `GET /`: escaped, accessible HTML with the DORA keys, charts and tables; and a
//! real headless Chromium (Debian `chromium`) loading it over the demo history with no console
//! errors and the same numbers as `GET /api/v1/dora`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, fresh_database, unique};
use crate::{commit, deploy, deploy_with, on_both, window};

const HOSTILE: &str = "<script>alert(1)</script>";

async fn html(app: &crate::helpers::TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app.client.get(app.url(path)).send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("text"))
}

on_both!(the_page_escapes_names_that_look_like_markup_and_labels_every_control, |app| {
    app.ingest(json!([
        commit("a0", 0.0, &[]),
        deploy_with("h0", HOSTILE, "a0", 1.0, json!({"version": "\"><img src=x>", "team": "<b>team</b>"})),
        commit("a1", 2.0, &["a0"]),
        deploy("h1", HOSTILE, "a1", 3.0),
        {"type": "incident", "id": "INC-<i>", "service": HOSTILE, "opened_at": crate::t(3.5), "resolved_at": crate::t(4.0),
         "title": "</td><script>x()</script>", "url": "javascript:alert(1)"},
    ]))
    .await;
    let (status, headers, page) = html(&app, &format!("/?{}&service=%3Cscript%3Ealert(1)%3C%2Fscript%3E", window(0.0, 48.0))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"].to_str().expect("ascii").contains("default-src 'none'"));
    assert!(!page.contains("<script"), "raw markup from data reached the page");
    assert!(!page.contains("<img src=x"), "an attribute was broken out of");
    assert!(!page.contains("href=\"javascript:"), "a javascript: link was rendered");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the service name is shown, escaped");
    assert!(page.contains("&lt;b&gt;team&lt;/b&gt;"), "the team is offered, escaped");
    assert!(page.contains("INC-&lt;i&gt;"));

    // Accessibility basics: language, headings, a label for every control, alt text on every image.
    assert!(page.starts_with("<!doctype html>\n<html lang=\"en\">"));
    for heading in ["<h1>", ">DORA keys</h2>", ">Trends</h2>", ">Recent deployments</h2>", ">Incidents</h2>", ">Rollbacks</h2>", ">Rollback deployments</h2>", ">SLOs</h2>"] {
        assert!(page.contains(heading), "missing heading {heading}");
    }
    let controls: Vec<&str> = page.match_indices(" id=\"f-").map(|(i, _)| &page[i + 5..i + 5 + page[i + 5..].find('"').expect("id")]).collect();
    assert!(controls.len() >= 6, "{controls:?}");
    for id in controls {
        assert!(page.contains(&format!("<label for=\"{id}\">")), "control {id} has no label");
    }
    let images = page.matches("<img ").count();
    assert_eq!(images, 5, "five DORA charts");
    assert_eq!(page.matches("<img ").count(), page.matches(" alt=\"Line chart of ").count(), "every chart has alt text");

    // The charts on the page are served.
    let src = page.split("<img src=\"").nth(1).and_then(|s| s.split('"').next()).expect("an image");
    let response = app.client.get(app.url(&src.replace("&amp;", "&"))).send().await.expect("chart");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
});

on_both!(the_page_compares_with_the_previous_window_and_rejects_bad_filters, |app| {
    // Two deployments in the first week, four in the second: frequency doubles.
    let mut events = vec![commit("b0", 0.0, &[])];
    for (i, hours) in [10.0, 20.0, 180.0, 190.0, 200.0, 210.0].into_iter().enumerate() {
        events.push(deploy(&format!("w{i}"), "cart", "b0", hours));
    }
    app.ingest(Value::Array(events)).await;
    let (status, _, page) = html(&app, &format!("/?{}&team=&environment=", window(168.0, 336.0))).await;
    assert_eq!(status, 200, "empty form fields mean no filter: {page}");
    assert!(page.contains(r#"<data class="value" id="value-deployment_frequency" value="0.5714285714285714">"#), "{page}");
    assert!(page.contains("up 100 % from 0.29 / day in the previous 7 days (better)"), "{page}");

    for (query, parameter) in [("from=soon", "?from"), ("interval=year", "?interval"), ("colour=red", "?colour"), ("team=nobody", "?team")] {
        let response = app.client.get(app.url(&format!("/?{query}"))).send().await.expect("request");
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["errors"][0]["pointer"], parameter, "{problem}");
    }
});

/// The Chromium binary, or `None` (after printing why) when it is absent and skipping is allowed.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()))
    });
    if found.is_none() {
        assert!(std::env::var("PACER_REQUIRE_ALL").as_deref() != Ok("1"), "chromium is required (PACER_REQUIRE_ALL=1) but not on PATH");
        println!("skipped: chromium is not installed (apt-get install chromium)");
    }
    found
}

/// Runs headless Chromium on `url` and returns (the DOM it built, its console log lines).
fn dump_dom(chromium: &PathBuf, url: &str) -> (String, Vec<String>) {
    let dir = std::env::temp_dir().join(unique("pacer_chromium"));
    std::fs::create_dir_all(&dir).expect("profile dir");
    let (stdout, stderr) = (dir.join("dom.html"), dir.join("stderr.log"));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = std::fs::read_to_string(&stdout).unwrap_or_default();
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "chromium failed: {status}\n{log}");
    let console = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).map(str::to_owned).collect();
    (dom, console)
}

/// The `value` attribute of the element with `id`.
fn value_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let marker = format!("id=\"{id}\" value=\"");
    let start = dom.find(&marker)? + marker.len();
    dom[start..].split('"').next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_demo_page_with_the_dora_numbers_and_no_console_errors() {
    let Some(chromium) = chromium() else { return };
    let Some((url, _guard)) = fresh_database(Backend::Sqlite).await else { return };
    let overrides = pacer::config::Overrides { listen: Some("127.0.0.1:0".into()), database_url: Some(url) };
    let settings = pacer::config::Settings::load(None, &Default::default(), &overrides).expect("settings");
    let app = pacer::app::Application::build(&settings).await.expect("starts");
    let now = chrono::Utc::now().timestamp_millis();
    // Ninety days of the demo history keep the test quick; the page shows the last thirty.
    let spec = pacer_generator::Spec { days: 90, ..pacer_generator::Spec::demo(now) };
    pacer::demo::load(app.store(), &spec, &settings.api.normalizer).await.expect("demo history");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run(std::future::pending()));

    let to = chrono::DateTime::from_timestamp_millis(now).expect("now");
    let from = to - chrono::Duration::days(30);
    let rfc3339 = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).replace(':', "%3A");
    let window = format!("from={}&to={}", rfc3339(from), rfc3339(to));
    let dora: Value = reqwest::get(format!("{base}/api/v1/dora?{window}")).await.expect("dora").json().await.expect("json");

    let page_url = format!("{base}/?{window}");
    let (dom, console) = tokio::task::spawn_blocking(move || dump_dom(&chromium, &page_url)).await.expect("chromium");
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(dom.contains("<h1>pacer: DORA metrics</h1>"), "{dom}");
    for (id, pointer) in [
        ("deployment_frequency", "/deployment_frequency/per_day"),
        ("lead_time", "/lead_time/median_seconds"),
        ("change_failure_rate", "/change_failure_rate/rate"),
        ("failed_deployment_recovery_time", "/failed_deployment_recovery_time/median_seconds"),
        ("rework_rate", "/rework_rate/rate"),
    ] {
        let expected = dora.pointer(pointer).and_then(Value::as_f64).unwrap_or_else(|| panic!("{pointer} in {dora}"));
        let shown: f64 = value_of(&dom, &format!("value-{id}")).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no value-{id} in the DOM"));
        assert!((shown - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{id}: page {shown}, API {expected}");
    }
    let level = dora["level"].as_str().expect("overall level");
    assert!(dom.contains(&format!(r#"<span id="overall-level"><span class="level {level}">{level}</span>"#)), "overall level {level}");
    assert!(dom.matches("<tr>").count() > 20, "the tables have rows");

    // Every image the browser was asked to show is a chart pacer serves.
    let sources: Vec<String> = dom.split("<img src=\"").skip(1).filter_map(|s| s.split('"').next()).map(|s| s.replace("&amp;", "&")).collect();
    assert_eq!(sources.len(), 5, "{sources:?}");
    for src in sources {
        let response = reqwest::get(format!("{base}{src}")).await.expect("chart");
        assert_eq!(response.status(), 200, "{src}");
        assert_eq!(response.headers()["content-type"], "image/svg+xml", "{src}");
    }
}
