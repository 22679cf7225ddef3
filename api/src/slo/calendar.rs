//! Calendar-aligned SLO windows: periods that start at a wall-clock time in an IANA time zone
//! and repeat every so many days, weeks, months, quarters or years (OpenSLO's `timeWindow` with
//! `calendar: {startTime, timeZone}`), so that an SLO's budget counts from the start of the
//! current period instead of over a rolling window.
//!
//! Periods are counted on the wall clock: a weekly period starting Saturday 12:00 in New York
//! starts at Saturday 12:00 New York time every week, 167 or 169 hours apart across a DST change.
//! A monthly period starting on the 31st starts on the last day of shorter months (chrono's
//! month arithmetic), counted from the start each time so that it returns to the 31st. A start
//! that a DST gap skips is the first instant after it (see [`Zone::instant`]).
//!
//! Only the budget window is calendar-aligned; the burn alerts' windows keep rolling. This module
//! only does calendar arithmetic; the settings and OpenSLO read the words, the SLO's state reads
//! the period.

use chrono::{Days, Months, NaiveDateTime};
use pacer_engine::Millis;
use pacer_engine::model::DAY;

use crate::week::Zone;

/// How long a calendar period lasts, on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Whole days (`7d`, and `1w` as 7 days).
    Days(u32),
    /// Whole months (`1M`, and `1Q` as 3 months, `1Y` as 12).
    Months(u32),
}

impl Every {
    /// Reads OpenSLO's duration shorthand for a calendar period: a positive number and `d`
    /// (days), `w` (weeks), `M` (months), `Q` (quarters) or `Y` (years; `y` too).
    ///
    /// # Errors
    /// Anything else, or a period shorter than a day or longer than a year, in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || format!("expected a calendar period: a number and d, w, M, Q or Y (such as 1w or 1M) but found {text:?}");
        let unit = text.chars().last().ok_or_else(expected)?;
        let count: u32 = text[..text.len() - unit.len_utf8()].parse().ok().filter(|n| *n > 0).ok_or_else(expected)?;
        let every = match unit {
            'd' => Self::Days(count),
            'w' => Self::Days(count.checked_mul(7).ok_or_else(expected)?),
            'M' => Self::Months(count),
            'Q' => Self::Months(count.checked_mul(3).ok_or_else(expected)?),
            'Y' | 'y' => Self::Months(count.checked_mul(12).ok_or_else(expected)?),
            'm' | 'h' => return Err(format!("expected a calendar period of days or longer (d, w, M, Q or Y; m is minutes) but found {text:?}")),
            _ => return Err(expected()),
        };
        match every {
            Self::Days(days) if days > 366 => Err(format!("expected a calendar period of at most a year but found {text:?}")),
            Self::Months(months) if months > 12 => Err(format!("expected a calendar period of at most a year but found {text:?}")),
            _ => Ok(every),
        }
    }

    /// Its usual length (a month as 30 days), for words such as "over 30 days".
    pub fn nominal(self) -> Millis {
        match self {
            Self::Days(days) => i64::from(days) * DAY,
            Self::Months(months) => i64::from(months) * 30 * DAY,
        }
    }
}

impl std::fmt::Display for Every {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Days(days) => write!(f, "{days}d"),
            Self::Months(months) => write!(f, "{months}M"),
        }
    }
}

/// A calendar-aligned window: periods starting at `start` in `zone`, one every `every`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calendar {
    /// The wall-clock start of one period (any one: periods repeat both ways).
    pub start: NaiveDateTime,
    /// The zone the wall clock is in.
    pub zone: Zone,
    /// How long each period lasts.
    pub every: Every,
}

impl Calendar {
    /// Reads a wall-clock start time: `2022-01-01T12:00:00`, or with a space as OpenSLO writes it
    /// (`2022-01-01 12:00:00`), seconds optional.
    ///
    /// # Errors
    /// Any other text, in words.
    pub fn parse_start(text: &str) -> Result<NaiveDateTime, String> {
        let text = text.trim();
        ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .ok_or_else(|| format!("expected a date and time without a zone such as 2022-01-01T12:00:00 but found {text:?}"))
    }

    /// The wall-clock start of the `n`th period from `start` (negative: before it).
    fn wall(&self, n: i64) -> Option<NaiveDateTime> {
        match self.every {
            Every::Days(days) => {
                let offset = n.unsigned_abs().checked_mul(u64::from(days))?;
                if n >= 0 { self.start.checked_add_days(Days::new(offset)) } else { self.start.checked_sub_days(Days::new(offset)) }
            }
            Every::Months(months) => {
                let offset = u32::try_from(n.unsigned_abs().checked_mul(u64::from(months))?).ok()?;
                if n >= 0 { self.start.checked_add_months(Months::new(offset)) } else { self.start.checked_sub_months(Months::new(offset)) }
            }
        }
    }

    /// The instant the `n`th period starts.
    fn nth(&self, n: i64) -> Option<Millis> {
        self.wall(n).map(|wall| self.zone.instant(wall))
    }

    /// The period holding `at`: `[start, end)` in UTC milliseconds.
    pub fn period(&self, at: Millis) -> (Millis, Millis) {
        let origin = self.zone.instant(self.start);
        // A first guess from the usual length, then a step either way until it holds `at` (a
        // month is 28 to 31 days, a DST change moves a start by an hour).
        let mut n = (at - origin).div_euclid(self.every.nominal().max(1));
        for _ in 0..64 {
            match (self.nth(n), self.nth(n + 1)) {
                (Some(from), _) if from > at => n -= 1,
                (_, Some(to)) if to <= at => n += 1,
                (Some(from), Some(to)) => return (from, to),
                _ => break,
            }
        }
        (at - self.every.nominal(), at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use pacer_engine::model::HOUR;

    fn utc(text: &str) -> Millis {
        Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("time")).timestamp_millis()
    }

    /// OpenSLO's example: weekly from Saturday 1 January 2022, 12:00 in New York.
    fn weekly() -> Calendar {
        Calendar { start: Calendar::parse_start("2022-01-01 12:00:00").expect("start"), zone: Zone::parse("America/New_York").expect("zone"), every: Every::parse("1w").expect("1w") }
    }

    #[test]
    fn a_weekly_period_starts_on_saturday_noon_new_york_time_on_both_sides_of_a_dst_change() {
        let calendar = weekly();
        // Noon in New York is 17:00 UTC in winter (EST) and 16:00 UTC in summer (EDT).
        assert_eq!(calendar.period(utc("2022-01-05 00:00")), (utc("2022-01-01 17:00"), utc("2022-01-08 17:00")));
        // Clocks went forward on Sunday 13 March 2022: that week is an hour short.
        let (from, to) = calendar.period(utc("2022-03-14 00:00"));
        assert_eq!((from, to), (utc("2022-03-12 17:00"), utc("2022-03-19 16:00")));
        assert_eq!(to - from, 7 * 24 * HOUR - HOUR);
        // Clocks went back on Sunday 6 November 2022: that week is an hour long.
        let (from, to) = calendar.period(utc("2022-11-06 12:00"));
        assert_eq!((from, to), (utc("2022-11-05 16:00"), utc("2022-11-12 17:00")));
        assert_eq!(to - from, 7 * 24 * HOUR + HOUR);
    }

    #[test]
    fn a_period_is_half_open_and_repeats_before_its_start_too() {
        let calendar = weekly();
        assert_eq!(calendar.period(utc("2022-01-08 17:00")).0, utc("2022-01-08 17:00"), "the start belongs to the new period");
        assert_eq!(calendar.period(utc("2022-01-08 17:00") - 1).0, utc("2022-01-01 17:00"));
        assert_eq!(calendar.period(utc("2021-12-31 00:00")), (utc("2021-12-25 17:00"), utc("2022-01-01 17:00")));
    }

    #[test]
    fn months_quarters_and_years_follow_the_calendar() {
        let utc_zone = Zone::utc();
        let monthly = Calendar { start: Calendar::parse_start("2026-01-31T00:00").expect("start"), zone: utc_zone, every: Every::Months(1) };
        assert_eq!(monthly.period(utc("2026-03-01 00:00")), (utc("2026-02-28 00:00"), utc("2026-03-31 00:00")), "the 31st falls on February's last day");
        let quarterly = Calendar { start: Calendar::parse_start("2026-01-01T00:00:00").expect("start"), zone: utc_zone, every: Every::parse("1Q").expect("1Q") };
        assert_eq!(quarterly.period(utc("2026-12-06 16:00")), (utc("2026-10-01 00:00"), utc("2027-01-01 00:00")));
        assert_eq!(Every::parse("1Y"), Ok(Every::Months(12)));
    }

    #[test]
    fn a_period_shorter_than_a_day_or_not_a_duration_is_refused_in_words() {
        assert!(Every::parse("1m").expect_err("minutes").contains("m is minutes"));
        for bad in ["", "w", "0w", "1.5d", "2Y", "400d", "1x"] {
            assert!(Every::parse(bad).is_err(), "{bad}");
        }
        assert!(Calendar::parse_start("2022-01-01T12:00:00Z").is_err(), "a zone belongs in the time zone setting");
        assert_eq!(Calendar::parse_start("2022-01-01T12:00"), Calendar::parse_start("2022-01-01 12:00:00"));
    }
}
