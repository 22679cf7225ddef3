//! `pacer`: parse the command line, set up logs and traces, run the command.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match pacer::observability::init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = pacer::cli::run(pacer::cli::Cli::parse()).await;
    // After the server has drained (SIGTERM, Ctrl-C) or the command ended: export the last spans.
    telemetry.shutdown().await;
    code
}
