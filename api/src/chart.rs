//! What each chart shows — which numbers of [`Analysis::series`], in which unit, against which
//! DORA level bands — built as a [`Chart`] that [`crate::plot`] draws. The chart route, the web
//! page and the weekly report all take their charts, names and labels from here.


use chrono::DateTime;
use pacer_engine::Millis;
use pacer_engine::calendar::Interval;
use pacer_engine::dora::{Analysis, Scope, Summary};
use pacer_engine::levels::Benchmarks;
use pacer_engine::model::HOUR;
use pacer_engine::pipeline::{self, BudgetCompliance, BudgetSample};

use crate::config::Slo;
use crate::plot::{self, Band, Chart, LEVEL_COLORS, Series};
use crate::query::Filters;

/// The charts, by the name in their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Deployments per day.
    DeploymentFrequency,
    /// Median and p90 lead time.
    LeadTime,
    /// Failed deployments / deployments.
    ChangeFailureRate,
    /// Median time to restore and failed-deployment recovery time.
    TimeToRestore,
    /// Rework deployments / deployments.
    ReworkRate,
    /// An SLO's burn rate.
    SloBurn,
    /// The share of each delivery stage's measurements within its budget.
    BudgetCompliance,
}

/// Every chart, in the order the web page shows them.
pub const KINDS: [Kind; 7] =
    [Kind::DeploymentFrequency, Kind::LeadTime, Kind::ChangeFailureRate, Kind::TimeToRestore, Kind::ReworkRate, Kind::SloBurn, Kind::BudgetCompliance];

impl Kind {
    /// Parses a chart name (`lead-time`).
    pub fn parse(name: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.name() == name)
    }

    /// The name in the path.
    pub fn name(self) -> &'static str {
        match self {
            Self::DeploymentFrequency => "deployment-frequency",
            Self::LeadTime => "lead-time",
            Self::ChangeFailureRate => "change-failure-rate",
            Self::TimeToRestore => "time-to-restore",
            Self::ReworkRate => "rework-rate",
            Self::SloBurn => "slo-burn",
            Self::BudgetCompliance => "budget-compliance",
        }
    }

    /// Whether it charts a DORA key of [`Analysis::series`] (the SLO and CI charts do not).
    pub fn is_dora(self) -> bool {
        !matches!(self, Self::SloBurn | Self::BudgetCompliance)
    }

    /// The chart's title.
    pub fn title(self) -> &'static str {
        match self {
            Self::DeploymentFrequency => "Deployment frequency",
            Self::LeadTime => "Lead time for changes",
            Self::ChangeFailureRate => "Change failure rate",
            Self::TimeToRestore => "Time to restore",
            Self::ReworkRate => "Rework rate",
            Self::SloBurn => "SLO burn rate",
            Self::BudgetCompliance => "Stage budget compliance",
        }
    }
}

/// A DORA chart of `analysis` over the buckets of `filters`' window; `team` only labels it.
/// `kind` must not be [`Kind::SloBurn`] (that chart needs the store; it gets no series here).
pub fn dora(kind: Kind, analysis: &Analysis, filters: &Filters, interval: Interval, team: Option<&str>) -> Chart {
    dora_over(kind, analysis, filters, interval.buckets(filters.from, filters.to), interval_name(interval), team)
}

/// A DORA chart over the given buckets (`[start, end)`, ascending, each `per` long: `week`), for
/// calendars other than UTC's — the weekly report's weeks start on Monday in its time zone.
/// The scope and benchmarks come from `filters`; its window only labels the chart.
pub fn dora_over(kind: Kind, analysis: &Analysis, filters: &Filters, buckets: Vec<(Millis, Millis)>, per: &str, team: Option<&str>) -> Chart {
    let summaries = analysis.buckets(&buckets, filters.benchmarks, &filters.scope);
    let line = |name: &str, value: fn(&Summary) -> Option<f64>| Series { name: name.to_owned(), values: summaries.iter().map(value).collect() };
    let cut = filters.benchmarks.bands();
    let hours = |cut: [Millis; 3]| cut.map(|c| c as f64 / HOUR as f64);
    let (y_label, series, bands) = match kind {
        Kind::DeploymentFrequency => (
            "deployments per day",
            vec![line("deployments per day", |s| Some(s.deployment_frequency.per_day))],
            levels(cut.deploys_per_day, true),
        ),
        Kind::LeadTime => (
            "hours from commit to production",
            vec![
                line("median", |s| s.lead_time.median_seconds.map(|v| v / 3_600.0)),
                line("90th percentile", |s| s.lead_time.p90_seconds.map(|v| v / 3_600.0)),
            ],
            levels(hours(cut.lead_time), false),
        ),
        Kind::ChangeFailureRate => (
            "% of deployments that failed",
            vec![line("change failure rate", |s| s.change_failure_rate.rate.map(|r| r * 100.0))],
            levels(cut.change_failure_rate.map(|r| r * 100.0), false),
        ),
        Kind::TimeToRestore => (
            "hours to restore (median)",
            vec![
                line("time to restore (incidents)", |s| s.time_to_restore.median_seconds.map(|v| v / 3_600.0)),
                line("failed-deployment recovery time", |s| s.failed_deployment_recovery_time.median_seconds.map(|v| v / 3_600.0)),
            ],
            levels(hours(cut.recovery), false),
        ),
        // The reports publish no rework-rate bands, so this chart has none.
        Kind::ReworkRate | Kind::SloBurn | Kind::BudgetCompliance => {
            ("% of deployments that were rework", vec![line("rework rate", |s| s.rework_rate.rate.map(|r| r * 100.0))], Vec::new())
        }
    };
    let what = format!("{} · {}", filters.environment, scope_label(team, &filters.scope));
    Chart {
        title: kind.title().to_owned(),
        subtitle: if bands.is_empty() {
            format!("{what} · per {per} · {}", range_label(filters.from, filters.to))
        } else {
            format!("{what} · per {per} · {} · DORA {} bands", range_label(filters.from, filters.to), year(filters.benchmarks))
        },
        x_label: "date (UTC)".to_owned(),
        y_label: y_label.to_owned(),
        buckets,
        series,
        bands,
    }
}

/// The budget-compliance chart: per bucket and budgeted stage, the percentage of the samples
/// that ended in the bucket within the stage's budget; a bucket without samples is a gap.
pub fn budget_chart(budgets: &[(String, Millis)], samples: &[BudgetSample], filters: &Filters, interval: Interval, team: Option<&str>) -> Chart {
    let buckets = interval.buckets(filters.from, filters.to);
    let per_bucket: Vec<Vec<BudgetCompliance>> = buckets
        .iter()
        .map(|&(start, end)| {
            let inside: Vec<BudgetSample> = samples.iter().filter(|s| start <= s.at && s.at < end).cloned().collect();
            pipeline::budgets(budgets, &inside).0
        })
        .collect();
    let series = budgets
        .iter()
        .enumerate()
        .map(|(index, (stage, budget))| Series {
            name: format!("{stage} ≤ {}", crate::wording::duration(*budget as f64 / 1_000.0)),
            values: per_bucket.iter().map(|b| b[index].compliance_percent).collect(),
        })
        .collect();
    Chart {
        title: Kind::BudgetCompliance.title().to_owned(),
        subtitle: format!(
            "{} · {} · per {} · {}",
            filters.environment,
            scope_label(team, &filters.scope),
            interval_name(interval),
            range_label(filters.from, filters.to)
        ),
        x_label: "date (UTC)".to_owned(),
        y_label: "% within the stage's budget".to_owned(),
        buckets,
        series,
        bands: Vec::new(),
    }
}

/// The level bands for three cut-offs listed best first (`[elite, high, medium]`).
fn levels(cut: [f64; 3], higher_is_better: bool) -> Vec<Band> {
    const NAMES: [&str; 4] = ["elite", "high", "medium", "low"];
    let edges = if higher_is_better {
        [(cut[0], f64::INFINITY), (cut[1], cut[0]), (cut[2], cut[1]), (0.0, cut[2])]
    } else {
        [(0.0, cut[0]), (cut[0], cut[1]), (cut[1], cut[2]), (cut[2], f64::INFINITY)]
    };
    (0..4).map(|i| Band { label: NAMES[i], low: edges[i].0, high: edges[i].1, color: LEVEL_COLORS[i] }).collect()
}

/// The burn-rate chart of `slo`: one value per bucket, `None` for a bucket without traffic.
pub fn slo_chart(slo: &Slo, interval: Interval, from: Millis, to: Millis, buckets: Vec<(Millis, Millis)>, burn: Vec<Option<f64>>) -> Chart {
    Chart {
        title: format!("{}: {}", Kind::SloBurn.title(), slo.name),
        subtitle: format!(
            "{} · {} · objective {} % · per {} · {}",
            slo.service,
            slo.environment,
            plot::tick(slo.objective * 100.0),
            interval_name(interval),
            range_label(from, to)
        ),
        x_label: "date (UTC)".to_owned(),
        y_label: "burn rate (× the error budget)".to_owned(),
        buckets,
        series: vec![Series { name: "burn rate".to_owned(), values: burn }],
        bands: vec![
            Band { label: "within budget", low: 0.0, high: 1.0, color: LEVEL_COLORS[0] },
            Band { label: "burning the budget early", low: 1.0, high: f64::INFINITY, color: LEVEL_COLORS[3] },
        ],
    }
}

/// Who a summary covers, for people: `all services`, `team commerce`, `checkout, cart`.
pub fn scope_label(team: Option<&str>, scope: &Scope) -> String {
    let services = match &scope.services {
        None => "all services".to_owned(),
        Some(names) if names.is_empty() => "no services".to_owned(),
        Some(names) => {
            let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
            match names.len() - shown.len() {
                0 => shown.join(", "),
                more => format!("{} and {more} more", shown.join(", ")),
            }
        }
    };
    match team {
        Some(team) => format!("team {team} ({services})"),
        None => services,
    }
}

/// `2026-10-24 to 2026-11-23` (the end day inclusive).
pub fn range_label(from: Millis, to: Millis) -> String {
    let day = |at: Millis| DateTime::from_timestamp_millis(at).map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d").to_string());
    format!("{} to {}", day(from), day(to - 1))
}

/// The interval's name in a query (`day`, `week`, `month`).
pub fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
    }
}

/// The benchmark year as a query and a caption write it (`2024`).
pub fn year(benchmarks: Benchmarks) -> &'static str {
    match benchmarks {
        Benchmarks::Y2021 => "2021",
        Benchmarks::Y2023 => "2023",
        Benchmarks::Y2024 => "2024",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_compliance_is_a_percentage_per_bucket_and_stage_with_gaps_where_nothing_ended() {
        use pacer_engine::model::DAY;
        let sample = |stage: &str, day: i64, seconds: f64| BudgetSample {
            stage: stage.into(),
            id: format!("{stage}-{day}-{seconds}"),
            name: "test".into(),
            repository: None,
            service: None,
            at: day * DAY + 1,
            seconds,
            url: None,
        };
        let samples = [sample("pull_request", 0, 100.0), sample("pull_request", 0, 900.0), sample("pull_request", 2, 10.0), sample("deploy", 2, 20.0)];
        let filters = Filters { from: 0, to: 3 * DAY, environment: "production".into(), scope: Scope::all(), benchmarks: Benchmarks::default() };
        let budgets = [("pull_request".to_owned(), 600_000), ("deploy".to_owned(), 10_000)];
        let chart = budget_chart(&budgets, &samples, &filters, Interval::Day, None);
        assert_eq!(chart.series[0].name, "pull_request ≤ 10 min");
        assert_eq!(chart.series[0].values, [Some(50.0), None, Some(100.0)]);
        assert_eq!(chart.series[1].values, [None, None, Some(0.0)]);
    }

    #[test]
    fn every_chart_name_parses_back() {
        for kind in KINDS {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
        assert_eq!(Kind::parse("lead_time"), None);
    }

    #[test]
    fn bands_run_from_best_to_worst_in_the_right_direction() {
        let up = levels([1.0, 0.5, 0.1], true);
        assert_eq!((up[0].label, up[0].low, up[0].high), ("elite", 1.0, f64::INFINITY));
        assert_eq!((up[3].label, up[3].low, up[3].high), ("low", 0.0, 0.1));
        let down = levels([24.0, 168.0, 720.0], false);
        assert_eq!((down[0].label, down[0].low, down[0].high), ("elite", 0.0, 24.0));
        assert_eq!((down[3].label, down[3].low), ("low", 720.0));
    }

    #[test]
    fn scope_labels_name_a_few_services() {
        assert_eq!(scope_label(None, &Scope::all()), "all services");
        let many = Scope::services(["a", "b", "c", "d", "e"].map(String::from));
        assert_eq!(scope_label(Some("x"), &many), "team x (a, b, c and 2 more)");
    }
}
