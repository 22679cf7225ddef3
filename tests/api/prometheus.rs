//! The seed scenario with the real parts: Prometheus scrapes an app whose 5xx count rises after
//! a deployment, its alert rule fires, Alertmanager posts to pacer, pacer fires one signed
//! rollback hook; when the errors stop the alert resolves, the incident closes, and the DORA
//! numbers show the failed deployment and its recovery.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, unique};
use crate::hooks::Receiver;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An external program the test runs, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn binary(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

fn start(program: &Path, args: &[String]) -> Daemon {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("start");
    Daemon(child)
}

/// An app exposing `http_requests_total`, with 5xx responses while `failing` is set.
async fn start_app(failing: Arc<AtomicBool>) -> u16 {
    let (ok, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ok_c, errors_c, failing_c) = (Arc::clone(&ok), Arc::clone(&errors), Arc::clone(&failing));
    tokio::spawn(async move {
        loop {
            ok_c.fetch_add(20, Ordering::SeqCst);
            if failing_c.load(Ordering::SeqCst) {
                errors_c.fetch_add(10, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let metrics = axum::routing::get(move || {
        let (ok, errors) = (ok.load(Ordering::SeqCst), errors.load(Ordering::SeqCst));
        async move {
            format!(
                "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n\
                 http_requests_total{{service=\"checkout\",code=\"200\"}} {ok}\n\
                 http_requests_total{{service=\"checkout\",code=\"500\"}} {errors}\n"
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/metrics", metrics)).await });
    port
}

async fn until<T>(timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = probe().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// The Prometheus and Alertmanager programs, or `None` (after saying why) when they are missing
/// and skipping is allowed.
fn real_parts() -> Option<(PathBuf, PathBuf)> {
    let (Some(prometheus), Some(alertmanager)) = (binary("prometheus"), binary("prometheus-alertmanager")) else {
        assert!(
            std::env::var("PACER_REQUIRE_ALL").as_deref() != Ok("1"),
            "prometheus and prometheus-alertmanager are required (PACER_REQUIRE_ALL=1); apt-get install prometheus prometheus-alertmanager"
        );
        println!("skipped: prometheus or prometheus-alertmanager is not installed");
        return None;
    };
    Some((prometheus, alertmanager))
}

/// A signed hook's report, after checking its signature.
fn verified(request: &crate::hooks::Received) -> Value {
    let timestamp: i64 = request.headers["webhook-timestamp"].parse().expect("timestamp");
    assert!(pacer_rollback::sign::verify(SECRET, &request.headers["webhook-id"], timestamp, &request.body, &request.headers["webhook-signature"]));
    request.json()
}

/// pacer's configuration: an `auto` rollback policy for checkout calling the hook at `hook_url`,
/// and the checkout SLO counted by the Prometheus at `prometheus_port` (`rollback` as given),
/// evaluated by pacer once at start and then not for an hour.
fn checkout_config(hook_url: &str, prometheus_port: u16, rollback: bool) -> String {
    format!(
        "slo_interval_secs = 3600\n\
         [[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\n[[rollback.hooks]]\nurl = \"{hook_url}\"\nsecret = \"{SECRET}\"\n\
         [[slo]]\nname = \"checkout-availability\"\nservice = \"checkout\"\nobjective = 99.0\nrollback = {rollback}\n\
         [slo.prometheus]\nurl = \"http://127.0.0.1:{prometheus_port}\"\n\
         total = 'sum(increase(http_requests_total{{service=\"checkout\"}}[$window]))'\n\
         errors = 'sum(increase(http_requests_total{{service=\"checkout\",code=~\"5..\"}}[$window]))'\n"
    )
}

/// pacer with `toml`, and checkout's 4.1.0 deployed two hours ago and 4.2.0 now.
async fn pacer_after_a_release(toml: &str) -> Option<TestApp> {
    let pacer = TestApp::spawn_with_config(Backend::Sqlite, toml, &[]).await?;
    let now = chrono::Utc::now();
    let at = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339();
    pacer
        .ingest(json!([
            {"type": "deployment", "id": "checkout-41", "service": "checkout", "version": "4.1.0", "commit_sha": "aaa111", "status": "success", "finished_at": at(120)},
            {"type": "deployment", "id": "checkout-42", "service": "checkout", "version": "4.2.0", "commit_sha": "bbb222", "status": "success", "finished_at": at(0)},
        ]))
        .await;
    Some(pacer)
}

/// Alertmanager posting every alert to pacer at `pacer_base`, and Prometheus scraping the app on
/// `app_port` every second and evaluating `rules` every second, both on the ports given and with
/// their files in `dir`.
fn start_prometheus_and_alertmanager(
    (prometheus, alertmanager): &(PathBuf, PathBuf),
    dir: &Path,
    pacer_base: &str,
    rules: &[u8],
    app_port: u16,
    (prometheus_port, alertmanager_port): (u16, u16),
) -> (Daemon, Daemon) {
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: pacer\n  group_by: [alertname, service]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: pacer\n    webhook_configs:\n      - url: {pacer_base}/webhooks/alertmanager\n        send_resolved: true\n"
        ),
    )
    .expect("write");
    std::fs::write(dir.join("rules.yml"), rules).expect("write");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager_port}']\n\
             scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{app_port}']\n",
            dir.join("rules.yml").display()
        ),
    )
    .expect("write");
    let alertmanager = start(
        alertmanager,
        &[
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("am").display()),
            format!("--web.listen-address=127.0.0.1:{alertmanager_port}"),
            "--cluster.listen-address=".into(),
        ],
    );
    let prometheus = start(
        prometheus,
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            "--rules.alert.resend-delay=1s".into(),
        ],
    );
    (prometheus, alertmanager)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_and_alertmanager_drive_one_rollback_and_the_recovery() {
    let Some(parts) = real_parts() else { return };
    let hook = Receiver::start().await;
    let ports = (free_port(), free_port());
    // The SLO reads the same counter through Prometheus' query API; evaluated on request only.
    let Some(pacer) = pacer_after_a_release(&checkout_config(&hook.url, ports.0, false)).await else { return };

    let failing = Arc::new(AtomicBool::new(false));
    let app_port = start_app(Arc::clone(&failing)).await;
    let dir = std::env::temp_dir().join(unique("pacer_prometheus"));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = "groups:\n  - name: checkout\n    rules:\n      - alert: CheckoutHigh5xx\n        \
                 expr: sum by (service) (rate(http_requests_total{code=~\"5..\"}[5s])) > 0\n        \
                 labels:\n          severity: page\n        annotations:\n          summary: 5xx responses after a release\n";
    let _daemons = start_prometheus_and_alertmanager(&parts, &dir, &pacer.base, rules.as_bytes(), app_port, ports);

    failing.store(true, Ordering::SeqCst);
    let requests = hook.wait_for(1, Duration::from_secs(90)).await;
    assert_eq!(requests.len(), 1, "the alert fired and pacer called the hook");
    let report = verified(&requests[0]);
    assert_eq!(report["deployment"]["version"], "4.2.0", "{report:#}");
    assert_eq!(report["target"]["version"], "4.1.0", "{report:#}");
    assert_eq!(report["trigger"]["alert"], "CheckoutHigh5xx");
    assert!(report["trigger"]["generator_url"].as_str().is_some_and(|u| u.contains(&ports.0.to_string())), "{report:#}");

    let slo = pacer.get("/api/v1/slos/checkout-availability").await;
    assert_eq!(slo["source"], "prometheus");
    let five = slo["windows"][0]["error_ratio"].as_f64().expect("the 5m window has traffic");
    assert!((0.1..0.5).contains(&five), "a third of the requests fail: {slo:#}");
    assert!(slo["windows"][0]["burn_rate"].as_f64().is_some_and(|b| b > 10.0), "{slo:#}");

    failing.store(false, Ordering::SeqCst);
    let client = &pacer.client;
    let resolved = until(Duration::from_secs(90), async || {
        let incidents: Value = client.get(pacer.url("/api/v1/incidents")).send().await.ok()?.json().await.ok()?;
        let first = incidents["items"].get(0)?.clone();
        first["resolved_at"].is_string().then_some(first)
    })
    .await
    .expect("the alert resolved and closed the incident");
    assert_eq!(resolved["deployment_id"], "checkout-42");

    let dora = pacer.dora("").await;
    assert_eq!(dora["change_failure_rate"]["failed_deployments"], 1, "{dora:#}");
    assert_eq!(dora["failed_deployment_recovery_time"]["recovered"], 1, "{dora:#}");
    assert!(dora["failed_deployment_recovery_time"]["median_seconds"].as_f64().is_some_and(|s| s > 0.0), "{dora:#}");
    assert_eq!(hook.requests().len(), 1, "exactly one rollback request");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rules `pacer slo rules` prints, run by a real Prometheus: the burn alert it fires reaches
/// pacer through a real Alertmanager, opens the SLO's incident and, the SLO having
/// `rollback = true`, rolls the deployment back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_running_the_generated_slo_rules_pages_through_alertmanager_and_rolls_back() {
    let Some(parts) = real_parts() else { return };
    let hook = Receiver::start().await;
    let ports = (free_port(), free_port());
    // Prometheus raises the SLO's burn alerts: pacer's evaluator reads the same burn every second
    // but raises none, so the only way to the rollback is Prometheus' alert, and one burn is one
    // incident.
    let toml = checkout_config(&hook.url, ports.0, true)
        .replace("slo_interval_secs = 3600", "slo_interval_secs = 1")
        .replace("rollback = true\n", "rollback = true\nburn_alerts = \"prometheus\"\n");
    assert!(toml.contains("burn_alerts"), "{toml}");
    let Some(pacer) = pacer_after_a_release(&toml).await else { return };
    let dir = std::env::temp_dir().join(unique("pacer_prometheus_slo"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("pacer.toml"), &toml).expect("write");
    let output = crate::cli::pacer().args(["slo", "rules", "--config"]).arg(dir.join("pacer.toml")).output().expect("run pacer slo rules");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A third of the requests fail from the start: a burn rate of 33 against a 1 % budget.
    let app_port = start_app(Arc::new(AtomicBool::new(true))).await;
    let _daemons = start_prometheus_and_alertmanager(&parts, &dir, &pacer.base, &output.stdout, app_port, ports);

    let requests = hook.wait_for(1, Duration::from_secs(90)).await;
    assert_eq!(requests.len(), 1, "the generated page alert fired and pacer called the hook");
    let report = verified(&requests[0]);
    assert_eq!(report["trigger"]["alert"], "SLOBurnRate", "{report:#}");
    assert_eq!(report["trigger"]["labels"]["slo"], "checkout-availability", "{report:#}");
    assert_eq!(report["trigger"]["labels"]["severity"], "page", "{report:#}");
    assert!(report["trigger"]["generator_url"].as_str().is_some_and(|u| u.contains(&ports.0.to_string())), "{report:#}");
    assert_eq!(report["deployment"]["version"], "4.2.0", "{report:#}");
    assert_eq!(report["target"]["version"], "4.1.0", "{report:#}");
    let client = &pacer.client;
    let incident = until(Duration::from_secs(30), async || {
        let incidents: Value = client.get(pacer.url("/api/v1/incidents")).send().await.ok()?.json().await.ok()?;
        incidents["items"].as_array()?.iter().find(|i| i["title"].as_str().is_some_and(|t| t.contains("error budget of checkout-availability burning fast"))).cloned()
    })
    .await
    .expect("the page alert opened the SLO's incident");
    assert_eq!(incident["service"], "checkout", "{incident:#}");
    assert_eq!(incident["deployment_id"], "checkout-42", "{incident:#}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let incidents = pacer.get("/api/v1/incidents").await;
    let burns = incidents["items"].as_array().map_or(0, |items| items.iter().filter(|i| i["title"].as_str().is_some_and(|t| t.contains("burning fast"))).count());
    assert_eq!(burns, 1, "pacer's evaluator saw the burn for seconds and raised no incident of its own: {incidents:#}");
    let rollbacks = pacer.get("/api/v1/rollbacks").await;
    assert_eq!(rollbacks["items"].as_array().map(Vec::len), Some(1), "{rollbacks:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Time-slice SLOs counted through a real Prometheus' query API: each window's slices are a
/// subquery at the slice width over the configured queries, and every slice of an app failing a
/// third of its requests misses a 95 % slice target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_counts_the_slices_of_time_slice_slos() {
    let Some(parts) = real_parts() else { return };
    let ports = (free_port(), free_port());
    let source = |name: &str, budgeting: &str| {
        format!(
            "[[slo]]\nname = \"{name}\"\nservice = \"checkout\"\nobjective = 99.0\n{budgeting}time_slice_secs = 5\n\
             [slo.prometheus]\nurl = \"http://127.0.0.1:{}\"\n\
             total = 'sum(increase(http_requests_total{{service=\"checkout\"}}[$window]))'\n\
             errors = 'sum(increase(http_requests_total{{service=\"checkout\",code=~\"5..\"}}[$window]))'\n",
            ports.0
        )
    };
    let toml = format!(
        "slo_interval_secs = 3600\n{}{}",
        source("slices", "budgeting = \"timeslices\"\ntime_slice_target = 0.95\n"),
        source("ratios", "budgeting = \"ratio_timeslices\"\n")
    );
    let Some(pacer) = TestApp::spawn_with_config(Backend::Sqlite, &toml, &[]).await else { return };
    let app_port = start_app(Arc::new(AtomicBool::new(true))).await;
    let dir = std::env::temp_dir().join(unique("pacer_prometheus_slices"));
    std::fs::create_dir_all(&dir).expect("dir");
    let _daemons = start_prometheus_and_alertmanager(&parts, &dir, &pacer.base, b"groups: []\n", app_port, ports);

    let client = &pacer.client;
    let slices = until(Duration::from_secs(90), async || {
        let slo: Value = client.get(pacer.url("/api/v1/slos/slices")).send().await.ok()?.json().await.ok()?;
        (slo["windows"][0]["slices"]["counted"].as_f64()? >= 3.0).then_some(slo)
    })
    .await
    .expect("the 5m window counted three slices of five seconds");
    let five = &slices["windows"][0];
    assert_eq!(five["slices"]["bad"], five["slices"]["counted"], "every slice misses the target: {slices:#}");
    assert_eq!(five["error_ratio"].as_f64(), Some(1.0), "{slices:#}");
    assert_eq!(slices["error_ratio"].as_f64(), Some(1.0), "the SLO window too: {slices:#}");
    assert!(five["total"].as_f64().is_some_and(|t| t > 0.0), "the events are counted beside: {slices:#}");
    assert_eq!(slices["status"], "page", "{slices:#}");

    let ratios = pacer.get("/api/v1/slos/ratios").await;
    let five = ratios["windows"][0]["error_ratio"].as_f64().expect("the 5m window has slices");
    assert!((0.2..0.5).contains(&five), "the mean of slices failing a third each: {ratios:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
