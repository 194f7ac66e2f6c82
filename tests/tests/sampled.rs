//! Sampled mode (`ALLOC_TRACKER=sample=<bytes>`) end to end, through the child
//! `src/bin/sampled.rs` (see its docs for the scenarios):
//!
//! - the exit report's header says the figures are estimates, with the rate as given; there is no
//!   `LEAKS:` line (no scan) and `SUMMARY:` keeps its exact form;
//! - its per-callsite estimates of live bytes are within ±10% of the known truth for 64-byte,
//!   4 KiB and 1 MiB blocks (about 1000 expected samples each at 16 KiB: 3% standard error, so a
//!   miss means bias, not luck; the generator's seed is fixed, so the outcome is the same on every
//!   run), and within ±10% of the exact run's figures for the same program, whose `SUMMARY:` live
//!   figure is the sampled run's to the byte (global figures stay exact);
//! - 8 threads freeing each other's blocks lose nothing (live bytes and blocks back where they
//!   were, the threads' callsite estimated at 0 live) and an unsampled free never probes the block
//!   map: probes (counted by the tracker) are a small fraction of the frees;
//! - `heap_profile()` is read by the real `go tool pprof` (Debian `golang-go`; without it these
//!   tests fail, they do not skip): estimates per function within ±10%, and the profile's period
//!   is the rate;
//! - `pprof_every=1` with `pprof=<dir>/heap.%n.pb.gz` writes numbered files while the program
//!   runs, each read by `go tool pprof`, and the program exits cleanly with the writer running.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::child::{Finished, run_within};
use integration_tests::pprof::{flat_by_function, go_pprof};

const SAMPLED: &str = env!("CARGO_BIN_EXE_sampled");
const LIMIT: Duration = Duration::from_secs(120);
/// The rate of the estimate tests: about 1000 samples per known callsite (see the module docs).
const RATE: &str = "16KiB";

fn run(scenario: &[&str], config: &str) -> Finished {
    let mut cmd = Command::new(SAMPLED);
    cmd.args(scenario).env("ALLOC_TRACKER", config);
    let out = run_within(cmd, None, LIMIT, "sampled");
    assert!(
        out.status.success(),
        "sampled {scenario:?} under {config} failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

/// `key=value` figures of the stdout line starting with `prefix`.
fn figures(stdout: &str, prefix: &str) -> HashMap<String, i64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in\n{stdout}"));
    line.split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The report's `live at exit:` entries by first shown function (`sampled::small_block`…).
fn live_by_function(report: &str) -> HashMap<String, u64> {
    let lines: Vec<&str> = report.lines().collect();
    let mut out = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l
            .strip_prefix('#')
            .and_then(|l| l.split_once(" live at exit: "))
            .map(|(_, r)| r)
        else {
            continue;
        };
        let bytes: u64 = rest
            .split(" bytes")
            .next()
            .unwrap()
            .replace(' ', "")
            .parse()
            .unwrap_or_else(|_| panic!("bad entry {l:?}"));
        let function = lines[i + 1].split_whitespace().next().unwrap().to_owned();
        *out.entry(function).or_insert(0) += bytes;
    }
    out
}

/// The `SUMMARY:` line's live bytes.
fn summary_live(report: &str) -> u64 {
    let last = report.lines().last().unwrap();
    let rest = last
        .strip_prefix("SUMMARY: alloc-tracker: live at exit: ")
        .unwrap_or_else(|| panic!("last line is not SUMMARY: {last:?}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

fn within(got: u64, want: u64, tolerance: f64) -> bool {
    (got as f64 / want as f64 - 1.0).abs() <= tolerance
}

#[test]
fn report_header_says_estimates_and_summary_stays_exact_in_form() {
    let out = run(&["known"], "sample=524288");
    let report = &out.stderr;
    assert!(
        report
            .lines()
            .any(|l| l.trim() == "sampled every ~512 KiB: per-callsite figures are estimates"),
        "{report}"
    );
    assert!(
        !report.contains("LEAKS:"),
        "no scan in sampled mode:\n{report}"
    );
    assert!(!report.contains("direct leak"), "{report}");
    let last = report.lines().last().unwrap();
    let form = regex_free_summary(last);
    assert!(form, "SUMMARY line out of form: {last:?}");
}

/// `SUMMARY: alloc-tracker: live at exit: <n> bytes in <n> blocks from <n> callsites`.
fn regex_free_summary(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("SUMMARY: alloc-tracker: live at exit: ") else {
        return false;
    };
    let words: Vec<&str> = rest.split(' ').collect();
    words.len() == 8
        && [0, 3, 6].iter().all(|&i| words[i].parse::<u64>().is_ok())
        && words[1] == "bytes"
        && words[2] == "in"
        && words[4] == "blocks"
        && words[5] == "from"
        && words[7] == "callsites"
}

#[test]
fn estimates_within_ten_percent_of_truth_and_of_the_exact_run() {
    let sampled = run(&["known"], &format!("sample={RATE},top=30"));
    let truth = figures(&sampled.stdout, "truth ");
    let est = live_by_function(&sampled.stderr);
    let exact = run(&["known"], "scan=off,top=30");
    let exact_live = live_by_function(&exact.stderr);
    for (key, function) in [
        ("small", "sampled::small_block"),
        ("medium", "sampled::medium_block"),
        ("large", "sampled::large_block"),
    ] {
        let want = truth[key] as u64;
        let got = est.get(function).copied().unwrap_or(0);
        assert!(
            within(got, want, 0.10),
            "{function}: estimated {got} bytes live, truth {want}\n{}",
            sampled.stderr
        );
        assert_eq!(exact_live.get(function), Some(&want), "{}", exact.stderr);
        assert!(within(got, exact_live[function], 0.10));
    }
    // `churn` freed everything it allocated: no estimate of it is live.
    assert_eq!(est.get("sampled::churn"), None, "{}", sampled.stderr);
    // The global figures are exact in both modes: the same program, the same live bytes.
    assert_eq!(
        summary_live(&sampled.stderr),
        summary_live(&exact.stderr),
        "sampled:\n{}\nexact:\n{}",
        sampled.stderr,
        exact.stderr
    );
}

#[test]
fn threads_freeing_each_others_blocks_lose_nothing_and_skip_the_map() {
    let out = run(&["threads"], &format!("sample={RATE},report=off"));
    let f = figures(&out.stdout, "frees=");
    assert_eq!(f["live_delta"], 0, "{}", out.stdout);
    assert_eq!(f["blocks_delta"], 0, "{}", out.stdout);
    assert_eq!(f["site_live"], 0, "{}", out.stdout);
    // About 16 + 1500 bytes a block, one sample per 16 KiB: about 1 free in 10 is of a sampled
    // block (more with the reallocs). Unsampled frees probe the map only on a false positive of
    // the filter: about (sampled blocks live) / 2^19, here under 2% of the frees.
    let (frees, probes, misses) = (f["frees"], f["probes"], f["misses"]);
    assert!(probes > 0 && probes * 4 < frees, "{}", out.stdout);
    assert!(misses * 50 <= frees, "false positives: {}", out.stdout);
}

/// `go tool pprof -top` flat bytes by function for `inuse_space`.
fn inuse_by_function(file: &Path) -> HashMap<String, u64> {
    let text = go_pprof(&[
        "-top",
        "-nodefraction=0",
        "-sample_index=inuse_space",
        "-unit=byte",
        file.to_str().unwrap(),
    ]);
    assert!(text.contains("Type: inuse_space"), "{text}");
    flat_by_function(&text)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn heap_profile_is_read_by_go_pprof_with_estimates_and_period() {
    let dir = scratch("sampled-profile");
    let file = dir.join("heap.pb.gz");
    let out = run(
        &["profile", file.to_str().unwrap()],
        &format!("sample={RATE},report=off"),
    );
    let truth = figures(&out.stdout, "truth ");
    let flat = inuse_by_function(&file);
    for (key, function) in [
        ("small", "sampled::small_block"),
        ("medium", "sampled::medium_block"),
        ("large", "sampled::large_block"),
    ] {
        let got = flat.get(function).copied().unwrap_or(0);
        assert!(
            within(got, truth[key] as u64, 0.10),
            "{function}: {got} in the profile, truth {}: {flat:#?}",
            truth[key]
        );
    }
    let raw = go_pprof(&["-raw", file.to_str().unwrap()]);
    assert!(raw.contains("PeriodType: space bytes"), "{raw}");
    assert!(raw.contains("Period: 16384"), "{raw}");
}

#[test]
fn periodic_profiles_appear_and_the_program_exits_cleanly() {
    let dir = scratch("sampled-periodic");
    let pattern = dir.join("heap.%p.%n.pb.gz");
    let out = run(
        &["periodic", "3500"],
        &format!(
            "sample={RATE},report=off,pprof_every=1,pprof={}",
            pattern.display()
        ),
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Up to three periodic profiles in 3.5 s (the first after 1 s, each taking what a loaded
    // machine makes it take), then the exit's.
    assert!((2..=5).contains(&files.len()), "{files:?}\n{}", out.stderr);
    for (n, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(&format!(".{n}.pb.gz")), "{files:?}");
        let flat = inuse_by_function(file);
        if n == files.len() - 1 {
            // The exit's profile, after `known`.
            assert!(
                flat.contains_key("sampled::small_block"),
                "{name}: {flat:#?}"
            );
        }
    }
}
