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
    // The exit report lists lesson 6's leak, and the tour explained it beforehand.
    assert!(stdout.contains("the deliberate leak"), "{stdout}");
    assert!(!stdout.contains("not expected"), "{stdout}");
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("SUMMARY: alloc-tracker: live at exit: "))
        .expect("summary line");
    let leaked: u64 = summary
        .split_whitespace()
        .nth(5)
        .and_then(|b| b.parse().ok())
        .expect("bytes");
    assert!(leaked >= 12 * 2048 * 8, "{summary}");
    assert!(stderr.contains("lesson6_leak"), "{stderr}");
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
