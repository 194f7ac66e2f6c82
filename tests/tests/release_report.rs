//! The exit report of a **release** build, as the README's main command produces it.
//!
//! `cargo test` builds the helper binaries in the test profile, with full debug information; a
//! release build has only line tables (`debug = "line-tables-only"` in the workspace), so inlined
//! frames carry short names and the allocation machinery (`RawVec`, `vec!`) is inlined into the
//! user's function. The report must still start at the user's frame, with its file and line, by
//! frame pointers and by DWARF unwinding. This test builds `leak_named` with `cargo build
//! --release` (the real cargo, into the workspace's target directory) and runs it.

use std::process::Command;

/// Builds `bin` in release mode and returns the executable's path.
fn release_bin(bin: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "integration-tests",
            "--bin",
            bin,
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo build --release failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The artifact message of the binary carries `"executable":"<path>"`.
    let line = stdout
        .lines()
        .find(|l| l.contains(&format!("\"name\":\"{bin}\"")) && l.contains("\"executable\":\""))
        .unwrap_or_else(|| panic!("no executable in cargo's messages:\n{stdout}"));
    let start = line.find("\"executable\":\"").unwrap() + "\"executable\":\"".len();
    let len = line[start..].find('"').unwrap();
    line[start..start + len].to_owned()
}

#[test]
fn release_build_report_starts_at_the_users_frame() {
    let exe = release_bin("leak_named");
    assert!(exe.contains("/release/"), "{exe}");
    let source = std::fs::read_to_string(format!(
        "{}/src/bin/leak_named.rs",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let line = 1 + source
        .lines()
        .position(|l| l.contains("vec![7u8; 12_345]"))
        .unwrap();
    for config in ["unwind=fp", "unwind=dwarf"] {
        let out = Command::new(&exe)
            .env("ALLOC_TRACKER", config)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{config}");
        let text = String::from_utf8_lossy(&out.stderr);
        let mut lines = text.lines();
        let head = lines
            .by_ref()
            .find(|l| l.contains("direct leak: 12 345 bytes in 1 block ("))
            .unwrap_or_else(|| panic!("{config}: no 12 345-byte callsite:\n{text}"));
        assert!(head.starts_with("#1 "), "{config}: {head}\n{text}");
        // The callsite's first frame is the user's function at the `vec!` line, not `RawVec`,
        // `alloc` or the tracker.
        let first = lines.next().unwrap_or_default();
        assert!(
            first.contains("leak_some at ") && first.contains(&format!("leak_named.rs:{line}:")),
            "{config}: first frame {first:?} (want leak_some at leak_named.rs:{line})\n{text}"
        );
        assert!(
            text.contains(
                "\nLEAKS: alloc-tracker: direct 12345 bytes in 1 blocks; indirect 0 bytes in 0 blocks;"
            ),
            "{config}:\n{text}"
        );
    }
}

/// The classes of release builds of the ground-truth scenarios (`leak_cases`, whose forgotten
/// blocks pass through `black_box` so that LLVM cannot remove them): the same figures as the
/// debug builds `tests/leak_classes.rs` checks against memcheck.
#[test]
fn release_build_classes_match() {
    use integration_tests::leak_shapes as shapes;
    let exe = release_bin("leak_cases");
    let node = std::mem::size_of::<shapes::ListNode>() as u64;
    for (scenario, want) in [
        ("forget_vec", (shapes::FORGET_VEC_BYTES as u64, 1, 0, 0)),
        (
            "list",
            (
                node,
                1,
                node * (shapes::LIST_NODES as u64 - 1),
                shapes::LIST_NODES as u64 - 1,
            ),
        ),
        ("statics", (0, 0, 0, 0)),
    ] {
        let out = Command::new(&exe).arg(scenario).output().expect("runs");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{scenario}:\n{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("LEAKS: alloc-tracker: "))
            .unwrap_or_else(|| panic!("{scenario}: no LEAKS line:\n{text}"));
        let n: Vec<u64> = line
            .split([' ', ';'])
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!((n[0], n[1], n[2], n[3]), want, "{scenario}: {line}");
    }
}
