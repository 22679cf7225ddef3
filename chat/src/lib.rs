//! pacer's chat notifications: messages about deployments, incidents, rollbacks, SLO burns, gate
//! halts and each team's week, posted to Slack (Block Kit), Microsoft Teams (an Adaptive Card
//! through a Workflows webhook) and any HTTP endpoint (pacer's JSON, signed per Standard
//! Webhooks), as `[[notify]]` rules route them.
//!
//! - [`config`]: `[chat]` and `[[notify]]`.
//! - [`event`]: what is announced and each event's key; [`routing`]: which rules hear it. Pure.
//! - [`message`]: what a message says, channel-neutral; [`slack`], [`teams`] and [`webhook`]
//!   render it; [`text`] escapes, cuts and encodes. Pure.
//! - [`notifier`]: notices events in the change log and the rollbacks, stores their messages in
//!   the outbox once per event and destination.
//! - [`sender`]: claims due messages and posts them, with retries.
//! - [`manifest`]: the Slack app manifest of the deploy bot.
//! - [`preview`]: an example message of each kind, and a Slack message drawn as HTML.
//!
//! It knows nothing of HTTP routing: the binary starts the [`Notifier`] and the [`Sender`] beside
//! the server. Exactly-once and leases come from the store's outbox, retries and signatures from
//! the rollback crate's dispatcher, so chat has no second copy of either.

pub mod config;
pub mod event;
pub mod manifest;
pub mod message;
pub mod notifier;
pub mod preview;
pub mod routing;
pub mod sender;
pub mod slack;
pub mod teams;
pub mod text;
pub mod webhook;

pub use config::{ChatConfig, ChatFile};
pub use notifier::Notifier;
pub use sender::Sender;
