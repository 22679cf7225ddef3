//! PagerDuty v3 webhooks: incidents, opened and resolved.
//!
//! Reference: <https://developer.pagerduty.com/docs/webhooks-overview> (payload and the
//! `X-PagerDuty-Signature` the api verifies). Every `incident.*` event carries the incident
//! (`event.data`, of type `incident`): each is recorded as the incident's current state, opened at
//! its `created_at`; `incident.resolved` resolves it at the event's `occurred_at`. A resolved
//! incident stays resolved: later or late events of lower rank do not reopen it. Other resource
//! types (services, `pagey.ping`) are ignored.
//!
//! The incident's service is the PagerDuty service's summary, or what `pagerduty.services` maps
//! that summary (or the service id) to; the environment is production. Ids are
//! `pagerduty:<incident id>`.

use serde_json::Value;

use pacer_engine::model::{Fact, Incident};

use super::{Context, Doc, Outcome, Parsed, ignored};
use crate::normalize::PRODUCTION;

/// Parses one PagerDuty delivery; the event type is read from the payload (`event` is used
/// when it has none).
pub(crate) fn parse(event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    let event_type = d.str("/event/event_type").unwrap_or(event);
    if event_type.is_empty() {
        d.req_str("/event/event_type");
        return Err(d.errors);
    }
    if !event_type.starts_with("incident.") || d.str("/event/data/type").is_some_and(|t| t != "incident") {
        return ignored(format!("pacer does not use PagerDuty {event_type:?} events"));
    }
    let number = d.req_id("/event/data/id");
    let opened_at = d.req_time("/event/data/created_at");
    let resolved_at = if event_type == "incident.resolved" { d.req_time("/event/occurred_at") } else { None };
    let summary = d.req_str("/event/data/service/summary");
    let services = &cx.config.pagerduty_services;
    let service = summary.map(|summary| {
        let mapped = services.get(&summary).or_else(|| d.str("/event/data/service/id").and_then(|id| services.get(id)));
        mapped.cloned().unwrap_or(summary)
    });
    let incident = (|| {
        Some(Incident {
            id: format!("pagerduty:{}", number?),
            service: service?,
            environment: PRODUCTION.to_owned(),
            opened_at: opened_at?,
            resolved_at,
            severity: d.string("/event/data/priority/summary").or_else(|| d.string("/event/data/urgency")),
            title: d.string("/event/data/title"),
            url: d.string("/event/data/html_url"),
            deployment_id: None,
            commit_sha: None,
        })
    })();
    d.finish(incident.map(|i| Parsed::Facts(vec![Fact::Incident(i)])))
}
