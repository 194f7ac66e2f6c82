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
//! **Blocks** map their address to their callsite's id in 64 shards, each a mutex over a
//! linear-probing table of `u64` words packing `address / 8` (44 bits: user addresses are below
//! 2^47) with the callsite id (20 bits): 8 bytes per slot at most 3/4 full, 11 to 21 bytes per live
//! block. Measured on the `btree` workload (1 M live blocks, a heap far larger than the caches):
//! a `DashMap<usize, usize>` took 35.6 MB and a `hashbrown::HashTable<u64>` 18.9 MB, and each of
//! their inserts and removes cost two cache misses (control bytes and slot live apart); one probe
//! here touches one cache line. Deletion shifts the following entries back (no tombstones). One
//! shard lock per alloc and per free, never held across the inner allocator's call for the user's
//! block (a shard may grow its table under its lock; that memory is tracker overhead). The
//! alternative, a header in front of every block, would change the layout the inner allocator sees
//! (breaking `alloc_core`'s 64-byte policy and `usable_size`).

use core::ptr;
use core::sync::atomic::{
    AtomicPtr, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::OnceLock;

use std::collections::BTreeMap;

/// Slots in the callsite table (a power of two).
const SLOTS: usize = 1 << 17;
/// New callsites go to the catch-all once this many are interned.
const MAX_CALLSITES: usize = SLOTS / 4 * 3;
/// Callsite ids fit in this many bits of a block-map entry.
const ID_BITS: u32 = 20;
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
    /// Live bytes and blocks when the heap was last at its peak (t-gmax).
    pub peak_bytes: AtomicU64,
    pub peak_blocks: AtomicU64,
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
/// uses the low bits for the bucket and the high ones for tags; the shard is picked from the top).
#[inline]
fn addr_hash(addr: usize) -> u64 {
    let m = (addr as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
    (m as u64) ^ ((m >> 64) as u64)
}

const SHARDS: usize = 64;
const KEY_BITS: u32 = 64 - ID_BITS;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// A linear-probing set of packed entries `(address / 8) << ID_BITS | id`; 0 marks an empty slot
/// (no block lives at address 0).
///
/// Invariants: 1. `slots` is null (capacity 0) or points at `mask + 1` zero-initialised-or-written
/// words from the global allocator, `mask + 1` a power of two. 2. `len <= (mask + 1) * 3 / 4`
/// except when growing failed. 3. Every entry sits at or after (cyclically) its home slot
/// `hash & mask` with no empty slot in between.
struct Packed {
    slots: *mut u64,
    mask: usize,
    len: usize,
}

// SAFETY: `Packed` owns its slot array; it is only reached through its shard's mutex.
unsafe impl Send for Packed {}

#[inline]
fn entry_hash(entry: u64) -> u64 {
    addr_hash(((entry >> ID_BITS) << 3) as usize)
}

impl Packed {
    const fn new() -> Packed {
        Packed {
            slots: ptr::null_mut(),
            mask: 0,
            len: 0,
        }
    }

    fn capacity(&self) -> usize {
        if self.slots.is_null() {
            0
        } else {
            self.mask + 1
        }
    }

    #[inline]
    fn slot(&self, i: usize) -> *mut u64 {
        debug_assert!(
            i <= self.mask && !self.slots.is_null(),
            "slot {i} out of range"
        );
        // SAFETY: `i <= mask` and `slots` holds `mask + 1` words (invariant 1).
        unsafe { self.slots.add(i) }
    }

    /// Doubles the table (from 64 slots); false if the allocation failed.
    #[cold]
    fn grow(&mut self) -> bool {
        let new_cap = (self.capacity() * 2).max(64);
        let Ok(layout) = core::alloc::Layout::array::<u64>(new_cap) else {
            return false;
        };
        // SAFETY: the layout is non-zero; the memory is the tracker's own (the caller holds the
        // guard), zeroed = all slots empty.
        let new = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<u64>();
        if new.is_null() {
            return false;
        }
        let old = core::mem::replace(
            self,
            Packed {
                slots: new,
                mask: new_cap - 1,
                len: 0,
            },
        );
        for i in 0..old.capacity() {
            // SAFETY: `i` < old capacity (invariant 1 of `old`).
            let e = unsafe { *old.slot(i) };
            if e != 0 {
                self.insert(entry_hash(e), e);
            }
        }
        if !old.slots.is_null() {
            let layout = core::alloc::Layout::array::<u64>(old.capacity()).expect("was valid");
            // SAFETY: allocated above (in an earlier `grow`) with this layout; no longer used.
            unsafe { std::alloc::dealloc(old.slots.cast(), layout) };
        }
        true
    }

    #[inline]
    fn insert(&mut self, hash: u64, entry: u64) {
        if (self.len + 1) * 4 > self.capacity() * 3 && !self.grow() && self.len >= self.capacity() {
            return; // full and cannot grow: the block stays unrecorded
        }
        let mut i = hash as usize & self.mask;
        // SAFETY: `i <= mask`, and `slot` points into the live table (invariant 1).
        while unsafe { *self.slot(i) } != 0 {
            i = (i + 1) & self.mask;
        }
        // SAFETY: as above; the table is not full (checked above), so an empty slot was found.
        unsafe { *self.slot(i) = entry };
        self.len += 1;
    }

    /// Removes the entry whose key is `key` and returns it.
    #[inline]
    fn remove(&mut self, hash: u64, key: u64) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let mut i = hash as usize & self.mask;
        let found = loop {
            // SAFETY: `slot` keeps `i` within the table.
            let e = unsafe { *self.slot(i) };
            if e == 0 {
                return None;
            }
            if e >> ID_BITS == key {
                break e;
            }
            i = (i + 1) & self.mask;
        };
        // Backward-shift deletion: move later entries of the run into the hole when their home
        // slot does not lie cyclically in (hole, j].
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            // SAFETY: `slot` keeps `j` within the table.
            let e = unsafe { *self.slot(j) };
            if e == 0 {
                break;
            }
            let home = entry_hash(e) as usize & self.mask;
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                // SAFETY: `slot` keeps `hole` within the table.
                unsafe { *self.slot(hole) = e };
                hole = j;
            }
        }
        // SAFETY: `slot` keeps `hole` within the table.
        unsafe { *self.slot(hole) = 0 };
        self.len -= 1;
        Some(found)
    }
}

/// One shard: packed entries, and (never used on x86-64 Linux's 47-bit user space, kept for
/// correctness) full-width entries for addresses that do not pack.
struct Tables {
    packed: Packed,
    wide: BTreeMap<usize, u32>,
}

#[repr(align(64))]
struct Shard(std::sync::Mutex<Tables>);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SHARD: Shard = Shard(std::sync::Mutex::new(Tables {
    packed: Packed::new(),
    wide: BTreeMap::new(),
}));
static BLOCKS: [Shard; SHARDS] = [EMPTY_SHARD; SHARDS];

#[inline]
fn shard(hash: u64) -> std::sync::MutexGuard<'static, Tables> {
    BLOCKS[(hash >> 58) as usize % SHARDS]
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The packed key of `addr`, if it packs.
#[inline]
fn key(addr: usize) -> Option<u64> {
    let k = (addr as u64) >> 3;
    (addr.is_multiple_of(8) && k != 0 && k >> KEY_BITS == 0).then_some(k)
}

/// Records the block at `addr` as allocated by `cs`. Call under the guard.
#[inline]
pub(crate) fn insert_block(addr: usize, cs: &'static Callsite) {
    let hash = addr_hash(addr);
    crate::guard::in_map(|| {
        let mut tables = shard(hash);
        match key(addr) {
            Some(k) => tables.packed.insert(hash, k << ID_BITS | cs.id as u64),
            None => {
                tables.wide.insert(addr, cs.id);
            }
        }
    });
}

/// Forgets the block at `addr` and returns its callsite, or `None` if it was never recorded (a
/// block of the tracker's own, allocated under the guard). Call under the guard.
#[inline]
pub(crate) fn remove_block(addr: usize) -> Option<&'static Callsite> {
    let hash = addr_hash(addr);
    let id = crate::guard::in_map(|| {
        let mut tables = shard(hash);
        match key(addr) {
            Some(k) => tables.packed.remove(hash, k).map(|e| (e & ID_MASK) as u32),
            None => tables.wide.remove(&addr),
        }
    })?;
    let cs = BY_ID[id as usize].load(Acquire);
    // SAFETY: ids in the map come from published callsites, leaked and never freed.
    unsafe { cs.as_ref() }
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
        let distinct: std::collections::HashSet<u64> = (0..64u64)
            .map(|i| addr_hash(0x7f00_0000_0000 + i as usize * 64) & 0xff)
            .collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
    }

    #[test]
    fn blocks_map_to_their_callsite() {
        let a = intern(&[9, 9, 9]);
        let b = intern(&[8, 8]);
        insert_block(0x7f00_0000_1000, a);
        insert_block(0x7f00_0000_1008, b);
        insert_block(usize::MAX - 7, b); // does not pack: kept full width
        assert!(core::ptr::eq(remove_block(0x7f00_0000_1000).unwrap(), a));
        assert!(remove_block(0x7f00_0000_1000).is_none());
        assert!(core::ptr::eq(remove_block(0x7f00_0000_1008).unwrap(), b));
        assert!(core::ptr::eq(remove_block(usize::MAX - 7).unwrap(), b));
    }

    #[test]
    fn packed_table_matches_a_model_through_growth_and_deletion() {
        let mut table = Packed::new();
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 0x1234_5678;
        for round in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = 1 + x % 3000; // few keys: many collisions, removals and re-inserts
            let hash = addr_hash((k << 3) as usize);
            if let std::collections::hash_map::Entry::Vacant(v) = model.entry(k) {
                v.insert(round & ID_MASK);
                table.insert(hash, k << ID_BITS | (round & ID_MASK));
            } else {
                let id = model.remove(&k).unwrap();
                assert_eq!(table.remove(hash, k), Some(k << ID_BITS | id), "key {k}");
                assert_eq!(table.remove(hash, k), None);
            }
            assert_eq!(table.len, model.len());
        }
        for (k, id) in model {
            assert_eq!(
                table.remove(addr_hash((k << 3) as usize), k),
                Some(k << ID_BITS | id)
            );
        }
        assert_eq!(table.len, 0);
    }
}
