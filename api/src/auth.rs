//! Bearer tokens: write endpoints need the api token when one is configured; read endpoints need
//! the read token (or the api token) when one is configured. Comparisons take constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use pacer_collector::signature::constant_time_eq;
use sha2::{Digest, Sha256};

use crate::{AppState, Problem};

/// Requires the api token on a write route.
pub async fn writer(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, Problem> {
    let tokens = [state.config.api_token.as_deref()];
    check(&request, &tokens)?;
    Ok(next.run(request).await)
}

/// Requires the read or api token on a read route, when a read token is configured.
pub async fn reader(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, Problem> {
    if state.config.read_token.is_some() {
        let tokens = [state.config.read_token.as_deref(), state.config.api_token.as_deref()];
        check(&request, &tokens)?;
    }
    Ok(next.run(request).await)
}

fn check(request: &Request, accepted: &[Option<&str>]) -> Result<(), Problem> {
    let accepted: Vec<&str> = accepted.iter().flatten().copied().collect();
    if accepted.is_empty() {
        return Ok(());
    }
    require_bearer(request.headers(), &accepted)
}

/// Requires an `Authorization: Bearer <token>` header holding one of `accepted`. Digests are
/// compared, so the time taken says nothing about how much of a token matched. Every endpoint
/// that takes a bearer token (the API, Alertmanager, CDEvents) checks it here.
///
/// # Errors
/// 401 when the header is missing or the token is not one of `accepted`.
pub(crate) fn require_bearer(headers: &HeaderMap, accepted: &[&str]) -> Result<(), Problem> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| Problem::unauthorized("expected an Authorization: Bearer <token> header but found none"))?;
    let presented = Sha256::digest(presented.trim().as_bytes());
    let matches = accepted.iter().fold(false, |found, token| found | constant_time_eq(&presented, &Sha256::digest(token.as_bytes())));
    if matches { Ok(()) } else { Err(Problem::unauthorized("the bearer token is not valid for this endpoint")) }
}

