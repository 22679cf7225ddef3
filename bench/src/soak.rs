//! Load and soak: `wrk` drives a `pacer serve` process with a mix of NDJSON ingest and queries
//! for a set time, while the process's resident memory is sampled from `/proc/<pid>/status`.
//!
//! The mix, per ten requests: three `POST /api/v1/events` (NDJSON, ten events each), two
//! `GET /api/v1/dora`, two `GET /api/v1/dora/series`, two `GET /api/v1/deployments` and one
//! `GET /metrics`. Each ingest batch holds one deployment, one commit and one incident from fixed
//! pools (re-sent, so after the first pass they are duplicates, as redeliveries are), plus four
//! CI runs and three SLI samples that are new every time — the rows a busy installation keeps
//! adding. The pacer under test first gets the `pacer demo` history (8 services, 180 days).
//!
//! The run passes when there are no errors — no non-2xx answer (wrk counts statuses above 399)
//! and no socket error (connect, read, write, timeout) — and memory is **flat**: the largest
//! resident size of the last third of the run is within 10 % of the largest of the middle third.
//! The first third is warm-up (caches fill, the allocator settles) and is not judged.
//!
//! This is a load test, not a benchmark of any one path: the figures it prints go into
//! BENCHMARKS.md ("Load and soak"), and `bench/tests/soak.rs` runs it for a short time in CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pacer_generator::{Spec, generate, to_ndjson};
use serde_json::Value;

use crate::query::start;
use crate::{fresh_postgres, fresh_sqlite, remove_sqlite, resident_mb};

/// How much the last third's peak may exceed the middle third's for memory to count as flat.
pub const FLAT_TOLERANCE: f64 = 0.10;

/// Deployments (and commits) the ingest batches cycle through.
const DEPLOYMENT_POOL: u32 = 200;

/// What a soak run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long wrk runs.
    pub duration: Duration,
    /// How often resident memory is sampled.
    pub sample_every: Duration,
    /// Open connections.
    pub connections: u32,
    /// wrk threads.
    pub threads: u32,
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The PostgreSQL server for `postgres`.
    pub admin: String,
}

/// What a soak run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Requests answered.
    pub requests: u64,
    /// Requests per second over the run.
    pub requests_per_second: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Answers with a status above 399.
    pub status_errors: u64,
    /// Connect, read, write and timeout errors.
    pub socket_errors: u64,
    /// Resident memory samples in MB, in order.
    pub rss_mb: Vec<f64>,
}

impl Outcome {
    /// Every error: non-2xx answers and socket errors.
    pub fn errors(&self) -> u64 {
        self.status_errors + self.socket_errors
    }

    /// The largest sample of the middle and of the last third.
    pub fn thirds(&self) -> (f64, f64) {
        let n = self.rss_mb.len();
        let peak = |s: &[f64]| s.iter().copied().fold(f64::NAN, f64::max);
        (peak(&self.rss_mb[n / 3..2 * n / 3]), peak(&self.rss_mb[2 * n / 3..]))
    }

    /// Whether memory stayed flat (see the module docs).
    pub fn flat(&self) -> bool {
        let (middle, last) = self.thirds();
        self.rss_mb.len() >= 6 && last <= middle * (1.0 + FLAT_TOLERANCE)
    }

    /// Whether the run passed: no errors and flat memory.
    pub fn passed(&self) -> bool {
        self.requests > 0 && self.errors() == 0 && self.flat()
    }
}

/// The flags of `soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long wrk runs, in minutes (10 when neither this nor --seconds is given).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = crate::positive::<u64>)]
    pub minutes: Option<u64>,
    /// How long wrk runs, in seconds (wins over --minutes).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = crate::positive::<u64>)]
    pub seconds: Option<u64>,
    /// Open connections.
    #[arg(long, value_name = "N", default_value_t = 8, allow_negative_numbers = true, value_parser = crate::positive::<u32>)]
    pub connections: u32,
    /// wrk threads.
    #[arg(long, value_name = "N", default_value_t = 2, allow_negative_numbers = true, value_parser = crate::positive::<u32>)]
    pub threads: u32,
    /// Seconds between resident memory samples (5; 1 for runs under two minutes).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = crate::positive::<u64>)]
    pub sample_secs: Option<u64>,
    /// The database pacer runs on.
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    pub engine: String,
}

impl SoakArgs {
    /// What a run with these flags does, on the PostgreSQL server `admin` for `postgres`.
    pub fn options(&self, admin: &str) -> Options {
        let seconds = match (self.minutes, self.seconds) {
            (_, Some(s)) => s,
            (Some(m), None) => m * 60,
            (None, None) => 600,
        };
        let sample = self.sample_secs.unwrap_or(if seconds < 120 { 1 } else { 5 });
        Options {
            duration: Duration::from_secs(seconds),
            sample_every: Duration::from_secs(sample),
            connections: self.connections,
            threads: self.threads,
            engine: self.engine.clone(),
            admin: admin.to_owned(),
        }
    }
}

/// Runs the soak and prints its figures; fails when it did not pass.
///
/// # Errors
/// wrk or pacer is missing or failed, or the run found errors or growing memory.
pub async fn run(options: &Options) -> anyhow::Result<Outcome> {
    let wrk = which("wrk").context("wrk is not installed (Debian package wrk)")?;
    let url = match options.engine.as_str() {
        "postgres" => fresh_postgres(&options.admin, "pacer_bench_soak").await?,
        _ => fresh_sqlite("bench-soak"),
    };
    let (server, _) = start(&url).await?;
    let seeded = seed(&server.base).await?;
    let script = std::env::temp_dir().join(format!("pacer-soak-{}.lua", std::process::id()));
    std::fs::write(&script, SCRIPT).context("writing the wrk script")?;
    let pid = server.child.id();
    println!(
        "<!-- soak: {}s on {}, {} connections, {} threads, {seeded} seed events, pacer pid {pid} -->",
        options.duration.as_secs(),
        options.engine,
        options.connections,
        options.threads
    );
    let outcome = drive(&wrk, &script, &server.base, pid, options).await;
    let _ = std::fs::remove_file(&script);
    drop(server);
    if url.starts_with("sqlite:") {
        // The soak's database is its own: it goes with the run (66 MB after ten minutes).
        remove_sqlite(&url);
    }
    let outcome = outcome?;
    report(&outcome, options);
    if !outcome.passed() {
        bail!("the soak did not pass: {} errors, memory flat: {}", outcome.errors(), outcome.flat());
    }
    Ok(outcome)
}

/// Runs wrk to the end, sampling pacer's resident memory meanwhile.
async fn drive(wrk: &Path, script: &Path, base: &str, pid: u32, options: &Options) -> anyhow::Result<Outcome> {
    let now = chrono::Utc::now().timestamp();
    let mut child = Command::new(wrk)
        .arg(format!("-t{}", options.threads))
        .arg(format!("-c{}", options.connections))
        .arg(format!("-d{}s", options.duration.as_secs()))
        .args(["--timeout", "30s", "--latency", "-s"])
        .arg(script)
        .arg(base)
        .args(["--", &now.to_string(), &DEPLOYMENT_POOL.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting wrk")?;
    let started = Instant::now();
    let mut rss_mb = Vec::new();
    while child.try_wait()?.is_none() {
        rss_mb.push(resident_mb(pid).context("pacer exited during the soak")?);
        tokio::time::sleep(options.sample_every).await;
        ensure!(started.elapsed() < options.duration + Duration::from_secs(120), "wrk did not finish");
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "wrk failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().find(|l| l.starts_with("{\"soak\"")).with_context(|| format!("wrk printed no summary: {stdout}"))?;
    let summary: Value = serde_json::from_str(line).context("wrk's summary is JSON")?;
    let field = |name: &str| summary[name].as_f64().unwrap_or(f64::NAN);
    let count = |name: &str| summary[name].as_u64().unwrap_or(0);
    Ok(Outcome {
        requests: count("requests"),
        requests_per_second: field("requests") / (field("duration_us") / 1e6),
        p50_ms: field("p50_us") / 1e3,
        p99_ms: field("p99_us") / 1e3,
        status_errors: count("status"),
        socket_errors: count("connect") + count("read") + count("write") + count("timeout"),
        rss_mb,
    })
}

fn report(outcome: &Outcome, options: &Options) {
    let (middle, last) = outcome.thirds();
    let first = outcome.rss_mb.first().copied().unwrap_or(f64::NAN);
    println!("\n| soak ({} s, {}, {} connections) | figure |", options.duration.as_secs(), options.engine, options.connections);
    println!("|---|---|");
    println!("| requests | {} |", outcome.requests);
    println!("| requests/s | {:.0} |", outcome.requests_per_second);
    println!("| latency p50 / p99 | {:.1} ms / {:.1} ms |", outcome.p50_ms, outcome.p99_ms);
    println!("| errors (non-2xx + socket) | {} ({} + {}) |", outcome.errors(), outcome.status_errors, outcome.socket_errors);
    println!(
        "| resident memory: first sample / middle-third peak / last-third peak | {first:.1} MB / {middle:.1} MB / {last:.1} MB ({} samples every {} s) |",
        outcome.rss_mb.len(),
        options.sample_every.as_secs()
    );
    println!("| verdict | {} |", if outcome.passed() { "pass" } else { "FAIL" });
    // Every sample, rounded, so a reader can see the shape and not only the peaks.
    let samples: Vec<String> = outcome.rss_mb.iter().map(|mb| format!("{mb:.0}")).collect();
    println!("\n<!-- resident MB every {} s: {} -->", options.sample_every.as_secs(), samples.join(" "));
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// Loads the `pacer demo` history over HTTP; returns how many events it sent.
async fn seed(base: &str) -> anyhow::Result<usize> {
    let lines: Vec<String> = generate(&Spec::demo(pacer_api::now())).map(|fact| to_ndjson(&fact)).collect();
    let client = reqwest::Client::new();
    for batch in lines.chunks(1_000) {
        let response = client
            .post(format!("{base}/api/v1/events"))
            .header("content-type", "application/x-ndjson")
            .body(batch.join("\n"))
            .send()
            .await?;
        let status = response.status();
        ensure!(status.is_success(), "seeding failed: {status} {}", response.text().await.unwrap_or_default());
    }
    Ok(lines.len())
}

/// The wrk script: the request mix, and a JSON summary line at the end. Arguments: the current
/// time (epoch seconds) and the deployment pool size.
const SCRIPT: &str = r#"
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

local now, pool, n = 0, 200, 0
local function at(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

function init(args)
  now = tonumber(args[1])
  pool = tonumber(args[2])
end

local queries = {
  "/api/v1/dora?from=now-30d",
  "/api/v1/dora/series?from=now-90d&interval=week&metric=lead_time",
  "/api/v1/deployments?limit=50",
  "/api/v1/dora?from=now-90d&service=soak-svc-1",
  "/api/v1/dora/series?from=now-30d&interval=day",
  "/api/v1/deployments?limit=20&status=success",
  "/metrics",
}

local function batch()
  local d = n % pool
  local finished = now - 3600 * (pool - d)
  local service = "soak-svc-" .. (d % 10)
  local lines = {
    string.format('{"type":"commit","id":"soak-c%d","committed_at":"%s","repository":"soak/%s"}', d, at(finished - 1800), service),
    string.format('{"type":"deployment","id":"soak-d%d","service":"%s","commit_sha":"soak-c%d","status":"success","started_at":"%s","finished_at":"%s"}',
      d, service, d, at(finished - 300), at(finished)),
    string.format('{"type":"incident","id":"soak-i%d","service":"%s","opened_at":"%s","resolved_at":"%s"}', d % 20, service, at(finished + 600), at(finished + 2400)),
  }
  local t = os.time()
  for i = 1, 4 do
    table.insert(lines, string.format('{"type":"ci_run","id":"soak-r%d-%d-%d","pipeline":"build","status":"success","started_at":"%s","finished_at":"%s","repository":"soak/%s"}',
      tid, n, i, at(t - 120), at(t), service))
  end
  for i = 1, 3 do
    table.insert(lines, string.format('{"type":"sli","service":"%s","at":"%s","good":%d,"total":1000}', service, at(t), 990 + i))
  end
  return table.concat(lines, "\n")
end

function request()
  n = n + 1
  local k = n % 10
  if k < 3 then
    return wrk.format("POST", "/api/v1/events", {["Content-Type"] = "application/x-ndjson"}, batch())
  end
  return wrk.format("GET", queries[(n % #queries) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"soak":1,"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#;
