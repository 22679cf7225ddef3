//! Queries: `GET /api/v1/dora` from a `pacer serve` process against Four Keys-style SQL on the
//! same PostgreSQL data; the process's start-to-ready time and resident memory; and the deploy
//! gate's answer time.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use pacer_collector::Collected;
use pacer_collector::render::to_event;
use pacer_engine::model::DAY;
use pacer_generator::{Spec, generate, services};
use pacer_store::Store;

use crate::{Size, fourkeys, fresh_postgres, pacer_binary, peak_resident_mb, percentile_ms, resident_mb};

/// Repetitions of each query.
const REPEAT: usize = 20;
/// Questions to the deploy gate: enough for a p99 that is not the single slowest.
const GATE_REPEAT: usize = 500;

/// A `pacer serve` child process.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its base URL.
    pub base: String,
}

impl Server {
    /// Stops the process as an operator does (SIGTERM), and waits for it to exit; how long that
    /// took (pacer writes its analyses' snapshots as it stops).
    ///
    /// # Errors
    /// The signal could not be sent, or the process did not exit within a minute.
    pub async fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        anyhow::ensure!(sent.success(), "kill -TERM failed");
        while self.child.try_wait()?.is_none() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "pacer did not stop within a minute of SIGTERM");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(started.elapsed())
    }
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
    start_with(url, None, &[]).await
}

/// [`start`] with a configuration file and more environment variables.
///
/// # Errors
/// The binary is missing or the process never became ready.
pub async fn start_with(url: &str, config: Option<&std::path::Path>, env: &[(&str, &str)]) -> anyhow::Result<(Server, Duration)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let started = Instant::now();
    let mut command = Command::new(pacer_binary()?);
    if let Some(config) = config {
        command.arg("serve").arg("--config").arg(config).args(["--listen", &format!("127.0.0.1:{port}"), "--database", url]);
    } else {
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", url]);
    }
    // PACER_BENCH_LOG=<file> appends pacer's log there, filtered by the bench's own PACER_LOG
    // (for example `warn,pacer_api::analysis=debug`, each advance of the analysis); else none.
    let (filter, log) = match std::env::var_os("PACER_BENCH_LOG") {
        Some(path) => {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("opening {}", std::path::Path::new(&path).display()))?;
            (std::env::var("PACER_LOG").unwrap_or_else(|_| "warn".to_owned()), Stdio::from(file))
        }
        None => ("warn".to_owned(), Stdio::null()),
    };
    let child = command
        .env("PACER_LOG", filter)
        // The load comes from one client address: measure pacer, not its per-IP rate limit.
        .env("PACER_LIMITS_IP_REQUESTS_PER_SEC", "0")
        .envs(crate::unthrottled())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
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

/// Loads the data set through the store's own ingest, as a sender's batches would arrive: in
/// batches of 5 000 facts from `writers` concurrent tasks (PostgreSQL overlaps them; SQLite
/// has one writer, so one task), with a progress line on stderr every million facts.
async fn load(store: &Store, spec: &Spec, writers: usize) -> anyhow::Result<(u64, Duration)> {
    const BATCH: usize = 5_000;
    let started = Instant::now();
    let now = pacer_api::now();
    // One queue per writer, batches dealt round-robin.
    let mut queues = Vec::with_capacity(writers);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        let (send, mut receive) = tokio::sync::mpsc::channel::<Vec<Collected>>(2);
        let store = store.clone();
        tasks.spawn(async move {
            while let Some(batch) = receive.recv().await {
                store.ingest("native", now, &batch).await?;
            }
            anyhow::Ok(())
        });
        queues.push(send);
    }
    let mut batch = Vec::with_capacity(BATCH);
    let mut count = 0u64;
    for fact in generate(spec) {
        let raw = to_event(&fact);
        batch.push(Collected::new(fact, raw));
        if batch.len() == BATCH {
            let queue = &queues[(count / BATCH as u64) as usize % writers];
            count += BATCH as u64;
            if queue.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await.is_err() {
                break;
            }
            if count.is_multiple_of(1_000_000) {
                eprintln!("loaded {count} facts in {:.0} s", started.elapsed().as_secs_f64());
            }
        }
    }
    count += batch.len() as u64;
    let _ = queues[0].send(batch).await;
    drop(queues);
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok((count, started.elapsed()))
}

/// A store on the SQLite file at `url` for loading the data set: one connection with a page
/// cache of up to 4 GiB. It was made when the store's own pool (eight connections then, each
/// writing in turn) slowed from 3 280 to 1 050 facts/s by the second million; the store's one
/// writing connection now loads the full set at 7 511 facts/s without slowing (`--own-pool`,
/// BENCHMARKS.md, Ingest), so this loader is kept only so that earlier loads compare.
async fn sqlite_loader(url: &str) -> anyhow::Result<Store> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
    let options = url
        .parse::<SqliteConnectOptions>()?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-4194304");
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    Ok(Store::Sqlite(pool.clone(), pacer_store::WriteQueue::new(pool)))
}

/// The flags of `query` (and of `all`, which runs it).
#[derive(Debug, Default, clap::Args)]
pub struct QueryArgs {
    /// Keep the data set an earlier `query` (or `live`) run loaded instead of loading a fresh one.
    #[arg(long)]
    pub reuse: bool,
    /// Leave the Four Keys-style reference out: pacer's own times, to compare two builds of pacer
    /// (PACER_BENCH_PACER names the other).
    #[arg(long)]
    pub pacer_only: bool,
    /// The database pacer runs on (the SQL reference runs only on PostgreSQL).
    #[arg(long, value_enum, default_value_t = Engine::Postgres)]
    pub engine: Engine,
    /// Load SQLite through the store's own pool, as `pacer serve` and `pacer import` write,
    /// instead of one connection with a 4 GiB page cache: the rate of a bulk load a user sees.
    #[arg(long)]
    pub own_pool: bool,
}

/// The database the query benchmark runs on: `--engine sqlite|postgres`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// PostgreSQL, with the Four Keys-style SQL as the reference.
    #[default]
    Postgres,
    /// SQLite: pacer's own times against the interactive target (Four Keys' SQL is PostgreSQL's).
    Sqlite,
}

/// `--engine` takes `postgres` or `sqlite`. By hand rather than derived, so that `--help` keeps
/// to a line a flag: a derived one would print the variants' docs under every `--engine`.
impl clap::ValueEnum for Engine {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Postgres, Self::Sqlite]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }))
    }
}

impl Engine {
    /// How tables name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        }
    }
}

/// The database of the query benchmark: fresh, or the one an earlier run loaded (`reuse`).
pub async fn database(engine: Engine, size: Size, admin: &str, reuse: bool) -> anyhow::Result<String> {
    let name = format!("pacer_bench_query_{}", size.name);
    match engine {
        Engine::Postgres if reuse => {
            let (server, _) = admin.rsplit_once('/').context("the PostgreSQL URL ends with /<database>")?;
            Ok(format!("{server}/{name}"))
        }
        Engine::Postgres => fresh_postgres(admin, &name).await,
        Engine::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            if !reuse {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Ok(format!("sqlite://{}", path.display()))
        }
    }
}

/// The query benchmark's data set, loaded into a fresh database of `engine`, or the one an
/// earlier run loaded (`reuse`); its URL and the spec it was generated from.
///
/// # Errors
/// The database failed.
pub async fn loaded(size: Size, engine: Engine, admin: &str, reuse: bool, own_pool: bool) -> anyhow::Result<(String, Spec)> {
    let mut spec = Spec::benchmark(pacer_api::now(), size.services, size.deployments, size.commits);
    spec.listed_commits_share = 1.0;
    // About six CI runs per deployment of a service with CI runs: about 2 M at the full size.
    spec.ci_runs_share = 0.32;
    let url = database(engine, size, admin, reuse).await?;
    let store = pacer::app::open_store(&url).await?;
    if reuse {
        println!("\n<!-- reusing the data set loaded by an earlier run (generated relative to that run's time) -->");
    } else {
        let (loader, writers) = match engine {
            Engine::Postgres => (store.clone(), 4),
            Engine::Sqlite if own_pool => (store.clone(), 1),
            Engine::Sqlite => (sqlite_loader(&url).await?, 1),
        };
        let (facts, took) = load(&loader, &spec, writers).await?;
        println!("\n<!-- loaded {facts} facts into {} in {:.0} s ({:.0} facts/s) -->", engine.name(), took.as_secs_f64(), facts as f64 / took.as_secs_f64());
    }
    // The planner statistics a running installation has (PostgreSQL's autovacuum gathers them
    // some minutes after a bulk load; without them it scans whole tables for an IN list).
    with_engine_pool(&store, "ANALYZE").await?;
    store.close().await;
    Ok((url, spec))
}

/// Runs one statement on whichever engine `store` uses.
async fn with_engine_pool(store: &Store, sql: &'static str) -> anyhow::Result<()> {
    match store {
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
        Store::Sqlite(pool, _) => sqlx::query(sql).execute(pool).await?.rows_affected(),
    };
    Ok(())
}

/// How many analyses the pacer at `base` made whole from `from` (`history` or `snapshot`), by its
/// `/metrics`.
///
/// # Errors
/// The request failed, or the metric is missing.
pub async fn made_whole(client: &reqwest::Client, base: &str, from: &str) -> anyhow::Result<u64> {
    let text = client.get(format!("{base}/metrics")).send().await?.error_for_status()?.text().await?;
    let line = format!("pacer_analyses_made_whole_total{{from=\"{from}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).and_then(|n| n.trim().parse().ok()).ok_or_else(|| anyhow::anyhow!("no {line} in /metrics"))
}

/// GETs `url` until it answers something other than 503: a build longer than the request
/// deadline answers 503 while it goes on in the background, so the first answer is the first 200.
///
/// # Errors
/// The request failed, or the answer was another error.
pub async fn first_answer(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    loop {
        let answer = client.get(url).send().await?;
        if answer.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            answer.error_for_status()?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// p50 and p99 in milliseconds of `repeat` runs of `once`.
async fn timed<F, Fut>(repeat: usize, mut once: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let t = Instant::now();
        once().await?;
        samples.push(t.elapsed());
    }
    Ok((percentile_ms(&mut samples, 0.5), percentile_ms(&mut samples, 0.99)))
}

/// Runs the query benchmark: `/api/v1/dora` and weekly `/api/v1/dora/series`, for all services,
/// one team and one service over 30, 90 and 365 days; on PostgreSQL each beside the Four
/// Keys-style SQL on the same data.
///
/// # Errors
/// The database or the server failed.
pub async fn run(size: Size, admin: &str, args: &QueryArgs) -> anyhow::Result<()> {
    let QueryArgs { reuse, pacer_only, engine, own_pool } = *args;
    let end = pacer_api::now();
    let (url, spec) = loaded(size, engine, admin, reuse, own_pool).await?;
    let store = pacer::app::open_store(&url).await?;
    // `--pacer-only` leaves the reference out: pacer's own times, to compare two builds of pacer.
    let pool = match &store {
        Store::Postgres(pool) if !pacer_only => Some(pool.clone()),
        Store::Postgres(_) | Store::Sqlite(..) => None,
    };

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
    first_answer(&client, &format!("{}/api/v1/dora", server.base)).await?;
    let cold = cold.elapsed();
    eprintln!("first answer after {:.1} s, resident {:.0} MB", cold.as_secs_f64(), resident_mb(server.child.id()).unwrap_or(f64::NAN));

    for series in [false, true] {
        let what = if series { "weekly series (`/api/v1/dora/series`)" } else { "summary (`/api/v1/dora`)" };
        let set = format!("{} services, {} deployments, {} commits", size.services, size.deployments, size.commits);
        if pool.is_some() {
            println!(
                "\n| {what} on {} ({set}; pacer {REPEAT} runs, SQL {} runs) | pacer p50 | pacer p99 | Four Keys-style SQL p50 | SQL p99 | speed-up (p50) | target |",
                engine.name(),
                size.reference_repeat
            );
            println!("|---|---|---|---|---|---|---|");
        } else {
            println!("\n| {what} on {} ({set}) | pacer p50 | pacer p99 | target |", engine.name());
            println!("|---|---|---|---|");
        }
        for (label, scope, query) in [
            ("all services", &everyone, String::new()),
            ("one team", &team_services, format!("&team={team}")),
            ("one service", &one, format!("&service={}", one[0])),
        ] {
            for days in [30, 90, 365] {
                let from = end - days * DAY;
                let path = if series {
                    format!("{}/api/v1/dora/series?from=now-{days}d&to=now&interval=week{query}", server.base)
                } else {
                    format!("{}/api/v1/dora?from=now-{days}d&to=now{query}", server.base)
                };
                let (p50, p99) = timed(REPEAT, || async {
                    client.get(&path).send().await?.error_for_status()?.bytes().await?;
                    Ok(())
                })
                .await?;
                let Some(pool) = &pool else {
                    println!("| {label}, {days} d | {p50:.1} ms | {p99:.1} ms | < 100 ms |");
                    continue;
                };
                let (s50, s99) = timed(size.reference_repeat, || async {
                    if series {
                        fourkeys::series(pool, from, end, scope).await.context("four keys series query")?;
                    } else {
                        fourkeys::summary(pool, from, end, scope).await.context("four keys query")?;
                    }
                    Ok(())
                })
                .await?;
                println!("| {label}, {days} d | {p50:.1} ms | {p99:.1} ms | {s50:.1} ms | {s99:.1} ms | {:.1}× | ≥ 10×, < 100 ms |", s50 / p50);
            }
        }
    }
    let rss = resident_mb(server.child.id()).unwrap_or(f64::NAN);
    println!("\n| process ({}) | figure | target |\n|---|---|---|", engine.name());
    println!("| first query after start (builds the analysis) | {:.0} ms | — |", cold.as_secs_f64() * 1_000.0);
    println!("| start to ready on the existing database (p50 of 4) | {:.0} ms | ≤ 200 ms |", percentile_ms(&mut ready, 0.5));
    println!("| resident memory after the query load | {rss:.0} MB | ≤ 150 MB |");
    println!("| peak resident memory (`VmHWM`, during the build) | {:.0} MB | — |", peak_resident_mb(server.child.id()).unwrap_or(f64::NAN));
    drop(server);
    gate(&url, engine, &one[0]).await
}

/// The deploy gate: one service with an SLO from `sli` events (eight window counts a question),
/// asked [`GATE_REPEAT`] times one after the other, each answer recorded.
async fn gate(url: &str, engine: Engine, service: &str) -> anyhow::Result<()> {
    let config = std::env::temp_dir().join(format!("pacer-bench-gate-{}.toml", std::process::id()));
    std::fs::write(&config, format!("slo_interval_secs = 3600\n[[slo]]\nname = \"gate\"\nservice = \"{service}\"\nobjective = 99.9\nseries = \"availability\"\n"))?;
    let (server, _) = start_with(url, Some(&config), &[]).await?;
    let client = reqwest::Client::new();
    let path = format!("{}/api/v1/gate?service={service}&rollout=bench&asker=pacer-bench", server.base);
    // The first question waits for the analysis to be built.
    first_answer(&client, &path).await?;
    let (p50, p99) = timed(GATE_REPEAT, || async {
        client.get(&path).send().await?.error_for_status()?.bytes().await?;
        Ok(())
    })
    .await?;
    let _ = std::fs::remove_file(&config);
    println!("\n| deploy gate (`/api/v1/gate`, one service with an SLO from sli events, {GATE_REPEAT} questions, each recorded) on {} | p50 | p99 | target |", engine.name());
    println!("|---|---|---|---|");
    println!("| one service | {p50:.2} ms | {p99:.2} ms | p99 < 10 ms |");
    Ok(())
}
