//! Change freezes: the `[[freeze]]` windows in which the deploy gate halts every rollout it is
//! asked about — a weekly window in a time zone (Friday 16:00 to Monday 08:00 in Europe/Berlin),
//! or a one-off window between two instants (the year-end holidays).
//!
//! This module only says whether a window covers an instant, a service and an environment; the
//! gate ([`super::verdict`]) turns an active freeze into a reason.

use chrono::{Datelike, Timelike, Weekday};
use pacer_engine::Millis;
use pacer_engine::calendar::rfc3339;

use crate::week::Zone;

/// Minutes in a week.
const WEEK_MINUTES: u32 = 7 * 24 * 60;

/// One `[[freeze]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    /// Its name, shown in the gate's reasons.
    pub name: String,
    /// Why there is a freeze, for people reading the answer.
    pub reason: Option<String>,
    /// The services it holds; empty for every service.
    pub services: Vec<String>,
    /// The environments it holds; empty for every environment.
    pub environments: Vec<String>,
    /// When it holds.
    pub window: Window,
}

/// When a freeze holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// Every week from `from` to `to` (minutes since Monday 00:00) in `zone`; a window whose end
    /// comes before its start runs over the week's turn (Friday to Monday).
    Weekly {
        /// The zone the times are read in.
        zone: Zone,
        /// Start, in minutes since Monday 00:00.
        from: u32,
        /// End (excluded), in minutes since Monday 00:00.
        to: u32,
    },
    /// Once, over `[starts_at, ends_at)`.
    Once {
        /// First instant.
        starts_at: Millis,
        /// First instant after it.
        ends_at: Millis,
    },
}

impl Freeze {
    /// Whether the freeze holds `service` in `environment` at `at`.
    pub fn holds(&self, service: &str, environment: &str, at: Millis) -> bool {
        let covers = |list: &[String], name: &str| list.is_empty() || list.iter().any(|n| n == name);
        covers(&self.services, service) && covers(&self.environments, environment) && self.window.active_at(at)
    }

    /// The window in words, for the gate's reasons (`Fri 16:00 to Mon 08:00 Europe/Berlin`).
    pub fn describe(&self) -> String {
        match &self.window {
            Window::Weekly { zone, from, to } => format!("{} to {} {}", week_time(*from), week_time(*to), zone.name()),
            Window::Once { starts_at, ends_at } => format!("{} to {}", rfc3339(*starts_at), rfc3339(*ends_at)),
        }
    }
}

impl Window {
    /// Whether the window covers `at`.
    pub fn active_at(&self, at: Millis) -> bool {
        match self {
            Self::Once { starts_at, ends_at } => *starts_at <= at && at < *ends_at,
            Self::Weekly { zone, from, to } => {
                let local = zone.zoned(at);
                let minute = local.weekday().num_days_from_monday() * 24 * 60 + local.hour() * 60 + local.minute();
                if from <= to { *from <= minute && minute < *to } else { minute >= *from || minute < *to }
            }
        }
    }
}

/// Reads `Fri 16:00` (a day as `Fri` or `Friday`, any case, and a 24-hour time) as minutes since
/// Monday 00:00.
///
/// # Errors
/// Text of another shape, in words.
pub fn parse_week_time(text: &str) -> Result<u32, String> {
    let expected = || format!("expected a day and a time such as \"Fri 16:00\" but found {text:?}");
    let (day, time) = text.trim().split_once(' ').ok_or_else(expected)?;
    let day: Weekday = day.parse().map_err(|_| expected())?;
    let (hours, minutes) = time.trim().split_once(':').ok_or_else(expected)?;
    let (hours, minutes): (u32, u32) = (hours.parse().map_err(|_| expected())?, minutes.parse().map_err(|_| expected())?);
    if hours > 23 || minutes > 59 {
        return Err(expected());
    }
    Ok((day.num_days_from_monday() * 24 * 60 + hours * 60 + minutes) % WEEK_MINUTES)
}

/// Minutes since Monday 00:00 as `Fri 16:00`.
fn week_time(minutes: u32) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let day = DAYS[(minutes / (24 * 60)) as usize % 7];
    format!("{day} {:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).unwrap_or_default()
    }

    fn weekend(zone: &str) -> Freeze {
        let zone = Zone::parse(zone).unwrap_or_else(|_| Zone::utc());
        let (from, to) = (parse_week_time("Fri 16:00").unwrap_or_default(), parse_week_time("mon 08:00").unwrap_or_default());
        Freeze { name: "weekend".into(), reason: None, services: vec![], environments: vec!["production".into()], window: Window::Weekly { zone, from, to } }
    }

    #[test]
    fn a_weekly_freeze_runs_over_the_weeks_turn_in_its_zone() {
        let freeze = weekend("Europe/Berlin");
        // 2026-12-04 is a Friday; Berlin is UTC+1 in December.
        assert!(!freeze.holds("api", "production", at("2026-12-04T14:59:00Z")), "Friday 15:59 Berlin is before the freeze");
        assert!(freeze.holds("api", "production", at("2026-12-04T15:00:00Z")), "Friday 16:00 Berlin starts it");
        assert!(freeze.holds("api", "production", at("2026-12-06T12:00:00Z")), "Sunday is inside");
        assert!(freeze.holds("api", "production", at("2026-12-07T06:59:00Z")), "Monday 07:59 Berlin is inside");
        assert!(!freeze.holds("api", "production", at("2026-12-07T07:00:00Z")), "Monday 08:00 Berlin ends it");
        assert!(!freeze.holds("api", "staging", at("2026-12-06T12:00:00Z")), "another environment is not held");
        assert_eq!(freeze.describe(), "Fri 16:00 to Mon 08:00 Europe/Berlin");
    }

    #[test]
    fn a_weekly_window_within_the_week_and_a_one_off_window() {
        let zone = Zone::utc();
        let daily = Window::Weekly { zone, from: parse_week_time("Wed 09:00").unwrap_or_default(), to: parse_week_time("Wed 10:00").unwrap_or_default() };
        assert!(daily.active_at(at("2026-12-02T09:30:00Z")), "Wednesday 09:30 UTC is inside");
        assert!(!daily.active_at(at("2026-12-03T09:30:00Z")), "Thursday is not");
        let once = Window::Once { starts_at: at("2026-12-23T00:00:00Z"), ends_at: at("2027-01-02T00:00:00Z") };
        assert!(once.active_at(at("2026-12-31T12:00:00Z")), "new year's eve is inside the holiday freeze");
        assert!(!once.active_at(at("2027-01-02T00:00:00Z")), "the end is excluded");
    }

    #[test]
    fn week_times_are_read_strictly() {
        assert_eq!(parse_week_time("Mon 00:00"), Ok(0));
        assert_eq!(parse_week_time("Sun 23:59"), Ok(WEEK_MINUTES - 1));
        for bad in ["Friday", "Fri 25:00", "Fri 16", "Xyz 10:00", ""] {
            assert!(parse_week_time(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
