//! A budget never refuses a realloc that does not grow, and a refusal that aborts the process is
//! explained on stderr. `limit_shrink` runs in a process of its own: the budget is process-wide.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

#[test]
fn shrinks_pass_a_budget_below_live_bytes_and_an_abort_names_the_budget() {
    let out = Command::new(env!("CARGO_BIN_EXE_limit_shrink"))
        .env("ALLOC_TRACKER", "report=off")
        .output()
        .expect("limit_shrink runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    // Before shrinks were exempt, the process aborted at `shrink_to_fit`, with nothing on stdout.
    assert_eq!(
        lines.first().copied(),
        Some("shrink_to_fit: capacity 1000, live -199000"),
        "{}\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(
        lines.get(1).copied(),
        Some("into_boxed_slice: len 1, live -79992"),
        "{stdout}\n{stderr}"
    );
    let budget: u64 = lines[2]
        .strip_prefix("budget ")
        .and_then(|l| l.split(',').next())
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));

    // The infallible `vec![1u8; 3_000_000]` past the budget aborts (SIGABRT, shells' rc 134)...
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{stdout}\n{stderr}"
    );
    assert_eq!(lines.len(), 3, "{stdout}");
    // ...and says why: a line from the tracker naming the budget and the size, before std's.
    // (A refusal of the allocation-error hook's own, within the same second, is not shown.)
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("alloc-tracker: "))
        .collect();
    assert!(!ours.is_empty(), "{stderr}");
    assert!(
        ours[0].contains("refused an allocation of 3000000 bytes")
            && ours[0].contains(&format!("the budget of {budget} bytes")),
        "{stderr}"
    );
    assert!(
        stderr.contains("memory allocation of 3000000 bytes failed"),
        "{stderr}"
    );
}
