//! pacer's store: facts and the raw events they came from, on SQLite or PostgreSQL.
//!
//! It owns the schema (one migrations folder per engine under `migrations/`), idempotent
//! ingestion, and the reads the engine and the listings need; it knows nothing of HTTP or of
//! what the numbers mean. Both engines run the same SQL text (`$N` placeholders work on both):
//! [`Store`] is an enum over the two pools and [`with_pool!`] expands each operation once per
//! engine, so there is one copy of every query and one behaviour.
//!
//! Idempotency comes from constraints: facts are upserted on their key, and an upsert only
//! changes a row when the new state ranks at least as far along its lifecycle and differs in
//! content (see `migrations/*/0001_facts.sql`). Every change bumps a generation counter in the
//! same transaction, so readers on any replica know when a cached analysis is stale.

mod change_log;
mod changes;
mod chat;
mod delivery;
mod gates;
mod history;
mod imports;
mod ingest;
mod counts;
mod listing;
mod outbox;
mod sends;
mod snapshots;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use chat::{ChangedFacts, ChatCursor, ChatEventRow, MessageRow, NewMessage};
pub use changes::{ChangeQuery, CiRunRow, CommitRow, PullRequestRow};
pub use counts::{CiBucket, CiTiming};
pub use delivery::{Delivered, Delivery, StoredDelivery};
pub use gates::{GateAnswerRow, GateQuery, NewGateAnswer};
pub use imports::ImportCursor;
pub use ingest::{Ingested, RawEvent};
pub use history::{CommitSummary, PullRequestSummary, ServiceRows};
pub use outbox::{Approval, AttemptRow, DeliveryRow, Due, NewRollback, Next, RollbackRow};
pub use listing::{Cursor, DeploymentRow, IncidentRow, ListQuery, Page};
pub use sends::{NewSend, SendOutcome, SendRow};
pub use snapshots::{SnapshotHeader, SnapshotWrite};
pub use tokens::{Created, NewToken, TokenRow};

/// The SQLite migrations, embedded.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
/// The PostgreSQL migrations, embedded.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no engine pacer supports.
    #[error("expected a database URL starting with sqlite:// or postgres:// but found {0:?}")]
    UnsupportedUrl(String),
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database is unreachable or overloaded right now; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database has no room left (SQLite's disk is full, PostgreSQL's `disk_full`); nothing
    /// of the operation was stored, and retrying will not help until an operator frees space.
    #[error("database storage full: {0}")]
    StorageFull(sqlx::Error),
}

impl StoreError {
    /// Whether retrying later may succeed (connection lost, pool exhausted, lock contention).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the database refused the write for lack of space.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::StorageFull(_))
    }

    fn classify(error: sqlx::Error) -> Self {
        /// SQLite's result codes (primary, or extended ones whose low byte is the primary).
        const SQLITE_BUSY: i64 = 5;
        const SQLITE_LOCKED: i64 = 6;
        const SQLITE_FULL: i64 = 13;
        let sqlite = |code: &str| code.parse::<i64>().ok().map(|c| c & 0xff);
        let kind = match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => Some(false),
            // A connection that broke mid-conversation (the server went away).
            sqlx::Error::Protocol(_) => Some(false),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // PostgreSQL: disk full.
                Some("53100") => Some(true),
                // PostgreSQL: serialization failure, deadlock, admin or crash shutdown, cannot
                // connect now (starting up), too many connections, and every connection exception.
                Some("40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300") => Some(false),
                Some(code) if code.starts_with("08") => Some(false),
                Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => match sqlite(code) {
                    Some(SQLITE_FULL) => Some(true),
                    Some(SQLITE_BUSY | SQLITE_LOCKED) => Some(false),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        match kind {
            Some(true) => Self::StorageFull(error),
            Some(false) => Self::Unavailable(error),
            None => Self::Database(error),
        }
    }
}

/// Where the stored facts stand; any change moves `facts`, a change to deployments, commits or
/// pull requests also moves `structure`, and a change to incidents also moves `incidents`. CI
/// runs and SLI samples move only `facts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generations {
    /// Moves with every change.
    pub facts: i64,
    /// Moves with changes to what changesets depend on.
    pub structure: i64,
    /// Moves with changes to incidents.
    pub incidents: i64,
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection pool to pacer's database.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite (a file, WAL mode), and the queue its writers of this process wait in.
    Sqlite(SqlitePool, WriteQueue),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Prepared statements each SQLite connection keeps.
const SQLITE_STATEMENTS_PER_CONNECTION: usize = 32;
/// The reading connections of a SQLite pool, beside its one writer.
const SQLITE_READERS: u32 = 3;
/// The rows a reading SQLite connection may have read ahead of the task taking them.
const SQLITE_ROWS_IN_FLIGHT: usize = 4_096;

/// The one connection this process writes to SQLite through, and the queue its writers wait in.
///
/// SQLite lets one connection write at a time. A connection that finds the database locked
/// waits in SQLite's busy handler, which sleeps in growing steps of up to 100 ms and does not
/// wake when the lock is freed, so a write can wait far longer than the one before it took.
/// The writes that come often or must be quick — batches of facts, the change log, snapshots,
/// rollback approvals, hook and chat delivery claims and attempts — take a turn here instead and
/// follow each other in order ([`with_writer!`]). The rare ones (report sends, tokens, import
/// cursors) and another process writing to the same file (a `pacer import` beside
/// `pacer serve`) still meet the busy handler.
///
/// One connection rather than any of the pool's: SQLite drops a connection's whole page cache
/// when another connection has written since it last read, so writes spread over a pool each
/// start from a cold cache and read every index page they touch again. The writer keeps its
/// cache from one write to the next.
#[derive(Debug, Clone)]
pub struct WriteQueue(std::sync::Arc<tokio::sync::Mutex<SqlitePool>>);

impl WriteQueue {
    /// The queue of writes through `writer`, a pool of one connection.
    pub fn new(writer: SqlitePool) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Mutex::new(writer)))
    }

    /// Waits for this process's turn to write; the turn lasts until the guard is dropped.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, SqlitePool> {
        self.0.lock().await
    }
}

/// Runs `$body` with `$pool` bound to the pool of whichever engine `$store` uses; the body is
/// compiled once per engine, so the SQL and the code around it exist once.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool, _) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` as [`with_pool!`] does, for a write that takes its turn: on SQLite `$pool` is the
/// one writing connection, held until `$body` ends (see [`WriteQueue`]); PostgreSQL's writers
/// overlap, so there it is the pool.
macro_rules! with_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite(_, queue) => {
                let turn = queue.turn().await;
                let $pool = &*turn;
                $body
            }
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_writer;

impl Store {
    /// Connects to `url` (`sqlite://path` — created if missing — or `postgres://…`).
    ///
    /// # Errors
    /// An unsupported URL, or a database that cannot be opened or reached.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // A prepared SQLite statement lives in this process's heap, per connection: the
                // default of 100 a connection held about 20 MB more under the live benchmark's
                // stream than 32 does, with the same latencies (BENCHMARKS.md, Live).
                .statement_cache_capacity(SQLITE_STATEMENTS_PER_CONNECTION);
            // Three reading connections and one writer. The analysis answers most reads from
            // memory. Each connection holds up to 2 MB of page cache and its statements in this
            // process's heap: at the full size under the live stream four connections in all
            // kept the steady median at 149 MB against 156 MB with eight, at the same latencies;
            // three readers beside the writer at 148 MB, four at 151 MB (BENCHMARKS.md, Live).
            let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
            // A reader's rows cross from its SQLite thread to the runtime through a channel;
            // with sqlx's 50 rows the two threads took turns row by row through a read of the
            // whole commit graph, a third of the time switching between them.
            let options = options.row_buffer_size(SQLITE_ROWS_IN_FLIGHT);
            let pool = SqlitePoolOptions::new().max_connections(SQLITE_READERS).connect_with(options).await?;
            Ok(Self::Sqlite(pool, WriteQueue::new(writer)))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?.application_name("pacer");
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(StoreError::classify)?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    /// Applies the embedded migrations that have not run yet.
    ///
    /// # Errors
    /// A migration that fails, or an applied migration that was edited.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Self::Sqlite(pool, _) => SQLITE_MIGRATIONS.run(pool).await?,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// The generation counter: it changes whenever a stored fact changes.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn generation(&self) -> Result<i64> {
        let value: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(FACTS_GENERATION)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)?
        });
        Ok(value)
    }

    /// Both generation counters: every change, and changes to what changesets depend on.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn generations(&self) -> Result<Generations> {
        let rows: Vec<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT CAST(id AS BIGINT), value FROM store_generation").fetch_all(pool).await.map_err(StoreError::classify)?
        });
        let value = |id| rows.iter().find(|(i, _)| *i == id).map_or(0, |(_, v)| *v);
        Ok(Generations { facts: value(1), structure: value(2), incidents: value(3) })
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        if let Self::Sqlite(_, queue) = self {
            queue.turn().await.close().await;
        }
        with_pool!(self, pool => pool.close().await);
    }
}

/// The generation every stored fact is at (row 1 of `store_generation`; see [`Generations`]).
pub(crate) const FACTS_GENERATION: &str = "SELECT value FROM store_generation WHERE id = 1";

/// What a transaction that reads and writes only by key tells each engine's planner. Without
/// a table's statistics (a new table, one grown since its last `ANALYZE`, autovacuum off)
/// PostgreSQL takes each key of `column IN (…)` to match 1 row in 200 of a column that is not
/// unique on its own, so a list of a few hundred keys reads the whole table: each batch of an
/// ingest deleted its commits' parents and its deployments' lists, and each advance read its
/// commits' parents, by a scan of the whole table (11.2 ms against 3.7 ms by the index at
/// 96 000 parents, and growing with the table). Even with statistics it scanned that table
/// for 500 keys (8.7 ms). Every statement of such a transaction has an index to follow, so
/// PostgreSQL is told not to scan. SQLite's planner already follows the index.
pub(crate) trait KeyPlanner: sqlx::Database {
    const HINTS: &'static [&'static str];
}

impl KeyPlanner for sqlx::Sqlite {
    const HINTS: &'static [&'static str] = &[];
}

impl KeyPlanner for sqlx::Postgres {
    const HINTS: &'static [&'static str] = &["SET LOCAL enable_seqscan = off"];
}

/// Tells the planner of the transaction on `conn` that its statements read and write by key
/// (see [`KeyPlanner`]).
///
/// # Errors
/// The database failed.
pub(crate) async fn by_key<C>(conn: &mut C) -> Result<()>
where
    C: sqlx::Connection<Database: KeyPlanner>,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
{
    for hint in <C::Database as KeyPlanner>::HINTS {
        sqlx::query(*hint).execute(&mut *conn).await.map_err(StoreError::classify)?;
    }
    Ok(())
}

/// A transaction on `pool` whose statements read and write by key (see [`KeyPlanner`]).
///
/// # Errors
/// The database failed.
pub(crate) async fn begin_by_key<DB: KeyPlanner>(pool: &sqlx::Pool<DB>) -> Result<sqlx::Transaction<'static, DB>>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let mut tx = pool.begin().await.map_err(StoreError::classify)?;
    by_key(&mut *tx).await?;
    Ok(tx)
}

/// The rows of `head` + a list of `keys` + `tail` (`head` ends in `IN (`), one statement for
/// each thousand keys, so a list of any length stays under both engines' limits on bound
/// parameters; read by key (see [`KeyPlanner`]).
///
/// # Errors
/// The database failed.
pub(crate) async fn in_list<DB, Row>(pool: &sqlx::Pool<DB>, head: &str, keys: &[String], tail: &str) -> Result<Vec<Row>>
where
    DB: KeyPlanner,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'r> Row: sqlx::FromRow<'r, DB::Row> + Send + Unpin,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = begin_by_key(pool).await?;
    let rows = in_list_on(&mut *tx, head, keys, tail).await?;
    tx.commit().await.map_err(StoreError::classify)?;
    Ok(rows)
}

/// [`in_list`] on one connection, or in one transaction.
pub(crate) async fn in_list_on<C, Row>(conn: &mut C, head: &str, keys: &[String], tail: &str) -> Result<Vec<Row>>
where
    C: sqlx::Connection,
    for<'t> String: sqlx::Encode<'t, C::Database> + sqlx::Type<C::Database>,
    for<'r> Row: sqlx::FromRow<'r, <C::Database as sqlx::Database>::Row> + Send + Unpin,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
{
    const KEYS_PER_QUERY: usize = 1_000;
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let mut sql = sqlx::QueryBuilder::<C::Database>::new(head);
        let mut list = sql.separated(", ");
        for key in chunk {
            list.push_bind(key.clone());
        }
        sql.push(")").push(tail);
        rows.extend(sql.build_query_as::<Row>().fetch_all(&mut *conn).await.map_err(StoreError::classify)?);
    }
    Ok(rows)
}

/// A database URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &credentials[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://pacer:s3cret@db:5432/pacer"), "postgres://pacer:***@db:5432/pacer");
        assert_eq!(redact("postgres://pacer@db/pacer"), "postgres://pacer@db/pacer");
        assert_eq!(redact("sqlite://pacer.db"), "sqlite://pacer.db");
    }
}
