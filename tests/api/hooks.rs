//! A rollback hook receiver for tests: records every request and answers with a status the test
//! controls; and a pacer started as a separate process (to kill it, or to run two replicas).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("hook body is JSON")
    }
}

/// A local HTTP server standing in for a deployer's rollback endpoint.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    requests: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    /// Milliseconds to wait, after recording a request, before answering it.
    delay_ms: Arc<AtomicU64>,
    /// Requests answered so far.
    answered: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start() -> Self {
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (delay_ms, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (log, answer, delay, done) = (Arc::clone(&requests), Arc::clone(&status), Arc::clone(&delay_ms), Arc::clone(&answered));
        let app = axum::Router::new().route(
            "/rollback",
            post(move |headers: HeaderMap, body: Bytes| {
                let (log, answer, delay, done) = (Arc::clone(&log), Arc::clone(&answer), Arc::clone(&delay), Arc::clone(&done));
                async move {
                    let headers = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
                    log.lock().expect("lock").push(Received { headers, body: body.to_vec() });
                    tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst))).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/rollback", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, requests, status, delay_ms, answered }
    }

    /// Answers every later request only after `delay` (a slow deployer).
    pub fn answer_after(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many requests have been answered (received ones may still be waiting).
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::SeqCst)
    }

    /// Answers every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived (or `timeout` passed) and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        while self.requests().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.requests()
    }
}

/// `pacer serve` as a child process.
pub struct PacerProcess {
    child: Child,
    pub base: String,
    /// Every line it logged so far.
    logs: Arc<Mutex<Vec<String>>>,
}

impl PacerProcess {
    /// Starts `pacer serve` on `database_url` with the configuration `toml`.
    pub fn start(database_url: &str, toml: &str) -> Self {
        Self::start_with(database_url, toml, &[])
    }

    /// The same, with extra environment variables (`PACER_LOG_FORMAT`, `OTEL_…`).
    pub fn start_with(database_url: &str, toml: &str, env: &[(&str, &str)]) -> Self {
        let config = std::env::temp_dir().join(format!("{}.toml", crate::helpers::unique("pacer_process")));
        std::fs::write(&config, toml).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database_url, "--config"])
            .arg(&config)
            .env_remove("PACER_LISTEN")
            .env("NO_COLOR", "1")
            .env("PACER_LOG", "info")
            .env("PACER_ANALYSIS_WAIT_MS", crate::helpers::READ_YOUR_WRITES_MS)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn pacer");
        let stderr = child.stderr.take().expect("stderr");
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = Arc::clone(&logs);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining the log so the child never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // `addr=…` in text logs, `"addr":"…"` in JSON logs.
                let addr = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next())
                    .or_else(|| line.split("\"addr\":\"").nth(1).and_then(|rest| rest.split('"').next()));
                if let Some(addr) = addr {
                    let _ = tx.send(addr.to_owned());
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("[pacer] {line}");
                }
                kept.lock().expect("lock").push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("pacer logs its address");
        Self { child, base: format!("http://{addr}"), logs }
    }

    /// Every line pacer has logged to stderr so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("lock").clone()
    }

    /// The names of pacer's threads (Linux: `/proc/<pid>/task/*/comm`, at most 15 bytes each).
    pub fn thread_names(&self) -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).expect("pacer's threads are listed in /proc");
        tasks.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok()).map(|name| name.trim().to_owned()).collect()
    }

    /// Asks it to stop with SIGTERM, as an orchestrator does, without waiting.
    pub fn signal_term(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Sends SIGTERM and waits for pacer to drain and exit; returns whether it exited cleanly.
    pub async fn terminate(&mut self) -> bool {
        self.signal_term();
        let status = self.wait_exit(Duration::from_secs(30)).await;
        assert!(status.is_some(), "pacer did not exit within 30 s of SIGTERM");
        status.is_some_and(|s| s.success())
    }

    /// Waits up to `timeout` for it to exit and returns how it exited (`None`: still running).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait().expect("wait") {
                Some(status) => return Some(status),
                None if Instant::now() >= deadline => return None,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Kills the process with SIGKILL: no shutdown, no draining.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PacerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
