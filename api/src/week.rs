//! ISO weeks in a time zone: what `2026-W47` means for the weekly report.
//!
//! A week runs from Monday 00:00 to the next Monday 00:00 in the report's IANA time zone (UTC
//! when none is configured), converted to UTC milliseconds for the engine, whose windows are
//! half-open `[from, to)`. When a Monday midnight does not exist in a zone (a DST gap), the week
//! starts at the first instant after it; when it exists twice, at the first. The time-zone
//! database is chrono-tz's, compiled into the binary, so a slim container without `tzdata` still
//! knows every zone. This module only does calendar arithmetic; what a report says is `report`'s.

use std::fmt;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use pacer_engine::Millis;

/// An IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    tz: Tz,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Self {
        Self { tz: chrono_tz::UTC }
    }

    /// Looks up an IANA name (`Europe/Berlin`).
    ///
    /// # Errors
    /// A name the time-zone database does not hold, in words.
    pub fn parse(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("utc") {
            return Ok(Self::utc());
        }
        name.parse::<Tz>()
            .map(|tz| Self { tz })
            .map_err(|_| format!("expected an IANA time zone such as Europe/Berlin or UTC but found {name:?}"))
    }

    /// Its IANA name.
    pub fn name(&self) -> &'static str {
        self.tz.name()
    }

    /// `at` in this zone.
    pub fn zoned(&self, at: Millis) -> DateTime<Tz> {
        Utc.timestamp_millis_opt(at).single().unwrap_or_default().with_timezone(&self.tz)
    }

    /// `at` in this zone, written with a `strftime` format.
    pub fn format(&self, at: Millis, format: &str) -> String {
        self.zoned(at).format(format).to_string()
    }

    /// The first instant of `date` in this zone.
    fn midnight(&self, date: NaiveDate) -> Millis {
        self.instant(date.and_time(NaiveTime::MIN))
    }

    /// The instant a wall-clock time of this zone names: the first of two when clocks go back,
    /// the first instant after it when clocks skip it.
    pub fn instant(&self, wall: NaiveDateTime) -> Millis {
        let mut local = wall;
        // A DST gap swallows at most a few hours; the first local time that exists after the
        // wall-clock time is the instant meant.
        for _ in 0..=24 * 60 {
            match self.tz.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.timestamp_millis(),
                LocalResult::None => local += chrono::Duration::minutes(1),
            }
        }
        wall.and_utc().timestamp_millis()
    }
}

/// An ISO 8601 week: Monday to Sunday, numbered 1 to 52 or 53 within its ISO year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Week {
    monday: NaiveDate,
}

impl Week {
    /// Parses `2026-W47` (also `2026W47`, lower-case `w`).
    ///
    /// # Errors
    /// Anything else, or a week the year does not have, in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || format!("expected an ISO week such as 2026-W47 but found {text:?}");
        let upper = text.trim().to_ascii_uppercase();
        let (year, week) = upper.split_once('W').ok_or_else(expected)?;
        let year = year.strip_suffix('-').unwrap_or(year);
        if year.len() != 4 || week.len() != 2 || !year.bytes().chain(week.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(expected());
        }
        let (year, week): (i32, u32) = (year.parse().map_err(|_| expected())?, week.parse().map_err(|_| expected())?);
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|monday| Self { monday })
            .ok_or_else(|| format!("expected a week that {year} has (1 to 52, or 53 in long years) but found week {week}"))
    }

    /// The week holding `at` in `zone`.
    pub fn containing(at: Millis, zone: &Zone) -> Self {
        let date = zone.zoned(at).date_naive();
        let monday = date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday()))).unwrap_or(date);
        Self { monday }
    }

    /// The last week that had ended by `at` in `zone`: on Monday morning, last week.
    pub fn ended_by(at: Millis, zone: &Zone) -> Self {
        Self::containing(at, zone).back(1)
    }

    /// The week `weeks` weeks before this one.
    pub fn back(self, weeks: u32) -> Self {
        Self { monday: self.monday.checked_sub_days(Days::new(7 * u64::from(weeks))).unwrap_or(self.monday) }
    }

    /// Its number within its ISO year (1 to 53).
    pub fn number(self) -> u32 {
        self.monday.iso_week().week()
    }

    /// `[Monday 00:00, next Monday 00:00)` in `zone`, as UTC milliseconds.
    pub fn bounds(self, zone: &Zone) -> (Millis, Millis) {
        let next = self.monday.checked_add_days(Days::new(7)).unwrap_or(self.monday);
        (zone.midnight(self.monday), zone.midnight(next))
    }

    /// Its days for people: `Mon 16 Nov – Sun 22 Nov 2026`.
    pub fn days(self) -> String {
        let sunday = self.monday.checked_add_days(Days::new(6)).unwrap_or(self.monday);
        format!("{} – {}", self.monday.format("%a %d %b"), sunday.format("%a %d %b %Y"))
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = self.monday.iso_week();
        write!(f, "{:04}-W{:02}", iso.year(), iso.week())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Millis {
        DateTime::parse_from_rfc3339(text).expect("valid").timestamp_millis()
    }

    #[test]
    fn weeks_parse_and_print_back() {
        for text in ["2026-W47", "2026-W01", "2020-W53"] {
            assert_eq!(Week::parse(text).expect(text).to_string(), text);
        }
        assert_eq!(Week::parse("2026w47").map(|w| w.to_string()), Ok("2026-W47".to_owned()));
        for bad in ["2026-47", "2026-W", "26-W47", "2026-W00", "2026-W54", "2026-W7", "2026-W47x", ""] {
            assert!(Week::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let long = Week::parse("2025-W53").expect_err("2025 has 52 weeks");
        assert!(long.contains("53"), "{long}");
    }

    #[test]
    fn a_week_runs_from_monday_midnight_in_its_zone() {
        let week = Week::parse("2026-W47").expect("valid");
        assert_eq!(week.bounds(&Zone::utc()), (at("2026-11-16T00:00:00Z"), at("2026-11-23T00:00:00Z")));
        let berlin = Zone::parse("Europe/Berlin").expect("known zone");
        assert_eq!(week.bounds(&berlin), (at("2026-11-15T23:00:00Z"), at("2026-11-22T23:00:00Z")));
        assert_eq!(week.days(), "Mon 16 Nov – Sun 22 Nov 2026");
    }

    #[test]
    fn a_week_across_a_dst_change_is_an_hour_short() {
        // Berlin springs forward on Sunday 2026-03-29.
        let (from, to) = Week::parse("2026-W13").expect("valid").bounds(&Zone::parse("Europe/Berlin").expect("zone"));
        assert_eq!(to - from, 7 * 86_400_000 - 3_600_000);
    }

    #[test]
    fn the_week_that_ended_is_last_week_until_monday_midnight_local() {
        let berlin = Zone::parse("Europe/Berlin").expect("zone");
        // Monday 2026-11-23 00:30 in Berlin is Sunday 23:30 UTC.
        assert_eq!(Week::ended_by(at("2026-11-22T23:30:00Z"), &berlin).to_string(), "2026-W47");
        assert_eq!(Week::ended_by(at("2026-11-22T23:30:00Z"), &Zone::utc()).to_string(), "2026-W46");
        // The ISO year differs from the calendar year around New Year.
        assert_eq!(Week::containing(at("2027-01-01T12:00:00Z"), &Zone::utc()).to_string(), "2026-W53");
    }

    #[test]
    fn a_midnight_lost_to_dst_starts_the_day_at_the_first_instant_after_it() {
        // Santiago springs forward at 00:00 on Sunday 2026-09-06: that day begins at 01:00 -03.
        let santiago = Zone::parse("America/Santiago").expect("zone");
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).expect("date");
        assert_eq!(santiago.midnight(day), at("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn unknown_zones_are_named_in_the_error() {
        assert!(Zone::parse("Mars/Olympus").expect_err("unknown").contains("Mars/Olympus"));
        assert_eq!(Zone::parse("utc").expect("utc").name(), "UTC");
    }
}
