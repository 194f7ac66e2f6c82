//! The text report: rendering (cold, at exit or on demand) and delivery.
//!
//! ```text
//! alloc-tracker: report at exit (pid 4242, 1.83 s)
//!   peak 412.0 MiB | total 6.1 GiB in 2 104 377 blocks | live at exit 1.0 MiB in 3 blocks
//! #1 1 048 576 bytes in 1 blocks live at exit (peak share 0.2%)
//!     demo_arrays::tour::remember at demo-arrays/src/tour.rs:88:17
//!     demo_arrays::tour::lesson_leaks at demo-arrays/src/tour.rs:80:5
//! SUMMARY: alloc-tracker: live at exit: 1048700 bytes in 3 blocks from 2 callsites
//! ```
//!
//! Callsites with live blocks are listed by live bytes, the first `top` of them with their trimmed
//! stacks. The last line is the machine-read `SUMMARY:` line, printed with zeros on a clean exit.

pub(crate) mod runtime;
pub(crate) mod symbolize;

use core::fmt::Write as _;
use core::sync::atomic::Ordering::Relaxed;

use crate::counters;
use crate::exit;
use crate::guard::{Guard, with_guard};
use crate::table::{self, Callsite};

/// A rendered report and the figures of its `SUMMARY:` line.
pub(crate) struct Rendered {
    pub text: String,
    pub live_blocks: u64,
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

/// Renders the report. Under the guard: every byte here is the tracker's own.
pub(crate) fn render(_guard: &Guard, top: usize, when: &str) -> Rendered {
    let elapsed = exit::elapsed_secs();
    if counters::peak_is_now() {
        table::copy_peak();
    }
    let heap = counters::heap_stats();
    let mut leaks: Vec<(&'static Callsite, u64, u64)> = table::callsites()
        .map(|cs| (cs, cs.live_bytes(), cs.live_blocks()))
        .filter(|&(_, _, blocks)| blocks > 0)
        .collect();
    // Runtime-held blocks are told apart by the symbol table when it can (cheap), else by DWARF.
    let boundaries = runtime::boundaries();
    let (runtime, user): (Vec<_>, Vec<_>) =
        leaks.drain(..).partition(|(cs, _, _)| match boundaries {
            Some(b) => b.is_runtime_held(&cs.stack),
            None => {
                symbolize::fill(&cs.stack);
                symbolize::is_runtime_held(&cs.stack)
            }
        });
    leaks = user;
    leaks.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    let runtime_bytes: u64 = runtime.iter().map(|r| r.1).sum();
    let runtime_blocks: u64 = runtime.iter().map(|r| r.2).sum();
    let live_bytes = heap.live_bytes.saturating_sub(runtime_bytes);
    let live_blocks = heap.live_blocks.saturating_sub(runtime_blocks);

    let mut text = String::new();
    let _ = writeln!(
        text,
        "alloc-tracker: report {when} (pid {}, {elapsed:.2} s)",
        std::process::id(),
    );
    let _ = writeln!(
        text,
        "  peak {} | total {} in {} blocks | live {when} {} in {} blocks",
        human(heap.peak_bytes),
        human(heap.total_bytes),
        group(heap.total_blocks),
        human(live_bytes),
        group(live_blocks)
    );
    if runtime_blocks > 0 {
        let _ = writeln!(
            text,
            "  (not counted: {} bytes in {} blocks that Rust's runtime allocated before main and holds)",
            group(runtime_bytes),
            group(runtime_blocks)
        );
    }
    if leaks.is_empty() && live_blocks > 0 {
        let _ = writeln!(
            text,
            "  (callsites not recorded: ALLOC_TRACKER=off, or blocks from before tracking began)"
        );
    }
    for (rank, &(cs, bytes, blocks)) in leaks.iter().take(top).enumerate() {
        let share = match heap.peak_bytes {
            0 => 0.0,
            peak => cs.peak_bytes.load(Relaxed) as f64 * 100.0 / peak as f64,
        };
        let _ = writeln!(
            text,
            "#{} {} bytes in {} blocks live {when} (peak share {share:.1}%)",
            rank + 1,
            group(bytes),
            group(blocks)
        );
        if cs.stack.is_empty() {
            let _ = writeln!(
                text,
                "    (stacks not recorded: the callsite table is full)"
            );
            continue;
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
    if leaks.len() > top {
        let rest = &leaks[top..];
        let _ = writeln!(
            text,
            "... and {} more callsites with {} bytes in {} blocks",
            rest.len(),
            group(rest.iter().map(|l| l.1).sum()),
            group(rest.iter().map(|l| l.2).sum())
        );
    }
    let _ = writeln!(
        text,
        "SUMMARY: alloc-tracker: live at exit: {live_bytes} bytes in {live_blocks} blocks from {} callsites",
        leaks.len()
    );
    Rendered { text, live_blocks }
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
/// // From a program that printed a line (std's stdout buffer) and holds `vec![1u8; 10]`
/// // (std's 15 frames between `print_to` and the buffer elided here as `…`):
/// // alloc-tracker: report on demand (pid 16899, 0.00 s)
/// //   peak 5.5 KiB | total 5.5 KiB in 5 blocks | live on demand 1.0 KiB in 2 blocks
/// //   (not counted: 548 bytes in 2 blocks that Rust's runtime allocated before main and holds)
/// // #1 1 024 bytes in 1 blocks live on demand (peak share 18.1%)
/// //     <std::io::buffered::bufwriter::BufWriter<std::io::stdio::StdoutRaw>>::with_capacity at library/std/src/io/buffered/bufwriter.rs:122:33
/// //     …
/// //     std::io::stdio::_print at library/std/src/io/stdio.rs:1275:5
/// //     lit::main at alloc-tracker/examples/lit.rs:9:5
/// // #2 10 bytes in 1 blocks live on demand (peak share 0.0%)
/// //     lit::main at alloc-tracker/examples/lit.rs:11:14
/// // SUMMARY: alloc-tracker: live at exit: 1034 bytes in 2 blocks from 2 callsites
/// assert!(text.starts_with("alloc-tracker: report on demand (pid "));
/// assert!(text.lines().last().unwrap().starts_with("SUMMARY: alloc-tracker: live at exit: "));
/// ```
pub fn write_report(w: &mut impl std::io::Write) -> std::io::Result<()> {
    let Some(rendered) = with_guard(|g| {
        let top = crate::config::get(g).top;
        std::mem::ManuallyDrop::new(render(g, top, "on demand"))
    }) else {
        return Err(std::io::Error::other(
            "alloc-tracker: write_report called from inside the allocator",
        ));
    };
    let result = w.write_all(rendered.text.as_bytes());
    // The text is the tracker's memory: free it under the guard, where frees count as overhead.
    with_guard(|_| drop(std::mem::ManuallyDrop::into_inner(rendered)));
    result
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
