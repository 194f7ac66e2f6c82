//! The text report: rendering (cold, at exit or on demand) and delivery.
//!
//! With the reachability scan (the default), live blocks are classified (`scan/`) and listed by
//! class, each class's callsites by bytes, the first `top` of each with their trimmed stacks
//! (literal output of `alloc-tracker/examples/leaky.rs`, shortened):
//!
//! ```text
//! alloc-tracker: report at exit (pid 8242, 0.01 s)
//!   peak 6.2 KiB | total 6.2 KiB in 20 blocks | live at exit 5.2 KiB in 18 blocks
//! #1 direct leak: 4 096 bytes in 1 block (peak share 64.9%)
//!     leaky::forget_buffer at alloc-tracker/examples/leaky.rs:33:32
//!     leaky::main at alloc-tracker/examples/leaky.rs:70:5
//! ...
//! #4 indirect leak: 360 bytes in 9 blocks (peak share 6.3%)
//!     leaky::forget_list at alloc-tracker/examples/leaky.rs:40:21
//!     leaky::main at alloc-tracker/examples/leaky.rs:71:5
//! ...
//! reachable: 676 bytes in 5 blocks from 3 callsites (statics, live threads; show=direct,indirect,reachable lists them)
//! LEAKS: alloc-tracker: direct 4192 bytes in 3 blocks; indirect 416 bytes in 10 blocks; reachable 676 bytes in 5 blocks
//! SUMMARY: alloc-tracker: live at exit: 5284 bytes in 18 blocks from 7 callsites
//! ```
//!
//! Suppressed leaks and threads the scan could not stop get a line each before `LEAKS:`. With
//! `scan=off` (or `off`) every live callsite is listed as `#N live at exit: …` and there is no
//! `LEAKS:` line. The last line is always the machine-read `SUMMARY:` line, with zeros on a
//! clean exit.

pub(crate) mod diff;
pub(crate) mod flame;
pub(crate) mod pprof;
pub(crate) mod runtime;
pub(crate) mod suppress;
pub(crate) mod symbolize;

use core::fmt::Write as _;
use core::sync::atomic::Ordering::Relaxed;

use crate::config::Config;
use crate::counters;
use crate::exit;
use crate::guard::{Guard, with_guard};
use crate::scan::{self, mark::Class};
use crate::table::{self, Callsite};

/// A rendered report and what `leak_exit_code` needs.
pub(crate) struct Rendered {
    pub text: String,
    /// Blocks in the classes of `fail_on` (with a scan), or all live blocks (without).
    pub failing_blocks: u64,
}

/// `2104377` -> `2 104 377`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `1048576` -> `1.0 MiB`; under 1 KiB, `N B`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1 block`, `2 blocks` (for the human lines; the machine lines keep `blocks`).
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", group(n), if n == 1 { one } else { many })
}

/// Per-class totals of a scan, as [`crate::leak_check`] returns them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakSummary {
    /// Bytes in direct leaks: unreachable blocks that no other leaked block points to (one per
    /// unreachable cycle).
    pub direct_bytes: u64,
    /// Direct leaks.
    pub direct_blocks: u64,
    /// Bytes in indirect leaks: unreachable blocks that a leaked block points to.
    pub indirect_bytes: u64,
    /// Indirect leaks.
    pub indirect_blocks: u64,
    /// Bytes in reachable blocks (from statics, live threads' stacks and TLS, ignored blocks).
    pub reachable_bytes: u64,
    /// Reachable blocks.
    pub reachable_blocks: u64,
    /// Bytes in leaks that a suppressions rule matched (not counted as direct or indirect).
    pub suppressed_bytes: u64,
    /// Suppressed leaks.
    pub suppressed_blocks: u64,
    /// Threads the scan could not stop (their stacks were not read; see the crate docs).
    pub threads_not_stopped: u64,
}

impl LeakSummary {
    /// Direct plus indirect bytes: what leaked.
    pub fn leaked_bytes(&self) -> u64 {
        self.direct_bytes + self.indirect_bytes
    }

    /// Direct plus indirect blocks.
    pub fn leaked_blocks(&self) -> u64 {
        self.direct_blocks + self.indirect_blocks
    }
}

/// A scan's callsites by class, suppressions applied, sorted by bytes within each class.
pub(crate) struct Classified {
    pub direct: Vec<(&'static Callsite, u64, u64)>,
    pub indirect: Vec<(&'static Callsite, u64, u64)>,
    pub reachable: Vec<(&'static Callsite, u64, u64)>,
    pub suppressed: Vec<(&'static Callsite, u64, u64)>,
    pub rules_matched: usize,
    pub summary: LeakSummary,
}

/// Runs the scan and sorts its findings (see `scan/`); `None` if the scan could not run.
pub(crate) fn classify(guard: &Guard, cfg: &Config, start: scan::Start) -> Option<Classified> {
    let outcome = scan::run(guard, start)?;
    let rules = cfg.suppressions.as_deref().map(suppress::rules);
    let mut matched = vec![false; rules.map_or(0, |r| r.len())];
    let mut c = Classified {
        direct: Vec::new(),
        indirect: Vec::new(),
        reachable: Vec::new(),
        suppressed: Vec::new(),
        rules_matched: 0,
        summary: LeakSummary {
            threads_not_stopped: outcome.not_stopped as u64,
            ..LeakSummary::default()
        },
    };
    for site in &outcome.sites {
        let Some(cs) = table::by_id(site.id) else {
            continue;
        };
        let entry = (cs, site.bytes, site.blocks);
        let leak = matches!(site.class, Class::Direct | Class::Indirect);
        if leak && let Some(rule) = rules.and_then(|r| r.matching(&cs.stack)) {
            matched[rule] = true;
            c.summary.suppressed_bytes += site.bytes;
            c.summary.suppressed_blocks += site.blocks;
            c.suppressed.push(entry);
            continue;
        }
        let (list, bytes, blocks) = match site.class {
            Class::Direct => (
                &mut c.direct,
                &mut c.summary.direct_bytes,
                &mut c.summary.direct_blocks,
            ),
            Class::Indirect => (
                &mut c.indirect,
                &mut c.summary.indirect_bytes,
                &mut c.summary.indirect_blocks,
            ),
            Class::Reachable | Class::Leaked => (
                &mut c.reachable,
                &mut c.summary.reachable_bytes,
                &mut c.summary.reachable_blocks,
            ),
        };
        *bytes += site.bytes;
        *blocks += site.blocks;
        list.push(entry);
    }
    c.rules_matched = matched.iter().filter(|&&m| m).count();
    for list in [
        &mut c.direct,
        &mut c.indirect,
        &mut c.reachable,
        &mut c.suppressed,
    ] {
        list.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    }
    Some(c)
}

/// Renders the report. Under the guard: every byte here is the tracker's own. With a scan
/// (`scan=on`, callsites recorded), live blocks are classified; otherwise all are listed.
pub(crate) fn render(guard: &Guard, cfg: &Config, when: &str, start: scan::Start) -> Rendered {
    let elapsed = exit::elapsed_secs();
    if counters::peak_is_now() {
        table::copy_peak();
    }
    let heap = counters::heap_stats();
    let classified = if cfg.scan && !cfg.off {
        classify(guard, cfg, start)
    } else {
        None
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
    let mut rank = 0;
    let mut list = |text: &mut String, sites: &[(&'static Callsite, u64, u64)], what: &str| {
        for &(cs, bytes, blocks) in sites.iter().take(cfg.top) {
            rank += 1;
            write_site(text, heap.peak_bytes, rank, what, cs, bytes, blocks);
        }
        if sites.len() > cfg.top {
            let rest = &sites[cfg.top..];
            let _ = writeln!(
                text,
                "... and {} more with {} bytes in {}",
                plural(rest.len() as u64, "callsite", "callsites"),
                group(rest.iter().map(|l| l.1).sum()),
                plural(rest.iter().map(|l| l.2).sum(), "block", "blocks"),
            );
        }
    };
    let (failing_blocks, callsites) = match &classified {
        Some(c) => {
            if cfg.show.direct {
                list(&mut text, &c.direct, "direct leak:");
            }
            if cfg.show.indirect {
                list(&mut text, &c.indirect, "indirect leak:");
            }
            if cfg.show.reachable {
                list(&mut text, &c.reachable, "reachable:");
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
            untracked_line(&mut text);
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
            let mut live: Vec<(&'static Callsite, u64, u64)> = table::callsites()
                .map(|cs| (cs, cs.live_bytes(), cs.live_blocks()))
                .filter(|&(_, _, blocks)| blocks > 0)
                .collect();
            live.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
            if live.is_empty() && live_blocks > 0 {
                let _ = writeln!(
                    text,
                    "  (callsites not recorded: ALLOC_TRACKER=off, or blocks from before tracking began)"
                );
            }
            list(&mut text, &live, &format!("live {when}:"));
            untracked_line(&mut text);
            (live_blocks, live.len())
        }
    };
    let _ = writeln!(
        text,
        "SUMMARY: alloc-tracker: live at exit: {live_bytes} bytes in {live_blocks} blocks from {callsites} callsites",
    );
    Rendered {
        text,
        failing_blocks,
    }
}

/// One listed callsite: `#1 direct leak: 1 000 bytes in 1 block (peak share 0.2%)` and its
/// trimmed frames.
fn write_site(
    text: &mut String,
    peak: u64,
    rank: usize,
    what: &str,
    cs: &'static Callsite,
    bytes: u64,
    blocks: u64,
) {
    let share = match peak {
        0 => 0.0,
        peak => cs.peak_bytes.load(Relaxed) as f64 * 100.0 / peak as f64,
    };
    let _ = writeln!(
        text,
        "#{rank} {what} {} bytes in {} (peak share {share:.1}%)",
        group(bytes),
        plural(blocks, "block", "blocks"),
    );
    if cs.stack.is_empty() {
        // Two callsites have no frames: the catch-all of a full table, and a stack the unwinder
        // found no frame in.
        let why = if table::is_catch_all(cs) {
            "stacks not recorded: the callsite table is full"
        } else {
            "no stack captured: the unwinder found no frame where this allocated"
        };
        let _ = writeln!(text, "    ({why})");
        return;
    }
    symbolize::fill(&cs.stack);
    let mut shown = 0;
    symbolize::for_each_trimmed(&cs.stack, |frame| {
        let _ = writeln!(text, "    {frame}");
        shown += 1;
    });
    if shown == 0 {
        let _ = writeln!(text, "    (no frame outside the allocation machinery)");
    }
}

/// Writes `bytes` to file descriptor 2 with `write(2)`: no std lock, no allocation.
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable slice for its length; fd 2 may be closed, in which
        // case write returns -1 and we stop.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Writes the report, as it would be printed at exit now, to `w`.
///
/// The report is rendered in the tracker's own memory (not counted in any figure), then written;
/// only what `w` itself allocates is tracked. The format is the exit report's (see the crate
/// docs), with "report on demand" in its first line and the same `SUMMARY:` line.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let mut out = Vec::new();
/// alloc_tracker::write_report(&mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// print!("{text}");
/// // Literal output of `cargo run -q -p alloc-tracker --example lit` (a debug build; the pid
/// // and time vary), a program that printed a line (std's stdout buffer), holds
/// // `vec![1u8; 10]` and forgot `vec![2u8; 100]` on a scoped thread:
/// // alloc-tracker: report on demand (pid 2418, 0.00 s)
/// //   peak 1.8 KiB | total 1.8 KiB in 9 blocks | live on demand 1.6 KiB in 5 blocks
/// // #1 direct leak: 100 bytes in 1 block (peak share 5.5%)
/// //     lit::forget_some at alloc-tracker/examples/lit.rs:17:43
/// // reachable: 1 582 bytes in 4 blocks from 4 callsites (statics, live threads; show=direct,indirect,reachable lists them)
/// // LEAKS: alloc-tracker: direct 100 bytes in 1 blocks; indirect 0 bytes in 0 blocks; reachable 1582 bytes in 4 blocks
/// // SUMMARY: alloc-tracker: live at exit: 1682 bytes in 5 blocks from 5 callsites
/// // With `ALLOC_TRACKER=show=direct,indirect,reachable` the reachable ones are listed too:
/// // the 1 024-byte stdout buffer (`lit::main at alloc-tracker/examples/lit.rs:21:5`, under
/// // 15 frames of std), std's 544 + 4 bytes from `std::rt::init`, and the 10 bytes held
/// // (`lit::main at alloc-tracker/examples/lit.rs:22:37`).
/// assert!(text.starts_with("alloc-tracker: report on demand (pid "));
/// assert!(text.lines().last().unwrap().starts_with("SUMMARY: alloc-tracker: live at exit: "));
/// ```
pub fn write_report(w: &mut impl std::io::Write) -> std::io::Result<()> {
    write_rendered(w)
}

/// The report on demand, rendered from a frame of its own: the scan reads this thread's stack
/// from its caller's frame up (see `scan::Here`).
#[inline(never)]
fn render_on_demand() -> Option<std::mem::ManuallyDrop<Rendered>> {
    let here = scan::Here::take();
    with_guard(|g| {
        let cfg = crate::config::get(g);
        std::mem::ManuallyDrop::new(render(g, cfg, "on demand", scan::Start::Here(here)))
    })
}

#[inline(never)]
fn write_rendered(w: &mut impl std::io::Write) -> std::io::Result<()> {
    let Some(rendered) = render_on_demand() else {
        return Err(std::io::Error::other(
            "alloc-tracker: write_report called from inside the allocator",
        ));
    };
    let result = w.write_all(rendered.text.as_bytes());
    // The text is the tracker's memory: free it under the guard, where frees count as overhead.
    with_guard(|_| drop(std::mem::ManuallyDrop::into_inner(rendered)));
    result
}

/// The blocks the tracker could not record for want of memory of its own (`counters::untracked`),
/// if any: they are in no figure above.
fn untracked_line(text: &mut String) {
    let n = counters::untracked_blocks();
    if n > 0 {
        let _ = writeln!(text, "  untracked: {n} blocks (tracker out of memory)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_and_units() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_048_576), "1 048 576");
        assert_eq!(group(2_104_377), "2 104 377");
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1 << 20), "1.0 MiB");
        assert_eq!(human(412 << 20), "412.0 MiB");
    }
}
