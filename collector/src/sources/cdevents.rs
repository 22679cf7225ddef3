//! CDEvents (<https://cdevents.dev>), spec 0.4, 0.5 and the 0.6 draft, as the `data` of a
//! CloudEvent: structured mode (`application/cloudevents+json`, the CDEvent in `data`), binary
//! mode (`ce-*` headers, the CDEvent as the body), or a bare CDEvent.
//!
//! Specification: <https://github.com/cdevents/spec> (`spec.md` for the context,
//! `core.md`, `source-code-version-control.md`, `continuous-integration.md`,
//! `continuous-deployment.md`, `continuous-operations.md` for the subjects).
//!
//! | type | facts |
//! |---|---|
//! | `service.deployed`, `service.upgraded` | a successful `deployment` at the event's time |
//! | `service.rolledback` | the same, marked unplanned (rework); the event does not name the deployment it reverts |
//! | `change.created`, `.reviewed`, `.merged`, `.abandoned` | the `pull_request`, with its opening, first review, merge or close time |
//! | `pipelinerun.finished` | a `ci_run` |
//! | `incident.detected`, `.reported`, `.resolved` | the `incident`, opened or resolved |
//!
//! `pipelinerun.queued` and `.started` are validated and ignored (a run is recorded when it
//! finishes; the finished event carries no start time, so a run's start is its finish); other
//! types are ignored. A change or incident event that arrives before the one opening it opens it
//! at its own time, and the earlier opening time wins when it arrives (the store keeps the
//! minimum), so arrival order does not matter.
//!
//! Validation is hand-coded from the JSON schemas of the 0.6 draft (`schemas/*.json`), for the
//! types pacer reads: the context's `specversion` (0.4: `version`), `id`, `source`, `type` and
//! `timestamp`; the subject's `id` and `content`; `content.environment.id` for service and
//! incident events; `content.artifactId` for `service.deployed/upgraded/rolledback`;
//! `content.ticketURI` for `incident.reported`; `content.repository.id` when a change names a
//! repository; `content.pipelineName` and `content.uri` (0.4: `url`) for `pipelinerun.started`;
//! `content.outcome` one of `success`, `failure`, `cancel`, `error` when present. Other schema
//! rules (string formats, `additionalProperties`) are not checked: pacer reads leniently.

use serde_json::Value;

use pacer_engine::Millis;
use pacer_engine::model::{CiRun, Deployment, DeploymentStatus, Fact, Incident, PullRequest};

use super::{Context, Doc, Outcome, Parsed, ci_status, ignored};
use crate::fields::FieldError;

/// The CloudEvents attributes pacer needs, from the envelope or the CDEvent context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    /// `id`: with `source`, the identity of the event (its idempotency key).
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`: the CDEvents type.
    pub event_type: String,
    /// The CDEvent.
    pub data: Value,
}

impl CloudEvent {
    /// A structured-mode CloudEvent (`specversion`, `id`, `source`, `type`, `data`).
    ///
    /// # Errors
    /// A missing attribute or `data` that is not an object.
    pub fn structured(body: Value) -> Result<Self, Vec<FieldError>> {
        let mut d = Doc::new(&body);
        d.req_str("/specversion");
        let id = d.req_id("/id");
        let source = d.req_str("/source");
        let event_type = d.req_str("/type");
        if !d.value("/data").is_some_and(Value::is_object) {
            d.errors.push(FieldError::new("/data", "expected the CDEvent as a JSON object (data_base64 is not supported)"));
        }
        let errors = d.errors;
        match (id, source, event_type, body) {
            (Some(id), Some(source), Some(event_type), Value::Object(mut object)) if errors.is_empty() => {
                let data = object.remove("data").unwrap_or(Value::Null);
                Ok(Self { id, source, event_type, data })
            }
            _ => Err(errors),
        }
    }

    /// A bare CDEvent, identified by its own context.
    ///
    /// # Errors
    /// A context without `id`, `source` or `type`.
    pub fn bare(data: Value) -> Result<Self, Vec<FieldError>> {
        let mut d = Doc::new(&data);
        let id = d.req_id("/context/id");
        let source = d.req_str("/context/source");
        let event_type = d.req_str("/context/type");
        match (id, source, event_type) {
            (Some(id), Some(source), Some(event_type)) if d.errors.is_empty() => Ok(Self { id, source, event_type, data }),
            _ => Err(d.errors),
        }
    }
}

/// Parses one CDEvent (`payload`); `event` is the CloudEvent type, used when the context has none.
pub(crate) fn parse(event: &str, payload: &Value, cx: &Context<'_>) -> Outcome {
    let mut d = Doc::new(payload);
    let event_type = d.str("/context/type").unwrap_or(event).to_owned();
    let Some((subject, predicate)) = split_type(&event_type) else {
        return Err(vec![FieldError::new("/context/type", format!("expected dev.cdevents.<subject>.<predicate>.<version> but found {event_type:?}"))]);
    };
    let known = matches!(
        (subject, predicate),
        ("service", "deployed" | "upgraded" | "rolledback")
            | ("change", "created" | "reviewed" | "merged" | "abandoned")
            | ("pipelinerun", "queued" | "started" | "finished")
            | ("incident", "detected" | "reported" | "resolved")
    );
    if !known {
        return ignored(format!("pacer does not use CDEvents {subject}.{predicate} events"));
    }
    let context = context(&mut d);
    if d.req_str("/subject/id").is_some() && !d.value("/subject/content").is_some_and(Value::is_object) {
        d.errors.push(FieldError::new("/subject/content", "expected the subject's content object but the field is missing"));
    }
    let fact = match subject {
        "service" => deployment(&mut d, cx, predicate, context).map(Fact::Deployment),
        "change" => change(&mut d, predicate, context).map(Fact::PullRequest),
        "pipelinerun" if predicate == "finished" => pipeline_run(&mut d, context).map(Fact::CiRun),
        "pipelinerun" => {
            if predicate == "started" {
                d.req_str("/subject/content/pipelineName");
                if d.str("/subject/content/url").is_none() {
                    d.req_str("/subject/content/uri");
                }
            }
            return if d.errors.is_empty() { ignored(format!("pipelinerun.{predicate}: a pipeline run is recorded when it finishes")) } else { Err(d.errors) };
        }
        _ => {
            if predicate == "reported" {
                d.req_str("/subject/content/ticketURI");
            }
            match incident(&mut d, cx, predicate, context) {
                Ok(incident) => incident.map(Fact::Incident),
                Err(reason) => return ignored(reason),
            }
        }
    };
    d.finish(fact.map(|f| Parsed::Facts(vec![f])))
}

/// `dev.cdevents.<subject>.<predicate>.<version>` → (subject, predicate).
fn split_type(event_type: &str) -> Option<(&str, &str)> {
    let rest = event_type.strip_prefix("dev.cdevents.")?;
    let mut parts = rest.splitn(3, '.');
    let subject = parts.next().filter(|s| !s.is_empty())?;
    let predicate = parts.next().filter(|s| !s.is_empty())?;
    parts.next().filter(|version| version.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    Some((subject, predicate))
}

/// What every event's context gives: its source, id and time.
#[derive(Debug, Clone, Copy)]
struct EventContext<'a> {
    source: &'a str,
    id: &'a str,
    at: Millis,
}

fn context<'a>(d: &mut Doc<'a>) -> Option<EventContext<'a>> {
    if d.str("/context/version").is_none() {
        d.req_str("/context/specversion");
    }
    d.req_str("/context/id");
    d.req_str("/context/source");
    let at = d.req_time("/context/timestamp");
    Some(EventContext { source: d.str("/context/source")?, id: d.str("/context/id")?, at: at? })
}

/// The id of the event's subject: its source (the context's when absent) and id.
fn subject_id(d: &Doc<'_>, context: EventContext<'_>) -> Option<String> {
    let source = d.str("/subject/source").unwrap_or(context.source);
    Some(format!("cdevents:{source}/{}", d.str("/subject/id")?))
}

fn deployment(d: &mut Doc<'_>, cx: &Context<'_>, predicate: &str, context: Option<EventContext<'_>>) -> Option<Deployment> {
    let environment = d.req_str("/subject/content/environment/id");
    let artifact = d.req_str("/subject/content/artifactId");
    let service = d.string("/subject/id");
    let context = context?;
    Some(Deployment {
        // Each event is one deployment of the service.
        id: format!("cdevents:{}/{}", context.source, context.id),
        service: service?,
        environment: cx.normalizer.environment(&environment?),
        version: artifact,
        commit_sha: None,
        status: DeploymentStatus::Success,
        started_at: None,
        finished_at: Some(context.at),
        commits: Vec::new(),
        rollback_of: None,
        unplanned: predicate == "rolledback",
        team: None,
        url: None,
    })
}

fn change(d: &mut Doc<'_>, predicate: &str, context: Option<EventContext<'_>>) -> Option<PullRequest> {
    if d.value("/subject/content/repository").is_some() {
        d.req_str("/subject/content/repository/id");
    }
    let context = context?;
    let id = subject_id(d, context)?;
    let at = context.at;
    let number = d.str("/subject/id").map_or(0, |s| {
        let digits: String = s.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
        digits.parse().unwrap_or(0)
    });
    let repository = d.string("/subject/content/repository/id").or_else(|| d.string("/subject/source")).unwrap_or_else(|| context.source.to_owned());
    Some(PullRequest {
        id,
        repository,
        number,
        // An event after the opening bounds it; the created event, earlier, wins.
        opened_at: at,
        service: None,
        author: None,
        first_commit_at: None,
        first_review_at: (predicate == "reviewed").then_some(at),
        approved_at: None,
        merged_at: (predicate == "merged").then_some(at),
        closed_at: matches!(predicate, "merged" | "abandoned").then_some(at),
        merge_commit_sha: None,
        additions: None,
        deletions: None,
        head_sha: None,
        base_sha: None,
    })
}

fn pipeline_run(d: &mut Doc<'_>, context: Option<EventContext<'_>>) -> Option<CiRun> {
    let outcome = d.str("/subject/content/outcome");
    if let Some(outcome) = outcome
        && !["success", "failure", "cancel", "error"].contains(&outcome)
    {
        d.errors.push(FieldError::new("/subject/content/outcome", format!("expected one of \"success\", \"failure\", \"cancel\", \"error\" but found {outcome:?}")));
    }
    let context = context?;
    // Without an outcome, reported errors mean failure.
    let failed = d.str("/subject/content/errors").is_some();
    let status = ci_status(outcome.unwrap_or(if failed { "failure" } else { "success" }));
    Some(CiRun {
        id: subject_id(d, context)?,
        pipeline: d.string("/subject/content/pipelineName").or_else(|| d.string("/subject/id"))?,
        status,
        started_at: context.at,
        finished_at: context.at,
        stage: None,
        repository: None,
        service: None,
        commit_sha: None,
        branch: None,
        queued_at: None,
        url: d.string("/subject/content/uri").or_else(|| d.string("/subject/content/url")),
        attempt: None,
    })
}

/// The incident, or why it is ignored.
fn incident(d: &mut Doc<'_>, cx: &Context<'_>, predicate: &str, context: Option<EventContext<'_>>) -> Result<Option<Incident>, String> {
    let environment = d.req_str("/subject/content/environment/id");
    if d.value("/subject/content/service").is_some() {
        d.req_str("/subject/content/service/id");
    }
    // The service, else the package name of the artifact (`pkg:oci/myapp@sha256:…` → myapp).
    let service = d.string("/subject/content/service/id").or_else(|| {
        let purl = d.str("/subject/content/artifactId")?;
        let path = purl.split(['@', '?', '#']).next()?;
        path.rsplit('/').next().filter(|name| !name.is_empty() && !name.starts_with("pkg:")).map(str::to_owned)
    });
    let (Some(context), Some(environment)) = (context, environment) else { return Ok(None) };
    let Some(service) = service else { return Err("an incident that names no service or artifact".to_owned()) };
    let Some(id) = subject_id(d, context) else { return Ok(None) };
    Ok(Some(Incident {
        id,
        service,
        environment: cx.normalizer.environment(&environment),
        // A resolution that arrives first opens the incident at its own time; the detection,
        // earlier, wins when it arrives.
        opened_at: context.at,
        resolved_at: (predicate == "resolved").then_some(context.at),
        severity: d.string("/customData/severity"),
        title: d.string("/subject/content/description"),
        url: d.string("/subject/content/ticketURI"),
        deployment_id: None,
        commit_sha: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_split_into_subject_and_predicate() {
        assert_eq!(split_type("dev.cdevents.service.deployed.0.3.0"), Some(("service", "deployed")));
        assert_eq!(split_type("dev.cdevents.service.deployed.0.3.0-draft"), Some(("service", "deployed")));
        assert_eq!(split_type("dev.cdevents.service"), None);
        assert_eq!(split_type("com.example.deployed.1"), None);
    }
}
