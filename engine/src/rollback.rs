//! Whether to roll back, and to what: the pure decision taken when an alert fires.
//!
//! The alert is attributed to the latest successful deployment of its service and environment
//! that finished within the guard window before the alert started. That deployment is rolled
//! back to the latest earlier successful deployment that did not itself fail — unless the policy
//! says otherwise, the deployment is itself a rollback, something newer already replaced it, or
//! the service had too many rollbacks lately. The store makes the decision exactly-once; this
//! module only decides.

use serde::Serialize;

use crate::model::{Deployment, Millis};

/// What a policy lets pacer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Fire the hooks at once.
    #[default]
    Auto,
    /// Record the rollback and wait for `POST /api/v1/rollbacks/{id}/approve`.
    Manual,
    /// Record what would have happened; fire nothing.
    DryRun,
    /// Do nothing.
    Off,
}

impl Mode {
    /// Every mode with its configuration name.
    pub const ALL: [(&'static str, Self); 4] =
        [("auto", Self::Auto), ("manual", Self::Manual), ("dry_run", Self::DryRun), ("off", Self::Off)];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Manual => "manual",
            Self::DryRun => "dry_run",
            Self::Off => "off",
        }
    }
}

/// The limits a decision respects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What to do when a rollback is warranted.
    pub mode: Mode,
    /// How long after a deployment an alert is blamed on it.
    pub guard_window: Millis,
    /// No new rollback of the same service and environment within this long of the last one.
    pub cooldown: Millis,
    /// At most this many rollbacks of the service and environment in any hour.
    pub max_per_hour: u32,
}

/// Why no rollback happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// The policy is `off`.
    PolicyOff,
    /// No deployment finished within the guard window before the alert started.
    NoRecentDeployment,
    /// The deployment to blame is itself a rollback: never roll back a rollback.
    IsRollback,
    /// A newer deployment already replaced the one to blame.
    Superseded,
    /// No earlier deployment that did not fail.
    NoTarget,
    /// The last rollback was less than the cooldown ago.
    Cooldown,
    /// The hourly limit of rollbacks is reached.
    RateLimited,
}

impl Skip {
    /// The name the alert answers and the traces give it (as it serializes).
    pub fn name(self) -> &'static str {
        match self {
            Self::PolicyOff => "policy_off",
            Self::NoRecentDeployment => "no_recent_deployment",
            Self::IsRollback => "is_rollback",
            Self::Superseded => "superseded",
            Self::NoTarget => "no_target",
            Self::Cooldown => "cooldown",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Roll `bad` back to `target`.
    Rollback {
        /// The deployment to undo.
        bad: &'a Deployment,
        /// The deployment to return to.
        target: &'a Deployment,
    },
    /// Do nothing, for this reason; `blamed` is the deployment the alert is attributed to, if any.
    Skip {
        /// Why not.
        reason: Skip,
        /// The deployment within the guard window, when there is one.
        blamed: Option<&'a Deployment>,
    },
}

/// The deployment an alert that started at `started_at` is blamed on: the latest one finished
/// within `guard_window` before it. `deployments` are the successful deployments of one service
/// and environment, ascending by finish time.
pub fn blamed(deployments: &[Deployment], started_at: Millis, guard_window: Millis) -> Option<&Deployment> {
    deployments
        .iter()
        .rev()
        .filter_map(|d| Some((d.finished_at?, d)))
        .find(|(finished, _)| *finished <= started_at)
        .filter(|(finished, _)| started_at - finished <= guard_window)
        .map(|(_, d)| d)
}

/// Decides what to do about an alert that started at `started_at`.
///
/// `deployments` are the successful deployments of the alert's service and environment,
/// ascending by finish time; `failed` says whether a deployment is known to have failed;
/// `recent_rollbacks` are the times of earlier rollback decisions for the same service and
/// environment.
pub fn decide<'a>(
    deployments: &'a [Deployment],
    failed: impl Fn(&Deployment) -> bool,
    started_at: Millis,
    now: Millis,
    limits: &Limits,
    recent_rollbacks: &[Millis],
) -> Decision<'a> {
    let Some(bad) = blamed(deployments, started_at, limits.guard_window) else {
        return Decision::Skip { reason: Skip::NoRecentDeployment, blamed: None };
    };
    let skip = |reason| Decision::Skip { reason, blamed: Some(bad) };
    if limits.mode == Mode::Off {
        return skip(Skip::PolicyOff);
    }
    if bad.rollback_of.is_some() {
        return skip(Skip::IsRollback);
    }
    let bad_finished = bad.finished_at.unwrap_or(Millis::MIN);
    let newer = deployments.iter().any(|d| d.id != bad.id && d.finished_at.is_some_and(|f| f > bad_finished || (f == bad_finished && d.id > bad.id)));
    if newer {
        return skip(Skip::Superseded);
    }
    if recent_rollbacks.iter().any(|&at| now - at < limits.cooldown) {
        return skip(Skip::Cooldown);
    }
    let last_hour = recent_rollbacks.iter().filter(|&&at| now - at < crate::model::HOUR).count();
    if last_hour >= limits.max_per_hour as usize {
        return skip(Skip::RateLimited);
    }
    let target = deployments
        .iter()
        .rev()
        .filter(|d| d.id != bad.id && d.finished_at.is_some_and(|f| f < bad_finished || (f == bad_finished && d.id < bad.id)))
        .find(|d| !failed(d));
    match target {
        Some(target) => Decision::Rollback { bad, target },
        None => skip(Skip::NoTarget),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_named_as_it_serializes() {
        use Skip::*;
        for skip in [PolicyOff, NoRecentDeployment, IsRollback, Superseded, NoTarget, Cooldown, RateLimited] {
            assert_eq!(serde_json::to_value(skip).ok(), Some(serde_json::Value::from(skip.name())), "{skip:?}");
        }
    }
    use crate::model::{DeploymentStatus, MINUTE};

    fn deploy(id: &str, minute: i64) -> Deployment {
        Deployment {
            id: id.into(),
            service: "api".into(),
            environment: "production".into(),
            version: Some(format!("v{minute}")),
            commit_sha: Some(format!("sha-{id}")),
            status: DeploymentStatus::Success,
            started_at: None,
            finished_at: Some(minute * MINUTE),
            commits: Vec::new(),
            rollback_of: None,
            unplanned: false,
            team: None,
            url: None,
        }
    }

    const LIMITS: Limits = Limits { mode: Mode::Auto, guard_window: 30 * MINUTE, cooldown: 10 * MINUTE, max_per_hour: 2 };

    fn outcome(deployments: &[Deployment], alert_minute: i64, recent: &[Millis]) -> Result<(String, String), Skip> {
        match decide(deployments, |d| d.id == "failed", alert_minute * MINUTE, 1_000 * MINUTE, &LIMITS, recent) {
            Decision::Rollback { bad, target } => Ok((bad.id.clone(), target.id.clone())),
            Decision::Skip { reason, .. } => Err(reason),
        }
    }

    #[test]
    fn an_alert_soon_after_a_deployment_rolls_it_back_to_the_one_before() {
        let d = [deploy("v1", 0), deploy("v2", 100)];
        assert_eq!(outcome(&d, 110, &[]), Ok(("v2".into(), "v1".into())));
    }

    #[test]
    fn an_alert_outside_the_guard_window_blames_nothing() {
        let d = [deploy("v1", 0), deploy("v2", 100)];
        assert_eq!(outcome(&d, 131, &[]), Err(Skip::NoRecentDeployment));
        assert_eq!(outcome(&d, 130, &[]).map(|(bad, _)| bad), Ok("v2".into()));
        assert_eq!(outcome(&d, 99, &[]), Err(Skip::NoRecentDeployment), "v1 finished long before");
    }

    #[test]
    fn a_failed_deployment_is_never_the_target() {
        let d = [deploy("v1", 0), deploy("failed", 50), deploy("v3", 100)];
        assert_eq!(outcome(&d, 110, &[]), Ok(("v3".into(), "v1".into())));
    }

    #[test]
    fn a_rollback_is_never_rolled_back() {
        let mut rollback = deploy("rb", 100);
        rollback.rollback_of = Some("v1".into());
        assert_eq!(outcome(&[deploy("v0", 0), rollback], 110, &[]), Err(Skip::IsRollback));
    }

    #[test]
    fn a_superseded_deployment_is_left_alone() {
        // v3 finished after the alert started but before the decision.
        let d = [deploy("v1", 0), deploy("v2", 100), deploy("v3", 115)];
        assert_eq!(outcome(&d, 110, &[]), Err(Skip::Superseded));
    }

    #[test]
    fn cooldown_and_hourly_limit_stop_rollback_storms() {
        let d = [deploy("v1", 0), deploy("v2", 100)];
        assert_eq!(outcome(&d, 110, &[995 * MINUTE]), Err(Skip::Cooldown));
        assert_eq!(outcome(&d, 110, &[950 * MINUTE, 960 * MINUTE]), Err(Skip::RateLimited));
        assert!(outcome(&d, 110, &[900 * MINUTE, 930 * MINUTE]).is_ok());
    }

    #[test]
    fn the_first_deployment_has_no_target_and_off_does_nothing() {
        assert_eq!(outcome(&[deploy("v1", 100)], 110, &[]), Err(Skip::NoTarget));
        let off = Limits { mode: Mode::Off, ..LIMITS };
        let d = [deploy("v1", 0), deploy("v2", 100)];
        assert!(matches!(decide(&d, |_| false, 110 * MINUTE, 0, &off, &[]), Decision::Skip { reason: Skip::PolicyOff, .. }));
    }
}
