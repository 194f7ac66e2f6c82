//! 8 threads × 200 000 random alloc/realloc/free operations under `Tracked<AlignedAlloc>`: live
//! bytes and blocks come back exactly to the start, totals add up to what the threads counted,
//! per-callsite sums equal the global figures, nothing deadlocks.
//!
//! The checks compare process-wide counters, so they run in a child process (`balance_child`)
//! that holds only the threads being measured. In this test binary, libtest's own threads allocate
//! whenever they like (they made the old in-process version fail 1 run in 30 under load, by +144
//! or +900 bytes).

use std::process::Command;

#[test]
fn eight_threads_balance_exactly() {
    let out = Command::new(env!("CARGO_BIN_EXE_balance_child"))
        .env("ALLOC_TRACKER", "report=off")
        .output()
        .expect("balance_child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.starts_with("balanced: "), "{stdout}");
}
