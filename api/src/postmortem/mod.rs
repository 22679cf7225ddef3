//! The last step of an incident: its timeline and a postmortem draft.
//!
//! This module reads what pacer recorded about one incident — the deployments it is blamed on and
//! what they shipped, pacer's rollback decisions and every hook delivery attempt, the gate's
//! answers while it was open, the deployments that rolled back or fixed forward, the SLO counts
//! while it lasted — and hands them to the pure parts: [`timeline`] orders the facts and derives
//! the durations, [`draft`] writes the postmortem as Markdown or HTML. It decides nothing and
//! stores nothing; `routes/incidents.rs` serves both, and the page and the weekly report link to
//! them.

pub mod draft;
pub mod timeline;

use std::collections::BTreeSet;
use std::sync::Arc;

use pacer_engine::Millis;
use pacer_engine::dora::{Analysis, AnalyzedDeployment, Scope};
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::{DAY, Deployment};

use crate::clock::now;
use crate::config::SloSource;
use crate::problem::Problem;
use crate::read::dora::{team_of_services, team_services};
use crate::state::AppState;
use crate::wording::{failure_words, rework_reason_words};
use draft::{Burned, Context, DoraEffect, FailedDeployment, SloImpact};
use timeline::{AlertId, Cause, Facts, Suspect, Timeline, label};

/// The most gate answers a timeline shows.
const GATE_ANSWERS: i64 = 100;

/// How far before a deployment finished a CI run of its commit is looked for.
const CI_LOOKBACK: Millis = 7 * DAY;

/// The path of an incident's postmortem, for links from the page and the report.
pub fn postmortem_path(incident_id: &str) -> String {
    format!("/api/v1/incidents/{}/postmortem", percent_encode(incident_id))
}

/// Encodes an id for one path segment: everything but unreserved characters.
fn percent_encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The timeline of incident `id`, with the analysis of its environment.
///
/// # Errors
/// No incident has this id (404), or the database failed.
pub async fn timeline_of(state: &AppState, id: &str) -> Result<(Timeline, Facts, Arc<Analysis>), Problem> {
    let incident = state.store.incident(id).await?.ok_or_else(|| Problem::not_found(format!("no incident with id {id:?}")))?;
    let config = &state.config;
    let analysis = state.analyses.get(&state.store, &incident.environment, config.attribution_window, config.analysis_wait).await?;
    let end = incident.resolved_at.unwrap_or_else(now);

    let mut blamed: Vec<String> = analysis.blamed_on(&incident).collect();
    if let Some(named) = &incident.deployment_id
        && !blamed.contains(named)
    {
        blamed.push(named.clone());
    }
    let mut suspects = Vec::new();
    for deployment_id in &blamed {
        if let Some(d) = state.store.deployment(deployment_id).await? {
            suspects.push(suspect(state, &analysis, d).await?);
        }
    }
    let cause = match (&incident.deployment_id, &incident.commit_sha) {
        _ if suspects.is_empty() => Cause::Unknown,
        (Some(_), _) if AlertId::parse(&incident.id).is_some() => Cause::GuardWindow,
        (Some(_), _) => Cause::NamedDeployment,
        (None, Some(_)) => Cause::NamedCommit,
        (None, None) => Cause::AttributionWindow,
    };

    // pacer's decisions about this incident or the deployments it is blamed on.
    let since = suspects.iter().filter_map(|s| s.deployment.finished_at).chain([incident.opened_at]).min().unwrap_or(incident.opened_at);
    let mut rollbacks = Vec::new();
    for row in state.store.rollbacks_since(&incident.service, &incident.environment, since).await?.into_iter().rev() {
        if (row.incident_id.as_deref() == Some(incident.id.as_str()) || blamed.contains(&row.deployment_id))
            && let Some(full) = state.store.rollback(&row.id).await?
        {
            rollbacks.push(full);
        }
    }
    // A rollout polling the gate asks every few seconds: the timeline keeps the first answers.
    let mut gate_answers =
        state.store.gate_answers_between(&incident.service, &incident.environment, incident.opened_at, end.saturating_add(1), GATE_ANSWERS + 1).await?;
    let more_gate_answers = gate_answers.len() > GATE_ANSWERS as usize;
    gate_answers.truncate(GATE_ANSWERS as usize);

    // The deployments that rolled a suspect back, and those that finished while it was open.
    let mut recoveries: Vec<Deployment> = Vec::new();
    for deployment_id in &blamed {
        recoveries.extend(state.store.rollbacks_of(deployment_id).await?.into_iter().filter(|d| d.finished_at.is_some()));
    }
    let during: Vec<String> = analysis
        .of_service(&incident.service)
        .filter(|d| (incident.opened_at..=end).contains(&d.finished_at()) && !blamed.contains(&d.id()))
        .map(AnalyzedDeployment::id)
        .collect();
    for deployment_id in during {
        if !recoveries.iter().any(|r| r.id == deployment_id)
            && let Some(d) = state.store.deployment(&deployment_id).await?
        {
            recoveries.push(d);
        }
    }

    let facts = Facts { incident, cause, suspects, rollbacks, gate_answers, more_gate_answers, recoveries };
    Ok((timeline::assemble(&facts), facts, analysis))
}

/// A blamed deployment with what it shipped: its changeset's commits and pull requests, the CI
/// runs of its head commit and the compare link from the deployment before it.
async fn suspect(state: &AppState, analysis: &Analysis, deployment: Deployment) -> Result<Suspect, Problem> {
    let analyzed = analysis.analyzed(&deployment);
    let changeset: Vec<String> = analyzed.map(|a| a.changeset()).unwrap_or_default();
    let commits = state.store.commits(&changeset).await?;
    let pull_requests = state.store.pull_requests_merged_as(&changeset).await?;
    let ci_runs = match (&deployment.commit_sha, deployment.finished_at) {
        (Some(sha), Some(finished)) => state.store.ci_runs_of_commit(sha, finished - CI_LOOKBACK, finished + 1).await?,
        _ => Vec::new(),
    };
    let previous = analysis.of_service(&deployment.service).rev().find(|d| d.finished_at() < deployment.finished_at.unwrap_or(Millis::MIN));
    let previous_sha = match previous {
        Some(p) => state.store.deployment(&p.id()).await?.and_then(|d| d.commit_sha),
        None => None,
    };
    let repository = commits.iter().find_map(|c| c.repository.clone());
    let compare_url = match (repository, previous_sha, &deployment.commit_sha) {
        (Some(repository), Some(from), Some(to)) => Some(state.config.rollback.compare(&repository, &from, to)),
        _ => None,
    };
    Ok(Suspect { deployment, commits, pull_requests, ci_runs, compare_url })
}

/// What the postmortem says beyond the timeline: the guard window, the team's recovery before,
/// the SLO impact and the effect on the DORA keys.
///
/// # Errors
/// The database failed.
pub async fn context_of(state: &AppState, facts: &Facts, analysis: &Analysis) -> Result<Context, Problem> {
    let incident = &facts.incident;
    let config = &state.config;
    let guard_window = config
        .rollback
        .policy_of(&incident.service, &incident.environment)
        .map_or(pacer_rollback::config::DEFAULT_GUARD_WINDOW, |p| p.limits.guard_window);
    let team = team_of_services(state, analysis).remove(&incident.service);
    let services: BTreeSet<String> = match &team {
        Some(team) => team_services(state, analysis, team),
        None => BTreeSet::from([incident.service.clone()]),
    };
    // Before the blamed deployment (else the opening), so the incident's own sample is not in it.
    let until = facts.suspects.iter().filter_map(|s| s.deployment.finished_at).chain([incident.opened_at]).min().unwrap_or(incident.opened_at);
    let before = analysis.summary(until - 30 * DAY, until, Benchmarks::default(), &Scope::services(services));
    let recovery_before = Some(before.failed_deployment_recovery_time).filter(|r| r.recovered > 0);

    let end = incident.resolved_at.unwrap_or_else(now);
    let mut impact = Vec::new();
    for slo in config.slos.iter().filter(|s| s.service == incident.service && s.environment == incident.environment) {
        let counts = match &slo.source {
            SloSource::Events { series } => {
                let samples = state.store.sli_samples(&slo.service, &slo.environment, series, incident.opened_at, end.saturating_add(1)).await?;
                let (_, window_total) = state.store.sli_counts(&slo.service, &slo.environment, series, end - slo.window, end.saturating_add(1)).await?;
                Some(Burned::of(&samples, window_total, slo.objective))
            }
            SloSource::Prometheus { .. } => None,
        };
        impact.push(SloImpact { slo: slo.name.clone(), objective: slo.objective, window_days: slo.window as f64 / DAY as f64, counts });
    }

    let mut dora = DoraEffect::default();
    for s in &facts.suspects {
        let Some(analyzed) = analysis.analyzed(&s.deployment).filter(|a| a.failed()) else { continue };
        dora.failed.push(FailedDeployment {
            label: format!("{} {}", s.deployment.service, label(&s.deployment)),
            causes: analyzed.failure_causes().iter().map(failure_words).collect(),
            recovery_seconds: analyzed.recovered_at().map(|r| (r - analyzed.finished_at()) as f64 / 1000.0),
        });
    }
    for d in &facts.recoveries {
        if let Some(rework) = analysis.analyzed(d).and_then(|a| a.rework()) {
            dora.rework.push((format!("{} {}", d.service, label(d)), rework_reason_words(&rework)));
        }
    }
    Ok(Context { guard_window, team, recovery_before, impact, dora })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postmortem_path_encodes_the_incident_id_as_one_segment() {
        assert_eq!(postmortem_path("INC-88"), "/api/v1/incidents/INC-88/postmortem");
        assert_eq!(postmortem_path("alert:a1/b2:5"), "/api/v1/incidents/alert%3Aa1%2Fb2%3A5/postmortem");
    }
}
