//! A cache of engine analyses, one per environment, kept current with the store's generations.
//!
//! Metrics are always computed from the stored facts, so data that arrives late counts at once;
//! the cache only avoids recomputing when nothing it depends on changed. When only incidents
//! changed, failures are attributed again on the cached changesets; when deployments, commits or
//! pull requests changed, the analysis is rebuilt; CI runs and SLI samples leave it as it is. The generations are read from the database on every
//! request, so a write through any replica is seen by every replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pacer_engine::Millis;
use pacer_engine::dora::Analysis;
use pacer_store::{Generations, Store};
use tracing::Instrument as _;

use crate::problem::Problem;

/// Analyses by environment.
#[derive(Debug, Default)]
pub struct Analyses {
    cached: Mutex<HashMap<String, (Generations, Arc<Analysis>)>>,
    /// One rebuild at a time: concurrent readers of a stale analysis wait for one rebuild.
    building: tokio::sync::Mutex<()>,
}

impl Analyses {
    /// The analysis of `environment` as of the store's current generations.
    ///
    /// The work runs as a task of its own, started when this future is first polled: a request
    /// that gives up on it (its deadline passed, its client hung up) does not cancel it, so a
    /// build that takes longer than one request may wait still finishes, and the requests after
    /// it find the analysis cached.
    ///
    /// # Errors
    /// The database failed.
    pub async fn get(self: &Arc<Self>, store: &Store, environment: &str, attribution_window: Millis) -> Result<Arc<Analysis>, Problem> {
        let span = tracing::info_span!("analysis", environment, refresh = tracing::field::Empty);
        let (analyses, store, environment, task_span) = (Arc::clone(self), store.clone(), environment.to_owned(), span.clone());
        let work = async move { analyses.refreshed(&store, &environment, attribution_window, &task_span).await };
        tokio::spawn(work.instrument(span)).await.map_err(|e| {
            tracing::error!(error = %e, "analysis failed");
            Problem::internal()
        })?
    }

    /// The cached analysis, rebuilt or re-attributed when the store changed; `span` records
    /// which (`refresh`: `none`, `incidents` or `full`).
    async fn refreshed(&self, store: &Store, environment: &str, attribution_window: Millis, span: &tracing::Span) -> Result<Arc<Analysis>, Problem> {
        let generations = store.generations().await?;
        if let Some((at, analysis)) = self.cached(environment)
            && current(at, generations)
        {
            span.record("refresh", "none");
            return Ok(analysis);
        }
        self.refresh(store, environment, attribution_window, span).await
    }

    /// Refreshes the analysis of `environment`, one refresh at a time.
    async fn refresh(&self, store: &Store, environment: &str, attribution_window: Millis, span: &tracing::Span) -> Result<Arc<Analysis>, Problem> {
        let _building = self.building.lock().await;
        // Read again: another request may have refreshed it while this one waited. Facts read
        // after the generations are at worst newer than them, so the next request refreshes.
        let generations = store.generations().await?;
        let cached = self.cached(environment);
        let analysis = match cached {
            Some((at, analysis)) if current(at, generations) => {
                span.record("refresh", "none");
                return Ok(analysis);
            }
            Some((at, analysis)) if at.structure == generations.structure => {
                span.record("refresh", "incidents");
                let incidents = store.incidents_in(environment).await?;
                blocking(move || analysis.with_incidents(incidents, attribution_window)).await?
            }
            _ => {
                span.record("refresh", "full");
                let history = store.history(environment).await?;
                blocking(move || Analysis::build(history, attribution_window)).await?
            }
        };
        let analysis = Arc::new(analysis);
        if let Ok(mut cached) = self.cached.lock() {
            cached.insert(environment.to_owned(), (generations, Arc::clone(&analysis)));
        }
        Ok(analysis)
    }

    /// The generations the cached analysis of `environment` was made at, when there is one.
    pub fn cached_at(&self, environment: &str) -> Option<Generations> {
        self.cached(environment).map(|(at, _)| at)
    }

    fn cached(&self, environment: &str) -> Option<(Generations, Arc<Analysis>)> {
        let cached = self.cached.lock().ok()?;
        cached.get(environment).map(|(g, a)| (*g, Arc::clone(a)))
    }
}

/// Whether an analysis made at `at` still holds at `now`: no deployment, commit, pull request or
/// incident changed since.
fn current(at: Generations, now: Generations) -> bool {
    at.structure == now.structure && at.incidents == now.incidents
}

async fn blocking(work: impl FnOnce() -> Analysis + Send + 'static) -> Result<Analysis, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "analysis failed");
        Problem::internal()
    })
}
