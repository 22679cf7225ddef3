//! The mailer: at each scheduled instant it enqueues the week's reports in the sent-log, and it
//! sends whatever is due, retrying with exponential backoff while the SMTP server is down.
//!
//! Exactly once comes from the store, not from this process: enqueueing a (week, team,
//! recipient) that is already logged does nothing, and a due send is claimed with a lease before
//! it is sent, so scheduler ticks, restarts and replicas on one PostgreSQL never send twice. The
//! one window left is a crash between the SMTP server's acceptance and the log's update: the
//! lease expires and the send is repeated, with the same `Message-ID`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Tokio1Executor};
use pacer_api::AppState;
use pacer_api::report::{self, Embed, Letter};
use pacer_api::week::Week;
use pacer_engine::Millis;
use pacer_store::{NewSend, SendOutcome, SendRow, StoreError};
use sha2::{Digest, Sha256};

use crate::config::{EVERYONE, MAX_RETRY, MailConfig};
use crate::message;

/// How often due sends and the schedule are looked at.
const POLL: Duration = Duration::from_secs(1);
/// A scheduled instant missed by less than this (pacer was down) still sends when pacer starts.
const CATCH_UP: Millis = 24 * 3_600_000;
/// How long a claimed send is leased: longer than gathering a report and an SMTP timeout.
const LEASE: Millis = 5 * 60_000;
/// Sends claimed at once.
const BATCH: i64 = 16;
/// How long to wait for the SMTP server at each step.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the weekly reports.
#[derive(Clone)]
pub struct Mailer {
    state: AppState,
    config: Arc<MailConfig>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("schedule", &self.config.schedule).finish_non_exhaustive()
    }
}

/// Why a report could not be written.
enum Unwritten {
    /// Try again later.
    Transient(String),
    /// It never will be.
    Permanent(String),
}

/// What [`Mailer::deliver_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Messages the SMTP server accepted.
    pub sent: usize,
    /// Attempts that failed and will be retried.
    pub retrying: usize,
    /// Sends given up.
    pub failed: usize,
}

impl Mailer {
    /// A mailer for `state`'s store and report settings.
    ///
    /// # Errors
    /// An SMTP URL the transport cannot use.
    pub fn new(state: AppState, config: Arc<MailConfig>) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| format!("the SMTP URL is not usable: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self { state, config, transport })
    }

    /// Enqueues the reports of `week`: every configured report, or only `team`'s (`Some(None)`:
    /// only the report on every team). Returns how many sends are new.
    ///
    /// # Errors
    /// The database failed.
    pub async fn enqueue(&self, week: Week, only: Option<Option<&str>>, now: Millis) -> Result<u64, StoreError> {
        let domain = self.config.from.email.domain().to_owned();
        let label = week.to_string();
        let mut sends = Vec::new();
        for (team, recipients) in self.config.audiences() {
            let chosen = match only {
                None => true,
                Some(None) => team == EVERYONE,
                Some(Some(name)) => team == name,
            };
            if !chosen {
                continue;
            }
            for recipient in recipients {
                let address = key(recipient);
                let message_id = format!("<pacer.{label}.{}@{domain}>", digest(&[&label, team, &address]));
                sends.push(NewSend { week: label.clone(), team: team.to_owned(), recipient: address, message_id });
            }
        }
        self.state.store.enqueue_sends(&sends, now).await
    }

    /// Claims and sends every due send.
    ///
    /// # Errors
    /// The database failed (a failed send is recorded and retried, not an error).
    pub async fn deliver_due(&self) -> Result<Delivered, StoreError> {
        let mut done = Delivered::default();
        loop {
            let now = pacer_api::now();
            let claimed = self.state.store.claim_sends(now, now + LEASE, BATCH).await?;
            if claimed.is_empty() {
                return Ok(done);
            }
            // One report per (week, team), however many recipients it has.
            let mut reports: BTreeMap<(String, String), Vec<SendRow>> = BTreeMap::new();
            for row in claimed {
                reports.entry((row.week.clone(), row.team.clone())).or_default().push(row);
            }
            for ((week, team), rows) in reports {
                let letter = self.letter(&week, &team).await;
                for row in rows {
                    let outcome = match &letter {
                        Ok(letter) => self.send(letter, &row).await,
                        Err(why) => self.unwritten(&row, why),
                    };
                    let counted = match &outcome {
                        SendOutcome::Sent => (&mut done.sent, "sent"),
                        SendOutcome::RetryAt(..) => (&mut done.retrying, "retry"),
                        SendOutcome::Failed(_) => (&mut done.failed, "failed"),
                    };
                    *counted.0 += 1;
                    self.state.telemetry.report_send(counted.1);
                    log(&row, &outcome);
                    self.state.store.record_send(&row, pacer_api::now(), &outcome).await?;
                }
            }
        }
    }

    /// Writes the report of a logged (week, team). A server error (database, Prometheus) is
    /// worth retrying; a report that cannot exist — a team no longer known — is not.
    async fn letter(&self, week: &str, team: &str) -> Result<Letter, Unwritten> {
        let week = Week::parse(week).map_err(Unwritten::Permanent)?;
        let team = (team != EVERYONE).then_some(team);
        report::write(&self.state, week, team, Embed::ContentId).await.map_err(|problem| {
            if problem.status >= 500 { Unwritten::Transient(format!("the report could not be written: {}", problem.detail)) } else { Unwritten::Permanent(problem.detail) }
        })
    }

    fn unwritten(&self, row: &SendRow, why: &Unwritten) -> SendOutcome {
        match why {
            Unwritten::Transient(error) => self.retry(row, error.clone()),
            Unwritten::Permanent(error) => SendOutcome::Failed(error.clone()),
        }
    }

    /// Retries after the backoff, or gives up once attempts are spent.
    fn retry(&self, row: &SendRow, error: String) -> SendOutcome {
        let attempt = row.attempts + 1;
        if attempt >= i64::from(self.config.max_attempts) {
            return SendOutcome::Failed(format!("{error} (gave up after {attempt} attempts)"));
        }
        SendOutcome::RetryAt(pacer_api::now() + backoff(self.config.retry, attempt), error)
    }

    async fn send(&self, letter: &Letter, row: &SendRow) -> SendOutcome {
        // The configured mailbox keeps its display name; an address no longer configured is
        // still sent to, since it was logged.
        let to = self.config.audiences().into_iter().flat_map(|(_, r)| r).find(|m| key(m) == row.recipient).cloned();
        let to = match to.map_or_else(|| crate::config::mailbox(&row.recipient), Ok) {
            Ok(to) => to,
            Err(error) => return SendOutcome::Failed(error),
        };
        let message = match message::build(letter, &self.config.from, &[to], &row.message_id) {
            Ok(message) => message,
            Err(error) => return SendOutcome::Failed(error),
        };
        match self.transport.send(message).await {
            Ok(_) => SendOutcome::Sent,
            Err(e) if e.is_permanent() => SendOutcome::Failed(format!("the SMTP server refused the message: {e}")),
            Err(e) => self.retry(row, format!("the SMTP server is unavailable: {e}")),
        }
    }

    /// Enqueues at every scheduled instant and sends what is due, until `shutdown`; a send in
    /// progress is finished first. An instant missed by less than a day while pacer was down is
    /// caught up at start.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let zone = self.state.config.report.zone;
        let schedule = &self.config.schedule;
        let start = pacer_api::now();
        let mut due = match schedule.latest_until(start, &zone) {
            Some(missed) if start - missed <= CATCH_UP => Some(missed),
            _ => schedule.next_after(start, &zone),
        };
        tracing::info!(schedule = schedule.text(), zone = zone.name(), "weekly report scheduled");
        loop {
            let now = pacer_api::now();
            if let Some(at) = due.filter(|at| *at <= now) {
                let week = Week::ended_by(at, &zone);
                // The week's digest for chat, at the same instant; recorded once per team however
                // many replicas reach this.
                if let Err(problem) = report::record_digests(&self.state, week, now).await {
                    tracing::warn!(week = %week, detail = problem.detail, "recording the weekly digest for chat failed");
                }
                match self.enqueue(week, None, now).await {
                    Ok(new) => {
                        if new > 0 {
                            tracing::info!(week = %week, sends = new, "weekly reports queued");
                        }
                        due = schedule.next_after(now.max(at), &zone);
                    }
                    // Kept due: the next poll tries again.
                    Err(error) => tracing::warn!(error = %error, "queueing the weekly reports failed"),
                }
            }
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(error = %error, "sending the weekly reports failed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = &mut shutdown => break,
            }
        }
    }
}

fn log(row: &SendRow, outcome: &SendOutcome) {
    let (week, team, recipient, attempt) = (&row.week, &row.team, &row.recipient, row.attempts + 1);
    match outcome {
        SendOutcome::Sent => tracing::info!(week, team, recipient, attempt, "weekly report sent"),
        SendOutcome::RetryAt(_, error) => tracing::warn!(week, team, recipient, attempt, error, "weekly report will be retried"),
        SendOutcome::Failed(error) => tracing::error!(week, team, recipient, attempt, error, "weekly report given up"),
    }
}

/// The sent-log's key for a recipient: the address, lower-cased (a new display name is not a
/// new recipient).
fn key(mailbox: &Mailbox) -> String {
    mailbox.email.to_string().to_lowercase()
}

/// 16 hex digits identifying `parts`.
fn digest(parts: &[&str]) -> String {
    let hash = Sha256::digest(parts.join("\n").as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `base × 2^(attempt − 1)`, at most [`MAX_RETRY`].
fn backoff(base: Duration, attempt: i64) -> Millis {
    let exponent = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    let base = i64::try_from(base.as_millis()).unwrap_or(60_000);
    base.saturating_mul(1 << exponent).min(MAX_RETRY.as_millis() as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(60);
        assert_eq!(backoff(base, 1), 60_000);
        assert_eq!(backoff(base, 3), 240_000);
        assert_eq!(backoff(base, 12), 3_600_000);
    }

    #[test]
    fn recipients_are_keyed_by_address_alone() {
        let named: Mailbox = "Ana <Ana@Example.com>".parse().expect("address");
        assert_eq!(key(&named), "ana@example.com");
        assert_eq!(digest(&["2026-W47", "*", "ana@example.com"]).len(), 16);
        assert_ne!(digest(&["2026-W47", "*", "ana@example.com"]), digest(&["2026-W48", "*", "ana@example.com"]));
    }
}
