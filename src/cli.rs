//! The command line: `pacer serve | demo | migrate | check-config | recompute | report | import | token`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{Application, open_store, shutdown_signal};
use crate::config::{Overrides, Settings};

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
    Serve(ServeArgs),
    /// Load a generated, realistic history into a fresh database and serve it.
    Demo(DemoArgs),
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
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "PACER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://path (created if missing) or postgres://user@host/db.
    #[arg(long = "database", env = "PACER_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Options of `pacer serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration and database.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to serve on.
    #[arg(long, env = "PACER_LISTEN")]
    pub listen: Option<String>,
}

/// Options of `pacer demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on.
    #[arg(long, env = "PACER_LISTEN")]
    pub listen: Option<String>,
    /// Database to fill; it must hold no facts. Default: a fresh `pacer-demo.db` in the current
    /// directory, replaced at every run.
    #[arg(long = "database")]
    pub database_url: Option<String>,
    /// Seed of the generated history.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Load the history and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

/// Loads the settings, printing every problem.
///
/// # Errors
/// The configuration has problems.
pub(crate) fn settings(config: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
    let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("PACER_")).collect();
    Settings::load(config, &env, overrides).map_err(|errors| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        anyhow::anyhow!("the configuration has {} problem(s)", errors.len())
    })
}

/// Runs a command to completion.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::CheckConfig(args) => check_config(args),
        Command::Recompute(args) => recompute(args).await,
        Command::Report(args) => crate::report::run(args).await,
        Command::Import(args) => crate::import::run(args).await,
        Command::Token(args) => crate::token::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides { listen: args.listen, database_url: args.common.database_url };
    let settings = settings(args.common.config.as_deref(), &overrides)?;
    serve_settings(&settings).await
}

/// Builds and serves an application until Ctrl-C or SIGTERM.
///
/// # Errors
/// Start-up or the server failed.
pub async fn serve_settings(settings: &Settings) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let app = Application::build(settings).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, database = %pacer_store::redact(&settings.database_url), ready_ms = started.elapsed().as_millis() as u64, "serving");
    app.run(shutdown_signal()).await
}

async fn migrate(args: CommonArgs) -> anyhow::Result<()> {
    let settings = settings(args.config.as_deref(), &Overrides { listen: None, database_url: args.database_url })?;
    open_store(&settings.database_url).await?;
    println!("migrations applied to {}", pacer_store::redact(&settings.database_url));
    Ok(())
}

fn check_config(args: CommonArgs) -> anyhow::Result<()> {
    let settings = settings(args.config.as_deref(), &Overrides { listen: None, database_url: args.database_url })?;
    print!("{}", settings.describe());
    println!("configuration ok");
    Ok(())
}

async fn recompute(args: CommonArgs) -> anyhow::Result<()> {
    let settings = settings(args.config.as_deref(), &Overrides { listen: None, database_url: args.database_url })?;
    let store = open_store(&settings.database_url).await?;
    let done = crate::recompute::recompute_with(&store, &settings.api.normalizer, &settings.api.sources, |p| {
        eprintln!("recompute: {} raw events read, {} facts rebuilt, {} skipped", p.read, p.rebuilt, p.skipped);
    })
    .await
    .context("recompute failed")?;
    println!("recomputed {} facts from {} raw events ({} skipped)", done.rebuilt, done.read, done.skipped);
    Ok(())
}
