//! pacer's HTTP API: ingestion, DORA queries, listings and health, on axum.
//!
//! It owns routing, authentication, request parsing and response shapes, and delegates the rest:
//! the collector validates payloads, the store keeps facts, the engine computes the numbers.
//! Each API area has its own module with a `router()`; [`router`] joins them around one
//! [`AppState`]. Every error is a [`problem::Problem`].

mod alerts;
pub mod analysis;
pub mod auth;
pub mod charts;
mod changes;
mod ci;
pub mod config;
mod events;
mod grafana;
mod health;
mod keys;
pub mod limits;
mod listing;
mod dora;
pub mod openapi;
mod page;
pub mod plot;
pub mod problem;
mod prs;
pub mod query;
pub mod report;
mod rollbacks;
pub mod slo;
pub mod telemetry;
mod stages;
mod webhooks;
pub mod week;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use pacer_engine::Millis;
use pacer_store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::ApiConfig;
pub use problem::Problem;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The configuration.
    pub config: Arc<ApiConfig>,
    /// Cached analyses.
    pub analyses: Arc<analysis::Analyses>,
    /// Notified when a rollback is stored, so the dispatcher delivers it at once.
    pub wake: Arc<tokio::sync::Notify>,
    /// pacer's own metrics.
    pub telemetry: telemetry::Shared,
    /// Rate buckets and the heavy-query pool.
    pub guard: Arc<limits::Guard>,
    /// The traces that decided recent rollbacks, for the dispatcher's deliveries to continue.
    pub origins: Arc<pacer_rollback::trace::Origins>,
}

impl AppState {
    /// State over a store with a configuration.
    pub fn new(store: Store, config: ApiConfig) -> Self {
        let guard = Arc::new(limits::Guard::new(&config.limits));
        Self {
            store,
            config: Arc::new(config),
            analyses: Arc::default(),
            wake: Arc::default(),
            telemetry: Arc::default(),
            guard,
            origins: Arc::default(),
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // Routes that take larger bodies (events, webhooks, alerts) set their own limit.
    let max_body = state.config.limits.query_body_bytes;
    Router::new()
        .merge(events::router(state.clone()))
        .merge(dora::router(state.clone()))
        .merge(listing::router(state.clone()))
        .merge(alerts::router(state.clone()))
        .merge(rollbacks::router(state.clone()))
        .merge(slo::router(state.clone()))
        .merge(charts::router(state.clone()))
        .merge(page::router(state.clone()))
        .merge(report::router(state.clone()))
        .merge(telemetry::router(state.clone()))
        .merge(grafana::router(state.clone()))
        .merge(changes::router(state.clone()))
        .merge(stages::router(state.clone()))
        .merge(ci::router(state.clone()))
        .merge(prs::router(state.clone()))
        .merge(webhooks::router(state.clone()))
        .merge(health::router(state.clone()))
        .merge(openapi::router())
        .fallback(|| async { Problem::not_found("no endpoint at this path") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(query::refuse_nul))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::protect))
        .layer(axum::middleware::from_fn_with_state(state, telemetry::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let span = tracing::info_span!(
                        "request",
                        method = %request.method(),
                        route,
                        request_id = id,
                        status = tracing::field::Empty,
                        otel.name = tracing::field::Empty,
                        otel.kind = tracing::field::Empty,
                    );
                    continue_trace(&span, request, route);
                    span
                })
                .on_response(|response: &axum::response::Response, latency: Duration, span: &tracing::Span| {
                    span.record("status", response.status().as_u16());
                    tracing::debug!(latency_ms = latency.as_millis() as u64, "response");
                }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Makes the request span continue the caller's trace (W3C `traceparent`), and names it after
/// the route. Without trace export (no OpenTelemetry layer) nothing is extracted or recorded.
fn continue_trace(span: &tracing::Span, request: &Request, route: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&opentelemetry::Context::new(), &opentelemetry_http::HeaderExtractor(request.headers()))
    });
    if span.set_parent(parent).is_ok() {
        span.record("otel.name", format!("{} {route}", request.method()));
        span.record("otel.kind", "server");
    }
}

/// The current time in UTC milliseconds.
pub fn now() -> Millis {
    chrono::Utc::now().timestamp_millis()
}
