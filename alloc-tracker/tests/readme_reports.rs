//! The README's reports of `examples/leaky.rs` are what the example prints, and its `go tool
//! pprof -top` of leaky's pprof export is what pprof prints: each quoted block is compared line
//! by line with a fresh run (the pid and the seconds aside; a `...` line in the
//! README stands for any run of lines). Run from the workspace root, as the README says.
//! `cargo test -p alloc-tracker` builds the example first; run alone, build it with
//! `cargo build -p alloc-tracker --example leaky`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The example's binary: `cargo test` builds examples beside the tests, in `<profile>/examples/`.
fn leaky() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("leaky")
}

/// The example's stderr with `ALLOC_TRACKER` set to `config`.
fn run(config: &str) -> String {
    let out = Command::new(leaky())
        .current_dir(root())
        .env("ALLOC_TRACKER", config)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", leaky().display()));
    assert!(out.status.success(), "{out:?}");
    normalize(&String::from_utf8_lossy(&out.stderr))
}

/// `(pid 3156, 0.01 s)` -> `(pid _, _ s)`, and `, 1 short-lived` -> `, _ short-lived`: whether a
/// block lived under a millisecond depends on how fast this run went (std's stdout buffer, made
/// at the first line printed and freed at exit, is short-lived in most runs, not in all).
fn normalize(text: &str) -> String {
    text.lines()
        .map(|l| match (l.find("(pid "), l.find(" s)")) {
            (Some(a), Some(b)) if a < b => format!("{}(pid _, _ s){}", &l[..a], &l[b + 3..]),
            _ => l.to_owned(),
        })
        .map(|l| match l.find(" short-lived") {
            Some(end) => {
                let start = l[..end].rfind(", ").map_or(end, |c| c + 2);
                format!("{}_{}", &l[..start], &l[end..])
            }
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The README's ```text blocks that follow the line containing `after`, up to the first that
/// starts with `starts` (normalized).
fn quoted(after: &str, starts: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let from = readme
        .find(after)
        .unwrap_or_else(|| panic!("README has no `{after}`"));
    let rest = &readme[from..];
    let mut at = 0;
    loop {
        let open = rest[at..].find("```text\n").expect("a text block") + at + 8;
        let close = rest[open..].find("```\n").unwrap() + open;
        let block = &rest[open..close];
        if block.starts_with(starts) {
            return normalize(block.trim_end());
        }
        at = close + 4;
    }
}

/// Whether `actual` matches `quoted`, where a `...` line of `quoted` matches any run of lines
/// and a quote may begin at any line of `actual`.
fn matches(quoted: &str, actual: &str) -> bool {
    fn go(q: &[&str], a: &[&str]) -> bool {
        match q.split_first() {
            None => a.is_empty(),
            Some((&"...", rest)) => (0..=a.len()).any(|k| go(rest, &a[k..])),
            Some((line, rest)) => a.first() == Some(line) && go(rest, &a[1..]),
        }
    }
    let q: Vec<&str> = quoted.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    (0..=a.len()).any(|k| go(&q, &a[k..]))
}

#[test]
fn the_default_report_is_quoted_whole() {
    let quote = quoted(
        "cargo run -q -p alloc-tracker --example leaky",
        "alloc-tracker: report",
    );
    let actual = run("");
    assert_eq!(quote, actual);
}

#[test]
fn the_show_reachable_report_is_quoted_from_entry_6() {
    let quote = quoted("**Listing reachable callsites.**", "#6 reachable:");
    let actual = run("show=direct,indirect,reachable");
    assert!(
        matches(&quote, &actual),
        "README:\n{quote}\n\nrun:\n{actual}"
    );
}

#[test]
fn the_suppressed_report_is_quoted() {
    let dir = std::env::temp_dir().join(format!("readme-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = quoted("**Suppressing known leaks.**", "# the example");
    let file = dir.join("leaky.supp");
    std::fs::write(&file, format!("{rules}\n")).unwrap();
    let quote = quoted(
        "ALLOC_TRACKER=suppressions=/tmp/leaky.supp",
        "alloc-tracker: report",
    );
    let actual = run(&format!("suppressions={}", file.display()));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches(&quote, &actual),
        "README:\n{quote}\n\nrun:\n{actual}"
    );
}

#[test]
fn the_pprof_export_reads_in_go_pprof_as_quoted() {
    let dir = std::env::temp_dir().join(format!("readme-pprof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("heap.pb.gz");
    run(&format!("report=off,pprof={}", file.display()));
    let out = Command::new("go")
        .args(["tool", "pprof", "-top"])
        .arg(&file)
        .output()
        .expect("`go` is installed (Debian golang-go; .ci/run installs it)");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{out:?}");
    let top = String::from_utf8_lossy(&out.stdout);
    // From the totals on: the lines above name the file, its build ID and the time.
    let from_totals = |text: &str| -> String {
        let at = text
            .find("Showing nodes accounting for ")
            .unwrap_or_else(|| panic!("no totals in\n{text}"));
        text[at..].trim_end().to_owned()
    };
    let quote = quoted("go tool pprof -top /tmp/heap-*.pb.gz", "File: leaky");
    assert_eq!(from_totals(&quote), from_totals(&top));
}

#[test]
fn a_dotted_quote_still_has_to_match() {
    assert!(matches("a\n...\nd", "x\na\nb\nc\nd"));
    assert!(!matches("a\n...\nd", "a\nb\nc"));
    assert!(!matches("a\nc", "a\nb\nc"));
}
