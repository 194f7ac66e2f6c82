//! The global counters: exact, always on, plain atomics; the live-bytes budget of [`crate::set_limit`].
//!
//! `LIVE` is reserved *before* the inner allocator is called (and given back if it fails), so a
//! budget holds exactly even with many threads allocating at once. Only growth is reserved: a
//! realloc that does not grow lowers live bytes and is never refused (see `tracked.rs`).
//!
//! In sampled mode `LIVE` lacks what each thread has batched (`slots.rs`), so it may lie below
//! zero for a moment (a thread freed blocks whose allocation another has not flushed): the peak
//! and the budget compare it as signed. `LIMIT` then also tells the hot path which mode it is in
//! ([`SAMPLED_GATE`]), at no cost to exact mode.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Exact global figures, from [`crate::stats`].
///
/// `live_bytes <= peak_bytes`, `live_bytes <= total_bytes` and `live_blocks <= total_blocks` hold
/// whenever no allocation is in flight; the figures are exact then, in sampled mode too (there
/// they are sums over threads, see `slots.rs`; `peak_bytes` excepted). A `realloc` counts as one
/// block freed and one allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in live blocks.
    pub live_bytes: u64,
    /// Live blocks.
    pub live_blocks: u64,
    /// The highest `live_bytes` so far (t-gmax). In sampled mode within 64 KiB per running
    /// thread of the true peak (each thread batches its live bytes, see the crate docs), and
    /// never below `live_bytes`.
    pub peak_bytes: u64,
    /// Bytes ever allocated (a `realloc` adds its new size).
    pub total_bytes: u64,
    /// Blocks ever allocated (a `realloc` adds one).
    pub total_blocks: u64,
    /// Calls to `realloc` that succeeded.
    pub reallocs: u64,
    /// Bytes the tracker itself holds from the inner allocator (its tables, caches and reports),
    /// not counted in any other figure. Blocks the tracker could not record for want of memory of
    /// its own (the report's "untracked" line) count here too, not in the figures above.
    pub overhead_bytes: u64,
}

// With callsites recorded (the default), block counts and totals live per callsite (see
// `table::Callsite`) and are summed here on demand; these globals then only hold `LIVE`, `PEAK`
// and `REALLOCS`, and count blocks only under `ALLOC_TRACKER=off` and in sampled mode (where
// callsites hold estimates).
//
// Each counter has a cache line of its own: `LIVE` is written by every allocation and free on
// every thread, while `PEAK`, `PEAK_DIRTY` and `LIMIT` are read as often but seldom written. When
// they shared a line, each free's `PEAK_DIRTY` check missed the cache on `mt-churn`.
static LIVE: Line<AtomicU64> = Line(AtomicU64::new(0));
static LIVE_BLOCKS: Line<AtomicU64> = Line(AtomicU64::new(0));
static PEAK: Line<AtomicU64> = Line(AtomicU64::new(0));
static TOTAL: Line<AtomicU64> = Line(AtomicU64::new(0));
static TOTAL_BLOCKS: Line<AtomicU64> = Line(AtomicU64::new(0));
static REALLOCS: Line<AtomicU64> = Line(AtomicU64::new(0));
static OVERHEAD: Line<AtomicU64> = Line(AtomicU64::new(0));
/// Blocks that went untracked because the block map could not grow (see [`untracked`]).
static UNTRACKED: AtomicU64 = AtomicU64::new(0);
/// Bytes [`overhead_sub`] was asked to remove past zero (an imbalance; 0 when all is well).
static OVERHEAD_SHORT: AtomicU64 = AtomicU64::new(0);
static LIMIT: Line<AtomicU64> = Line(AtomicU64::new(u64::MAX));
/// Set when `PEAK` rose since the per-callsite t-gmax figures were last copied.
static PEAK_DIRTY: Line<AtomicBool> = Line(AtomicBool::new(false));
/// The peak must reach this before `PEAK_DIRTY` is set again (see [`copy_peak_if_at_peak`]).
static PEAK_COPY_AT: AtomicU64 = AtomicU64::new(0);
/// `PEAK` when the per-callsite figures were last copied, and how many copies were made.
static PEAK_COPIED: AtomicU64 = AtomicU64::new(0);
static PEAK_COPIES: AtomicU64 = AtomicU64::new(0);
/// Up to this many callsites, every new peak is copied exactly; beyond, a copy waits until the
/// peak has grown by [`PEAK_MARGIN`] of the last copied one.
const EXACT_PEAK_CALLSITES: u64 = 1024;
/// The growth of the peak (a fraction, 1/128) that a copy waits for once there are many
/// callsites.
const PEAK_MARGIN: u64 = 128;

/// [`LIMIT`] when sampled mode has recorded its first block (so the configuration is read and
/// the exit report registered) and no budget is set: operations take sampled mode's fast path
/// (`fast.rs`). Exact mode's hot path already compares `LIMIT` with `u64::MAX` (no budget), so
/// telling the modes apart there costs it nothing; sampled mode makes a second comparison.
const SAMPLED_GATE: u64 = u64::MAX - 1;
/// The highest budget [`set_limit`] stores (below [`SAMPLED_GATE`]).
const MAX_BUDGET: u64 = u64::MAX - 2;
/// Set once sampled mode has engaged (see [`SAMPLED_GATE`]).
static SAMPLED: AtomicBool = AtomicBool::new(false);

/// Whether operations take sampled mode's fast path: sampled mode is on and no budget is set.
#[inline(always)]
pub(crate) fn sampled_fast() -> bool {
    LIMIT.load(Relaxed) == SAMPLED_GATE
}

/// Sampled mode recorded its first block (or another on its slow path): later operations take
/// the fast path unless a budget is set.
#[inline]
pub(crate) fn engage_sampled() {
    if !SAMPLED.load(Relaxed) {
        SAMPLED.store(true, Relaxed);
    }
    if LIMIT.load(Relaxed) == u64::MAX {
        // A `set_limit` racing with this wins: the next slow-path block engages again.
        let _ = LIMIT.compare_exchange(u64::MAX, SAMPLED_GATE, Relaxed, Relaxed);
    }
}

/// Adds `delta` to the global live bytes (sampled mode's flush of a thread's batch, see
/// `slots.rs`) and raises the peak if it passed it.
#[inline]
pub(crate) fn add_live(delta: i64) {
    let live = LIVE
        .fetch_add(delta as u64, Relaxed)
        .wrapping_add(delta as u64);
    if delta > 0 {
        reached(live);
    }
}

/// A value alone in its cache line.
#[repr(align(64))]
struct Line<T>(T);

impl<T> core::ops::Deref for Line<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The global figures now.
pub(crate) fn heap_stats() -> HeapStats {
    let mut stats = HeapStats {
        live_bytes: LIVE.load(Relaxed),
        live_blocks: LIVE_BLOCKS.load(Relaxed),
        peak_bytes: PEAK.load(Relaxed),
        total_bytes: TOTAL.load(Relaxed),
        total_blocks: TOTAL_BLOCKS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        overhead_bytes: OVERHEAD.load(Relaxed),
    };
    if crate::sample::rate().is_some() {
        // Callsites hold estimates; every block, sampled or not, is counted in the globals and
        // the threads' slots, and live bytes partly in the slots' batches (`slots.rs`).
        let sums = crate::slots::sums();
        stats.total_bytes = stats.total_bytes.wrapping_add(sums.total_bytes);
        stats.total_blocks = stats.total_blocks.wrapping_add(sums.total_blocks);
        stats.live_blocks = stats
            .live_blocks
            .wrapping_add(sums.total_blocks.wrapping_sub(sums.freed_blocks));
        stats.reallocs = stats.reallocs.wrapping_add(sums.reallocs);
        stats.live_bytes = stats.live_bytes.wrapping_add(sums.pending as u64);
        // The global peak is raised from batched figures; the exact sum raises it too, so that
        // `live_bytes <= peak_bytes` holds here.
        reached(stats.live_bytes);
        stats.peak_bytes = PEAK.load(Relaxed).max(stats.live_bytes);
        return stats;
    }
    for cs in crate::table::callsites() {
        stats.live_blocks += cs.live_blocks();
        stats.total_bytes += cs.total_bytes.load(Relaxed);
        stats.total_blocks += cs.total_blocks.load(Relaxed);
    }
    stats
}

/// Sets the live-bytes budget (`None`: unlimited).
pub(crate) fn set_limit(limit: Option<u64>) {
    let word = match limit {
        Some(l) => l.min(MAX_BUDGET),
        // Sampled mode's fast path does not check the budget: it is left while one is set.
        None if SAMPLED.load(Relaxed) => SAMPLED_GATE,
        None => u64::MAX,
    };
    LIMIT.store(word, Relaxed);
}

/// The live-bytes budget.
pub(crate) fn limit() -> Option<u64> {
    Some(LIMIT.load(Relaxed)).filter(|&l| l < SAMPLED_GATE)
}

/// A reservation the budget refused: the live bytes then and the budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refused {
    pub live: u64,
    pub limit: u64,
}

/// What [`reserve`] did.
pub(crate) enum Reserved {
    /// Reserved: the new live figure.
    Live(u64),
    /// The budget refused it (nothing is reserved).
    Refused(Refused),
    /// Nothing: sampled mode's fast path counts the block (`fast.rs`).
    Sampled,
}

/// Reserves `size` live bytes ahead of an allocation: the new live figure, or what refused it when
/// that would pass the budget, or nothing in sampled mode's fast path.
#[inline]
pub(crate) fn reserve(size: usize) -> Reserved {
    let size = size as u64;
    let limit = LIMIT.load(Relaxed);
    if limit == u64::MAX {
        return Reserved::Live(LIVE.fetch_add(size, Relaxed) + size);
    }
    if limit == SAMPLED_GATE {
        return Reserved::Sampled;
    }
    match reserve_within(size, limit) {
        Ok(live) => Reserved::Live(live),
        Err(refused) => Reserved::Refused(refused),
    }
}

/// The budgeted path of [`reserve`]. A thread that is panicking is not held to the budget: the
/// panic's message and backtrace allocate, and if that failed, std's allocation-error hook would
/// wait forever for the backtrace lock the panic holds (`tests/exit_report.rs` runs such a panic).
#[cold]
#[inline(never)]
fn reserve_within(size: u64, limit: u64) -> Result<u64, Refused> {
    // `panicking` reads a thread-local counter: no allocation, no lock.
    if std::thread::panicking() {
        return Ok(LIVE.fetch_add(size, Relaxed).wrapping_add(size));
    }
    if crate::sample::rate().is_some() {
        // Sampled mode: this thread's batched live bytes count against the budget too.
        let _ = crate::guard::with_state(crate::slots::flush);
    }
    let mut live = LIVE.load(Relaxed);
    loop {
        // In sampled mode the global figure can lie below zero for a moment (a thread freed
        // blocks whose allocation another thread has not flushed yet): it then counts as 0.
        let now = (live as i64).max(0) as u64;
        let Some(new) = now.checked_add(size).filter(|&n| n <= limit) else {
            return Err(Refused { live: now, limit });
        };
        match LIVE.compare_exchange_weak(live, live.wrapping_add(size), Relaxed, Relaxed) {
            Ok(_) => return Ok(new),
            Err(seen) => live = seen,
        }
    }
}

/// Reserves `size` live bytes whatever the budget (see `Tracked::realloc`'s use).
#[cold]
pub(crate) fn reserve_anyway(size: usize) -> u64 {
    LIVE.fetch_add(size as u64, Relaxed)
        .wrapping_add(size as u64)
}

/// Gives back a reservation whose allocation failed.
#[inline]
pub(crate) fn unreserve(size: usize) {
    LIVE.fetch_sub(size as u64, Relaxed);
}

/// Notes that live bytes reached `live` (after a reservation): raises the peak if passed.
#[inline]
pub(crate) fn reached(live: u64) {
    // Signed: in sampled mode the global figure can lie below zero for a moment (`slots.rs`).
    if live as i64 > PEAK.load(Relaxed) as i64 {
        PEAK.fetch_max(live, Relaxed);
        if live >= PEAK_COPY_AT.load(Relaxed) {
            PEAK_DIRTY.store(true, Relaxed);
        }
    }
}

/// Counts a new block of `size` bytes that has no callsite (`ALLOC_TRACKER=off`).
#[inline]
pub(crate) fn block_added(size: usize) {
    LIVE_BLOCKS.fetch_add(1, Relaxed);
    block_moved(size);
}

/// Counts a realloc's new block of `size` bytes that has no callsite (`ALLOC_TRACKER=off`).
#[inline]
pub(crate) fn block_moved(size: usize) {
    TOTAL.fetch_add(size as u64, Relaxed);
    TOTAL_BLOCKS.fetch_add(1, Relaxed);
}

/// Counts a freed block that has no callsite (`ALLOC_TRACKER=off`).
#[inline]
pub(crate) fn block_removed() {
    LIVE_BLOCKS.fetch_sub(1, Relaxed);
}

/// Counts a successful realloc.
#[inline]
pub(crate) fn realloced() {
    REALLOCS.fetch_add(1, Relaxed);
}

/// If the heap is at a peak whose per-callsite figures have not been copied yet, copies them
/// ([`crate::table::copy_peak`]). Called before live bytes leave (a free, a realloc's shrink).
/// The flag is cleared *before* copying, so a peak raised meanwhile marks them stale again.
///
/// A copy walks every callsite (about 20 ns each), and on a heap that grows while it frees
/// temporaries every free leaves a new peak. Up to 1 024 callsites every peak is copied; beyond,
/// [`reached`] sets the flag only once the peak has grown by 1/128 since the last copy. So a run
/// makes at most about 90 copies each time its peak doubles (`tests/tests/peak_copies.rs`
/// counts them), and the t-gmax figures describe a moment when live bytes were within 1/128
/// (0.8%) of the peak. With several threads a copy is not atomic either: the figures may also
/// drift by what other threads allocate and free while one copy walks the callsites.
#[inline]
pub(crate) fn copy_peak_if_at_peak() {
    if PEAK_DIRTY.load(Relaxed) && LIVE.load(Relaxed) as i64 >= PEAK.load(Relaxed) as i64 {
        copy_peak();
    }
}

/// Sampled mode: called before a sampled event changes the per-callsite figures (a sampled
/// block's estimates are added or taken away). Only these events change them, so while the peak
/// rose since the last copy the figures are still those of the moment it rose: copied now,
/// whatever live bytes are now. (Exact mode checks at every free that live bytes are still at
/// the peak; sampled mode's live figure is batched, see `slots.rs`.)
#[inline]
pub(crate) fn copy_peak_if_dirty() {
    if PEAK_DIRTY.load(Relaxed) {
        copy_peak();
    }
}

/// For a report or snapshot: copies the per-callsite figures if the heap is at its peak now and
/// they are from an earlier, lower peak (whatever the margin).
pub(crate) fn copy_peak_for_report() {
    if crate::sample::rate().is_some() {
        // See `copy_peak_if_dirty`: the figures have not changed since the peak last rose.
        let live = heap_stats().live_bytes;
        let peak = PEAK.load(Relaxed);
        if PEAK_DIRTY.load(Relaxed) || (live >= peak && peak > PEAK_COPIED.load(Relaxed)) {
            copy_peak();
        }
        return;
    }
    let peak = PEAK.load(Relaxed);
    if LIVE.load(Relaxed) >= peak && peak > PEAK_COPIED.load(Relaxed) {
        copy_peak();
    }
}

#[cold]
#[inline(never)]
fn copy_peak() {
    PEAK_DIRTY.store(false, Relaxed);
    let peak = PEAK.load(Relaxed);
    PEAK_COPIED.store(peak, Relaxed);
    let margin = if crate::table::count() <= EXACT_PEAK_CALLSITES {
        0
    } else {
        peak / PEAK_MARGIN
    };
    PEAK_COPY_AT.store(peak.saturating_add(margin).saturating_add(1), Relaxed);
    PEAK_COPIES.fetch_add(1, Relaxed);
    crate::table::copy_peak();
}

/// How many times the per-callsite t-gmax figures were copied.
pub(crate) fn peak_copies() -> u64 {
    PEAK_COPIES.load(Relaxed)
}

/// Counts `size` live bytes leaving: a free, or a realloc's shrink by `size` (growth goes
/// through [`reserve`]).
#[inline]
pub(crate) fn freed(size: usize) {
    LIVE.fetch_sub(size as u64, Relaxed);
}

/// The tracker took `size` bytes from the inner allocator for itself.
#[inline]
pub(crate) fn overhead_add(size: usize) {
    OVERHEAD.fetch_add(size as u64, Relaxed);
}

/// The tracker gave `size` bytes of its own back. Saturates at zero: a free the tracker cannot
/// place must not wrap the figure to 2^64; what was missing is kept for [`check_invariants`].
#[inline]
pub(crate) fn overhead_sub(size: usize) {
    let size = size as u64;
    let before = OVERHEAD
        .fetch_update(Relaxed, Relaxed, |o| Some(o.saturating_sub(size)))
        .unwrap_or_else(|o| o);
    if before < size {
        OVERHEAD_SHORT.fetch_add(size - before, Relaxed);
    }
}

/// A user's block of `size` bytes that the block map could not hold (the inner allocator refused
/// the tracker's memory) leaves the user's figures and becomes overhead: a free that misses the
/// map counts as overhead, so its free then balances, whichever thread makes it. Live bytes and
/// the budget no longer see it; the report's "untracked" line counts it.
#[cold]
#[inline(never)]
pub(crate) fn untracked(size: usize) {
    LIVE.fetch_sub(size as u64, Relaxed);
    OVERHEAD.fetch_add(size as u64, Relaxed);
    UNTRACKED.fetch_add(1, Relaxed);
}

/// Blocks that went untracked so far (see [`untracked`]).
pub(crate) fn untracked_blocks() -> u64 {
    UNTRACKED.load(Relaxed)
}

/// Checks the global counters' invariants (tests call it through `__bench::check_invariants`):
/// overhead never went below zero, which `overhead_sub`'s saturation would otherwise hide (a free
/// counted as the tracker's own that it never allocated).
pub(crate) fn check_invariants() -> Result<(), String> {
    match OVERHEAD_SHORT.load(Relaxed) {
        0 => Ok(()),
        short => Err(format!(
            "overhead_bytes would have gone {short} bytes below zero: a free counted as the \
             tracker's own that it never allocated"
        )),
    }
}
