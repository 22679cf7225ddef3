//! Queries: `GET /api/v1/dora` from a `pacer serve` process against Four Keys-style SQL on the
//! same PostgreSQL data; the process's start-to-ready time and resident memory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use pacer_collector::Collected;
use pacer_collector::render::to_event;
use pacer_engine::model::DAY;
use pacer_generator::{Spec, generate, services};
use pacer_store::Store;

use crate::{Size, fourkeys, fresh_postgres, pacer_binary, percentile_ms, resident_mb};

/// Repetitions of each query.
const REPEAT: usize = 20;

/// A `pacer serve` child process.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its base URL.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `pacer serve` (the binary built beside this one) on `url` and waits until `/readyz`
/// answers; returns it and the time that took.
///
/// # Errors
/// The binary is missing or the process never became ready.
pub async fn start(url: &str) -> anyhow::Result<(Server, Duration)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let started = Instant::now();
    let child = Command::new(pacer_binary()?)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", url])
        .env("PACER_LOG", "warn")
        // The load comes from one client address: measure pacer, not its per-IP rate limit.
        .env("PACER_LIMITS_IP_REQUESTS_PER_SEC", "0")
        .envs(crate::unthrottled())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server { child, base: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
            && r.status().is_success()
        {
            return Ok((server, started.elapsed()));
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "pacer did not become ready");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn load(store: &Store, spec: &Spec) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5_000);
    let mut count = 0;
    let now = pacer_api::now();
    for fact in generate(spec) {
        let raw = to_event(&fact);
        batch.push(Collected::new(fact, raw));
        if batch.len() == 5_000 {
            count += batch.len() as u64;
            store.ingest("native", now, &batch).await?;
            batch.clear();
        }
    }
    count += batch.len() as u64;
    store.ingest("native", now, &batch).await?;
    Ok((count, started.elapsed()))
}

/// Runs the query benchmark on PostgreSQL.
///
/// # Errors
/// PostgreSQL or the server failed.
pub async fn run(size: Size, admin: &str, reuse: bool) -> anyhow::Result<()> {
    let end = pacer_api::now();
    let mut spec = Spec::benchmark(end, size.services, size.deployments, size.commits);
    spec.listed_commits_share = 1.0;
    let url = if reuse {
        let (server, _) = admin.rsplit_once('/').context("the PostgreSQL URL ends with /<database>")?;
        format!("{server}/pacer_bench_query_{}", size.name)
    } else {
        fresh_postgres(admin, &format!("pacer_bench_query_{}", size.name)).await?
    };
    let store = pacer::app::open_store(&url).await?;
    if reuse {
        println!("\n<!-- reusing the data set loaded by an earlier run (generated relative to that run's time) -->");
    } else {
        let (facts, took) = load(&store, &spec).await?;
        println!("\n<!-- loaded {facts} facts into PostgreSQL in {:.0} s ({:.0} facts/s) -->", took.as_secs_f64(), facts as f64 / took.as_secs_f64());
    }
    let Store::Postgres(pool) = &store else { anyhow::bail!("expected PostgreSQL") };

    let mut ready = Vec::new();
    for _ in 0..4 {
        let (server, took) = start(&url).await?;
        ready.push(took);
        drop(server);
    }
    let (server, _) = start(&url).await?;
    let client = reqwest::Client::new();
    let all = services(&spec);
    let team = all.first().map(|(_, t)| t.clone()).unwrap_or_default();
    let team_services: Vec<String> = all.iter().filter(|(_, t)| *t == team).map(|(s, _)| s.clone()).collect();
    let everyone: Vec<String> = all.iter().map(|(s, _)| s.clone()).collect();
    let one = vec![everyone[0].clone()];

    let cold = Instant::now();
    client.get(format!("{}/api/v1/dora", server.base)).send().await?.error_for_status()?;
    let cold = cold.elapsed();

    println!(
        "\n| query on PostgreSQL ({} services, {} deployments, {} commits) | pacer p50 | pacer p99 | Four Keys-style SQL p50 | SQL p99 | speed-up (p50) | target |",
        size.services, size.deployments, size.commits
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, scope, query) in [
        ("all services", &everyone, String::new()),
        ("one team", &team_services, format!("&team={team}")),
        ("one service", &one, format!("&service={}", one[0])),
    ] {
        for days in [30, 90, 365] {
            let from = end - days * DAY;
            let path = format!("{}/api/v1/dora?from=now-{days}d&to=now{query}", server.base);
            let mut pacer = Vec::with_capacity(REPEAT);
            for _ in 0..REPEAT {
                let t = Instant::now();
                client.get(&path).send().await?.error_for_status()?.bytes().await?;
                pacer.push(t.elapsed());
            }
            let mut sql = Vec::with_capacity(REPEAT);
            for _ in 0..REPEAT {
                let t = Instant::now();
                fourkeys::summary(pool, from, end, scope).await.context("four keys query")?;
                sql.push(t.elapsed());
            }
            let (p50, p99) = (percentile_ms(&mut pacer, 0.5), percentile_ms(&mut pacer, 0.99));
            let (s50, s99) = (percentile_ms(&mut sql, 0.5), percentile_ms(&mut sql, 0.99));
            println!("| {label}, {days} d | {p50:.1} ms | {p99:.1} ms | {s50:.1} ms | {s99:.1} ms | {:.1}× | ≥ 10×, < 100 ms |", s50 / p50);
        }
    }
    let rss = resident_mb(server.child.id()).unwrap_or(f64::NAN);
    println!("\n| process | figure | target |\n|---|---|---|");
    println!("| first query after start (builds the analysis) | {:.0} ms | — |", cold.as_secs_f64() * 1_000.0);
    println!("| start to ready on the existing database (p50 of 4) | {:.0} ms | ≤ 200 ms |", percentile_ms(&mut ready, 0.5));
    println!("| resident memory after the query load | {rss:.0} MB | ≤ 150 MB |");
    Ok(())
}
