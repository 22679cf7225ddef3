//! The sender: claims due messages from the outbox and posts them to their destinations.
//!
//! It follows the rollback dispatcher's rules ([`pacer_rollback::dispatch::next_after`]): a
//! message is retried with exponential backoff and jitter until the destination answers 2xx,
//! `Retry-After` (Slack's answer to a 429) is honoured when it asks for longer, and attempts are
//! capped. A destination that answers 404 or 410 is gone (a removed Slack webhook, a deleted
//! flow): the message stops and an operator is told. Claims are leases, so a sender that dies
//! leaves its messages to another. The sender has its own client, table and task: a slow or
//! dead channel delays only chat, never ingestion or rollback hooks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pacer_engine::Millis;
use pacer_rollback::dispatch::{describe, drain, keep_draining, next_after, now, retry_after};
use pacer_rollback::sign;
use pacer_store::{MessageRow, Next, Store, StoreError};
use reqwest::StatusCode;
use tokio::sync::Notify;

use crate::config::{Channel, ChatConfig};

/// Messages claimed at once.
const BATCH: i64 = 32;
/// What a destination answers when it no longer exists.
const GONE: [StatusCode; 2] = [StatusCode::NOT_FOUND, StatusCode::GONE];

/// Told of every attempt's outcome: `delivered`, `retry`, `failed` or `gone`.
pub type Observer = Arc<dyn Fn(&'static str) + Send + Sync>;

/// Posts chat messages.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    config: Arc<ChatConfig>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Sender {
    /// A sender over `store`; `wake` is notified when messages are stored.
    pub fn new(store: Store, config: Arc<ChatConfig>, wake: Arc<Notify>) -> Self {
        let client = reqwest::Client::builder().user_agent(concat!("pacer/", env!("CARGO_PKG_VERSION"))).build().unwrap_or_default();
        Self { store, config, client, wake, observer: None }
    }

    /// Reports every attempt to `observer` (for metrics).
    pub fn observed(self, observer: Observer) -> Self {
        Self { observer: Some(observer), ..self }
    }

    /// Sends until `shutdown` completes, then lets in-flight messages finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let wake = Arc::clone(&self.wake);
        keep_draining(&wake, shutdown, "chat", || self.tick()).await;
    }

    /// Claims and sends every due message; returns how many were attempted.
    ///
    /// # Errors
    /// The database failed.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        drain(
            || {
                let at = now();
                self.store.claim_messages(at, at + self.lease(), BATCH)
            },
            |message| {
                let this = self.clone();
                async move { this.send(message).await }
            },
        )
        .await
    }

    /// Longer than any destination's timeout, so a live sender never loses its claim mid-request.
    fn lease(&self) -> Millis {
        let longest = self.config.rules.iter().map(|r| r.timeout).max().unwrap_or(Duration::from_secs(10));
        longest.as_millis() as Millis + 5_000
    }

    async fn send(&self, message: MessageRow) -> Result<(), StoreError> {
        let at = now();
        let attempt = message.attempts + 1;
        let Some(rule) = self.config.rule(&message.destination) else {
            tracing::error!(destination = message.destination, event = message.event, "chat destination no longer configured; message dropped");
            return self.store.record_message(&message, at, None, Some("the destination is no longer configured"), Next::Failed).await;
        };
        let mut request = self.client.post(&rule.url).timeout(rule.timeout).header("content-type", "application/json");
        if rule.channel == Channel::Webhook {
            let timestamp = at / 1_000;
            request = request.header("webhook-id", &message.message_id).header("webhook-timestamp", timestamp.to_string());
            if let Some(secret) = &rule.secret {
                request = request.header("webhook-signature", sign::signature(secret, &message.message_id, timestamp, message.body.as_bytes()));
            }
        }
        let result = request.body(message.body.clone()).send().await;
        let max = self.config.max_attempts;
        let (status, error, next) = match result {
            Ok(response) => {
                let status = response.status();
                let next = next_after(Some((status, retry_after(response.headers()))), &GONE, attempt, max, &message.message_id);
                let error = (!status.is_success()).then(|| format!("the destination answered {status}"));
                (Some(status.as_u16()), error, next)
            }
            Err(e) => (None, Some(describe(&e)), next_after(None, &GONE, attempt, max, &message.message_id)),
        };
        let outcome = match next {
            Next::Delivered => "delivered",
            Next::RetryAt(_) => "retry",
            Next::Failed => "failed",
            Next::Gone => "gone",
        };
        if let Some(observe) = &self.observer {
            observe(outcome);
        }
        // The URL of a Slack or Teams webhook is its credential: logs name the rule.
        let (destination, event, error_text) = (&message.destination, &message.event, error.as_deref().unwrap_or(""));
        match next {
            Next::Delivered => tracing::info!(destination, event, attempt, "chat message delivered"),
            Next::RetryAt(_) => tracing::warn!(destination, event, attempt, error = error_text, "chat message will be retried"),
            Next::Gone => tracing::error!(destination, event, attempt, error = error_text, "chat destination gone; fix or remove the rule"),
            Next::Failed => tracing::error!(destination, event, attempt, error = error_text, "chat message given up"),
        }
        self.store.record_message(&message, at, status, error.as_deref(), next).await
    }
}
