//! `POST /api/v1/events`: pacer's native events, one JSON object, an array, or NDJSON.
//!
//! A batch is atomic: every event is validated first, and if any is invalid nothing is stored and
//! the answer lists every problem with its event index and field pointer.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use axum::{Json, Router, middleware};
use pacer_collector::body::{self, Rejected};
use pacer_collector::native;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::auth;
use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// Ingestion routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/events", post(ingest))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::ingest))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}

async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let ndjson = match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(media) => match media.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "application/json" => false,
            "application/x-ndjson" | "application/jsonl" => true,
            other => return Err(Problem::unsupported_media_type(other)),
        },
    };
    let body = body?;
    let limits = &state.config.limits;
    let rejected = |problem: Problem| {
        state.telemetry.ingested("native", 0, 0, 1);
        problem
    };
    body::check_depth(&body, limits.json_depth, ndjson).map_err(|error| rejected(Problem::invalid_events(vec![error])))?;
    let values = body::split_at_most(&body, ndjson, limits.batch_events).map_err(|rejection| match rejection {
        Rejected::TooMany(error) => rejected(Problem::too_large(vec![error])),
        Rejected::Invalid(errors) => rejected(Problem::invalid_events(errors)),
    })?;
    let events = native::parse_values(values, &state.config.normalizer).map_err(|errors| rejected(Problem::invalid_events(errors)))?;
    crate::limits::not_in_future(&state.config.limits, events.iter().map(|c| &c.fact)).map_err(rejected)?;
    let span = tracing::info_span!("ingest", source = "native", events = events.len());
    let outcome = state.store.ingest("native", now(), &events).instrument(span).await?;
    state.telemetry.ingested("native", outcome.accepted, outcome.duplicates, 0);
    tracing::info!(source = "native", accepted = outcome.accepted, duplicates = outcome.duplicates, "events stored");
    Ok(Json(json!({"accepted": outcome.accepted, "duplicates": outcome.duplicates})))
}
