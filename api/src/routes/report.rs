//! `GET /api/v1/reports/preview?week=2026-W47&team=…` (the weekly report in a browser) and
//! `GET /api/v1/reports/sends` (what the scheduler sent); the report itself is [`crate::report`].

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use serde_json::Value;
use crate::auth;
use crate::clock::now;
use crate::problem::Problem;
use crate::query::Params;
use crate::report::{Embed, write};
use crate::state::AppState;
use crate::week::Week;

/// Report routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/reports/preview", get(preview).route_layer(middleware::from_fn_with_state(state.guard.clone(), crate::limits::heavy_query_slot)))
        .route("/api/v1/reports/sends", get(sends))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

/// No scripts; images only from the page itself.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

async fn preview(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["week", "team"])?;
    let week = week_param(&state, &params)?;
    let letter = write(&state, week, params.one("team")?, Embed::DataUri).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        letter.html,
    )
        .into_response())
}

/// Reads `week` (the last week that ended when absent).
fn week_param(state: &AppState, params: &Params) -> Result<Week, Problem> {
    match params.one("week")? {
        Some(text) => Week::parse(text).map_err(|detail| Problem::invalid_query("week", detail)),
        None => Ok(Week::ended_by(now(), &state.config.report.zone)),
    }
}

/// `GET /api/v1/reports/sends?week=2026-W47`: the sent-log of a week — who got which report,
/// or how often sending it has failed so far.
async fn sends(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<axum::Json<Value>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["week"])?;
    let week = week_param(&state, &params)?;
    let time = |at: Option<Millis>| at.map_or(Value::Null, |t| Value::String(rfc3339(t)));
    let items: Vec<Value> = state
        .store
        .sends(&week.to_string())
        .await?
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "team": r.team, "recipient": r.recipient, "state": r.state, "attempts": r.attempts,
                "next_attempt_at": time((r.state == "pending").then_some(r.next_attempt_at)), "sent_at": time(r.sent_at),
                "last_error": r.last_error, "message_id": r.message_id,
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({"week": week.to_string(), "items": items})))
}
