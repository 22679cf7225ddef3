//! The dispatcher: claims due deliveries from the outbox and posts them, signed, to their hooks.
//!
//! A delivery is retried with exponential backoff and jitter until the hook answers 2xx, answers
//! 410 Gone (never again), or attempts run out. `Retry-After` is honoured. Every attempt is
//! recorded with its status, latency and error. Claims are leases: a dispatcher that dies leaves
//! its claims to expire, and any dispatcher — after a restart, or on another replica — delivers
//! them again with the same `webhook-id` and body.
//!
//! Each attempt is a `delivery` span, a child of the span that decided the rollback when this
//! process remembers it ([`crate::trace::Origins`]); its context goes out in `traceparent`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pacer_engine::Millis;
use pacer_store::{Due, Next, Store};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::RollbackConfig;
use crate::sign;
use crate::trace::{self, Origins};

/// How often to look for due deliveries when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries claimed at once.
const BATCH: i64 = 32;
/// First retry delay; doubled on each attempt.
const BASE_DELAY: Millis = 1_000;
/// Longest retry delay.
const MAX_DELAY: Millis = 10 * 60 * 1_000;

/// Told of every delivery attempt: its outcome (`delivered`, `retry`, `failed`, `gone`) and how
/// long the hook took, in seconds.
pub type Observer = Arc<dyn Fn(&'static str, f64) + Send + Sync>;

/// Delivers rollback hooks.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    config: Arc<RollbackConfig>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    observer: Option<Observer>,
    origins: Arc<Origins>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher over `store`; `wake` is notified when a new rollback is stored.
    pub fn new(store: Store, config: Arc<RollbackConfig>, wake: Arc<Notify>) -> Self {
        let client = reqwest::Client::builder().user_agent(concat!("pacer/", env!("CARGO_PKG_VERSION"))).build().unwrap_or_default();
        Self { store, config, client, wake, observer: None, origins: Arc::default() }
    }

    /// Continues, in each delivery, the trace that `origins` remembers for its rollback.
    pub fn traced(self, origins: Arc<Origins>) -> Self {
        Self { origins, ..self }
    }

    /// Reports every attempt to `observer` (for metrics).
    pub fn observed(self, observer: Observer) -> Self {
        Self { observer: Some(observer), ..self }
    }

    /// Delivers until `shutdown` completes, then lets in-flight deliveries finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let wake = Arc::clone(&self.wake);
        keep_draining(&wake, shutdown, "rollback", || self.tick()).await;
    }

    /// Claims and delivers every due delivery; returns how many were attempted.
    ///
    /// # Errors
    /// The database failed.
    pub async fn tick(&self) -> Result<usize, pacer_store::StoreError> {
        drain(
            || {
                let now = now();
                self.store.claim_deliveries(now, now + self.lease(), BATCH)
            },
            |item| {
                let this = self.clone();
                async move { this.deliver(item).await }
            },
        )
        .await
    }

    /// Longer than any hook's timeout, so a live dispatcher never loses its claim mid-request.
    fn lease(&self) -> Millis {
        let longest = self.config.policies.iter().flat_map(|p| &p.hooks).map(|h| h.timeout).max().unwrap_or(Duration::from_secs(10));
        longest.as_millis() as Millis + 5_000
    }

    /// One attempt, in its `delivery` span.
    async fn deliver(&self, due: Due) -> Result<(), pacer_store::StoreError> {
        let span = tracing::info_span!(
            "delivery",
            rollback_id = due.rollback_id,
            service = due.service,
            environment = due.environment,
            deployment_id = due.deployment_id,
            hook = due.hook_url,
            attempt = due.attempts + 1,
            status = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
        );
        self.origins.adopt(&due.rollback_id, &span);
        if span.context().span().span_context().is_valid() {
            span.record("otel.kind", "client");
        }
        self.attempt(due, &span).instrument(span.clone()).await
    }

    async fn attempt(&self, due: Due, span: &tracing::Span) -> Result<(), pacer_store::StoreError> {
        let started = Instant::now();
        let at = now();
        let Some(hook) = self.config.hook(&due.hook_url) else {
            let error = "the hook is no longer configured";
            tracing::error!(rollback_id = due.rollback_id, hook = due.hook_url, "rollback hook no longer configured");
            return self.store.record_attempt(&due, at, None, 0, Some(error), Next::Failed).await;
        };
        let timestamp = at / 1_000;
        let mut headers = reqwest::header::HeaderMap::new();
        trace::inject(span, &mut headers);
        let mut request = self
            .client
            .post(&hook.url)
            .headers(headers)
            .timeout(hook.timeout)
            .header("content-type", "application/json")
            .header("webhook-id", &due.webhook_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = &hook.secret {
            request = request.header("webhook-signature", sign::signature(secret, &due.webhook_id, timestamp, due.report.as_bytes()));
        }
        for (name, value) in &hook.headers {
            request = request.header(name, value);
        }
        let result = request.body(due.report.clone()).send().await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let attempt = due.attempts + 1;
        let (status, error, next) = match result {
            Ok(response) => {
                let status = response.status();
                let next = next_after(Some((status, retry_after(response.headers()))), &[reqwest::StatusCode::GONE], attempt, self.config.max_attempts, &due.webhook_id);
                span.record("status", status.as_u16());
                let error = (!status.is_success()).then(|| format!("the hook answered {status}"));
                (Some(status.as_u16()), error, next)
            }
            Err(e) => (None, Some(describe(&e)), next_after(None, &[], attempt, self.config.max_attempts, &due.webhook_id)),
        };
        if let Some(observe) = &self.observer {
            let outcome = match next {
                Next::Delivered => "delivered",
                Next::RetryAt(_) => "retry",
                Next::Failed => "failed",
                Next::Gone => "gone",
            };
            observe(outcome, latency_ms as f64 / 1_000.0);
        }
        match next {
            Next::Delivered => {
                tracing::info!(rollback_id = due.rollback_id, hook = hook.url, attempt, latency_ms, "rollback hook delivered");
            }
            Next::Failed | Next::Gone => {
                tracing::error!(rollback_id = due.rollback_id, hook = hook.url, attempt, error = error.as_deref().unwrap_or(""), "rollback hook given up");
            }
            Next::RetryAt(_) => {
                tracing::warn!(rollback_id = due.rollback_id, hook = hook.url, attempt, error = error.as_deref().unwrap_or(""), "rollback hook will be retried");
            }
        }
        self.store.record_attempt(&due, at, status, latency_ms, error.as_deref(), next).await
    }
}

/// Runs `tick` until `shutdown` completes: again as soon as `wake` is notified, else every
/// [`POLL`]. A failed tick is logged (`outbox` names it) and tried again.
pub async fn keep_draining<F, Fut>(wake: &Notify, shutdown: impl Future<Output = ()>, outbox: &'static str, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, pacer_store::StoreError>>,
{
    tokio::pin!(shutdown);
    loop {
        if let Err(error) = tick().await {
            tracing::warn!(error = %error, outbox, "outbox delivery failed; retrying");
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            () = &mut shutdown => break,
        }
    }
}

/// Claims due items with `claim` and sends each batch at once with `send`, until a claim finds
/// none; returns how many were attempted. An outbox's sender is this loop around its own claim
/// and its own attempt.
///
/// # Errors
/// The database failed while claiming.
pub async fn drain<T, C, CFut, S, SFut>(mut claim: C, send: S) -> Result<usize, pacer_store::StoreError>
where
    C: FnMut() -> CFut,
    CFut: Future<Output = Result<Vec<T>, pacer_store::StoreError>>,
    S: Fn(T) -> SFut,
    SFut: Future<Output = Result<(), pacer_store::StoreError>> + Send + 'static,
{
    let mut attempted = 0;
    loop {
        let due = claim().await?;
        if due.is_empty() {
            return Ok(attempted);
        }
        attempted += due.len();
        let mut sends = JoinSet::new();
        for item in due {
            sends.spawn(send(item));
        }
        while let Some(result) = sends.join_next().await {
            if let Ok(Err(error)) = result {
                tracing::warn!(error = %error, "recording a delivery attempt failed");
            }
        }
    }
}

/// What follows an attempt that got `answer` (its status and `Retry-After`, or none at all):
/// delivered on 2xx; never again on a status in `gone`; otherwise retried after the backoff, or
/// after `Retry-After` when that is longer, until `max_attempts` attempts are spent. `id` (the
/// message's) spreads the retries of different messages apart.
pub fn next_after(answer: Option<(reqwest::StatusCode, Option<Millis>)>, gone: &[reqwest::StatusCode], attempt: i64, max_attempts: u32, id: &str) -> Next {
    let retry_after = match answer {
        Some((status, _)) if status.is_success() => return Next::Delivered,
        Some((status, _)) if gone.contains(&status) => return Next::Gone,
        Some((_, retry_after)) => retry_after,
        None => None,
    };
    if attempt >= i64::from(max_attempts) {
        Next::Failed
    } else {
        Next::RetryAt(now() + retry_after.unwrap_or(0).max(backoff(attempt, id)))
    }
}

/// The `Retry-After` of an answer, in seconds as Slack and most servers send it, as
/// milliseconds, at most an hour.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Millis> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|seconds| seconds.clamp(0, 3_600) * 1_000)
}

/// Why a request got no answer, in words for the delivery's record.
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the hook did not answer in time".to_owned()
    } else if error.is_connect() {
        "cannot connect to the hook".to_owned()
    } else {
        format!("request failed: {error}")
    }
}

/// Exponential backoff with ±25 % jitter, derived from the message id and attempt so that it is
/// spread across messages without a random number generator.
fn backoff(attempt: i64, webhook_id: &str) -> Millis {
    let exponent = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    let delay = BASE_DELAY.saturating_mul(1 << exponent).min(MAX_DELAY);
    let seed = webhook_id.bytes().fold(attempt as u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let spread = (seed % 501) as i64 - 250; // −250 ‰ … +250 ‰
    delay + delay * spread / 1_000
}

/// The wall clock in epoch milliseconds.
pub fn now() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        for attempt in 1..=12 {
            let nominal = (BASE_DELAY << (attempt - 1)).min(MAX_DELAY);
            let delay = backoff(attempt, "msg_x");
            assert!(delay >= nominal * 3 / 4 && delay <= nominal * 5 / 4, "attempt {attempt}: {delay}");
        }
        assert_ne!(backoff(3, "msg_a"), backoff(3, "msg_b"), "jitter spreads messages");
    }
}
