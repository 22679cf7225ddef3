//! SLO error-budget burn: weighted error ratios, burn rates, budget remaining and the
//! multi-window, multi-burn-rate alert of the SRE workbook (chapter 5, "Alerting on SLOs").
//!
//! Error ratio over a window, by the SLO's [`Budgeting`] method (OpenSLO's `budgetingMethod`):
//! - occurrences (the default): Σbad / Σtotal, weighted by traffic — never an average of ratios;
//! - time slices: the window is cut into slices of a fixed width (aligned to the Unix epoch); a
//!   slice is good when its good / total is at least the slice target, and the error ratio is bad
//!   slices / slices;
//! - ratio time slices: the mean over slices of each slice's bad / total.
//!
//! Slices without any traffic are not counted, neither good nor bad: OpenSLO's text ("a ratio of
//! good time slices to total time slices in a budgeting period") does not say what a slice
//! without events is, and counting it good would let a quiet night dilute a bad hour, counting
//! it bad would page on silence. A window without a slice with traffic has no error ratio, as a
//! window without events has none under occurrences.
//!
//! Burn rate = error ratio / (1 − objective). Budget remaining = 1 − window error ratio /
//! (1 − objective). An alert condition holds when both its long and its short window burn faster
//! than its threshold and the short window saw at least the minimum traffic.

use serde::Serialize;

use crate::model::{DAY, HOUR, MINUTE, Millis};

/// Good and total events over one window (fractional when they come from Prometheus'
/// `increase()`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Good events.
    pub good: f64,
    /// All events.
    pub total: f64,
}

impl Counts {
    /// Bad events.
    pub fn bad(self) -> f64 {
        (self.total - self.good).max(0.0)
    }

    /// Σbad / Σtotal, or `None` without traffic.
    pub fn error_ratio(self) -> Option<f64> {
        (self.total > 0.0).then(|| self.bad() / self.total)
    }
}

/// How an SLO turns good and total events into an error ratio.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Budgeting {
    /// Σbad / Σtotal over the window.
    #[default]
    Occurrences,
    /// Bad slices / slices: a slice is good when its good / total ≥ `target`.
    Timeslices {
        /// The slice width (a divisor of the shortest burn window, 5 minutes).
        slice: Millis,
        /// The share of good events that makes a slice good, in (0, 1].
        target: f64,
    },
    /// The mean over slices of each slice's bad / total.
    RatioTimeslices {
        /// The slice width (a divisor of the shortest burn window, 5 minutes).
        slice: Millis,
    },
}

impl Budgeting {
    /// The slice width, for the time-slice methods.
    pub fn slice(self) -> Option<Millis> {
        match self {
            Self::Occurrences => None,
            Self::Timeslices { slice, .. } | Self::RatioTimeslices { slice } => Some(slice),
        }
    }

    /// Whether `width` can be a slice's width: whole seconds dividing the shortest burn window
    /// (5 minutes), so that every window is a whole number of slices.
    ///
    /// # Errors
    /// Any other width, in words.
    pub fn check_slice(width: Millis) -> Result<(), String> {
        let shortest = WINDOWS[0].1;
        if width > 0 && width % 1_000 == 0 && shortest % width == 0 {
            Ok(())
        } else {
            Err(format!("expected whole seconds dividing {} s, the shortest burn window (such as 60), but found {} s", shortest / 1_000, width as f64 / 1_000.0))
        }
    }

    /// Its name in settings and answers: `occurrences`, `timeslices` or `ratio_timeslices`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Occurrences => "occurrences",
            Self::Timeslices { .. } => "timeslices",
            Self::RatioTimeslices { .. } => "ratio_timeslices",
        }
    }

    /// How much one slice with these counts adds to the bad slices (0 or 1 for time slices, its
    /// error ratio for ratio time slices); `None` when it saw no traffic and is not counted, or
    /// under occurrences, which has no slices.
    pub fn slice_badness(self, counts: Counts) -> Option<f64> {
        match self {
            Self::Occurrences => None,
            // good / total ≥ target, computed as Prometheus' `>= bool` computes it on the same
            // two numbers, so that both decide alike on a slice exactly at the target.
            Self::Timeslices { target, .. } => (counts.total > 0.0).then(|| if counts.good / counts.total >= target { 0.0 } else { 1.0 }),
            Self::RatioTimeslices { .. } => counts.error_ratio(),
        }
    }
}

/// A window's slices with traffic, and how bad they were in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Slices {
    /// Slices that saw traffic.
    pub counted: f64,
    /// The sum of their badness ([`Budgeting::slice_badness`]).
    pub bad: f64,
}

impl Slices {
    /// Bad / counted, or `None` without a slice with traffic.
    pub fn error_ratio(self) -> Option<f64> {
        (self.counted > 0.0).then(|| self.bad / self.counted)
    }

    /// The slices of `by_slice` — `(index, counts)`, slice `index` covering
    /// `[index × width, (index + 1) × width)` — that end within `(from, to]`, judged by
    /// `budgeting`: the steps a Prometheus subquery `[to − from : width]` evaluates at, each
    /// aligned to a multiple of the width. The slice still filling at `to` is left for the next
    /// evaluation; a window that does not start on a slice boundary takes the slice it starts in.
    pub fn within(by_slice: &[(i64, Counts)], budgeting: Budgeting, from: Millis, to: Millis) -> Self {
        let Some(width) = budgeting.slice().filter(|w| *w > 0) else { return Self::default() };
        let (first, end) = (from.div_euclid(width), to.div_euclid(width));
        by_slice
            .iter()
            .filter(|(index, _)| (first..end).contains(index))
            .filter_map(|(_, counts)| budgeting.slice_badness(*counts))
            .fold(Self::default(), |sum, bad| Self { counted: sum.counted + 1.0, bad: sum.bad + bad })
    }
}

/// What one window measured: its events, and for a time-slice SLO its slices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Measure {
    /// Good and total events over the window (the minimum-traffic guard reads `total`).
    pub counts: Counts,
    /// The window's slices, for a time-slice SLO.
    pub slices: Option<Slices>,
}

impl Measure {
    /// The window's error ratio by the SLO's method: from the slices when there are, else
    /// Σbad / Σtotal; `None` without traffic.
    pub fn error_ratio(&self) -> Option<f64> {
        match self.slices {
            Some(slices) => slices.error_ratio(),
            None => self.counts.error_ratio(),
        }
    }
}

impl From<Counts> for Measure {
    fn from(counts: Counts) -> Self {
        Self { counts, slices: None }
    }
}

/// How fast a window spends the error budget: 1 spends exactly the budget over the SLO window.
pub fn burn_rate(error_ratio: f64, objective: f64) -> f64 {
    error_ratio / (1.0 - objective)
}

/// The share of the budget left after a window with this error ratio (negative when overspent).
pub fn budget_remaining(window_error_ratio: f64, objective: f64) -> f64 {
    1.0 - window_error_ratio / (1.0 - objective)
}

/// The windows the alert conditions look at.
pub const WINDOWS: [(&str, Millis); 7] = [
    ("5m", 5 * MINUTE),
    ("30m", 30 * MINUTE),
    ("1h", HOUR),
    ("2h", 2 * HOUR),
    ("6h", 6 * HOUR),
    ("1d", DAY),
    ("3d", 3 * DAY),
];

/// How urgent a burn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Open a ticket.
    Ticket,
    /// Page someone now.
    Page,
}

/// One multi-window condition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Condition {
    /// How urgent.
    pub severity: Severity,
    /// The long window's name.
    pub long: &'static str,
    /// The short window's name.
    pub short: &'static str,
    /// Both windows must burn faster than this.
    pub threshold: f64,
}

/// The workbook's conditions: page at 14.4 (1h & 5m) and 6 (6h & 30m), ticket at 3 (1d & 2h) and
/// 1 (3d & 6h).
pub const CONDITIONS: [Condition; 4] = [
    Condition { severity: Severity::Page, long: "1h", short: "5m", threshold: 14.4 },
    Condition { severity: Severity::Page, long: "6h", short: "30m", threshold: 6.0 },
    Condition { severity: Severity::Ticket, long: "1d", short: "2h", threshold: 3.0 },
    Condition { severity: Severity::Ticket, long: "3d", short: "6h", threshold: 1.0 },
];

/// The counts of every window in [`WINDOWS`], by name.
pub type WindowCounts = [(&'static str, Counts); 7];

/// What every window in [`WINDOWS`] measured, by name.
pub type WindowMeasures = [(&'static str, Measure); 7];

/// The conditions that hold over occurrences, most urgent first.
pub fn firing(counts: &WindowCounts, objective: f64, min_events: f64) -> Vec<Condition> {
    firing_measured(&counts.map(|(name, c)| (name, Measure::from(c))), objective, min_events)
}

/// The conditions that hold, most urgent first: each window's error ratio is its measure's (by
/// the SLO's method); the guard counts events.
pub fn firing_measured(measures: &WindowMeasures, objective: f64, min_events: f64) -> Vec<Condition> {
    let burn = |name: &str| {
        measures.iter().find(|(n, _)| *n == name).and_then(|(_, m)| Some((m.error_ratio()?, m.counts.total)))
    };
    CONDITIONS
        .iter()
        .filter(|c| match (burn(c.long), burn(c.short)) {
            (Some((long, _)), Some((short, short_total))) => {
                short_total >= min_events && burn_rate(long, objective) > c.threshold && burn_rate(short, objective) > c.threshold
            }
            _ => false,
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SECOND;

    const OBJECTIVE: f64 = 0.999;

    fn uniform(error_ratio: f64) -> WindowCounts {
        WINDOWS.map(|(name, _)| (name, Counts { good: ((1.0 - error_ratio) * 100_000.0).round(), total: 100_000.0 }))
    }

    #[test]
    fn all_errors_burn_a_three_nines_budget_a_thousand_times_too_fast() {
        assert!((burn_rate(1.0, OBJECTIVE) - 1000.0).abs() < 1e-6);
        assert!((budget_remaining(0.0005, OBJECTIVE) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_fast_page_needs_an_error_ratio_of_one_point_four_four_percent() {
        let fast = |ratio| firing(&uniform(ratio), OBJECTIVE, 1.0).iter().any(|c| c.threshold == 14.4);
        assert!(!fast(0.0144), "14.4 is a strict threshold");
        assert!(fast(0.0145));
        assert!(!fast(0.01), "a 1 % error ratio never fires the fast page");
        // ... but it burns at 10, which the slower page (6h & 30m > 6) catches.
        let slow: Vec<_> = firing(&uniform(0.01), OBJECTIVE, 1.0).iter().map(|c| (c.long, c.short)).collect();
        assert_eq!(slow, vec![("6h", "30m"), ("1d", "2h"), ("3d", "6h")]);
    }

    #[test]
    fn both_windows_must_burn_and_the_short_one_needs_traffic() {
        let mut counts = uniform(0.0);
        counts[0].1 = Counts { good: 0.0, total: 50.0 }; // a 5m burst of errors only
        assert!(firing(&counts, OBJECTIVE, 1.0).is_empty(), "the 1h window is clean");
        let mut counts = uniform(0.5);
        counts[0].1 = Counts { good: 0.0, total: 5.0 };
        assert!(!firing(&counts, OBJECTIVE, 10.0).iter().any(|c| c.short == "5m"), "too little traffic to page");
        assert!(firing(&counts, OBJECTIVE, 1.0).iter().any(|c| c.short == "5m"));
    }

    #[test]
    fn error_ratios_weigh_by_traffic() {
        // 1 bad in 10, and 0 bad in 990: 0.1 %, not the 5 % an average of ratios would give.
        let merged = Counts { good: 9.0 + 990.0, total: 10.0 + 990.0 };
        assert_eq!(merged.error_ratio(), Some(0.001));
        assert_eq!(Counts::default().error_ratio(), None);
    }

    const SLICES: Budgeting = Budgeting::Timeslices { slice: MINUTE, target: 0.95 };

    fn counts(good: f64, total: f64) -> Counts {
        Counts { good, total }
    }

    #[test]
    fn a_slice_exactly_at_its_target_is_good_and_one_just_below_is_bad() {
        assert_eq!(SLICES.slice_badness(counts(95.0, 100.0)), Some(0.0), "95 of 100 meets 0.95");
        assert_eq!(SLICES.slice_badness(counts(19.0, 20.0)), Some(0.0), "19 of 20 meets 0.95");
        assert_eq!(SLICES.slice_badness(counts(94.0, 100.0)), Some(1.0));
        assert_eq!(Budgeting::Timeslices { slice: MINUTE, target: 1.0 }.slice_badness(counts(999.0, 1000.0)), Some(1.0), "a target of 1 needs every event good");
        assert_eq!(Budgeting::Occurrences.slice_badness(counts(1.0, 2.0)), None, "occurrences has no slices");
    }

    #[test]
    fn slices_without_traffic_count_neither_good_nor_bad() {
        // Four minutes: one bad, one empty, two good; the fifth is still filling at `to`.
        let by_slice = [(0, counts(10.0, 100.0)), (1, counts(0.0, 0.0)), (2, counts(100.0, 100.0)), (3, counts(50.0, 50.0)), (4, counts(0.0, 9.0))];
        let slices = Slices::within(&by_slice, SLICES, 0, 4 * MINUTE + 30 * SECOND);
        assert_eq!(slices, Slices { counted: 3.0, bad: 1.0 });
        assert_eq!(slices.error_ratio(), Some(1.0 / 3.0), "the empty slice does not dilute the bad one");
        let ratio = Slices::within(&by_slice, Budgeting::RatioTimeslices { slice: MINUTE }, 0, 4 * MINUTE);
        assert_eq!(ratio.error_ratio(), Some(0.9 / 3.0), "the mean of 0.9, 0 and 0, not Σbad / Σtotal (90 / 250)");
        assert_eq!(Slices::within(&[(1, counts(0.0, 0.0))], SLICES, 0, 4 * MINUTE).error_ratio(), None, "no traffic, no ratio");
    }

    #[test]
    fn only_slices_wholly_inside_the_window_count() {
        let by_slice: Vec<(i64, Counts)> = (0..10).map(|i| (i, counts(0.0, 1.0))).collect();
        // Ending in (1m, 5m]: slices 1 to 4; slice 0 ends at 1m.
        assert_eq!(Slices::within(&by_slice, SLICES, MINUTE, 5 * MINUTE).counted, 4.0);
        // Ending in (1m30s, 5m59s]: slices 1 to 4 again (slice 5 ends at 6m, still filling).
        assert_eq!(Slices::within(&by_slice, SLICES, MINUTE + 30 * SECOND, 5 * MINUTE + 59 * SECOND).counted, 4.0);
        assert_eq!(Slices::within(&by_slice, SLICES, 2 * MINUTE, 6 * MINUTE).counted, 4.0);
    }

    #[test]
    fn a_time_slice_window_burns_by_its_bad_slices_not_its_bad_events() {
        // One slice in ten fails its target by a single event: 10 % of the slices are bad while
        // 0.05 % of the events are.
        let slices = Slices { counted: 10.0, bad: 1.0 };
        let measure = Measure { counts: counts(9_995.0, 10_000.0), slices: Some(slices) };
        assert_eq!(measure.error_ratio(), Some(0.1));
        assert_eq!(Measure::from(measure.counts).error_ratio(), Some(0.0005));
        let measures: WindowMeasures = WINDOWS.map(|(name, _)| (name, measure));
        assert_eq!(firing_measured(&measures, 0.99, 1.0).len(), 3, "a burn rate of 10 holds every condition but the fast page's 14.4 …");
        assert_eq!(firing_measured(&measures, 0.999, 1.0).len(), 4, "… and 100 all four …");
        assert!(firing(&WINDOWS.map(|(name, _)| (name, measure.counts)), 0.999, 1.0).is_empty(), "… while the events alone burn at 0.5");
    }
}
