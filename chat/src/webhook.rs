//! A [`Message`] as pacer's own JSON, for any HTTP endpoint: the event's kind and key, where and
//! when, the message's text and links, and what the event is about (the deployment or incident as
//! stored, times in epoch milliseconds; a rollback's report as its hooks receive it; an SLO's
//! burn, the gate's answer, or the week's keys). The sender
//! signs it per Standard Webhooks, as rollback hooks are signed.

use pacer_engine::calendar::rfc3339;
use pacer_engine::model::{Deployment, Incident};
use pacer_rollback::report::Report;
use serde::Serialize;

use crate::event::{Burn, Digest, Event, Halt, Subject};
use crate::message::Message;

/// The body of a generic webhook.
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    /// The event kind, `deployment.succeeded`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The event's key, the same on every attempt and replica.
    pub event_id: String,
    /// The service.
    pub service: &'a str,
    /// The environment.
    pub environment: &'a str,
    /// The team, when known.
    pub team: Option<&'a str>,
    /// When it happened.
    pub at: String,
    /// The message's title.
    pub title: &'a str,
    /// The message's sentence.
    pub summary: &'a str,
    /// The message's links.
    pub links: Vec<LinkBody<'a>>,
    /// The deployment, for deployment events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<&'a Deployment>,
    /// The incident, for incident events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<&'a Incident>,
    /// The rollback's report, for rollback events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<&'a Report>,
    /// The burn, for SLO events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<&'a Burn>,
    /// The gate's answer, for a halt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<&'a Halt>,
    /// The week's keys, for a digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<&'a Digest>,
}

/// A link.
#[derive(Debug, Serialize)]
pub struct LinkBody<'a> {
    /// Its label.
    pub label: &'a str,
    /// Where it goes.
    pub url: &'a str,
}

/// The body about `event`, saying what `message` says.
pub fn render<'a>(event: &'a Event, message: &'a Message) -> Body<'a> {
    let mut body = Body {
        kind: event.kind.as_str(),
        event_id: event.key(),
        service: &event.service,
        environment: &event.environment,
        team: event.team.as_deref(),
        at: rfc3339(event.at),
        title: &message.title,
        summary: &message.summary,
        links: message.links.iter().map(|l| LinkBody { label: l.label, url: &l.url }).collect(),
        deployment: None,
        incident: None,
        rollback: None,
        slo: None,
        gate: None,
        digest: None,
    };
    match &event.subject {
        Subject::Deployment(d) => body.deployment = Some(d),
        Subject::Incident(i) => body.incident = Some(i),
        Subject::Rollback(r) => body.rollback = r.report.as_ref(),
        Subject::Burn(b) => body.slo = Some(b),
        Subject::Halt(h) => body.gate = Some(h),
        Subject::Digest(d) => body.digest = Some(d),
    }
    body
}
