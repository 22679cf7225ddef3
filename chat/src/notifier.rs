//! The notifier: notices events and stores the messages about them in the outbox.
//!
//! Every replica runs one. Each tick reads, from the shared cursor on: the deployments and
//! incidents the change log says changed (so every source — the native API, webhooks, alerts —
//! is heard, and ingestion never waits on chat), and the rollbacks with activity (decided,
//! approved, settled), and the events recorded for chat (SLO burns, gate halts, weekly digests).
//! Each event is rendered once per rule that hears it and inserted under its
//! (event, destination) key, so replicas reading the same stretch, or a tick reading it again,
//! store one message; a notifier remembers what it stored, so a stretch it reads again costs no
//! write. Events older than `max_age` when noticed — a backfill, an import, the
//! demo's history — are not announced.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pacer_engine::Millis;
use pacer_rollback::dispatch::now;
use pacer_store::{ChatCursor, NewMessage, Store, StoreError};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::config::{Channel, ChatConfig, Rule};
use crate::event::Event;
use crate::routing::Router;
use crate::message::compose;
use crate::{slack, teams, webhook};

/// How often to look for events.
const POLL: Duration = Duration::from_millis(500);
/// How far back each tick reads rollback activity again: longer than a hook's lease, so an
/// attempt recorded late (its time is when it started) is still seen.
const ROLLBACK_OVERLAP: Millis = 5 * 60 * 1_000;
/// How often the rollback time of the cursor is moved when nothing else moves it.
const CURSOR_EVERY: Millis = 30 * 1_000;
/// The most (event, destination) pairs a notifier remembers having stored.
const REMEMBERED: usize = 10_000;

/// Notices events and stores their messages.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Store,
    config: Arc<ChatConfig>,
    router: Router,
    /// Woken when messages were stored.
    sent: Arc<Notify>,
    /// The (event key, destination) pairs this process stored.
    stored: Arc<std::sync::Mutex<HashSet<(String, String)>>>,
}

impl Notifier {
    /// A notifier over `store`, routing with `router`; `sent` is notified when it stores messages.
    pub fn new(store: Store, config: Arc<ChatConfig>, router: Router, sent: Arc<Notify>) -> Self {
        Self { store, config, router, sent, stored: Arc::default() }
    }

    /// Notices until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.tick().await {
                tracing::warn!(error = %error, "noticing chat events failed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = &mut shutdown => break,
            }
        }
    }

    /// Reads from the cursor to now, stores the messages and moves the cursor; returns how many
    /// messages are new.
    ///
    /// # Errors
    /// The database failed; the cursor stays, and the next tick reads the same stretch again.
    pub async fn tick(&self) -> Result<u64, StoreError> {
        let cursor = self.store.chat_cursor().await?;
        let generation = self.store.generation().await?;
        let now = now();
        let mut events = Vec::new();
        if generation > cursor.facts_generation {
            match self.store.changed_facts(cursor.facts_generation, generation).await? {
                Some(changed) => {
                    events.extend(changed.deployments.iter().filter_map(Event::of_deployment));
                    events.extend(changed.incidents.iter().map(Event::of_incident));
                }
                None => tracing::warn!(after = cursor.facts_generation, "the change log no longer holds what chat had not read; those events are not announced"),
            }
        }
        events.retain(|e| now - e.at <= self.config.max_age);
        // Rollback activity older than `max_age` is not announced either (a cursor left behind
        // while no rule was set), which also bounds what is read.
        let since = (cursor.rollbacks_at - ROLLBACK_OVERLAP).max(now - self.config.max_age);
        for rollback in self.store.rollbacks_active_since(since).await? {
            events.extend(Event::of_rollback(&rollback, now));
        }
        // SLO burns, gate halts and digests, as the evaluator, the gate and the report scheduler
        // recorded them.
        for row in self.store.chat_events_since(since).await? {
            events.extend(Event::of_row(&row));
        }
        // What this process stored already (the rollback overlap reads the same activity for
        // minutes) is not rendered or written again; what another replica stored is, once, and
        // the constraint keeps one row.
        let messages: Vec<NewMessage> = {
            let stored_here = self.stored.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            events
                .iter()
                .flat_map(|event| {
                    let key = event.key();
                    let stored_here = &stored_here;
                    self.router
                        .rules(&self.config, event)
                        .into_iter()
                        .filter(move |rule| !stored_here.contains(&(key.clone(), rule.name.clone())))
                        .map(move |rule| self.message(event, rule))
                })
                .collect()
        };
        let stored = self.store.enqueue_messages(&messages, now).await?;
        {
            let mut stored_here = self.stored.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if stored_here.len() > REMEMBERED {
                stored_here.clear();
            }
            stored_here.extend(messages.into_iter().map(|m| (m.event_key, m.destination)));
        }
        // The cursor moves when there is something to move it past: every new generation, and
        // the rollback time now and then (reads overlap it by minutes anyway).
        if generation > cursor.facts_generation || now - cursor.rollbacks_at >= CURSOR_EVERY {
            self.store.advance_chat_cursor(ChatCursor { facts_generation: generation, rollbacks_at: now }).await?;
        }
        if stored > 0 {
            tracing::debug!(messages = stored, "chat messages stored");
            self.sent.notify_one();
        }
        Ok(stored)
    }

    /// The message about `event` for `rule`.
    fn message(&self, event: &Event, rule: &Rule) -> NewMessage {
        let content = compose(event, &self.config.base_url);
        let body = match rule.channel {
            Channel::Slack => slack::render(&content).to_string(),
            Channel::Teams => teams::render(&content).to_string(),
            Channel::Webhook => serde_json::to_string(&webhook::render(event, &content)).unwrap_or_default(),
        };
        let key = event.key();
        let digest = Sha256::digest(format!("{key}\0{}", rule.name).as_bytes());
        let message_id = format!("msg_{}", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>());
        NewMessage {
            event_key: key,
            event: event.kind.as_str().to_owned(),
            destination: rule.name.clone(),
            message_id,
            service: event.service.clone(),
            environment: event.environment.clone(),
            body,
        }
    }
}
