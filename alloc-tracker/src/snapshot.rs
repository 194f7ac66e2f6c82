//! [`snapshot`]: every callsite's counters at one moment, sortable and resolvable to frames.

use core::sync::atomic::Ordering::Relaxed;

use crate::clock;
use crate::counters::{self, HeapStats};
use crate::guard::with_guard;
use crate::report::symbolize::{self, Frame};
use crate::table;

/// One callsite's counters (see [`Snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallsiteStats {
    /// Bytes in this callsite's blocks that are live now.
    pub live_bytes: u64,
    /// This callsite's live blocks.
    pub live_blocks: u64,
    /// Bytes ever allocated here (reallocs add their new size).
    pub total_bytes: u64,
    /// Blocks ever allocated here.
    pub total_blocks: u64,
    /// The highest `live_bytes` this callsite ever had.
    pub max_live_bytes: u64,
    /// Live bytes here when the whole heap was at its peak (t-gmax).
    pub peak_bytes: u64,
    /// Live blocks here when the whole heap was at its peak.
    pub peak_blocks: u64,
    /// Live blocks here when `max_live_bytes` was reached.
    pub max_live_blocks: u64,
    /// Successful reallocs that made a block here (each is also one of `total_blocks`: a realloc
    /// counts as a block freed where the old one was made and one allocated here).
    pub reallocs: u64,
    /// Temporaries: blocks allocated here that their thread freed with no allocation of its own
    /// in between (heaptrack's definition).
    pub temporaries: u64,
    /// Short-lived blocks: blocks allocated here and freed within about 1 ms (every one that
    /// lived under 1 ms, none that lived 2 ms or more, from a millisecond tick; exact mode only:
    /// 0 in sampled mode).
    pub short_lived: u64,
    /// The summed lifetime of every block allocated here, in nanoseconds; live blocks count up to
    /// the snapshot. Divided by `total_blocks`, the mean lifetime. An estimate, sampled every
    /// 10 ms off the allocation path: unbiased for sums over many blocks, not exact for one.
    pub lifetime_ns: u64,
    stack: &'static [usize],
}

impl CallsiteStats {
    /// The raw return addresses, innermost first (empty for the catch-all callsite used once the
    /// callsite table is full).
    pub fn stack(&self) -> &'static [usize] {
        self.stack
    }

    /// The stack as frames, trimmed: the first is the first frame outside the allocation
    /// machinery (the "callsite"), then its callers up to the runtime's entry.
    pub fn resolve(&self) -> Vec<Frame> {
        with_guard(|_| symbolize::fill(self.stack));
        let mut frames = Vec::new();
        symbolize::for_each_trimmed(self.stack, |f| frames.push(f.clone()));
        frames
    }
}

/// A callsite's counters with its resolved frames (from [`Snapshot::resolve`]).
#[derive(Clone, Debug)]
pub struct ResolvedCallsite {
    /// The counters.
    pub stats: CallsiteStats,
    /// The trimmed frames, callsite first (see [`CallsiteStats::resolve`]).
    pub frames: Vec<Frame>,
}

impl ResolvedCallsite {
    /// The first frame outside the allocation machinery, if any resolved.
    pub fn location(&self) -> Option<&Frame> {
        self.frames.first()
    }
}

/// Per-callsite counters and the global figures, taken by [`snapshot`].
///
/// Its own vectors are ordinary, tracked allocations of the caller (at `snapshot`'s callsite).
#[derive(Clone, Debug)]
pub struct Snapshot {
    heap: HeapStats,
    callsites: Vec<CallsiteStats>,
    elapsed_ns: u64,
    peak_at_ns: u64,
    sample_rate: u64,
}

impl Snapshot {
    /// The global figures (as [`crate::stats`]) when the snapshot was taken.
    pub fn heap(&self) -> HeapStats {
        self.heap
    }

    /// When the snapshot was taken: nanoseconds since the tracker started (its first tracked
    /// allocation).
    pub fn elapsed_ns(&self) -> u64 {
        self.elapsed_ns
    }

    /// When the heap was last seen at its peak (t-gmax), in nanoseconds since the tracker
    /// started: the moment its per-callsite figures were copied, as live bytes first fell from
    /// the peak (or this snapshot, if the heap is at its peak now).
    pub fn peak_at_ns(&self) -> u64 {
        self.peak_at_ns
    }

    /// In sampled mode (`ALLOC_TRACKER=sample=<bytes>`), the mean bytes between samples: the
    /// per-callsite figures are then estimates (sums of each sampled block's weight), while
    /// [`Snapshot::heap`] stays exact. `None` when every block is recorded.
    pub fn sample_rate(&self) -> Option<u64> {
        Some(self.sample_rate).filter(|&r| r != 0)
    }

    /// Bytes the tracker held for itself on the heap (callsite records, block map, caches): what
    /// tracking costs in memory, besides its fixed `.bss` tables (see [`crate::overhead_bytes`]).
    pub fn overhead_bytes(&self) -> u64 {
        self.heap.overhead_bytes
    }

    /// Every callsite seen so far, in the current order (newest first until sorted).
    pub fn callsites(&self) -> &[CallsiteStats] {
        &self.callsites
    }

    /// Sorts the callsites by `key`, largest first (e.g. `|c| c.live_bytes`).
    pub fn sort_by_key_desc<K: Ord>(&mut self, mut key: impl FnMut(&CallsiteStats) -> K) {
        self.callsites.sort_by_key(|c| core::cmp::Reverse(key(c)));
    }

    /// Keeps only the callsites for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&CallsiteStats) -> bool) {
        self.callsites.retain(keep);
    }

    /// Every callsite with its trimmed frames (symbolized now, cached per address).
    pub fn resolve(&self) -> Vec<ResolvedCallsite> {
        self.callsites
            .iter()
            .map(|c| ResolvedCallsite {
                stats: c.clone(),
                frames: c.resolve(),
            })
            .collect()
    }
}

/// The counters of every callsite so far, and the global figures.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// #[inline(never)]
/// fn make_table() -> Vec<u64> {
///     vec![7; 1000]
/// }
///
/// let table = make_table();
/// let mut snap = alloc_tracker::snapshot();
/// snap.sort_by_key_desc(|c| c.live_bytes);
/// let top = &snap.resolve()[0];
/// println!("{} bytes in {} blocks", top.stats.live_bytes, top.stats.live_blocks);
/// // 8000 bytes in 1 blocks
/// assert_eq!((top.stats.live_bytes, top.stats.live_blocks), (8000, 1));
/// if let Some(frame) = top.location() {
///     println!("{frame}");
///     // rust_out::main::make_table at src/snapshot.rs:10:5
/// }
/// # drop(table);
/// ```
///
/// Naming the function needs frame pointers in the *calling* crate when stacks are walked by
/// frame pointer: this workspace's `.cargo/config.toml` gives them to every crate it builds, but
/// rustdoc does not read `build.rustflags`, so a doctest's own functions may be missing from its
/// stacks (the integration tests check names and files).
pub fn snapshot() -> Snapshot {
    with_guard(|_| {
        counters::copy_peak_for_report();
    });
    // Reserve first, then read the global and per-callsite figures with no allocation in
    // between, so that at rest they agree (sums over callsites equal the global figures).
    let mut callsites = Vec::with_capacity(table::callsites().count() + 16);
    let heap = counters::heap_stats();
    // Lifetimes summed up to this moment first (see `lifetimes.rs`); it never allocates.
    let now = crate::lifetimes::sample();
    for cs in table::callsites().take(callsites.capacity()) {
        callsites.push(CallsiteStats {
            live_bytes: cs.live_bytes(),
            live_blocks: cs.live_blocks(),
            total_bytes: cs.total_bytes.load(Relaxed),
            total_blocks: cs.total_blocks(),
            max_live_bytes: cs.max_live_bytes.load(Relaxed),
            peak_bytes: cs.peak_bytes.load(Relaxed),
            peak_blocks: cs.peak_blocks.load(Relaxed),
            max_live_blocks: cs.max_live_blocks.load(Relaxed),
            reallocs: cs.reallocs.load(Relaxed),
            temporaries: cs.temporaries.load(Relaxed),
            short_lived: cs.short_lived(),
            lifetime_ns: cs.lifetime_ns.load(Relaxed),
            stack: &cs.stack,
        });
    }
    Snapshot {
        heap,
        callsites,
        elapsed_ns: clock::since_start_ns(now),
        peak_at_ns: match table::peak_ns() {
            0 => 0,
            t => clock::since_start_ns(t),
        },
        sample_rate: crate::sample::rate().unwrap_or(0),
    }
}
