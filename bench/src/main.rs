//! `pacer-bench`: measures pacer against references run in the same process, as ratios.
//!
//! ```text
//! cargo build --release --workspace
//! target/release/pacer-bench all [--size small|medium|full] [--postgres URL] [--reuse]
//! ```
//!
//! - **ingest**: native events over HTTP (NDJSON, 4 concurrent clients) into a fresh database,
//!   against a raw batched multi-row insert of the same rows with sqlx into a fresh database of
//!   the same engine.
//! - **query**: `GET /api/v1/dora` and weekly `GET /api/v1/dora/series` for all services, one
//!   team and one service over 30, 90 and 365 days, against Four Keys-style SQL
//!   (`percentile_cont` over joined tables) on the same PostgreSQL data; `--engine sqlite` times
//!   pacer on SQLite instead (no SQL reference there). `--reuse` keeps the data set an earlier
//!   `query` run loaded; `--pacer-only` leaves the reference out, to compare two builds of pacer
//!   (`PACER_BENCH_PACER` names the other).
//! - **rollback**: Alertmanager-shaped alerts to a pacer with an `auto` policy; time from the
//!   alert's POST to the hook request arriving at a local receiver.
//! - **start**: `pacer serve` on an existing database until `/readyz` answers, and its resident
//!   memory after the query load.
//! - **scale**: the ingest benchmark's events through one, two and three `pacer serve` processes
//!   on one PostgreSQL database, round-robin, each run checked for exactly-once storage.
//! - **footprint** (not part of `all`): builds the analysis of the data set an earlier `query`
//!   run loaded in this process and prints what it holds, part by part, in heap bytes.
//! - **live** (not part of `all`): the query set, then a steady mixed stream of new facts (late
//!   and out-of-order ones among them) at `--rate` facts a second for `--minutes`, while a query
//!   load runs; per query kind p50/p99, freshness of new deployments, memory over time, errors
//!   (see the `live` module).
//! - **soak** (not part of `all`): `wrk` against `pacer serve` with a mix of NDJSON ingest and
//!   queries for `--minutes N` (10 by default) or `--seconds N`; passes with zero errors and flat
//!   resident memory (see the `soak` module).
//!
//! The benchmarks that start `pacer serve` run the binary beside this one, or the one
//! `PACER_BENCH_PACER` names. Results are printed as Markdown rows for `BENCHMARKS.md`.

mod footprint;
mod fourkeys;
mod ingest;
mod latency;
mod live;
mod query;
mod scale;
mod soak;

use std::time::Duration;

use anyhow::{Context, bail};

/// How much data a run uses.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Its name.
    pub name: &'static str,
    /// Services in the data set.
    pub services: usize,
    /// Successful production deployments over a year.
    pub deployments: u64,
    /// Commits over a year.
    pub commits: u64,
    /// Events posted in the ingest benchmark.
    pub ingest_events: usize,
    /// Alerts in the rollback benchmark.
    pub alerts: usize,
    /// Repetitions of each Four Keys-style reference query: fewer at the full size, where one
    /// year-long query over every service takes about a minute.
    pub reference_repeat: usize,
}

const SIZES: [Size; 3] = [
    Size { name: "small", services: 50, deployments: 20_000, commits: 100_000, ingest_events: 20_000, alerts: 200, reference_repeat: 20 },
    Size { name: "medium", services: 200, deployments: 200_000, commits: 1_000_000, ingest_events: 100_000, alerts: 1_000, reference_repeat: 20 },
    Size { name: "full", services: 1_000, deployments: 1_000_000, commits: 5_000_000, ingest_events: 200_000, alerts: 1_000, reference_repeat: 3 },
];

/// Where the PostgreSQL server is.
fn postgres_admin(args: &[String]) -> String {
    args.windows(2)
        .find(|w| w[0] == "--postgres")
        .map(|w| w[1].clone())
        .or_else(|| std::env::var("PACER_TEST_POSTGRES").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates a fresh PostgreSQL database and returns its URL.
///
/// # Errors
/// The server is unreachable.
pub async fn fresh_postgres(admin: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await.context("PostgreSQL unreachable")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut conn).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
    let (server, _) = admin.rsplit_once('/').context("the PostgreSQL URL ends with /<database>")?;
    Ok(format!("{server}/{name}"))
}

/// The environment of a benchmarked pacer: one machine sends every request, so the per-client-IP
/// rate limit, meant for many clients, is turned off; every other limit keeps its default.
pub fn unthrottled() -> std::collections::HashMap<String, String> {
    [("PACER_LIMITS_IP_REQUESTS_PER_SEC".to_owned(), "0".to_owned())].into()
}

/// A fresh SQLite database file URL.
pub fn fresh_sqlite(name: &str) -> String {
    let url = format!("sqlite://{}", std::env::temp_dir().join(format!("{name}-{}.db", std::process::id())).display());
    remove_sqlite(&url);
    url
}

/// Deletes the SQLite database at `url` with its WAL and shared-memory files, where they are.
/// A process that still has it open keeps it until it closes it, so a run can clean up after
/// itself while its in-process pacer still serves.
pub fn remove_sqlite(url: &str) {
    let path = url.trim_start_matches("sqlite://");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

/// The `pacer` binary the benchmarks start: `PACER_BENCH_PACER` when set, else the one built
/// beside this one (`cargo build --release` builds both).
///
/// # Errors
/// It is not there.
pub fn pacer_binary() -> anyhow::Result<std::path::PathBuf> {
    let path = match std::env::var_os("PACER_BENCH_PACER") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name("pacer"),
    };
    anyhow::ensure!(path.is_file(), "expected the pacer binary at {} — run `cargo build --release` first", path.display());
    Ok(path)
}

/// The resident memory (`VmRSS`) of a process in MB, or `None` when it is gone.
pub fn resident_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

/// The most memory a process has held resident (`VmHWM`) in MB, or `None` when it is gone.
pub fn peak_resident_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM:")
}

fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|kb| kb / 1024.0)
}

/// p-th percentile (nearest rank) of durations, in milliseconds.
pub fn percentile_ms(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[rank].as_secs_f64() * 1_000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("all", String::as_str);
    let size_name = args.windows(2).find(|w| w[0] == "--size").map_or("small", |w| w[1].as_str());
    let Some(size) = SIZES.iter().find(|s| s.name == size_name).copied() else {
        bail!("expected --size small, medium or full but found {size_name:?}");
    };
    let admin = postgres_admin(&args);
    println!("<!-- pacer-bench {what} --size {} on {} -->", size.name, chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    if matches!(what, "ingest" | "all") {
        ingest::run(size, &admin).await?;
    }
    if matches!(what, "rollback" | "all") {
        latency::run(size).await?;
    }
    if matches!(what, "query" | "all") {
        let flag = |name: &str| args.iter().any(|a| a == name);
        query::run(size, &admin, flag("--reuse"), flag("--pacer-only"), query::Engine::from_args(&args)?).await?;
    }
    if matches!(what, "scale" | "all") {
        scale::run(size, &admin).await?;
    }
    if what == "live" {
        live::run(&live::options(&args, size, &admin)?).await?;
    } else if what == "soak" {
        soak::run(&soak::options(&args, &admin)?).await?;
    } else if what == "footprint" {
        footprint::run(size, &admin, query::Engine::from_args(&args)?).await?;
    } else if !matches!(what, "ingest" | "rollback" | "query" | "scale" | "all") {
        bail!("expected ingest, query, rollback, scale, all, live, soak or footprint but found {what:?}");
    }
    Ok(())
}
