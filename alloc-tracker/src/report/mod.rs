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

pub(crate) mod dhat;
pub(crate) mod diff;
pub(crate) mod exports;
pub(crate) mod flame;
pub(crate) mod model;
pub(crate) mod pprof;
pub(crate) mod suppress;
pub(crate) mod symbolize;
pub(crate) mod text;

pub(crate) use text::render;

use core::fmt::Write as _;

use crate::config::Config;
use crate::counters;
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
/// // at the peak (1.8 KiB live, t-gmax): its largest owners (1% of it or more)
/// // #2 at peak: 1 024 bytes in 1 block (peak share 56.6%; total 1.0 KiB in 1 block, 0 reallocs, 0 temporaries, 0 short-lived)
/// // ... (then std's 544 bytes, the 100 leaked, and the scoped thread's own 48 + 40 + 40 bytes)
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
pub(crate) fn untracked_line(text: &mut String) {
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
