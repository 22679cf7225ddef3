//! The weekly report's sent-log: one row per (ISO week, team, recipient), sent at most once by
//! any number of scheduler ticks, restarts and replicas.
//!
//! It works like the rollback outbox ([`crate::outbox`]): rows are enqueued with `ON CONFLICT DO
//! NOTHING` on the `report_sends_once` key, so enqueueing a week again is a no-op; senders claim
//! due rows by setting a lease (`claimed_until`), on PostgreSQL with `FOR UPDATE SKIP LOCKED`, and
//! the claim re-checks the lease so a row is never claimed twice. A sender that dies mid-send
//! leaves an expired lease, and the row is claimed again — with the same `Message-ID`, so a mail
//! system that saw the first copy can drop the second. This module stores and claims; it does
//! not know what a report says or how mail is sent.

use pacer_engine::Millis;

use crate::{Result, Store, StoreError, with_pool};

/// A send to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSend {
    /// The ISO week, `2026-W47`.
    pub week: String,
    /// The team, or `*` for the report on every team.
    pub team: String,
    /// The recipient's address.
    pub recipient: String,
    /// The `Message-ID` every attempt carries.
    pub message_id: String,
}

/// A row of the sent-log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SendRow {
    /// The ISO week.
    pub week: String,
    /// The team, or `*`.
    pub team: String,
    /// The recipient.
    pub recipient: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (epoch ms).
    pub next_attempt_at: Millis,
    /// The `Message-ID`.
    pub message_id: String,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// When it was sent (epoch ms).
    pub sent_at: Option<Millis>,
}

/// What happened to a claimed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The SMTP server accepted the message.
    Sent,
    /// It failed for now; try again at this time.
    RetryAt(Millis, String),
    /// It failed for good (the server refused it, or attempts ran out).
    Failed(String),
}

impl Store {
    /// Enqueues sends due at `now`; a (week, team, recipient) already in the log is left as it
    /// is. Returns how many rows are new.
    ///
    /// # Errors
    /// The database failed; nothing is enqueued.
    pub async fn enqueue_sends(&self, sends: &[NewSend], now: Millis) -> Result<u64> {
        const SQL: &str = "INSERT INTO report_sends (week, team, recipient, state, next_attempt_at, message_id, created_at)
             VALUES ($1, $2, $3, 'pending', $4, $5, $4) ON CONFLICT DO NOTHING";
        let inserted = with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            let mut inserted = 0;
            for send in sends {
                inserted += sqlx::query(SQL)
                    .bind(&send.week)
                    .bind(&send.team)
                    .bind(&send.recipient)
                    .bind(now)
                    .bind(&send.message_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::classify)?
                    .rows_affected();
            }
            tx.commit().await.map_err(StoreError::classify)?;
            inserted
        });
        Ok(inserted)
    }

    /// Claims up to `limit` sends due at `now`, leasing them until `lease_until`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn claim_sends(&self, now: Millis, lease_until: Millis, limit: i64) -> Result<Vec<SendRow>> {
        const CLAIM_SQLITE: &str = "UPDATE report_sends SET claimed_until = $1
             WHERE (week, team, recipient) IN (SELECT week, team, recipient FROM report_sends
                          WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at LIMIT $3)
               AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING week, team, recipient, state, attempts, next_attempt_at, message_id, last_error, sent_at";
        const CLAIM_POSTGRES: &str = "UPDATE report_sends SET claimed_until = $1
             WHERE (week, team, recipient) IN (SELECT week, team, recipient FROM report_sends
                          WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
               AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING week, team, recipient, state, attempts, next_attempt_at, message_id, last_error, sent_at";
        let claim = match self {
            Self::Sqlite(..) => CLAIM_SQLITE,
            Self::Postgres(_) => CLAIM_POSTGRES,
        };
        let rows: Vec<SendRow> = with_pool!(self, pool => {
            sqlx::query_as(claim).bind(lease_until).bind(now).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// Records an attempt of a claimed send and releases its lease. A row that is no longer
    /// pending (another sender settled it after this one's lease ran out) is left as it is.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_send(&self, send: &SendRow, at: Millis, outcome: &SendOutcome) -> Result<()> {
        const SQL: &str = "UPDATE report_sends SET attempts = attempts + 1, state = $4, next_attempt_at = $5,
                 last_error = $6, sent_at = $7, claimed_until = NULL
             WHERE week = $1 AND team = $2 AND recipient = $3 AND state = 'pending'";
        let (state, next_at, error, sent_at) = match outcome {
            SendOutcome::Sent => ("sent", at, None, Some(at)),
            SendOutcome::RetryAt(when, error) => ("pending", *when, Some(error.as_str()), None),
            SendOutcome::Failed(error) => ("failed", at, Some(error.as_str()), None),
        };
        with_pool!(self, pool => {
            sqlx::query(SQL)
                .bind(&send.week)
                .bind(&send.team)
                .bind(&send.recipient)
                .bind(state)
                .bind(next_at)
                .bind(error)
                .bind(sent_at)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// The sent-log of one week, by team and recipient.
    ///
    /// # Errors
    /// The database failed.
    pub async fn sends(&self, week: &str) -> Result<Vec<SendRow>> {
        const SQL: &str = "SELECT week, team, recipient, state, attempts, next_attempt_at, message_id, last_error, sent_at
             FROM report_sends WHERE week = $1 ORDER BY team, recipient";
        let rows: Vec<SendRow> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(week).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }
}
