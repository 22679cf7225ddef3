//! SLO error-budget burn: weighted error ratios, burn rates, budget remaining and the
//! multi-window, multi-burn-rate alert of the SRE workbook (chapter 5, "Alerting on SLOs").
//!
//! Error ratio over a window = Σbad / Σtotal, weighted by traffic — never an average of ratios.
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

/// The conditions that hold, most urgent first.
pub fn firing(counts: &WindowCounts, objective: f64, min_events: f64) -> Vec<Condition> {
    let burn = |name: &str| {
        counts.iter().find(|(n, _)| *n == name).and_then(|(_, c)| Some((c.error_ratio()?, c.total)))
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
}
