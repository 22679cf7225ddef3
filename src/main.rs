//! `pacer`: parse the command line, set up logging, run the command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // octocrab logs every failed request as an error; `pacer import` retries and reports them.
    let filter = EnvFilter::try_from_env("PACER_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,octocrab=off"));
    let json = std::env::var("PACER_LOG_FORMAT").is_ok_and(|f| f == "json");
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    pacer::cli::run(pacer::cli::Cli::parse()).await
}
