//! UTC calendar arithmetic on [`Millis`]: RFC 3339 rendering and day/week/month buckets.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{DAY, Millis};

/// Renders a timestamp as RFC 3339 in UTC (`2026-11-22T08:00:00Z`, milliseconds only when set).
pub fn rfc3339(at: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| at.to_string())
}

/// The UTC day number (days since 1970-01-01) of a timestamp.
pub fn day_number(at: Millis) -> i64 {
    at.div_euclid(DAY)
}

/// The width of a series bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// UTC calendar days.
    Day,
    /// ISO weeks, Monday 00:00 UTC to Monday.
    Week,
    /// UTC calendar months.
    Month,
}

impl Interval {
    /// Parses `day`, `week` or `month`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn floor(self, at: Millis) -> Millis {
        let day = day_number(at);
        match self {
            Self::Day => day * DAY,
            // 1970-01-01 was a Thursday: Monday is three days before day 0's weekday.
            Self::Week => (day - (day + 3).rem_euclid(7)) * DAY,
            Self::Month => {
                let date = date_of(day);
                days_of(NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date)) * DAY
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: Millis) -> Millis {
        match self {
            Self::Day => start + DAY,
            Self::Week => start + 7 * DAY,
            Self::Month => {
                let date = date_of(day_number(start));
                let (year, month) = if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
                days_of(NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(date)) * DAY
            }
        }
    }

    /// The buckets covering `[from, to)`, aligned to the calendar and clipped to the window.
    pub fn buckets(self, from: Millis, to: Millis) -> Vec<(Millis, Millis)> {
        let mut buckets = Vec::new();
        let mut start = self.floor(from);
        while start < to {
            let end = self.next(start);
            buckets.push((start.max(from), end.min(to)));
            start = end;
        }
        buckets
    }
}

fn date_of(day: i64) -> NaiveDate {
    DateTime::<Utc>::UNIX_EPOCH.date_naive() + chrono::Days::new(day.max(0) as u64)
}

fn days_of(date: NaiveDate) -> i64 {
    (date - DateTime::<Utc>::UNIX_EPOCH.date_naive()).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp_millis()
    }

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-11-22 is a Sunday; its ISO week began on Monday 2026-11-16.
        assert_eq!(Interval::Week.floor(at("2026-11-22T23:00:00Z")), at("2026-11-16T00:00:00Z"));
        assert_eq!(Interval::Week.floor(at("2026-11-16T00:00:00Z")), at("2026-11-16T00:00:00Z"));
    }

    #[test]
    fn month_buckets_are_clipped_to_the_window() {
        let b = Interval::Month.buckets(at("2026-01-15T00:00:00Z"), at("2026-03-10T00:00:00Z"));
        assert_eq!(
            b,
            vec![
                (at("2026-01-15T00:00:00Z"), at("2026-02-01T00:00:00Z")),
                (at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z")),
                (at("2026-03-01T00:00:00Z"), at("2026-03-10T00:00:00Z")),
            ]
        );
    }

    #[test]
    fn december_rolls_into_the_next_year() {
        assert_eq!(Interval::Month.next(at("2025-12-01T00:00:00Z")), at("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(at("2026-11-22T09:00:00+01:00")), "2026-11-22T08:00:00Z");
    }
}
