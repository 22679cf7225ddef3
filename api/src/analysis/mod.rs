//! The analyses this replica serves, one per environment, kept current from the store's change
//! log.
//!
//! An analysis is built once per environment, from its whole history, one part per service
//! ([`from_history`]). After that it only advances: the store's generation says whether anything
//! changed, the change log (`fact_changes`) says which facts, the engine says which services
//! they touch, and only those parts are made again — new deployments after their service's last
//! from their own commits, a commit told late from the deployment that shipped it on, anything
//! else from that one service's own read, in one snapshot at a generation it keeps (so the next
//! advance does not apply again what it read); every other part is shared with the analysis
//! before. Through a backfill the follower reads one service at a time and rests between
//! advances, so that the writes keep most of the machine. The generations are read from the database, so a write
//! through any replica is seen by every replica; a follower task ([`follow`]) advances each
//! analysis five times a second, and queries answer from it as it stands (or wait up to
//! `analysis_wait_ms` for the newest writes). A whole build happens only at the first request
//! for an environment, or when the log no longer holds what a replica missed (it was pruned, or
//! `pacer recompute` replaced every fact) — and even then, when the database holds a snapshot of
//! the analysis ([`snapshot`]), a start reads the snapshot's parts and advances from the log.
//!
//! Not for: what a change touches (the engine's `change` module) or how a part is made (the
//! engine's `dora` module).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use pacer_engine::Millis;
use pacer_engine::model::{Deployment, DeploymentStatus};
use pacer_engine::change::Affected;
use pacer_engine::dora::{Analysis, Builder, ServicePart};
use pacer_store::{Generations, Store};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::problem::Problem;

mod snapshot;

/// How often the follower advances the analyses it has.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Changes in one advance that mark a backfill (a stream of ordinary traffic brings a few a
/// second; `pacer-bench ingest` brings thousands an advance). Such an advance reads the
/// services it reads whole one at a time.
const BACKFILL_CHANGES: usize = 1_000;
/// How long the follower rests after an advance through a backfill, as a multiple of the
/// advance's own time: at most a fifth of the time goes to following while a backfill pours
/// facts in, and the rest to taking them in (a request that waits for newer writes, and a
/// rollback decision, still advance the analysis at once).
const REST_AFTER: u32 = 4;
/// How long the change log keeps what it recorded: a replica that has been current within this
/// time advances from it; one that has not builds its analyses again.
const LOG_KEEPS: Duration = Duration::from_secs(3_600);
/// How long a snapshot keeps the change log from being pruned past it: a replica that starts from
/// a snapshot written within this time advances from the log (see [`snapshot`]).
const SNAPSHOTS_HOLD_THE_LOG: Duration = Duration::from_secs(86_400);
/// How often the follower prunes the change log.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Services read whole at once during an advance; one at a time through a backfill, when the
/// writes need the database's cores (four at once cost PostgreSQL's ingest a fifth of its rate
/// on two cores, where one at a time cost nothing measurable).
const READS_AT_ONCE: usize = 4;
/// New deployments of one service an advance adds after its last one, from a few reads for all
/// of them; past this many, reading the service whole is cheaper.
const APPENDED_AT_ONCE: usize = 4_096;

/// Analyses by environment.
#[derive(Debug, Default)]
pub struct Analyses {
    /// How often each analysis is written to the database for the next start; `None`: never,
    /// and a start builds from the history.
    snapshot_every: Option<Duration>,
    /// What this replica last wrote or read of each snapshot.
    snapshots: tokio::sync::Mutex<snapshot::Snapshots>,
    /// Analyses this process built from the history.
    built: AtomicU64,
    /// Analyses this process read from a snapshot.
    read: AtomicU64,
    /// Deployments this process's advances appended to a part: new ones, and ones made again
    /// after a commit they shipped changed.
    appended: AtomicU64,
    /// Services this process's advances read whole.
    read_whole: AtomicU64,
    /// By environment: the analysis, and the generations whose every change it holds.
    cached: Mutex<HashMap<String, (Generations, Arc<Analysis>)>>,
    /// The environments a refresh is running for: one at a time each.
    refreshing: Mutex<HashSet<String>>,
    /// By environment: until when the follower leaves it alone, after an advance through a
    /// backfill (see [`REST_AFTER`]).
    resting: Mutex<HashMap<String, tokio::time::Instant>>,
    /// The refresh tasks started and not yet seen finished, stopped when the replica stops: a
    /// build from the history would otherwise hold a connection, and the stop, until it ends.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Woken whenever a refresh publishes an analysis or ends.
    changed: tokio::sync::Notify,
}

impl Analyses {
    /// No analyses yet; with `snapshot_every`, they start from their snapshots in the database
    /// and are written there that often (see [`snapshot`]).
    pub fn new(snapshot_every: Option<Duration>) -> Self {
        Self { snapshot_every, ..Self::default() }
    }

    /// The analysis of `environment` as of the store's current generations, or, when taking in
    /// the latest writes takes longer than `wait`, as it stands then (at most one advance
    /// behind). The first build of an environment is always waited for.
    ///
    /// The work runs as a task of its own: a request that gives up on it (its deadline passed,
    /// its client hung up) does not cancel it, so a build that takes longer than one request
    /// may wait still finishes, and the requests after it find the analysis cached.
    ///
    /// # Errors
    /// The database failed.
    pub async fn get(self: &Arc<Self>, store: &Store, environment: &str, attribution_window: Millis, wait: Duration) -> Result<Arc<Analysis>, Problem> {
        // A task of its own from the first poll: a caller that gives up before the refresh has
        // started does not stop it from starting.
        let (analyses, store, environment) = (Arc::clone(self), store.clone(), environment.to_owned());
        let work = async move { analyses.current(&store, &environment, attribution_window, wait).await };
        tokio::spawn(work).await.map_err(failed)?
    }

    /// [`Analyses::get`], in the caller's task.
    async fn current(self: &Arc<Self>, store: &Store, environment: &str, attribution_window: Millis, wait: Duration) -> Result<Arc<Analysis>, Problem> {
        let generations = store.generations().await?;
        // `Duration::MAX` waits as long as it takes.
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(wait).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        loop {
            // Listening before looking, so a publish in between is not missed.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let cached = self.cached(environment);
            if let Some((at, analysis)) = &cached
                && current(*at, generations)
            {
                return Ok(Arc::clone(analysis));
            }
            let started = self.refresh_in_background(store, environment, attribution_window);
            if let Some((_, analysis)) = &cached
                && tokio::time::Instant::now() >= deadline
            {
                return Ok(Arc::clone(analysis));
            }
            match (started, cached.is_some()) {
                // This request started the refresh: its outcome is this request's.
                (Some(task), true) => {
                    if let Ok(outcome) = tokio::time::timeout_at(deadline, task).await {
                        outcome.map_err(failed)??;
                    }
                }
                (Some(task), false) => task.await.map_err(failed)??,
                // Another request's refresh is running: wait for it to publish.
                (None, true) => {
                    let _ = tokio::time::timeout_at(deadline, notified).await;
                }
                (None, false) => notified.await,
            }
        }
    }

    /// Starts refreshing `environment` unless a refresh of it is running; the started task.
    fn refresh_in_background(
        self: &Arc<Self>,
        store: &Store,
        environment: &str,
        attribution_window: Millis,
    ) -> Option<tokio::task::JoinHandle<Result<(), Problem>>> {
        if !self.refreshing.lock().ok()?.insert(environment.to_owned()) {
            return None;
        }
        let span = tracing::info_span!("analysis", environment, refresh = tracing::field::Empty, services = tracing::field::Empty);
        let (analyses, store, environment, task_span) = (Arc::clone(self), store.clone(), environment.to_owned(), span.clone());
        let work = async move {
            let outcome = analyses.refresh(&store, &environment, attribution_window, &task_span).await;
            if let Ok(mut running) = analyses.refreshing.lock() {
                running.remove(&environment);
            }
            analyses.changed.notify_waiters();
            outcome
        };
        let task = tokio::spawn(work.instrument(span));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task.abort_handle());
        }
        Some(task)
    }

    /// Stops every refresh running, at its next await: a build from the history stops between
    /// two services. What was published stays.
    fn stop_refreshing(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.drain(..).for_each(|t| t.abort());
        }
    }

    /// Advances the analysis of `environment` to the store's generations as read now (one
    /// pass: a request that needs a later write starts another); `span` records how
    /// (`refresh`: `none`, `changes`, `snapshot` or `full`).
    async fn refresh(&self, store: &Store, environment: &str, attribution_window: Millis, span: &tracing::Span) -> Result<(), Problem> {
        let started = tokio::time::Instant::now();
        // Facts read after the generations are at worst newer than them, and the changes that
        // made them are applied again at the next refresh, which reads the same facts.
        let generations = store.generations().await?;
        let analysis = match self.cached(environment) {
            Some((at, _)) if current(at, generations) => {
                span.record("refresh", "none");
                return Ok(());
            }
            Some((at, analysis)) => match store.changes(at.facts, generations.facts).await? {
                Some(changes) => {
                    span.record("refresh", "changes");
                    let affected = analysis.affected(&changes);
                    let redone_only = affected.redone.keys().filter(|service| !affected.appended.contains_key(*service)).count();
                    span.record("services", affected.rebuild.len() + affected.incidents.len() + affected.appended.len() + redone_only);
                    let backfill = changes.len() >= BACKFILL_CHANGES;
                    let reads_at_once = if backfill { 1 } else { READS_AT_ONCE };
                    let analysis = if affected.is_empty() { analysis } else { Arc::new(self.advance(store, environment, analysis, affected, reads_at_once).await?) };
                    if backfill
                        && let Ok(mut resting) = self.resting.lock()
                    {
                        let now = tokio::time::Instant::now();
                        resting.insert(environment.to_owned(), now + (now - started) * REST_AFTER);
                    }
                    analysis
                }
                None => Arc::new(self.build(store, environment, attribution_window, span).await?),
            },
            None => {
                if self.snapshot_every.is_some()
                    && let Some((at, analysis)) = snapshot::read(store, environment, attribution_window).await?
                {
                    // Advanced from `at` by the next refresh, which the caller starts.
                    span.record("refresh", "snapshot");
                    self.read.fetch_add(1, Ordering::Relaxed);
                    let analysis = Arc::new(analysis);
                    self.snapshots.lock().await.read(environment, at, &analysis);
                    self.publish(environment, Some(at), analysis);
                    return Ok(());
                }
                Arc::new(self.build(store, environment, attribution_window, span).await?)
            }
        };
        self.publish(environment, Some(generations), analysis);
        Ok(())
    }

    /// The analysis of `environment` built from scratch, from its whole history (see
    /// [`from_history`]).
    async fn build(&self, store: &Store, environment: &str, attribution_window: Millis, span: &tracing::Span) -> Result<Analysis, Problem> {
        span.record("refresh", "full");
        self.built.fetch_add(1, Ordering::Relaxed);
        from_history(store, environment, attribution_window).await
    }

    /// `analysis` with what `affected` names made again. What is quick to make (a new
    /// deployment after its service's last, new incident lists, failures attributed again) is
    /// published first, before the services that must be read whole, so that a slow read of one
    /// service does not hold back the new deployments of all the others. Those are read
    /// `reads_at_once` at a time.
    async fn advance(&self, store: &Store, environment: &str, analysis: Arc<Analysis>, affected: Affected, reads_at_once: usize) -> Result<Analysis, Problem> {
        let started = std::time::Instant::now();
        let Affected { mut rebuild, incidents, mut appended, redone } = affected;
        let (mut quick, mut added) = (Vec::new(), 0);
        // By service: the deployment from which its part is made again, if any.
        let to_append: BTreeMap<String, Option<usize>> =
            appended.keys().map(|service| (service.clone(), None)).chain(redone.into_iter().map(|(service, k)| (service, Some(k)))).collect();
        for (service, from) in to_append {
            let new = appended.remove(&service).unwrap_or_default();
            match append(store, &analysis, &service, from, new).await? {
                Some((part, count)) => {
                    quick.push(part);
                    added += count;
                }
                None => {
                    rebuild.insert(service);
                }
            }
        }
        let mut lists = Vec::new();
        for service in incidents.difference(&rebuild) {
            lists.push((service.clone(), store.incidents_of(environment, service).await?));
        }
        self.appended.fetch_add(added as u64, Ordering::Relaxed);
        let read_quick = started.elapsed();
        let now = Arc::clone(&analysis);
        let analysis = blocking(move || now.updated(quick, lists)).await?;
        let quick = started.elapsed();
        if rebuild.is_empty() {
            advanced(environment, added, 0, read_quick, quick, quick);
            return Ok(analysis);
        }
        let analysis = Arc::new(analysis);
        // Not yet current: published without its generations.
        self.publish(environment, None, Arc::clone(&analysis));
        let read_whole = rebuild.len();
        self.read_whole.fetch_add(read_whole as u64, Ordering::Relaxed);
        let rebuilt = parts(store, environment, rebuild.into_iter().collect(), reads_at_once).await?;
        let analysis = blocking(move || analysis.updated(rebuilt, Vec::new())).await;
        advanced(environment, added, read_whole, read_quick, quick, started.elapsed());
        analysis
    }

    /// Makes `analysis` the one requests get; with `generations`, the generations it is current
    /// at, else it keeps the ones of the analysis it replaces.
    fn publish(&self, environment: &str, generations: Option<Generations>, analysis: Arc<Analysis>) {
        if let Ok(mut cached) = self.cached.lock() {
            let at = generations.or_else(|| cached.get(environment).map(|(at, _)| *at)).unwrap_or_default();
            cached.insert(environment.to_owned(), (at, analysis));
        }
        self.changed.notify_waiters();
    }

    /// How many analyses this process made whole, by what from: `history` (a build) and
    /// `snapshot` (read from the database, then advanced).
    pub fn made_whole(&self) -> [(&'static str, u64); 2] {
        [("history", self.built.load(Ordering::Relaxed)), ("snapshot", self.read.load(Ordering::Relaxed))]
    }

    /// What this process's advances made again: deployments appended to a part (new ones, and
    /// ones made again after a commit they shipped changed), and services read whole.
    pub fn advanced(&self) -> (u64, u64) {
        (self.appended.load(Ordering::Relaxed), self.read_whole.load(Ordering::Relaxed))
    }

    /// The generations the cached analysis of `environment` was made at, when there is one.
    pub fn cached_at(&self, environment: &str) -> Option<Generations> {
        self.cached(environment).map(|(at, _)| at)
    }

    fn cached(&self, environment: &str) -> Option<(Generations, Arc<Analysis>)> {
        let cached = self.cached.lock().ok()?;
        cached.get(environment).map(|(g, a)| (*g, Arc::clone(a)))
    }

    /// Whether the follower leaves `environment` alone for now (see [`REST_AFTER`]).
    fn resting(&self, environment: &str) -> bool {
        self.resting.lock().is_ok_and(|resting| resting.get(environment).is_some_and(|until| tokio::time::Instant::now() < *until))
    }

    fn environments(&self) -> Vec<String> {
        self.cached.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }

    /// Writes the snapshot of each analysis that is due (see [`snapshot::Snapshots::write`]);
    /// with `now`, of each that changed since its last, as when the replica stops.
    async fn write_snapshots(&self, store: &Store, now: bool) {
        let Some(every) = self.snapshot_every else { return };
        let mut snapshots = self.snapshots.lock().await;
        for environment in self.environments() {
            let Some((at, analysis)) = self.cached(&environment) else { continue };
            if let Err(e) = snapshots.write(store, &environment, at, analysis, every, now).await {
                tracing::warn!(environment, status = e.status, "analysis snapshot not written");
            }
        }
    }
}

/// Logs one advance: how many new deployments were added after their service's last, how many
/// services were read whole, and when (from the advance's start) the quick reads were done, the
/// quick work was published and the advance ended. Debug level: five a second under a stream.
fn advanced(environment: &str, appended: usize, read_whole: usize, read_quick: Duration, quick: Duration, all: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    tracing::debug!(environment, appended, read_whole, read_quick_ms = ms(read_quick), published_quick_ms = ms(quick), elapsed_ms = ms(all), "analysis advanced");
}

/// The problem of a task that panicked (the cause is logged) or was stopped as the replica stops.
fn failed(e: tokio::task::JoinError) -> Problem {
    if e.is_cancelled() {
        return Problem::busy("this replica is stopping; another, or this one restarted, answers");
    }
    tracing::error!(error = %e, "analysis failed");
    Problem::internal()
}

/// Keeps every analysis this replica has current, a few times a second, so that requests find
/// them so; builds the `production` analysis at once (from its snapshot when there is one), so
/// the first request after a start waits for less of it; writes the analyses' snapshots when
/// they are due, and once more when `stop` resolves; and prunes the change log now and then.
/// Runs until `stop` resolves.
pub async fn follow(analyses: Arc<Analyses>, store: Store, attribution_window: Millis, stop: impl Future<Output = ()>) {
    let following = async {
        if let Err(e) = analyses.get(&store, "production", attribution_window, Duration::MAX).await {
            tracing::warn!(status = e.status, "analysis not built at start");
        }
        let mut ticks = tokio::time::interval(FOLLOW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            for environment in analyses.environments() {
                if analyses.resting(&environment) {
                    continue;
                }
                // A failure here is a request's failure later, where it is reported.
                let _ = analyses.get(&store, &environment, attribution_window, Duration::ZERO).await;
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                let before = crate::now() - LOG_KEEPS.as_millis() as Millis;
                let snapshots_since = crate::now() - SNAPSHOTS_HOLD_THE_LOG.as_millis() as Millis;
                match store.prune_changes(before, snapshots_since).await {
                    Ok(deleted) => tracing::debug!(deleted, "change log pruned"),
                    Err(e) => tracing::warn!(error = %e, "change log not pruned"),
                }
            }
        }
    };
    // Beside the advances, not between them: a write of a large snapshot takes a while.
    let writing = async {
        let mut ticks = tokio::time::interval(FOLLOW_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            analyses.write_snapshots(&store, false).await;
        }
    };
    tokio::select! {
        () = following => {}
        () = writing => {}
        () = stop => {}
    }
    // The work above is dropped by now, with any write it had started.
    analyses.stop_refreshing();
    analyses.write_snapshots(&store, true).await;
}

/// Whether an analysis made at `at` holds every change up to `now`: no deployment, commit, pull
/// request or incident changed since, or `at` is later still (generations only grow).
fn current(at: Generations, now: Generations) -> bool {
    at.structure >= now.structure && at.incidents >= now.incidents
}

/// How many services' rows a build from the history reads ahead of the one it is making, each
/// on a connection of its own: the reads wait on the database while the part is made. Two leave
/// SQLite's third reading connection to requests.
const READ_AHEAD: usize = 2;

/// The analysis of `environment` from its whole history, one service at a time: the commit graph
/// and the pull requests are read whole, one pass each, and shared; then each service's
/// deployments are read, made into its part and dropped, so that only a few services'
/// deployments are held at once: the one being made, and the next [`READ_AHEAD`], read
/// meanwhile. Progress is logged every tenth of the services.
///
/// # Errors
/// The database failed.
pub async fn from_history(store: &Store, environment: &str, attribution_window: Millis) -> Result<Analysis, Problem> {
    let started = std::time::Instant::now();
    let (shared, services) = {
        let (store, environment) = (store.clone(), environment.to_owned());
        unspanned(async move { store.shared_history(&environment).await }).await?
    };
    let (total, shared_read) = (services.len(), started.elapsed());
    let mut builder = Builder::new(shared, total);
    // Each service's part is made while the rows of the next ones are read, READ_AHEAD at once.
    // Each read owns what it reads with, and they are made before they are streamed: a stream
    // that borrowed them could not be sent between threads (rustc cannot prove it for every
    // lifetime).
    let reads: Vec<_> = services
        .iter()
        .map(|service| {
            let (store, environment, service) = (store.clone(), environment.to_owned(), service.clone());
            unspanned(async move { store.deployments_of(&environment, &service).await })
        })
        .collect();
    let mut reads = futures_util::stream::iter(reads).buffered(READ_AHEAD);
    let mut next = reads.next().await;
    let mut done = 0;
    while let Some(rows) = next {
        let rows = rows?;
        let making = blocking(move || {
            let (deployments, listed) = rows.listed(builder.graph());
            builder.service(&deployments, &listed);
            builder
        });
        let made;
        (made, next) = tokio::join!(making, reads.next());
        (builder, done) = (made?, done + 1);
        if done % total.div_ceil(10) == 0 {
            tracing::info!(environment, services = done, of = total, elapsed_s = started.elapsed().as_secs(), "building the analysis from the history");
        }
    }
    let analysis = blocking(move || builder.finish(attribution_window)).await?;
    tracing::info!(environment, services = total, shared_read_ms = shared_read.as_millis() as u64, elapsed_ms = started.elapsed().as_millis() as u64, "analysis built from the history");
    Ok(analysis)
}

/// The part of `service` with its deployments from the `from`-th on (see
/// `pacer_engine::change::Affected::redone`) and the new deployments `new` added after its last
/// one, in finish order, reading only what they shipped (a few queries for all of them), and
/// how many were added; `None` when that is not how it can be made (more than
/// [`APPENDED_AT_ONCE`], a new one that finished before the service's last, one the walk
/// cannot reach in a few steps), and the service is read whole instead.
async fn append(store: &Store, analysis: &Analysis, service: &str, from: Option<usize>, new: Vec<String>) -> Result<Option<(ServicePart, usize)>, Problem> {
    let Some(part) = ServicePart::of(analysis, service) else { return Ok(None) };
    let (part, mut ids) = match from {
        Some(k) => match part.truncated(k) {
            Some(truncated) => truncated,
            None => return Ok(None),
        },
        None => (part, Vec::new()),
    };
    ids.extend(new);
    if ids.len() > APPENDED_AT_ONCE {
        return Ok(None);
    }
    let mut deployments = store.deployments_by_id(&ids).await?;
    let counts = |d: &Deployment| d.status == DeploymentStatus::Success && d.environment == analysis.environment && d.service == service;
    if deployments.len() < ids.len() || !deployments.iter().all(|d| counts(d) && d.finished_at.is_some()) {
        return Ok(None);
    }
    // Finish order, then id: the order the part keeps its deployments in.
    deployments.sort_by(|x, y| (x.finished_at, &x.id).cmp(&(y.finished_at, &y.id)));
    if !deployments.first().is_some_and(|d| d.finished_at.is_some_and(|at| part.finishes_last(&d.id, at))) {
        return Ok(None);
    }
    let Some(appendices) = store.appendices(deployments, part.live()).await? else { return Ok(None) };
    Ok(part.appended(&appendices).map(|part| (part, ids.len())))
}

/// The parts of `services`, each from its own read, `at_once` reads at a time; each part is made
/// as its read arrives, so only a few services' commit graphs are held at a time.
async fn parts(store: &Store, environment: &str, services: Vec<String>, at_once: usize) -> Result<Vec<ServicePart>, Problem> {
    let mut pending = services.into_iter();
    let mut reading: JoinSet<Result<ServicePart, Problem>> = JoinSet::new();
    let mut parts = Vec::new();
    loop {
        while reading.len() < at_once
            && let Some(service) = pending.next()
        {
            let (store, environment) = (store.clone(), environment.to_owned());
            reading.spawn(async move {
                let (history, read_at) = store.service_history(&environment, &service).await?;
                blocking(move || ServicePart::build(service, history).read_at(read_at)).await
            });
        }
        let Some(done) = reading.join_next().await else { break };
        parts.push(done.map_err(failed)??);
    }
    Ok(parts)
}

/// Runs a read of the store as a task of its own, outside the span of the work that waits for
/// it. sqlx enters the span current where a query starts on every poll of its row stream, three
/// layers of stream a row: in the analysis's span that was about a seventh of the CPU of a
/// build from the history (`perf` on the benchmark's medium set). A set of one task, so that
/// a build stopped (its task aborted) stops its read too.
async fn unspanned<T: Send + 'static>(read: impl Future<Output = pacer_store::Result<T>> + Send + 'static) -> Result<T, Problem> {
    let mut task = JoinSet::new();
    task.spawn(read);
    match task.join_next().await {
        Some(joined) => Ok(joined.map_err(failed)??),
        None => Err(Problem::internal()),
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(work).await.map_err(failed)
}
