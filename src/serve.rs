//! `pacer serve`: load the settings, build the application and serve until Ctrl-C or SIGTERM.

use clap::Args;

use crate::app::{Application, shutdown_signal};
use crate::config::{CommonArgs, Overrides, Settings, settings};

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

/// Runs `pacer serve`.
///
/// # Errors
/// The configuration has problems, or start-up or the server failed.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
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

