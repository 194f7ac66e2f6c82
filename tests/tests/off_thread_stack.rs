//! Allocations on a stack that is not the thread's own: a signal handler on a `sigaltstack` (below
//! the thread's stack, above it, and interrupting code that keeps a stray address in `rbp`) and a
//! `makecontext` coroutine. The child `src/bin/sigaltstack_leak.rs` leaks 23 456 bytes there; its
//! exit report must name the leaking function under both unwinders, never crash, and never blame
//! a full callsite table.

use std::process::Command;

const CHILD: &str = env!("CARGO_BIN_EXE_sigaltstack_leak");

/// Runs the child's `case` under `unwind=fp` and `unwind=dwarf`; checks each report names
/// `function` (and, for signal handlers, `main`, reached through the kernel's signal frame).
fn check(case: &str, function: &str, through_signal_frame: bool) {
    let mut failures = Vec::new();
    for unwind in ["fp", "dwarf"] {
        let out = Command::new(CHILD)
            .arg(case)
            .env("ALLOC_TRACKER", format!("unwind={unwind}"))
            .output()
            .expect("child runs");
        let text = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut problems = Vec::new();
        if !out.status.success() {
            problems.push(format!("exited with {}", out.status));
        }
        if !stdout.contains(" ran") {
            problems.push("the handler did not run".to_owned());
        }
        if !text.contains("#1 direct leak: 23 456 bytes in 1 block") {
            problems.push("no 23 456-byte direct leak".to_owned());
        }
        if text.contains("callsite table is full") {
            problems.push("blames a full callsite table".to_owned());
        }
        if !text.contains(&format!("sigaltstack_leak::{function} at ")) {
            problems.push(format!("does not name {function}"));
        }
        if through_signal_frame && !text.contains("sigaltstack_leak::main at ") {
            problems.push("does not reach main through the signal frame".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{case}, unwind={unwind}: {}\n{stdout}{text}",
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn handler_on_an_altstack_below_the_thread_stack() {
    check("below", "leak_on_altstack", true);
}

#[test]
fn handler_interrupting_code_with_a_stray_rbp_does_not_crash() {
    check("scratch-rbp", "leak_on_altstack", true);
}

#[test]
fn handler_on_an_altstack_above_the_thread_stack() {
    check("above", "leak_on_altstack", true);
}

#[test]
fn coroutine_on_its_own_stack() {
    check("coroutine", "leak_on_coroutine", false);
}
