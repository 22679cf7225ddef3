//! `pacer-bench`: measures pacer against references run in the same process, as ratios.
//!
//! ```text
//! cargo build --release --workspace
//! target/release/pacer-bench all [--size small|medium|full] [--postgres URL] [--reuse]
//! ```
//!
//! `pacer-bench --help` lists the benchmarks, `pacer-bench <benchmark> --help` their flags.
//! `--size` and `--postgres` go before or after the benchmark's name; without a name, `all` runs.
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
//! - **start** (measured by `query`, not a command of its own): `pacer serve` on an existing
//!   database until `/readyz` answers, and its resident memory after the query load.
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

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use clap::builder::PossibleValue;

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

/// `--size` takes the sizes' names.
impl ValueEnum for Size {
    fn value_variants<'a>() -> &'a [Self] {
        &SIZES
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name))
    }
}

/// pacer's benchmarks: measures pacer against references run in the same process, as ratios,
/// and prints Markdown rows for BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "pacer-bench")]
struct Cli {
    /// Which benchmark (`all` when none is named).
    #[command(subcommand)]
    bench: Option<Bench>,
    /// How much data a run uses.
    #[arg(long, global = true, value_enum, default_value = "small")]
    size: Size,
    /// The PostgreSQL server, as a URL ending in /<database>; benchmarks create their databases
    /// beside that one.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "PACER_TEST_POSTGRES",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
enum Bench {
    /// Runs ingest, rollback, query and scale, one after the other.
    All(query::QueryArgs),
    /// Native events over HTTP into a fresh database, against a raw batched insert.
    Ingest,
    /// The DORA queries against Four Keys-style SQL on the same data, and pacer's start to ready.
    Query(query::QueryArgs),
    /// Time from an alert's POST to the rollback hook request.
    Rollback(latency::RollbackArgs),
    /// The ingest benchmark through one, two and three `pacer serve` processes on one PostgreSQL.
    Scale,
    /// The query set, then a steady mixed stream of new facts under a query load.
    Live(live::LiveArgs),
    /// wrk against `pacer serve` with NDJSON ingest and queries: zero errors and flat memory.
    Soak(soak::SoakArgs),
    /// What the analysis of the data set an earlier `query` run loaded holds, part by part.
    Footprint(footprint::FootprintArgs),
}

impl Bench {
    /// The name it is run by.
    fn name(&self) -> &'static str {
        match self {
            Self::All(_) => "all",
            Self::Ingest => "ingest",
            Self::Query(_) => "query",
            Self::Rollback(_) => "rollback",
            Self::Scale => "scale",
            Self::Live(_) => "live",
            Self::Soak(_) => "soak",
            Self::Footprint(_) => "footprint",
        }
    }
}

/// Parses a number above zero, for the flags that take a count or a length of time.
///
/// # Errors
/// It is not a number, or not above zero.
pub fn positive<T: std::str::FromStr + PartialOrd + Default>(value: &str) -> Result<T, String> {
    value.parse::<T>().ok().filter(|n| *n > T::default()).ok_or_else(|| format!("expected a positive number but found {value:?}"))
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

/// A `/proc/<pid>/status` field given in kB (`VmRSS:`, `RssAnon:` …), in MB.
pub fn status_mb(pid: u32, field: &str) -> Option<f64> {
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
    let Cli { bench, size, postgres: admin } = Cli::parse();
    let bench = bench.unwrap_or(Bench::All(query::QueryArgs::default()));
    println!("<!-- pacer-bench {} --size {} on {} -->", bench.name(), size.name, chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    match bench {
        Bench::All(args) => {
            ingest::run(size, &admin).await?;
            latency::run(size, &latency::RollbackArgs::default()).await?;
            query::run(size, &admin, &args).await?;
            scale::run(size, &admin).await?;
        }
        Bench::Ingest => ingest::run(size, &admin).await?,
        Bench::Query(args) => query::run(size, &admin, &args).await?,
        Bench::Rollback(args) => latency::run(size, &args).await?,
        Bench::Scale => scale::run(size, &admin).await?,
        Bench::Live(args) => live::run(&args.options(size, &admin)).await?,
        Bench::Soak(args) => {
            soak::run(&args.options(&admin)).await?;
        }
        Bench::Footprint(args) => footprint::run(size, &admin, args.engine).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn size_and_postgres_go_before_or_after_the_benchmark_and_no_benchmark_means_all() {
        let after = Cli::try_parse_from(["pacer-bench", "live", "--size", "medium", "--postgres", "postgres://x/y", "--rate", "5"]).expect("parses");
        assert_eq!((after.size.name, after.postgres.as_str()), ("medium", "postgres://x/y"), "flags after the benchmark");
        assert!(matches!(after.bench, Some(Bench::Live(live::LiveArgs { rate: 5.0, .. }))), "live's own flag");
        let before = Cli::try_parse_from(["pacer-bench", "--size", "full", "query", "--reuse"]).expect("parses");
        assert_eq!(before.size.name, "full", "flags before the benchmark");
        assert!(matches!(before.bench, Some(Bench::Query(query::QueryArgs { reuse: true, pacer_only: false, engine: query::Engine::Postgres, own_pool: false }))));
        let none = Cli::try_parse_from(["pacer-bench"]).expect("parses");
        assert_eq!(none.size.name, "small", "the default size");
        assert!(none.bench.is_none(), "no benchmark named: main runs all");
    }

    #[test]
    fn counts_and_lengths_of_time_must_be_positive() {
        for args in [["soak", "--seconds", "0"], ["soak", "--connections", "-1"], ["live", "--rate", "x"], ["live", "--minutes", "0"]] {
            let error = Cli::try_parse_from(std::iter::once("pacer-bench").chain(args)).expect_err("refused");
            assert!(error.to_string().contains("expected a positive number but found"), "{args:?}: {error}");
        }
    }
}
