//! pacer's HTTP API: ingestion, DORA queries, listings and health, on axum.
//!
//! It owns routing, authentication, request parsing and response shapes, and delegates the rest:
//! the collector validates payloads, the store keeps facts, the engine computes the numbers.
//! Two floors (docs/architecture.md): `routes/` holds one module per API area, each with its
//! `router()`, importing only the modules below it and never another route; [`router`] joins them
//! around one [`AppState`]. The lower floor holds what routes and background tasks share — state,
//! configuration, access, limits, query parameters, the cached analyses, typed read models
//! (`read/`), the alert path, the SLO evaluator, the weekly report, incidents' timelines and postmortems. Every error is a
//! [`problem::Problem`].

// The lower floor: what every route and background task shares.
mod alerting;
mod approval;
pub mod analysis;
pub mod auth;
pub mod chart;
pub mod clock;
pub mod config;
pub mod gate;
mod html;
pub mod limits;
mod paging;
pub mod plot;
mod postmortem;
pub mod problem;
pub mod query;
mod read;
pub mod report;
pub mod settings;
pub mod slo;
pub mod state;
pub mod telemetry;
pub mod week;
mod wording;
// The upper floor: one module per API area, each with its `router()`; none imports another.
mod routes;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::ApiConfig;
pub use clock::now;
pub use problem::Problem;
pub use state::AppState;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // Routes that take larger bodies (events, webhooks, alerts) set their own limit.
    let max_body = state.config.limits.query_body_bytes;
    Router::new()
        .merge(routes::events::router(state.clone()))
        .merge(routes::dora::router(state.clone()))
        .merge(routes::listing::router(state.clone()))
        .merge(routes::incidents::router(state.clone()))
        .merge(routes::alerts::router(state.clone()))
        .merge(routes::rollbacks::router(state.clone()))
        .merge(routes::chat::router(state.clone()))
        .merge(routes::gate::router(state.clone()))
        .merge(routes::slo::router(state.clone()))
        .merge(routes::charts::router(state.clone()))
        .merge(routes::page::router(state.clone()))
        .merge(routes::report::router(state.clone()))
        .merge(routes::metrics::router(state.clone()))
        .merge(routes::grafana::router(state.clone()))
        .merge(routes::changes::router(state.clone()))
        .merge(routes::stages::router(state.clone()))
        .merge(routes::ci::router(state.clone()))
        .merge(routes::prs::router(state.clone()))
        .merge(routes::webhooks::router(state.clone()))
        .merge(routes::slack::router(state.clone()))
        .merge(routes::health::router(state.clone()))
        .merge(routes::openapi::router())
        .fallback(|| async { Problem::not_found("no endpoint at this path") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(query::refuse_nul))
        .layer(axum::middleware::from_fn_with_state(state.guard.clone(), limits::protect))
        .layer(axum::middleware::from_fn_with_state(state.telemetry.clone(), telemetry::track))
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
