//! pacer's rollback loop: when an alert follows a deployment, decide, store the decision with its
//! outbox exactly once, and deliver signed hooks until they are accepted.
//!
//! - [`config`]: policies per service and environment, hooks, label names.
//! - [`plan`]: turns an alert into its incident and, when warranted, a rollback with its report
//!   (the pure decision is `pacer_engine::rollback`).
//! - [`report`]: the typed report a hook receives (and chat messages read back).
//! - [`sign`]: Standard Webhooks signatures.
//! - [`dispatch`]: the dispatcher that claims due deliveries and posts them, with retries.
//! - [`trace`]: the trace each rollback belongs to, carried into its deliveries' `traceparent`.
//!
//! It knows nothing of HTTP routing: the api calls [`plan`] from its alert endpoints and starts
//! the [`dispatch::Dispatcher`] next to the server.

pub mod config;
pub mod dispatch;
pub mod plan;
pub mod report;
pub mod sign;
pub mod trace;

pub use config::{Hook, Policy, RollbackConfig};
pub use dispatch::Dispatcher;
