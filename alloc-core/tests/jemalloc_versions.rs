//! alloc-core next to other jemalloc users (#11 item 7).
//!
//! `tikv-jemalloc-sys` declares `links = "jemalloc"`: Cargo allows one copy per dependency graph.
//! alloc-core accepts `>=0.5.4, <0.8`, so a program that already depends on `tikv-jemallocator` 0.5,
//! 0.6 or 0.7 resolves to that one copy. Each test writes a small program outside the workspace
//! (in `CARGO_TARGET_TMPDIR`, kept between runs) depending on `tikv-jemallocator = "<v>"` and on this
//! crate by path, and runs the real `cargo` on it.
//!
//! Resolving (what failed before, with alloc-core pinned to 0.7) takes well under a second per
//! version and runs by default. Building compiles jemalloc's C sources once more per configuration
//! (3.5–6.5 minutes each on this 2-core machine under load; later runs reuse them), so those tests
//! are opt-in: `cargo test -p alloc-core --test jemalloc_versions -- --ignored --test-threads 1`.
//! They build and run the program beside 0.6, check that a program defining its own
//! `_rjem_malloc_conf` fails to link (rather than silently dropping alloc-core's options, as it did
//! before `malloc_conf` was defined too), and that the options apply when another crate makes
//! jemalloc unprefixed (they did not before).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The program's source (`tests/fixtures/jemalloc_user/main.rs`).
const MAIN_RS: &str = include_str!("fixtures/jemalloc_user/main.rs");

/// Writes the program `name`, depending on `dependency` (a Cargo.toml line) and alloc-core.
fn fixture(name: &str, dependency: &str) -> PathBuf {
    let name = name.replace('.', "_");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         # Not a member of any workspace above this directory (a target dir may lie inside one).\n\
         [workspace]\n\n[features]\nown_conf = []\n\n[dependencies]\n{dependency}\n\
         alloc-core = {{ path = {:?} }}\n",
        env!("CARGO_MANIFEST_DIR")
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/main.rs"), MAIN_RS);
    dir
}

/// Keeps mtimes, so a second build of an unchanged program is a no-op.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

/// Runs `cargo <args>` in `dir`, with the fixtures' own target dir.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("jemalloc-user-target"),
        )
        .output()
        .unwrap()
}

/// Resolves the program afresh and returns the `tikv-jemalloc-sys` versions in its lockfile.
fn resolve(dir: &Path) -> Result<Vec<String>, String> {
    let _ = std::fs::remove_file(dir.join("Cargo.lock"));
    let out = cargo(dir, &["generate-lockfile"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    let mut lines = lock.lines();
    let mut versions = Vec::new();
    while let Some(line) = lines.next() {
        if line == "name = \"tikv-jemalloc-sys\"" {
            let version = lines.next().unwrap();
            versions.push(
                version
                    .trim_start_matches("version = ")
                    .trim_matches('"')
                    .to_owned(),
            );
        }
    }
    Ok(versions)
}

#[test]
fn resolves_beside_tikv_jemallocator_0_5_0_6_and_0_7() {
    for minor in ["0.5", "0.6", "0.7"] {
        let dir = fixture(
            &format!("jemalloc-user-{minor}"),
            &format!("tikv-jemallocator = \"{minor}\""),
        );
        let versions = resolve(&dir).unwrap_or_else(|e| {
            panic!("alloc-core beside tikv-jemallocator {minor} does not resolve:\n{e}")
        });
        assert_eq!(versions.len(), 1, "{versions:?}");
        assert!(
            versions[0].starts_with(&format!("{minor}.")),
            "tikv-jemallocator {minor} got tikv-jemalloc-sys {versions:?}"
        );
    }
}

#[test]
fn an_older_jemalloc_is_refused_by_cargo_with_the_documented_error() {
    // tikv-jemallocator 0.4 (jemalloc 5.2.1) is outside alloc-core's range: two `links = "jemalloc"`
    // packages cannot share a graph, and Cargo says so before anything is compiled. The crate docs
    // and the README quote this message.
    let dir = fixture("jemalloc-user-0.4", "tikv-jemallocator = \"0.4\"");
    let err = resolve(&dir).expect_err("tikv-jemalloc-sys 0.4 resolved beside alloc-core");
    assert!(
        err.contains("failed to select a version for `tikv-jemalloc-sys`")
            && err.contains(
                "links to the native library `jemalloc`, but it conflicts with a previous \
                 package which links to `jemalloc` as well"
            ),
        "{err}"
    );
}

/// Runs the fixture program in `dir`: it must print that alloc-core's guarantees hold there.
fn runs_with_alloc_cores_guarantees(dir: &Path) {
    let out = cargo(dir, &["run", "--quiet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    // jemalloc complains on stderr about an option its version does not know, and goes on.
    assert!(!stderr.contains("<jemalloc>"), "{stderr}");
    assert_eq!(
        stdout.trim(),
        "usable=1024 aligned=true allocated_covers_vec=true conf_applied=true"
    );
}

#[test]
#[ignore = "compiles jemalloc 0.6 from C (minutes): run with --ignored"]
fn builds_and_runs_beside_tikv_jemallocator_0_6() {
    let dir = fixture("jemalloc-user-0.6", "tikv-jemallocator = \"0.6\"");
    let versions = resolve(&dir).unwrap();
    assert!(versions[0].starts_with("0.6."), "{versions:?}");
    runs_with_alloc_cores_guarantees(&dir);
}

#[test]
#[ignore = "links the program of builds_and_runs_beside_tikv_jemallocator_0_6 again: run with --ignored"]
fn a_programs_own_malloc_conf_is_a_link_error() {
    // What alloc-core's `config` docs say: jemalloc reads one option string, alloc-core defines it,
    // and a program defining it too fails to link rather than silently dropping either's options.
    let dir = fixture("jemalloc-user-0.6", "tikv-jemallocator = \"0.6\"");
    let out = cargo(&dir, &["build", "--quiet", "--features", "own_conf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "linked with two malloc_conf strings");
    assert!(
        stderr.contains("duplicate symbol: _rjem_malloc_conf")
            || stderr.contains("multiple definition of `_rjem_malloc_conf'"),
        "{stderr}"
    );
}

#[test]
#[ignore = "compiles jemalloc 0.6 unprefixed from C (minutes): run with --ignored"]
fn options_apply_when_jemalloc_is_unprefixed() {
    // A crate of the program may turn on `unprefixed_malloc_on_supported_platforms`: jemalloc then
    // reads `malloc_conf`, not `_rjem_malloc_conf`, and alloc-core defines both.
    let dir = fixture(
        "jemalloc-user-0.6-unprefixed",
        "tikv-jemallocator = { version = \"0.6\", features = [\"unprefixed_malloc_on_supported_platforms\"] }",
    );
    runs_with_alloc_cores_guarantees(&dir);
}
