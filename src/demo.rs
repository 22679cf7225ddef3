//! `pacer demo`: a realistic generated history in a fresh database, then the server.
//!
//! The history comes from `pacer-generator` and goes through the same path as real traffic: each
//! fact is rendered as a native event, validated by the collector and stored in atomic batches.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use pacer_collector::{Collected, Normalizer, native};
use pacer_generator::{Spec, generate, to_ndjson};
use pacer_store::Store;

use crate::app::open_store;
use crate::serve::serve_settings;
use crate::config::{Overrides, Settings};

/// The demo's own database file, replaced at every run.
const DEMO_DATABASE: &str = "pacer-demo.db";
/// Events stored per transaction.
const BATCH: usize = 2_000;

/// Options of `pacer demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on.
    #[arg(long, env = "PACER_LISTEN")]
    pub listen: Option<String>,
    /// Database to fill; it must hold no facts. Default: a fresh `pacer-demo.db` in the current
    /// directory, replaced at every run.
    #[arg(long = "database")]
    pub database_url: Option<String>,
    /// Seed of the generated history.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Load the history and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

/// Loads the demo history and serves it.
///
/// # Errors
/// The database is not empty, or loading or serving failed.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{DEMO_DATABASE}{suffix}");
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot replace {path}")),
                }
            }
            format!("sqlite://{DEMO_DATABASE}")
        }
    };
    let env = std::collections::HashMap::new();
    let overrides = Overrides { listen: args.listen, database_url: Some(database_url.clone()) };
    let settings = Settings::load(None, &env, &overrides).map_err(|e| anyhow::anyhow!(e.join("; ")))?;
    let store = open_store(&database_url).await?;
    if store.generation().await? != 0 {
        bail!("{} already holds facts; the demo needs an empty database", pacer_store::redact(&database_url));
    }
    let started = Instant::now();
    let mut spec = Spec::demo(pacer_api::now());
    spec.seed = args.seed;
    let stored = load(&store, &spec, &settings.api.normalizer).await?;
    eprintln!("demo: stored {stored} events in {:.1} s", started.elapsed().as_secs_f64());
    store.close().await;
    if args.no_serve {
        return Ok(());
    }
    let base = format!("http://{}", settings.listen);
    println!("pacer demo is serving {} services on {base}", spec.services);
    println!("  web page:      {base}/   (charts: {base}/charts/lead-time.svg)");
    println!("  metrics:       curl -s '{base}/metrics'");
    println!("  DORA summary:  curl -s '{base}/api/v1/dora' | jq");
    println!("  one team:      curl -s '{base}/api/v1/dora?team=commerce&from=now-90d' | jq");
    println!("  weekly series: curl -s '{base}/api/v1/dora/series?metric=lead_time&interval=week' | jq");
    println!("  deployments:   curl -s '{base}/api/v1/deployments?limit=5' | jq");
    println!("  incidents:     curl -s '{base}/api/v1/incidents?limit=5' | jq");
    serve_settings(&settings).await
}

/// Generates the history of `spec` and stores it through the native collector; returns how
/// many events were stored.
///
/// # Errors
/// A generated event failed validation (a generator bug) or the database failed.
pub async fn load(store: &Store, spec: &Spec, normalizer: &Normalizer) -> anyhow::Result<u64> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut stored = 0;
    for fact in generate(spec) {
        let event: serde_json::Value = serde_json::from_str(&to_ndjson(&fact)).context("generated event is not JSON")?;
        let parsed = native::parse_event(&event, "", normalizer)
            .map_err(|errors| anyhow::anyhow!("generated event is invalid: {errors:?}"))?;
        batch.push(Collected::new(parsed, event));
        if batch.len() == BATCH {
            stored += store.ingest("native", pacer_api::now(), &batch).await?.accepted;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        stored += store.ingest("native", pacer_api::now(), &batch).await?.accepted;
    }
    Ok(stored)
}
