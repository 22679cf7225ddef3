//! `pacer`: parse the command line, set up logs and traces, run the command.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: after an analysis is built, the system allocator
/// kept most of what the build had freed resident (BENCHMARKS.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
