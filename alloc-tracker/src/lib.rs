//! # alloc-tracker: where did my memory go?
//!
//! [`Tracked<A>`] wraps any [`GlobalAlloc`](core::alloc::GlobalAlloc) (`alloc_core::AlignedAlloc`,
//! `std::alloc::System`, jemalloc, mimalloc…) and records, for every callsite (the stack that
//! allocated), live bytes and blocks, totals, its highest live bytes and its share of the heap's
//! peak. At exit it prints a leak report. Installing the static is the whole change:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
//!     alloc_tracker::Tracked::new(std::alloc::System);
//! # fn main() {}
//! ```
//!
//! At exit (a return from `main` or `std::process::exit`) the report goes to stderr; a program
//! that leaks 12 345 bytes from `leak_named::leak_some` prints (literal output of the test helper
//! `tests/src/bin/leak_named.rs`):
//!
//! ```text
//! alloc-tracker: report at exit (pid 81731, 0.00 s)
//!   peak 12.1 KiB | total 12.1 KiB in 1 blocks | live at exit 12.1 KiB in 1 blocks
//! #1 12 345 bytes in 1 blocks live at exit (peak share 100.0%)
//!     leak_named::leak_some at src/bin/leak_named.rs:12:13
//!     leak_named::main at src/bin/leak_named.rs:18:5
//! SUMMARY: alloc-tracker: live at exit: 12345 bytes in 1 blocks from 1 callsites
//! ```
//!
//! The `SUMMARY:` line is machine-read and always last. At run time: [`stats`] (exact global
//! figures), [`measure`] (what this thread allocated in a closure), [`snapshot`] (per-callsite
//! counters, resolvable to frames), [`set_limit`] (a live-bytes budget) and [`write_report`].
//!
//! ## Configuration: `ALLOC_TRACKER`
//!
//! Comma-separated `key=value`, read once: `off` (global counters only, no callsites),
//! `frames=1..64` (stack depth, default 32), `unwind=auto|fp|dwarf`, `report=stderr|off|<path>`,
//! `top=N` (callsites listed, default 10), `leak_exit_code=N` (exit with N when blocks are live at
//! exit). A mistake prints one warning line naming it and the accepted values; the program runs on.
//! An unwritable report path prints a warning and the report goes to stderr.
//!
//! ## Cost
//!
//! Per allocation: a thread-local guard check, a stack capture (frame-pointer walk when the build
//! forces frame pointers, as this workspace does; `backtrace` otherwise), a lock-free callsite
//! lookup, a handful of relaxed atomics and one shard-locked insert into the block map; per free, a
//! shard-locked remove and the atomics. Symbolization happens only in reports. The tracker's own
//! memory is counted in [`HeapStats::overhead_bytes`], not in the user's figures.
//!
//! Layers, in file order: `guard.rs` (re-entrancy, per-thread counters) → `capture.rs` (stacks) →
//! `table.rs` (callsites, block map) → `counters.rs` (global atomics, budget) → `record.rs` (the
//! bookkeeping of one operation) → `tracked.rs` (`GlobalAlloc`) → `measure.rs`, `snapshot.rs`,
//! `report/` (cold: symbolize, render) → `exit.rs` (atexit) ← `config.rs` (`ALLOC_TRACKER`).

mod capture;
mod config;
mod counters;
mod exit;
mod guard;
mod measure;
mod record;
mod report;
mod snapshot;
mod table;
mod tracked;

pub use counters::HeapStats;
pub use measure::{Usage, measure};
pub use report::symbolize::Frame;
pub use report::write_report;
pub use snapshot::{CallsiteStats, ResolvedCallsite, Snapshot, snapshot};
pub use tracked::Tracked;

/// The exact global figures now: live, peak and total bytes and blocks, reallocs, overhead.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let before = alloc_tracker::stats();
/// let v = vec![0u8; 4096];
/// let during = alloc_tracker::stats();
/// assert_eq!(during.total_bytes - before.total_bytes, 4096);
/// assert_eq!(during.total_blocks - before.total_blocks, 1);
/// assert!(during.peak_bytes >= during.live_bytes);
/// drop(v);
/// ```
pub fn stats() -> HeapStats {
    counters::heap_stats()
}

/// Bytes the tracker holds for itself right now (its callsite records, block map, caches): the
/// memory cost of tracking, as [`HeapStats::overhead_bytes`].
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let _v = vec![1u8; 10];
/// assert!(alloc_tracker::overhead_bytes() > 0); // the block map exists now
/// ```
pub fn overhead_bytes() -> u64 {
    counters::heap_stats().overhead_bytes
}

/// Sets a live-bytes budget: an allocation (or realloc growth) that would take live bytes past
/// `limit` returns null, so `try_reserve` errs and infallible allocations reach
/// `handle_alloc_error`. `None` removes the budget. Counters stay exact either way.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let live = alloc_tracker::stats().live_bytes;
/// alloc_tracker::set_limit(Some(live + 1024));
/// let mut v: Vec<u8> = Vec::new();
/// let err = v.try_reserve_exact(1 << 20).unwrap_err();
/// println!("{err}");
/// // memory allocation failed because the memory allocator returned an error
/// alloc_tracker::set_limit(None);
/// v.try_reserve_exact(1 << 20).unwrap();
/// ```
pub fn set_limit(limit: Option<u64>) {
    counters::set_limit(limit);
}

/// The current live-bytes budget set by [`set_limit`].
///
/// ```
/// alloc_tracker::set_limit(Some(1 << 30));
/// assert_eq!(alloc_tracker::limit(), Some(1 << 30));
/// alloc_tracker::set_limit(None);
/// assert_eq!(alloc_tracker::limit(), None);
/// ```
pub fn limit() -> Option<u64> {
    counters::limit()
}

/// Entry points into the hot path's stages, for the criterion bench `benches/per_alloc.rs` only;
/// not a stable API.
#[doc(hidden)]
pub mod __bench {
    use crate::config::Unwind;

    /// Captures up to `frames` return addresses by frame-pointer walk (`dwarf = false`, DWARF
    /// if this build has no frame pointers) or DWARF unwind; returns how many.
    #[inline(never)]
    pub fn capture(frames: usize, dwarf: bool) -> usize {
        let unwind = if dwarf { Unwind::Dwarf } else { Unwind::Auto };
        crate::capture::capture(&mut crate::capture::buf(), frames, unwind).len()
    }

    /// Captures the current stack and interns it; returns the callsite's address.
    #[inline(never)]
    pub fn capture_and_intern(frames: usize) -> usize {
        crate::guard::with_guard(|_| {
            let mut buf = crate::capture::buf();
            let stack = crate::capture::capture(&mut buf, frames, Unwind::Auto);
            crate::table::intern(stack) as *const _ as usize
        })
        .unwrap_or(0)
    }

    /// Interns a fixed 32-frame stack (a lookup hit after the first call).
    #[inline(never)]
    pub fn intern_fixed() -> usize {
        const STACK: [usize; 32] = {
            let mut s = [0usize; 32];
            let mut i = 0;
            while i < 32 {
                s[i] = 0x5555_0000_0000 + i * 0x1234;
                i += 1;
            }
            s
        };
        crate::guard::with_guard(|_| crate::table::intern(&STACK) as *const _ as usize).unwrap_or(0)
    }
}
