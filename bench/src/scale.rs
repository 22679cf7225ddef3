//! Scale-out: sustained native ingest through one, two and three `pacer serve` processes on one
//! PostgreSQL database behind a round-robin client, then a check that every event is stored
//! exactly once (row counts against the distinct keys sent).

use std::collections::BTreeSet;

use anyhow::ensure;
use pacer_generator::to_ndjson;

use crate::ingest::{BATCH, CLIENTS, facts, post_round_robin};
use crate::query::start;
use crate::{Size, fresh_postgres};

/// Runs the scale-out benchmark.
///
/// # Errors
/// PostgreSQL or a server failed, or a count did not match.
pub async fn run(size: Size, admin: &str) -> anyhow::Result<()> {
    let facts = facts(size);
    let lines: Vec<String> = facts.iter().map(to_ndjson).collect();
    let keys: BTreeSet<(&str, String)> = facts.iter().map(pacer_collector::key).collect();
    println!(
        "\n| scale-out ingest on PostgreSQL ({} events, batches of {BATCH}, {CLIENTS} clients, round-robin) | events/s | vs one process | rows stored / distinct events |",
        facts.len()
    );
    println!("|---|---|---|---|");
    let mut single = None;
    for replicas in 1..=3 {
        let url = fresh_postgres(admin, &format!("pacer_bench_scale_{replicas}")).await?;
        pacer::app::open_store(&url).await?.close().await;
        let mut servers = Vec::new();
        for _ in 0..replicas {
            servers.push(start(&url).await?.0);
        }
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let took = post_round_robin(&bases, &lines).await?;
        let rate = facts.len() as f64 / took.as_secs_f64();
        let stored = stored_rows(&url).await?;
        ensure!(stored == keys.len() as i64, "{replicas} replicas stored {stored} rows for {} distinct events", keys.len());
        let base_rate = *single.get_or_insert(rate);
        println!("| {replicas} process{} | {rate:.0} | {:.2}× | {stored} / {} |", if replicas == 1 { "" } else { "es" }, rate / base_rate, keys.len());
    }
    Ok(())
}

/// Fact rows (one per distinct event key) in the database.
async fn stored_rows(url: &str) -> anyhow::Result<i64> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await?;
    let sql = "SELECT (SELECT count(*) FROM deployments) + (SELECT count(*) FROM commits) + (SELECT count(*) FROM pull_requests) \
               + (SELECT count(*) FROM incidents) + (SELECT count(*) FROM ci_runs) + (SELECT count(*) FROM sli_samples)";
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db).await?;
    Ok(n)
}
