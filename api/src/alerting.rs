//! The path from an alert to what it leads to: the incident it opens or resolves and, when it
//! follows a deployment under an `auto` or `manual` policy, the rollback with its outbox — all
//! stored in one transaction; then the dispatcher is woken so the hooks fire within milliseconds.
//! The Alertmanager and Grafana routes and the SLO evaluator all come here.
//!
//! Traced as `alerts` → one `decision` per alert → `outbox` (the transaction); the dispatcher's
//! `delivery` spans continue the trace from the `outbox` span that stored their rollback.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use pacer_collector::alerts::Alert;
use pacer_collector::render::to_event;
use pacer_collector::Collected;
use pacer_engine::dora::Analysis;
use pacer_engine::model::Fact;
use pacer_rollback::plan::plan;
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing::field::Empty;
use crate::clock::now;
use crate::problem::Problem;
use crate::state::AppState;

/// Stores what `alerts` lead to — incidents and, for the alerts `may_roll_back` allows,
/// rollbacks — in one transaction, and wakes the dispatcher when a rollback was created.
///
/// # Errors
/// The database failed; nothing is stored.
pub async fn handle(state: &AppState, source: &str, alerts: &[Alert], may_roll_back: &(dyn Fn(&Alert) -> bool + Sync)) -> Result<Value, Problem> {
    let span = tracing::info_span!("alerts", source, alerts = alerts.len());
    decide_and_store(state, source, alerts, may_roll_back).instrument(span).await
}

/// Whether an alert may roll back: one that names a configured SLO (its `slo` label) only when
/// that SLO allows it (`rollback`) and the burn pages — the labels `pacer slo rules` gives the
/// alerts Prometheus fires; every other alert may.
pub fn slo_allows_rollback(slos: &[crate::config::Slo], alert: &Alert) -> bool {
    match alert.labels.get("slo").and_then(|name| slos.iter().find(|slo| &slo.name == name)) {
        Some(slo) => slo.rollback && alert.labels.get("severity").is_none_or(|severity| severity == "page"),
        None => true,
    }
}

async fn decide_and_store(state: &AppState, source: &str, alerts: &[Alert], may_roll_back: &(dyn Fn(&Alert) -> bool + Sync)) -> Result<Value, Problem> {
    let now = now();
    let without_policies = pacer_rollback::RollbackConfig { policies: Vec::new(), ..(*state.config.rollback).clone() };
    let normalizer = &state.config.normalizer;
    let mut analyses: HashMap<String, Arc<Analysis>> = HashMap::new();
    let mut incidents = Vec::new();
    let mut rollbacks = Vec::new();
    let mut skipped = Vec::new();
    let mut ignored = 0;
    for alert in alerts {
        let rollback = if may_roll_back(alert) { &*state.config.rollback } else { &without_policies };
        let environment = alert.environment(&rollback.labels, normalizer);
        let analysis = match analyses.get(&environment) {
            Some(a) => Arc::clone(a),
            None => {
                // A decision waits for every stored fact: the deployment an alert follows may
                // have finished a moment before it.
                let a = state.analyses.get(&state.store, &environment, state.config.attribution_window, Duration::MAX).await?;
                analyses.insert(environment.clone(), Arc::clone(&a));
                a
            }
        };
        let decision = tracing::info_span!("decision", alert = alert.name, environment, service = Empty, deployment_id = Empty, outcome = Empty);
        match plan(&state.store, &analysis, rollback, normalizer, alert, now).instrument(decision.clone()).await? {
            None => {
                decision.record("outcome", "ignored");
                ignored += 1;
            }
            Some(planned) => {
                decision.record("service", planned.incident.service.as_str());
                if let Some(deployment_id) = &planned.incident.deployment_id {
                    decision.record("deployment_id", deployment_id.as_str());
                }
                let outcome = match (&planned.rollback, planned.skipped) {
                    (Some(_), _) => "rollback",
                    (None, Some(reason)) => reason.name(),
                    (None, None) => "incident",
                };
                decision.record("outcome", outcome);
                if let Some(reason) = planned.skipped {
                    skipped.push(json!({"alert": alert.name, "incident_id": planned.incident.id, "reason": reason}));
                }
                let fact = Fact::Incident(planned.incident);
                let raw = to_event(&fact);
                incidents.push(Collected::new(fact, raw));
                rollbacks.extend(planned.rollback);
            }
        }
    }
    crate::limits::not_in_future(&state.config.limits, incidents.iter().map(|c| &c.fact))?;
    let (stored, created) = store_decisions(state, source, now, &incidents, &rollbacks).await?;
    state.telemetry.ingested(source, stored.accepted, stored.duplicates, 0);
    log_unattributed(alerts, ignored, source);
    Ok(json!({
        "accepted": stored.accepted,
        "duplicates": stored.duplicates,
        "ignored": ignored,
        "rollbacks": created,
        "skipped": skipped,
    }))
}

/// What a person's request to roll back led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// The rollback decided now, or the one already decided for the same deployment.
    Decided(String),
    /// The policy did not act, and why.
    Skipped(pacer_engine::rollback::Skip),
    /// No rollback policy covers the service in the environment.
    NoPolicy,
}

/// Puts a person's request to roll back the current deployment of `service` in `environment`
/// through the rollback policy as an alert starting now would go (guard window, cooldown, hourly
/// cap, exactly once: a second request for the same deployment finds the same rollback), and
/// wakes the dispatcher. The report's trigger names `by`; no incident is made.
///
/// # Errors
/// The database failed; no rollback is stored.
pub async fn roll_back_on_request(state: &AppState, source: &str, service: &str, environment: &str, by: &str) -> Result<Requested, Problem> {
    let now = now();
    let config = &state.config.rollback;
    let mut labels = std::collections::BTreeMap::new();
    labels.insert(config.labels.service.first().cloned().unwrap_or_else(|| "service".to_owned()), service.to_owned());
    labels.insert(config.labels.environment.first().cloned().unwrap_or_else(|| "environment".to_owned()), environment.to_owned());
    let name = format!("rollback requested by {by}");
    let alert = Alert { firing: true, name, labels, annotations: Default::default(), starts_at: now, ends_at: None, generator_url: None, fingerprint: format!("request:{service}:{environment}"), values: None };
    let analysis = state.analyses.get(&state.store, environment, state.config.attribution_window, Duration::MAX).await?;
    let Some(planned) = plan(&state.store, &analysis, config, &state.config.normalizer, &alert, now).await? else { return Ok(Requested::NoPolicy) };
    match (planned.rollback, planned.skipped) {
        (Some(rollback), _) => {
            let rollback = pacer_store::NewRollback { incident_id: None, ..rollback };
            let id = rollback.id.clone();
            store_decisions(state, source, now, &[], &[rollback]).await?;
            Ok(Requested::Decided(id))
        }
        (None, Some(reason)) => Ok(Requested::Skipped(reason)),
        (None, None) => Ok(Requested::NoPolicy),
    }
}

/// Puts incidents a deployer reported — Argo CD's degraded health, Flux's failed health check,
/// already stored with the deployment they name — through the rollback policy as an alert of the
/// service would go (guard window, cooldown, hourly cap, exactly once), and wakes the dispatcher.
/// The rollback names the reported incident; no second incident is made. Returns the ids of the
/// rollbacks created now.
///
/// # Errors
/// The database failed; no rollback is stored.
pub async fn roll_back_after(state: &AppState, source: &str, incidents: &[pacer_engine::model::Incident]) -> Result<Vec<String>, Problem> {
    let now = now();
    let config = &state.config.rollback;
    let mut rollbacks = Vec::new();
    for incident in incidents.iter().filter(|i| i.resolved_at.is_none()) {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(config.labels.service.first().cloned().unwrap_or_else(|| "service".to_owned()), incident.service.clone());
        labels.insert(config.labels.environment.first().cloned().unwrap_or_else(|| "environment".to_owned()), incident.environment.clone());
        let name = format!("{source} unhealthy");
        let annotations = incident.title.iter().map(|t| ("summary".to_owned(), t.clone())).collect();
        let alert = Alert { firing: true, name, labels, annotations, starts_at: incident.opened_at, ends_at: None, generator_url: incident.url.clone(), fingerprint: incident.id.clone(), values: None };
        let analysis = state.analyses.get(&state.store, &incident.environment, state.config.attribution_window, Duration::MAX).await?;
        if let Some(planned) = plan(&state.store, &analysis, config, &state.config.normalizer, &alert, now).await? {
            rollbacks.extend(planned.rollback.map(|r| pacer_store::NewRollback { incident_id: Some(incident.id.clone()), ..r }));
        }
    }
    if rollbacks.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store_decisions(state, source, now, &[], &rollbacks).await?.1)
}

/// Stores `incidents` and `rollbacks` in one transaction (the `outbox` span), and for each
/// rollback created now remembers the trace for its deliveries, wakes the dispatcher and logs the
/// decision. Returns what was stored and the ids of the rollbacks created.
async fn store_decisions(
    state: &AppState,
    source: &str,
    now: pacer_engine::Millis,
    incidents: &[Collected],
    rollbacks: &[pacer_store::NewRollback],
) -> Result<(pacer_store::Ingested, Vec<String>), Problem> {
    let outbox = tracing::info_span!("outbox", source, incidents = incidents.len(), rollbacks = rollbacks.len());
    let (stored, created) = state.store.ingest_with_rollbacks(source, now, incidents, rollbacks).instrument(outbox.clone()).await?;
    if !created.is_empty() {
        for id in &created {
            state.origins.remember(id, &outbox);
        }
        state.wake.notify_one();
        outbox.in_scope(|| created.iter().for_each(|id| tracing::warn!(source, rollback_id = id, "rollback decided")));
    }
    Ok((stored, created))
}

fn log_unattributed(alerts: &[Alert], ignored: usize, source: &str) {
    if ignored > 0 {
        let names: Vec<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
        tracing::info!(source, ignored, alerts = ?names, "alerts without a service label ignored");
    }
}
