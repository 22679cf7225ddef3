//! `GET /api/v1/incidents/{id}/timeline` (JSON) and `GET /api/v1/incidents/{id}/postmortem`
//! (Markdown, or with `?format=html` a page): an incident's facts in time order with the durations
//! derived from them, and the blameless postmortem draft written from them. What they read and
//! how they are assembled is [`crate::postmortem`]; this module only answers HTTP.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};

use crate::auth;
use crate::postmortem::{context_of, draft, timeline::Timeline, timeline_of};
use crate::problem::Problem;
use crate::query::Params;
use crate::state::AppState;

/// Incident routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/incidents/{id}/timeline", get(timeline))
        .route("/api/v1/incidents/{id}/postmortem", get(postmortem))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::reader))
        .with_state(state)
}

/// No scripts, no images, no outside styles: the page is text and links.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

async fn timeline(State(state): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Result<Json<Timeline>, Problem> {
    Params::parse(raw.as_deref())?.only(&[])?;
    let (timeline, ..) = timeline_of(&state, &id).await?;
    Ok(Json(timeline))
}

async fn postmortem(State(state): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Result<Response, Problem> {
    let params = Params::parse(raw.as_deref())?;
    params.only(&["format"])?;
    let html = match params.one("format")? {
        None | Some("markdown") => false,
        Some("html") => true,
        Some(other) => return Err(Problem::invalid_query("format", format!("expected markdown or html but found {other:?}"))),
    };
    let (timeline, facts, analysis) = timeline_of(&state, &id).await?;
    let context = context_of(&state, &facts, &analysis).await?;
    let draft = draft::compose(&timeline, &context);
    let response = if html {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            draft.html(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], draft.markdown()).into_response()
    };
    Ok(response)
}
