//! Each analysis kept in the database, so that a start reads its parts — one row of bytes a
//! service — and advances from the change log, instead of reading the whole history.
//!
//! A replica writes the snapshot of each analysis it holds after its first build, then every
//! `analysis_snapshot_secs` when it changed, and once more as it stops. A write is the parts
//! changed since the snapshot this replica last wrote or read, over that snapshot; or every part,
//! when there is none or another replica wrote since. Each write is one transaction, labelled
//! with the generations the analysis is current at, and a snapshot is only replaced by a later
//! one. The change log is kept back to the snapshot, so a start always advances from it (see
//! `Store::prune_changes`).
//!
//! A read checks every part's bytes (format, checksum, lengths); a snapshot that does not read,
//! or that was written again while it was read, is left alone and the analysis is built from
//! the history, as it would be without one.
//!
//! Not for: what the bytes hold (the engine's `snapshot` module) or how they are stored (the
//! store's `snapshots` module).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pacer_engine::Millis;
use pacer_engine::dora::{Analysis, PartMarks, StoredPart};
use pacer_engine::snapshot::FORMAT;
use pacer_store::{Generations, SnapshotHeader, SnapshotWrite, Store};

use super::blocking;
use crate::problem::Problem;

/// Parts read at a time at a start: the bytes of a page are dropped once its parts are decoded.
const PAGE: i64 = 32;

/// The analysis of `environment` from its snapshot, with the generations its parts hold every
/// change of; `None` when there is no snapshot of this build's format, or it does not read.
///
/// # Errors
/// The database failed.
pub(super) async fn read(store: &Store, environment: &str, attribution_window: Millis) -> Result<Option<(Generations, Analysis)>, Problem> {
    let Some(header) = store.snapshot(environment).await? else { return Ok(None) };
    if header.format != FORMAT {
        tracing::info!(environment, format = header.format, "analysis snapshot of another format: building from the history");
        return Ok(None);
    }
    let mut parts = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.snapshot_parts(environment, &after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after.clone_from(last);
        let decoded = blocking(move || page.into_iter().map(|(service, bytes)| StoredPart::decode(service, &bytes)).collect::<Result<Vec<_>, _>>()).await?;
        match decoded {
            Ok(decoded) => parts.extend(decoded),
            Err(e) => {
                tracing::warn!(environment, error = %e, "analysis snapshot does not read: building from the history");
                return Ok(None);
            }
        }
    }
    // Written again while it was read: its parts may be of two snapshots.
    if store.snapshot(environment).await? != Some(header) {
        return Ok(None);
    }
    let incidents = store.incidents_in(environment).await?;
    let environment = environment.to_owned();
    let analysis = blocking(move || Analysis::from_stored(environment, attribution_window, parts, incidents)).await?;
    Ok(Some((header.generations, analysis)))
}

/// What this replica last wrote or read of each environment's snapshot, and when it wrote.
#[derive(Debug, Default)]
pub(super) struct Snapshots {
    /// By environment: the facts generation the snapshot is stored at and which parts it holds.
    known: HashMap<String, (i64, PartMarks)>,
    /// By environment: when this replica last wrote or decided not to.
    tried: HashMap<String, tokio::time::Instant>,
}

impl Snapshots {
    /// Notes that the snapshot stored at `generations` holds `analysis` (this replica read it).
    pub(super) fn read(&mut self, environment: &str, generations: Generations, analysis: &Analysis) {
        self.known.insert(environment.to_owned(), (generations.facts, analysis.marks()));
        self.tried.insert(environment.to_owned(), tokio::time::Instant::now());
    }

    /// Writes `analysis`, current at `at`, as `environment`'s snapshot when `every` has passed
    /// since this replica last did (at once when it never did, or with `now`), and the analysis
    /// changed since the snapshot it knows.
    ///
    /// # Errors
    /// The database failed; nothing is written.
    pub(super) async fn write(
        &mut self,
        store: &Store,
        environment: &str,
        at: Generations,
        analysis: Arc<Analysis>,
        every: Duration,
        now: bool,
    ) -> Result<(), Problem> {
        let due = self.tried.get(environment).is_none_or(|tried| tried.elapsed() >= every);
        let known = self.known.get(environment);
        if !(due || now) || known.is_some_and(|(g, _)| *g >= at.facts) {
            return Ok(());
        }
        self.tried.insert(environment.to_owned(), tokio::time::Instant::now());
        let header = SnapshotHeader { format: FORMAT, generations: at, written_at: crate::now() };
        let started = std::time::Instant::now();
        // Over the snapshot this replica knows, else (none, or another replica wrote since) whole.
        let over = known.map(|(stored_at, marks)| (SnapshotWrite::Over(*stored_at), Some(marks)));
        let mut written = false;
        for (how, before) in over.into_iter().chain([(SnapshotWrite::Whole, None)]) {
            let (changed, removed) = analysis.changed_since(before);
            let parts = changed.into_iter().filter_map(|service| Some((service, analysis.encoded_part(service)?)));
            written = store.write_snapshot(environment, header, how, parts, &removed).await?;
            if written {
                break;
            }
        }
        if written {
            tracing::info!(environment, generation = at.facts, elapsed_ms = started.elapsed().as_millis() as u64, "analysis snapshot written");
            self.known.insert(environment.to_owned(), (at.facts, analysis.marks()));
        }
        Ok(())
    }
}
