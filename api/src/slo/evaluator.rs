//! The SLO evaluator: every `slo_interval` it computes each SLO's state, and a page-level burn
//! becomes a firing alert for its service — which, like any alert, opens an incident and may roll
//! back the deployment that started it ([`crate::alerting`]); the burn's end resolves the alert.
//! An SLO whose alerts Prometheus raises (`burn_alerts = "prometheus"`) gets no alert from here.
//! A burn at page or ticket level is also recorded for chat (`slo.page`, `slo.ticket`), once per
//! episode whichever replica sees it first, and its end ends the episode.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use pacer_collector::alerts::Alert;
use pacer_engine::Millis;
use pacer_engine::burn::Severity;
use pacer_chat::event::{Burn, Event, Kind, Subject, burn_episode, record};
use pacer_store::StoreError;

use crate::clock::now;
use crate::config::{BurnAlerts, Slo};
use crate::problem::Problem;
use crate::read::slo::{SloStatus, status};
use crate::state::AppState;

/// Evaluates every SLO each `interval` until `shutdown`; a page-level burn becomes a firing
/// alert for its service, and its end resolves the alert.
pub async fn evaluate(state: AppState, interval: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut episodes: HashMap<String, Millis> = HashMap::new();
    loop {
        for slo in &state.config.slos {
            let now = now();
            match status(&state.store, slo, now).await {
                Ok(status) => {
                    if let Err(error) = tell_chat(&state, slo, &status, now).await {
                        tracing::warn!(slo = slo.name, error = %error, "recording the slo burn for chat failed");
                    }
                    if let Err(problem) = step(&state, slo, &status, now, &mut episodes).await {
                        tracing::warn!(slo = slo.name, detail = problem.detail, "slo burn alert failed");
                    }
                }
                Err(problem) => tracing::warn!(slo = slo.name, detail = problem.detail, "slo evaluation failed"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = &mut shutdown => break,
        }
    }
}

/// Raises or resolves the SLO's burn alert, unless Prometheus raises it (`burn_alerts`).
async fn step(state: &AppState, slo: &Slo, status: &SloStatus, now: Millis, episodes: &mut HashMap<String, Millis>) -> Result<(), Problem> {
    if slo.burn_alerts == BurnAlerts::Prometheus {
        return Ok(());
    }
    let paging = status.most_urgent().filter(|(severity, _)| *severity == Severity::Page);
    let alert = match (paging, episodes.get(&slo.name).copied()) {
        (Some((_, pair)), started) => {
            let started = *episodes.entry(slo.name.clone()).or_insert(started.unwrap_or(now));
            burn_alert(slo, &pair, started, None)
        }
        (None, Some(started)) => {
            episodes.remove(&slo.name);
            burn_alert(slo, "", started, Some(now))
        }
        (None, None) => return Ok(()),
    };
    crate::alerting::handle(state, "slo", &[alert], &|_| slo.rollback).await.map(drop)
}

/// Records the burn at its most urgent level for chat (a new episode is announced once) and ends
/// the episode of a level that no longer burns.
async fn tell_chat(state: &AppState, slo: &Slo, status: &SloStatus, now: Millis) -> Result<(), StoreError> {
    let urgent = status.most_urgent();
    for (kind, severity) in [(Kind::SloPage, Severity::Page), (Kind::SloTicket, Severity::Ticket)] {
        match &urgent {
            Some((level, windows)) if *level == severity => {
                let burn = Burn {
                    slo: slo.name.clone(),
                    objective: slo.objective,
                    windows: windows.clone(),
                    budget_remaining: status.budget_remaining,
                    error_ratio: status.error_ratio,
                };
                let event = Event { kind, service: slo.service.clone(), environment: slo.environment.clone(), team: None, at: now, subject: Subject::Burn(burn) };
                record(&state.store, &event, now).await?;
            }
            _ => state.store.end_chat_episode(&burn_episode(kind, &slo.name), now).await?,
        }
    }
    Ok(())
}

fn burn_alert(slo: &Slo, pair: &str, started: Millis, ended: Option<Millis>) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_owned(), "SLOBurnRate".to_owned());
    labels.insert("service".to_owned(), slo.service.clone());
    labels.insert("environment".to_owned(), slo.environment.clone());
    labels.insert("slo".to_owned(), slo.name.clone());
    labels.insert("severity".to_owned(), "page".to_owned());
    if !pair.is_empty() {
        labels.insert("windows".to_owned(), pair.to_owned());
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_owned(), format!("error budget of {} burning fast ({pair})", slo.name));
    Alert {
        firing: ended.is_none(),
        name: "SLOBurnRate".to_owned(),
        labels,
        annotations,
        starts_at: started,
        ends_at: ended,
        generator_url: None,
        fingerprint: format!("slo-{}", slo.name),
        values: None,
    }
}
