//! The soak for a short time: `pacer-bench soak --seconds 45` against the debug `pacer` built
//! beside it must see zero errors and flat memory. The long run (`--minutes 10`, release build)
//! is documented in BENCHMARKS.md. Without wrk or the pacer binary the test prints `skipped: …`
//! and fails instead under `PACER_REQUIRE_ALL=1`.

use std::path::Path;
use std::process::Command;

fn skip(why: &str) {
    assert!(std::env::var("PACER_REQUIRE_ALL").as_deref() != Ok("1"), "the soak is required (PACER_REQUIRE_ALL=1) but {why}");
    println!("skipped: {why}");
}

#[test]
fn a_short_soak_of_ingest_and_queries_sees_no_errors_and_flat_memory() {
    let bench = Path::new(env!("CARGO_BIN_EXE_pacer-bench"));
    let pacer = bench.with_file_name("pacer");
    if !pacer.is_file() {
        return skip(&format!("no pacer binary at {} (cargo build --workspace builds it)", pacer.display()));
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        return skip("wrk is not installed (Debian package wrk)");
    }
    let output = Command::new(bench).args(["soak", "--seconds", "45", "--connections", "4"]).output().expect("pacer-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "the soak failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("| errors (non-2xx + socket) | 0 (0 + 0) |"), "expected zero errors:\n{stdout}");
    assert!(stdout.contains("| verdict | pass |"), "expected a pass:\n{stdout}");
    let requests: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("| requests | ")?.strip_suffix(" |")?.parse().ok())
        .expect("the request count is printed");
    assert!(requests > 100, "expected the soak to send many requests but it sent {requests}");
}
