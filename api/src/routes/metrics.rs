//! `GET /metrics`: pacer's own counters and the delivery metrics of [`crate::telemetry`], as
//! OpenMetrics when the scraper asks for it (`Accept: application/openmetrics-text`), else the
//! Prometheus text format 0.0.4.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use crate::problem::Problem;
use crate::state::AppState;
use crate::telemetry::{scrape, to_prometheus_text};

/// The `/metrics` route.
pub fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let scraped = scrape(&state.store, &state.config, &state.analyses).await?;
    let Ok(body) = state.telemetry.encode_with(&scraped) else {
        tracing::error!("metrics encoding failed");
        return Err(Problem::internal());
    };
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics {
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", body)
    } else {
        ("text/plain; version=0.0.4; charset=utf-8", to_prometheus_text(&body))
    };
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
