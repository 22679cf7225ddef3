//! Chat notifications' outbox: what happened (deployments and incidents from the change log,
//! rollbacks by their activity) and the messages about it, stored once per event and destination
//! and claimed with leases; and the events that are not facts (SLO burns, gate halts, weekly
//! digests), recorded once by key, or once per open episode.
//!
//! It works like the rollback outbox ([`crate::outbox`]) and the report's sent-log
//! ([`crate::sends`]): messages are inserted with `ON CONFLICT DO NOTHING` on the
//! `chat_messages_once` key, so any number of replicas noticing the same event insert one row;
//! senders claim due rows by setting a lease (`claimed_until`), on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, and the claim re-checks the lease so a row is never claimed twice.
//! The outcome of an attempt is the rollback outbox's [`Next`]. This module stores and claims; it
//! does not know what a message says or where it goes.

use pacer_engine::Millis;
use pacer_engine::model::{Deployment, Incident};

use crate::change_log::keys;
use crate::history::{DeploymentTuple, IncidentTuple, deployment, deployment_columns, incident, incident_columns};
use crate::outbox::{RollbackTuple, rollback, rollback_columns};
use crate::{Next, Result, RollbackRow, Store, StoreError, in_list, with_pool, with_writer};

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The event it tells of, unique per destination: `deployment.succeeded:<id>`.
    pub event_key: String,
    /// The event kind, `deployment.succeeded`.
    pub event: String,
    /// The destination's name.
    pub destination: String,
    /// The id every attempt carries.
    pub message_id: String,
    /// The service the event is about.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// The JSON body to send.
    pub body: String,
}

/// A message a sender has claimed, or one listed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct MessageRow {
    /// Row id.
    pub id: i64,
    /// The event it tells of.
    pub event_key: String,
    /// The event kind.
    pub event: String,
    /// The destination's name.
    pub destination: String,
    /// The id every attempt carries.
    pub message_id: String,
    /// The service.
    pub service: String,
    /// Its environment.
    pub environment: String,
    /// The JSON body.
    #[serde(skip)]
    pub body: String,
    /// `pending`, `delivered`, `failed` or `gone`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (epoch ms).
    pub next_attempt_at: Millis,
    /// When it was delivered (epoch ms).
    pub delivered_at: Option<Millis>,
    /// The HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// What went wrong last.
    pub last_error: Option<String>,
}

/// An event recorded for chat that is not a fact: an SLO burn, a gate halt, a weekly digest.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChatEventRow {
    /// Its key, unique among every event: `gate.halted:<answer id>`.
    pub event_key: String,
    /// Its kind, `gate.halted`.
    pub kind: String,
    /// The service (empty for a digest).
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The team, when it is a team's.
    pub team: Option<String>,
    /// When it happened (epoch ms).
    pub at: Millis,
    /// What it tells, as JSON.
    pub subject: String,
    /// What lasts while it holds (`slo.page:<slo>`): no second event of an open episode is
    /// recorded.
    pub episode: Option<String>,
}

/// How far the notifiers have read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatCursor {
    /// The change log's generation read up to.
    pub facts_generation: i64,
    /// The time rollback activity was read up to (epoch ms).
    pub rollbacks_at: Millis,
}

/// The deployments and incidents the change log names for a stretch of generations, as they
/// stand now.
#[derive(Debug, Clone, Default)]
pub struct ChangedFacts {
    /// Changed deployments (without their commit lists).
    pub deployments: Vec<Deployment>,
    /// Changed incidents.
    pub incidents: Vec<Incident>,
}

impl Store {
    /// Where the notifiers stand.
    ///
    /// # Errors
    /// The database failed.
    pub async fn chat_cursor(&self) -> Result<ChatCursor> {
        const SQL: &str = "SELECT facts_generation, rollbacks_at FROM chat_cursor WHERE id = 1";
        let (facts_generation, rollbacks_at): (i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(SQL).fetch_one(pool).await.map_err(StoreError::classify)?
        });
        Ok(ChatCursor { facts_generation, rollbacks_at })
    }

    /// Moves the cursor forward to `to`; a part of it already further along stays.
    ///
    /// # Errors
    /// The database failed.
    pub async fn advance_chat_cursor(&self, to: ChatCursor) -> Result<()> {
        const FACTS: &str = "UPDATE chat_cursor SET facts_generation = $1 WHERE id = 1 AND facts_generation < $1";
        const ROLLBACKS: &str = "UPDATE chat_cursor SET rollbacks_at = $1 WHERE id = 1 AND rollbacks_at < $1";
        with_pool!(self, pool => {
            sqlx::query(FACTS).bind(to.facts_generation).execute(pool).await.map_err(StoreError::classify)?;
            sqlx::query(ROLLBACKS).bind(to.rollbacks_at).execute(pool).await.map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// The deployments and incidents changed by the writes after generation `after` up to
    /// `upto`, as they stand now; `None` when the change log no longer holds every change after
    /// `after`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn changed_facts(&self, after: i64, upto: i64) -> Result<Option<ChangedFacts>> {
        const DEPLOYMENTS: &str = concat!("SELECT ", deployment_columns!(), " FROM deployments WHERE id IN (");
        const INCIDENTS: &str = concat!("SELECT ", incident_columns!(), " FROM incidents WHERE id IN (");
        let Some(logged) = self.logged(after, upto).await? else { return Ok(None) };
        let (deployments, incidents) = with_pool!(self, pool => {
            let deployments: Vec<DeploymentTuple> = in_list(pool, DEPLOYMENTS, &keys(&logged.deployments), "").await?;
            let incidents: Vec<IncidentTuple> = in_list(pool, INCIDENTS, &keys(&logged.incidents), "").await?;
            (deployments, incidents)
        });
        Ok(Some(ChangedFacts {
            deployments: deployments.into_iter().map(deployment).collect(),
            incidents: incidents.into_iter().map(incident).collect(),
        }))
    }

    /// The rollbacks with activity at or after `since`: decided, approved, or a delivery that
    /// settled (delivered, failed or gone); without deliveries.
    ///
    /// # Errors
    /// The database failed.
    pub async fn rollbacks_active_since(&self, since: Millis) -> Result<Vec<RollbackRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            rollback_columns!(),
            " FROM rollbacks WHERE created_at >= $1 OR approved_at >= $1
                 OR id IN (SELECT rollback_id FROM rollback_deliveries
                           WHERE state IN ('delivered', 'failed', 'gone') AND next_attempt_at >= $1)
             ORDER BY created_at, id"
        );
        let rows: Vec<RollbackTuple> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(since).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows.into_iter().map(rollback).collect())
    }

    /// Records `event` at `now`, unless its key is recorded already or its episode is open.
    /// Returns whether it is new.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_chat_event(&self, event: &ChatEventRow, now: Millis) -> Result<bool> {
        const SQL: &str = "INSERT INTO chat_events (event_key, kind, service, environment, team, at, subject, episode, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";
        let inserted = with_writer!(self, pool => {
            sqlx::query(SQL)
                .bind(&event.event_key)
                .bind(&event.kind)
                .bind(&event.service)
                .bind(&event.environment)
                .bind(&event.team)
                .bind(event.at)
                .bind(&event.subject)
                .bind(&event.episode)
                .bind(now)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?
                .rows_affected()
        });
        Ok(inserted > 0)
    }

    /// Ends the open `episode`, if any, at `at`: the next event of it is recorded anew.
    ///
    /// # Errors
    /// The database failed.
    pub async fn end_chat_episode(&self, episode: &str, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE chat_events SET ended_at = $2 WHERE episode = $1 AND ended_at IS NULL";
        with_writer!(self, pool => {
            sqlx::query(SQL).bind(episode).bind(at).execute(pool).await.map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// The chat events recorded at or after `since`, oldest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn chat_events_since(&self, since: Millis) -> Result<Vec<ChatEventRow>> {
        const SQL: &str = "SELECT event_key, kind, service, environment, team, at, subject, episode
             FROM chat_events WHERE created_at >= $1 ORDER BY created_at, id";
        let rows: Vec<ChatEventRow> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(since).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }

    /// Stores `messages` due at `now`; an (event, destination) already stored is left as it is.
    /// Returns how many rows are new.
    ///
    /// # Errors
    /// The database failed; nothing is stored.
    pub async fn enqueue_messages(&self, messages: &[NewMessage], now: Millis) -> Result<u64> {
        const SQL: &str = "INSERT INTO chat_messages (event_key, event, destination, message_id, service, environment, body,
                 state, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8) ON CONFLICT DO NOTHING";
        if messages.is_empty() {
            return Ok(0);
        }
        let inserted = with_writer!(self, pool => {
            let mut tx = pool.begin().await.map_err(StoreError::classify)?;
            let mut inserted = 0;
            for m in messages {
                inserted += sqlx::query(SQL)
                    .bind(&m.event_key)
                    .bind(&m.event)
                    .bind(&m.destination)
                    .bind(&m.message_id)
                    .bind(&m.service)
                    .bind(&m.environment)
                    .bind(&m.body)
                    .bind(now)
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

    /// Claims up to `limit` messages due at `now`, leasing them until `lease_until`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn claim_messages(&self, now: Millis, lease_until: Millis, limit: i64) -> Result<Vec<MessageRow>> {
        const CLAIM_SQLITE: &str = "UPDATE chat_messages SET claimed_until = $1
             WHERE id IN (SELECT id FROM chat_messages
                          WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at, id LIMIT $3)
               AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING id, event_key, event, destination, message_id, service, environment, body, state, attempts,
                 next_attempt_at, delivered_at, last_status, last_error";
        const CLAIM_POSTGRES: &str = "UPDATE chat_messages SET claimed_until = $1
             WHERE id IN (SELECT id FROM chat_messages
                          WHERE state = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
               AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
             RETURNING id, event_key, event, destination, message_id, service, environment, body, state, attempts,
                 next_attempt_at, delivered_at, last_status, last_error";
        let claim = match self {
            Self::Sqlite(..) => CLAIM_SQLITE,
            Self::Postgres(_) => CLAIM_POSTGRES,
        };
        let mut rows: Vec<MessageRow> = with_writer!(self, pool => {
            sqlx::query_as(claim).bind(lease_until).bind(now).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        // RETURNING gives no order; send in the order the events happened.
        rows.sort_by_key(|m| m.id);
        Ok(rows)
    }

    /// Records an attempt of a claimed message and releases its lease. A row that is no longer
    /// pending (settled by another sender after this one's lease ran out) is left as it is.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_message(&self, message: &MessageRow, at: Millis, status_code: Option<u16>, error: Option<&str>, next: Next) -> Result<()> {
        const SQL: &str = "UPDATE chat_messages SET attempts = attempts + 1, state = $2, next_attempt_at = $3,
                 delivered_at = $4, last_status = $5, last_error = $6, claimed_until = NULL
             WHERE id = $1 AND state = 'pending'";
        let (state, next_at, delivered_at) = match next {
            Next::Delivered => ("delivered", at, Some(at)),
            Next::RetryAt(when) => ("pending", when, None),
            Next::Failed => ("failed", at, None),
            Next::Gone => ("gone", at, None),
        };
        with_writer!(self, pool => {
            sqlx::query(SQL)
                .bind(message.id)
                .bind(state)
                .bind(next_at)
                .bind(delivered_at)
                .bind(status_code.map(i64::from))
                .bind(error)
                .execute(pool)
                .await
                .map_err(StoreError::classify)?;
        });
        Ok(())
    }

    /// The most recent messages, newest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn messages(&self, limit: i64) -> Result<Vec<MessageRow>> {
        const SQL: &str = "SELECT id, event_key, event, destination, message_id, service, environment, body, state, attempts,
                 next_attempt_at, delivered_at, last_status, last_error
             FROM chat_messages ORDER BY id DESC LIMIT $1";
        let rows: Vec<MessageRow> = with_pool!(self, pool => {
            sqlx::query_as(SQL).bind(limit).fetch_all(pool).await.map_err(StoreError::classify)?
        });
        Ok(rows)
    }
}
