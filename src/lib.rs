//! The `pacer` binary's library: settings, start-up and the commands.
//!
//! `main` only parses the command line and calls [`cli::run`]; tests build the same
//! [`app::Application`] that `pacer serve` runs, on port 0 with a database of their own.

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod import;
pub mod observability;
pub mod recompute;
pub mod report;
pub mod send;
pub mod serve;
pub mod server;
pub mod slack;
pub mod slo;
pub mod token;
