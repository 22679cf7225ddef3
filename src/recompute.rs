//! `pacer recompute`: rebuild every fact from the stored raw events, for when a definition or a
//! normalization rule changed. Raw events are replayed in the order they arrived, then the stored
//! webhook deliveries (GitHub, GitLab, CDEvents, PagerDuty), parsed with the current settings.

use pacer_collector::sources::{self, Context, Parsed, Source, SourceConfig};
use pacer_collector::{Collected, Normalizer, native};
use anyhow::Context as _;
use pacer_store::Store;

use crate::app::open_store;
use crate::config::{CommonArgs, Overrides, settings};

/// Raw events read per page.
const PAGE: i64 = 5_000;

/// What a recompute did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recomputed {
    /// Raw events read.
    pub read: u64,
    /// Facts rebuilt.
    pub rebuilt: u64,
    /// Raw events that no longer parse, or come from a source this build does not know.
    pub skipped: u64,
}

/// Deletes the facts and replays every raw event, reporting progress through `progress`.
///
/// # Errors
/// The database failed; facts may be partly rebuilt, and running it again completes them.
pub async fn recompute(store: &Store, normalizer: &Normalizer, progress: impl FnMut(&Recomputed)) -> Result<Recomputed, pacer_store::StoreError> {
    recompute_with(store, normalizer, &SourceConfig::default(), progress).await
}

/// [`recompute`] with the webhook settings (`sources`) that map deliveries to facts.
///
/// # Errors
/// The database failed; facts may be partly rebuilt, and running it again completes them.
pub async fn recompute_with(
    store: &Store,
    normalizer: &Normalizer,
    sources: &SourceConfig,
    mut progress: impl FnMut(&Recomputed),
) -> Result<Recomputed, pacer_store::StoreError> {
    store.clear_facts().await?;
    let mut done = Recomputed::default();
    let mut after = 0;
    loop {
        let page = store.raw_events(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let mut facts = Vec::with_capacity(page.len());
        for raw in page {
            done.read += 1;
            let parsed = match raw.source.as_str() {
                // Alerts are kept as the native incidents they became.
                "native" | "alertmanager" | "grafana" => native::parse_event(&raw.payload, "", normalizer).ok(),
                _ => None,
            };
            match parsed {
                Some(fact) => facts.push(Collected::new(fact, raw.payload)),
                None => done.skipped += 1,
            }
        }
        let outcome = store.restore_facts(pacer_api::now(), &facts).await?;
        done.rebuilt += outcome.accepted + outcome.duplicates;
        progress(&done);
    }
    let cx = Context { normalizer, config: sources };
    let mut after = 0;
    loop {
        let page = store.deliveries(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let mut facts = Vec::new();
        for delivery in page {
            done.read += 1;
            let parsed = Source::parse(&delivery.source).and_then(|source| sources::parse(source, &delivery.event, &delivery.payload, &cx).ok());
            match parsed {
                Some(Parsed::Facts(parsed)) => facts.extend(parsed.into_iter().map(|fact| Collected::new(fact, serde_json::Value::Null))),
                // Ignored under today's settings, or no longer parsable.
                _ => done.skipped += 1,
            }
        }
        let outcome = store.restore_facts(pacer_api::now(), &facts).await?;
        done.rebuilt += outcome.accepted + outcome.duplicates;
        progress(&done);
    }
    Ok(done)
}

/// Runs `pacer recompute`.
///
/// # Errors
/// The configuration has problems, or the database failed.
pub async fn run(args: CommonArgs) -> anyhow::Result<()> {
    let settings = settings(args.config.as_deref(), &Overrides { listen: None, database_url: args.database_url })?;
    let store = open_store(&settings.database_url).await?;
    let done = recompute_with(&store, &settings.api.normalizer, &settings.api.sources, |p| {
        eprintln!("recompute: {} raw events read, {} facts rebuilt, {} skipped", p.read, p.rebuilt, p.skipped);
    })
    .await
    .context("recompute failed")?;
    println!("recomputed {} facts from {} raw events ({} skipped)", done.rebuilt, done.read, done.skipped);
    Ok(())
}
