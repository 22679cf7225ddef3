//! `POST /api/v1/events`: pacer's native events, one JSON object, an array, or NDJSON.
//!
//! A batch is atomic: every event is validated first, and if any is invalid nothing is stored and
//! the answer lists every problem with its event index and field pointer.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use axum::{Json, Router, middleware};
use pacer_collector::native;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::{AppState, Problem, auth, now};

/// Ingestion routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/events", post(ingest))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::writer))
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
    let body = body.map_err(|rejection| Problem::unreadable_body(rejection.status(), rejection.body_text()))?;
    let events = native::parse_body(&body, ndjson, &state.config.normalizer).map_err(|errors| {
        state.telemetry.ingested("native", 0, 0, 1);
        Problem::invalid_events(errors)
    })?;
    let span = tracing::info_span!("ingest", source = "native", events = events.len());
    let outcome = state.store.ingest("native", now(), &events).instrument(span).await?;
    state.telemetry.ingested("native", outcome.accepted, outcome.duplicates, 0);
    tracing::info!(source = "native", accepted = outcome.accepted, duplicates = outcome.duplicates, "events stored");
    Ok(Json(json!({"accepted": outcome.accepted, "duplicates": outcome.duplicates})))
}
