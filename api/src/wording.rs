//! The DORA keys as people read them: which number headlines each key, how it is written, which
//! level it has, how it compares with an earlier window — and why a deployment counts as failed.
//!
//! Both renderings for people — the web page and the weekly report email — take their keys from
//! here, so they say the same thing about the same summary. Nothing here computes a metric (that
//! is [`pacer_engine::dora`]) or writes markup.

use pacer_engine::attribution::FailureCause;
use pacer_engine::dora::{Rework, Summary};
use pacer_engine::levels::{Benchmarks, Level};
use pacer_engine::model::{DAY, HOUR};

/// DORA's two groups of the keys (since the 2024 report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// How fast changes flow: lead time, deployment frequency, recovery.
    Throughput,
    /// How often changes go wrong: change failure rate, rework rate.
    Instability,
}

impl Group {
    /// The group's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Throughput => "Throughput",
            Self::Instability => "Instability",
        }
    }

    /// What the group says, in one line.
    pub fn about(self) -> &'static str {
        match self {
            Self::Throughput => "how fast changes reach production and recover",
            Self::Instability => "how often changes go wrong and need rework",
        }
    }
}

/// One key of a summary, with the same key of an earlier summary to compare with.
pub(crate) struct Key {
    /// Stable id (the summary's field name).
    pub id: &'static str,
    /// Its DORA group.
    pub group: Group,
    /// The key's name.
    pub name: &'static str,
    /// The headline number.
    pub value: Option<f64>,
    /// The headline number of the earlier window.
    pub previous: Option<f64>,
    /// How the headline number is written.
    pub shown: fn(f64) -> String,
    /// The level, when the key has levels at all (`Some(None)`: no data for a level).
    pub level: Option<Option<Level>>,
    /// The numbers behind the headline, in words.
    pub detail: String,
    /// Whether a higher number is better.
    pub higher_is_better: bool,
    /// Rates compare in percentage points, the others relatively.
    pub rate: bool,
}

/// How a key moved since the earlier window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// One of the two windows has no number.
    Unknown,
    /// Within half a percent (or point): `was` is the earlier number, written.
    Steady {
        /// The earlier number.
        was: String,
    },
    /// Up or down by `amount` (`12 %`, `5 points`, `from zero`).
    Moved {
        /// Whether the number went up.
        up: bool,
        /// Whether that is an improvement.
        better: bool,
        /// How much, in words.
        amount: String,
        /// The earlier number.
        was: String,
    },
}

impl Change {
    /// In a short line, as chat says it: `up 20 % (better; was 2.60 / day)`.
    pub(crate) fn words(&self) -> String {
        match self {
            Self::Unknown => "no number the week before".to_owned(),
            Self::Steady { was } => format!("steady (was {was})"),
            Self::Moved { up, better, amount, was } => {
                format!("{} {amount} ({}; was {was})", if *up { "up" } else { "down" }, if *better { "better" } else { "worse" })
            }
        }
    }
}

impl Key {
    /// The key's headline number written, or `no data`.
    pub fn shown_value(&self) -> String {
        self.value.map_or_else(|| "no data".to_owned(), self.shown)
    }

    /// How the key moved since the earlier window.
    pub fn change(&self) -> Change {
        let (Some(now), Some(before)) = (self.value, self.previous) else { return Change::Unknown };
        let (change, unit) = if self.rate {
            ((now - before) * 100.0, " points")
        } else if before != 0.0 {
            ((now - before) / before * 100.0, " %")
        } else {
            (if now == 0.0 { 0.0 } else { f64::INFINITY }, " %")
        };
        let was = (self.shown)(before);
        if change.abs() < 0.5 {
            return Change::Steady { was };
        }
        let up = now > before;
        let amount = if change.is_finite() { format!("{:.0}{unit}", change.abs()) } else { "from zero".to_owned() };
        Change::Moved { up, better: up == self.higher_is_better, amount, was }
    }
}

/// The five keys of `now`, each compared with `before`, in DORA's two groups: throughput —
/// deployment frequency, lead time, recovery (failed-deployment recovery time; time to restore,
/// the pre-2024 key, with the 2021 bands) — then instability — change failure rate and rework
/// rate.
pub(crate) fn keys(now: &Summary, before: &Summary, benchmarks: Benchmarks) -> [Key; 5] {
    let per_day = |v: f64| format!("{v:.2} / day");
    let throughput = Group::Throughput;
    let instability = Group::Instability;
    [
        Key {
            id: "deployment_frequency",
            group: throughput,
            name: "Deployment frequency",
            value: Some(now.deployment_frequency.per_day),
            previous: Some(before.deployment_frequency.per_day).filter(|_| before.deployment_frequency.deployments > 0),
            shown: per_day,
            level: Some(now.deployment_frequency.level),
            detail: format!(
                "{} deployments on {} days ({:.1} per week)",
                now.deployment_frequency.deployments, now.deployment_frequency.deploy_days, now.deployment_frequency.per_week
            ),
            higher_is_better: true,
            rate: false,
        },
        Key {
            id: "lead_time",
            group: throughput,
            name: "Lead time for changes",
            value: now.lead_time.median_seconds,
            previous: before.lead_time.median_seconds,
            shown: duration,
            level: Some(now.lead_time.level),
            detail: match now.lead_time.p90_seconds {
                Some(p90) => format!("median over {} commits; 90th percentile {}", now.lead_time.samples, duration(p90)),
                None => "no commit reached production in this window".to_owned(),
            },
            higher_is_better: false,
            rate: false,
        },
        if benchmarks == Benchmarks::Y2021 {
            Key {
                id: "time_to_restore",
                group: throughput,
                name: "Time to restore",
                value: now.time_to_restore.median_seconds,
                previous: before.time_to_restore.median_seconds,
                shown: duration,
                level: Some(now.time_to_restore.level),
                detail: format!("median over {} resolved incidents", now.time_to_restore.incidents),
                higher_is_better: false,
                rate: false,
            }
        } else {
            let fdrt = &now.failed_deployment_recovery_time;
            let restore = now.time_to_restore.median_seconds.map_or_else(|| "none".to_owned(), duration);
            Key {
                id: "failed_deployment_recovery_time",
                group: throughput,
                name: "Failed-deployment recovery time",
                value: fdrt.median_seconds,
                previous: before.failed_deployment_recovery_time.median_seconds,
                shown: duration,
                level: Some(fdrt.level),
                detail: format!(
                    "{} of {} failed deployments recovered; time to restore (the pre-2024 key, kept for comparison) over {} incidents: {restore}",
                    fdrt.recovered, fdrt.failed_deployments, now.time_to_restore.incidents
                ),
                higher_is_better: false,
                rate: false,
            }
        },
        Key {
            id: "change_failure_rate",
            group: instability,
            name: "Change failure rate",
            value: now.change_failure_rate.rate,
            previous: before.change_failure_rate.rate,
            shown: percent,
            level: Some(now.change_failure_rate.level),
            detail: format!("{} of {} deployments failed", now.change_failure_rate.failed_deployments, now.change_failure_rate.deployments),
            higher_is_better: false,
            rate: true,
        },
        Key {
            id: "rework_rate",
            group: instability,
            name: "Rework rate",
            value: now.rework_rate.rate,
            previous: before.rework_rate.rate,
            shown: percent,
            level: None,
            detail: rework_words(now),
            higher_is_better: false,
            rate: true,
        },
    ]
}

/// How many deployments were rework, and why, in words.
fn rework_words(now: &Summary) -> String {
    let r = &now.rework_rate;
    let b = &r.by_reason;
    let why: Vec<String> = [(b.rollback, "rollback", "rollbacks"), (b.unplanned, "hotfix", "hotfixes"), (b.fix_forward, "fix-forward", "fix-forwards"), (b.revert, "revert", "reverts")]
        .into_iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
    let why = if why.is_empty() { String::new() } else { format!(": {}", why.join(", ")) };
    format!("{} of {} deployments were rework{why} (the reports give no bands)", r.unplanned_deployments, r.deployments)
}

/// Why a deployment is rework, in words.
pub(crate) fn rework_reason_words(rework: &Rework<'_>) -> String {
    match rework {
        Rework::Rollback { deployment_id } => format!("rolls back {deployment_id}"),
        Rework::Unplanned => "unplanned (hotfix)".to_owned(),
        Rework::FixForward { incident_id } => format!("fix-forward during incident {incident_id}"),
        Rework::Revert { commit_sha } => format!("ships revert {}", commit_sha.get(..10).unwrap_or(commit_sha)),
    }
}

/// Why a deployment counts as failed, in words.
pub(crate) fn failure_words(cause: &FailureCause) -> String {
    match cause {
        FailureCause::IncidentNamedDeployment { incident_id } => format!("incident {incident_id} names it"),
        FailureCause::IncidentNamedCommit { incident_id, commit_sha } => {
            format!("incident {incident_id} names commit {}", commit_sha.get(..10).unwrap_or(commit_sha))
        }
        FailureCause::IncidentInWindow { incident_id } => format!("incident {incident_id} followed it"),
        FailureCause::RolledBack { deployment_id } => format!("rolled back by {deployment_id}"),
    }
}

/// A level's name, or `no level`.
pub(crate) fn level_name(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Elite) => "elite",
        Some(Level::High) => "high",
        Some(Level::Medium) => "medium",
        Some(Level::Low) => "low",
        None => "no level",
    }
}

/// A duration for people: `45 s`, `12 min`, `5.2 h`, `3.1 days`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else if seconds < HOUR as f64 / 1000.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 2.0 * DAY as f64 / 1000.0 {
        format!("{:.1} h", seconds / 3_600.0)
    } else {
        format!("{:.1} days", seconds / 86_400.0)
    }
}

/// A duration to the second, for a postmortem: `1.5 s`, `3 min 58 s`, `2 h 0 min 5 s`,
/// `1 d 2 h 3 min`. Under a minute it keeps one decimal; beyond, whole seconds (rounded).
pub(crate) fn exact_duration(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let seconds = seconds.abs();
    if seconds < 59.95 {
        return format!("{sign}{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    let (d, h, m, s) = (whole / 86_400, whole / 3_600 % 24, whole / 60 % 60, whole % 60);
    if d > 0 {
        format!("{sign}{d} d {h} h {m} min")
    } else if h > 0 {
        format!("{sign}{h} h {m} min {s} s")
    } else {
        format!("{sign}{m} min {s} s")
    }
}

/// A rate as a percentage with one decimal.
pub(crate) fn percent(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_durations_keep_every_second() {
        assert_eq!(exact_duration(1.5), "1.5 s");
        assert_eq!(exact_duration(238.5), "3 min 59 s");
        assert_eq!(exact_duration(7_205.0), "2 h 0 min 5 s");
        assert_eq!(exact_duration(93_780.0), "1 d 2 h 3 min");
        assert_eq!(exact_duration(-90.0), "-1 min 30 s");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(42.0), "42 s");
        assert_eq!(duration(1_800.0), "30 min");
        assert_eq!(duration(5.25 * 3_600.0), "5.2 h");
        assert_eq!(duration(3.0 * 86_400.0), "3.0 days");
    }

    fn key(value: Option<f64>, previous: Option<f64>, rate: bool) -> Key {
        Key { id: "x", group: Group::Instability, name: "x", value, previous, shown: percent, level: None, detail: String::new(), higher_is_better: false, rate }
    }

    #[test]
    fn changes_compare_rates_in_points_and_the_rest_relatively() {
        assert_eq!(key(Some(0.10), Some(0.05), true).change(), Change::Moved { up: true, better: false, amount: "5 points".into(), was: "5.0 %".into() });
        assert_eq!(key(Some(1.0), Some(2.0), false).change(), Change::Moved { up: false, better: true, amount: "50 %".into(), was: "200.0 %".into() });
        assert_eq!(key(Some(1.0), Some(0.0), false).change(), Change::Moved { up: true, better: false, amount: "from zero".into(), was: "0.0 %".into() });
        assert_eq!(key(Some(1.0), Some(1.001), false).change(), Change::Steady { was: "100.1 %".into() });
        assert_eq!(key(None, Some(1.0), false).change(), Change::Unknown);
    }
}
