//! The text report's writer (cold: at exit or on demand), from the model of `model.rs`.
//!
//! Sections, in order: the header; the leak classes (with a scan) or the live callsites (without);
//! the owners of the peak; the temporaries; then the machine-read lines (`LEAKS:` with a scan,
//! always `SUMMARY:` last). Entries are numbered across sections.

use core::fmt::Write as _;
use core::sync::atomic::Ordering::Relaxed;

use crate::clock;
use crate::config::Config;
use crate::counters;
use crate::guard::Guard;
use crate::report::model::{self, Shape, Site};
use crate::report::{Rendered, classify, group, human, plural, untracked_line};
use crate::scan;
use crate::table::{self, Callsite};

/// Renders the report. Under the guard: every byte here is the tracker's own. With a scan
/// (`scan=on`, callsites recorded), live blocks are classified; otherwise all are listed.
pub(crate) fn render(guard: &Guard, cfg: &Config, when: &str, start: scan::Start) -> Rendered {
    let elapsed = clock::elapsed_secs();
    counters::copy_peak_for_report();
    let heap = counters::heap_stats();
    // The scan needs every block: it does not run in sampled mode.
    let classified = if cfg.scan && !cfg.off && cfg.sample == 0 {
        classify(guard, cfg, start)
    } else {
        None
    };
    let shape = Shape {
        frames: cfg.frames,
        full: cfg.stacks_full,
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "alloc-tracker: report {when} (pid {}, {elapsed:.2} s)",
        std::process::id(),
    );
    let (live_bytes, live_blocks) = match &classified {
        Some(c) => {
            let s = &c.summary;
            (
                s.direct_bytes + s.indirect_bytes + s.reachable_bytes + s.suppressed_bytes,
                s.direct_blocks + s.indirect_blocks + s.reachable_blocks + s.suppressed_blocks,
            )
        }
        None => (heap.live_bytes, heap.live_blocks),
    };
    let _ = writeln!(
        text,
        "  peak {} | total {} in {} | live {when} {} in {}",
        human(heap.peak_bytes),
        human(heap.total_bytes),
        plural(heap.total_blocks, "block", "blocks"),
        human(live_bytes),
        plural(live_blocks, "block", "blocks"),
    );
    if cfg.sample != 0 {
        let _ = writeln!(
            text,
            "  sampled every ~{}: per-callsite figures are estimates",
            crate::sample::describe(cfg.sample)
        );
    }
    let mut list = Lister {
        rank: 0,
        top: cfg.top,
        peak: heap.peak_bytes,
        sampled: cfg.sample != 0,
    };
    let (failing_blocks, callsites) = match &classified {
        Some(c) => {
            if cfg.show.direct {
                list.sites(
                    &mut text,
                    &model::sites(c.direct.clone(), shape),
                    "direct leak:",
                    false,
                );
            }
            if cfg.show.indirect {
                list.sites(
                    &mut text,
                    &model::sites(c.indirect.clone(), shape),
                    "indirect leak:",
                    false,
                );
            }
            if cfg.show.reachable {
                list.sites(
                    &mut text,
                    &model::sites(c.reachable.clone(), shape),
                    "reachable:",
                    false,
                );
            }
            let s = &c.summary;
            if !c.reachable.is_empty() {
                let _ = writeln!(
                    text,
                    "reachable: {} bytes in {} from {} (statics, live threads{})",
                    group(s.reachable_bytes),
                    plural(s.reachable_blocks, "block", "blocks"),
                    plural(c.reachable.len() as u64, "callsite", "callsites"),
                    if cfg.show.reachable {
                        ""
                    } else {
                        "; show=direct,indirect,reachable lists them"
                    },
                );
            }
            if !c.suppressed.is_empty() {
                let _ = writeln!(
                    text,
                    "suppressed: {} bytes in {} from {} ({} matched)",
                    group(s.suppressed_bytes),
                    plural(s.suppressed_blocks, "block", "blocks"),
                    plural(c.suppressed.len() as u64, "callsite", "callsites"),
                    plural(c.rules_matched as u64, "rule", "rules"),
                );
            }
            if s.threads_not_stopped > 0 {
                let _ = writeln!(
                    text,
                    "  ({} could not be stopped for the scan: what only their stacks hold shows as leaked)",
                    plural(s.threads_not_stopped, "thread", "threads"),
                );
            }
            let fail = cfg.fail_on;
            let failing = fail.direct as u64 * s.direct_blocks
                + fail.indirect as u64 * s.indirect_blocks
                + fail.reachable as u64 * s.reachable_blocks;
            let mut ids: Vec<u32> = [&c.direct, &c.indirect, &c.reachable, &c.suppressed]
                .iter()
                .flat_map(|l| l.iter().map(|e| e.0.id()))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (failing, ids.len())
        }
        None => {
            let live: Vec<(&'static Callsite, u64, u64)> = table::callsites()
                .map(|cs| (cs, cs.live_bytes(), cs.live_blocks()))
                .filter(|&(_, _, blocks)| blocks > 0)
                .collect();
            if live.is_empty() && live_blocks > 0 && cfg.sample != 0 {
                let _ = writeln!(text, "  (no live block was sampled)");
            } else if live.is_empty() && live_blocks > 0 {
                let _ = writeln!(
                    text,
                    "  (callsites not recorded: ALLOC_TRACKER=off, or blocks from before tracking began)"
                );
            }
            let n = live.len();
            list.sites(
                &mut text,
                &model::sites(live, shape),
                &format!("live {when}:"),
                false,
            );
            (live_blocks, n)
        }
    };
    if !cfg.off {
        at_peak(&mut text, &mut list, shape, heap.peak_bytes);
        temporaries(&mut text, &mut list, shape, heap.total_blocks);
    }
    untracked_line(&mut text);
    if let Some(c) = &classified {
        let s = &c.summary;
        let _ = writeln!(
            text,
            "LEAKS: alloc-tracker: direct {} bytes in {} blocks; indirect {} bytes in {} blocks; reachable {} bytes in {} blocks",
            s.direct_bytes,
            s.direct_blocks,
            s.indirect_bytes,
            s.indirect_blocks,
            s.reachable_bytes,
            s.reachable_blocks
        );
    }
    let _ = writeln!(
        text,
        "SUMMARY: alloc-tracker: live at exit: {live_bytes} bytes in {live_blocks} blocks from {callsites} callsites",
    );
    Rendered {
        text,
        failing_blocks,
    }
}

/// Owners of less than this share of the peak, and callsites with fewer temporaries than this
/// share of all blocks allocated, are left out of their sections (they would list every small
/// block of a short program).
const MIN_SHARE: f64 = 0.01;
/// Callsites with fewer temporaries than this are left out of the temporaries section.
const MIN_TEMPORARIES: u64 = 100;

/// The owners of the heap's peak (t-gmax): callsites by their live bytes then, whether or not
/// anything leaks; those under 1% of the peak are left out.
fn at_peak(text: &mut String, list: &mut Lister, shape: Shape, peak: u64) {
    let floor = (peak as f64 * MIN_SHARE).ceil() as u64;
    let figures: Vec<(&'static Callsite, u64, u64)> = table::callsites()
        .map(|cs| {
            let bytes = cs.peak_bytes.load(Relaxed);
            (cs, bytes, cs.peak_blocks.load(Relaxed))
        })
        .filter(|&(_, bytes, _)| bytes > 0)
        .collect();
    if figures.is_empty() || list.top == 0 {
        return;
    }
    let mut sites = model::sites(figures, shape);
    sites.retain(|s| s.bytes >= floor);
    let _ = writeln!(
        text,
        "at the peak ({} live, t-gmax): its largest owners (1% of it or more)",
        human(peak)
    );
    list.sites(text, &sites, "at peak:", true);
}

/// The callsites with the most temporaries (blocks freed by their thread before it allocated
/// again) or short-lived blocks (freed within 1 ms), whichever is more: those with 100 or more
/// and at least 1% of all blocks allocated.
fn temporaries(text: &mut String, list: &mut Lister, shape: Shape, total_blocks: u64) {
    let floor = ((total_blocks as f64 * MIN_SHARE).ceil() as u64).max(MIN_TEMPORARIES);
    let figures: Vec<(&'static Callsite, u64, u64)> = table::callsites()
        .map(|cs| {
            let n = short_or_temporary(cs.temporaries.load(Relaxed), cs.short_lived());
            (cs, n, n)
        })
        .filter(|&(_, n, _)| n > 0)
        .collect();
    if figures.is_empty() || list.top == 0 {
        return;
    }
    let mut sites = model::sites(figures, shape);
    let temporaries: u64 = sites.iter().map(|s| s.temporaries).sum();
    let short_lived: u64 = sites.iter().map(|s| s.short_lived).sum();
    sites.retain(|s| s.bytes >= floor);
    if sites.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "temporaries: {} of {} allocated (freed before their thread allocated again), {} short-lived (freed within 1 ms); the most",
        group(temporaries),
        plural(total_blocks, "block", "blocks"),
        group(short_lived),
    );
    for site in sites.iter().take(list.top) {
        list.rank += 1;
        let _ = writeln!(
            text,
            "#{} temporaries: {} of {} allocated here, {} short-lived ({} in total{})",
            list.rank,
            group(site.temporaries),
            group(site.total_blocks),
            group(site.short_lived),
            human(site.total_bytes),
            merged(site),
        );
        write_lines(text, site);
    }
    list.rest(
        text,
        &sites,
        |s| short_or_temporary(s.temporaries, s.short_lived),
        "temporaries or short-lived blocks",
    );
}

/// The figure the temporaries section ranks a callsite by: its temporaries or its short-lived
/// blocks, whichever is more.
fn short_or_temporary(temporaries: u64, short_lived: u64) -> u64 {
    temporaries.max(short_lived)
}

/// Numbers entries across sections and lists the first `top` of each.
struct Lister {
    rank: usize,
    top: usize,
    peak: u64,
    /// Sampled mode: reallocs, temporaries and short-lived blocks are not counted per callsite
    /// (not shown).
    sampled: bool,
}

impl Lister {
    /// `#3 direct leak: 1 000 bytes in 1 block (peak share 0.2%)` and the shown lines, for the
    /// first `top` sites; one line for the rest. With `totals`, each callsite's figures over the
    /// whole run follow its share.
    fn sites(&mut self, text: &mut String, sites: &[Site], what: &str, totals: bool) {
        for site in sites.iter().take(self.top) {
            self.rank += 1;
            let share = match self.peak {
                0 => 0.0,
                peak => site.peak_bytes as f64 * 100.0 / peak as f64,
            };
            let _ = write!(
                text,
                "#{} {what} {} bytes in {} (peak share {share:.1}%",
                self.rank,
                group(site.bytes),
                plural(site.blocks, "block", "blocks"),
            );
            if totals {
                let _ = write!(
                    text,
                    "; total {} in {}",
                    human(site.total_bytes),
                    plural(site.total_blocks, "block", "blocks"),
                );
                if !self.sampled {
                    let _ = write!(
                        text,
                        ", {}, {}, {} short-lived",
                        plural(site.reallocs, "realloc", "reallocs"),
                        plural(site.temporaries, "temporary", "temporaries"),
                        group(site.short_lived),
                    );
                }
            }
            let _ = writeln!(text, "{})", merged(site));
            write_lines(text, site);
        }
        self.rest(text, sites, |s| s.bytes, "bytes");
    }

    /// `... and 4 more callsites with 1 234 bytes in 5 blocks` for the sites past `top`.
    fn rest(&self, text: &mut String, sites: &[Site], figure: fn(&Site) -> u64, unit: &str) {
        if sites.len() <= self.top {
            return;
        }
        let rest = &sites[self.top..];
        let sum: u64 = rest.iter().map(figure).sum();
        if unit == "bytes" {
            let _ = writeln!(
                text,
                "... and {} more with {} bytes in {}",
                plural(rest.len() as u64, "callsite", "callsites"),
                group(sum),
                plural(rest.iter().map(|s| s.blocks).sum(), "block", "blocks"),
            );
        } else {
            let _ = writeln!(
                text,
                "... and {} more with {} {unit}",
                plural(rest.len() as u64, "callsite", "callsites"),
                group(sum),
            );
        }
    }
}

/// `; 3 stacks merged` when an entry merges several raw stacks that show alike.
fn merged(site: &Site) -> String {
    if site.stacks > 1 {
        format!("; {} stacks merged", site.stacks)
    } else {
        String::new()
    }
}

/// A site's shown lines, indented, or why it has none.
fn write_lines(text: &mut String, site: &Site) {
    if let Some(why) = site.empty {
        let _ = writeln!(text, "    ({why})");
    }
    for line in &site.lines {
        let _ = writeln!(text, "    {line}");
    }
    if let Some(origin) = &site.grown_from {
        let _ = writeln!(text, "    (grown from a block first made at {origin})");
    }
}
