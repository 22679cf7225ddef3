//! Ingest: native events over HTTP against a raw batched insert of the same rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pacer::config::{Overrides, Settings};
use pacer_engine::model::Fact;
use pacer_generator::{Spec, generate, to_ndjson};
use pacer_store::Store;

use crate::{Size, fresh_postgres, fresh_sqlite, remove_sqlite};

/// Events per request and per reference statement.
pub const BATCH: usize = 500;
/// Concurrent clients (and concurrent reference writers).
pub const CLIENTS: usize = 4;

/// The facts of the ingest benchmark: the first events of the benchmark data set.
pub fn facts(size: Size) -> Vec<Fact> {
    let mut spec = Spec::benchmark(pacer_api::now(), size.services, size.deployments, size.commits);
    spec.listed_commits_share = 1.0;
    generate(&spec).take(size.ingest_events).collect()
}

/// Runs the ingest benchmark on SQLite and PostgreSQL.
///
/// # Errors
/// A database or the server failed.
pub async fn run(size: Size, admin: &str) -> anyhow::Result<()> {
    let facts = Arc::new(facts(size));
    let lines: Arc<Vec<String>> = Arc::new(facts.iter().map(to_ndjson).collect());
    println!("\n| ingest ({} events, batches of {BATCH}, {CLIENTS} clients) | pacer over HTTP | raw batched insert | ratio | target |", facts.len());
    println!("|---|---|---|---|---|");
    for engine in ["sqlite", "postgres"] {
        let (http_url, raw_url) = match engine {
            "sqlite" => (fresh_sqlite("bench-ingest-http"), fresh_sqlite("bench-ingest-raw")),
            _ => (fresh_postgres(admin, "pacer_bench_ingest_http").await?, fresh_postgres(admin, "pacer_bench_ingest_raw").await?),
        };
        let http = over_http(&http_url, Arc::clone(&lines)).await?;
        let raw = raw_insert(&raw_url, Arc::clone(&facts)).await?;
        let rate = |d: Duration| facts.len() as f64 / d.as_secs_f64();
        println!(
            "| {engine} | {:.0} events/s | {:.0} rows/s | {:.2} | ≥ 0.50 |",
            rate(http),
            rate(raw),
            raw.as_secs_f64() / http.as_secs_f64()
        );
        if engine == "sqlite" {
            remove_sqlite(&http_url);
            remove_sqlite(&raw_url);
        }
    }
    Ok(())
}

async fn over_http(url: &str, lines: Arc<Vec<String>>) -> anyhow::Result<Duration> {
    let overrides = Overrides { listen: Some("127.0.0.1:0".into()), database_url: Some(url.to_owned()) };
    let settings = Settings::load(None, &crate::unthrottled(), &overrides).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let app = pacer::app::Application::build(&settings).await?;
    let base = format!("http://{}", app.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let took = post_round_robin(&[base], &lines).await;
    // Stopped before the reference runs: its analysis would otherwise go on catching up beside it.
    let _ = stop.send(());
    serving.await??;
    took
}

/// Posts `lines` as NDJSON batches of [`BATCH`] from [`CLIENTS`] concurrent clients, batch `i` to
/// `bases[i % bases.len()]`; returns the time it took.
///
/// # Errors
/// A request failed or was refused.
pub async fn post_round_robin(bases: &[String], lines: &[String]) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let batches: Arc<Vec<String>> = Arc::new(lines.chunks(BATCH).map(|c| c.join("\n")).collect());
    let bases = Arc::new(bases.to_vec());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CLIENTS {
        let (client, bases, batches) = (client.clone(), Arc::clone(&bases), Arc::clone(&batches));
        tasks.spawn(async move {
            for (i, body) in batches.iter().enumerate().skip(worker).step_by(CLIENTS) {
                let base = &bases[i % bases.len()];
                let response = client
                    .post(format!("{base}/api/v1/events"))
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "ingest failed: {}", response.text().await?);
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

/// Inserts the facts' rows with multi-row INSERTs, `BATCH` rows a statement: every column a
/// fact has, with no upsert logic, no raw payload and empty bookkeeping (fingerprint, update
/// time), which are pacer's own work.
macro_rules! insert_batch {
    ($pool:expr, $chunk:expr) => {{
        let mut deployments = Vec::new();
        let mut shipped = Vec::new();
        let mut commits = Vec::new();
        let mut parents = Vec::new();
        let mut pulls = Vec::new();
        let mut incidents = Vec::new();
        for fact in $chunk {
            match fact {
                Fact::Deployment(d) => {
                    for (i, c) in d.commits.iter().enumerate() {
                        shipped.push((d.id.clone(), i as i64, c.sha.clone(), c.committed_at, c.authored_at));
                    }
                    deployments.push(d.clone());
                }
                Fact::Commit(c) => {
                    for (i, p) in c.parents.iter().enumerate() {
                        parents.push((c.sha.clone(), i as i64, p.clone()));
                    }
                    commits.push(c.clone());
                }
                Fact::PullRequest(p) => pulls.push(p.clone()),
                Fact::Incident(i) => incidents.push(i.clone()),
                _ => {}
            }
        }
        let mut tx = $pool.begin().await?;
        if !commits.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO commits (sha, committed_at, repository, service, authored_at, author, message, fingerprint, updated_at) ",
            );
            q.push_values(&commits, |mut b, c| {
                b.push_bind(c.sha.clone())
                    .push_bind(c.committed_at)
                    .push_bind(c.repository.clone())
                    .push_bind(c.service.clone())
                    .push_bind(c.authored_at)
                    .push_bind(c.author.clone())
                    .push_bind(c.message.clone())
                    .push_bind("")
                    .push_bind(0i64);
            });
            q.build().execute(&mut *tx).await?;
        }
        if !parents.is_empty() {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO commit_parents (sha, position, parent_sha) ");
            q.push_values(&parents, |mut b, (sha, i, p)| {
                b.push_bind(sha.clone()).push_bind(*i).push_bind(p.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        if !deployments.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO deployments (id, service, environment, version, commit_sha, status, status_rank, started_at, finished_at, \
                 rollback_of, unplanned, team, url, listed_at, fingerprint, updated_at) ",
            );
            q.push_values(&deployments, |mut b, d| {
                b.push_bind(d.id.clone())
                    .push_bind(d.service.clone())
                    .push_bind(d.environment.clone())
                    .push_bind(d.version.clone())
                    .push_bind(d.commit_sha.clone())
                    .push_bind(d.status.as_str())
                    .push_bind(d.status.rank())
                    .push_bind(d.started_at)
                    .push_bind(d.finished_at)
                    .push_bind(d.rollback_of.clone())
                    .push_bind(d.unplanned)
                    .push_bind(d.team.clone())
                    .push_bind(d.url.clone())
                    .push_bind(d.finished_at.unwrap_or(0))
                    .push_bind("")
                    .push_bind(0i64);
            });
            q.build().execute(&mut *tx).await?;
        }
        if !shipped.is_empty() {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO deployment_commits (deployment_id, position, sha, committed_at, authored_at) ");
            q.push_values(&shipped, |mut b, (d, i, sha, at, authored)| {
                b.push_bind(d.clone()).push_bind(*i).push_bind(sha.clone()).push_bind(*at).push_bind(*authored);
            });
            q.build().execute(&mut *tx).await?;
        }
        if !pulls.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO pull_requests (id, repository, number, opened_at, service, author, first_commit_at, first_review_at, \
                 approved_at, merged_at, closed_at, merge_commit_sha, additions, deletions, head_sha, base_sha, fingerprint, updated_at) ",
            );
            q.push_values(&pulls, |mut b, p| {
                b.push_bind(p.id.clone())
                    .push_bind(p.repository.clone())
                    .push_bind(p.number)
                    .push_bind(p.opened_at)
                    .push_bind(p.service.clone())
                    .push_bind(p.author.clone())
                    .push_bind(p.first_commit_at)
                    .push_bind(p.first_review_at)
                    .push_bind(p.approved_at)
                    .push_bind(p.merged_at)
                    .push_bind(p.closed_at)
                    .push_bind(p.merge_commit_sha.clone())
                    .push_bind(p.additions)
                    .push_bind(p.deletions)
                    .push_bind(p.head_sha.clone())
                    .push_bind(p.base_sha.clone())
                    .push_bind("")
                    .push_bind(0i64);
            });
            q.build().execute(&mut *tx).await?;
        }
        if !incidents.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO incidents (id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, \
                 commit_sha, status_rank, fingerprint, updated_at) ",
            );
            q.push_values(&incidents, |mut b, i| {
                b.push_bind(i.id.clone())
                    .push_bind(i.service.clone())
                    .push_bind(i.environment.clone())
                    .push_bind(i.opened_at)
                    .push_bind(i.resolved_at)
                    .push_bind(i.severity.clone())
                    .push_bind(i.title.clone())
                    .push_bind(i.url.clone())
                    .push_bind(i.deployment_id.clone())
                    .push_bind(i.commit_sha.clone())
                    .push_bind(i.rank())
                    .push_bind("")
                    .push_bind(0i64);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }};
}

async fn raw_insert(url: &str, facts: Arc<Vec<Fact>>) -> anyhow::Result<Duration> {
    let store = pacer::app::open_store(url).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let chunks = facts.len().div_ceil(BATCH);
    for worker in 0..CLIENTS {
        let (store, facts) = (store.clone(), Arc::clone(&facts));
        tasks.spawn(async move {
            for index in (worker..chunks).step_by(CLIENTS) {
                let chunk = &facts[index * BATCH..((index + 1) * BATCH).min(facts.len())];
                match &store {
                    // The same writing connection and queue pacer's writers take, so that
                    // neither side sleeps in SQLite's busy handler.
                    Store::Sqlite(_, queue) => {
                        let writer = queue.turn().await;
                        insert_batch!(&*writer, chunk)
                    }
                    Store::Postgres(pool) => insert_batch!(pool, chunk),
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}
