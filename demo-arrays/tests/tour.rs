//! The tour end to end, as a user runs it: a child process, its exit status, its stdout and the exit
//! report on stderr. `--quick` divides sizes by 64 so a debug build finishes in seconds.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_demo-arrays"))
        .args(args)
        .output()
        .expect("spawn demo-arrays")
}

#[test]
fn tour_runs_end_to_end() {
    let out = run(&["tour", "--quick"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for n in 1..=9 {
        assert!(
            stdout.contains(&format!("\nLesson {n}: ")),
            "lesson {n} missing:\n{stdout}"
        );
    }
    // Sizes of three digits read `192 KiB`, not NumPy's `192. KiB`.
    assert!(
        !stdout.contains(". KiB)") && !stdout.contains(". MiB)"),
        "{stdout}"
    );
    // Lesson 2: sharing allocates nothing.
    assert!(
        stdout
            .contains("let v = a.view();                              allocated 0 B in 0 block(s)"),
        "{stdout}"
    );
    // Lesson 7: the mapped sum works under the budget and load fails with NumPy's message.
    assert!(stdout.contains("Err: unable to allocate 8.00 MiB for an array with shape (1048576,) and data type float64"), "{stdout}");
    assert!(
        stdout.contains("sum 1048576 (expected 1048576)"),
        "{stdout}"
    );
    assert!(stdout.contains("temp file deleted: true"));
    // Lesson 6: the cache is reachable, the Rc cycle is the one leak; the tour explained both
    // before exit, and `leak_check` measured the cycle: two nodes (one direct) and their arrays.
    assert!(stdout.contains("the deliberate leak"), "{stdout}");
    assert!(
        stdout.contains("reachable from a static, not a leak"),
        "{stdout}"
    );
    assert!(!stdout.contains("not expected"), "{stdout}");
    let cycle = stdout
        .lines()
        .find(|l| l.contains("leak_check() after - before"))
        .expect("lesson 6's leak_check row");
    assert!(cycle.contains("in 1 block(s), indirect +"), "{cycle}");
    let leaks_line = stderr
        .lines()
        .find(|l| l.starts_with("LEAKS: alloc-tracker: "))
        .expect("LEAKS line");
    let n: Vec<u64> = leaks_line
        .split([' ', ';'])
        .filter_map(|w| w.parse().ok())
        .collect();
    let array = 2 * 2048 * 8; // one node's array in --quick (131 072 / 64 elements)
    assert_eq!(n[1], 1, "one direct block: {leaks_line}");
    assert!(n[2] >= array as u64 && n[3] == 3, "{leaks_line}");
    assert!(
        n[4] >= 12 * 2048 * 8,
        "the cache is reachable: {leaks_line}"
    );
    // The one direct leak is the cycle, named by its first frame; the cache (`remember`) is in
    // no leak section. Debug builds name a frame by its symbol
    // (`demo_arrays::tour::lesson6_leak::make_cycle`), release builds by DWARF's record of the
    // inlined call, which has no module path (`make_cycle`): the frame's file says where it is.
    let leaks = leak_frames(&stderr);
    let (head, name, at) = leaks.first().expect("a leak section");
    assert!(head.starts_with("#1 direct leak: "), "{stderr}");
    assert!(
        ["make_cycle", "demo_arrays::tour::lesson6_leak::make_cycle"].contains(&name.as_str()),
        "{stderr}"
    );
    // (The file as the report shows it: relative to the working directory, this package's.)
    assert!(at.starts_with("src/bin/tour/lesson6_leak.rs:"), "{stderr}");
    assert!(
        !leaks
            .iter()
            .any(|(_, name, _)| name.rsplit("::").next() == Some("remember")),
        "{stderr}"
    );
}

/// The frames listed in the exit report's leak sections (from the first `#N direct|indirect leak`
/// header to the `reachable:` line), each as (its section's header, name, `file:line:col`).
fn leak_frames(stderr: &str) -> Vec<(String, String, String)> {
    let mut frames = Vec::new();
    let mut head = None;
    for line in stderr.lines() {
        if line.starts_with("reachable: ") || line.starts_with("at the peak") {
            break;
        }
        if line.starts_with('#') && line.contains(" leak: ") {
            head = Some(line.to_string());
        } else if let (Some(h), Some((name, at))) = (&head, line.trim().split_once(" at ")) {
            frames.push((h.clone(), name.to_string(), at.to_string()));
        }
    }
    frames
}

#[test]
fn one_lesson_help_and_bad_arguments() {
    let out = run(&["tour", "--quick", "--lesson", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("Lesson 3: ") && !stdout.contains("Lesson 4: "),
        "{stdout}"
    );
    assert!(stdout.contains("is_copy() = true"));
    let help = run(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success()
            && text.contains("tour [--lesson N]")
            && text.contains("  9  dtype pitfalls"),
        "{text}"
    );
    let bad = run(&["tour", "--lesson", "10"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--lesson needs a number from 1 to 9"));
}
