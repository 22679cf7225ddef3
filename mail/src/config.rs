//! The delivery settings of the weekly report, validated; the binary reads them from `[report]`.
//!
//! What the report says (time zone, subject, links) is `pacer_api::report::ReportSettings`; who
//! gets it, from whom, through which SMTP server and when is here.

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::Tokio1Executor;

use std::sync::Arc;

use pacer_api::config::ReportSettings;
use pacer_api::week::Zone;
use serde::Deserialize;

use crate::schedule::Schedule;

/// The team key of the report on every team, in the sent-log.
pub const EVERYONE: &str = "*";

/// How the weekly report is delivered.
#[derive(Clone)]
pub struct MailConfig {
    /// When it goes out.
    pub schedule: Schedule,
    /// The sender.
    pub from: Mailbox,
    /// `smtp://`, `smtp://…?tls=required` (STARTTLS), `smtps://`; may hold credentials.
    pub smtp_url: String,
    /// Who gets the report on every team.
    pub everyone: Vec<Mailbox>,
    /// Team → who gets that team's report.
    pub teams: BTreeMap<String, Vec<Mailbox>>,
    /// The first retry delay; it doubles on each attempt, up to [`MAX_RETRY`].
    pub retry: Duration,
    /// Attempts before a send is given up.
    pub max_attempts: u32,
}

impl std::fmt::Debug for MailConfig {
    /// Everything but the SMTP URL's password, which may be in it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("schedule", &self.schedule)
            .field("from", &self.from)
            .field("smtp_url", &pacer_store::redact(&self.smtp_url))
            .field("everyone", &self.everyone)
            .field("teams", &self.teams)
            .field("retry", &self.retry)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// The longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(3_600);

impl MailConfig {
    /// Every report of a week and its recipients: `(team key, recipients)`, the report on every
    /// team first.
    pub fn audiences(&self) -> Vec<(&str, &[Mailbox])> {
        let mut all = Vec::new();
        if !self.everyone.is_empty() {
            all.push((EVERYONE, self.everyone.as_slice()));
        }
        all.extend(self.teams.iter().filter(|(_, r)| !r.is_empty()).map(|(t, r)| (t.as_str(), r.as_slice())));
        all
    }

    /// The recipients of one report (`None`: the report on every team).
    pub fn recipients(&self, team: Option<&str>) -> &[Mailbox] {
        match team {
            None => &self.everyone,
            Some(team) => self.teams.get(team).map_or(&[], Vec::as_slice),
        }
    }
}

/// Parses an address, `ana@example.com` or `Ana <ana@example.com>`.
///
/// # Errors
/// Not an address, in words.
pub fn mailbox(text: &str) -> Result<Mailbox, String> {
    text.trim().parse::<Mailbox>().map_err(|e| format!("expected an email address such as \"Ana <ana@example.com>\" but found {text:?} ({e})"))
}

/// Checks an SMTP URL the way the transport will read it.
///
/// # Errors
/// A URL lettre cannot connect with, in words (without the URL, which may hold a password).
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err("expected smtp://host:port, smtp://user:pass@host:587?tls=required (STARTTLS) or smtps://user:pass@host:465".to_owned());
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map(drop).map_err(|e| format!("the SMTP URL is not usable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_of_every_kind_are_accepted() {
        for url in ["smtp://127.0.0.1:2525", "smtp://ana:s3cret@mail.example.com:587?tls=required", "smtps://ana:s3cret@mail.example.com", "smtp://mail.example.com?tls=opportunistic"] {
            assert_eq!(check_smtp_url(url), Ok(()), "{url}");
        }
        for url in ["http://mail.example.com", "smtp://mail.example.com?tls=sometimes", "mail.example.com:25"] {
            let error = check_smtp_url(url).expect_err(url);
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn debug_output_hides_the_smtp_password() {
        let config = MailConfig {
            schedule: Schedule::parse("Mon 09:00").expect("valid"),
            from: mailbox("pacer@example.com").expect("valid"),
            smtp_url: "smtps://ana:s3cret@mail.example.com".into(),
            everyone: Vec::new(),
            teams: BTreeMap::new(),
            retry: Duration::from_secs(60),
            max_attempts: 20,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret") && shown.contains("ana:***@mail.example.com"), "{shown}");
    }

    #[test]
    fn addresses_may_carry_a_name() {
        assert_eq!(mailbox("Ana <ana@example.com>").map(|m| m.email.to_string()), Ok("ana@example.com".to_owned()));
        assert!(mailbox("not an address").is_err());
    }
}

/// The mail keys of the configuration file: `[report]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailFile {
    /// `[report]`.
    #[serde(default)]
    pub report: ReportFile,
}

/// `[report]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFile {
    /// When the report is sent, such as `Mon 09:00`.
    pub schedule: Option<String>,
    /// The IANA time zone weeks and times are shown in.
    pub timezone: Option<String>,
    /// The sender.
    pub from: Option<String>,
    /// The SMTP server, `smtp://` or `smtps://`.
    pub smtp_url: Option<String>,
    /// Who receives the report on every team.
    pub recipients: Option<Vec<String>>,
    #[serde(default)]
    /// Team → who receives that team's report.
    pub teams: BTreeMap<String, Vec<String>>,
    /// The subject, with `{team}` and `{week}` replaced.
    pub subject: Option<String>,
    /// pacer's public address, for links.
    pub base_url: Option<String>,
    /// Grafana's public address, for a link to the dashboards.
    pub grafana_url: Option<String>,
    /// The wait before a failed send is tried again.
    pub retry_secs: Option<u64>,
    /// Give up on a send after this many attempts.
    pub max_attempts: Option<u32>,
}

impl MailFile {
    /// Validates `[report]`, adding every problem to `errors`: what shapes the report (for the
    /// API) and how it is delivered (for the mailer, only when an SMTP URL is set).
    pub fn validate(self, errors: &mut Vec<String>) -> (ReportSettings, Option<Arc<MailConfig>>) {
    let f = self.report;
        let mut settings = ReportSettings::default();
        if let Some(name) = &f.timezone {
            match Zone::parse(name) {
                Ok(zone) => settings.zone = zone,
                Err(e) => errors.push(format!("report.timezone: {e}")),
            }
        }
        if let Some(subject) = f.subject {
            if subject.trim().is_empty() || subject.contains(['\r', '\n']) {
                errors.push("report.subject: expected one line of text, such as \"pacer weekly: {team} {week}\"".to_owned());
            }
            settings.subject = subject;
        }
        for (name, url, slot) in [("base_url", f.base_url, &mut settings.base_url), ("grafana_url", f.grafana_url, &mut settings.grafana_url)] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    errors.push(format!("report.{name}: expected an http:// or https:// URL but found {url:?}"));
                }
                *slot = Some(url);
            }
        }
        let schedule = Schedule::parse(f.schedule.as_deref().unwrap_or("Mon 09:00")).map_err(|e| errors.push(format!("report.schedule: {e}"))).ok();
        let mut addresses = |at: String, list: Vec<String>| -> Vec<Mailbox> {
            list.iter().filter_map(|text| mailbox(text).map_err(|e| errors.push(format!("{at}: {e}"))).ok()).collect()
        };
        let everyone = addresses("report.recipients".to_owned(), f.recipients.unwrap_or_default());
        let teams: BTreeMap<String, Vec<Mailbox>> = f.teams.into_iter().map(|(team, list)| (team.clone(), addresses(format!("report.teams.{team}"), list))).collect();
        let from = f.from.as_deref().map(|text| mailbox(text).map_err(|e| errors.push(format!("report.from: {e}"))).ok());
        let retry = f.retry_secs.unwrap_or(60);
        if !(1..=3_600).contains(&retry) {
            errors.push(format!("report.retry_secs: expected 1 to 3600 but found {retry}"));
        }
        let max_attempts = f.max_attempts.unwrap_or(20);
        if !(1..=100).contains(&max_attempts) {
            errors.push(format!("report.max_attempts: expected 1 to 100 but found {max_attempts}"));
        }
        let anyone = !everyone.is_empty() || teams.values().any(|r| !r.is_empty());
        let Some(smtp_url) = f.smtp_url else {
            if anyone {
                errors.push("report.smtp_url: expected an SMTP URL (or PACER_REPORT_SMTP_URL) to send the report to its recipients".to_owned());
            }
            return (settings, None);
        };
        if let Err(e) = check_smtp_url(&smtp_url) {
            errors.push(format!("report.smtp_url: {e}"));
        }
        if !anyone {
            errors.push("report: expected recipients or [report.teams] beside smtp_url; nobody would receive the report".to_owned());
        }
        let from = match from {
            Some(from) => from,
            None => {
                errors.push("report.from: expected the sender's address, such as \"pacer <pacer@example.com>\"".to_owned());
                None
            }
        };
        let (Some(schedule), Some(from)) = (schedule, from) else { return (settings, None) };
        let config = MailConfig { schedule, from, smtp_url, everyone, teams, retry: Duration::from_secs(retry.clamp(1, 3_600)), max_attempts: max_attempts.clamp(1, 100) };
        (settings, Some(Arc::new(config)))
    }
}
