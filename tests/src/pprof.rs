//! Reading heap profiles with the real `go tool pprof` (Debian `golang-go`; `.ci/run` installs
//! it): the tests that check the pprof export, sampled mode's profiles and the exports written at
//! exit all read them through here.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::child::run_within;

/// Runs `go tool pprof` with `args` and returns its stdout; fails (never skips) when Go is not
/// installed or pprof refuses the file.
pub fn go_pprof(args: &[&str]) -> String {
    let mut cmd = Command::new("go");
    cmd.arg("tool").arg("pprof").args(args);
    let out = run_within(cmd, None, Duration::from_secs(120), "go tool pprof");
    assert!(
        out.status.success(),
        "go tool pprof {args:?} failed (apt-get install golang-go):\n{}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// A figure of `-top`'s output: `2375575B` (with `-unit=byte`) or `500`.
fn figure(word: &str, top: &str) -> u64 {
    word.trim_end_matches('B')
        .parse()
        .unwrap_or_else(|_| panic!("not a figure: {word:?} in\n{top}"))
}

/// The flat figure of every function in `go tool pprof -top`'s output, inlined frames (`f
/// (inline)`) counted as `f`.
pub fn flat_by_function(top: &str) -> HashMap<String, u64> {
    let mut flat = HashMap::new();
    let rows = top
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"));
    for row in rows.skip(1) {
        let words: Vec<&str> = row.split_whitespace().collect();
        if words.len() < 6 {
            continue;
        }
        let name = words[5..].join(" ");
        let name = name.trim_end_matches(" (inline)").to_owned();
        *flat.entry(name).or_insert(0) += figure(words[0], top);
    }
    flat
}

/// The total that `-top`'s header states ("Showing nodes accounting for 2375575B, 100% of
/// 2375575B total").
pub fn total(top: &str) -> u64 {
    top.lines()
        .find_map(|l| l.strip_prefix("Showing nodes accounting for "))
        .and_then(|l| l.split(" of ").nth(1)?.strip_suffix(" total"))
        .map(|t| figure(t, top))
        .unwrap_or_else(|| panic!("no total line in\n{top}"))
}
