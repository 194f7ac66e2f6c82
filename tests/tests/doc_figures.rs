//! The docs quote literal output with file:line figures; this checks that the lines quoted are
//! still the lines of the code they name, and that every example file the docs cite exists.
//! (The outputs themselves are checked where they are produced: `exit_report.rs` runs
//! `leak_named`; `lit`'s output is pasted from a run.) No global allocator: reads files only.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The 1-based line of `file` that contains `needle` (exactly one must).
fn line_of(file: &str, needle: &str) -> usize {
    let text = read(file);
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "{file}: `{needle}` on lines {hits:?}");
    hits[0]
}

/// Every `<name>.rs:<line>:` that `doc` quotes, as line numbers.
fn quoted_lines(doc: &str, name: &str) -> Vec<usize> {
    let pat = format!("{name}.rs:");
    doc.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &doc[i + pat.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn crate_docs_quote_leak_nameds_lines() {
    let lib = read("alloc-tracker/src/lib.rs");
    let leak = line_of("tests/src/bin/leak_named.rs", "vec![7u8; 12_345]");
    let call = line_of("tests/src/bin/leak_named.rs", "    leak_some();");
    let freed = line_of("tests/src/bin/leak_named.rs", "(0..1000).collect()");
    let print = line_of("tests/src/bin/leak_named.rs", "println!(");
    // The leak's entry, then the owners of the peak: the leak again, the freed vector, std's
    // stdout buffer (first filled by the `println!`).
    let want = [leak, call, leak, call, freed, print];
    assert_eq!(quoted_lines(&lib, "leak_named"), want);
}

#[test]
fn write_report_docs_quote_lits_lines() {
    let report = read("alloc-tracker/src/report/mod.rs");
    let quoted = quoted_lines(&report, "lit");
    assert!(
        !quoted.is_empty(),
        "write_report's docs quote no line of lit.rs"
    );
    let lit = read("alloc-tracker/examples/lit.rs");
    let calls: Vec<usize> = lit
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.contains("println!") || l.contains("vec![") || l.contains("forget_some();")
        })
        .map(|(i, _)| i + 1)
        .collect();
    for line in quoted {
        assert!(
            calls.contains(&line),
            "lit.rs:{line} is not an allocating line ({calls:?})"
        );
    }
}

#[test]
fn cited_example_files_exist() {
    let mut docs = vec![read("README.md")];
    for dir in [
        "alloc-tracker/src",
        "alloc-tracker/src/report",
        "alloc-tracker/src/scan",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                docs.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    for doc in &docs {
        for (i, _) in doc.match_indices("alloc-tracker/examples/") {
            let name: String = doc[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/_-.".contains(*c))
                .collect();
            let name = name.trim_end_matches('.');
            assert!(root().join(name).is_file(), "cited but missing: {name}");
        }
    }
}
