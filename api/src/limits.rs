//! What keeps one client from flooding or holding pacer: rate limits per client IP and per
//! token, a deadline on reading a request body and on handling a request, and a cap on heavy
//! queries running at once.
//!
//! Over a limit the answer is a problem: 429 with `Retry-After` for a rate, 503 with
//! `Retry-After` for a full heavy-query pool or a request that took too long, 408 for a body
//! that did not arrive in time. Body sizes are capped per route with axum's `DefaultBodyLimit`
//! (each area's router sets its own, 413), JSON depth and batch size by the collector, and the
//! time to send request headers by the server (`src/server.rs`), which also tells each request
//! its peer address.
//!
//! Rate limits are token buckets kept here rather than `tower_governor`: a dozen lines over a
//! mutex-guarded map, keyed by what pacer knows (a token id, an IP), answering with pacer's own
//! problem and the exact wait, without the crate's extra dependencies (governor, dashmap,
//! forwarded-header parsing). One replica's buckets are its own; behind N replicas the effective
//! limit is up to N times the setting.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use pacer_engine::model::Fact;
use tokio::sync::Semaphore;

use crate::config::Limits;
use crate::config::Rate;
use crate::problem::Problem;
use crate::clock::now;

/// What a rate is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// A client address.
    Ip(IpAddr),
    /// A stored token, by id.
    Token(i64),
    /// A configured token, by setting name.
    Static(&'static str),
}

/// Keyed token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<RateKey, (f64, Instant)>>,
}

/// Buckets kept before full ones are dropped (a full bucket is the same as no bucket).
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    /// A limiter at `rate`.
    pub fn new(rate: Rate) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket.
    ///
    /// # Errors
    /// 429 with the seconds until the bucket holds a request again.
    pub fn check(&self, key: RateKey) -> Result<(), Problem> {
        self.take(key, Instant::now()).map_err(Problem::too_many_requests)
    }

    /// Takes one request at `now`, or says how many whole seconds to wait.
    fn take(&self, key: RateKey, now: Instant) -> Result<(), u64> {
        let Rate { per_second, burst } = self.rate;
        if per_second <= 0.0 {
            return Ok(());
        }
        let capacity = f64::from(burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity);
        }
        let (tokens, at) = buckets.entry(key).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

/// The shared state of the limits.
#[derive(Debug)]
pub struct Guard {
    /// Requests per client IP.
    pub ip_rate: RateLimiter,
    /// Requests per token.
    pub token_rate: RateLimiter,
    /// Heavy queries running at once.
    pub heavy: Semaphore,
    /// Whether a stored token is known to exist (see `auth`).
    pub tokens_exist: AtomicBool,
    /// The limits it keeps.
    pub limits: Limits,
}

impl Guard {
    /// The guard of `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            ip_rate: RateLimiter::new(limits.ip_rate),
            token_rate: RateLimiter::new(limits.token_rate),
            heavy: Semaphore::new(limits.heavy_queries.max(1)),
            tokens_exist: AtomicBool::new(false),
            limits: limits.clone(),
        }
    }
}

/// Every request: the client IP's rate, the body deadline and the request deadline. Health
/// probes are exempt, so an orchestrator never restarts a pacer that is only busy.
pub async fn protect(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let limits = &guard.limits;
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    if matches!(route, Some("/healthz" | "/readyz")) {
        return next.run(request).await;
    }
    if let Some(ip) = client_ip(&request, limits.forwarded_for)
        && let Err(problem) = guard.ip_rate.check(RateKey::Ip(ip))
    {
        return problem.into_response();
    }
    let late = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Deadline { inner: body, sleep: Box::pin(tokio::time::sleep(limits.body_timeout)), late: Arc::clone(&late) });
    let request = Request::from_parts(parts, body);
    let response = match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_secs = limits.request_timeout.as_secs(), "request timed out");
            return Problem::timed_out(limits.request_timeout.as_secs()).into_response();
        }
    };
    if late.load(Ordering::Relaxed) {
        return Problem::body_timeout(limits.body_timeout.as_secs()).into_response();
    }
    response
}

/// Heavy queries (DORA summaries and series, charts, report previews, Grafana queries): at
/// most `heavy_queries` at once; a request waits up to `heavy_queue` for a turn, then gets 503.
pub async fn heavy_query_slot(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let wait = guard.limits.heavy_queue;
    let permit = match tokio::time::timeout(wait, guard.heavy.acquire()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            tracing::warn!(limit = guard.limits.heavy_queries, "heavy queries saturated");
            return Problem::busy("too many heavy queries are running; retry shortly").into_response();
        }
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

/// Refuses facts dated beyond now plus the configured tolerance (see `pacer_collector::future`).
///
/// # Errors
/// 400 naming each fact's index and field.
pub fn not_in_future<'a>(limits: &Limits, facts: impl IntoIterator<Item = &'a Fact>) -> Result<(), Problem> {
    let facts: Vec<&Fact> = facts.into_iter().collect();
    let errors = pacer_collector::future::beyond(&facts, now(), limits.future_tolerance);
    if errors.is_empty() { Ok(()) } else { Err(Problem::invalid_events(errors)) }
}

/// The client's address: the peer, or behind a trusted proxy (`forwarded_for`) the last
/// address of `X-Forwarded-For`, the one that proxy added.
fn client_ip(request: &Request, forwarded_for: bool) -> Option<IpAddr> {
    let forwarded = forwarded_for.then(|| {
        let header = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back()?;
        header.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    });
    forwarded.flatten().or_else(|| request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
}

/// A request body that fails once its deadline passes, however slowly or steadily it trickles:
/// a per-read timeout would let a client that sends a byte a second hold a connection forever.
struct Deadline {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

/// The error a body past its deadline ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_says_how_long_to_wait_and_refills() {
        let limiter = RateLimiter::new(Rate { per_second: 2.0, burst: 3 });
        let key = RateKey::Ip(IpAddr::from([10, 0, 0, 1]));
        let start = Instant::now();
        for n in 0..3 {
            assert_eq!(limiter.take(key, start), Ok(()), "request {n} of the burst");
        }
        assert_eq!(limiter.take(key, start), Err(1));
        assert_eq!(limiter.take(RateKey::Token(7), start), Ok(()), "another key has its own bucket");
        assert_eq!(limiter.take(key, start + Duration::from_millis(500)), Ok(()), "half a second refills one at 2/s");
        assert_eq!(limiter.take(key, start + Duration::from_millis(500)), Err(1));
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        let limiter = RateLimiter::new(Rate { per_second: 0.0, burst: 0 });
        let now = Instant::now();
        assert!((0..1_000).all(|_| limiter.take(RateKey::Static("api_token"), now).is_ok()));
    }

    #[test]
    fn a_slow_rate_asks_for_a_longer_wait() {
        let limiter = RateLimiter::new(Rate { per_second: 0.1, burst: 1 });
        let now = Instant::now();
        assert_eq!(limiter.take(RateKey::Token(1), now), Ok(()));
        assert_eq!(limiter.take(RateKey::Token(1), now), Err(10));
    }
}
