//! The report's model: callsites as the user sees them, resolved once and merged.
//!
//! A callsite is a raw stack; what a report shows of it is its first `frames=N` frames outside
//! the allocation machinery, with runs of library frames folded into one line (`stacks=full`
//! keeps them). Two callsites that show the same lines are one entry for the user (a closure
//! reached through two different `HashMap` growth paths, a `Vec` grown by `push` and by
//! `extend` at one line), so entries are merged by their shown lines: their figures are summed
//! and the number of stacks merged is kept. Every writer (text, and the exports' frame names)
//! starts from this.

use std::collections::HashMap;

use core::sync::atomic::Ordering::Relaxed;

use crate::report::symbolize::{self, Frame};
use crate::table::{self, Callsite};

/// How stacks are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Frames shown at most, counted outside the allocation machinery (`frames=`).
    pub frames: usize,
    /// Show library frames instead of folding their runs (`stacks=full`).
    pub full: bool,
}

/// One entry of a report: callsites that show the same lines, with their summed figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Site {
    /// The shown lines, callsite first (a folded run is one line); empty when no frame is shown,
    /// and then `empty` says why.
    pub lines: Vec<String>,
    pub empty: Option<&'static str>,
    /// The figure the list is sorted by (bytes and blocks of a class, live, or at the peak).
    pub bytes: u64,
    pub blocks: u64,
    /// Live bytes at the heap's peak (t-gmax), for the peak share.
    pub peak_bytes: u64,
    /// Bytes and blocks ever allocated, reallocs, temporaries and short-lived blocks (see
    /// `table::Callsite`).
    pub total_bytes: u64,
    pub total_blocks: u64,
    pub reallocs: u64,
    pub temporaries: u64,
    pub short_lived: u64,
    /// Raw stacks merged into this entry.
    pub stacks: usize,
    /// For blocks grown here (reallocs), the first line of the callsite that first made a block
    /// grown here, when it shows differently (see `table::Callsite::grown_from`).
    pub grown_from: Option<String>,
}

/// The lines shown for `stack` (resolved now, cached per address). Call under the guard.
pub(crate) fn lines(stack: &[usize], shape: Shape) -> Vec<String> {
    symbolize::fill(stack);
    let mut frames: Vec<Frame> = Vec::new();
    symbolize::for_each_trimmed(stack, |f| {
        if frames.len() < shape.frames {
            frames.push(f.clone());
        }
    });
    if shape.full {
        return frames.iter().map(ToString::to_string).collect();
    }
    fold(&frames)
}

/// The frames as lines, each run of two or more library frames after the first frame folded
/// into one line: `… 9 frames in std …`, `… 3 frames in std, regex-automata …`. The first frame
/// is always shown: it is where the allocation was made.
pub(crate) fn fold(frames: &[Frame]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let lib = if i == 0 { None } else { library(&frames[i]) };
        let Some(first_lib) = lib else {
            out.push(frames[i].to_string());
            i += 1;
            continue;
        };
        let mut libs = vec![first_lib];
        let mut j = i + 1;
        while let Some(l) = frames.get(j).and_then(library) {
            if !libs.contains(&l) {
                libs.push(l);
            }
            j += 1;
        }
        if j - i == 1 {
            out.push(frames[i].to_string());
        } else {
            out.push(format!("… {} frames in {} …", j - i, libs.join(", ")));
        }
        i = j;
    }
    out
}

/// The library a frame belongs to, if it is not the program's own: `std` (std, core and alloc,
/// by their `library/` sources or their paths), or a crate from Cargo's registry or git checkouts
/// (by its source path: `…/registry/src/<index>/regex-automata-0.4.9/src/…` is
/// `regex-automata`). Frames of the program's workspace (relative paths) are its own.
pub(crate) fn library(frame: &Frame) -> Option<String> {
    if let Some(file) = &frame.file {
        if file.starts_with("library/") {
            return Some("std".into());
        }
        for marker in ["/.cargo/registry/src/", "/.cargo/git/checkouts/"] {
            if let Some((_, rest)) = file.split_once(marker) {
                // `<index or repo>/<crate-version or commit>/…`
                let dir = rest.split('/').nth(1)?;
                return Some(crate_name(dir).to_owned());
            }
        }
        return None;
    }
    // Without a file: std by its paths, or its unwinding shims (`__rust_try`).
    let name = frame.function.trim_start_matches('<');
    ["std::", "core::", "alloc::", "__rust_"]
        .iter()
        .any(|p| name.starts_with(p))
        .then(|| "std".into())
}

/// `regex-automata-0.4.9` -> `regex-automata` (a registry directory without its version: cut at
/// the first `-` followed by a digit, so `serde-1.0.0-beta.1` is `serde`).
fn crate_name(dir: &str) -> &str {
    dir.match_indices('-')
        .find(|&(i, _)| dir[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
        .map_or(dir, |(i, _)| &dir[..i])
}

/// Why a callsite shows no line.
fn empty_reason(cs: &Callsite, lines: &[String]) -> Option<&'static str> {
    if !lines.is_empty() {
        None
    } else if cs.stack.is_empty() {
        // Two callsites have no frames: the catch-all of a full table, and a stack the unwinder
        // found no frame in.
        Some(if table::is_catch_all(cs) {
            "stacks not recorded: the callsite table is full"
        } else {
            "no stack captured: the unwinder found no frame where this allocated"
        })
    } else {
        Some("no frame outside the allocation machinery")
    }
}

/// Entries for `(callsite, bytes, blocks)` figures: resolved, merged by shown lines, sorted by
/// bytes then blocks (largest first), ties by first line. Call under the guard.
pub(crate) fn sites(
    figures: impl IntoIterator<Item = (&'static Callsite, u64, u64)>,
    shape: Shape,
) -> Vec<Site> {
    let mut out: Vec<Site> = Vec::new();
    let mut index: HashMap<(Vec<String>, Option<&'static str>), usize> = HashMap::new();
    for (cs, bytes, blocks) in figures {
        let lines = lines(&cs.stack, shape);
        let empty = empty_reason(cs, &lines);
        let i = *index.entry((lines.clone(), empty)).or_insert_with(|| {
            out.push(Site {
                lines,
                empty,
                ..Site::default()
            });
            out.len() - 1
        });
        let site = &mut out[i];
        site.bytes += bytes;
        site.blocks += blocks;
        site.peak_bytes += cs.peak_bytes.load(Relaxed);
        site.total_bytes += cs.total_bytes.load(Relaxed);
        site.total_blocks += cs.total_blocks();
        site.reallocs += cs.reallocs.load(Relaxed);
        site.temporaries += cs.temporaries.load(Relaxed);
        site.short_lived += cs.short_lived();
        site.stacks += 1;
        if site.grown_from.is_none()
            && let Some(origin) = table::by_id(cs.grown_from.load(Relaxed))
        {
            let first = self::lines(&origin.stack, shape).into_iter().next();
            if first.is_some() && first.as_ref() != site.lines.first() {
                site.grown_from = first;
            }
        }
    }
    out.sort_by(|a, b| {
        (b.bytes, b.blocks)
            .cmp(&(a.bytes, a.blocks))
            .then_with(|| a.lines.cmp(&b.lines))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: Option<&str>) -> Frame {
        Frame {
            function: function.into(),
            file: file.map(Into::into),
            line: Some(1),
            column: Some(2),
        }
    }

    #[test]
    fn library_frames_by_source() {
        let std = frame("core::iter::traits::iterator::Iterator::fold", None);
        assert_eq!(library(&std).as_deref(), Some("std"));
        let std_file = frame("fold", Some("library/core/src/iter/mod.rs"));
        assert_eq!(library(&std_file).as_deref(), Some("std"));
        let dep = frame(
            "regex_automata::meta::Regex::new",
            Some(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/regex-automata-0.4.9/src/meta/regex.rs",
            ),
        );
        assert_eq!(library(&dep).as_deref(), Some("regex-automata"));
        assert_eq!(library(&frame("__rust_try", None)).as_deref(), Some("std"));
        let own = frame("app::main", Some("src/main.rs"));
        assert_eq!(library(&own), None);
        assert_eq!(crate_name("serde-1.0.0-beta.1"), "serde");
        assert_eq!(crate_name("grep-searcher-0.1.14"), "grep-searcher");
        assert_eq!(crate_name("noversion"), "noversion");
    }

    #[test]
    fn runs_of_library_frames_fold_but_never_the_first_frame() {
        let frames = [
            frame(
                "std::thread::local::LocalKey::with",
                Some("library/std/src/thread/local.rs"),
            ),
            frame("app::init", Some("src/main.rs")),
            frame("core::iter::fold", Some("library/core/src/iter/mod.rs")),
            frame("core::iter::map", Some("library/core/src/iter/mod.rs")),
            frame(
                "regex::Regex::new",
                Some("/h/.cargo/registry/src/idx/regex-1.11.1/src/lib.rs"),
            ),
            frame("app::main", Some("src/main.rs")),
            frame(
                "std::sync::OnceLock::get_or_init",
                Some("library/std/src/sync/once_lock.rs"),
            ),
        ];
        assert_eq!(
            fold(&frames),
            [
                "std::thread::local::LocalKey::with at library/std/src/thread/local.rs:1:2",
                "app::init at src/main.rs:1:2",
                "… 3 frames in std, regex …",
                "app::main at src/main.rs:1:2",
                "std::sync::OnceLock::get_or_init at library/std/src/sync/once_lock.rs:1:2",
            ]
        );
    }
}
