//! End to end: the helper binaries of `src/bin/` run as child processes, and their real stderr
//! and exit codes are checked as a user would see them.

use std::process::{Command, Output};

/// Runs a helper binary with `ALLOC_TRACKER` set to `config` (or unset).
fn run(exe: &str, config: Option<&str>) -> Output {
    let mut cmd = Command::new(exe);
    cmd.env_remove("ALLOC_TRACKER");
    if let Some(config) = config {
        cmd.env("ALLOC_TRACKER", config);
    }
    cmd.output().expect("helper binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `SUMMARY:` line, checked to be the last line of stderr.
fn summary(out: &Output) -> String {
    let text = stderr(out);
    let last = text.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("SUMMARY: alloc-tracker: "), "{text}");
    last
}

/// The figures of the `LEAKS:` line (checked to be right before `SUMMARY:`): direct, indirect
/// and reachable `(bytes, blocks)`; and the `SUMMARY:` line's bytes and blocks, checked to be
/// their sum.
fn leaks(out: &Output) -> [(u64, u64); 3] {
    let text = stderr(out);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines[lines.len().saturating_sub(2)];
    let rest = line
        .strip_prefix("LEAKS: alloc-tracker: ")
        .unwrap_or_else(|| panic!("no LEAKS line before SUMMARY:\n{text}"));
    let numbers: Vec<u64> = rest
        .split(' ')
        .filter_map(|w| w.trim_end_matches(';').parse().ok())
        .collect();
    assert_eq!(numbers.len(), 6, "{line}");
    let classes = [
        (numbers[0], numbers[1]),
        (numbers[2], numbers[3]),
        (numbers[4], numbers[5]),
    ];
    let last = summary(out);
    let words: Vec<&str> = last.split(' ').collect();
    let (bytes, blocks): (u64, u64) = (words[5].parse().unwrap(), words[8].parse().unwrap());
    assert_eq!(
        (bytes, blocks),
        classes.iter().fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1)),
        "live at exit is the sum of the classes:\n{text}"
    );
    classes
}

/// The 1-based line of `src/bin/<bin>.rs` that contains `needle`.
fn line_of(bin: &str, needle: &str) -> usize {
    let path = format!("{}/src/bin/{bin}.rs", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(path).unwrap();
    1 + source.lines().position(|l| l.contains(needle)).unwrap()
}

const LEAK_NAMED: &str = env!("CARGO_BIN_EXE_leak_named");

#[test]
fn named_leak_is_reported_with_file_line_and_bytes() {
    let out = run(LEAK_NAMED, None);
    assert!(out.status.success());
    let text = stderr(&out);
    assert!(
        text.starts_with("alloc-tracker: report at exit (pid "),
        "{text}"
    );
    assert!(
        text.contains("#1 direct leak: 12 345 bytes in 1 block (peak share "),
        "{text}"
    );
    let line = line_of("leak_named", "vec![7u8; 12_345]");
    let frame = text
        .lines()
        .find(|l| l.contains("leak_named::leak_some at "))
        .unwrap_or_else(|| panic!("no frame naming leak_some:\n{text}"));
    assert!(
        frame.contains(&format!("leak_named.rs:{line}:")),
        "{frame} (expected line {line})"
    );
    // The forgotten block is the one leak; what std keeps in statics is reachable.
    let [direct, indirect, _] = leaks(&out);
    assert_eq!((direct, indirect), ((12_345, 1), (0, 0)));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "leaked; 1000 numbers freed\n"
    );
}

#[test]
fn clean_program_reports_zero() {
    let out = run(env!("CARGO_BIN_EXE_clean"), None);
    assert!(out.status.success());
    let [direct, indirect, _] = leaks(&out);
    assert_eq!((direct, indirect), ((0, 0), (0, 0)), "{}", stderr(&out));
    assert!(!stderr(&out).contains(" leak: "), "{}", stderr(&out));
}

#[test]
fn process_exit_still_reports_and_keeps_its_code() {
    // `main` still holds the leaked slice when it calls `exit`: its frame is live, so the block
    // is reachable (memcheck says the same: "still reachable").
    let out = run(
        env!("CARGO_BIN_EXE_leak_then_exit"),
        Some("show=direct,indirect,reachable"),
    );
    assert_eq!(out.status.code(), Some(3));
    let text = stderr(&out);
    let entry = text
        .lines()
        .position(|l| l.contains("leak_then_exit::leak_before_exit at "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.lines()
            .nth(entry - 1)
            .unwrap()
            .contains(" reachable: 4 096 bytes in 1 block ("),
        "{text}"
    );
    let [direct, indirect, reachable] = leaks(&out);
    assert_eq!((direct, indirect), ((0, 0), (0, 0)), "{text}");
    assert!(reachable.0 >= 4096, "{text}");
}

#[test]
fn leak_from_a_thread_and_a_running_thread_do_not_lose_the_report() {
    let out = run(env!("CARGO_BIN_EXE_leak_in_thread"), None);
    assert!(out.status.success());
    let text = stderr(&out);
    let entry = text
        .lines()
        .position(|l| l.contains("leak_in_thread::leak_from_thread at "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.lines()
            .nth(entry - 1)
            .unwrap()
            .contains("#1 direct leak: 777 bytes in 1 block ("),
        "{text}"
    );
    // The thread still running at exit is stopped for the scan: what it holds is reachable.
    let [direct, indirect, _] = leaks(&out);
    assert_eq!((direct, indirect), ((777, 1), (0, 0)), "{text}");
}

#[test]
fn leak_exit_code_applies_only_to_leaks_by_default() {
    let leaky = run(LEAK_NAMED, Some("leak_exit_code=23"));
    assert_eq!(leaky.status.code(), Some(23));
    assert_eq!(leaks(&leaky)[0], (12_345, 1));
    // `clean` ends with std's own blocks live (reachable from statics): not a failure...
    let clean = run(env!("CARGO_BIN_EXE_clean"), Some("leak_exit_code=23"));
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert!(leaks(&clean)[2].1 > 0, "{}", stderr(&clean));
    // ...unless `fail_on` names reachable blocks, or the scan is off (everything live counts).
    let strict = run(
        env!("CARGO_BIN_EXE_clean"),
        Some("leak_exit_code=23,fail_on=direct,indirect,reachable"),
    );
    assert_eq!(strict.status.code(), Some(23));
    let unscanned = run(
        env!("CARGO_BIN_EXE_clean"),
        Some("leak_exit_code=23,scan=off"),
    );
    assert_eq!(unscanned.status.code(), Some(23));
    assert!(!stderr(&unscanned).contains("LEAKS:"));
}

#[test]
fn bad_configuration_warns_once_per_mistake_and_runs_on() {
    let out = run(LEAK_NAMED, Some("frames=abc,colour=red,top=3"));
    assert!(out.status.success());
    let text = stderr(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(warnings[0].contains("`abc` for `frames`") && warnings[0].contains("1..64"));
    assert!(warnings[1].contains("unknown key `colour`") && warnings[1].contains("leak_exit_code"));
    assert_eq!(leaks(&out)[0], (12_345, 1));
}

#[test]
fn report_to_a_file_and_fallback_when_unwritable() {
    let path = std::env::temp_dir().join(format!("alloc-tracker-{}.txt", std::process::id()));
    let out = run(LEAK_NAMED, Some(&format!("report={}", path.display())));
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
    let file = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(file.contains("leak_named::leak_some at "), "{file}");
    assert!(file.ends_with(" callsites\n"), "{file}");
    assert!(
        file.contains("\nLEAKS: alloc-tracker: direct 12345 bytes in 1 blocks;"),
        "{file}"
    );

    let out = run(LEAK_NAMED, Some("report=/nonexistent-dir/report.txt"));
    let text = stderr(&out);
    assert!(
        text.starts_with(
            "alloc-tracker: warning: cannot write the report to `/nonexistent-dir/report.txt`"
        ),
        "{text}"
    );
    assert_eq!(leaks(&out)[0], (12_345, 1));

    let out = run(LEAK_NAMED, Some("report=off"));
    assert_eq!(stderr(&out), "");
}

#[test]
fn dwarf_unwinding_names_the_same_function() {
    let out = run(LEAK_NAMED, Some("unwind=dwarf"));
    let text = stderr(&out);
    let line = line_of("leak_named", "vec![7u8; 12_345]");
    assert!(
        text.lines().any(|l| l.contains("leak_named::leak_some at ")
            && l.contains(&format!("leak_named.rs:{line}:"))),
        "{text}"
    );
}

#[test]
fn off_keeps_global_figures_without_callsites() {
    let out = run(LEAK_NAMED, Some("off"));
    let last = summary(&out);
    assert!(last.ends_with("from 0 callsites"), "{last}");
    let bytes: u64 = last.split(' ').nth(5).unwrap().parse().unwrap();
    assert!(bytes >= 12_345, "{last}");
}

#[test]
fn top_limits_the_callsites_listed() {
    // `top` applies to each section: the live callsites, the owners of the peak, the
    // temporaries (one entry each here).
    let out = run(env!("CARGO_BIN_EXE_leak_in_thread"), Some("top=1,scan=off"));
    let text = stderr(&out);
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(listed.len(), 3, "{text}");
    assert!(
        listed[0].starts_with("#1 live at exit: 777 bytes"),
        "{text}"
    );
    assert!(listed[1].starts_with("#2 at peak: "), "{text}");
    assert!(listed[2].starts_with("#3 temporaries: "), "{text}");
    assert!(text.contains("... and "), "{text}");
    // With the scan, `top` applies to each class listed.
    let out = run(
        env!("CARGO_BIN_EXE_leak_in_thread"),
        Some("top=1,show=direct,indirect,reachable"),
    );
    let text = stderr(&out);
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with('#') && !l.contains(" at peak: ") && !l.contains(" temporaries: ")
        })
        .collect();
    assert_eq!(listed.len(), 2, "{text}");
    assert!(listed[0].starts_with("#1 direct leak: 777 bytes"), "{text}");
    assert!(listed[1].starts_with("#2 reachable: "), "{text}");
    assert!(text.contains("... and "), "{text}");
}

#[test]
fn peak_share_is_the_callsites_bytes_at_the_heaps_peak() {
    let out = run(env!("CARGO_BIN_EXE_peak_phases"), Some("scan=off"));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "keep 60000\nspike 100000\nlate 0\n"
    );
    let text = stderr(&out);
    let share = |bytes: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("live at exit: {bytes} bytes in 1 block (")))
            .unwrap_or_else(|| panic!("{text}"));
        let pct = line.split("(peak share ").nth(1).unwrap();
        pct.trim_end_matches("%)").parse().unwrap()
    };
    // The peak is 160 000 bytes plus what the runtime and std held then (a few KiB).
    let keep = share("60 000");
    assert!((35.0..=37.5).contains(&keep), "{keep}\n{text}");
    assert_eq!(share("30 000"), 0.0);
}

/// Runs `exe` with `env` (and no `ALLOC_TRACKER` but what `env` sets), failing the test if it
/// has not exited after `limit` (a deadlock): its exit status, stdout and stderr.
fn run_within(
    exe: &str,
    env: &[(&str, &str)],
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut cmd = Command::new(exe);
    cmd.env_remove("ALLOC_TRACKER").envs(env.iter().copied());
    let done = integration_tests::child::run_within(cmd, None, limit, exe);
    (done.status, done.stdout, done.stderr)
}

#[test]
fn panic_under_a_budget_prints_its_backtrace_and_exits() {
    let (status, _, text) = run_within(
        env!("CARGO_BIN_EXE_limit_panic"),
        &[("RUST_BACKTRACE", "1")],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(101), "{text}");
    assert!(text.contains("refused past the budget: true"), "{text}");
    assert!(text.contains("stack backtrace:"), "{text}");
    assert!(!text.contains("memory allocation of"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("SUMMARY: alloc-tracker: "), "{text}");
}

#[test]
fn fork_while_other_threads_allocate_does_not_deadlock_the_child() {
    // Before the tracker took its locks around fork, this hung within the first few forks.
    let (status, out, err) = run_within(
        env!("CARGO_BIN_EXE_fork_churn"),
        &[],
        std::time::Duration::from_secs(120),
    );
    assert!(status.success(), "{status}\n{err}");
    assert_eq!(out, "200 children exited\n");
    // One report, from the parent: the children leave with `_exit`.
    assert_eq!(err.matches("SUMMARY: alloc-tracker: ").count(), 1, "{err}");
}

#[test]
fn scans_beside_forks_do_not_deadlock() {
    // A scan's signal that stopped the forking thread while it held the block map's locks (taken
    // around fork) left the scan waiting for them forever.
    let (status, out, err) = run_within(
        env!("CARGO_BIN_EXE_fork_churn"),
        &[("FORK_CHURN_SCAN", "1"), ("ALLOC_TRACKER", "report=off")],
        std::time::Duration::from_secs(120),
    );
    assert!(status.success(), "{status}\n{err}");
    assert_eq!(out, "200 children exited\n");
    let scans: u64 = err
        .lines()
        .find_map(|l| l.strip_suffix(" scans ran"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(scans > 0, "{err}");
}

#[test]
fn dwarf_walks_end_at_std_entry_frame() {
    let len = |config: &str| -> usize {
        let out = run(env!("CARGO_BIN_EXE_stack_len"), Some(config));
        assert!(out.status.success(), "{config}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let (fp, dwarf) = (len("unwind=fp,report=off"), len("unwind=dwarf,report=off"));
    // Beyond `__rust_begin_short_backtrace` the frame-pointer walk sees lang_start's closure,
    // lang_start_internal, lang_start, the C `main` and `__libc_start_call_main` (where libc's
    // frame-pointer chain ends). Measured in debug builds: fp 18 or 20 frames, dwarf 13 or 15; with
    // the constructor that reads the symbol table before `main` switched off, dwarf 22 (it then
    // walks on to `_start`).
    assert!(
        dwarf > 3 && dwarf + 3 <= fp,
        "fp {fp} frames, dwarf {dwarf}"
    );
}

/// Runs one `fork_children_*` binary (see `src/bin/fork_children/body.rs`) with
/// `leak_exit_code=23` and checks that only the parent reported and failed.
fn forked_children_exit_clean(exe: &str) {
    // Before forked children kept quiet, each printed a report claiming the parent's 1 111 bytes
    // and exited 23. Before the tracker's fork handlers were registered after the inner
    // allocator's (`Stalling` registers its own at first use), the first fork deadlocked.
    let (status, out, err) = run_within(
        exe,
        &[("ALLOC_TRACKER", "leak_exit_code=23")],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out, "31 of 31 children exited 0\n", "{status}\n{err}");
    // One report, the parent's, with its own leak and its exit code.
    assert_eq!(err.matches("SUMMARY: alloc-tracker: ").count(), 1, "{err}");
    assert!(
        err.contains("\nLEAKS: alloc-tracker: direct 1111 bytes in 1 blocks;"),
        "{err}"
    );
    assert_eq!(status.code(), Some(23), "{err}");
}

#[test]
fn forked_children_exit_clean_under_system() {
    forked_children_exit_clean(env!("CARGO_BIN_EXE_fork_children_system"));
}

#[test]
fn forked_children_exit_clean_under_jemalloc() {
    forked_children_exit_clean(env!("CARGO_BIN_EXE_fork_children_jemalloc"));
}

#[test]
fn forked_children_exit_clean_under_aligned_alloc() {
    forked_children_exit_clean(env!("CARGO_BIN_EXE_fork_children_aligned"));
}
