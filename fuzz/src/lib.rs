//! What each cargo-fuzz target runs: one parser on the fuzzer's bytes, as the api calls it. A
//! parser may accept or reject anything; it must not panic. Webhook payloads are tried as every
//! event type their source reads, so the shared fixtures work as seeds unchanged.

use pacer_collector::alerts::{self, LabelNames};
use pacer_collector::sources::cdevents::CloudEvent;
use pacer_collector::sources::{self, Context, Source, SourceConfig};
use pacer_collector::{Normalizer, native};
use serde_json::Value;

/// The GitHub events (`X-GitHub-Event`) pacer reads.
const GITHUB: [&str; 10] =
    ["push", "pull_request", "pull_request_review", "deployment", "deployment_status", "workflow_run", "workflow_job", "check_suite", "issues", "release"];
/// The GitLab events (`X-Gitlab-Event`) pacer reads.
const GITLAB: [&str; 9] =
    ["Push Hook", "Tag Push Hook", "Merge Request Hook", "Pipeline Hook", "Job Hook", "Deployment Hook", "Issue Hook", "Confidential Issue Hook", "Release Hook"];

fn webhook(source: Source, events: &[&str], data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else { return };
    let (normalizer, config) = (Normalizer::default(), SourceConfig::default());
    let cx = Context { normalizer: &normalizer, config: &config };
    for event in events {
        let _ = sources::parse(source, event, &payload, &cx);
    }
}

/// `POST /api/v1/events`, as JSON and as NDJSON.
pub fn native(data: &[u8]) {
    let normalizer = Normalizer::default();
    let _ = native::parse_body(data, false, &normalizer);
    let _ = native::parse_body(data, true, &normalizer);
}

/// `POST /webhooks/github`.
pub fn github(data: &[u8]) {
    webhook(Source::Github, &GITHUB, data);
}

/// `POST /webhooks/gitlab`.
pub fn gitlab(data: &[u8]) {
    webhook(Source::Gitlab, &GITLAB, data);
}

/// `POST /webhooks/cdevents`: a structured CloudEvent or a bare CDEvent.
pub fn cdevents(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let event = if body.get("specversion").is_some() { CloudEvent::structured(body) } else { CloudEvent::bare(body) };
    if let Ok(event) = event {
        webhook(Source::Cdevents, &[event.event_type.as_str()], &serde_json::to_vec(&event.data).unwrap_or_default());
    }
}

/// `POST /webhooks/pagerduty`: the event type is read from the payload.
pub fn pagerduty(data: &[u8]) {
    let event = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| v.pointer("/event/event_type").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    webhook(Source::Pagerduty, &[event.as_str()], data);
}

/// `POST /webhooks/alertmanager` and `/webhooks/grafana`, each alert made an incident.
pub fn alerts(data: &[u8]) {
    if let Ok(parsed) = alerts::parse(data) {
        for alert in parsed {
            let _ = alert.incident(&LabelNames::default(), &Normalizer::default(), None, 0);
        }
    }
}
