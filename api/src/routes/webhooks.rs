//! `POST /webhooks/github`, `/webhooks/gitlab`, `/webhooks/cdevents`, `/webhooks/pagerduty`,
//! `/webhooks/argocd`, `/webhooks/flux`, `/webhooks/jenkins`: third-party webhooks, verified,
//! deduplicated and stored.
//!
//! Each handler checks the sender's proof when a secret is configured (GitHub's, PagerDuty's and
//! Flux's HMAC signatures of the raw body, GitLab's token, a CDEvents or Argo CD bearer token,
//! Jenkins's Basic password or bearer token) in constant time, so a missing or wrong one is a 401 and nothing is stored; it then reads the event type and
//! the delivery id from the headers, lets the collector parse the body, and stores the facts with
//! the delivery. The answer is `200 {"accepted", "duplicates", "ignored"}` once stored: event types
//! pacer does not use are answered 200 with `"ignored": true` and a reason (senders disable hooks
//! that keep failing); a malformed body of a known type is a 400 naming every problem. A
//! redelivery is answered 200 with `"replayed": true` and changes nothing.
//!
//! Delivery ids: GitHub `X-GitHub-Delivery`; GitLab `Idempotency-Key` (stable across retries),
//! else `X-Gitlab-Event-UUID`; CloudEvents `source` + `id`; PagerDuty `event.id`; when a sender
//! gives none (Argo CD, Flux, Jenkins), a hash of the body.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use pacer_collector::sources::cdevents::CloudEvent;
use pacer_collector::sources::{self, Context, Parsed, Source};
use pacer_collector::{Collected, FieldError};
use pacer_engine::model::{Fact, Incident};
use pacer_store::{Delivered, Delivery};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use pacer_collector::signature::{constant_time_eq, verify_hex, verify_hex_with};
use pacer_collector::config::Secret;
use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// Webhook routes. They take no bearer token: each source proves itself its own way.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/github", post(github))
        .route("/webhooks/gitlab", post(gitlab))
        .route("/webhooks/cdevents", post(cdevents))
        .route("/webhooks/pagerduty", post(pagerduty))
        .route("/webhooks/argocd", post(argocd))
        .route("/webhooks/flux", post(flux))
        .route("/webhooks/jenkins", post(jenkins))
        .layer(DefaultBodyLimit::max(state.config.limits.webhook_body_bytes))
        .with_state(state)
}

/// A verified delivery, ready to parse.
struct Incoming {
    source: Source,
    event: String,
    /// The sender's delivery id, when it gives one.
    delivery_id: Option<String>,
    payload: Value,
}

async fn github(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.github {
        let signature = text(&headers, "x-hub-signature-256")
            .ok_or_else(|| Problem::unauthorized("expected an X-Hub-Signature-256 header but found none"))?;
        let valid = signature.strip_prefix("sha256=").is_some_and(|hex| hmac_matches(secret, &body, [hex]));
        if !valid {
            return Err(Problem::unauthorized("the X-Hub-Signature-256 signature does not match the body and the configured secret"));
        }
    }
    let event = required(&headers, "x-github-event")?;
    // GitHub's other content type sends the JSON as the form field `payload`.
    let form = text(&headers, header::CONTENT_TYPE.as_str()).is_some_and(|media| media.starts_with("application/x-www-form-urlencoded"));
    let depth = state.config.limits.json_depth;
    let payload = if form { form_payload(&body, depth)? } else { json_body(&body, depth)? };
    if event == "deployment_protection_rule" {
        // A question to the deploy gate, not a fact to store.
        return Ok(Json(crate::gate::github::review(&state, &payload).await?));
    }
    let incoming = Incoming { source: Source::Github, event, delivery_id: text(&headers, "x-github-delivery"), payload };
    receive(&state, incoming).await
}

async fn gitlab(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.gitlab {
        let token = text(&headers, "x-gitlab-token").ok_or_else(|| Problem::unauthorized("expected an X-Gitlab-Token header but found none"))?;
        if !digest_eq(&token, secret) {
            return Err(Problem::unauthorized("the X-Gitlab-Token does not match the configured token"));
        }
    }
    let event = required(&headers, "x-gitlab-event")?;
    let delivery_id = text(&headers, "idempotency-key").or_else(|| text(&headers, "x-gitlab-event-uuid"));
    receive(&state, Incoming { source: Source::Gitlab, event, delivery_id, payload: json_body(&body, state.config.limits.json_depth)? }).await
}

async fn cdevents(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.cdevents {
        crate::auth::require_bearer(&headers, &[secret.expose()])?;
    }
    let media = text(&headers, header::CONTENT_TYPE.as_str()).map(|m| m.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let event = match (media.as_deref(), text(&headers, "ce-specversion")) {
        // Binary mode: the attributes are headers, the body is the CDEvent.
        (_, Some(_)) => {
            let attribute = |name: &str| required(&headers, name);
            let (id, source, event_type) = (attribute("ce-id")?, attribute("ce-source")?, attribute("ce-type")?);
            CloudEvent { id, source, event_type, data: json_body(&body, state.config.limits.json_depth)? }
        }
        (Some("application/cloudevents+json"), None) => CloudEvent::structured(json_body(&body, state.config.limits.json_depth)?).map_err(Problem::invalid_events)?,
        (Some("application/cloudevents-batch+json"), None) => {
            return Err(Problem::unsupported_media_type_of("application/cloudevents+json (structured) or application/json with ce-* headers (binary)", "application/cloudevents-batch+json"));
        }
        // A bare CDEvent: its context identifies it.
        _ => CloudEvent::bare(json_body(&body, state.config.limits.json_depth)?).map_err(Problem::invalid_events)?,
    };
    let delivery_id = Some(format!("{}#{}", event.source, event.id));
    receive(&state, Incoming { source: Source::Cdevents, event: event.event_type, delivery_id, payload: event.data }).await
}

async fn pagerduty(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.pagerduty {
        let header = text(&headers, "x-pagerduty-signature")
            .ok_or_else(|| Problem::unauthorized("expected an X-PagerDuty-Signature header but found none"))?;
        // Several signatures while a secret is rotated: any may match.
        let signatures = header.split(',').filter_map(|s| s.trim().strip_prefix("v1="));
        if !hmac_matches(secret, &body, signatures) {
            return Err(Problem::unauthorized("no X-PagerDuty-Signature matches the body and the configured secret"));
        }
    }
    let payload = json_body(&body, state.config.limits.json_depth)?;
    let at = |pointer: &str| payload.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    let incoming = Incoming { source: Source::Pagerduty, event: at("/event/event_type").unwrap_or_default(), delivery_id: at("/event/id"), payload };
    receive(&state, incoming).await
}

async fn argocd(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.argocd {
        crate::auth::require_bearer(&headers, &[secret.expose()])?;
    }
    // Argo CD's templates are not JSON-escaped unless they use toJson: a bad body is a 400.
    let payload = json_body(&body, state.config.limits.json_depth)?;
    receive(&state, Incoming { source: Source::Argocd, event: "application".to_owned(), delivery_id: None, payload }).await
}

async fn flux(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.flux {
        let signature = text(&headers, "x-signature").ok_or_else(|| Problem::unauthorized("expected an X-Signature header but found none"))?;
        let valid = signature.split_once('=').is_some_and(|(algorithm, hex)| verify_hex_with(algorithm, secret.expose().as_bytes(), &body, hex) == Some(true));
        if !valid {
            return Err(Problem::unauthorized("the X-Signature (sha224, sha256, sha384 or sha512) does not match the body and the configured secret"));
        }
    }
    let payload = json_body(&body, state.config.limits.json_depth)?;
    let event = payload.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned();
    receive(&state, Incoming { source: Source::Flux, event, delivery_id: None, payload }).await
}

async fn jenkins(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Problem> {
    let body = body?;
    if let Some(secret) = &state.config.webhooks.jenkins {
        // The Notification plugin sends `user:password@` of the endpoint URL as Basic auth.
        let basic = text(&headers, header::AUTHORIZATION.as_str()).and_then(|value| basic_password(&value));
        match basic {
            Some(password) if digest_eq(&password, secret) => {}
            Some(_) => return Err(Problem::unauthorized("the Basic password does not match the configured token")),
            None => crate::auth::require_bearer(&headers, &[secret.expose()])?,
        }
    }
    let payload = json_body(&body, state.config.limits.json_depth)?;
    let event = payload.pointer("/build/phase").and_then(Value::as_str).unwrap_or_default().to_owned();
    receive(&state, Incoming { source: Source::Jenkins, event, delivery_id: None, payload }).await
}

/// The password of an `Authorization: Basic` value.
fn basic_password(value: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}

/// Parses a verified delivery and stores its facts once.
async fn receive(state: &AppState, incoming: Incoming) -> Result<Json<Value>, Problem> {
    let Incoming { source, event, delivery_id, payload } = incoming;
    let cx = Context { normalizer: &state.config.normalizer, config: &state.config.sources };
    let facts = match sources::parse(source, &event, &payload, &cx).map_err(Problem::invalid_events)? {
        Parsed::Facts(facts) => facts,
        Parsed::Ignored(reason) => {
            tracing::debug!(source = source.as_str(), event = %event, reason = %reason, "webhook ignored");
            return Ok(Json(json!({"accepted": 0, "duplicates": 0, "ignored": true, "reason": reason})));
        }
    };
    let stored = payload.to_string();
    let delivery_id = delivery_id.unwrap_or_else(|| format!("sha256:{}", hex(&Sha256::digest(stored.as_bytes()))));
    crate::limits::not_in_future(&state.config.limits, facts.iter())?;
    let facts: Vec<Collected> = facts.into_iter().map(|fact| Collected::new(fact, Value::Null)).collect();
    let delivery = Delivery { source: source.as_str(), delivery_id: &delivery_id, event: &event, payload: &stored };
    let span = tracing::info_span!("ingest", source = source.as_str(), event = %event, events = facts.len());
    match state.store.ingest_delivery(delivery, now(), &facts).instrument(span).await? {
        Delivered::Stored(outcome) => {
            tracing::info!(source = source.as_str(), event = %event, accepted = outcome.accepted, duplicates = outcome.duplicates, "webhook stored");
            let mut answer = json!({"accepted": outcome.accepted, "duplicates": outcome.duplicates, "ignored": false});
            // A deployer's report of unhealthy workloads weighs like an alert in the rollback policy.
            let unhealthy: Vec<Incident> = facts.iter().filter_map(|c| match &c.fact {
                Fact::Incident(i) if matches!(source, Source::Argocd | Source::Flux) && i.deployment_id.is_some() => Some(i.clone()),
                _ => None,
            }).collect();
            if !unhealthy.is_empty() {
                answer["rollbacks"] = json!(crate::alerting::roll_back_after(state, source.as_str(), &unhealthy).await?);
            }
            Ok(Json(answer))
        }
        Delivered::Replayed => {
            tracing::info!(source = source.as_str(), event = %event, "webhook replayed");
            Ok(Json(json!({"accepted": 0, "duplicates": facts.len(), "ignored": false, "replayed": true})))
        }
    }
}

/// The JSON of a body no deeper than `depth`, with U+0000 replaced (PostgreSQL text cannot hold
/// it; see `body`).
fn json_body(body: &[u8], depth: usize) -> Result<Value, Problem> {
    pacer_collector::body::check_depth(body, depth, false).map_err(|error| Problem::invalid_events(vec![error]))?;
    let mut value = serde_json::from_slice(body).map_err(|e| Problem::invalid_events(vec![FieldError::new("", format!("invalid JSON: {e}"))]))?;
    pacer_collector::body::replace_nul(&mut value);
    Ok(value)
}

/// The JSON of a form-encoded GitHub delivery (`payload=…`).
fn form_payload(body: &[u8], depth: usize) -> Result<Value, Problem> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| Problem::invalid_events(vec![FieldError::new("", format!("expected a form-encoded body: {e}"))]))?;
    let payload = fields.into_iter().find(|(name, _)| name == "payload").map(|(_, value)| value);
    let payload = payload.ok_or_else(|| Problem::invalid_events(vec![FieldError::new("payload", "expected the form field payload but found none")]))?;
    json_body(payload.as_bytes(), depth)
}

/// A header as text, when present and not empty.
fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn required(headers: &HeaderMap, name: &str) -> Result<String, Problem> {
    text(headers, name).ok_or_else(|| Problem::missing_header(name))
}

/// Whether one of the hex `signatures` is the HMAC-SHA256 of `body` under `secret`; each
/// comparison takes the same time however much of it matches.
fn hmac_matches<'a>(secret: &Secret, body: &[u8], signatures: impl IntoIterator<Item = &'a str>) -> bool {
    signatures.into_iter().fold(false, |found, s| found | verify_hex(secret.expose().as_bytes(), body, s))
}

/// Token equality on digests, so the time taken says nothing about how much matched.
fn digest_eq(presented: &str, secret: &Secret) -> bool {
    constant_time_eq(&Sha256::digest(presented.as_bytes()), &Sha256::digest(secret.expose().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
