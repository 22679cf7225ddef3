//! The `pacer` binary: configuration checks and the demo.

use std::process::Command;

use crate::helpers::{Backend, fresh_database};

/// The `pacer` binary, without the caller's PACER_CONFIG, PACER_DATABASE_URL and PACER_LISTEN.
pub fn pacer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pacer"));
    command.env_remove("PACER_CONFIG").env_remove("PACER_DATABASE_URL").env_remove("PACER_LISTEN");
    command
}

#[test]
fn check_config_reports_every_problem_at_once_and_never_prints_secrets() {
    let dir = std::env::temp_dir().join(format!("pacer-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "listen = \"nowhere\"\nbenchmarks = \"2020\"\nsurprise = true\n").expect("write");
    let output = pacer().args(["check-config", "--config"]).arg(&bad).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    for expected in ["listen", "benchmarks", "surprise"] {
        assert!(stderr.contains(expected), "{expected} missing from: {stderr}");
    }

    let good = dir.join("good.toml");
    std::fs::write(&good, "api_token = \"very-secret-token-123\"\n[teams]\ncommerce = [\"checkout\"]\n").expect("write");
    let output = pacer().args(["check-config", "--config"]).arg(&good).output().expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("teams.commerce = [checkout]"), "{stdout}");
    assert!(!stdout.contains("very-secret"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_example_configuration_is_valid_and_covers_the_webhooks() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/pacer.example.toml");
    let output = pacer().args(["check-config", "--config", example]).output().expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for expected in ["rollback checkout/production = auto", "github.deploy_source = deployments", "gitlab.token = (not set)", "pagerduty.services.\"Checkout API\" = checkout", "acme/monorepo services/payments/ → payments"] {
        assert!(stdout.contains(expected), "{expected} missing from: {stdout}");
    }
}

async fn the_demo_fills_every_metric(backend: Backend) {
    let Some((url, _guard)) = fresh_database(backend).await else { return };
    let output = pacer().args(["demo", "--no-serve", "--database", &url]).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let settings = pacer::config::Settings::load(
        None,
        &Default::default(),
        &pacer::config::Overrides { listen: Some("127.0.0.1:0".into()), database_url: Some(url.clone()) },
    )
    .expect("settings");
    let app = pacer::app::Application::build(&settings).await.expect("starts");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run(std::future::pending()));
    let dora: serde_json::Value = reqwest::get(format!("{base}/api/v1/dora")).await.expect("get").json().await.expect("json");
    for pointer in [
        "/deployment_frequency/per_day",
        "/lead_time/median_seconds",
        "/lead_time/p90_seconds",
        "/change_failure_rate/rate",
        "/time_to_restore/median_seconds",
        "/failed_deployment_recovery_time/median_seconds",
        "/rework_rate/rate",
        "/level",
    ] {
        let value = dora.pointer(pointer).unwrap_or(&serde_json::Value::Null);
        assert!(!value.is_null(), "{pointer} is null in {dora:#}");
    }
    assert!(dora["services"].as_array().is_some_and(|s| s.len() >= 5), "{dora}");

    let again = pacer().args(["demo", "--no-serve", "--database", &url]).output().expect("run");
    assert!(!again.status.success(), "the demo refuses a database that holds facts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fills_every_metric_on_sqlite() {
    the_demo_fills_every_metric(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fills_every_metric_on_postgres() {
    the_demo_fills_every_metric(Backend::Postgres).await;
}
