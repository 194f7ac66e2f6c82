//! [`Snapshot::write_folded`] and [`Snapshot::write_flamegraph`]: a snapshot as Brendan Gregg's
//! folded stacks (`main;work;make_table 8000`), one metric at a time, and as an SVG flame graph
//! drawn from them by `inferno` (the Rust port of `flamegraph.pl`).
//!
//! Each callsite's trimmed stack (as the text report shows it: from its first frame outside the
//! allocation machinery to `main` or the thread's entry) gives one line, outermost frame first;
//! frames are function names without generic arguments, shortened to their last two path
//! segments (`std::rt::init` -> `rt::init`, `<alloc::vec::Vec as core::clone::Clone>::clone` ->
//! `<Vec as Clone>::clone`), inlined calls included.

use std::collections::BTreeMap;
use std::io::Write;

use inferno::flamegraph::{self, Options, Palette, color::BasicPalette};

use super::symbolize;
use crate::guard::with_guard;
use crate::snapshot::{CallsiteStats, Snapshot};

/// Which figure of each callsite a flame graph or folded stacks show, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// Bytes live at the heap's peak (t-gmax): who made the peak. The default.
    #[default]
    Peak,
    /// Bytes live when the snapshot was taken (at exit, what is left then).
    Exit,
    /// Bytes allocated in total (reallocs add their new size): who allocates the most.
    Total,
}

impl Metric {
    fn of(self, cs: &CallsiteStats) -> u64 {
        match self {
            Metric::Peak => cs.peak_bytes,
            Metric::Exit => cs.live_bytes,
            Metric::Total => cs.total_bytes,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Metric::Peak => "Bytes live at the heap's peak (t-gmax)",
            Metric::Exit => "Bytes live at the snapshot",
            Metric::Total => "Bytes allocated in total",
        }
    }
}

impl Snapshot {
    /// The folded stacks of `metric`: stack (frames joined by `;`, outermost first) -> bytes,
    /// callsites with the same stack summed, sorted by stack (as inferno wants its input).
    fn folded(&self, metric: Metric) -> BTreeMap<String, u64> {
        let mut stacks = BTreeMap::new();
        for cs in self.callsites() {
            let value = metric.of(cs);
            if value == 0 {
                continue;
            }
            let mut names = Vec::new();
            if !cs.stack().is_empty() {
                with_guard(|_| symbolize::fill(cs.stack()));
                symbolize::for_each_trimmed(cs.stack(), |frame| {
                    // `;` separates frames (`[u8; 4]` reads `[u8, 4]`); spaces are fine: the
                    // value is the last word.
                    names.push(short_name(&frame.name_without_generics()).replace(';', ","));
                });
            }
            if names.is_empty() {
                names.push(if cs.stack().is_empty() {
                    "[no stack recorded]".to_owned()
                } else {
                    "[allocation machinery only]".to_owned()
                });
            }
            names.reverse();
            *stacks.entry(names.join(";")).or_insert(0) += value;
        }
        stacks
    }

    /// Writes `metric` as folded stacks (Brendan Gregg's format, read by `flamegraph.pl`,
    /// inferno, speedscope): one line per distinct stack, `root;…;leaf bytes`, outermost frame
    /// first, frames named by function without generic arguments and by the last two segments of
    /// their path (`export_known::page`, `Vec::extend_desugared`, `<Vec as Clone>::clone`); callsites whose figure is zero
    /// are left out. Symbolizes what is not cached yet; what this allocates is the caller's.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    ///     alloc_tracker::Tracked::new(std::alloc::System);
    ///
    /// let kept = std::hint::black_box(vec![0u8; 4096]);
    /// let mut out = Vec::new();
    /// alloc_tracker::snapshot()
    ///     .write_folded(&mut out, alloc_tracker::Metric::Exit)
    ///     .unwrap();
    /// let text = String::from_utf8(out).unwrap();
    /// print!("{text}");
    /// // main::_doctest_main_alloc_tracker_src_report_flame_rs_88_0 5968
    /// // rt::init;unix::init;imp::init 548
    /// // (the doctest's own 4096 bytes and what it allocated before; std's runtime)
    /// let bytes: u64 = text
    ///     .lines()
    ///     .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
    ///     .sum();
    /// assert!(bytes >= 4096);
    /// # drop(kept);
    /// ```
    pub fn write_folded(&self, w: &mut impl Write, metric: Metric) -> std::io::Result<()> {
        for (stack, value) in self.folded(metric) {
            writeln!(w, "{stack} {value}")?;
        }
        Ok(())
    }

    /// Draws `metric` as an SVG flame graph (with `inferno`, from the lines
    /// [`write_folded`](Snapshot::write_folded) writes): each frame's width is the bytes of the
    /// callsites under it, `main` at the bottom. The SVG is interactive in a browser (click to
    /// zoom, Ctrl-F to search).
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    ///     alloc_tracker::Tracked::new(std::alloc::System);
    ///
    /// let mut svg = Vec::new();
    /// alloc_tracker::snapshot()
    ///     .write_flamegraph(&mut svg, alloc_tracker::Metric::Peak)
    ///     .unwrap();
    /// assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    /// // std::fs::write("peak.svg", &svg), then open it in a browser.
    /// ```
    pub fn write_flamegraph(&self, w: &mut impl Write, metric: Metric) -> std::io::Result<()> {
        let lines: Vec<String> = self
            .folded(metric)
            .into_iter()
            .map(|(stack, value)| format!("{stack} {value}"))
            .collect();
        let title = format!("alloc-tracker: {}", metric.title());
        if lines.is_empty() {
            // inferno refuses a graph with nothing in it; this one says so.
            return write!(
                w,
                r#"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="1200" height="60" xmlns="http://www.w3.org/2000/svg"><text x="600" y="34" text-anchor="middle" font-family="Verdana" font-size="15">{title}: none (every callsite's figure is zero)</text></svg>
"#
            );
        }
        let mut options = Options::default();
        options.title = title;
        options.count_name = "bytes".to_owned();
        options.colors = Palette::Basic(BasicPalette::Mem);
        flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), w)
    }
}

/// `name` (without generics) shortened for a flame graph's narrow boxes: its last two path
/// segments, closures (`{closure#0}`) not counted, and inside a qualified segment
/// (`<A as B>`) each path reduced to its last segment.
fn short_name(name: &str) -> String {
    // Split at the `::` outside `<…>` and `{…}`.
    let mut segments = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' | b'{' => depth += 1,
            b'>' | b'}' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                segments.push(&name[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.push(&name[start..]);
    let (mut kept, mut named) = (0, 0);
    for segment in segments.iter().rev() {
        kept += 1;
        if !segment.starts_with('{') {
            named += 1;
            if named == 2 {
                break;
            }
        }
    }
    let shown: Vec<String> = segments[segments.len() - kept..]
        .iter()
        .map(|segment| {
            if segment.starts_with('<') {
                last_segments(segment)
            } else {
                (*segment).to_owned()
            }
        })
        .collect();
    shown.join("::")
}

/// Every path in `text` (`a::b::C`) reduced to its last segment (`C`).
fn last_segments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(word.rsplit("::").next().unwrap_or(""));
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn short_names_keep_two_segments_and_closures() {
        for (name, short) in [
            ("export_known::page", "export_known::page"),
            ("main", "main"),
            ("0x55d0c0ffee", "0x55d0c0ffee"),
            ("std::rt::init", "rt::init"),
            (
                "std::sys::pal::unix::stack_overflow::thread_info::set_current_info",
                "thread_info::set_current_info",
            ),
            (
                "export_known::main::{{closure}}",
                "export_known::main::{{closure}}",
            ),
            (
                "std::thread::current::with_current_name::{closure#0}",
                "current::with_current_name::{closure#0}",
            ),
            (
                "<alloc::vec::Vec as core::iter::traits::collect::FromIterator>::from_iter",
                "<Vec as FromIterator>::from_iter",
            ),
            (
                "core::ops::function::impls::<impl core::ops::function::FnOnce for &mut F>::call_once",
                "<impl FnOnce for &mut F>::call_once",
            ),
            ("alloc::vec::Vec::extend_desugared", "Vec::extend_desugared"),
        ] {
            assert_eq!(short_name(name), short, "{name}");
        }
    }
}
