//! pacer's weekly report email: when it goes out, to whom, as which MIME message, and how it is
//! delivered exactly once.
//!
//! The report itself — its numbers, tables, charts and words — is `pacer_api::report`, shared
//! with `GET /api/v1/reports/preview`. This crate adds what only email needs: the schedule
//! ([`schedule`]), the delivery settings ([`config`]), the `multipart/alternative` message with
//! its `multipart/related` charts ([`message`]), and the [`Mailer`] that runs beside the server
//! in `pacer serve`, enqueueing into the store's sent-log and sending over SMTP with retries.
//! It is a crate of its own so that the SMTP client and the cron parser are built only once,
//! for the binary, and the API crate stays free of them.

pub mod config;
pub mod mailer;
pub mod message;
pub mod schedule;

pub use config::{EVERYONE, MailConfig};
pub use lettre::message::Mailbox;
pub use mailer::{Delivered, Mailer};
pub use schedule::Schedule;
