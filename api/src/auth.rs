//! Who may call which API route: bearer tokens with scopes.
//!
//! Three scopes: `ingest` (`POST /api/v1/events`), `read` (every read endpoint, when
//! `read_access = "token"`) and `admin` (approving rollbacks). A request proves a scope with
//! `Authorization: Bearer <token>`, where the token is either one created by `pacer token create`
//! (stored as its SHA-256 digest, see [`digest`]) or one of the two configured static tokens:
//! `api_token` holds every scope, `read_token` holds `read`. A missing or unknown, revoked or
//! expired token is a 401; a valid token without the scope is a 403.
//!
//! Ingest and admin routes stay open while no static `api_token` is configured and no token was
//! ever created — a fresh install and `pacer demo` work without setup — and close for good with
//! the first token (revoking it does not open them again). Webhook endpoints are not covered here:
//! each source proves itself with its own secret (see `webhooks.rs`, `alerts.rs`), through
//! [`require_bearer`] when that secret is a bearer token. Per-token rate limits are applied here,
//! once the token is known. Tokens and digests are never logged; a token's name may be.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use pacer_collector::signature::constant_time_eq;
use sha2::{Digest, Sha256};

use crate::config::ReadAccess;
use crate::limits::RateKey;
use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Send events (`POST /api/v1/events`).
    Ingest,
    /// Read metrics, listings, charts and reports.
    Read,
    /// Approve rollbacks and other administrative actions.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Read, Scope::Admin];

    /// Its name in tokens, settings and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }

    /// Parses a comma-separated list (`ingest,read`), sorted and without repeats.
    ///
    /// # Errors
    /// An unknown or missing scope, named in the message.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for name in text.split(',').map(str::trim) {
            let scope = Self::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| format!("expected scopes among ingest, read, admin (comma-separated) but found {name:?}"))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(scopes)
    }

    /// A list's stored form (`ingest,read`).
    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request, once authenticated; handlers and limits may read it from the request's
/// extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token was needed and none was checked.
    Anonymous,
    /// The configured `api_token` or `read_token`.
    Static(&'static str),
    /// A stored token: its id and name.
    Token {
        /// Its row id.
        id: i64,
        /// Its name.
        name: String,
    },
}

impl Caller {
    /// Who it is, as recorded where pacer keeps who did something (a rollback's approver):
    /// `api` when no token was needed, the setting's name (`api_token`) for a configured token,
    /// `token:<name>` for a stored one.
    pub fn name(&self) -> String {
        match self {
            Self::Anonymous => "api".to_owned(),
            Self::Static(name) => (*name).to_owned(),
            Self::Token { name, .. } => format!("token:{name}"),
        }
    }
}

/// How long a token's first characters shown in `pacer token list` are.
pub const PREFIX_LEN: usize = 12;

/// A new random token: `pacer_` and 32 bytes from the operating system's generator, URL-safe
/// base64.
///
/// # Errors
/// The operating system's random generator failed.
pub fn mint() -> Result<String, String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes: {e}"))?;
    Ok(format!("pacer_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// The digest a token is stored and looked up by: hex SHA-256.
///
/// A plain, fast hash is the right choice for these tokens, unlike for passwords: a token holds
/// 256 random bits, so there is no dictionary to try and no salt or slow hash (bcrypt, argon2)
/// would make guessing from a stolen digest any harder, while a fast, deterministic digest lets
/// each request find its token with one indexed lookup.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Requires the `ingest` scope.
pub async fn ingest(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, Problem> {
    guarded(state, Scope::Ingest, request, next).await
}

/// Requires the `read` scope when reads need a token.
pub async fn reader(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, Problem> {
    guarded(state, Scope::Read, request, next).await
}

/// Requires the `admin` scope.
pub async fn admin(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, Problem> {
    guarded(state, Scope::Admin, request, next).await
}

async fn guarded(state: AppState, scope: Scope, mut request: Request, next: Next) -> Result<Response, Problem> {
    let caller = authenticate(&state, scope, request.headers()).await?;
    let key = match &caller {
        Caller::Anonymous => None,
        Caller::Static(name) => Some(RateKey::Static(name)),
        Caller::Token { id, .. } => Some(RateKey::Token(*id)),
    };
    if let Some(key) = key {
        state.guard.token_rate.check(key)?;
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Checks the request's token for `scope`.
///
/// # Errors
/// 401 when a token is needed and missing, unknown, revoked or expired; 403 when it lacks the
/// scope; 503 when the database cannot be asked.
pub async fn authenticate(state: &AppState, scope: Scope, headers: &HeaderMap) -> Result<Caller, Problem> {
    let Some(presented) = bearer(headers) else {
        return if needs_token(state, scope).await? { Err(missing()) } else { Ok(Caller::Anonymous) };
    };
    if !needs_token(state, scope).await? {
        // Open routes ignore tokens: a wrong one does not lock a caller out of what anyone may do.
        return Ok(Caller::Anonymous);
    }
    let config = &state.config;
    let presented_digest = Sha256::digest(presented.as_bytes());
    let statics = [("api_token", config.api_token.as_deref(), &Scope::ALL[..]), ("read_token", config.read_token.as_deref(), &[Scope::Read][..])];
    // Every configured token is compared, whatever matched first, each in constant time.
    let matched = statics.iter().fold(None, |found, (name, token, scopes)| {
        let equal = token.is_some_and(|t| constant_time_eq(&presented_digest, &Sha256::digest(t.as_bytes())));
        if equal && found.is_none() { Some((*name, *scopes)) } else { found }
    });
    if let Some((name, scopes)) = matched {
        return if scopes.contains(&scope) { Ok(Caller::Static(name)) } else { Err(forbidden(scope)) };
    }
    // The lookup by digest is an index search, not a comparison of secrets: its timing can only
    // tell how much of a digest matched, and producing a chosen digest means inverting SHA-256.
    let row = state.store.token_by_hash(&digest(presented)).await?.ok_or_else(unknown)?;
    let now = now();
    if !row.is_active(now) {
        return Err(Problem::unauthorized("the bearer token is revoked or expired"));
    }
    if !row.scopes.split(',').any(|s| s == scope.as_str()) {
        return Err(forbidden(scope));
    }
    // Last use to the minute: one write per token per minute, not one per request.
    if row.last_used_at.is_none_or(|at| now - at >= 60_000) {
        state.store.touch_token(row.id, now).await?;
    }
    Ok(Caller::Token { id: row.id, name: row.name })
}

/// Whether `scope` needs a token at all.
async fn needs_token(state: &AppState, scope: Scope) -> Result<bool, Problem> {
    match scope {
        Scope::Read => Ok(state.config.read_access == ReadAccess::Token),
        Scope::Ingest | Scope::Admin => Ok(state.config.api_token.is_some() || tokens_exist(state).await?),
    }
}

/// Whether a token was ever created. Once true it stays true (rows are never deleted), so the
/// answer is kept; until then each unauthenticated write asks the database.
async fn tokens_exist(state: &AppState) -> Result<bool, Problem> {
    let known: &AtomicBool = &state.guard.tokens_exist;
    if known.load(Ordering::Relaxed) {
        return Ok(true);
    }
    let exists = state.store.any_token().await?;
    if exists {
        known.store(true, Ordering::Relaxed);
    }
    Ok(exists)
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

fn missing() -> Problem {
    Problem::unauthorized("expected an Authorization: Bearer <token> header but found none")
}

fn unknown() -> Problem {
    Problem::unauthorized("the bearer token is not valid for this endpoint")
}

fn forbidden(scope: Scope) -> Problem {
    Problem::forbidden(format!("the bearer token does not have the {scope} scope this endpoint needs"))
}

/// Requires an `Authorization: Bearer <token>` header holding one of `accepted`. Digests are
/// compared, so the time taken says nothing about how much of a token matched. The webhook
/// endpoints that take a source's bearer token (Alertmanager, CDEvents) check it here.
///
/// # Errors
/// 401 when the header is missing or the token is not one of `accepted`.
pub(crate) fn require_bearer(headers: &HeaderMap, accepted: &[&str]) -> Result<(), Problem> {
    let presented = bearer(headers).ok_or_else(missing)?;
    let presented = Sha256::digest(presented.as_bytes());
    let matches = accepted.iter().fold(false, |found, token| found | constant_time_eq(&presented, &Sha256::digest(token.as_bytes())));
    if matches { Ok(()) } else { Err(unknown()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_is_recorded_by_the_token_it_showed() {
        assert_eq!(Caller::Anonymous.name(), "api");
        assert_eq!(Caller::Static("api_token").name(), "api_token");
        assert_eq!(Caller::Token { id: 7, name: "release-bot".into() }.name(), "token:release-bot");
    }

    #[test]
    fn scope_lists_parse_sorted_without_repeats_and_name_what_is_wrong() {
        assert_eq!(Scope::parse_list("read, ingest,read"), Ok(vec![Scope::Ingest, Scope::Read]));
        assert_eq!(Scope::join(&[Scope::Ingest, Scope::Admin]), "ingest,admin");
        let error = Scope::parse_list("ingest,write").expect_err("unknown scope");
        assert!(error.contains("\"write\""), "{error}");
        assert!(Scope::parse_list("").is_err());
    }

    #[test]
    fn minted_tokens_are_long_random_and_stored_only_as_their_digest() {
        let (a, b) = (mint().expect("random"), mint().expect("random"));
        assert_ne!(a, b);
        assert!(a.starts_with("pacer_") && a.len() == 6 + 43, "{a}");
        assert_eq!(digest(&a).len(), 64);
        assert!(!digest(&a).contains(&a[6..]));
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
