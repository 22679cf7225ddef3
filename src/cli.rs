//! The command line: `pacer serve | demo | migrate | check-config | recompute | report | import | token | send | slack | slo`.
//!
//! It only names the commands and dispatches: each command's file owns its options and its `run`,
//! and the options every command shares live with the configuration ([`crate::config::CommonArgs`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::CommonArgs;

/// DORA metrics, SLO burn and automatic rollbacks for software delivery.
#[derive(Debug, Parser)]
#[command(name = "pacer", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API.
    Serve(crate::serve::ServeArgs),
    /// Load a generated, realistic history into a fresh database and serve it.
    Demo(crate::demo::DemoArgs),
    /// Apply pending database migrations and exit.
    Migrate(CommonArgs),
    /// Validate the configuration, print the effective settings (secrets redacted) and exit.
    CheckConfig(CommonArgs),
    /// Rebuild every fact from the stored raw events.
    Recompute(CommonArgs),
    /// Write a week's report email to a file (.html or .eml), or send it to its recipients.
    Report(crate::report::ReportArgs),
    /// Fill in history from a Git host's API (resumable; idempotent with the webhooks).
    Import(crate::import::ImportArgs),
    /// Create, list or revoke API tokens.
    Token(crate::token::TokenArgs),
    /// Send one deployment, CI run or incident to a running pacer (for any pipeline).
    // Boxed: its fields would otherwise be most of every command's size.
    Send(Box<crate::send::SendArgs>),
    /// Slack: print the deploy bot's app manifest.
    Slack(crate::slack::SlackArgs),
    /// SLOs: print Prometheus rules (recording rules and burn-rate alerts) for the configured SLOs.
    Slo(crate::slo::SloArgs),
}

/// Runs a command to completion.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => crate::serve::run(args).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Migrate(args) => crate::app::migrate(args).await,
        Command::CheckConfig(args) => crate::config::check(args),
        Command::Recompute(args) => crate::recompute::run(args).await,
        Command::Report(args) => crate::report::run(args).await,
        Command::Import(args) => crate::import::run(args).await,
        Command::Token(args) => crate::token::run(args).await,
        Command::Send(args) => crate::send::run(*args).await,
        Command::Slack(args) => crate::slack::run(args),
        Command::Slo(args) => crate::slo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
