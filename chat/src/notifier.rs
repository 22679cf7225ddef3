//! The notifier: notices events and stores the messages about them in the outbox.
//!
//! Every replica runs one. Each tick reads, from the shared cursor on: the deployments and
//! incidents the change log says changed (so every source — the native API, webhooks, alerts —
//! is heard, and ingestion never waits on chat), and the rollbacks with activity (decided,
//! approved, settled). Each event is rendered once per rule that hears it and inserted under its
//! (event, destination) key, so replicas reading the same stretch, or a tick reading it again,
//! store one message. Events older than `max_age` when noticed — a backfill, an import, the
//! demo's history — are not announced.

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

/// Notices events and stores their messages.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Store,
    config: Arc<ChatConfig>,
    router: Router,
    /// Woken when messages were stored.
    sent: Arc<Notify>,
}

impl Notifier {
    /// A notifier over `store`, routing with `router`; `sent` is notified when it stores messages.
    pub fn new(store: Store, config: Arc<ChatConfig>, router: Router, sent: Arc<Notify>) -> Self {
        Self { store, config, router, sent }
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
        let messages: Vec<NewMessage> =
            events.iter().flat_map(|event| self.router.rules(&self.config, event).into_iter().map(move |rule| self.message(event, rule))).collect();
        let stored = self.store.enqueue_messages(&messages, now).await?;
        self.store.advance_chat_cursor(ChatCursor { facts_generation: generation, rollbacks_at: now }).await?;
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
