//! `pacer`: parse the command line, set up logs and traces, run the command.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, for every allocation of the process (SQLite's too), with background threads that
/// return freed pages to the system within a second: the analysis is remade part by part as
/// events arrive, and the system allocator and mimalloc both kept the freed parts' pages
/// resident (BENCHMARKS.md, Live); and with one arena for every thread. Its settings are built
/// in (`.cargo/config.toml`); `MALLOC_CONF` overrides them.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What jemalloc holds, for `/metrics` (`pacer_allocator_bytes`); `None` when it cannot say.
fn allocator_bytes() -> Option<pacer_api::telemetry::AllocatorBytes> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot taken when the epoch advances.
    epoch::advance().ok()?;
    let bytes = |n: usize| n as u64;
    Some(pacer_api::telemetry::AllocatorBytes {
        allocated: bytes(stats::allocated::read().ok()?),
        active: bytes(stats::active::read().ok()?),
        metadata: bytes(stats::metadata::read().ok()?),
        resident: bytes(stats::resident::read().ok()?),
        retained: bytes(stats::retained::read().ok()?),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match pacer::observability::init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    pacer_api::telemetry::report_allocator(allocator_bytes);
    let code = pacer::cli::run(pacer::cli::Cli::parse()).await;
    // After the server has drained (SIGTERM, Ctrl-C) or the command ended: export the last spans.
    telemetry.shutdown().await;
    code
}
