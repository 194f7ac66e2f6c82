//! The tracker out of memory (#11 item 4): when the block map cannot grow, blocks go untracked
//! but counted, nothing hangs, no counter wraps, and the exit report says so. The child binary
//! `tracker_oom` wraps `System` in an allocator that refuses the tracker's own allocations during
//! a burst of the program's.

use std::process::{Command, ExitStatus};
use std::time::Duration;

/// Runs `exe`, killing it (and failing) if it has not exited within `limit`.
fn run_within(exe: &str, limit: Duration) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(exe);
    cmd.env_remove("ALLOC_TRACKER");
    let done = integration_tests::child::run_within(cmd, None, limit, exe);
    (done.status, done.stdout, done.stderr)
}

/// The integer after `key: ` on a line of `text`.
fn figure(text: &str, key: &str) -> u64 {
    let prefix = format!("{key}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
}

#[test]
fn tracker_out_of_memory_fails_soft() {
    // Before the fix: the child hung in the first free of a block whose shard's directory had
    // filled (a miss probed a full table forever, holding the shard lock).
    let (status, out, err) = run_within(env!("CARGO_BIN_EXE_tracker_oom"), Duration::from_secs(60));
    assert!(status.success(), "{status}\n{out}\n{err}");
    assert!(
        figure(&out, "refused") > 0,
        "the tracker's growth was refused:\n{out}"
    );
    assert!(figure(&out, "accounted during") >= 4000 * 5000, "{out}");
    assert_eq!(
        figure(&out, "live after"),
        figure(&out, "live before"),
        "{out}"
    );
    assert_eq!(
        figure(&out, "blocks after"),
        figure(&out, "blocks before"),
        "{out}"
    );
    let overhead = figure(&out, "overhead after");
    assert!(overhead < 1 << 40, "overhead wrapped: {overhead}\n{out}");
    let line = err
        .lines()
        .find(|l| l.starts_with("  untracked: "))
        .unwrap_or_else(|| panic!("no untracked line in the report:\n{err}"));
    let n: u64 = line
        .strip_prefix("  untracked: ")
        .and_then(|r| r.strip_suffix(" blocks (tracker out of memory)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("malformed: {line}"));
    assert!(n > 0 && n <= 4000, "{line}");
    let mut tail = err.lines().rev();
    assert!(
        tail.next().unwrap().starts_with("SUMMARY: alloc-tracker: "),
        "{err}"
    );
}
