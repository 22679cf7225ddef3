//! pacer's engine: the exact definitions of the delivery metrics, as pure functions.
//!
//! This crate owns what the numbers *mean* — changesets through the commit graph, first-ship
//! semantics, attribution of incidents to deployments, recovery, rework, PERCENTILE_CONT and the
//! DORA performance bands — and nothing about where facts come from or where they are stored.
//! The collector turns payloads into [`model`] facts, the store keeps them, and the api asks the
//! engine to [`dora::Analysis::build`] an analysis over the facts of one environment and then
//! summarize any window of it. Every rule here is documented in `docs/metrics.md`. Its one
//! piece of I/O is where an analysis keeps what summaries never read: a spill file of the
//! process's own ([`spill`]).

pub mod dora;
pub mod attribution;
pub mod branch;
pub mod burn;
pub mod calendar;
pub mod change;
pub mod changeset;
pub mod flat;
mod incidents;
pub mod levels;
mod memo;
pub mod model;
pub mod percentile;
pub mod pipeline;
pub mod flow;
pub mod reach;
pub mod rework;
pub mod rollback;
mod samples;
pub mod shas;
mod shipments;
pub mod snapshot;
pub mod spill;
pub mod stages;
pub mod texts;

pub use model::Millis;
