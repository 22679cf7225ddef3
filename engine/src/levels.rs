//! DORA performance levels: the bands of the 2021, 2023 and 2024 State of DevOps reports.
//!
//! The reports describe bands in words ("between once per day and once per week") that overlap
//! or leave gaps. pacer turns each into closed cut-offs, applied from the best level down: a value
//! gets the first level whose cut-off it meets. `docs/metrics.md` prints the same table; the unit
//! tests below pin every cut-off.

use serde::Serialize;

use crate::model::{DAY, HOUR, Millis};

/// A DORA performance level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The lowest band.
    Low,
    /// Second lowest.
    Medium,
    /// Second best.
    High,
    /// The best band.
    Elite,
}

/// Which report's bands to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum Benchmarks {
    /// Accelerate State of DevOps 2021.
    #[serde(rename = "2021")]
    Y2021,
    /// Accelerate State of DevOps 2023.
    #[serde(rename = "2023")]
    Y2023,
    /// Accelerate State of DevOps 2024 (the default).
    #[default]
    #[serde(rename = "2024")]
    Y2024,
}

impl Benchmarks {
    /// Parses `2021`, `2023` or `2024`.
    pub fn parse(year: &str) -> Option<Self> {
        match year {
            "2021" => Some(Self::Y2021),
            "2023" => Some(Self::Y2023),
            "2024" => Some(Self::Y2024),
            _ => None,
        }
    }

    /// The cut-offs of this report.
    pub fn bands(self) -> &'static Bands {
        match self {
            Self::Y2021 => &BANDS_2021,
            Self::Y2023 => &BANDS_2023,
            Self::Y2024 => &BANDS_2024,
        }
    }
}

/// The cut-offs of one report, best level first: `[elite, high, medium]`; anything else is low.
#[derive(Debug)]
pub struct Bands {
    /// Minimum deployments per day for elite, high, medium.
    pub deploys_per_day: [f64; 3],
    /// Maximum median lead time (exclusive) for elite, high, medium.
    pub lead_time: [Millis; 3],
    /// Maximum change failure rate (inclusive) for elite, high, medium.
    pub change_failure_rate: [f64; 3],
    /// Maximum median recovery time (exclusive) for elite, high, medium; used for both time to
    /// restore and failed-deployment recovery time.
    pub recovery: [Millis; 3],
}

const WEEK: Millis = 7 * DAY;
const MONTH: Millis = 30 * DAY;
const ONCE_A_DAY: f64 = 1.0;
const ONCE_A_WEEK: f64 = 1.0 / 7.0;
const ONCE_A_MONTH: f64 = 1.0 / 30.0;
const ONCE_IN_SIX_MONTHS: f64 = 1.0 / 182.5;

/// 2021: elite on demand, high weekly–monthly, medium monthly–half-yearly; lead time elite < 1 h,
/// high 1 day–1 week (the 1 h–1 day gap goes to high), medium 1–6 months (the 1 week–1 month gap
/// goes to medium); change failure rate elite 0–15 %, high, medium and low all 16–30 % (so > 15 %
/// and ≤ 30 % is high, > 30 % is low); time to restore elite < 1 h, high < 1 day, medium < 1 week.
static BANDS_2021: Bands = Bands {
    deploys_per_day: [ONCE_A_DAY, ONCE_A_MONTH, ONCE_IN_SIX_MONTHS],
    lead_time: [HOUR, WEEK, 6 * MONTH],
    change_failure_rate: [0.15, 0.30, 0.30],
    recovery: [HOUR, DAY, WEEK],
};

/// 2023: elite on demand, high daily–weekly, medium weekly–monthly (low repeats medium's band;
/// less than monthly is low); lead time elite < 1 day, high < 1 week, medium < 1 month; change
/// failure rate 5 %, 10 %, 15 % (low 64 %); recovery elite < 1 h, high < 1 day, medium < 1 week.
static BANDS_2023: Bands = Bands {
    deploys_per_day: [ONCE_A_DAY, ONCE_A_WEEK, ONCE_A_MONTH],
    lead_time: [DAY, WEEK, MONTH],
    change_failure_rate: [0.05, 0.10, 0.15],
    recovery: [HOUR, DAY, WEEK],
};

/// 2024: as 2023 for frequency and lead time; change failure rate elite 5 %, high 20 %, medium
/// 10 %, low 40 % — the medium band lies inside high's, so pacer cuts at ≤ 5 % elite, ≤ 20 % high,
/// ≤ 30 % medium (half way to low's 40 %); recovery elite < 1 h, high and medium both < 1 day, low
/// 1 week–1 month, so < 1 day is high and < 1 week medium.
static BANDS_2024: Bands = Bands {
    deploys_per_day: [ONCE_A_DAY, ONCE_A_WEEK, ONCE_A_MONTH],
    lead_time: [DAY, WEEK, MONTH],
    change_failure_rate: [0.05, 0.20, 0.30],
    recovery: [HOUR, DAY, WEEK],
};

const BEST_FIRST: [Level; 3] = [Level::Elite, Level::High, Level::Medium];

fn first_meeting(meets: impl Fn(usize) -> bool) -> Level {
    (0..3).find(|&i| meets(i)).map_or(Level::Low, |i| BEST_FIRST[i])
}

impl Bands {
    /// The level of a deployment frequency.
    pub fn deployment_frequency(&self, per_day: f64) -> Level {
        first_meeting(|i| per_day >= self.deploys_per_day[i])
    }

    /// The level of a median lead time in seconds.
    pub fn lead_time(&self, median_seconds: f64) -> Level {
        first_meeting(|i| median_seconds * 1000.0 < self.lead_time[i] as f64)
    }

    /// The level of a change failure rate (0.0 ..= 1.0).
    pub fn change_failure_rate(&self, rate: f64) -> Level {
        first_meeting(|i| rate <= self.change_failure_rate[i])
    }

    /// The level of a median recovery time in seconds.
    pub fn recovery(&self, median_seconds: f64) -> Level {
        first_meeting(|i| median_seconds * 1000.0 < self.recovery[i] as f64)
    }
}

/// The overall level: the lowest of the metric levels that are known, or `None` when none is.
pub fn overall(levels: impl IntoIterator<Item = Option<Level>>) -> Option<Level> {
    levels.into_iter().flatten().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_deploys_are_elite_and_weekly_are_high_in_2024() {
        let b = Benchmarks::Y2024.bands();
        assert_eq!(b.deployment_frequency(1.0), Level::Elite);
        assert_eq!(b.deployment_frequency(0.99), Level::High);
        assert_eq!(b.deployment_frequency(1.0 / 7.0), Level::High);
        assert_eq!(b.deployment_frequency(1.0 / 8.0), Level::Medium);
        assert_eq!(b.deployment_frequency(1.0 / 31.0), Level::Low);
    }

    #[test]
    fn weekly_deploys_are_high_in_2021_down_to_monthly() {
        let b = Benchmarks::Y2021.bands();
        assert_eq!(b.deployment_frequency(1.0 / 7.0), Level::High);
        assert_eq!(b.deployment_frequency(1.0 / 30.0), Level::High);
        assert_eq!(b.deployment_frequency(1.0 / 60.0), Level::Medium);
        assert_eq!(b.deployment_frequency(1.0 / 200.0), Level::Low);
    }

    #[test]
    fn lead_time_cut_offs_are_exclusive() {
        let b = Benchmarks::Y2024.bands();
        assert_eq!(b.lead_time(86_399.0), Level::Elite);
        assert_eq!(b.lead_time(86_400.0), Level::High);
        assert_eq!(b.lead_time(7.0 * 86_400.0), Level::Medium);
        assert_eq!(b.lead_time(30.0 * 86_400.0), Level::Low);
        assert_eq!(Benchmarks::Y2021.bands().lead_time(3_599.0), Level::Elite);
        assert_eq!(Benchmarks::Y2021.bands().lead_time(3_600.0), Level::High);
    }

    #[test]
    fn change_failure_rate_cut_offs_are_inclusive() {
        let b = Benchmarks::Y2024.bands();
        assert_eq!(b.change_failure_rate(0.05), Level::Elite);
        assert_eq!(b.change_failure_rate(0.0714), Level::High);
        assert_eq!(b.change_failure_rate(0.25), Level::Medium);
        assert_eq!(b.change_failure_rate(0.31), Level::Low);
        assert_eq!(Benchmarks::Y2023.bands().change_failure_rate(0.15), Level::Medium);
        assert_eq!(Benchmarks::Y2021.bands().change_failure_rate(0.15), Level::Elite);
        assert_eq!(Benchmarks::Y2021.bands().change_failure_rate(0.31), Level::Low);
    }

    #[test]
    fn recovery_under_an_hour_is_elite() {
        let b = Benchmarks::Y2023.bands();
        assert_eq!(b.recovery(1_800.0), Level::Elite);
        assert_eq!(b.recovery(3_600.0), Level::High);
        assert_eq!(b.recovery(2.0 * 86_400.0), Level::Medium);
        assert_eq!(b.recovery(8.0 * 86_400.0), Level::Low);
    }

    #[test]
    fn overall_is_the_lowest_known_level() {
        assert_eq!(overall([Some(Level::Elite), None, Some(Level::High)]), Some(Level::High));
        assert_eq!(overall([None, None]), None);
    }
}
