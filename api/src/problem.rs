//! The one error type of the HTTP API, rendered as RFC 9457 `application/problem+json`.
//!
//! Every handler returns [`Problem`] on failure. Client errors say what was wrong and where
//! (`errors`, each with a JSON pointer or a query parameter); server errors say nothing internal
//! and log their cause once, inside the request span.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pacer_collector::FieldError;
use pacer_store::StoreError;
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An API error.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A short summary of the kind.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What happened in this occurrence.
    pub detail: String,
    /// Every problem with the input, each with where it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, title, status: status.as_u16(), detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    /// The events of a request are invalid; nothing was stored.
    pub fn invalid_events(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 problem in the request; nothing was stored".to_owned(),
            n => format!("{n} problems in the request; nothing was stored"),
        };
        Self { errors, ..Self::new(StatusCode::BAD_REQUEST, "/problems/invalid-events", "Invalid events", detail) }
    }

    /// A query parameter is invalid.
    pub fn invalid_query(parameter: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let errors = vec![FieldError::new(format!("?{parameter}"), detail.clone())];
        Self { errors, ..Self::new(StatusCode::BAD_REQUEST, "/problems/invalid-query", "Invalid query parameter", detail) }
    }

    /// The request body could not be read (too large, cut off, …).
    pub fn unreadable_body(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::new(status, "/problems/unreadable-body", "Unreadable request body", detail)
    }

    /// The body has a media type the endpoint does not take.
    pub fn unsupported_media_type(found: &str) -> Self {
        let detail = format!("expected application/json or application/x-ndjson but found {found:?}");
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "/problems/unsupported-media-type", "Unsupported media type", detail)
    }

    /// The body has a media type the endpoint does not take; `expected` says which it takes.
    pub fn unsupported_media_type_of(expected: &str, found: &str) -> Self {
        let detail = format!("expected {expected} but found {found:?}");
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "/problems/unsupported-media-type", "Unsupported media type", detail)
    }

    /// A header the endpoint needs is missing.
    pub fn missing_header(name: &str) -> Self {
        let detail = format!("expected a {name} header but found none");
        let errors = vec![FieldError::new(format!("header:{name}"), detail.clone())];
        Self { errors, ..Self::new(StatusCode::BAD_REQUEST, "/problems/missing-header", "Missing header", detail) }
    }

    /// Missing or wrong credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "/problems/unauthorized", "Unauthorized", detail)
    }

    /// A valid token without the scope the endpoint needs.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "/problems/forbidden", "Forbidden", detail)
    }

    /// The request is within the size limit but holds more than pacer takes at once (events in
    /// a batch); nothing was stored.
    pub fn too_large(errors: Vec<FieldError>) -> Self {
        let detail = errors.first().map_or_else(String::new, |e| format!("{}; nothing was stored", e.detail));
        Self { errors, ..Self::new(StatusCode::PAYLOAD_TOO_LARGE, "/problems/too-large", "Request too large", detail) }
    }

    /// The caller sent too many requests; a retry after `seconds` will be accepted.
    pub fn too_many_requests(seconds: u64) -> Self {
        let detail = format!("too many requests; retry in {seconds} s");
        let problem = Self::new(StatusCode::TOO_MANY_REQUESTS, "/problems/rate-limited", "Too many requests", detail);
        Self { retry_after: Some(seconds), ..problem }
    }

    /// pacer is saturated for now (`detail` says by what); a retry shortly may succeed.
    pub fn busy(detail: impl Into<String>) -> Self {
        let problem = Self::new(StatusCode::SERVICE_UNAVAILABLE, "/problems/busy", "Service busy", detail);
        Self { retry_after: Some(1), ..problem }
    }

    /// Handling the request took longer than `seconds` and was abandoned; a write in progress
    /// was rolled back, or had committed just before, so resending (idempotent) is safe.
    pub fn timed_out(seconds: u64) -> Self {
        let detail = format!("the request took longer than {seconds} s and was abandoned; resending it is safe");
        let problem = Self::new(StatusCode::SERVICE_UNAVAILABLE, "/problems/timed-out", "Request timed out", detail);
        Self { retry_after: Some(1), ..problem }
    }

    /// The request body did not arrive within `seconds`.
    pub fn body_timeout(seconds: u64) -> Self {
        let detail = format!("expected the whole request body within {seconds} s; nothing was stored");
        Self::new(StatusCode::REQUEST_TIMEOUT, "/problems/body-timeout", "Request body timed out", detail)
    }

    /// Nothing lives at this path.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "/problems/not-found", "Not found", detail)
    }

    /// The path exists but not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "/problems/method-not-allowed", "Method not allowed", "this path does not accept this method")
    }

    /// The request conflicts with the resource's state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "/problems/conflict", "Conflict", detail)
    }

    /// A server pacer depends on (Prometheus) failed.
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "/problems/bad-gateway", "Upstream failed", detail)
    }

    /// The database is unavailable for now.
    pub fn unavailable() -> Self {
        let problem = Self::new(StatusCode::SERVICE_UNAVAILABLE, "/problems/unavailable", "Service unavailable", "the database is unavailable; retry later");
        Self { retry_after: Some(1), ..problem }
    }

    /// The database has no room left for what the request would store; nothing was stored.
    /// Reads still work; writes succeed again once an operator frees space.
    pub fn storage_full() -> Self {
        let detail = "the database has no space left; nothing was stored; retry once space is freed";
        let problem = Self::new(StatusCode::INSUFFICIENT_STORAGE, "/problems/storage-full", "Insufficient storage", detail);
        Self { retry_after: Some(60), ..problem }
    }

    /// Something failed inside pacer; the cause is logged, not shown.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "/problems/internal", "Internal error", "pacer failed to handle the request; the cause is in its log")
    }
}

impl From<axum::extract::rejection::BytesRejection> for Problem {
    /// A body that could not be read: over the route's size limit (413), cut off, …
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        Self::unreadable_body(rejection.status(), rejection.body_text())
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        if error.is_transient() {
            tracing::warn!(error = %error, "database unavailable");
            Self::unavailable()
        } else if error.is_storage_full() {
            // Data sent to pacer is being refused until an operator acts.
            tracing::error!(error = %error, "database storage full");
            Self::storage_full()
        } else {
            tracing::error!(error = %error, "database error");
            Self::internal()
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
