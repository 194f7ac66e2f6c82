//! The global counters: exact, always on, plain atomics; the live-bytes budget of [`crate::set_limit`].
//!
//! `LIVE` is reserved *before* the inner allocator is called (and given back if it fails), so a
//! budget holds exactly even with many threads allocating at once. Only growth is reserved: a
//! realloc that does not grow lowers live bytes and is never refused (see `tracked.rs`).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Exact global figures, from [`crate::stats`].
///
/// `live_bytes <= peak_bytes`, `live_bytes <= total_bytes` and `live_blocks <= total_blocks` hold
/// whenever no allocation is in flight. A `realloc` counts as one block freed and one allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in live blocks.
    pub live_bytes: u64,
    /// Live blocks.
    pub live_blocks: u64,
    /// The highest `live_bytes` so far (t-gmax).
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

/// Sampled mode's block counters of one thread: written by that thread only, with plain loads and
/// stores (no locked instruction: on `churn`, three `lock add`s per allocation made sampled mode
/// 2.5× slower than untracked), read by [`heap_stats`] from any thread. Sums over the slots are
/// exact whenever no allocation is in flight, as the global atomics are. A thread keeps its slot
/// after it exits (its counts stay in the sums); once all [`THREAD_SLOTS`] are taken, later
/// threads count in the global atomics instead.
#[repr(align(64))]
struct ThreadSlot {
    total_bytes: AtomicU64,
    total_blocks: AtomicU64,
    freed_blocks: AtomicU64,
}

const THREAD_SLOTS: usize = 1024;
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: ThreadSlot = ThreadSlot {
    total_bytes: AtomicU64::new(0),
    total_blocks: AtomicU64::new(0),
    freed_blocks: AtomicU64::new(0),
};
static SLOTS: [ThreadSlot; THREAD_SLOTS] = [EMPTY_SLOT; THREAD_SLOTS];
static SLOTS_TAKEN: AtomicU64 = AtomicU64::new(0);
/// `ThreadState::counter_slot` of a thread that found every slot taken.
const NO_SLOT: u32 = u32::MAX;

/// The slot of the thread whose `counter_slot` cell this is, claimed on first use.
#[inline]
fn slot(cell: &core::cell::Cell<u32>) -> Option<&'static ThreadSlot> {
    let mut n = cell.get();
    if n == 0 {
        n = claim_slot();
        cell.set(n);
    }
    SLOTS.get(n.wrapping_sub(1) as usize)
}

#[cold]
#[inline(never)]
fn claim_slot() -> u32 {
    let n = SLOTS_TAKEN.fetch_add(1, Relaxed);
    if n < THREAD_SLOTS as u64 {
        n as u32 + 1
    } else {
        NO_SLOT
    }
}

/// Adds `n` to a counter only this thread writes.
#[inline(always)]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Sampled mode: counts a new block of `size` bytes in this thread's slot.
#[inline]
pub(crate) fn sampled_block_added(cell: &core::cell::Cell<u32>, size: usize) {
    match slot(cell) {
        Some(s) => {
            bump(&s.total_bytes, size as u64);
            bump(&s.total_blocks, 1);
        }
        None => block_added(size),
    }
}

/// Sampled mode: counts a realloc's new block of `size` bytes (one block freed, one allocated).
#[inline]
pub(crate) fn sampled_block_moved(cell: &core::cell::Cell<u32>, size: usize) {
    match slot(cell) {
        Some(s) => {
            bump(&s.total_bytes, size as u64);
            bump(&s.total_blocks, 1);
            bump(&s.freed_blocks, 1);
        }
        None => block_moved(size),
    }
}

/// Sampled mode: counts a freed block in this thread's slot.
#[inline]
pub(crate) fn sampled_block_removed(cell: &core::cell::Cell<u32>) {
    match slot(cell) {
        Some(s) => bump(&s.freed_blocks, 1),
        None => block_removed(),
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
        // the threads' slots.
        let taken = (SLOTS_TAKEN.load(Relaxed) as usize).min(THREAD_SLOTS);
        let (mut blocks, mut freed) = (0u64, 0u64);
        for s in &SLOTS[..taken] {
            stats.total_bytes = stats.total_bytes.wrapping_add(s.total_bytes.load(Relaxed));
            blocks = blocks.wrapping_add(s.total_blocks.load(Relaxed));
            freed = freed.wrapping_add(s.freed_blocks.load(Relaxed));
        }
        stats.total_blocks = stats.total_blocks.wrapping_add(blocks);
        stats.live_blocks = stats.live_blocks.wrapping_add(blocks.wrapping_sub(freed));
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
    LIMIT.store(limit.unwrap_or(u64::MAX), Relaxed);
}

/// The live-bytes budget.
pub(crate) fn limit() -> Option<u64> {
    Some(LIMIT.load(Relaxed)).filter(|&l| l != u64::MAX)
}

/// A reservation the budget refused: the live bytes then and the budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refused {
    pub live: u64,
    pub limit: u64,
}

/// Reserves `size` live bytes ahead of an allocation; the new live figure, or what refused it when
/// that would pass the budget (nothing is reserved then).
#[inline]
pub(crate) fn reserve(size: usize) -> Result<u64, Refused> {
    let size = size as u64;
    let limit = LIMIT.load(Relaxed);
    if limit == u64::MAX {
        return Ok(LIVE.fetch_add(size, Relaxed) + size);
    }
    reserve_within(size, limit)
}

/// The budgeted path of [`reserve`]. A thread that is panicking is not held to the budget: the
/// panic's message and backtrace allocate, and if that failed, std's allocation-error hook would
/// wait forever for the backtrace lock the panic holds (`tests/exit_report.rs` runs such a panic).
#[cold]
#[inline(never)]
fn reserve_within(size: u64, limit: u64) -> Result<u64, Refused> {
    // `panicking` reads a thread-local counter: no allocation, no lock.
    if std::thread::panicking() {
        return Ok(LIVE.fetch_add(size, Relaxed) + size);
    }
    let mut live = LIVE.load(Relaxed);
    loop {
        let Some(new) = live.checked_add(size).filter(|&n| n <= limit) else {
            return Err(Refused { live, limit });
        };
        match LIVE.compare_exchange_weak(live, new, Relaxed, Relaxed) {
            Ok(_) => return Ok(new),
            Err(now) => live = now,
        }
    }
}

/// Gives back a reservation whose allocation failed.
#[inline]
pub(crate) fn unreserve(size: usize) {
    LIVE.fetch_sub(size as u64, Relaxed);
}

/// Notes that live bytes reached `live` (after a reservation): raises the peak if passed.
#[inline]
pub(crate) fn reached(live: u64) {
    if live > PEAK.load(Relaxed) {
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
    if PEAK_DIRTY.load(Relaxed) && LIVE.load(Relaxed) >= PEAK.load(Relaxed) {
        copy_peak();
    }
}

/// For a report or snapshot: copies the per-callsite figures if the heap is at its peak now and
/// they are from an earlier, lower peak (whatever the margin).
pub(crate) fn copy_peak_for_report() {
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
