//! `GET /api/v1/chat/messages`: the chat notifications pacer stored, newest first, with where
//! each stands (`pending`, `delivered`, `failed`, `gone`), its attempts and its last answer — so
//! an operator sees a channel that is gone or failing without reading logs. Bodies and
//! destination URLs are not shown: a Slack or Teams webhook URL is a credential.
//!
//! `GET /api/v1/chat/preview/{kind}`: an example message of an event kind (`rollback.decided`, …)
//! as Slack would show it, drawn as HTML by [`pacer_chat::preview`]; `?format=json` gives what
//! each channel (Slack, Teams, webhook) would be sent. The examples are fixed: no stored data.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use pacer_chat::event::Kind;
use pacer_engine::calendar::rfc3339;
use pacer_store::MessageRow;
use serde::Serialize;

use crate::auth;
use crate::problem::Problem;
use crate::query::Params;
use crate::state::AppState;

/// Chat routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/chat/messages", get(list))
        .route("/api/v1/chat/preview/{kind}", get(preview))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

/// A page of messages.
#[derive(Debug, Serialize)]
struct Messages {
    items: Vec<Message>,
}

/// One message as listed.
#[derive(Debug, Serialize)]
struct Message {
    event_key: String,
    event: String,
    destination: String,
    message_id: String,
    service: String,
    environment: String,
    state: String,
    attempts: i64,
    next_attempt_at: Option<String>,
    delivered_at: Option<String>,
    last_status: Option<i64>,
    last_error: Option<String>,
}

impl From<MessageRow> for Message {
    fn from(m: MessageRow) -> Self {
        Self {
            next_attempt_at: (m.state == "pending").then(|| rfc3339(m.next_attempt_at)),
            delivered_at: m.delivered_at.map(rfc3339),
            event_key: m.event_key,
            event: m.event,
            destination: m.destination,
            message_id: m.message_id,
            service: m.service,
            environment: m.environment,
            state: m.state,
            attempts: m.attempts,
            last_status: m.last_status,
            last_error: m.last_error,
        }
    }
}

async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Messages>, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["limit"])?;
    let limit = match params.one("limit")? {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| Problem::invalid_query("limit", format!("expected an integer from 1 to 500 but found {text:?}")))?,
        None => 50,
    };
    let rows = state.store.messages(limit).await?;
    Ok(Json(Messages { items: rows.into_iter().map(Message::from).collect() }))
}

/// Where the examples link to.
const EXAMPLE_BASE: &str = "https://pacer.example.com";

async fn preview(Path(kind): Path<String>, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["format"])?;
    let Some(kind) = Kind::named(&kind) else {
        let known: Vec<&str> = Kind::ALL.iter().map(|(name, _)| *name).collect();
        return Err(Problem::not_found(format!("no event kind {kind:?}: expected one of {}", known.join(", "))));
    };
    let payloads = pacer_chat::preview::payloads(kind, EXAMPLE_BASE);
    match params.one("format")? {
        Some("json") => Ok(Json(payloads).into_response()),
        Some("html") | None => Ok((
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            pacer_chat::preview::html(&payloads["slack"]),
        )
            .into_response()),
        Some(other) => Err(Problem::invalid_query("format", format!("expected html or json but found {other:?}"))),
    }
}
