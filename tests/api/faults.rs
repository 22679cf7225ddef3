//! Faults pacer must ride out: PostgreSQL restarted under ingest, SQLite's disk filling up, a
//! hook receiver that hangs or is gone, and SIGTERM with a request and a delivery in flight.
//!
//! The PostgreSQL test runs its own cluster (initdb and pg_ctl from the server package, on a free
//! port, in a temporary directory) so that it can stop and start it; the disk-full test mounts a
//! small tmpfs. Both need root (as CI runs) and print `skipped: …` otherwise. Every process and
//! mount is removed by a guard, even when the test fails. No assertion is on wall-clock time;
//! hangs are bounded by generous client timeouts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, CleanupGuard, TestApp, fresh_database, require_all, unique};
use crate::hooks::{PacerProcess, Receiver};

/// The longest any request may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(45);

fn ago(minutes: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Skips (or fails under `PACER_REQUIRE_ALL=1`) a test whose component is missing.
fn skip(why: &str) {
    assert!(!require_all(), "required (PACER_REQUIRE_ALL=1) but {why}");
    println!("skipped: {why}");
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A successful deployment of `service` with a unique id.
fn deployment(id: &str, service: &str) -> Value {
    json!({"type": "deployment", "id": id, "service": service, "status": "success", "finished_at": ago(10)})
}

/// Rows of `sql`, read from the database itself (SQLite or PostgreSQL by the URL).
async fn rows<T>(database_url: &str, sql: &'static str) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await?;
        sqlx::query_as(sql).fetch_all(&mut conn).await
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        sqlx::query_as(sql).fetch_all(&mut conn).await
    }
}

/// The ids of every stored deployment.
async fn stored_deployments(database_url: &str) -> BTreeSet<String> {
    let deadline = Instant::now() + HANG;
    loop {
        match rows::<(String,)>(database_url, "SELECT id FROM deployments").await {
            Ok(rows) => return rows.into_iter().map(|(id,)| id).collect(),
            Err(e) if Instant::now() < deadline => {
                println!("reading deployments failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot read the deployments of {database_url}: {e}"),
        }
    }
}

/// A problem answer: its status, `Retry-After`, and whether it is problem+json with that status.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, bool, Value) {
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let problem = response.headers().get("content-type").is_some_and(|v| v.as_bytes() == b"application/problem+json");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let problem = problem && body["status"] == status;
    (status, retry_after, problem, body)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL restarted during ingest

/// A PostgreSQL cluster of the test's own, stopped and removed on drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// initdb and start a cluster; `None` (after saying why) when the server binaries are absent.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
            .max();
        let Some(bin) = bin else {
            skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
            return None;
        };
        // The server refuses to run as root: run it as the postgres user then.
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(unique("pacer_pg"));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let cluster = Self { bin, dir, port: free_port(), as_postgres };
        if as_postgres {
            cluster.run("chown", &["-R", "postgres:postgres", &cluster.dir.display().to_string()], false);
        }
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-instructions"], true);
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `program` (a server binary when `server`), as postgres when needed; panics on failure.
    fn run(&self, program: &str, args: &[&str], server: bool) {
        let path = if server { self.bin.join(program).display().to_string() } else { program.to_owned() };
        let mut command = if self.as_postgres && server {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]);
            c
        } else {
            Command::new(&path)
        };
        let output = command.args(args).current_dir(&self.dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(output.status.success(), "{program} {args:?} failed: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }

    fn pg_ctl_start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"], true);
    }

    /// Stops the server: `fast` (clients are told) or `immediate` (like a crash).
    fn stop(&self, mode: &str) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"], true);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--", &pg_ctl]).args(args).output()
        } else {
            Command::new(&pg_ctl).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the ingesting clients saw.
#[derive(Default)]
struct Seen {
    acknowledged: BTreeSet<String>,
    unavailable: u64,
    /// Answers that are neither 200 nor a proper 503 (status, body), and hangs.
    wrong: Vec<String>,
}

/// A client that posts batches of new deployments until `stop`, retrying a batch answered 503
/// after its `Retry-After`, as a well-behaved sender does.
async fn ingest_until(client: reqwest::Client, url: String, name: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>, batches: Arc<AtomicU64>) {
    let mut sequence = 0;
    while !stop.load(Ordering::SeqCst) {
        let ids: Vec<String> = (0..5).map(|i| format!("{name}-{sequence}-{i}")).collect();
        sequence += 1;
        let body = Value::Array(ids.iter().map(|id| deployment(id, "checkout")).collect());
        loop {
            let sent = client.post(&url).json(&body).timeout(HANG).send().await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    seen.lock().expect("lock").wrong.push(format!("no answer within {HANG:?}: {e}"));
                    break;
                }
            };
            let (status, retry_after, problem, body) = answer(response).await;
            let acknowledged = {
                let mut seen = seen.lock().expect("lock");
                match status {
                    200 => {
                        seen.acknowledged.extend(ids.iter().cloned());
                        true
                    }
                    503 if problem && retry_after.is_some() => {
                        seen.unavailable += 1;
                        false
                    }
                    _ => {
                        seen.wrong.push(format!("{status} (retry-after {retry_after:?}, problem+json {problem}): {body}"));
                        false
                    }
                }
            };
            if acknowledged {
                batches.fetch_add(1, Ordering::SeqCst);
                break;
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Waits until the clients have acknowledged `more` batches beyond `from`.
async fn until_batches(batches: &AtomicU64, from: u64, more: u64, what: &str) {
    let deadline = Instant::now() + HANG;
    while batches.load(Ordering::SeqCst) < from + more {
        assert!(Instant::now() < deadline, "{what}: only {} of {more} batches acknowledged", batches.load(Ordering::SeqCst) - from);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_ingest_answers_503_loses_nothing_acknowledged_and_recovers() {
    let Some(cluster) = tokio::task::spawn_blocking(PrivatePostgres::start).await.expect("start cluster") else { return };
    let app = TestApp::start(cluster.url(), CleanupGuard::none(), None, &[]).await;
    let (stop, seen, batches) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Seen::default())), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..3)
        .map(|n| tokio::spawn(ingest_until(app.client.clone(), app.url("/api/v1/events"), format!("c{n}"), Arc::clone(&stop), Arc::clone(&seen), Arc::clone(&batches))))
        .collect();
    until_batches(&batches, 0, 20, "before the restart").await;

    for mode in ["fast", "immediate"] {
        let cluster_ref = &cluster;
        tokio::task::block_in_place(|| cluster_ref.stop(mode));
        // While the database is down, a write is refused at once with a 503 that says when to
        // retry, and so is readiness; liveness still answers.
        let (status, retry_after, problem, body) =
            answer(app.client.post(app.url("/api/v1/events")).json(&deployment(&unique("down"), "checkout")).timeout(HANG).send().await.expect("an answer while down")).await;
        assert_eq!((status, problem), (503, true), "a write while PostgreSQL is down ({mode}): {body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "Retry-After while down");
        let ready = app.client.get(app.url("/readyz")).timeout(HANG).send().await.expect("readyz");
        assert_eq!(ready.status(), 503, "not ready while the database is down");
        assert_eq!(app.client.get(app.url("/healthz")).send().await.expect("healthz").status(), 200);
        let (status, _, problem, _) = answer(app.client.get(app.url("/api/v1/deployments")).timeout(HANG).send().await.expect("a read")).await;
        assert_eq!((status, problem), (503, true), "a read while down");

        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| cluster_ref.pg_ctl_start());
        // The same pacer, not restarted, serves again.
        let now = batches.load(Ordering::SeqCst);
        until_batches(&batches, now, 10, &format!("after the {mode} restart")).await;
        assert_eq!(app.client.get(app.url("/readyz")).send().await.expect("readyz").status(), 200, "ready again");
    }

    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("client");
    }
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(seen.wrong.is_empty(), "every answer is 200 or a 503 problem with Retry-After: {:#?}", seen.wrong);
    let stored = stored_deployments(&cluster.url()).await;
    let lost: Vec<&String> = seen.acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost, e.g. {:?}", lost.len(), lost.iter().take(5).collect::<Vec<_>>());
    println!("postgres restart: {} events acknowledged, {} answers 503 while down", seen.acknowledged.len(), seen.unavailable);
}

// ---------------------------------------------------------------------------------------------
// SQLite disk full

/// A small tmpfs mounted for the test, unmounted and removed on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<Self> {
        if !is_root() {
            skip("mounting a small tmpfs needs root");
            return None;
        }
        let dir = std::env::temp_dir().join(unique("pacer_disk"));
        std::fs::create_dir_all(&dir).expect("mount point");
        let output = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"]).arg(&dir).output();
        match output {
            Ok(o) if o.status.success() => Some(Self { dir }),
            Ok(o) => {
                let _ = std::fs::remove_dir(&dir);
                skip(&format!("cannot mount a tmpfs: {}", String::from_utf8_lossy(&o.stderr).trim()));
                None
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                skip(&format!("cannot run mount: {e}"));
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_refuses_writes_with_507_keeps_serving_reads_and_corrupts_nothing() {
    let Some(disk) = SmallDisk::mount(3 * 1024 * 1024) else { return };
    let url = format!("sqlite://{}", disk.path().join("pacer.db").display());
    let mut pacer = PacerProcess::start(&url, "");
    let client = reqwest::Client::new();
    let events = format!("{}/api/v1/events", pacer.base);
    // Each batch carries about 240 kB of text (four long URLs), so the disk fills in a few dozen.
    let padding = "x".repeat(60_000);
    let batch_of = |batch: usize| -> (Vec<String>, Vec<Value>) {
        let ids: Vec<String> = (0..4).map(|i| format!("d{batch}-{i}")).collect();
        let body = ids.iter().map(|id| {
            let mut d = deployment(id, "checkout");
            d["url"] = json!(format!("https://ci.example/{padding}"));
            d
        }).collect();
        (ids, body)
    };
    let mut acknowledged = BTreeSet::new();
    let mut refused = None;
    for batch in 0..200 {
        let (ids, body) = batch_of(batch);
        let response = client.post(&events).json(&body).timeout(HANG).send().await.expect("an answer");
        let (status, retry_after, problem, answered) = answer(response).await;
        if status == 200 {
            acknowledged.extend(ids);
            continue;
        }
        refused = Some((batch, status, retry_after, problem, answered));
        break;
    }
    let (batch, status, _, problem, body) = refused.expect("the disk filled up");
    assert_eq!((status, problem), (507, true), "a write to a full disk: {body}");
    assert_eq!(body["type"], "/problems/storage-full", "{body}");
    assert!(!acknowledged.is_empty(), "some writes fit before the disk filled");

    // Reads are still served, and so is readiness; the same write retried is refused the same way.
    let listing = client.get(format!("{}/api/v1/deployments?limit=5", pacer.base)).send().await.expect("a read");
    assert_eq!(listing.status(), 200, "reads still work on a full disk");
    assert_eq!(client.get(format!("{}/readyz", pacer.base)).send().await.expect("readyz").status(), 200);
    let (refused_ids, body) = batch_of(batch);
    let (again, _, problem, _) = answer(client.post(&events).json(&body).send().await.expect("an answer")).await;
    assert_eq!((again, problem), (507, true), "still refused, not a 500");
    let log = pacer.logs();
    assert!(log.iter().any(|l| l.contains("ERROR") && l.contains("database storage full")), "the refusal is logged as an error: {log:#?}");

    pacer.signal_term();
    let exited = pacer.wait_exit(HANG).await;
    assert!(exited.is_some(), "pacer stops on SIGTERM");
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.expect("integrity_check");
    assert_eq!(integrity, "ok", "the database is not corrupted");
    drop(conn);
    let stored = stored_deployments(&url).await;
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
    assert!(refused_ids.iter().all(|id| !stored.contains(id)), "nothing of the refused batch is stored");
}

// ---------------------------------------------------------------------------------------------
// A slow or dead hook receiver

/// A hook that accepts connections and never answers; the connections stay open.
async fn silent_hook() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/rollback", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            open.push(socket);
        }
    });
    (url, accepted)
}

fn alert(name: &str, fingerprint: &str) -> Value {
    json!({"version": "4", "status": "firing", "receiver": "pacer", "alerts": [{
        "status": "firing", "labels": {"alertname": name, "service": "checkout"}, "annotations": {},
        "startsAt": ago(1), "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fingerprint
    }]})
}

async fn a_hung_or_dead_hook_never_slows_ingestion_or_alert_intake(backend: Backend) {
    let (silent, accepted) = silent_hook().await;
    let closed = format!("http://127.0.0.1:{}/rollback", free_port());
    let toml = format!(
        "[[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\ncooldown_secs = 0\nmax_per_hour = 1000\n\
         [[rollback.hooks]]\nurl = \"{silent}\"\ntimeout_secs = 120\n[[rollback.hooks]]\nurl = \"{closed}\"\ntimeout_secs = 120\n"
    );
    let Some(app) = TestApp::spawn_with_config(backend, &toml, &[]).await else { return };
    app.ingest(json!([
        {"type": "deployment", "id": "v1", "service": "checkout", "status": "success", "finished_at": ago(120)},
        {"type": "deployment", "id": "v2", "service": "checkout", "status": "success", "finished_at": ago(5)},
    ]))
    .await;
    let first = app.client.post(app.url("/webhooks/alertmanager")).json(&alert("High5xx", "f0")).send().await.expect("alert");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    let rollback = first["rollbacks"][0].as_str().expect("a rollback").to_owned();
    let deadline = Instant::now() + HANG;
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the dispatcher reached the silent hook");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // With one delivery stuck on a hook that never answers and another failing to connect,
    // every ingest and alert completes within a bound far below the hook's timeout.
    let bounded = |request: reqwest::RequestBuilder| request.timeout(Duration::from_secs(60)).send();
    for batch in 0..40 {
        let body: Vec<Value> = (0..25).map(|i| deployment(&format!("b{batch}-{i}"), "web")).collect();
        let response = bounded(app.client.post(app.url("/api/v1/events")).json(&body)).await.expect("ingest completes while the hook hangs");
        assert_eq!(response.status(), 200, "batch {batch}");
    }
    for n in 0..10 {
        let response = bounded(app.client.post(app.url("/webhooks/alertmanager")).json(&alert(&format!("Latency{n}"), &format!("f{}", n + 1))))
            .await
            .expect("an alert completes while the hook hangs");
        assert_eq!(response.status(), 200, "alert {n}");
    }
    let stored = stored_deployments(&app.database_url).await;
    assert_eq!(stored.iter().filter(|id| id.starts_with('b')).count(), 1_000, "every ingested deployment is stored");
    let incidents: Vec<(String,)> = rows(&app.database_url, "SELECT id FROM incidents").await.expect("incidents");
    assert_eq!(incidents.len(), 11, "every alert became an incident");

    // The stuck delivery is still in flight: nothing recorded for it yet.
    let detail = app.get(&format!("/api/v1/rollbacks/{rollback}")).await;
    let deliveries = detail["deliveries"].as_array().cloned().unwrap_or_default();
    let stuck = deliveries.iter().find(|d| d["hook_url"] == silent.as_str()).expect("the silent hook's delivery");
    assert_eq!(stuck["state"], "pending", "{detail:#}");
    assert_eq!(stuck["attempts"].as_array().map(Vec::len), Some(0), "the hung attempt has not returned: {detail:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_dead_hook_never_slows_ingestion_or_alert_intake_on_sqlite() {
    a_hung_or_dead_hook_never_slows_ingestion_or_alert_intake(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_dead_hook_never_slows_ingestion_or_alert_intake_on_postgres() {
    a_hung_or_dead_hook_never_slows_ingestion_or_alert_intake(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// SIGTERM drains

async fn sigterm_finishes_the_request_in_flight_and_the_delivery_in_progress_then_exits_0(backend: Backend) {
    let Some((url, _guard)) = fresh_database(backend).await else { return };
    let hook = Receiver::start().await;
    hook.answer_after(Duration::from_secs(8));
    let toml = format!("[[rollback]]\nservice = \"checkout\"\npolicy = \"auto\"\ncooldown_secs = 0\n[[rollback.hooks]]\nurl = \"{}\"\ntimeout_secs = 60\n", hook.url);
    let mut pacer = PacerProcess::start(&url, &toml);
    let client = reqwest::Client::new();
    let history = json!([
        {"type": "deployment", "id": "v1", "service": "checkout", "status": "success", "finished_at": ago(120)},
        {"type": "deployment", "id": "v2", "service": "checkout", "status": "success", "finished_at": ago(5)},
    ]);
    assert_eq!(client.post(format!("{}/api/v1/events", pacer.base)).json(&history).send().await.expect("history").status(), 200);
    let fired = client.post(format!("{}/webhooks/alertmanager", pacer.base)).json(&alert("High5xx", "f0")).send().await.expect("alert");
    assert_eq!(fired.status(), 200);
    assert!(!hook.wait_for(1, HANG).await.is_empty(), "the delivery is in progress");

    // A large NDJSON request, half sent when SIGTERM arrives.
    let lines: String = (0..3_000).map(|i| format!("{}\n", deployment(&format!("late-{i}"), "web"))).collect();
    let (head, tail) = lines.as_bytes().split_at(lines.len() / 2);
    let addr = pacer.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let request = format!("POST /api/v1/events HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", lines.len());
    stream.write_all(request.as_bytes()).await.expect("headers");
    stream.write_all(head).await.expect("first half");
    stream.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    pacer.signal_term();
    // Once the listener closes, shutdown has begun; the request is still being received.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hook.answered(), 0, "the hook is still answering when shutdown begins");
    stream.write_all(tail).await.expect("second half");
    let mut response = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut response)).await.expect("the response within the bound").expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "the in-flight request completes: {response}");
    assert!(response.contains(r#""accepted":3000"#), "{response}");

    let status = pacer.wait_exit(HANG).await.expect("pacer exits after draining");
    assert!(status.success(), "pacer exits 0 on SIGTERM: {status:?}; log: {:#?}", pacer.logs());
    assert_eq!(hook.answered(), 1, "the delivery in progress was answered before exit");

    let stored = stored_deployments(&url).await;
    assert_eq!(stored.iter().filter(|id| id.starts_with("late-")).count(), 3_000, "every event of the drained request is stored");
    let deliveries: Vec<(String, Option<i64>)> = rows(&url, "SELECT state, claimed_until FROM rollback_deliveries").await.expect("deliveries");
    assert_eq!(deliveries, vec![("delivered".to_owned(), None)], "the delivery finished and holds no lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_the_delivery_in_progress_then_exits_0_on_sqlite() {
    sigterm_finishes_the_request_in_flight_and_the_delivery_in_progress_then_exits_0(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_the_delivery_in_progress_then_exits_0_on_postgres() {
    sigterm_finishes_the_request_in_flight_and_the_delivery_in_progress_then_exits_0(Backend::Postgres).await;
}

/// A request that gives up on an analysis (its deadline passed, its client hung up) does not
/// cancel the build: on a large history a build can take longer than one request may wait, and
/// a cancelled build would make every request start it again and time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysis_its_caller_gave_up_on_is_still_built_and_cached() {
    let Some((url, _guard)) = fresh_database(Backend::Sqlite).await else { return };
    let store = pacer::app::open_store(&url).await.expect("store");
    let spec = pacer_generator::Spec::demo(pacer_api::now());
    pacer::demo::load(&store, &spec, &pacer_collector::Normalizer::default()).await.expect("demo history");
    let analyses = Arc::new(pacer_api::analysis::Analyses::default());
    let window = pacer_engine::model::DAY;
    let gave_up = tokio::time::timeout(Duration::from_millis(1), analyses.get(&store, "production", window, Duration::MAX)).await;
    assert!(gave_up.is_err(), "building the demo's analysis takes longer than a millisecond");
    let deadline = Instant::now() + Duration::from_secs(60);
    while analyses.cached_at("production").is_none() {
        assert!(Instant::now() < deadline, "the abandoned build never reached the cache");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(analyses.cached_at("production"), Some(store.generations().await.expect("generations")), "cached as of the store's generations");
}
