//! Spawns pacer on port 0 with a fresh database per test, on SQLite or PostgreSQL.
//!
//! PostgreSQL is the server at `PACER_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! each test creates its own database and drops it afterwards. When the server is absent the
//! test prints `skipped: …`, and fails instead under `PACER_REQUIRE_ALL=1`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pacer::app::Application;
use pacer::config::{Overrides, Settings};
use serde_json::Value;
use sqlx::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running pacer and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    cleanup: Cleanup,
    /// Dropped with the app, which stops pacer.
    _stop: tokio::sync::oneshot::Sender<()>,
}

enum Cleanup {
    File(PathBuf),
    Database { admin_url: String, name: String },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How long a test's queries wait for the analysis to take in the test's own writes: as long as
/// it takes (`analysis_wait_ms`'s largest value), so a test never reads an older answer.
pub const READ_YOUR_WRITES_MS: &str = "600000";

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Whether every integration test must run (`PACER_REQUIRE_ALL=1`, as CI sets) instead of skipping.
pub fn require_all() -> bool {
    std::env::var("PACER_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

fn admin_url() -> String {
    std::env::var("PACER_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database URL for `backend`, or `None` (after printing why) when the backend is
/// not available and skipping is allowed.
pub async fn fresh_database(backend: Backend) -> Option<(String, CleanupGuard)> {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{}.db", unique("pacer_test")));
            Some((format!("sqlite://{}", path.display()), CleanupGuard(Some(Cleanup::File(path)))))
        }
        Backend::Postgres => {
            let admin = admin_url();
            let mut conn = match sqlx::PgConnection::connect(&admin).await {
                Ok(conn) => conn,
                Err(e) => {
                    assert!(!require_all(), "PostgreSQL is required (PACER_REQUIRE_ALL=1) but unreachable at {admin}: {e}");
                    println!("skipped: PostgreSQL unreachable at {admin}: {e}");
                    return None;
                }
            };
            let name = unique("pacer_test");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create database");
            let url = match admin.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => panic!("PACER_TEST_POSTGRES must end with /<database>"),
            };
            Some((url, CleanupGuard(Some(Cleanup::Database { admin_url: admin, name }))))
        }
    }
}

/// Removes a test database when dropped.
pub struct CleanupGuard(Option<Cleanup>);

impl CleanupGuard {
    /// A guard that removes nothing (for a second process on a database another guard owns).
    pub fn none() -> Self {
        Self(None)
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        match self.0.take() {
            Some(Cleanup::File(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Some(Cleanup::Database { admin_url, name }) => {
                // Drop runs outside any runtime we may block on: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    runtime.block_on(async {
                        let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
                    })
                })
                .join();
            }
            None => {}
        }
    }
}

impl TestApp {
    /// Spawns pacer on `backend` with extra `PACER_…` settings; `None` when skipped.
    pub async fn spawn_with(backend: Backend, env: &[(&str, &str)]) -> Option<Self> {
        let (database_url, guard) = fresh_database(backend).await?;
        Some(Self::start(database_url, guard, None, env).await)
    }

    /// Spawns pacer with a TOML configuration file and extra `PACER_…` settings.
    pub async fn spawn_with_config(backend: Backend, toml: &str, env: &[(&str, &str)]) -> Option<Self> {
        let (database_url, guard) = fresh_database(backend).await?;
        let app = Self::start(database_url, guard, Some(toml), env).await;
        Some(app)
    }

    /// Starts pacer on an existing database (another replica, or after a restart).
    pub async fn start(database_url: String, guard: CleanupGuard, toml: Option<&str>, env: &[(&str, &str)]) -> Self {
        let file = toml.map(|text| {
            let path = std::env::temp_dir().join(format!("{}.toml", unique("pacer_config")));
            std::fs::write(&path, text).expect("write config");
            path
        });
        let mut env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // A test reads what it has just written: every query waits for the analysis to take it in.
        env.entry("PACER_ANALYSIS_WAIT_MS".into()).or_insert_with(|| READ_YOUR_WRITES_MS.into());
        let overrides = Overrides { listen: Some("127.0.0.1:0".into()), database_url: Some(database_url.clone()) };
        let settings = Settings::load(file.as_deref(), &env, &overrides).expect("valid test settings");
        if let Some(path) = file {
            let _ = std::fs::remove_file(path);
        }
        let app = Application::build(&settings).await.expect("pacer starts");
        let addr = app.local_addr().expect("bound");
        // The process stops when the test lets go of it, as a replica a test started afresh must.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        let mut guard = guard;
        let cleanup = guard.0.take().unwrap_or(Cleanup::File(PathBuf::new()));
        // Idle connections are let go before pacer's header timeout (10 s) closes them: a request
        // sent on one as it closes would fail.
        let client = reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(5)).build().expect("client");
        Self { base: format!("http://{addr}"), client, database_url, cleanup, _stop: stop }
    }

    /// Posts `body` to a webhook `path` with `headers`; returns the status and the JSON answer.
    pub async fn post_webhook(&self, path: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).body(body);
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// Spawns pacer with default settings.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, &[]).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts a JSON body to `/api/v1/events`.
    pub async fn post_events(&self, body: &Value) -> reqwest::Response {
        self.client.post(self.url("/api/v1/events")).json(body).send().await.expect("request")
    }

    /// Posts events that must be accepted; returns `(accepted, duplicates)`.
    pub async fn ingest(&self, body: Value) -> (u64, u64) {
        let response = self.post_events(&body).await;
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "events rejected: {json:#}");
        (json["accepted"].as_u64().expect("accepted"), json["duplicates"].as_u64().expect("duplicates"))
    }

    /// GETs a JSON document that must be served with 200.
    pub async fn get(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.expect("request");
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "GET {path} failed: {json:#}");
        json
    }

    /// The DORA summary for `query` (appended to `/api/v1/dora?`).
    pub async fn dora(&self, query: &str) -> Value {
        self.get(&format!("/api/v1/dora?{query}")).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let cleanup = std::mem::replace(&mut self.cleanup, Cleanup::File(PathBuf::new()));
        drop(CleanupGuard(Some(cleanup)));
    }
}

/// Runs a test body on both SQLite and PostgreSQL, each with its own fresh database; with
/// `env = […]`, pacer runs with those `PACER_…` settings; with `config = TOML`, with that
/// configuration file.
#[macro_export]
macro_rules! on_both {
    (@twins $(#[$meta:meta])* $name:ident, |$backend:ident| $spawn:expr, |$app:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($app: $crate::helpers::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let $backend = $crate::helpers::Backend::Sqlite;
                if let Some(app) = $spawn.await {
                    scenario(app).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let $backend = $crate::helpers::Backend::Postgres;
                if let Some(app) = $spawn.await {
                    scenario(app).await;
                }
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, |$app:ident| $body:block) => {
        $crate::on_both!($(#[$meta])* $name, env = [], |$app| $body);
    };
    ($(#[$meta:meta])* $name:ident, env = [$($setting:expr),* $(,)?], |$app:ident| $body:block) => {
        $crate::on_both!(@twins $(#[$meta])* $name, |backend| $crate::helpers::TestApp::spawn_with(backend, &[$($setting),*]), |$app| $body);
    };
    ($(#[$meta:meta])* $name:ident, config = $toml:expr, |$app:ident| $body:block) => {
        $crate::on_both!(@twins $(#[$meta])* $name, |backend| $crate::helpers::TestApp::spawn_with_config(backend, $toml, &[]), |$app| $body);
    };
}

/// Approximate float equality for metric values.
pub fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-6 * expected.abs().max(1.0))
}
