//! When the weekly report goes out: a cron expression, or the shorthand `Mon 09:00`, evaluated
//! in the report's time zone.
//!
//! Cron expressions have five fields, or six with seconds first (`0 0 9 * * MON`); croner reads
//! them (POSIX weekdays, `L`, `#`, ranges, names). The shorthand is `<weekday> <HH:MM>`. This
//! module only computes instants; the mailer decides what to do at them.

use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use pacer_api::week::Zone;
use pacer_engine::Millis;

/// A parsed schedule.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.text).finish()
    }
}

impl Schedule {
    /// Parses a cron expression or `Mon 09:00`.
    ///
    /// # Errors
    /// Neither form, in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let pattern = shorthand(trimmed).unwrap_or_else(|| trimmed.to_owned());
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(&pattern)
            .map_err(|e| format!("expected a cron expression such as \"0 9 * * MON\" or a day and time such as \"Mon 09:00\" but found {trimmed:?} ({e})"))?;
        Ok(Self { text: trimmed.to_owned(), cron })
    }

    /// The schedule as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first instant strictly after `at`, in `zone`.
    pub fn next_after(&self, at: Millis, zone: &Zone) -> Option<Millis> {
        self.cron.find_next_occurrence(&zone.zoned(at), false).ok().map(|t| t.timestamp_millis())
    }

    /// The last instant at or before `at`, in `zone`.
    pub fn latest_until(&self, at: Millis, zone: &Zone) -> Option<Millis> {
        self.cron.find_previous_occurrence(&zone.zoned(at), true).ok().map(|t| t.timestamp_millis())
    }
}

/// `Mon 09:00` → `0 9 * * MON`; `None` when `text` is not of that form.
fn shorthand(text: &str) -> Option<String> {
    const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let (day, time) = text.split_once(char::is_whitespace)?;
    let day = day.get(..3)?.to_ascii_uppercase();
    let day = DAYS.iter().find(|d| **d == day)?;
    let (hour, minute) = time.trim().split_once(':')?;
    let (hour, minute): (u8, u8) = (hour.parse().ok()?, minute.parse().ok()?);
    (hour < 24 && minute < 60).then(|| format!("{minute} {hour} * * {day}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(text).expect("valid").timestamp_millis()
    }

    #[test]
    fn the_shorthand_is_a_weekly_cron() {
        assert_eq!(shorthand("Mon 09:00").as_deref(), Some("0 9 * * MON"));
        assert_eq!(shorthand("friday 17:30").as_deref(), Some("30 17 * * FRI"));
        assert_eq!(shorthand("Mon 25:00"), None);
        assert_eq!(shorthand("0 9 * * MON"), None);
    }

    #[test]
    fn monday_nine_is_nine_in_the_zone() {
        let berlin = Zone::parse("Europe/Berlin").expect("zone");
        let schedule = Schedule::parse("Mon 09:00").expect("valid");
        // From Sunday 2026-11-22 12:00 UTC, the next Monday 09:00 in Berlin is 08:00 UTC.
        assert_eq!(schedule.next_after(at("2026-11-22T12:00:00Z"), &berlin), Some(at("2026-11-23T08:00:00Z")));
        assert_eq!(schedule.latest_until(at("2026-11-23T08:00:00Z"), &berlin), Some(at("2026-11-23T08:00:00Z")));
        let cron = Schedule::parse("0 9 * * 1").expect("valid");
        assert_eq!(cron.next_after(at("2026-11-22T12:00:00Z"), &Zone::utc()), Some(at("2026-11-23T09:00:00Z")));
    }

    #[test]
    fn six_fields_count_seconds() {
        let every_second = Schedule::parse("* * * * * *").expect("valid");
        assert_eq!(every_second.next_after(at("2026-11-22T12:00:00Z"), &Zone::utc()), Some(at("2026-11-22T12:00:01Z")));
    }

    #[test]
    fn nonsense_is_refused_with_both_forms_named() {
        let error = Schedule::parse("every monday").expect_err("invalid");
        assert!(error.contains("Mon 09:00") && error.contains("every monday"), "{error}");
    }
}
