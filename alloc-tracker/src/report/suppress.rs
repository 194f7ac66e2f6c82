//! Suppressions in LeakSanitizer's format (`ALLOC_TRACKER=suppressions=<file>`): one rule per
//! line, `leak:<substring>`, matched against the function and file name of every frame of a
//! leaked block's stack; `#` starts a comment; blank lines are skipped. A leak that a rule
//! matches is counted on the report's `suppressed:` line, not as direct or indirect.
//!
//! ```text
//! # third-party caches we keep on purpose
//! leak:regex_automata::meta
//! leak:src/plugin_registry.rs
//! ```

use std::sync::OnceLock;

use super::symbolize::{self, Frame};

/// The rules, read once. A missing file or a malformed line prints one warning naming it; the
/// program runs on with the rules that could be read.
pub(crate) struct Rules {
    patterns: Vec<String>,
}

static RULES: OnceLock<Rules> = OnceLock::new();

/// The rules of `path` (read on first use). Call under the guard.
pub(crate) fn rules(path: &str) -> &'static Rules {
    RULES.get_or_init(|| {
        let (rules, warnings) = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text, path),
            Err(e) => (
                Rules {
                    patterns: Vec::new(),
                },
                vec![format!(
                    "alloc-tracker: warning: ALLOC_TRACKER: cannot read suppressions file `{path}` ({e}); no leak is suppressed"
                )],
            ),
        };
        for w in warnings {
            crate::output::write_stderr(format!("{w}\n").as_bytes());
        }
        rules
    })
}

/// Parses a suppressions file's text: the rules, and one warning per malformed line.
pub(crate) fn parse(text: &str, path: &str) -> (Rules, Vec<String>) {
    let mut patterns = Vec::new();
    let mut warnings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_prefix("leak:").map(str::trim) {
            Some(p) if !p.is_empty() => patterns.push(p.trim_matches('*').to_owned()),
            _ => warnings.push(format!(
                "alloc-tracker: warning: suppressions file `{path}` line {}: `{line}` is not `leak:<substring>`; ignored",
                n + 1
            )),
        }
    }
    (Rules { patterns }, warnings)
}

impl Rules {
    /// The index of the first rule matching a frame of `stack` (symbolized here).
    pub(crate) fn matching(&self, stack: &[usize]) -> Option<usize> {
        if self.patterns.is_empty() {
            return None;
        }
        symbolize::fill(stack);
        self.patterns.iter().position(|p| {
            symbolize::any_frame(stack, |f: &Frame| {
                f.function.contains(p.as_str())
                    || f.file
                        .as_deref()
                        .is_some_and(|file| file.contains(p.as_str()))
            })
        })
    }

    /// How many rules there are.
    pub(crate) fn len(&self) -> usize {
        self.patterns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_comments_and_bad_lines() {
        let (rules, warnings) = parse(
            "# a comment\n\nleak:my_cache\n  leak: src/x.rs \nfoo:bar\nleak:\n",
            "s.txt",
        );
        assert_eq!(rules.patterns, ["my_cache", "src/x.rs"]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("`s.txt` line 5: `foo:bar`"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("line 6"));
    }
}
