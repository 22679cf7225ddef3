//! The API's areas, one module each with its `router()`, joined by [`crate::router`]. A route module
//! answers HTTP and imports only the lower floor (the crate's other modules), never another route
//! module.

pub mod alerts;
pub mod changes;
pub mod charts;
pub mod chat;
pub mod ci;
pub mod dora;
pub mod events;
pub mod gate;
pub mod grafana;
pub mod health;
pub mod incidents;
pub mod listing;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod prs;
pub mod report;
pub mod rollbacks;
pub mod slack;
pub mod slo;
pub mod stages;
pub mod webhooks;
