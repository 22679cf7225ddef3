//! The deploy gate: whether a rollout may take its next step now, asked by a person or a tool
//! (`GET /api/v1/gate`, Argo Rollouts' web metric, Flagger's webhooks, GitHub's deployment
//! protection rules) and answered from what pacer knows — the service's SLO burn, its open
//! incidents, the alerts since the rollout started, pacer's own rollback decisions and the change
//! freezes. Every answer is recorded with who asked and why.
//!
//! When a rollout started is the named deployment's start, else the first time the same rollout
//! (the asker's key, such as Flagger's `namespace/name@checksum`) asked, else one guard window
//! ago. The rule is [`verdict`]; the freezes are [`freeze`]; this module gathers the evidence and
//! records the answer. The adapters' HTTP shapes are the gate routes'. A halt is recorded for
//! chat (`gate.halted`) once per rollout until the gate lets it proceed again.

pub mod freeze;
pub mod github;
pub mod verdict;

use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_engine::rework::OPEN_AT_MOST;
use pacer_rollback::config::DEFAULT_GUARD_WINDOW;
use pacer_chat::event::{Event, Halt, Kind, Subject, halt_episode};
use pacer_store::{NewGateAnswer, StoreError};
use serde::Serialize;

use crate::clock::now;
use crate::problem::Problem;
use crate::read::slo::status;
use crate::state::AppState;
use verdict::{Burn, Evidence, Reason, RollbackSeen, Seen, Verdict, decide};

/// A question to the gate.
#[derive(Debug, Clone)]
pub struct Question {
    /// The service.
    pub service: String,
    /// The environment as the asker names it.
    pub environment: String,
    /// The deployment being rolled out, when the asker knows pacer's id for it.
    pub deployment: Option<String>,
    /// The asker's key of one rollout.
    pub rollout: Option<String>,
    /// Who asks: `api`, `argo-rollouts`, `flagger:<hook type>`, `github`.
    pub asker: String,
}

/// Where the start of a rollout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    /// The named deployment's start.
    Deployment,
    /// The rollout's first question.
    Rollout,
    /// One guard window before the question.
    GuardWindow,
}

/// The gate's recorded answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// Its id in the gate's history.
    pub id: i64,
    /// When it was asked.
    pub asked_at: String,
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The deployment named.
    pub deployment: Option<String>,
    /// The rollout named.
    pub rollout: Option<String>,
    /// Who asked.
    pub asker: String,
    /// `proceed` or `halt`.
    pub decision: &'static str,
    /// Whether the rollout may take its next step (what an Argo Rollouts `successCondition` reads).
    pub proceed: bool,
    /// Whether what halts it came from the rollout itself, so it should be undone.
    pub rollback: bool,
    /// When the rollout is taken to have started.
    pub since: String,
    /// Where that start came from.
    pub since_from: Since,
    /// Every reason, blocking ones first.
    pub reasons: Vec<Reason>,
    /// The reasons in words, one line each.
    pub summary: String,
}

/// Answers `question` at now and records the answer.
///
/// # Errors
/// The database failed (a Prometheus server that fails is a reason, not an error).
pub async fn ask(state: &AppState, question: Question) -> Result<Answer, Problem> {
    let now = now();
    let config = &state.config;
    let environment = config.normalizer.environment(&question.environment);
    let service = question.service.trim().to_owned();
    let mut evidence = Evidence::default();
    let (since, since_from) = started(state, &question, &service, &environment, now, &mut evidence).await?;

    let analysis = state.analyses.get(&state.store, &environment, config.attribution_window, config.analysis_wait).await?;
    for incident in analysis.incidents_of(&service).into_iter().filter(|i| i.opened_at <= now) {
        let seen = Seen { id: incident.id.clone(), title: incident.title.clone(), opened_at: incident.opened_at, resolved_at: incident.resolved_at, url: incident.url.clone() };
        if incident.opened_at >= since {
            evidence.alerts_since.push(seen);
        } else if incident.resolved_at.is_none_or(|at| at > now) {
            if incident.resolved_at.is_none() && now - incident.opened_at > OPEN_AT_MOST {
                evidence.unknown.push(format!("incident {} opened {} and was never resolved; it no longer counts as open", incident.id, rfc3339(incident.opened_at)));
            } else {
                evidence.open_incidents.push(seen);
            }
        }
    }
    for slo in config.slos.iter().filter(|s| s.service == service && s.environment == environment) {
        match status(&state.store, slo, now).await {
            Ok(slo_status) => {
                if let Some((severity, windows)) = slo_status.most_urgent() {
                    evidence.burning.push(Burn { slo: slo.name.clone(), severity, windows });
                }
            }
            Err(problem) => evidence.unknown.push(format!("SLO {} could not be read: {}", slo.name, problem.detail)),
        }
    }
    for row in state.store.rollbacks_since(&service, &environment, since).await? {
        evidence.rollbacks.push(RollbackSeen { id: row.id, deployment_id: row.deployment_id, mode: row.mode, state: row.state });
    }
    for freeze in config.gate.freezes.iter().filter(|f| f.holds(&service, &environment, now)) {
        evidence.freezes.push((freeze.name.clone(), freeze.describe(), freeze.reason.clone()));
    }

    let verdict = decide(&evidence, config.gate.slo_level);
    record(state, question, service, environment, now, (since, since_from), verdict).await
}

/// When the rollout started, and from what that is known.
async fn started(state: &AppState, question: &Question, service: &str, environment: &str, now: Millis, evidence: &mut Evidence) -> Result<(Millis, Since), Problem> {
    if let Some(id) = &question.deployment {
        match state.store.deployment(id).await? {
            Some(d) if d.service == service => {
                if let Some(at) = d.started_at.or(d.finished_at) {
                    return Ok((at.min(now), Since::Deployment));
                }
            }
            Some(d) => evidence.unknown.push(format!("deployment {id} is of service {}, not {service}; it was not used", d.service)),
            None => evidence.unknown.push(format!("deployment {id} is not known to pacer; alerts are counted from the rollout's first question or one guard window back")),
        }
    }
    if let Some(rollout) = &question.rollout {
        return Ok((state.store.rollout_started(rollout).await?.unwrap_or(now).min(now), Since::Rollout));
    }
    let guard_window = state.config.rollback.policy_of(service, environment).map_or(DEFAULT_GUARD_WINDOW, |p| p.limits.guard_window);
    Ok((now - guard_window, Since::GuardWindow))
}

async fn record(state: &AppState, question: Question, service: String, environment: String, now: Millis, since: (Millis, Since), verdict: Verdict) -> Result<Answer, Problem> {
    let reasons = serde_json::to_string(&verdict.reasons).unwrap_or_else(|_| "[]".to_owned());
    let id = state
        .store
        .record_gate_answer(&NewGateAnswer {
            asked_at: now,
            service: &service,
            environment: &environment,
            deployment_id: question.deployment.as_deref(),
            rollout: question.rollout.as_deref(),
            asker: &question.asker,
            proceed: verdict.proceed,
            reasons: &reasons,
        })
        .await?;
    let decision = if verdict.proceed { "proceed" } else { "halt" };
    tracing::info!(service, environment, asker = question.asker, decision, reasons = verdict.reasons.len(), "gate answered");
    if let Err(error) = tell_chat(state, &question, &service, &environment, id, now, &verdict).await {
        tracing::warn!(service, environment, error = %error, "recording the gate's halt for chat failed");
    }
    Ok(Answer {
        id,
        asked_at: rfc3339(now),
        summary: verdict.summary(),
        rollback: verdict.calls_for_rollback(),
        service,
        environment,
        deployment: question.deployment,
        rollout: question.rollout,
        asker: question.asker,
        decision,
        proceed: verdict.proceed,
        since: rfc3339(since.0),
        since_from: since.1,
        reasons: verdict.reasons,
    })
}

/// Records a halt for chat (once per rollout while it stays halted), or ends the rollout's halt
/// when it may proceed.
async fn tell_chat(state: &AppState, question: &Question, service: &str, environment: &str, id: i64, now: Millis, verdict: &Verdict) -> Result<(), StoreError> {
    let rollout = question.rollout.as_deref().or(question.deployment.as_deref());
    if verdict.proceed {
        return state.store.end_chat_episode(&halt_episode(service, environment, rollout), now).await;
    }
    let halt = Halt {
        answer_id: id,
        asker: question.asker.clone(),
        deployment: question.deployment.clone(),
        rollout: question.rollout.clone(),
        rollback: verdict.calls_for_rollback(),
        reasons: verdict.reasons.iter().filter(|r| r.blocking).map(|r| r.detail.clone()).collect(),
    };
    let event = Event { kind: Kind::GateHalted, service: service.to_owned(), environment: environment.to_owned(), team: None, at: now, subject: Subject::Halt(halt) };
    pacer_chat::event::record(&state.store, &event, now).await.map(drop)
}
