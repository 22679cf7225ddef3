//! The analyses this replica serves, one per environment, kept current from the store's change
//! log.
//!
//! An analysis is built once per environment, one service at a time (each service's own read of
//! its deployments and the commits they reach). After that it only advances: the store's
//! generation says whether anything changed, the change log (`fact_changes`) says which facts,
//! the engine says which services they touch, and only those services are read again and their
//! parts made again; every other part is shared with the analysis before. The generations are
//! read from the database, so a write through any replica is seen by every replica; a follower
//! task ([`follow`]) advances each analysis a few times a second, so a request rarely finds
//! anything left to do. A whole build happens only at the first request for an environment, or
//! when the log no longer holds what a replica missed (it was pruned, or `pacer recompute`
//! replaced every fact).
//!
//! Not for: what a change touches (the engine's `change` module) or how a part is made (the
//! engine's `dora` module).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pacer_engine::Millis;
use pacer_engine::model::DeploymentStatus;
use pacer_engine::change::Affected;
use pacer_engine::dora::{Analysis, ServicePart};
use pacer_store::{Generations, Store};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::problem::Problem;

/// How often the follower advances the analyses it has.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// How long the change log keeps what it recorded: a replica that has been current within this
/// time advances from it; one that has not builds its analyses again.
const LOG_KEEPS: Duration = Duration::from_secs(3_600);
/// How often the follower prunes the change log.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Services read at once while an analysis is built.
const READS_AT_ONCE: usize = 4;

/// Analyses by environment.
#[derive(Debug, Default)]
pub struct Analyses {
    cached: Mutex<HashMap<String, (Generations, Arc<Analysis>)>>,
    /// One refresh at a time: concurrent readers of a stale analysis wait for one refresh.
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
        let span = tracing::info_span!("analysis", environment, refresh = tracing::field::Empty, services = tracing::field::Empty);
        let (analyses, store, environment, task_span) = (Arc::clone(self), store.clone(), environment.to_owned(), span.clone());
        let work = async move { analyses.refreshed(&store, &environment, attribution_window, &task_span).await };
        tokio::spawn(work.instrument(span)).await.map_err(|e| {
            tracing::error!(error = %e, "analysis failed");
            Problem::internal()
        })?
    }

    /// The cached analysis, advanced or built when the store changed; `span` records how
    /// (`refresh`: `none`, `changes` or `full`).
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
        // after the generations are at worst newer than them, and the changes that made them
        // are applied again at the next refresh, which reads the same facts.
        let generations = store.generations().await?;
        let cached = self.cached(environment);
        let analysis = match cached {
            Some((at, analysis)) if current(at, generations) => {
                span.record("refresh", "none");
                return Ok(analysis);
            }
            Some((at, analysis)) => match store.changes(at.facts, generations.facts).await? {
                Some(changes) => {
                    span.record("refresh", "changes");
                    let affected = analysis.affected(&changes);
                    span.record("services", affected.rebuild.len() + affected.incidents.len() + affected.reattribute.len());
                    if affected.is_empty() { analysis } else { Arc::new(advance(store, analysis, affected).await?) }
                }
                None => {
                    span.record("refresh", "full");
                    Arc::new(build(store, environment, attribution_window).await?)
                }
            },
            None => {
                span.record("refresh", "full");
                Arc::new(build(store, environment, attribution_window).await?)
            }
        };
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

    fn environments(&self) -> Vec<String> {
        self.cached.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }
}

/// Keeps every analysis this replica has current, a few times a second, so that requests find
/// them so; builds the `production` analysis at once, so the first request after a start waits
/// for less of it; and prunes the change log now and then. Runs until `stop` resolves.
pub async fn follow(analyses: Arc<Analyses>, store: Store, attribution_window: Millis, stop: impl Future<Output = ()>) {
    let work = async {
        if let Err(e) = analyses.get(&store, "production", attribution_window).await {
            tracing::warn!(status = e.status, "analysis not built at start");
        }
        let mut ticks = tokio::time::interval(FOLLOW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            for environment in analyses.environments() {
                // A failure here is a request's failure later, where it is reported.
                let _ = analyses.get(&store, &environment, attribution_window).await;
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                let before = crate::now() - LOG_KEEPS.as_millis() as Millis;
                match store.prune_changes(before).await {
                    Ok(deleted) => tracing::debug!(deleted, "change log pruned"),
                    Err(e) => tracing::warn!(error = %e, "change log not pruned"),
                }
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
}

/// Whether an analysis made at `at` still holds at `now`: no deployment, commit, pull request or
/// incident changed since.
fn current(at: Generations, now: Generations) -> bool {
    at.structure == now.structure && at.incidents == now.incidents
}

/// The analysis of `environment` built from scratch, one service at a time.
async fn build(store: &Store, environment: &str, attribution_window: Millis) -> Result<Analysis, Problem> {
    let services = store.analysis_services(environment).await?;
    let parts = parts(store, environment, services).await?;
    let environment = environment.to_owned();
    blocking(move || Analysis::from_services(environment, parts, attribution_window)).await
}

/// `analysis` with what `affected` names made again.
async fn advance(store: &Store, analysis: Arc<Analysis>, affected: Affected) -> Result<Analysis, Problem> {
    let Affected { mut rebuild, incidents, reattribute, appended } = affected;
    let environment = analysis.environment.clone();
    let mut rebuilt = Vec::new();
    for (service, ids) in appended {
        match append(store, &analysis, &service, &ids).await? {
            Some(part) => rebuilt.push(part),
            None => {
                rebuild.insert(service);
            }
        }
    }
    rebuilt.extend(parts(store, &environment, rebuild.iter().cloned().collect()).await?);
    let mut lists = Vec::new();
    for service in incidents.difference(&rebuild) {
        lists.push((service.clone(), store.incidents_of(&environment, service).await?));
    }
    let reattribute: BTreeSet<String> = reattribute;
    blocking(move || analysis.updated(rebuilt, lists, &reattribute)).await
}

/// The part of `service` with the new deployment `ids` added after its last one, reading only
/// what that deployment shipped; `None` when that is not how it can be made (several new
/// deployments at once, one that finished before the service's last, one the walk cannot reach
/// in a few steps), and the service is read whole instead.
async fn append(store: &Store, analysis: &Analysis, service: &str, ids: &[String]) -> Result<Option<ServicePart>, Problem> {
    let [id] = ids else { return Ok(None) };
    let Some(deployment) = store.deployment(id).await? else { return Ok(None) };
    let finished_last = deployment.finished_at.is_some_and(|at| analysis.finishes_last(service, id, at));
    let counts = deployment.status == DeploymentStatus::Success && deployment.environment == analysis.environment;
    if deployment.service != service || !counts || !finished_last {
        return Ok(None);
    }
    let Some(appendix) = store.appendix(deployment, |sha| analysis.is_live(service, sha)).await? else { return Ok(None) };
    Ok(ServicePart::appended(analysis, service, &appendix))
}

/// The parts of `services`, each from its own read, a few reads at once; each part is made as
/// its read arrives, so only a few services' commit graphs are held at a time.
async fn parts(store: &Store, environment: &str, services: Vec<String>) -> Result<Vec<ServicePart>, Problem> {
    let mut pending = services.into_iter();
    let mut reading: JoinSet<Result<ServicePart, Problem>> = JoinSet::new();
    let mut parts = Vec::new();
    loop {
        while reading.len() < READS_AT_ONCE
            && let Some(service) = pending.next()
        {
            let (store, environment) = (store.clone(), environment.to_owned());
            reading.spawn(async move {
                let history = store.service_history(&environment, &service).await?;
                blocking(move || ServicePart::build(service, history)).await
            });
        }
        let Some(done) = reading.join_next().await else { break };
        parts.push(done.map_err(|e| {
            tracing::error!(error = %e, "analysis failed");
            Problem::internal()
        })??);
    }
    Ok(parts)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "analysis failed");
        Problem::internal()
    })
}
