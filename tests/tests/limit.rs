//! `set_limit` end to end: `limit_child` checks, in a process of its own, that past the budget
//! `try_reserve` errs, the counters stay exact and raising the limit lets work go on. (In this
//! test binary libtest's own threads would allocate under the global budget.)

use std::process::Command;

#[test]
fn budget_refuses_then_allows() {
    let out = Command::new(env!("CARGO_BIN_EXE_limit_child"))
        .env("ALLOC_TRACKER", "report=off")
        .output()
        .expect("limit_child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert_eq!(stdout, "budget checks passed\n");
}
