//! The exports of one snapshot, read by the real tools their users open them with:
//! `src/bin/export_known.rs` makes known allocations (`integration_tests::export_known`) and
//! writes every export through the API; these tests check what the tools make of the files.
//!
//! - pprof: `go tool pprof -top` for each of the four sample types gives each known callsite's
//!   figure exactly, by function name. Go must be installed (Debian `golang-go`; `.ci/run`
//!   installs it): without it these tests fail, they do not skip.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use integration_tests::child::run_within;
use integration_tests::export_known::{
    HOLDER_BYTES, KEEP_BYTES, PAGE_BYTES, PAGES, PAGES_FREED, SPIKE_BYTES,
};

const EXPORT_KNOWN: &str = env!("CARGO_BIN_EXE_export_known");

/// A child or a tool that has not exited after this long is taken to hang.
const LIMIT: Duration = Duration::from_secs(120);

/// The files one run of `export_known` wrote, and the snapshot's global figures it printed.
struct Known {
    dir: PathBuf,
    /// Live bytes when the snapshot was taken.
    live: u64,
    /// The heap's peak (t-gmax) bytes.
    peak: u64,
}

impl Known {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Runs `export_known` once per test process, writing every export into a fresh directory.
fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exports");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(EXPORT_KNOWN);
        cmd.env("ALLOC_TRACKER", "report=off");
        for (key, file) in [("pprof", "heap.pb.gz")] {
            cmd.arg(format!("{key}={}", dir.join(file).display()));
        }
        let out = run_within(cmd, None, LIMIT, "export_known");
        assert!(out.status.success(), "export_known failed:\n{}", out.stderr);
        let line = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("heap "))
            .unwrap_or_else(|| panic!("no heap line:\n{}", out.stdout));
        let figure = |key: &str| -> u64 {
            line.split(' ')
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key}= in {line}"))
        };
        Known {
            live: figure("live"),
            peak: figure("peak"),
            dir,
        }
    })
}

/// Runs a tool, failing (not skipping) when it is not installed.
fn tool(program: &str, args: &[&str], install: &str) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if Command::new(program).arg("--version").output().is_err()
        && Command::new(program).arg("version").output().is_err()
    {
        panic!("`{program}` is not installed: {install} (.ci/run does)");
    }
    let out = run_within(cmd, None, LIMIT, program);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// The 1-based line of `src/bin/export_known.rs` that contains `needle`.
fn line_of(needle: &str) -> usize {
    let path = format!("{}/src/bin/export_known.rs", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(path).unwrap();
    1 + source.lines().position(|l| l.contains(needle)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// pprof

/// `go tool pprof -top` of the profile for one sample type: every function's flat figure, and
/// the total the header states.
fn pprof_top(sample_index: &str) -> (HashMap<String, u64>, u64, String) {
    let file = known().path("heap.pb.gz");
    let index = format!("-sample_index={sample_index}");
    let mut args = vec!["tool", "pprof", "-top", "-nodefraction=0", &index];
    if sample_index.ends_with("_space") {
        args.push("-unit=byte"); // exact figures, not "1.95MB"
    }
    args.push(file.to_str().unwrap());
    let text = tool("go", &args, "apt-get install golang-go");
    let number = |s: &str| -> u64 {
        s.trim_end_matches('B')
            .parse()
            .unwrap_or_else(|_| panic!("not a figure: {s:?} in\n{text}"))
    };
    // "Showing nodes accounting for 2375575B, 100% of 2375575B total"
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix("Showing nodes accounting for "))
        .and_then(|l| l.split(" of ").nth(1)?.strip_suffix(" total"))
        .map(number)
        .unwrap_or_else(|| panic!("no total line in\n{text}"));
    let mut flat = HashMap::new();
    let rows = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("flat"));
    for row in rows.skip(1) {
        let words: Vec<&str> = row.split_whitespace().collect();
        if words.len() < 6 {
            continue;
        }
        let name = words[5..].join(" ");
        let name = name.trim_end_matches(" (inline)").to_owned();
        *flat.entry(name).or_insert(0) += number(words[0]);
    }
    (flat, total, text)
}

/// Checks one sample type's figures for the known callsites (`None`: absent or zero).
fn check_pprof(sample_index: &str, expect: [(&str, u64); 4]) {
    let (flat, total, text) = pprof_top(sample_index);
    assert!(
        text.contains(&format!("Type: {sample_index}")),
        "sample type not shown:\n{text}"
    );
    for (function, figure) in expect {
        let name = format!("export_known::{function}");
        assert_eq!(
            flat.get(&name).copied().unwrap_or(0),
            figure,
            "{sample_index} of {name}:\n{text}"
        );
        if figure > 0 {
            assert!(text.contains(&name), "{name} missing:\n{text}");
        }
    }
    if sample_index == "inuse_space" {
        assert_eq!(
            total,
            known().live,
            "inuse_space total is the live heap\n{text}"
        );
    }
}

#[test]
fn pprof_inuse_space_is_exact_per_function() {
    let pages_live = (PAGES - PAGES_FREED) * PAGE_BYTES;
    check_pprof(
        "inuse_space",
        [
            ("page", pages_live),
            ("keep", KEEP_BYTES),
            ("holder", HOLDER_BYTES),
            ("spike", 0),
        ],
    );
}

#[test]
fn pprof_inuse_objects_is_exact_per_function() {
    check_pprof(
        "inuse_objects",
        [
            ("page", PAGES - PAGES_FREED),
            ("keep", 1),
            ("holder", 1),
            ("spike", 0),
        ],
    );
}

#[test]
fn pprof_alloc_space_is_exact_per_function() {
    check_pprof(
        "alloc_space",
        [
            ("page", PAGES * PAGE_BYTES),
            ("keep", KEEP_BYTES),
            ("holder", HOLDER_BYTES),
            ("spike", SPIKE_BYTES),
        ],
    );
}

#[test]
fn pprof_alloc_objects_is_exact_per_function() {
    check_pprof(
        "alloc_objects",
        [("page", PAGES), ("keep", 1), ("holder", 1), ("spike", 1)],
    );
}

#[test]
fn pprof_default_sample_type_is_inuse_space_and_mappings_carry_build_ids() {
    let file = known().path("heap.pb.gz");
    let text = tool(
        "go",
        &["tool", "pprof", "-top", file.to_str().unwrap()],
        "apt-get install golang-go",
    );
    assert!(text.contains("Type: inuse_space"), "{text}");
    // Locations carry file:line: `-lines` shows them without the binary.
    let lines = tool(
        "go",
        &["tool", "pprof", "-top", "-lines", file.to_str().unwrap()],
        "apt-get install golang-go",
    );
    let page_line = format!(
        "export_known::page src/bin/export_known.rs:{}",
        line_of("vec![1u8; PAGE_BYTES as usize]")
    );
    assert!(lines.contains(&page_line), "no {page_line:?} in\n{lines}");
    // `-raw` lists the mappings with their build IDs: the executable's must be there.
    let raw = tool(
        "go",
        &["tool", "pprof", "-raw", file.to_str().unwrap()],
        "apt-get install golang-go",
    );
    let mappings = raw
        .split("Mappings")
        .nth(1)
        .unwrap_or_else(|| panic!("no mappings in\n{raw}"));
    let exe_line = mappings
        .lines()
        .find(|l| l.contains("export_known"))
        .unwrap_or_else(|| panic!("the executable has no mapping:\n{raw}"));
    // The ELF note of the binary itself, as binutils reads it.
    let notes = tool("readelf", &["-n", EXPORT_KNOWN], "apt-get install binutils");
    let build_id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("readelf finds no build ID:\n{notes}"));
    assert!(
        exe_line.split_whitespace().any(|w| w == build_id),
        "mapping {exe_line} lacks the build ID {build_id}"
    );
}
