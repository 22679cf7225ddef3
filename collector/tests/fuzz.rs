//! Fuzzing of every payload parser, seeded from the shared fixtures: native events, GitHub,
//! GitLab, CDEvents (bare and structured CloudEvents), PagerDuty, Argo CD, Flux, Jenkins,
//! Alertmanager and Grafana.
//!
//! Each target runs for `PACER_FUZZ_SECONDS` (a short default in CI); the long run is
//! `PACER_FUZZ_SECONDS=300 cargo test --release -p pacer-collector --test fuzz -- --nocapture`.
//! A target fails when a parser panics, when it rejects input without naming a problem (the
//! API answers a rejection with a 400 listing the problems, so an empty list would be a 400
//! that says nothing), when a problem's pointer is not a JSON pointer, or when a native event it
//! accepts does not read back to the same fact after rendering (what `pacer recompute` relies on).

mod mutate;

use std::sync::Arc;

use pacer_collector::alerts::{self, LabelNames};
use pacer_collector::fields::FieldError;
use pacer_collector::sources::cdevents::CloudEvent;
use pacer_collector::sources::{self, Context, Parsed, Source};
use pacer_collector::{Collected, Normalizer, native, render};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde_json::{Value, json};

use mutate::{Input, budget, cdevents_seeds, fixtures, gitlab_event, mutations, native_seeds, run_for, source_config, to_json};

/// Seconds per target when `PACER_FUZZ_SECONDS` is not set: a short run for CI.
const DEFAULT_SECS: f64 = 3.0;

/// A rejection must name at least one problem, each at a JSON pointer (or a header/field name).
fn check_problems(errors: &[FieldError]) -> TestCaseResult {
    prop_assert!(!errors.is_empty(), "a rejection without any problem");
    for e in errors {
        prop_assert!(e.pointer.is_empty() || e.pointer.starts_with('/'), "pointer {:?} is not a JSON pointer", e.pointer);
        prop_assert!(!e.detail.is_empty(), "a problem without detail at {:?}", e.pointer);
    }
    Ok(())
}

/// Parses a webhook body as the api does (JSON, then the source's parser) and checks the outcome.
fn webhook(source: Source, event: &str, bytes: &[u8]) -> TestCaseResult {
    let Ok(payload) = serde_json::from_slice::<Value>(bytes) else { return Ok(()) };
    let normalizer = Normalizer::default();
    let config = source_config();
    let cx = Context { normalizer: &normalizer, config: &config };
    match sources::parse(source, event, &payload, &cx) {
        Ok(Parsed::Facts(facts)) => {
            prop_assert!(!facts.is_empty(), "facts, but none");
            for fact in facts {
                // Storing needs a fingerprint and a raw event; neither may panic.
                let raw = render::to_event(&fact);
                let _ = Collected::new(fact, raw);
            }
            Ok(())
        }
        Ok(Parsed::Ignored(reason)) => {
            prop_assert!(!reason.is_empty(), "ignored without a reason");
            Ok(())
        }
        Err(errors) => check_problems(&errors),
    }
}

#[test]
fn native_events_never_crash_the_parser_and_accepted_ones_read_back() {
    let seeds = Arc::new(native_seeds());
    let strategy = (mutations(seeds, to_json), any::<bool>());
    run_for("native", budget(DEFAULT_SECS), &strategy, |(input, ndjson): (Input, bool)| {
        let normalizer = Normalizer::default();
        match native::parse_body(&input.bytes, ndjson, &normalizer) {
            Err(errors) => check_problems(&errors),
            Ok(events) => {
                prop_assert!(!events.is_empty(), "accepted an empty batch");
                for event in events {
                    let again = native::parse_event(&render::to_event(&event.fact), "/0", &normalizer);
                    prop_assert_eq!(again.as_ref(), Ok(&event.fact), "a rendered fact reads back differently");
                }
                Ok(())
            }
        }
    });
}

#[test]
fn github_deliveries_never_crash_the_parser() {
    let found = fixtures("github", |_| true);
    let events: Vec<String> = found.iter().map(|(name, _)| name.split('.').next().unwrap_or_default().to_owned()).collect();
    let seeds = Arc::new(found.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    run_for("github", budget(DEFAULT_SECS), &mutations(seeds, to_json), |input: Input| {
        let event = events.get(input.seed).map_or("push", String::as_str);
        webhook(Source::Github, event, &input.bytes)
    });
}

#[test]
fn gitlab_deliveries_never_crash_the_parser() {
    let found = fixtures("gitlab", |_| true);
    let events: Vec<&str> = found.iter().map(|(name, _)| gitlab_event(name)).collect();
    let seeds = Arc::new(found.into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    run_for("gitlab", budget(DEFAULT_SECS), &mutations(seeds, to_json), |input: Input| {
        webhook(Source::Gitlab, events.get(input.seed).copied().unwrap_or("Push Hook"), &input.bytes)
    });
}

/// Found by the HTTP fuzzing: a queue time too long for any clock overflowed the run's start
/// (a panic in a debug build, a wrapped time in a release one).
#[test]
fn a_gitlab_pipeline_queued_for_longer_than_any_clock_holds_is_parsed_without_overflow() {
    let (_, mut pipeline) = fixtures("gitlab", |name| name == "pipeline.success.json").pop().expect("the pipeline fixture");
    for queued in [json!(1e300), json!(f64::MAX), json!(-5.0), json!(9_223_372_036_854_775_807_i64)] {
        pipeline["object_attributes"]["queued_duration"] = queued.clone();
        let outcome = webhook(Source::Gitlab, "Pipeline Hook", &serde_json::to_vec(&pipeline).expect("JSON"));
        assert!(outcome.is_ok(), "queued_duration {queued}: {outcome:?}");
    }
}

#[test]
fn cdevents_never_crash_the_parser_bare_or_structured() {
    let bare: Vec<Value> = cdevents_seeds().into_iter().map(|(_, v)| v).collect();
    // The same events as structured CloudEvents, as `application/cloudevents+json` carries them.
    let structured = bare.iter().map(|event| {
        let context = |name: &str| event.pointer(&format!("/context/{name}")).cloned().unwrap_or(Value::Null);
        json!({"specversion": "1.0", "id": context("id"), "source": context("source"), "type": context("type"), "data": event})
    });
    let seeds = Arc::new(bare.iter().cloned().chain(structured).collect::<Vec<_>>());
    run_for("cdevents", budget(DEFAULT_SECS), &mutations(seeds, to_json), |input: Input| {
        let Ok(body) = serde_json::from_slice::<Value>(&input.bytes) else { return Ok(()) };
        let envelope = if body.get("specversion").is_some() { CloudEvent::structured(body) } else { CloudEvent::bare(body) };
        match envelope {
            Ok(event) => webhook(Source::Cdevents, &event.event_type, &to_json(&event.data)),
            Err(errors) => check_problems(&errors),
        }
    });
}

#[test]
fn pagerduty_deliveries_never_crash_the_parser() {
    let seeds = Arc::new(fixtures("pagerduty", |_| true).into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    run_for("pagerduty", budget(DEFAULT_SECS), &mutations(seeds, to_json), |input: Input| {
        // The api reads the event type from the payload.
        let event = serde_json::from_slice::<Value>(&input.bytes)
            .ok()
            .and_then(|v| v.pointer("/event/event_type").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        webhook(Source::Pagerduty, &event, &input.bytes)
    });
}

#[test]
fn argocd_flux_and_jenkins_deliveries_never_crash_their_parsers() {
    let all = |dir: &str| fixtures(dir, |_| true).into_iter().map(|(_, v)| v).collect::<Vec<_>>();
    // The Application bare, and nested under `app` as pacer's template sends it.
    let argocd: Vec<Value> = all("argocd").into_iter().flat_map(|app| [json!({"app": app.clone(), "context": {"argocdUrl": "https://argocd"}}), app]).collect();
    for (source, seeds) in [(Source::Argocd, argocd), (Source::Flux, all("flux")), (Source::Jenkins, all("jenkins"))] {
        // The api passes no event type the parsers read: the meaning is in the body.
        run_for(source.as_str(), budget(DEFAULT_SECS), &mutations(Arc::new(seeds), to_json), |input: Input| webhook(source, "", &input.bytes));
    }
}

/// Parses an alert notification and turns every alert into its incident.
fn alert_notification(bytes: &[u8]) -> TestCaseResult {
    match alerts::parse(bytes) {
        Err(errors) => check_problems(&errors),
        Ok(parsed) => {
            let normalizer = Normalizer::default();
            for alert in parsed {
                if let Some(incident) = alert.incident(&LabelNames::default(), &normalizer, None, 1_795_334_400_000) {
                    prop_assert!(incident.resolved_at.is_none_or(|r| r >= incident.opened_at), "resolved before opened");
                }
            }
            Ok(())
        }
    }
}

#[test]
fn alertmanager_notifications_never_crash_the_parser() {
    let seeds = Arc::new(fixtures("alerts", |n| n.starts_with("alertmanager")).into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    run_for("alertmanager", budget(DEFAULT_SECS), &mutations(seeds, to_json), |input: Input| alert_notification(&input.bytes));
}

#[test]
fn grafana_notifications_never_crash_the_parser() {
    let seeds = Arc::new(fixtures("alerts", |n| n.starts_with("grafana")).into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    run_for("grafana", budget(DEFAULT_SECS), &mutations(seeds, to_json), |input: Input| alert_notification(&input.bytes));
}
