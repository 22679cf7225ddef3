//! `POST /webhooks/alertmanager` and `POST /webhooks/grafana`: alerts become incidents, and an
//! alert that follows a deployment may trigger a rollback — an SLO's burn alert (its `slo` label
//! names a configured `[[slo]]`, as the rules of `pacer slo rules` label them) only when that SLO
//! has `rollback = true` and the alert's severity is `page`.
//!
//! Everything an alert leads to — the incident (with its raw event) and the rollback with its
//! outbox — is stored in one transaction; then the dispatcher is woken so the hooks fire within
//! milliseconds. Alertmanager authenticates with a bearer token, Grafana with an HMAC signature
//! (`X-Grafana-Alerting-Signature`), each when configured.
//!
//! Traced as `alerts` → one `decision` per alert → `outbox` (the transaction); the dispatcher's
//! `delivery` spans continue the trace from the `outbox` span that stored their rollback.


use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use pacer_collector::alerts::{self};
use pacer_collector::signature::verify_hex;
use serde_json::Value;

use crate::problem::Problem;
use crate::state::AppState;

/// Alert routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/alertmanager", post(alertmanager))
        .route("/webhooks/grafana", post(grafana))
        .layer(DefaultBodyLimit::max(state.config.limits.alert_body_bytes))
        .with_state(state)
}

async fn alertmanager(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(token) = &state.config.alertmanager_token {
        crate::auth::require_bearer(&headers, &[token.as_str()])?;
    }
    receive(&state, "alertmanager", &body).await
}

async fn grafana(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.rollback.grafana_secret {
        let signature = headers
            .get("x-grafana-alerting-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Problem::unauthorized("expected an X-Grafana-Alerting-Signature header but found none"))?;
        if !verify_hex(secret.as_bytes(), &body, signature) {
            return Err(Problem::unauthorized("the X-Grafana-Alerting-Signature does not match the body"));
        }
    }
    receive(&state, "grafana", &body).await
}

async fn receive(state: &AppState, source: &str, body: &[u8]) -> Result<Json<Value>, Problem> {
    let depth = pacer_collector::body::check_depth(body, state.config.limits.json_depth, false);
    let alerts = depth.map_err(|error| vec![error]).and_then(|()| alerts::parse(body)).map_err(|errors| {
        state.telemetry.ingested(source, 0, 0, 1);
        Problem::invalid_events(errors)
    })?;
    let slos = &state.config.slos;
    crate::alerting::handle(state, source, &alerts, &|alert| crate::alerting::slo_allows_rollback(slos, alert)).await.map(Json)
}

