//! Footprint: what the analysis of the query benchmark's data holds, part by part, in heap
//! bytes — the account behind BENCHMARKS.md's memory figures. Builds the production analysis in
//! this process from the database an earlier `query` run loaded (as `--reuse` would find it),
//! as `pacer serve` builds it when it has no snapshot to read.

use std::time::Instant;

use pacer_engine::model::DAY;

use crate::Size;
use crate::query::{Engine, database};

/// The flags of `footprint`.
#[derive(Debug, clap::Args)]
pub struct FootprintArgs {
    /// The database the earlier `query` run loaded the data set into.
    #[arg(long, value_enum, default_value_t = Engine::Postgres)]
    pub engine: Engine,
}

/// Prints the footprint table of the `size` data set on `engine`.
///
/// # Errors
/// No earlier run loaded the data set, or the database failed.
pub async fn run(size: Size, admin: &str, engine: Engine) -> anyhow::Result<()> {
    let url = database(engine, size, admin, true).await?;
    let store = pacer::app::open_store(&url).await?;
    let started = Instant::now();
    // The attribution window is the configuration's default.
    let analysis = pacer_api::analysis::from_history(&store, "production", DAY).await.map_err(|p| anyhow::anyhow!("the build failed: {}", p.detail))?;
    let built = started.elapsed();
    let (parts, spilled) = analysis.footprint();
    let total: usize = parts.iter().map(|(_, bytes)| bytes).sum();
    let mb = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    println!("\n| what the analysis holds ({} services, {} deployments, {} commits, {}) | MB | share |", size.services, size.deployments, size.commits, engine.name());
    println!("|---|---|---|");
    for (part, bytes) in &parts {
        println!("| {part} | {:.1} | {:.0} % |", mb(*bytes), *bytes as f64 * 100.0 / total.max(1) as f64);
    }
    println!("| **all** | **{:.1}** | 100 % |", mb(total));
    println!("| besides, kept in the spill file, not in memory: the commits, and the deployments' ids and versions | {:.1} | |", mb(spilled));
    println!("\n<!-- the analysis built from the history in {:.1} s -->", built.as_secs_f64());
    Ok(())
}
