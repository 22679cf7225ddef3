//! Reads the facts the engine analyzes: one environment's deployments and incidents, the commit
//! graph, and the pull requests that move a squash-merged commit's start to its branch's start.
//!
//! The commit graph and the pull requests are folded in as their rows arrive, not read into
//! rows first: they are most of a history, and the graph keeps each sha once.

use std::collections::{HashMap, HashSet};

use pacer_engine::Millis;
use pacer_engine::changeset::{CommitGraph, GraphBuilder, Listed};
use pacer_engine::dora::{Appendix, History};
use pacer_engine::flat::Flat;
use pacer_engine::model::{Deployment, DeploymentStatus, Incident};
use pacer_engine::shas::ShaId;
use sqlx::FromRow;

use crate::{FACTS_GENERATION, Result, Store, StoreError, begin_by_key, by_key, in_list, in_list_on, with_pool};

/// The columns of a deployment, in [`DeploymentTuple`] order (a macro, so `concat!` can use it).
macro_rules! deployment_columns {
    () => {
        "id, service, environment, version, commit_sha, status, started_at, finished_at, rollback_of, unplanned, team, url"
    };
}
pub(crate) use deployment_columns;

/// A deployment row as read with [`DEPLOYMENT_COLUMNS`].
pub(crate) type DeploymentTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
);

pub(crate) fn deployment(row: DeploymentTuple) -> Deployment {
    let (id, service, environment, version, commit_sha, status, started_at, finished_at, rollback_of, unplanned, team, url) =
        row;
    Deployment {
        id,
        service,
        environment,
        version,
        commit_sha,
        // The CHECK constraint admits only known statuses.
        status: DeploymentStatus::parse(&status).unwrap_or(DeploymentStatus::InProgress),
        started_at,
        finished_at,
        commits: Vec::new(),
        rollback_of,
        unplanned,
        team,
        url,
    }
}

/// The columns of an incident, in [`IncidentTuple`] order.
macro_rules! incident_columns {
    () => {
        "id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, commit_sha"
    };
}
pub(crate) use incident_columns;

/// An incident row as read with [`INCIDENT_COLUMNS`].
pub(crate) type IncidentTuple = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(crate) fn incident(row: IncidentTuple) -> Incident {
    let (id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, commit_sha) = row;
    Incident { id, service, environment, opened_at, resolved_at, severity, title, url, deployment_id, commit_sha }
}

/// A merged pull request's merge commit, first commit time, and branch heads.
type PullRequestStart = (String, Option<Millis>, Option<String>, Option<String>);

/// Folds one pull request into `starts`, merge commit → the earliest start of the pull requests
/// that produced it: the first commit time senders give, else the branch's first commit found in
/// the commit graph (webhooks give the branch heads, not the time).
fn branch_start(starts: &mut Starts, graph: &mut CommitGraph, pull_request: PullRequestStart) {
    let (merge_commit, given, head, base) = pull_request;
    let mut visited = Vec::new();
    let found = match (given, head.as_deref(), base.as_deref()) {
        (None, Some(head), Some(base)) => pacer_engine::branch::first_commit_at_visiting(graph, head, base, |sha| visited.push(sha)),
        _ => None,
    };
    let merge_commit = graph.intern(&merge_commit);
    if !visited.is_empty() {
        starts.2.entry(merge_commit).or_default().extend(visited);
    }
    if let Some(start) = given.or(found) {
        starts.0.entry(merge_commit).and_modify(|s| *s = (*s).min(start)).or_insert(start);
        if given.is_none() {
            starts.1.insert(merge_commit);
        }
    }
}

/// Merge commit → branch start, the merge commits of pull requests whose start was found in the
/// graph (see [`History::found_starts`]), and what each such walk depended on
/// ([`History::branch_nodes`]).
type Starts = (HashMap<ShaId, Millis>, HashSet<ShaId>, HashMap<ShaId, Vec<ShaId>>);

/// Adds an explicitly shipped commit, interned into the graph, to `lists`. `deployments` and
/// the rows come in the database's order of deployment ids (one `ORDER BY` over the same
/// column, so no Rust comparison has to agree with the database's collation): a merge join,
/// each deployment's list starting where the last one's ended. A row whose deployment is not
/// in `deployments` is skipped.
fn ship(lists: &mut Flat<Listed>, deployments: &[Deployment], graph: &mut CommitGraph, row: (String, String, Option<i64>)) {
    let (deployment_id, sha, committed_at) = row;
    let open = lists.len().saturating_sub(1);
    let Some(i) = deployments[open..].iter().position(|d| d.id == deployment_id).map(|k| open + k) else { return };
    start_lists(lists, i + 1);
    lists.push_to_last(Listed { sha: graph.intern(&sha), committed_at });
}

/// One service's deployments that count, by id, and the commits they list as read (see
/// [`Store::deployments_of`]).
#[derive(Debug)]
pub struct ServiceRows {
    deployments: Vec<Deployment>,
    /// Deployment id, sha, and the time the list gives, by deployment id and position.
    lists: Vec<(String, String, Option<i64>)>,
}

impl ServiceRows {
    /// The deployments, and the commits each lists (list `i` is deployment `i`'s; those that
    /// list nothing get an empty one), interned into `graph`.
    pub fn listed(self, graph: &mut CommitGraph) -> (Vec<Deployment>, Flat<Listed>) {
        let Self { deployments, lists } = self;
        let mut listed = Flat::default();
        for row in lists {
            ship(&mut listed, &deployments, graph, row);
        }
        start_lists(&mut listed, deployments.len());
        (deployments, listed)
    }
}

/// Starts empty lists until there are `n`: deployment `n - 1`'s is the last, open one.
fn start_lists(lists: &mut Flat<Listed>, n: usize) {
    while lists.len() < n {
        lists.push([]);
    }
}

/// What a walk through the commit graph tells each engine's planner, inside the walk's own
/// transaction. PostgreSQL plans a recursive query for a large working table and joins each
/// step to `commit_parents` by hashing the whole table (seconds a service on the benchmark's
/// medium set); a step is a few hundred commits, for which one index lookup each is right
/// (tens of milliseconds). JIT compilation, which the large estimate also triggers, costs more
/// than the walk. And from a statement's sixth run on a connection PostgreSQL may keep a
/// generic plan, made without the service's name: it scans every deployment, in parallel
/// workers started for each run (the service's list read in 305 ms instead of 32, its walk in
/// 290 ms instead of 107, on the medium set). SQLite's planner already walks by index.
trait WalkPlanner: sqlx::Database {
    const HINTS: &'static [&'static str];
}

impl WalkPlanner for sqlx::Sqlite {
    const HINTS: &'static [&'static str] = &[];
}

impl WalkPlanner for sqlx::Postgres {
    const HINTS: &'static [&'static str] =
        &["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off", "SET LOCAL jit = off", "SET LOCAL plan_cache_mode = force_custom_plan"];
}

fn walk_hints<DB: WalkPlanner>(_: &sqlx::Pool<DB>) -> &'static [&'static str] {
    DB::HINTS
}

/// How each engine begins a transaction whose reads all see one snapshot of the database.
/// SQLite's deferred transaction takes its snapshot at its first read and keeps it to the end;
/// PostgreSQL's default gives each statement its own.
trait Snapshot: sqlx::Database {
    const BEGIN: &'static str;
}

impl Snapshot for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN";
}

impl Snapshot for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
}

fn snapshot<DB: Snapshot>(_: &sqlx::Pool<DB>) -> &'static str {
    DB::BEGIN
}

/// Adds one row of a service's reach (a commit, known or not, and one of its parents) to the graph.
fn reach(graph: &mut GraphBuilder, reached: &mut HashSet<String>, row: (String, Option<i64>, Option<String>)) {
    let (sha, committed_at, parent) = row;
    match committed_at {
        Some(at) => graph.commit(&sha, at),
        None => graph.name(&sha),
    }
    if let Some(parent) = parent {
        graph.parent(&sha, &parent);
    }
    reached.insert(sha);
}

/// One service's deployments that count (successful, with a finish time), by id.
const SERVICE_DEPLOYMENTS: &str = concat!(
    "SELECT ",
    deployment_columns!(),
    " FROM deployments WHERE environment = $1 AND service = $2 AND status = 'success' AND finished_at IS NOT NULL ORDER BY id"
);

/// Whether a commit's message begins as a revert's (see `pacer_engine::rework::is_revert`): the
/// predicate of the partial index `commits_reverts`, which a query repeats to use it.
macro_rules! is_revert {
    () => {
        "substr(message, 1, 8) = 'Revert \"'"
    };
}

/// The known commits among the shas that follow: each one's time, and whether it is a revert.
const COMMITS: &str = concat!("SELECT sha, committed_at, COALESCE(", is_revert!(), ", FALSE) FROM commits WHERE sha IN (");

/// The starts the pull requests merged as the shas that follow give, or can have found.
const PULL_REQUEST_STARTS: &str = "SELECT merge_commit_sha, first_commit_at, head_sha, base_sha FROM pull_requests
     WHERE (first_commit_at IS NOT NULL OR (head_sha IS NOT NULL AND base_sha IS NOT NULL)) AND merge_commit_sha IN (";

/// One level of a walk through the commit graph that reads it by key: each commit's time, when
/// the commit is known, its parents, first parent first, and which are reverts.
#[derive(Default)]
struct Level {
    times: HashMap<String, Millis>,
    parents: HashMap<String, Vec<String>>,
    reverts: HashSet<String>,
}

impl Level {
    /// Adds what `other` read.
    fn extend(&mut self, other: Level) {
        self.times.extend(other.times);
        self.parents.extend(other.parents);
        self.reverts.extend(other.reverts);
    }
}

/// The level of the walk at `shas` (two queries a thousand shas, each by key: a join would let
/// PostgreSQL's planner hash the whole parents table).
async fn read_level<C>(conn: &mut C, shas: &[String]) -> Result<Level>
where
    C: sqlx::Connection,
    for<'t> String: sqlx::Encode<'t, C::Database> + sqlx::Type<C::Database>,
    for<'r> (String, i64, bool): sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row>,
    for<'r> (String, String): sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row>,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
{
    const PARENTS: &str = "SELECT sha, parent_sha FROM commit_parents WHERE sha IN (";
    let mut level = Level::default();
    for (sha, committed_at, revert) in in_list_on::<_, (String, i64, bool)>(conn, COMMITS, shas, "").await? {
        if revert {
            level.reverts.insert(sha.clone());
        }
        level.times.insert(sha, committed_at);
    }
    for (sha, parent) in in_list_on::<_, (String, String)>(conn, PARENTS, shas, " ORDER BY sha, position").await? {
        level.parents.entry(sha).or_default().push(parent);
    }
    Ok(level)
}

/// Rows of the commit graph handed from its read to its build at once.
const GRAPH_ROWS_AT_ONCE: usize = 8_192;

/// A batch of the commit graph's rows, on their way from the read to the build.
enum GraphRows {
    /// `commits` rows: a sha and its time.
    Commits(Vec<(String, i64)>),
    /// `commit_parents` rows: a sha, a position among its parents, and that parent.
    Parents(Vec<(String, i64, String)>),
}

/// Builds the commit graph of the rows `rows` hands over, on the thread it runs on, until the
/// read drops its end.
fn build_graph(commits: usize, mut rows: tokio::sync::mpsc::Receiver<GraphRows>) -> CommitGraph {
    let mut graph = CommitGraph::builder(commits);
    while let Some(batch) = rows.blocking_recv() {
        match batch {
            GraphRows::Commits(rows) => rows.into_iter().for_each(|(sha, at)| graph.commit(&sha, at)),
            GraphRows::Parents(rows) => {
                for (sha, position, parent) in rows {
                    graph.parent_at(&sha, u32::try_from(position).unwrap_or(u32::MAX), &parent);
                }
            }
        }
    }
    graph.build()
}

/// What a thread of the blocking pool returned; its panic goes on here, as if the work had run
/// on the caller's thread.
///
/// # Errors
/// The runtime is shutting down, and cancelled the work before it ran.
fn joined<T>(result: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    result.or_else(|error| match error.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
    })
}

/// Runs `query` and sends its rows, decoded, to `build` in batches of [`GRAPH_ROWS_AT_ONCE`],
/// each made into a [`GraphRows`] by `batch`. Stops early, without an error, when the build has
/// stopped taking them (it panicked; awaiting it says so).
macro_rules! send_rows {
    ($pool:expr, $query:expr, $batch:expr, $build:expr) => {{
        use futures_util::TryStreamExt;
        let mut rows = sqlx::query_as($query).fetch($pool);
        let mut batch = Vec::with_capacity(GRAPH_ROWS_AT_ONCE);
        let mut open = true;
        while open && let Some(row) = rows.try_next().await.map_err(StoreError::classify)? {
            batch.push(row);
            if batch.len() == GRAPH_ROWS_AT_ONCE {
                open = $build.send($batch(std::mem::replace(&mut batch, Vec::with_capacity(GRAPH_ROWS_AT_ONCE)))).await.is_ok();
            }
        }
        if open && !batch.is_empty() {
            let _ = $build.send($batch(batch)).await;
        }
    }};
}

/// Runs `query` and hands each row, decoded, to `fold`, without collecting the rows.
macro_rules! for_each_row {
    ($pool:expr, $query:expr, |$row:ident| $fold:expr) => {
        $query
            .try_map(|raw| {
                let $row = FromRow::from_row(&raw)?;
                $fold;
                Ok(())
            })
            .fetch_all($pool)
            .await
            .map_err(StoreError::classify)?
    };
}

impl Store {
    /// What a build of `environment`'s analysis from its whole history shares between its
    /// services (see `pacer_engine::dora::Builder`): the commit graph, the pull requests'
    /// starts, the revert commits and the incidents, as a history without deployments; and the
    /// services with a deployment that counts, in order. Each service's deployments are read
    /// after with [`Store::deployments_of`]. The graph and the pull requests are read whole, one
    /// pass each in order: reading each service's commits by index instead, as an advance does
    /// for one service, took ten times as long on the benchmark's medium set (75 s against
    /// 7.3 s, BENCHMARKS.md, Live).
    ///
    /// # Errors
    /// The database failed.
    pub async fn shared_history(&self, environment: &str) -> Result<(History, Vec<String>)> {
        const SERVICES: &str = "SELECT DISTINCT service FROM deployments
             WHERE environment = $1 AND status = 'success' AND finished_at IS NOT NULL ORDER BY service";
        const COMMITS: &str = "SELECT sha, committed_at FROM commits";
        // In storage order: sorted by the primary key, PostgreSQL reads the table through its
        // index, one heap page a row (0.9 s against 0.2 s on the benchmark's medium set).
        const PARENTS: &str = "SELECT sha, position, parent_sha FROM commit_parents";
        const PULL_REQUESTS: &str = "SELECT merge_commit_sha, first_commit_at, head_sha, base_sha FROM pull_requests
             WHERE merge_commit_sha IS NOT NULL AND (first_commit_at IS NOT NULL OR (head_sha IS NOT NULL AND base_sha IS NOT NULL))";
        const COMMIT_COUNT: &str = "SELECT COUNT(*) FROM commits";

        // Each row is folded in by the query's `try_map` as it arrives; the queries collect only
        // the `()` each fold returns.
        let (services, graph, starts) = with_pool!(self, pool => {
            let services: Vec<String> = sqlx::query_scalar(SERVICES).bind(environment).fetch_all(pool).await.map_err(StoreError::classify)?;
            let commits: i64 = sqlx::query_scalar(COMMIT_COUNT).fetch_one(pool).await.map_err(StoreError::classify)?;
            // The graph is built on its own thread while the rows are read and decoded here:
            // each half is about half the work (the build is hashing each sha into the graph's
            // table), so on two cores the read takes the time of the slower half.
            let (rows, taken) = tokio::sync::mpsc::channel(2);
            let build = tokio::task::spawn_blocking(move || build_graph(usize::try_from(commits).unwrap_or_default(), taken));
            send_rows!(pool, COMMITS, GraphRows::Commits, rows);
            send_rows!(pool, PARENTS, GraphRows::Parents, rows);
            drop(rows);
            let mut graph = joined(build.await)?;
            let mut starts = Starts::default();
            for_each_row!(pool, sqlx::query(PULL_REQUESTS), |row| branch_start(&mut starts, &mut graph, row));
            (services, graph, starts)
        });
        let incidents = self.incidents_in(environment).await?;
        let history = self.assembled(environment, (Vec::new(), graph, Flat::default()), starts, incidents).await?;
        Ok((history, services))
    }

    /// The deployments of `service` in `environment` that count (successful, with a finish
    /// time), by id, and the commits each lists, as read: one service's share of a build from
    /// the whole history (see [`Store::shared_history`]). Nothing of the graph is needed to read
    /// it, so the next service's read can run while this one's part is made.
    ///
    /// # Errors
    /// The database failed.
    pub async fn deployments_of(&self, environment: &str, service: &str) -> Result<ServiceRows> {
        const LISTS: &str = "SELECT deployment_id, sha, committed_at FROM deployment_commits WHERE deployment_id IN (";
        let rows = with_pool!(self, pool => {
            let mut deployments: Vec<Deployment> = Vec::new();
            for_each_row!(pool, sqlx::query(SERVICE_DEPLOYMENTS).bind(environment).bind(service), |row| deployments.push(deployment(row)));
            // By key, the ids in the order the database sorted them and each chunk sorted the same
            // way, so the rows come in that order. Joined to the deployments by the service's name
            // instead, the read is at the mercy of a generic plan (see `WalkPlanner`).
            let ids: Vec<String> = deployments.iter().map(|d| d.id.clone()).collect();
            let lists = in_list(pool, LISTS, &ids, " ORDER BY deployment_id, position").await?;
            ServiceRows { deployments, lists }
        });
        Ok(rows)
    }

    /// A history of what was read, with the revert commits among the graph's.
    async fn assembled(
        &self,
        environment: &str,
        (deployments, graph, listed): (Vec<Deployment>, CommitGraph, Flat<Listed>),
        (pr_first_commit, found_starts, branch_nodes): Starts,
        incidents: Vec<Incident>,
    ) -> Result<History> {
        let reverts = self.revert_shas().await?.iter().filter_map(|sha| graph.id(sha)).collect();
        Ok(History { environment: environment.to_owned(), deployments, graph, pr_first_commit, found_starts, incidents, listed, branch_nodes, reverts })
    }

    /// The revert commits (see `pacer_engine::rework::is_revert`), read through the partial index
    /// `commits_reverts`.
    async fn revert_shas(&self) -> Result<Vec<String>> {
        const ALL: &str = concat!("SELECT sha FROM commits WHERE ", is_revert!());
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as(ALL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(|(sha,)| sha).collect())
    }

    /// Everything the engine needs to analyze one service of `environment`: its successful
    /// deployments with their lists, exactly the commit graph they depend on — what their heads
    /// reach through known parents (a recursive walk in the database, which visits each commit
    /// once), the commits they list, and the branches of the pull requests merged as those
    /// commits whose start must be found in the graph — those pull requests' starts, and the
    /// service's incidents. What one part of an analysis is made from; see
    /// `pacer_engine::dora::Analysis::from_services`.
    ///
    /// The deployments, their lists and the graph are read in one snapshot, and so is the
    /// generation returned (row 1 of `store_generation`): they hold exactly the changes up to
    /// it (writes commit in generation order), so an advance of the analysis need not apply
    /// those again (see `pacer_engine::dora::ServicePart::read_at`). The incidents and the
    /// revert commits are read after, at that generation or a later one.
    ///
    /// # Errors
    /// The database failed.
    pub async fn service_history(&self, environment: &str, service: &str) -> Result<(History, i64)> {
        const REACH: &str = "WITH RECURSIVE reach(sha) AS (
                 SELECT commit_sha FROM deployments
                 WHERE environment = $1 AND service = $2 AND status = 'success' AND finished_at IS NOT NULL AND commit_sha IS NOT NULL
                 UNION
                 SELECT p.parent_sha FROM commit_parents p JOIN reach r ON p.sha = r.sha
             )
             SELECT r.sha, c.committed_at, p.parent_sha FROM reach r
             LEFT JOIN commits c ON c.sha = r.sha LEFT JOIN commit_parents p ON p.sha = r.sha
             ORDER BY r.sha, p.position";
        const SHIPPED: &str = "SELECT dc.deployment_id, dc.sha, dc.committed_at, c.committed_at
             FROM deployment_commits dc JOIN deployments d ON d.id = dc.deployment_id LEFT JOIN commits c ON c.sha = dc.sha
             WHERE d.environment = $1 AND d.service = $2 AND d.status = 'success' AND d.finished_at IS NOT NULL
             ORDER BY dc.deployment_id, dc.position";

        let (deployments, graph, starts, listed, read_at) = with_pool!(self, pool => {
            let mut tx = pool.begin_with(snapshot(pool)).await.map_err(StoreError::classify)?;
            let read_at: i64 = sqlx::query_scalar(FACTS_GENERATION).fetch_one(&mut *tx).await.map_err(StoreError::classify)?;
            let mut deployments: Vec<Deployment> = Vec::new();
            for_each_row!(&mut *tx, sqlx::query(SERVICE_DEPLOYMENTS).bind(environment).bind(service), |row| deployments.push(deployment(row)));

            let mut graph = CommitGraph::builder(deployments.len() * 8);
            // What the heads reach is closed under "parent of": a walk that meets it has met
            // everything behind it. The planner's hints hold for the rest of the transaction;
            // every read after the walk is by key too.
            let mut reached: HashSet<String> = HashSet::new();
            by_key(&mut *tx).await?;
            for hint in walk_hints(pool) {
                sqlx::query(*hint).execute(&mut *tx).await.map_err(StoreError::classify)?;
            }
            for_each_row!(&mut *tx, sqlx::query(REACH).bind(environment).bind(service), |row| reach(&mut graph, &mut reached, row));
            let shipped: Vec<(String, String, Option<i64>, Option<i64>)> =
                sqlx::query_as(SHIPPED).bind(environment).bind(service).fetch_all(&mut *tx).await.map_err(StoreError::classify)?;
            for (_, sha, _, known) in &shipped {
                if let Some(at) = known {
                    graph.commit(sha, *at);
                }
            }

            let mut candidates: Vec<String> = reached.iter().cloned().collect();
            candidates.extend(shipped.iter().map(|(_, sha, ..)| sha.clone()));
            candidates.sort_unstable();
            candidates.dedup();
            let pull_requests: Vec<PullRequestStart> = in_list_on(&mut *tx, PULL_REQUEST_STARTS, &candidates, "").await?;
            // The branches whose start is found in the graph: walk back from their tips until
            // what the heads reach, level by level.
            let mut next: Vec<String> = pull_requests
                .iter()
                .filter(|(_, given, ..)| given.is_none())
                .flat_map(|(_, _, head, base)| [head.clone(), base.clone()])
                .flatten()
                .filter(|sha| !reached.contains(sha))
                .collect();
            next.sort_unstable();
            next.dedup();
            let mut visited: HashSet<String> = next.iter().cloned().collect();
            while !next.is_empty() && visited.len() <= pacer_engine::branch::MAX_VISITED {
                let level = std::mem::take(&mut next);
                let Level { times, mut parents, .. } = read_level(&mut *tx, &level).await?;
                for sha in &level {
                    match times.get(sha) {
                        Some(&at) => graph.commit(sha, at),
                        None => graph.name(sha),
                    }
                    for parent in parents.remove(sha).unwrap_or_default() {
                        graph.parent(sha, &parent);
                        if !reached.contains(&parent) && visited.insert(parent.clone()) {
                            next.push(parent);
                        }
                    }
                }
            }
            let mut graph = graph.build();

            let mut listed = Flat::default();
            for (deployment_id, sha, committed_at, _) in shipped {
                ship(&mut listed, &deployments, &mut graph, (deployment_id, sha, committed_at));
            }
            start_lists(&mut listed, deployments.len());
            let mut starts = Starts::default();
            for row in pull_requests {
                branch_start(&mut starts, &mut graph, row);
            }
            tx.commit().await.map_err(StoreError::classify)?;
            (deployments, graph, starts, listed, read_at)
        });
        // The graph is exactly what the service depends on: no branch needs keeping apart.
        let (pr_first_commit, found_starts, _) = starts;
        let incidents = self.incidents_of(environment, service).await?;
        let history = self.assembled(environment, (deployments, graph, listed), (pr_first_commit, found_starts, HashMap::new()), incidents).await?;
        Ok((history, read_at))
    }

    /// What adding `deployments` after the last one of their service needs, in their order
    /// (finish order; see `pacer_engine::dora::Appendix`): for each, the commits its head reaches
    /// that neither `live` holds nor one before it shipped, the times of the commits it lists,
    /// and the starts of the pull requests merged as any of them.
    ///
    /// A few queries for all of them, however many: the commits all the heads reach that `live`
    /// does not hold are read level by level (a query a level; a deployment ships a few commits,
    /// and every head starts at the first level, so a few levels), then each deployment's walk
    /// goes over what was read. `None` when that walk is longer than a few levels, or a pull
    /// request's start must be found in its branch: the service is then read whole.
    ///
    /// # Errors
    /// The database failed.
    pub async fn appendices(&self, deployments: Vec<Deployment>, live: impl Fn(&str) -> bool) -> Result<Option<Vec<Appendix>>> {
        /// Levels walked before reading the service whole is cheaper (a query a level).
        const MAX_LEVELS: usize = 100;
        let mut level: Vec<String> = deployments.iter().filter_map(|d| d.commit_sha.clone()).filter(|head| !live(head)).collect();
        level.sort_unstable();
        level.dedup();
        let mut listed: Vec<String> = deployments.iter().flat_map(|d| d.commits.iter().map(|c| c.sha.clone())).collect();
        listed.sort_unstable();
        listed.dedup();
        let reached = with_pool!(self, pool => {
            let mut tx = begin_by_key(pool).await?;
            let mut reached = Level::default();
            let mut seen: HashSet<String> = level.iter().cloned().collect();
            let mut levels = 0;
            while !level.is_empty() {
                levels += 1;
                if levels > MAX_LEVELS {
                    return Ok(None);
                }
                let read = read_level(&mut *tx, &level).await?;
                level = read.parents.values().flatten().filter(|parent| !live(parent) && seen.insert((*parent).clone())).cloned().collect();
                reached.extend(read);
            }
            // The listed commits no head reached: their times, and whether they are reverts.
            let unread: Vec<String> = listed.iter().filter(|sha| !seen.contains(*sha)).cloned().collect();
            reached.extend(read_level(&mut *tx, &unread).await?);
            tx.commit().await.map_err(StoreError::classify)?;
            reached
        });

        // Each deployment's walk, in order, as `changesets` walks it: head first, then breadth
        // first, stopping at what is live, now also what the ones before it shipped.
        let mut shipped: HashSet<String> = HashSet::new();
        let mut walks: Vec<Vec<(String, Option<Millis>)>> = Vec::with_capacity(deployments.len());
        for deployment in &deployments {
            let stops = |sha: &str| live(sha) || shipped.contains(sha);
            let mut level: Vec<String> = deployment.commit_sha.iter().filter(|head| !stops(head)).cloned().collect();
            let mut seen: HashSet<String> = level.iter().cloned().collect();
            let mut walked = Vec::new();
            while !level.is_empty() {
                let mut next = Vec::new();
                for sha in level {
                    for parent in reached.parents.get(&sha).into_iter().flatten() {
                        if !stops(parent) && seen.insert(parent.clone()) {
                            next.push(parent.clone());
                        }
                    }
                    let at = reached.times.get(&sha).copied();
                    walked.push((sha, at));
                }
                level = next;
            }
            shipped.extend(walked.iter().map(|(sha, _)| sha.clone()));
            shipped.extend(deployment.commits.iter().map(|c| c.sha.clone()));
            walks.push(walked);
        }

        // The pull requests merged as anything shipped, read once for all.
        let mut merged: Vec<String> = shipped.into_iter().collect();
        merged.sort_unstable();
        let starts: Vec<PullRequestStart> = with_pool!(self, pool => in_list(pool, PULL_REQUEST_STARTS, &merged, "").await?);
        let mut pr_first_commit: HashMap<String, Millis> = HashMap::new();
        for (merge_commit, given, ..) in starts {
            // A start found in the branch needs the branch's graph: read the service whole.
            let Some(start) = given else { return Ok(None) };
            pr_first_commit.entry(merge_commit).and_modify(|s| *s = (*s).min(start)).or_insert(start);
        }
        let appendices = deployments
            .into_iter()
            .zip(walks)
            .map(|(deployment, walked)| {
                let listed = || deployment.commits.iter().map(|c| &c.sha);
                let all = || walked.iter().map(|(sha, _)| sha).chain(listed());
                Appendix {
                    listed_times: listed().filter_map(|sha| Some((sha.clone(), *reached.times.get(sha)?))).collect(),
                    pr_first_commit: all().filter_map(|sha| Some((sha.clone(), *pr_first_commit.get(sha)?))).collect(),
                    reverts: all().filter(|sha| reached.reverts.contains(*sha)).cloned().collect(),
                    walked,
                    deployment,
                }
            })
            .collect();
        Ok(Some(appendices))
    }

    /// The incidents of one service of `environment`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn incidents_of(&self, environment: &str, service: &str) -> Result<Vec<Incident>> {
        const INCIDENTS: &str = concat!("SELECT ", incident_columns!(), " FROM incidents WHERE environment = $1 AND service = $2");
        let rows: Vec<IncidentTuple> = with_pool!(self, pool => {
            sqlx::query_as(INCIDENTS).bind(environment).bind(service).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(incident).collect())
    }

    /// Every incident of `environment`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn incidents_in(&self, environment: &str) -> Result<Vec<Incident>> {
        const INCIDENTS: &str = concat!("SELECT ", incident_columns!(), " FROM incidents WHERE environment = $1");
        let rows: Vec<IncidentTuple> = with_pool!(self, pool => {
            sqlx::query_as(INCIDENTS).bind(environment).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(incident).collect())
    }

    /// The environments that have deployments or incidents, sorted.
    ///
    /// # Errors
    /// The database failed.
    pub async fn environments(&self) -> Result<Vec<String>> {
        // A skip scan on each table's index by environment (a probe an environment), where a
        // DISTINCT would read every row: the page asks on every load.
        const SQL: &str = "WITH RECURSIVE
                 d(environment) AS (
                     SELECT MIN(environment) FROM deployments
                     UNION ALL SELECT (SELECT MIN(environment) FROM deployments WHERE environment > d.environment) FROM d WHERE d.environment IS NOT NULL),
                 i(environment) AS (
                     SELECT MIN(environment) FROM incidents
                     UNION ALL SELECT (SELECT MIN(environment) FROM incidents WHERE environment > i.environment) FROM i WHERE i.environment IS NOT NULL)
             SELECT environment FROM d WHERE environment IS NOT NULL
             UNION SELECT environment FROM i WHERE environment IS NOT NULL ORDER BY 1";
        let names: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(SQL).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(names)
    }
}

/// A commit as a rollback report shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct CommitSummary {
    /// The sha.
    pub sha: String,
    /// The repository.
    pub repository: Option<String>,
    /// When it was committed (epoch ms).
    pub committed_at: i64,
    /// Its author.
    pub author: Option<String>,
    /// The first line of its message.
    pub message: Option<String>,
}

/// A pull request as a rollback report shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct PullRequestSummary {
    /// Its id.
    pub id: String,
    /// The repository.
    pub repository: String,
    /// Its number.
    pub number: i64,
    /// Its author.
    pub author: Option<String>,
    /// When it was merged (epoch ms).
    pub merged_at: Option<i64>,
    /// The commit its merge produced.
    pub merge_commit_sha: Option<String>,
    /// When its first commit was made (epoch ms), when known; the stages start here.
    #[serde(skip)]
    pub first_commit_at: Option<i64>,
    /// When it was opened (epoch ms).
    #[serde(skip)]
    pub opened_at: i64,
    /// When it was first reviewed (epoch ms).
    #[serde(skip)]
    pub first_review_at: Option<i64>,
}

impl Store {
    /// The known commits among `shas`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn commits(&self, shas: &[String]) -> Result<Vec<CommitSummary>> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<CommitSummary> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new("SELECT sha, repository, committed_at, author, message FROM commits WHERE sha IN (");
            let mut list = sql.separated(", ");
            for sha in shas {
                list.push_bind(sha.clone());
            }
            sql.push(") ORDER BY committed_at");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows
            .into_iter()
            .map(|c| CommitSummary { message: c.message.and_then(|m| m.lines().next().map(str::to_owned)), ..c })
            .collect())
    }

    /// The pull requests whose merge produced one of `shas`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn pull_requests_merged_as(&self, shas: &[String]) -> Result<Vec<PullRequestSummary>> {
        if shas.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<PullRequestSummary> = with_pool!(self, pool => {
            let mut sql = sqlx::QueryBuilder::new(
                "SELECT id, repository, number, author, merged_at, merge_commit_sha, first_commit_at, opened_at, first_review_at
                 FROM pull_requests WHERE merge_commit_sha IN (",
            );
            let mut list = sql.separated(", ");
            for sha in shas {
                list.push_bind(sha.clone());
            }
            sql.push(") ORDER BY merged_at");
            sql.build_query_as().fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }
}

impl Store {
    /// Good and total SLI events of one series in `[from, to)`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn sli_counts(&self, service: &str, environment: &str, slo: &str, from: Millis, to: Millis) -> Result<(i64, i64)> {
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back so both engines return integers.
        const SQL: &str = "SELECT CAST(COALESCE(SUM(good), 0) AS BIGINT), CAST(COALESCE(SUM(total), 0) AS BIGINT)
             FROM sli_samples WHERE service = $1 AND environment = $2 AND slo = $3 AND at >= $4 AND at < $5";
        let counts: (i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(SQL)
                .bind(service)
                .bind(environment)
                .bind(slo)
                .bind(from)
                .bind(to)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)?
        });
        Ok(counts)
    }

    /// Good and total SLI events of one series in `[from, to)` by time slice of `width`
    /// milliseconds, slice `n` holding `[n × width, (n + 1) × width)`: `(n, good, total)`, oldest
    /// first; slices without samples are left out.
    ///
    /// # Errors
    /// The database failed.
    pub async fn sli_slices(&self, service: &str, environment: &str, slo: &str, from: Millis, to: Millis, width: Millis) -> Result<Vec<(i64, i64, i64)>> {
        // Integer division on both engines (`at` and the width are integers, and samples are
        // after 1970, so truncation is the floor); GROUP BY 1 names the slice on both.
        const SQL: &str = "SELECT CAST(at / $6 AS BIGINT), CAST(SUM(good) AS BIGINT), CAST(SUM(total) AS BIGINT)
             FROM sli_samples WHERE service = $1 AND environment = $2 AND slo = $3 AND at >= $4 AND at < $5
             GROUP BY 1 ORDER BY 1";
        let rows: Vec<(i64, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(SQL)
                .bind(service)
                .bind(environment)
                .bind(slo)
                .bind(from)
                .bind(to)
                .bind(width.max(1))
                .fetch_all(pool)
                .await
                .map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// The SLI samples of one series in `[from, to)`, oldest first: `(at, good, total)`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn sli_samples(&self, service: &str, environment: &str, slo: &str, from: Millis, to: Millis) -> Result<Vec<(Millis, i64, i64)>> {
        const SQL: &str = "SELECT at, good, total FROM sli_samples
             WHERE service = $1 AND environment = $2 AND slo = $3 AND at >= $4 AND at < $5 ORDER BY at";
        let rows: Vec<(Millis, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(service).bind(environment).bind(slo).bind(from).bind(to).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }
}
