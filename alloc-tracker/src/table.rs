//! The tables: interned callsites with their counters, and the block map `address -> callsite`.
//!
//! **Callsites** are interned in a fixed open-addressing table of [`SLOTS`] atomic pointers in
//! `.bss` (1 MiB of address space; only the pages that hold used slots become resident). Lookup is
//! lock-free: hash the stack, probe, compare. A new callsite is built, then published with one
//! compare-and-swap; entries are never removed, so a reader holding `&'static Callsite` is always
//! valid. Every callsite is also pushed on a lock-free list, walked by reports and t-gmax copies.
//! When the table is three-quarters full, further new stacks are counted under one catch-all
//! callsite with an empty stack.
//!
//! **Blocks** map their address to their callsite in a `DashMap` with 64 shards keyed by a
//! multiply-fold hash of the address: one shard lock per alloc and per free, never held across the
//! inner allocator's call for the user's block (the map may grow its own shard under the lock; that
//! memory is tracker overhead). The alternative, a header in front of every block, would change the
//! layout the inner allocator sees (breaking `alloc_core`'s 64-byte policy and `usable_size`), so
//! the map costs about 17 bytes per live block plus its growth slack instead.

use core::hash::{BuildHasher, Hasher};
use core::ptr;
use core::sync::atomic::{
    AtomicPtr, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::OnceLock;

use dashmap::DashMap;

/// Slots in the callsite table (a power of two).
const SLOTS: usize = 1 << 17;
/// New callsites go to the catch-all once this many are interned.
const MAX_CALLSITES: usize = SLOTS / 4 * 3;

/// One interned stack and its counters.
///
/// Live figures are differences (`total - freed`): an allocation then costs two atomic adds, not
/// four. Invariants: 1. `stack` and `hash` never change after publication. 2. `freed_*` never
/// exceed `total_*` (a block is counted before it enters the block map, so before it can be
/// freed), and `live_*` equal the sums over this callsite's entries in the block map whenever no
/// operation is in flight. 3. `max_live_bytes >= live_bytes()` at rest.
pub(crate) struct Callsite {
    pub hash: u64,
    pub stack: Box<[usize]>,
    pub total_bytes: AtomicU64,
    pub total_blocks: AtomicU64,
    pub freed_bytes: AtomicU64,
    pub freed_blocks: AtomicU64,
    pub max_live_bytes: AtomicU64,
    /// Live bytes and blocks when the heap was last at its peak (t-gmax).
    pub peak_bytes: AtomicU64,
    pub peak_blocks: AtomicU64,
    next: AtomicPtr<Callsite>,
}

impl Callsite {
    fn new(hash: u64, stack: &[usize]) -> Callsite {
        Callsite {
            hash,
            stack: stack.into(),
            total_bytes: AtomicU64::new(0),
            total_blocks: AtomicU64::new(0),
            freed_bytes: AtomicU64::new(0),
            freed_blocks: AtomicU64::new(0),
            max_live_bytes: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
            peak_blocks: AtomicU64::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Counts a block of `size` bytes allocated here.
    #[inline]
    pub(crate) fn add(&self, size: usize) {
        let size = size as u64;
        let total = self.total_bytes.fetch_add(size, Relaxed) + size;
        self.total_blocks.fetch_add(1, Relaxed);
        let live = total.saturating_sub(self.freed_bytes.load(Relaxed));
        if live > self.max_live_bytes.load(Relaxed) {
            self.max_live_bytes.fetch_max(live, Relaxed);
        }
    }

    /// Counts a block of `size` bytes allocated here being freed.
    #[inline]
    pub(crate) fn remove(&self, size: usize) {
        self.freed_bytes.fetch_add(size as u64, Relaxed);
        self.freed_blocks.fetch_add(1, Relaxed);
    }

    /// Bytes in this callsite's live blocks.
    #[inline]
    pub(crate) fn live_bytes(&self) -> u64 {
        let freed = self.freed_bytes.load(Relaxed);
        self.total_bytes.load(Relaxed).saturating_sub(freed)
    }

    /// This callsite's live blocks.
    #[inline]
    pub(crate) fn live_blocks(&self) -> u64 {
        let freed = self.freed_blocks.load(Relaxed);
        self.total_blocks.load(Relaxed).saturating_sub(freed)
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicPtr<Callsite> = AtomicPtr::new(ptr::null_mut());
static TABLE: [AtomicPtr<Callsite>; SLOTS] = [EMPTY; SLOTS];
static HEAD: AtomicPtr<Callsite> = AtomicPtr::new(ptr::null_mut());
static COUNT: AtomicU64 = AtomicU64::new(0);
static CATCH_ALL: OnceLock<&'static Callsite> = OnceLock::new();

/// Hash of a stack: four independent multiply-rotate lanes, so the multiplications overlap
/// (one serial chain over 32 frames was 50 ns, the largest item in a profile of the hot path).
#[inline]
fn hash_stack(stack: &[usize]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut lanes = [stack.len() as u64, 1, 2, 3];
    let mut chunks = stack.chunks_exact(4);
    for chunk in &mut chunks {
        for (lane, &ip) in lanes.iter_mut().zip(chunk) {
            *lane = (*lane ^ ip as u64).wrapping_mul(K).rotate_left(29);
        }
    }
    for (lane, &ip) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = (*lane ^ ip as u64).wrapping_mul(K).rotate_left(29);
    }
    let h = (lanes[0] ^ lanes[1].rotate_left(16))
        ^ (lanes[2].rotate_left(32) ^ lanes[3].rotate_left(48));
    let h = h.wrapping_mul(K);
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
    let new: &'static mut Callsite = Box::leak(Box::new(Callsite::new(hash, stack)));
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
                    // Another thread interned the same stack first: ours was never published.
                    // SAFETY: `new` came from `Box::leak` above and no one else has seen it.
                    drop(unsafe { Box::from_raw(new) });
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
        let cs: &'static Callsite = Box::leak(Box::new(Callsite::new(0, &[])));
        push_list(cs);
        cs
    })
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

/// Copies every callsite's live figures into its t-gmax figures (the heap is at its peak).
pub(crate) fn copy_peak() {
    crate::counters::peak_copied();
    for cs in callsites() {
        cs.peak_bytes.store(cs.live_bytes(), Relaxed);
        cs.peak_blocks.store(cs.live_blocks(), Relaxed);
    }
}

/// Multiply-fold hash of a block address: both ends of the result are well mixed (hashbrown
/// uses the low bits for the bucket and the high ones for tags; dashmap picks shards from the top).
#[derive(Clone, Copy, Default)]
pub(crate) struct AddrHash(u64);

impl Hasher for AddrHash {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        let m = ((x ^ self.0) as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
}

impl BuildHasher for AddrHash {
    type Hasher = AddrHash;
    #[inline]
    fn build_hasher(&self) -> AddrHash {
        AddrHash(0)
    }
}

/// Block address -> `&'static Callsite` (as an address).
type BlockMap = DashMap<usize, usize, AddrHash>;
static BLOCKS: OnceLock<BlockMap> = OnceLock::new();

#[inline]
fn blocks() -> &'static BlockMap {
    BLOCKS.get_or_init(|| DashMap::with_hasher_and_shard_amount(AddrHash(0), 64))
}

/// Records the block at `addr` as allocated by `cs`. Call under the guard.
#[inline]
pub(crate) fn insert_block(addr: usize, cs: &'static Callsite) {
    let map = blocks();
    crate::guard::in_map(|| map.insert(addr, cs as *const Callsite as usize));
}

/// Forgets the block at `addr` and returns its callsite, or `None` if it was never recorded (a
/// block of the tracker's own, allocated under the guard). Call under the guard.
#[inline]
pub(crate) fn remove_block(addr: usize) -> Option<&'static Callsite> {
    let map = BLOCKS.get()?;
    let (_, cs) = crate::guard::in_map(|| map.remove(&addr))?;
    // SAFETY: values are addresses of leaked, never-freed callsites (see `insert_block`).
    Some(unsafe { &*(cs as *const Callsite) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_by_value() {
        let a = intern(&[1, 2, 3, 0xdead_beef]);
        let b = intern(&[1, 2, 3, 0xdead_beef]);
        let c = intern(&[1, 2, 3]);
        assert!(core::ptr::eq(a, b));
        assert!(!core::ptr::eq(a, c));
        assert!(callsites().any(|cs| core::ptr::eq(cs, c)));
    }

    #[test]
    fn address_hash_mixes_low_bits() {
        let low = |a: u64| {
            let mut h = AddrHash(0);
            h.write_u64(a);
            h.finish() & 0xff
        };
        let distinct: std::collections::HashSet<u64> =
            (0..64u64).map(|i| low(0x7f00_0000_0000 + i * 64)).collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
    }
}
