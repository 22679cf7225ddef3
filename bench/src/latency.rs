//! Alert → rollback: the time from an Alertmanager POST to the rollback hook's arrival. With
//! `--dead-chat` the same alerts run three times in one process — without chat, with a
//! `[[notify]]` Slack destination that answers at once, and with one that accepts connections and
//! never answers, each hearing every event — and all are reported in one table: the live channel
//! shows what chat itself costs (its rows are written beside the decisions), the dead one whether
//! a channel that hangs delays the hooks beyond that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use pacer::config::{Overrides, Settings};
use pacer_collector::Collected;
use pacer_collector::render::to_event;
use pacer_engine::model::{Deployment, DeploymentStatus, Fact, MINUTE};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{Size, fresh_sqlite, percentile_ms, remove_sqlite};

/// `pacer-bench rollback`'s options.
#[derive(Debug, Default, clap::Args)]
pub struct RollbackArgs {
    /// Also run the alerts with a chat destination that answers and with one that never does,
    /// and compare.
    #[arg(long)]
    pub dead_chat: bool,
}

/// Runs the alert → rollback benchmark on SQLite (three times with `dead_chat`: without chat, with
/// a Slack destination that answers, and with one that never answers).
///
/// # Errors
/// The server or the database failed.
pub async fn run(size: Size, args: &RollbackArgs) -> anyhow::Result<()> {
    let mut plain = measure(size, None).await?;
    let mut rows = vec![("closed loop, one alert at a time", row(&mut plain))];
    if args.dead_chat {
        let chat = |address: std::net::SocketAddr| {
            format!("[chat]\nbase_url = \"https://pacer.example.com\"\n[[notify]]\nkind = \"slack\"\nurl = \"http://{address}/slack\"\ntimeout_secs = 10\n")
        };
        // Answers every message at once, as Slack does.
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let live_chat = chat(live.local_addr()?);
        let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&answered);
        let slack = axum::Router::new().route(
            "/slack",
            post(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async { "ok" }
            }),
        );
        let serving = tokio::spawn(async move { axum::serve(live, slack).await });
        let mut with_live = measure(size, Some((&live_chat, &answered))).await?;
        serving.abort();
        println!("\nthe live Slack destination answered {} messages", answered.load(std::sync::atomic::Ordering::Relaxed));
        rows.push(("the same, every event also to a Slack destination that answers at once", row(&mut with_live)));
        // Accepts every connection and holds it open without a byte of answer.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let chat = chat(dead.local_addr()?);
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = dead.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                open.push(socket);
            }
        });
        let mut with_dead = measure(size, Some((&chat, &accepted))).await?;
        held.abort();
        println!("\nthe dead Slack destination accepted {} connections and answered none", accepted.load(std::sync::atomic::Ordering::Relaxed));
        rows.push(("the same, every event also to a Slack destination that never answers", row(&mut with_dead)));
        println!("\np99 with the live channel / p99 without: {:.2}", rows[1].1.1 / rows[0].1.1);
        println!("p99 with the dead channel / p99 without: {:.2}", rows[2].1.1 / rows[0].1.1);
    }
    println!("\n| alert → first rollback hook request ({} alerts, SQLite, loopback) | p50 | p99 | max | target |", size.alerts);
    println!("|---|---|---|---|---|");
    for (name, (p50, p99, max)) in rows {
        println!("| {name} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms | p99 ≤ 50 ms |");
    }
    Ok(())
}

/// p50, p99 and max of `latencies`, in milliseconds.
fn row(latencies: &mut [Duration]) -> (f64, f64, f64) {
    let max = latencies.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1_000.0);
    (percentile_ms(latencies, 0.5), percentile_ms(latencies, 0.99), max)
}

/// Posts the alerts one at a time to a fresh pacer, configured with `chat` besides the rollback
/// policy, and times each to its hook's arrival.
///
/// With `chat`, the alerts start once its destination has heard from pacer (its counter moved),
/// so that they run while chat is sending.
async fn measure(size: Size, chat: Option<(&str, &std::sync::atomic::AtomicUsize)>) -> anyhow::Result<Vec<Duration>> {
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let arrived = Arc::new(Notify::new());
    let (log, signal) = (Arc::clone(&arrivals), Arc::clone(&arrived));
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let (log, signal) = (Arc::clone(&log), Arc::clone(&signal));
            async move {
                let at = Instant::now();
                if let Ok(report) = serde_json::from_slice::<Value>(&body)
                    && let Some(service) = report["service"].as_str()
                    && let Ok(mut log) = log.lock()
                {
                    log.insert(service.to_owned(), at);
                }
                signal.notify_one();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let config = std::env::temp_dir().join(format!("pacer-bench-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "[[rollback]]\npolicy = \"auto\"\ncooldown_secs = 0\nmax_per_hour = 1000000\n[[rollback.hooks]]\nurl = \"{hook}\"\n{}",
            chat.map_or("", |(section, _)| section)
        ),
    )?;
    let url = fresh_sqlite("bench-rollback");
    let overrides = Overrides { listen: Some("127.0.0.1:0".into()), database_url: Some(url.clone()) };
    let settings = Settings::load(Some(&config), &crate::unthrottled(), &overrides).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let app = pacer::app::Application::build(&settings).await?;
    let base = format!("http://{}", app.local_addr()?);
    let store = app.store().clone();
    tokio::spawn(app.run(std::future::pending()));

    let now = pacer_api::now();
    let mut facts = Vec::new();
    for i in 0..size.alerts {
        for (id, finished) in [("v1", now - 120 * MINUTE), ("v2", now - MINUTE)] {
            let d = Deployment {
                id: format!("svc-{i:04}-{id}"),
                service: format!("svc-{i:04}"),
                environment: "production".into(),
                version: Some(id.into()),
                commit_sha: Some(format!("{i:04}{id}")),
                status: DeploymentStatus::Success,
                started_at: None,
                finished_at: Some(finished),
                commits: Vec::new(),
                rollback_of: None,
                unplanned: false,
                team: None,
                url: None,
            };
            let fact = Fact::Deployment(d);
            let raw = to_event(&fact);
            facts.push(Collected::new(fact, raw));
        }
    }
    store.ingest("native", now, &facts).await?;
    if let Some((_, heard)) = chat {
        let deadline = Instant::now() + Duration::from_secs(30);
        while heard.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            anyhow::ensure!(Instant::now() < deadline, "the chat destination heard nothing from pacer in 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(size.alerts);
    let starts = chrono::DateTime::from_timestamp_millis(now).map(|t| t.to_rfc3339()).unwrap_or_default();
    for i in 0..size.alerts {
        let service = format!("svc-{i:04}");
        let body = json!({"status": "firing", "alerts": [{"status": "firing", "startsAt": starts,
            "labels": {"alertname": "High5xx", "service": service, "severity": "page"}}]});
        let sent = Instant::now();
        let response = client.post(format!("{base}/webhooks/alertmanager")).json(&body).send().await?;
        anyhow::ensure!(response.status().is_success(), "alert refused: {}", response.text().await?);
        let deadline = sent + Duration::from_secs(10);
        loop {
            if let Some(at) = arrivals.lock().ok().and_then(|log| log.get(&service).copied()) {
                latencies.push(at - sent);
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "no hook for {service}");
            let _ = tokio::time::timeout(Duration::from_millis(50), arrived.notified()).await;
        }
    }
    let _ = std::fs::remove_file(&config);
    remove_sqlite(&url);
    Ok(latencies)
}
