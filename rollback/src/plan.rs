//! From an alert to its incident and, when the policy and the decision say so, a rollback with
//! the report its hooks receive.


use pacer_collector::Normalizer;
use pacer_collector::alerts::Alert;
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;
use pacer_engine::dora::Analysis;
use pacer_engine::model::{Deployment, DeploymentStatus, HOUR, Incident};
use pacer_engine::rework::Reason;
use pacer_engine::rollback::{Decision, Mode, Skip, blamed, decide};
use pacer_store::{NewRollback, Store, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::RollbackConfig;
use crate::report::{Changes, DeploymentSummary, Report, ShippedCommit, ShippedPullRequest, Trigger};

/// What an alert leads to.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The incident it opens, extends or resolves.
    pub incident: Incident,
    /// The rollback to store, when one is warranted.
    pub rollback: Option<NewRollback>,
    /// Why there is no rollback, for a firing alert under a policy that did not act.
    pub skipped: Option<Skip>,
}

/// The successful deployments of `service` as the decision reads them, in finish order: what the
/// analysis keeps of each (its id, finish time, version and what it rolls back).
fn known(analysis: &Analysis, service: &str) -> Vec<Deployment> {
    analysis
        .of_service(service)
        .map(|a| Deployment {
            id: a.id(),
            service: a.service().to_owned(),
            environment: analysis.environment.clone(),
            version: a.version(),
            commit_sha: None,
            status: DeploymentStatus::Success,
            started_at: None,
            finished_at: Some(a.finished_at()),
            commits: Vec::new(),
            rollback_of: a.rollback_of().map(str::to_owned),
            unplanned: a.rework().is_some_and(|r| r.reason() == Reason::Unplanned),
            team: a.team().map(str::to_owned),
            url: None,
        })
        .collect()
}

/// The stored row of a deployment `known` made, with its head commit and link; the known one
/// when the row is gone.
async fn stored(store: &Store, d: &Deployment) -> Result<Deployment, StoreError> {
    Ok(store.deployment(&d.id).await?.unwrap_or_else(|| d.clone()))
}

/// The id of the rollback of a deployment: the same on every replica and for every duplicate.
pub fn rollback_id(service: &str, environment: &str, deployment_id: &str) -> String {
    let digest = Sha256::digest(format!("{service}\0{environment}\0{deployment_id}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("rb_{hex}")
}

/// Plans what `alert` leads to, against the analysis of its environment. `None` when no label
/// names a service (the alert is not about a service pacer can act on).
///
/// # Errors
/// The database failed while looking up recent rollbacks or the changes shipped.
pub async fn plan(
    store: &Store,
    analysis: &Analysis,
    config: &RollbackConfig,
    normalizer: &Normalizer,
    alert: &Alert,
    now: Millis,
) -> Result<Option<Planned>, StoreError> {
    let Some(service) = alert.service(&config.labels) else { return Ok(None) };
    let environment = alert.environment(&config.labels, normalizer);
    let deployments = known(analysis, service);
    let guard = config.guard_window(service, &environment, alert);
    let cause = blamed(&deployments, alert.starts_at, guard).map(|d| d.id.clone());
    let Some(incident) = alert.incident(&config.labels, normalizer, cause, now) else { return Ok(None) };
    let policy = match config.policy(service, &environment, alert) {
        Some(policy) if alert.firing => policy,
        _ => return Ok(Some(Planned { incident, rollback: None, skipped: None })),
    };
    let limits = &policy.limits;
    let recent = store.recent_rollbacks(service, &environment, now - limits.cooldown.max(HOUR)).await?;
    let failed = |d: &Deployment| analysis.deployment(&d.id).is_some_and(|a| a.failed());
    let (bad, target) = match decide(&deployments, failed, alert.starts_at, now, limits, &recent) {
        Decision::Rollback { bad, target } => (bad, target),
        Decision::Skip { reason, .. } => {
            tracing::info!(service, environment, reason = ?reason, alert = alert.name, "no rollback");
            return Ok(Some(Planned { incident, rollback: None, skipped: Some(reason) }));
        }
    };
    let id = rollback_id(service, &environment, &bad.id);
    let changeset: Vec<String> = analysis.deployment(&bad.id).map(|a| a.changeset()).unwrap_or_default();
    // The report names both deployments in full: their rows are in the store.
    let (bad, target) = (&stored(store, bad).await?, &stored(store, target).await?);
    let commits = store.commits(&changeset).await?;
    let pull_requests = store.pull_requests_merged_as(&changeset).await?;
    let repository = commits.iter().find_map(|c| c.repository.clone());
    let compare = match (&repository, &target.commit_sha, &bad.commit_sha) {
        (Some(repo), Some(from), Some(to)) => Some(config.compare(repo, from, to)),
        _ => None,
    };
    let reason = reason(alert, bad, target, now);
    let report = Report {
        kind: "rollback.requested".to_owned(),
        rollback_id: id.clone(),
        mode: limits.mode.as_str().to_owned(),
        service: service.to_owned(),
        environment: environment.clone(),
        reason: reason.clone(),
        deployment: summary(bad),
        target: summary(target),
        trigger: Trigger {
            alert: alert.name.clone(),
            fingerprint: alert.fingerprint.clone(),
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            starts_at: rfc3339(alert.starts_at),
            generator_url: alert.generator_url.clone(),
            values: alert.values.clone(),
        },
        changes: Changes {
            commits: commits
                .iter()
                .map(|c| ShippedCommit {
                    sha: c.sha.clone(),
                    repository: c.repository.clone(),
                    author: c.author.clone(),
                    message: c.message.clone(),
                    committed_at: rfc3339(c.committed_at),
                })
                .collect(),
            pull_requests: pull_requests
                .iter()
                .map(|p| ShippedPullRequest {
                    id: p.id.clone(),
                    repository: p.repository.clone(),
                    number: p.number,
                    author: p.author.clone(),
                    merged_at: p.merged_at.map(rfc3339),
                    merge_commit_sha: p.merge_commit_sha.clone(),
                })
                .collect(),
            compare_url: compare,
        },
        incident_id: incident.id.clone(),
        decided_at: rfc3339(now),
    };
    let report = serde_json::to_value(&report).unwrap_or(Value::Null);
    let hooks = policy.hooks.iter().map(|h| h.url.clone()).collect();
    let rollback = NewRollback {
        id,
        service: service.to_owned(),
        environment,
        deployment_id: bad.id.clone(),
        target_deployment_id: target.id.clone(),
        mode: match limits.mode {
            Mode::Auto => "auto",
            Mode::Manual => "manual",
            Mode::DryRun | Mode::Off => "dry_run",
        },
        incident_id: Some(incident.id.clone()),
        reason,
        report,
        hooks,
    };
    Ok(Some(Planned { incident, rollback: Some(rollback), skipped: None }))
}

fn label(d: &Deployment) -> String {
    let version = d.version.clone().unwrap_or_else(|| d.id.clone());
    match &d.commit_sha {
        Some(sha) => format!("{version} ({})", &sha[..sha.len().min(7)]),
        None => version,
    }
}

/// One line for humans: what fired, how soon after which deployment, and where pacer goes back.
fn reason(alert: &Alert, bad: &Deployment, target: &Deployment, _now: Millis) -> String {
    let after = bad.finished_at.map_or(0, |f| (alert.starts_at - f).max(0) / 1_000);
    let after = if after < 120 { format!("{after} s") } else { format!("{} min", after / 60) };
    format!("{} fired {after} after {} {} was deployed; rolling back to {}", alert.name, bad.service, label(bad), label(target))
}

fn summary(d: &Deployment) -> DeploymentSummary {
    DeploymentSummary {
        id: d.id.clone(),
        version: d.version.clone(),
        commit_sha: d.commit_sha.clone(),
        url: d.url.clone(),
        finished_at: d.finished_at.map(rfc3339),
    }
}
