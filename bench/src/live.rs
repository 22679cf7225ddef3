//! Live: the query benchmark's data set, then a steady mixed stream of new facts while a query
//! load runs, the way users run pacer — Grafana refreshing its panels while the Git host, the CI
//! and the deployer keep sending.
//!
//! The stream runs against a process started the way pacer starts every day: a first start on
//! the set is stopped with SIGTERM (it writes its analysis's snapshot), and the process that
//! serves the stream starts from that snapshot. After the stream it is stopped the same way, and
//! one more start without a snapshot (`PACER_ANALYSIS_SNAPSHOT_SECS=0`) times reading the whole
//! history, for comparison.
//!
//! The stream, one event per POST at `--rate` facts a second (20 by default), cycles through
//! the services: a change is two new commits on the service's tip (the second with its parent),
//! a pull request opened, reviewed and merged as the second commit, and the deployment of it,
//! first in progress and then successful. Some facts come late and out of order: one change in
//! five sends its commits after its deployment, one in seven is deployed with a finish time an
//! hour back, one in four sends its pull request's first commit time after the deployment, and one in six
//! opens an incident on the service that is resolved twelve facts later. Meanwhile two clients
//! each send a query every 100 ms, cycling through `/api/v1/dora` and weekly `/dora/series`
//! for all services, one team and one service over 30, 90 and 365 days (the query benchmark's
//! set), `/grafana/query` and the web page. A prober times each deployment's freshness: from
//! the `200` of its POST to its first appearance in `/api/v1/dora` and in `/dora/series`. The
//! process's resident memory is sampled every second.
//!
//! ```text
//! pacer-bench live --size medium --engine postgres [--rate 20] [--minutes 10] [--reuse]
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pacer_engine::model::{HOUR, MINUTE};
use pacer_generator::{Spec, services};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::query::{Engine, first_answer, made_whole, start_with};
use crate::{Size, peak_resident_mb, percentile_ms, resident_mb};

/// What a live run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// How much data.
    pub size: Size,
    /// Which database.
    pub engine: Engine,
    /// The PostgreSQL server.
    pub admin: String,
    /// Use the data set an earlier `query` or `live` run loaded.
    pub reuse: bool,
    /// Facts a second in the stream.
    pub rate: f64,
    /// How long the stream runs.
    pub duration: Duration,
}

/// The flags of `live`.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// The database pacer runs on.
    #[arg(long, value_enum, default_value_t = Engine::Postgres)]
    pub engine: Engine,
    /// Keep the data set an earlier `query` or `live` run loaded instead of loading a fresh one.
    #[arg(long)]
    pub reuse: bool,
    /// Facts a second in the stream.
    #[arg(long, value_name = "FACTS_PER_SEC", default_value_t = 20.0, allow_negative_numbers = true, value_parser = crate::positive::<f64>)]
    pub rate: f64,
    /// How long the stream runs, in minutes.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true, value_parser = crate::positive::<f64>)]
    pub minutes: f64,
}

impl LiveArgs {
    /// What a run with these flags does, on the `size` data set and the PostgreSQL server `admin`.
    pub fn options(&self, size: Size, admin: &str) -> Options {
        Options {
            size,
            engine: self.engine,
            admin: admin.to_owned(),
            reuse: self.reuse,
            rate: self.rate,
            duration: Duration::from_secs_f64(self.minutes * 60.0),
        }
    }
}

/// Latencies by what was asked, and every failed request.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<String, Vec<Duration>>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn record(&mut self, kind: &str, took: Duration, ok: bool) {
        if ok {
            self.latencies.entry(kind.to_owned()).or_default().push(took);
        } else {
            *self.errors.entry(kind.to_owned()).or_default() += 1;
        }
    }
}

/// Runs the live benchmark and prints its tables.
///
/// # Errors
/// The database or the server failed to start.
pub async fn run(options: &Options) -> anyhow::Result<()> {
    let Options { size, engine, ref admin, reuse, rate, duration } = *options;
    let (url, spec) = crate::query::loaded(size, engine, admin, reuse, false).await?;
    let tips = tips(&url, &spec).await?;

    let client = reqwest::Client::builder().pool_max_idle_per_host(8).build()?;
    // The first start on the set, stopped as an operator stops it (it writes its snapshot); then
    // the start users have every day after that, from the snapshot, which serves the stream.
    let first = Start::timed(&client, &url, &[]).await?;
    eprintln!("first start: ready after {} ms, first answer after {:.1} s ({})", first.ready.as_millis(), first.answer.as_secs_f64(), first.from);
    let first_stop = first.server.stop().await?;
    let Start { server, ready, answer: cold, from: cold_from, peak: cold_peak } = Start::timed(&client, &url, &[]).await?;
    eprintln!("restart: ready after {} ms, first answer after {:.2} s ({cold_from})", ready.as_millis(), cold.as_secs_f64());
    let base = server.base.clone();
    let pid = server.child.id();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let deployed = Arc::new(AtomicU64::new(0));
    let (probe, probes) = tokio::sync::mpsc::unbounded_channel::<(String, i64, Instant)>();
    let all = services(&spec);
    let team = all.first().map(|(_, t)| t.clone()).unwrap_or_default();
    let one = all.first().map(|(s, _)| s.clone()).unwrap_or_default();

    let mut tasks = tokio::task::JoinSet::new();
    // Memory.
    let rss: Arc<Mutex<Vec<f64>>> = Arc::default();
    {
        let (rss, stop) = (Arc::clone(&rss), Arc::clone(&stop));
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(mb) = resident_mb(pid) {
                    rss.lock().await.push(mb);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    // Queries.
    let kinds = query_kinds(&team, &one);
    for client_no in 0..2 {
        let (client, base, tally, stop, kinds) = (client.clone(), base.clone(), Arc::clone(&tally), Arc::clone(&stop), kinds.clone());
        tasks.spawn(async move {
            let mut next = client_no;
            while !stop.load(Ordering::Relaxed) {
                let (kind, request) = &kinds[next % kinds.len()];
                next += 1;
                let started = Instant::now();
                let ok = request.send(&client, &base).await;
                tally.lock().await.record(kind, started.elapsed(), ok);
                tokio::time::sleep(Duration::from_millis(100).saturating_sub(started.elapsed())).await;
            }
        });
    }
    // Freshness.
    let freshness: Arc<Mutex<(Vec<Duration>, Vec<Duration>)>> = Arc::default();
    {
        let (client, base, freshness, tally) = (client.clone(), base.clone(), Arc::clone(&freshness), Arc::clone(&tally));
        tasks.spawn(probe_freshness(client, base, probes, freshness, tally));
    }
    // The stream.
    let sent = {
        let (client, base, tally, deployed) = (client.clone(), base.clone(), Arc::clone(&tally), Arc::clone(&deployed));
        tokio::spawn(stream(client, base, tips, rate, duration, tally, probe, deployed))
    };
    let facts = sent.await??;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let peak = peak_resident_mb(pid).unwrap_or(f64::NAN);
    let (anonymous, file) = (crate::status_mb(pid, "RssAnon:").unwrap_or(f64::NAN), crate::status_mb(pid, "RssFile:").unwrap_or(f64::NAN));
    let held = Held::read(&client, &base).await;
    let stopping = server.stop().await?;
    // The same start without a snapshot, for comparison.
    let history = Start::timed(&client, &url, &[("PACER_ANALYSIS_SNAPSHOT_SECS", "0")]).await?;
    drop(history.server);

    let tally = tally.lock().await;
    let minutes = duration.as_secs_f64() / 60.0;
    println!(
        "\n| live on {} ({} services, {} deployments, {} commits; {:.0} min, {facts} facts at {rate} facts/s, {} deployments) | p50 | p99 | requests | errors | target |",
        engine.name(),
        size.services,
        size.deployments,
        size.commits,
        minutes,
        deployed.load(Ordering::Relaxed)
    );
    println!("|---|---|---|---|---|---|");
    for (kind, samples) in &tally.latencies {
        let mut samples = samples.clone();
        let errors = tally.errors.get(kind).copied().unwrap_or(0);
        let target = if kind.starts_with("POST") { "—" } else { "p99 < 100 ms" };
        println!("| {kind} | {:.1} ms | {:.1} ms | {} | {errors} | {target} |", percentile_ms(&mut samples, 0.5), percentile_ms(&mut samples, 0.99), samples.len());
    }
    for (kind, errors) in tally.errors.iter().filter(|(k, _)| !tally.latencies.contains_key(*k)) {
        println!("| {kind} | — | — | 0 | {errors} | |");
    }
    let (mut summary, mut series) = freshness.lock().await.clone();
    println!("| freshness: `200` of a deployment → counted in `/api/v1/dora` | {:.0} ms | {:.0} ms | {} | | p99 ≤ 2 s |", percentile_ms(&mut summary, 0.5), percentile_ms(&mut summary, 0.99), summary.len());
    println!("| freshness: `200` of a deployment → counted in `/dora/series` | {:.0} ms | {:.0} ms | {} | | p99 ≤ 2 s |", percentile_ms(&mut series, 0.5), percentile_ms(&mut series, 0.99), series.len());
    let rss = rss.lock().await.clone();
    let steady = {
        let mut last_half: Vec<f64> = rss[rss.len() / 2..].to_vec();
        last_half.sort_by(f64::total_cmp);
        last_half.get(last_half.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let minute = |m: usize| rss.get(m * 60).or(rss.last()).copied().unwrap_or(f64::NAN);
    println!("\n| process ({}) | figure | target |\n|---|---|---|", engine.name());
    println!("| start to ready | {} ms | ≤ 200 ms |", ready.as_millis());
    println!("| first start on the set: first answer ({}) / stop on SIGTERM (writes the snapshot) | {:.2} s / {:.2} s | |", first.from, first.answer.as_secs_f64(), first_stop.as_secs_f64());
    println!("| first answer after the start ({cold_from}) | {:.2} s | ≤ 5 s |", cold.as_secs_f64());
    println!("| peak resident (`VmHWM`) at the first answer | {cold_peak:.0} MB | ≤ 300 MB |");
    println!("| stop on SIGTERM after the stream (writes the snapshot) | {:.2} s | |", stopping.as_secs_f64());
    println!(
        "| a start without a snapshot (`PACER_ANALYSIS_SNAPSHOT_SECS=0`): ready / first answer ({}) / peak resident | {} ms / {:.2} s / {:.0} MB | ≤ 200 ms / ≤ 5 s / ≤ 300 MB |",
        history.from,
        history.ready.as_millis(),
        history.answer.as_secs_f64(),
        history.peak
    );
    println!("| resident, median of the second half | {steady:.0} MB | ≤ 150 MB |");
    println!("| resident at minutes 0, 1, 5 and the end | {:.0} / {:.0} / {:.0} / {:.0} MB | |", minute(0), minute(1), minute(5), rss.last().copied().unwrap_or(f64::NAN));
    println!("| resident at the end: anonymous / file-backed | {anonymous:.0} / {file:.0} MB | |");
    println!(
        "| at the end, by `/metrics`: the analysis's heap / the allocator's allocated, active, metadata, resident | {:.0} / {:.0}, {:.0}, {:.0}, {:.0} MB | |",
        held.analysis, held.allocated, held.active, held.metadata, held.resident
    );
    println!("| peak resident (`VmHWM`) | {peak:.0} MB | ≤ 300 MB |");
    println!("| errors, every request | {} | 0 |", tally.errors.values().sum::<u64>());
    Ok(())
}

/// What the process holds by its own account (`/metrics`), in MB: the analysis's heap, and
/// what its allocator has handed out and keeps. NaN for a figure it does not report.
struct Held {
    analysis: f64,
    allocated: f64,
    active: f64,
    metadata: f64,
    resident: f64,
}

impl Held {
    async fn read(client: &reqwest::Client, base: &str) -> Self {
        let body = match client.get(format!("{base}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        // The sum of a metric's samples whose name and labels start with `prefix`.
        let mb = |prefix: &str| {
            let values: Vec<f64> = body.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse().ok()).collect();
            if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / (1024.0 * 1024.0) }
        };
        let kind = |k: &str| mb(&format!("pacer_allocator_bytes{{kind=\"{k}\"}}"));
        Self { analysis: mb("pacer_analysis_bytes{"), allocated: kind("allocated"), active: kind("active"), metadata: kind("metadata"), resident: kind("resident") }
    }
}

/// A started `pacer serve` and how its start went.
struct Start {
    server: crate::query::Server,
    /// From the process's start to `/readyz`.
    ready: Duration,
    /// From ready to the first `/api/v1/dora` answer.
    answer: Duration,
    /// What the analysis was made from: the snapshot or the history.
    from: &'static str,
    /// The process's peak resident memory at the first answer, in MB.
    peak: f64,
}

impl Start {
    /// Starts `pacer serve` on `url` with `env`, and times its first answer.
    async fn timed(client: &reqwest::Client, url: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let (server, ready) = start_with(url, None, env).await?;
        let started = Instant::now();
        first_answer(client, &format!("{}/api/v1/dora", server.base)).await?;
        let answer = started.elapsed();
        let peak = peak_resident_mb(server.child.id()).unwrap_or(f64::NAN);
        let from = if made_whole(client, &server.base, "snapshot").await? > 0 { "from the snapshot" } else { "built from the history" };
        Ok(Self { server, ready, answer, from, peak })
    }
}

/// A request of the query load.
#[derive(Clone)]
enum Request {
    Get(String),
    Post(String, Value),
}

impl Request {
    /// Sends it; whether it answered `2xx` with its whole body.
    async fn send(&self, client: &reqwest::Client, base: &str) -> bool {
        let sent = match self {
            Self::Get(path) => client.get(format!("{base}{path}")).send().await,
            Self::Post(path, body) => client.post(format!("{base}{path}")).json(body).send().await,
        };
        match sent {
            Ok(answer) if answer.status().is_success() => answer.bytes().await.is_ok(),
            _ => false,
        }
    }
}

/// The query load: the query benchmark's summaries and weekly series, a Grafana query and the page.
fn query_kinds(team: &str, one: &str) -> Vec<(String, Request)> {
    let mut kinds = Vec::new();
    for (label, query) in [("all services", String::new()), ("one team", format!("&team={team}")), ("one service", format!("&service={one}"))] {
        for days in [30, 90, 365] {
            kinds.push((format!("`/api/v1/dora`, {label}, {days} d"), Request::Get(format!("/api/v1/dora?from=now-{days}d&to=now{query}"))));
            kinds.push((
                format!("`/dora/series` weekly, {label}, {days} d"),
                Request::Get(format!("/api/v1/dora/series?from=now-{days}d&to=now&interval=week{query}")),
            ));
        }
    }
    let target = |name: &str| json!({"refId": "A", "target": name, "payload": {"environment": "production", "mode": "window"}});
    let grafana = json!({"range": {"from": "now-30d", "to": "now"}, "interval": "1d", "targets": [target("deployment_frequency"), target("lead_time_median_seconds"), target("change_failure_rate")]});
    kinds.push(("`/grafana/query`, three panels, 30 d".to_owned(), Request::Post("/grafana/query".to_owned(), grafana)));
    kinds.push(("the page `/`, 30 d".to_owned(), Request::Get("/".to_owned())));
    kinds
}

/// Each service's latest deployed commit: where the stream's changes start.
async fn tips(url: &str, spec: &Spec) -> anyhow::Result<Vec<(String, String)>> {
    let store = pacer::app::open_store(url).await?;
    let mut tips = Vec::new();
    for (service, _) in services(spec) {
        let page = store
            .deployments(&pacer_store::ListQuery {
                environment: "production".into(),
                services: Some(vec![service.clone()]),
                status: Some("success".into()),
                limit: 1,
                ..pacer_store::ListQuery::default()
            })
            .await?;
        if let Some(sha) = page.items.iter().find_map(|d| d.commit_sha.clone()) {
            tips.push((service, sha));
        }
    }
    store.close().await;
    anyhow::ensure!(!tips.is_empty(), "the data set has no deployments");
    Ok(tips)
}

/// Sends the stream for `duration`; returns how many facts it sent. Each deployment's `200` is
/// handed to the prober.
#[allow(clippy::too_many_arguments)]
async fn stream(
    client: reqwest::Client,
    base: String,
    mut tips: Vec<(String, String)>,
    rate: f64,
    duration: Duration,
    tally: Arc<Mutex<Tally>>,
    probe: tokio::sync::mpsc::UnboundedSender<(String, i64, Instant)>,
    deployed: Arc<AtomicU64>,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut sent = 0u64;
    let mut change = 0usize;
    // Incidents to resolve, each after so many more facts.
    let mut open: Vec<(Value, u64)> = Vec::new();
    let run = format!("{:x}", pacer_api::now());
    while started.elapsed() < duration {
        let k = change % tips.len();
        let (service, tip) = tips[k].clone();
        let now = pacer_api::now();
        let at = |ms: i64| pacer_engine::calendar::rfc3339(now + ms);
        let first = format!("{run}{change:x}a").chars().rev().collect::<String>();
        let second = format!("{run}{change:x}b").chars().rev().collect::<String>();
        let late_commits = change.is_multiple_of(5);
        let backdated = change % 7 == 3;
        let late_start = change % 4 == 1;
        let finished = if backdated { now - HOUR } else { now };
        let commits = vec![
            json!({"type": "commit", "id": first, "committed_at": at(-30 * MINUTE), "repository": format!("bench/{service}"), "parents": [tip]}),
            json!({"type": "commit", "id": second, "committed_at": at(-20 * MINUTE), "repository": format!("bench/{service}"), "parents": [first]}),
        ];
        let pr = |extra: Value| {
            let mut pr = json!({"type": "pull_request", "id": format!("live-{run}-{change}"), "repository": format!("bench/{service}"), "number": change,
                "opened_at": at(-25 * MINUTE)});
            if let (Some(pr), Some(extra)) = (pr.as_object_mut(), extra.as_object()) {
                pr.extend(extra.clone());
            }
            pr
        };
        let deployment = |status: &str| {
            let mut d = json!({"type": "deployment", "id": format!("live-{run}-{change}"), "service": service, "environment": "production",
                "commit_sha": second, "status": status, "started_at": pacer_engine::calendar::rfc3339(finished - MINUTE)});
            if status == "success" {
                d["finished_at"] = json!(pacer_engine::calendar::rfc3339(finished));
            }
            d
        };
        let mut events = Vec::new();
        if !late_commits {
            events.extend(commits.clone());
        }
        events.push(pr(json!({})));
        events.push(pr(json!({"first_review_at": at(-15 * MINUTE)})));
        let merged = json!({"merged_at": at(-10 * MINUTE), "merge_commit_sha": second});
        events.push(pr(if late_start { merged.clone() } else { json!({"merged_at": at(-10 * MINUTE), "merge_commit_sha": second, "first_commit_at": at(-40 * MINUTE)}) }));
        events.push(deployment("in_progress"));
        events.push(deployment("success"));
        if late_commits {
            events.extend(commits);
        }
        if late_start {
            events.push(pr(json!({"first_commit_at": at(-40 * MINUTE)})));
        }
        if change % 6 == 2 {
            open.push((json!({"type": "incident", "id": format!("live-{run}-i{change}"), "service": service, "opened_at": at(0)}), sent + events.len() as u64 + 12));
            events.push(open.last().map(|(i, _)| i.clone()).unwrap_or_default());
        }
        for event in events {
            let due = started + every * u32::try_from(sent).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due.into()).await;
            // Resolve the incidents whose time has come.
            let (due_now, later): (Vec<_>, Vec<_>) = open.drain(..).partition(|(_, at)| *at <= sent);
            open = later;
            for (mut incident, _) in due_now {
                incident["resolved_at"] = json!(pacer_engine::calendar::rfc3339(pacer_api::now()));
                post(&client, &base, &incident, &tally).await;
                sent += 1;
            }
            let is_success = event["type"] == "deployment" && event["status"] == "success";
            let ok = post(&client, &base, &event, &tally).await;
            sent += 1;
            if ok && is_success {
                deployed.fetch_add(1, Ordering::Relaxed);
                let _ = probe.send((service.clone(), finished, Instant::now()));
            }
            if started.elapsed() >= duration {
                break;
            }
        }
        tips[k].1 = second;
        change += 1;
    }
    Ok(sent)
}

/// Posts one event; whether it was stored.
async fn post(client: &reqwest::Client, base: &str, event: &Value, tally: &Mutex<Tally>) -> bool {
    let started = Instant::now();
    let ok = matches!(client.post(format!("{base}/api/v1/events")).json(event).send().await, Ok(r) if r.status().is_success());
    tally.lock().await.record("POST `/api/v1/events` (one event)", started.elapsed(), ok);
    ok
}

/// Times each deployment from its `200` to its first appearance in the summary and in the
/// series of its service, over a one-second window around its finish time.
async fn probe_freshness(
    client: reqwest::Client,
    base: String,
    mut probes: tokio::sync::mpsc::UnboundedReceiver<(String, i64, Instant)>,
    freshness: Arc<Mutex<(Vec<Duration>, Vec<Duration>)>>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut pending = tokio::task::JoinSet::new();
    while let Some((service, finished, stored)) = probes.recv().await {
        let (client, base, freshness, tally) = (client.clone(), base.clone(), Arc::clone(&freshness), Arc::clone(&tally));
        pending.spawn(async move {
            let window = |path: &str| {
                format!(
                    "{base}{path}from={}&to={}&service={service}",
                    pacer_engine::calendar::rfc3339(finished).replace('+', "%2B"),
                    pacer_engine::calendar::rfc3339(finished + 1).replace('+', "%2B")
                )
            };
            let (mut summary, mut series) = (None, None);
            while (summary.is_none() || series.is_none()) && stored.elapsed() < Duration::from_secs(60) {
                if summary.is_none() && counted(&client, &window("/api/v1/dora?"), &tally).await {
                    summary = Some(stored.elapsed());
                }
                if series.is_none() && counted(&client, &window("/api/v1/dora/series?interval=day&"), &tally).await {
                    series = Some(stored.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut f = freshness.lock().await;
            f.0.push(summary.unwrap_or(Duration::from_secs(60)));
            f.1.push(series.unwrap_or(Duration::from_secs(60)));
        });
    }
    while pending.join_next().await.is_some() {}
}

/// Whether the answer at `url` counts a deployment.
async fn counted(client: &reqwest::Client, url: &str, tally: &Mutex<Tally>) -> bool {
    let answer = match client.get(url).send().await {
        Ok(a) if a.status().is_success() => a.json::<Value>().await.ok(),
        _ => None,
    };
    let Some(answer) = answer else {
        tally.lock().await.record("freshness probe", Duration::ZERO, false);
        return false;
    };
    let deployments = |s: &Value| s["deployment_frequency"]["deployments"].as_u64().unwrap_or(0);
    match answer["buckets"].as_array() {
        Some(buckets) => buckets.iter().map(deployments).sum::<u64>() > 0,
        None => deployments(&answer) > 0,
    }
}
