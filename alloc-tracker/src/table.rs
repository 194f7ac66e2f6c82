//! Interned callsites with their counters, and their ids (the block map stores ids).
//!
//! **Callsites** are interned in a fixed open-addressing table of [`SLOTS`] atomic pointers in
//! `.bss` (1 MiB of address space; only the pages that hold used slots become resident). Lookup is
//! lock-free: hash the stack, probe, compare. A new callsite is built, then published with one
//! compare-and-swap; entries are never removed, so a reader holding `&'static Callsite` is always
//! valid. Every callsite is also pushed on a lock-free list, walked by reports and t-gmax copies.
//! When the table is three-quarters full, further new stacks are counted under one catch-all
//! callsite with an empty stack.
//!
//! The block map (`address -> callsite id`) is in `blockmap.rs`.

use core::ptr;
use core::sync::atomic::{
    AtomicPtr, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};
use std::sync::OnceLock;

use crate::clock;

/// Slots in the callsite table (a power of two).
const SLOTS: usize = 1 << 17;
/// New callsites go to the catch-all once this many are interned.
const MAX_CALLSITES: usize = SLOTS / 4 * 3;
/// Callsite ids fit in this many bits of a block-map entry.
pub(crate) const ID_BITS: u32 = 20;
/// `Callsite::grown_from` when no origin is known.
pub(crate) const NO_ORIGIN: u32 = u32::MAX;
/// Ids handed out (some are lost to races; at most `MAX_CALLSITES` + threads + 1 are used).
const MAX_IDS: usize = 1 << ID_BITS;

/// One interned stack and its counters.
///
/// Live figures are differences (`total - freed`): an allocation then costs two atomic adds, not
/// four. Invariants: 1. `stack` and `hash` never change after publication. 2. `freed_*` never
/// exceed `total_*` (a block is counted before it enters the block map, so before it can be
/// freed), and `live_*` equal the sums over this callsite's entries in the block map whenever no
/// operation is in flight. 3. `max_live_bytes >= live_bytes()` at rest.
pub(crate) struct Callsite {
    pub hash: u64,
    /// Index in `BY_ID`, stored in block-map entries.
    id: u32,
    pub stack: Box<[usize]>,
    pub total_bytes: AtomicU64,
    pub total_blocks: AtomicU64,
    pub freed_bytes: AtomicU64,
    pub freed_blocks: AtomicU64,
    pub max_live_bytes: AtomicU64,
    /// Live blocks when `max_live_bytes` was last raised (DHAT's `mbk`).
    pub max_live_blocks: AtomicU64,
    /// Live bytes and blocks when the heap was last at its peak (t-gmax).
    pub peak_bytes: AtomicU64,
    pub peak_blocks: AtomicU64,
    /// The summed lifetime of this callsite's blocks in nanoseconds, as sampled so far (see
    /// `clock.rs`: the integral of its live blocks over time).
    pub lifetime_ns: AtomicU64,
    /// Successful reallocs that made a block here (each also counts in `total_blocks`).
    pub reallocs: AtomicU64,
    /// Temporaries: blocks allocated here and freed by their thread with no allocation of that
    /// thread in between (heaptrack's definition).
    pub temporaries: AtomicU64,
    /// Blocks that left this callsite other than by a short-lived free (freed later than that,
    /// moved by a realloc, or made untracked); `freed_blocks` minus this is the short-lived
    /// count ([`Callsite::short_lived`]). Counting these rather than the short-lived frees keeps
    /// the extra atomic add off the commonest free in an allocation-heavy loop: counting each
    /// short-lived free made `churn` 5% slower (0.436 s -> 0.461 s, interleaved medians), since
    /// there every free is one.
    not_short: AtomicU64,
    /// For a callsite that grows blocks (a realloc's), the id of the callsite that first made a
    /// block it grew, following earlier growths back to the first allocation (`NO_ORIGIN`:
    /// none yet). The first such origin only: one atomic load per realloc afterwards.
    pub grown_from: AtomicU32,
    next: AtomicPtr<Callsite>,
}

impl Callsite {
    fn new(id: u32, hash: u64, stack: &[usize]) -> Callsite {
        Callsite {
            id,
            hash,
            stack: stack.into(),
            total_bytes: AtomicU64::new(0),
            total_blocks: AtomicU64::new(0),
            freed_bytes: AtomicU64::new(0),
            freed_blocks: AtomicU64::new(0),
            max_live_bytes: AtomicU64::new(0),
            max_live_blocks: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
            peak_blocks: AtomicU64::new(0),
            lifetime_ns: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            temporaries: AtomicU64::new(0),
            not_short: AtomicU64::new(0),
            grown_from: AtomicU32::new(NO_ORIGIN),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// This callsite's id (its index in `BY_ID`).
    #[inline]
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Counts a block of `size` bytes allocated here.
    #[inline]
    pub(crate) fn add(&self, size: usize) {
        let size = size as u64;
        let total = self.total_bytes.fetch_add(size, Relaxed) + size;
        self.total_blocks.fetch_add(1, Relaxed);
        let live = total.saturating_sub(self.freed_bytes.load(Relaxed));
        if live > self.max_live_bytes.load(Relaxed) {
            self.new_max(live);
        }
    }

    /// `live` bytes passed the highest figure so far: raise it, and note the live blocks with it.
    #[cold]
    #[inline(never)]
    fn new_max(&self, live: u64) {
        if self.max_live_bytes.fetch_max(live, Relaxed) < live {
            self.max_live_blocks.store(self.live_blocks(), Relaxed);
        }
    }

    /// Notes that a block made at `old` was grown here (see `grown_from`).
    #[inline]
    pub(crate) fn grew_from(&self, old: &Callsite) {
        if self.grown_from.load(Relaxed) == NO_ORIGIN && !core::ptr::eq(self, old) {
            self.note_origin(old);
        }
    }

    #[cold]
    #[inline(never)]
    fn note_origin(&self, old: &Callsite) {
        let origin = match old.grown_from.load(Relaxed) {
            NO_ORIGIN => old.id,
            first => first,
        };
        if origin != self.id {
            let _ = self
                .grown_from
                .compare_exchange(NO_ORIGIN, origin, Relaxed, Relaxed);
        }
    }

    /// Counts a sampled block allocated here as the `bytes` and `blocks` it stands for (blocks
    /// in fixed point, see `sample.rs`).
    #[inline]
    pub(crate) fn add_estimate(&self, bytes: u64, blocks: u64) {
        let total = self.total_bytes.fetch_add(bytes, Relaxed) + bytes;
        self.total_blocks.fetch_add(blocks, Relaxed);
        let live = total.saturating_sub(self.freed_bytes.load(Relaxed));
        if live > self.max_live_bytes.load(Relaxed) {
            self.new_max(live);
        }
    }

    /// Counts a sampled block allocated here being freed (what [`Callsite::add_estimate`] added).
    #[inline]
    pub(crate) fn remove_estimate(&self, bytes: u64, blocks: u64) {
        self.freed_bytes.fetch_add(bytes, Relaxed);
        self.freed_blocks.fetch_add(blocks, Relaxed);
    }

    /// Takes back [`Callsite::add_estimate`] (the block could not be recorded).
    #[cold]
    pub(crate) fn unadd_estimate(&self, bytes: u64, blocks: u64) {
        self.total_bytes.fetch_sub(bytes, Relaxed);
        self.total_blocks.fetch_sub(blocks, Relaxed);
    }

    /// Takes back [`Callsite::add`]`(size)` (the block could not be recorded).
    #[cold]
    pub(crate) fn unadd(&self, size: usize) {
        self.total_bytes.fetch_sub(size as u64, Relaxed);
        self.total_blocks.fetch_sub(1, Relaxed);
    }

    /// Counts a block of `size` bytes allocated here leaving it: freed, short-lived or not (see
    /// [`Callsite::short_lived`]), or moved by a realloc (`short` false).
    #[inline]
    pub(crate) fn remove(&self, size: usize, short: bool) {
        if !short {
            self.not_short.fetch_add(1, Relaxed);
        }
        self.freed_bytes.fetch_add(size as u64, Relaxed);
        // Release: a reader that sees this block in `freed_blocks` sees it in `not_short` too.
        self.freed_blocks.fetch_add(1, Release);
    }

    /// Short-lived blocks: blocks allocated here and freed within about 1 ms, judged at the
    /// free from the block's millisecond stamp (`blockmap::Removed::short_lived`: every block
    /// that lived under 1 ms, none that lived 2 ms or more, one that lived `1 + f` ms with
    /// probability `1 - f`). The tick is published by the tracker's own thread, so when that
    /// thread is kept off the CPU for over a millisecond the tick jumps and a block live across
    /// the jump is not counted. Exact mode only (0 in sampled mode).
    pub(crate) fn short_lived(&self) -> u64 {
        if crate::sample::rate().is_some() {
            return 0;
        }
        // `freed_blocks` first (Acquire): every block it counts as gone non-short is then in
        // `not_short` as well, so a free in flight never shows as short-lived.
        let freed = self.freed_blocks.load(Acquire);
        freed.saturating_sub(self.not_short.load(Acquire))
    }

    /// Bytes in this callsite's live blocks.
    #[inline]
    pub(crate) fn live_bytes(&self) -> u64 {
        let freed = self.freed_bytes.load(Relaxed);
        self.total_bytes.load(Relaxed).saturating_sub(freed)
    }

    /// This callsite's live blocks (estimated, rounded, in sampled mode).
    #[inline]
    pub(crate) fn live_blocks(&self) -> u64 {
        let freed = self.freed_blocks.load(Relaxed);
        whole_blocks(self.total_blocks.load(Relaxed).saturating_sub(freed))
    }

    /// Blocks ever allocated here (estimated, rounded, in sampled mode).
    #[inline]
    pub(crate) fn total_blocks(&self) -> u64 {
        whole_blocks(self.total_blocks.load(Relaxed))
    }
}

/// Fraction bits of the block counters: 0 in exact mode, `sample::BLOCK_SHIFT` in sampled mode
/// (set once, before any block is recorded).
static BLOCK_SHIFT: AtomicU32 = AtomicU32::new(0);

/// Callsites count estimated blocks in fixed point from now on (sampled mode).
pub(crate) fn set_sampled() {
    BLOCK_SHIFT.store(crate::sample::BLOCK_SHIFT, Relaxed);
}

/// A block counter's value in whole blocks, rounded.
#[inline]
fn whole_blocks(raw: u64) -> u64 {
    match BLOCK_SHIFT.load(Relaxed) {
        0 => raw,
        s => (raw + (1 << (s - 1))) >> s,
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicPtr<Callsite> = AtomicPtr::new(ptr::null_mut());
static TABLE: [AtomicPtr<Callsite>; SLOTS] = [EMPTY; SLOTS];
static HEAD: AtomicPtr<Callsite> = AtomicPtr::new(ptr::null_mut());
static COUNT: AtomicU64 = AtomicU64::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// Callsites by id (`.bss`; pages become resident as ids are handed out, 512 per page).
static BY_ID: [AtomicPtr<Callsite>; MAX_IDS] = [EMPTY; MAX_IDS];

/// A leaked callsite with a fresh id, registered in `BY_ID` (not yet in the table or list).
fn new_callsite(hash: u64, stack: &[usize]) -> &'static mut Callsite {
    let id = NEXT_ID.fetch_add(1, Relaxed).min(MAX_IDS as u64 - 1) as u32;
    let cs: &'static mut Callsite = Box::leak(Box::new(Callsite::new(id, hash, stack)));
    BY_ID[id as usize].store(cs, Release);
    cs
}
static CATCH_ALL: OnceLock<&'static Callsite> = OnceLock::new();

/// Hash of a stack: four independent multiply-rotate lanes, so the multiplications overlap
/// (one serial chain over 32 frames was 50 ns, the largest item in a profile of the hot path).
#[inline]
fn hash_stack(stack: &[usize]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    #[inline(always)]
    fn mix(lane: u64, ip: usize) -> u64 {
        (lane ^ ip as u64).wrapping_mul(K).rotate_left(29)
    }
    let (mut a, mut b, mut c, mut d) = (stack.len() as u64, 1u64, 2u64, 3u64);
    let mut chunks = stack.chunks_exact(4);
    for ch in &mut chunks {
        a = mix(a, ch[0]);
        b = mix(b, ch[1]);
        c = mix(c, ch[2]);
        d = mix(d, ch[3]);
    }
    for &ip in chunks.remainder() {
        a = mix(a, ip);
    }
    let h = (a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48)).wrapping_mul(K);
    h ^ (h >> 32)
}

/// The interned callsite for `stack` (created on first sight). Call under the guard: a new
/// callsite's memory is the tracker's own.
#[inline]
pub(crate) fn intern(stack: &[usize]) -> &'static Callsite {
    let hash = hash_stack(stack);
    let mut i = (hash as usize) & (SLOTS - 1);
    loop {
        let p = TABLE[i].load(Acquire);
        if p.is_null() {
            return insert_at(i, hash, stack);
        }
        // SAFETY: non-null slots hold callsites leaked at publication and never freed.
        let cs = unsafe { &*p };
        if cs.hash == hash && *cs.stack == *stack {
            return cs;
        }
        i = (i + 1) & (SLOTS - 1);
    }
}

#[cold]
#[inline(never)]
fn insert_at(mut i: usize, hash: u64, stack: &[usize]) -> &'static Callsite {
    if COUNT.load(Relaxed) as usize >= MAX_CALLSITES {
        return catch_all();
    }
    let new = new_callsite(hash, stack);
    loop {
        match TABLE[i].compare_exchange(ptr::null_mut(), new, AcqRel, Acquire) {
            Ok(_) => {
                COUNT.fetch_add(1, Relaxed);
                push_list(new);
                return new;
            }
            Err(p) if !p.is_null() => {
                // SAFETY: non-null slots hold callsites leaked at publication and never freed.
                let cs = unsafe { &*p };
                if cs.hash == hash && *cs.stack == *stack {
                    // Another thread interned the same stack first: ours stays unpublished (its
                    // id slot points at it, but no block ever carries that id).
                    return cs;
                }
                i = (i + 1) & (SLOTS - 1);
            }
            Err(_) => {}
        }
    }
}

fn catch_all() -> &'static Callsite {
    CATCH_ALL.get_or_init(|| {
        let cs: &'static Callsite = new_callsite(0, &[]);
        push_list(cs);
        cs
    })
}

/// Whether `cs` is the catch-all callsite of a full table (not an empty stack that was interned).
pub(crate) fn is_catch_all(cs: &Callsite) -> bool {
    CATCH_ALL.get().is_some_and(|c| core::ptr::eq(*c, cs))
}

fn push_list(cs: &'static Callsite) {
    let mut head = HEAD.load(Relaxed);
    loop {
        cs.next.store(head, Relaxed);
        match HEAD.compare_exchange_weak(head, cs as *const _ as *mut _, Release, Relaxed) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Callsites interned so far.
pub(crate) fn count() -> u64 {
    COUNT.load(Relaxed)
}

/// Every callsite interned so far, newest first.
pub(crate) fn callsites() -> impl Iterator<Item = &'static Callsite> {
    let mut p = HEAD.load(Acquire);
    core::iter::from_fn(move || {
        // SAFETY: list nodes are leaked callsites, never freed; `next` was written before the
        // node was published with a release store.
        let cs = unsafe { p.as_ref() }?;
        p = cs.next.load(Relaxed);
        Some(cs)
    })
}

/// When the per-callsite t-gmax figures were last copied ([`clock::now_ns`]; 0: never).
static PEAK_NS: AtomicU64 = AtomicU64::new(0);

/// When the heap was last seen at its peak ([`clock::now_ns`]; 0: never).
pub(crate) fn peak_ns() -> u64 {
    PEAK_NS.load(Relaxed)
}

/// Copies every callsite's live figures into its t-gmax figures (the heap is at its peak).
pub(crate) fn copy_peak() {
    PEAK_NS.store(clock::now_ns(), Relaxed);
    for cs in callsites() {
        cs.peak_bytes.store(cs.live_bytes(), Relaxed);
        cs.peak_blocks.store(cs.live_blocks(), Relaxed);
    }
}

/// Checks every callsite's invariant that `live_*`'s `saturating_sub` would otherwise hide: no
/// more bytes or blocks freed than allocated. `freed` is read before `total` (both only grow, and
/// a block is counted in `total` before it can be freed), so a check racing with other threads
/// never reports a false imbalance.
pub(crate) fn check_invariants() -> Result<(), String> {
    for cs in callsites() {
        let freed = (cs.freed_bytes.load(SeqCst), cs.freed_blocks.load(SeqCst));
        let total = (cs.total_bytes.load(SeqCst), cs.total_blocks.load(SeqCst));
        if freed.0 > total.0 || freed.1 > total.1 {
            return Err(format!(
                "callsite {}: freed {} bytes in {} blocks, allocated {} bytes in {} blocks",
                cs.id, freed.0, freed.1, total.0, total.1
            ));
        }
    }
    Ok(())
}

/// The callsite with id `id` (as stored in the block map).
#[inline]
pub(crate) fn by_id(id: u32) -> Option<&'static Callsite> {
    let cs = BY_ID.get(id as usize)?.load(Acquire);
    // SAFETY: ids in the block map come from published callsites, leaked and never freed.
    unsafe { cs.as_ref() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callsite_that_freed_more_than_it_allocated_is_reported() {
        let cs = intern(&[0xbad, 0xf00d, 0x5eed]);
        cs.remove(10, false); // freed without an allocation
        let err = check_invariants().unwrap_err();
        cs.add(10); // balanced again, for every later check
        assert!(
            err.ends_with("freed 10 bytes in 1 blocks, allocated 0 bytes in 0 blocks"),
            "{err}"
        );
        assert_eq!(check_invariants(), Ok(()));
    }

    #[test]
    fn interning_is_by_value() {
        let a = intern(&[1, 2, 3, 0xdead_beef]);
        let b = intern(&[1, 2, 3, 0xdead_beef]);
        let c = intern(&[1, 2, 3]);
        assert!(core::ptr::eq(a, b));
        assert!(!core::ptr::eq(a, c));
        assert!(callsites().any(|cs| core::ptr::eq(cs, c)));
        let empty = intern(&[]);
        assert!(!is_catch_all(empty) && is_catch_all(catch_all()));
    }
}
