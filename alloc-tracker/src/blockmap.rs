//! The block map: `block address -> callsite id`, one insert per allocation, one removal per free.
//!
//! Addresses are grouped by 4 KiB page. Each of 64 shards (picked by a hash of the 2 MiB region) is
//! a mutex over a **directory** of pages, a linear-probing table of 32-byte [`Page`] entries; each
//! page holds its live blocks as `u32` words packing the block's 8-byte granule within the page
//! (9 bits, stored plus one so that 0 means empty) with the callsite id (20 bits). Up to two
//! blocks sit inline in the page entry (large blocks, one or two per page, need nothing more);
//! more go to a small linear-probing table of the page's own, from 8 up to 1024 words (4 KiB).
//!
//! Why pages: allocators hand out neighbouring addresses to neighbouring allocations (a slab of
//! one size class), and programs often free in a related order, so successive operations land in
//! the same page table, already in cache. The previous map hashed each address on its own into
//! one flat table per shard; on the `btree` workload (1.1 M live blocks, 16.8 MB of map) nearly
//! every insert and removal was a cache miss, about a quarter of the tracked run's samples. The
//! page tables also pack tighter: 4 bytes per block at most 3/4 full, against 8 then.
//!
//! Addresses that are not multiples of 8 (possible only from an inner allocator that returns
//! them for 1-byte alignment) go to an ordered map at full width.
//!
//! The shard lock is held only for the map operation itself, never across the inner allocator's
//! call for a user's block. Around `fork` the forking thread takes every shard's lock
//! (`pthread_atfork`), so the child never inherits a shard locked by a thread it does not have. Tables grow and shrink with the global allocator under that lock; the
//! caller holds the tracker's guard and marks the thread as inside the map ([`crate::guard::in_map`]),
//! so those calls are the tracker's overhead and never re-enter the map.

use core::alloc::Layout;
use core::ptr;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::table::{self, Callsite};

const PAGE_SHIFT: u32 = 12;
const GRANULE_SHIFT: u32 = 3;
const ID_BITS: u32 = table::ID_BITS;
const ID_MASK: u32 = (1 << ID_BITS) - 1;
/// Words in a page table when it is first made (the inline pair spills into it).
const MIN_WORDS: usize = 8;
/// Directory slots when a shard first sees a page.
const MIN_PAGES: usize = 16;
const SHARDS: usize = 64;
/// Shards are picked by 2 MiB region (see [`shard`]).
const REGION_SHIFT: u32 = 21;

/// Multiply-fold hash: both ends of the result are well mixed.
#[inline]
fn mix(x: u64) -> u64 {
    let m = (x as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The key of a block within its page: its granule plus one (1..=512), never 0.
#[inline]
fn granule_key(addr: usize) -> u32 {
    ((addr & ((1 << PAGE_SHIFT) - 1)) >> GRANULE_SHIFT) as u32 + 1
}

/// Home slot of granule key `k` in a table of `mask + 1` words.
#[inline]
fn word_home(k: u32, mask: usize) -> usize {
    (k.wrapping_mul(0x9E37_79B1) >> 16) as usize & mask
}

/// Whether an entry whose home is `home` may stay at `j` when slot `hole` (cyclically before `j`)
/// empties: only if its home lies cyclically in `(hole, j]`.
#[inline]
fn stays(hole: usize, home: usize, j: usize) -> bool {
    if hole <= j {
        hole < home && home <= j
    } else {
        hole < home || home <= j
    }
}

/// Allocates `n` zeroed `T`s (all-zero is "empty" for every table here); null if that fails.
fn alloc_zeroed<T>(n: usize) -> *mut T {
    let Ok(layout) = Layout::array::<T>(n) else {
        return ptr::null_mut();
    };
    // SAFETY: `n > 0` at every call, so the layout is non-zero. The caller holds the tracker's
    // guard inside the map: this is the tracker's own memory and does not re-enter the map.
    unsafe { std::alloc::alloc_zeroed(layout).cast() }
}

/// Frees what [`alloc_zeroed`] returned for the same `n`.
///
/// # Safety
/// `p` came from `alloc_zeroed::<T>(n)` and is not used afterwards.
unsafe fn dealloc<T>(p: *mut T, n: usize) {
    if let Ok(layout) = Layout::array::<T>(n) {
        // SAFETY: the caller's contract; the layout is the one `p` was allocated with.
        unsafe { std::alloc::dealloc(p.cast(), layout) };
    }
}

/// One page's live blocks.
///
/// Invariants: 1. `key` is the page number plus one, 0 only for an empty directory slot.
/// 2. `words` null: the `len <= 2` entries are `inline[..len]`. 3. `words` non-null: it holds
/// `mask + 1` words from [`alloc_zeroed`] (a power of two, at least [`MIN_WORDS`]) with `len`
/// non-zero entries, at most 3/4 full, each at or cyclically after its home with no empty word
/// in between. 4. An entry is `granule_key << ID_BITS | id`; keys are unique within a page.
#[derive(Clone, Copy)]
struct Page {
    key: u64,
    words: *mut u32,
    mask: u32,
    len: u32,
    inline: [u32; 2],
}

const EMPTY_PAGE: Page = Page {
    key: 0,
    words: ptr::null_mut(),
    mask: 0,
    len: 0,
    inline: [0; 2],
};

impl Page {
    #[inline]
    fn word(&self, i: usize) -> *mut u32 {
        debug_assert!(!self.words.is_null() && i <= self.mask as usize);
        // SAFETY: `i <= mask` (callers mask their indices) and `words` holds `mask + 1` words
        // (invariant 3).
        unsafe { self.words.add(i) }
    }

    /// Adds `entry` (its key not yet present); false if memory for the table ran out.
    #[inline]
    fn insert(&mut self, entry: u32) -> bool {
        if self.words.is_null() {
            if let Some(w) = self.inline.get_mut(self.len as usize) {
                *w = entry;
                self.len += 1;
                return true;
            }
            if !self.resize(MIN_WORDS) {
                return false;
            }
        } else if (self.len as usize + 1) * 4 > (self.mask as usize + 1) * 3
            && !self.resize((self.mask as usize + 1) * 2)
        {
            return false;
        }
        self.put(entry);
        self.len += 1;
        true
    }

    /// Places `entry` in the table (not full; `len` not updated).
    #[inline]
    fn put(&mut self, entry: u32) {
        let mask = self.mask as usize;
        let mut i = word_home(entry >> ID_BITS, mask);
        // SAFETY: `word` keeps indices within the table; it is at most 3/4 full, so an empty
        // word is found.
        unsafe {
            while *self.word(i) != 0 {
                i = (i + 1) & mask;
            }
            *self.word(i) = entry;
        }
    }

    /// Moves the entries into a fresh table of `cap` words; false (nothing changed) if the
    /// allocation failed.
    #[cold]
    fn resize(&mut self, cap: usize) -> bool {
        let new = alloc_zeroed::<u32>(cap);
        if new.is_null() {
            return false;
        }
        let old = *self;
        self.words = new;
        self.mask = cap as u32 - 1;
        if old.words.is_null() {
            for &e in &old.inline[..old.len as usize] {
                self.put(e);
            }
        } else {
            for i in 0..=old.mask as usize {
                // SAFETY: `i <= old.mask`; the old table is intact until freed below.
                let e = unsafe { *old.word(i) };
                if e != 0 {
                    self.put(e);
                }
            }
            // SAFETY: the old table came from `alloc_zeroed(old.mask + 1)` and is dropped here.
            unsafe { dealloc(old.words, old.mask as usize + 1) };
        }
        true
    }

    /// Removes the entry for granule key `k` and returns it.
    #[inline]
    fn remove(&mut self, k: u32) -> Option<u32> {
        if self.words.is_null() {
            let n = self.len as usize;
            let at = self.inline[..n].iter().position(|&e| e >> ID_BITS == k)?;
            let e = self.inline[at];
            self.inline[at] = self.inline[n - 1];
            self.len -= 1;
            return Some(e);
        }
        let mask = self.mask as usize;
        let mut i = word_home(k, mask);
        let found = loop {
            // SAFETY: `word` keeps indices within the table.
            let e = unsafe { *self.word(i) };
            if e == 0 {
                return None;
            }
            if e >> ID_BITS == k {
                break e;
            }
            i = (i + 1) & mask;
        };
        // Backward-shift deletion (no tombstones).
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            // SAFETY: `word` keeps indices within the table.
            let e = unsafe { *self.word(j) };
            if e == 0 {
                break;
            }
            if !stays(hole, word_home(e >> ID_BITS, mask), j) {
                // SAFETY: as above.
                unsafe { *self.word(hole) = e };
                hole = j;
            }
        }
        // SAFETY: as above.
        unsafe { *self.word(hole) = 0 };
        self.len -= 1;
        if self.len == 0 {
            // SAFETY: from `alloc_zeroed(mask + 1)`; the page is now empty and drops it.
            unsafe { dealloc(self.words, mask + 1) };
            self.words = ptr::null_mut();
            self.mask = 0;
        }
        Some(found)
    }
}

/// A shard's directory of pages.
///
/// Invariants: `pages` is null (capacity 0) or holds `mask + 1` (a power of two) [`Page`]s from
/// [`alloc_zeroed`], at most 3/4 of them in use, each at or cyclically after its home slot
/// `mix(page number) & mask` with no empty slot in between; `len` counts the used slots, which
/// include pages left without blocks (dropped at the next rebuild).
struct Dir {
    pages: *mut Page,
    mask: usize,
    len: usize,
    /// Blocks at addresses that are not multiples of 8, at full width.
    odd: BTreeMap<usize, u32>,
}

// SAFETY: `Dir` owns its tables; it is only reached through its shard's mutex.
unsafe impl Send for Dir {}

impl Dir {
    fn capacity(&self) -> usize {
        if self.pages.is_null() {
            0
        } else {
            self.mask + 1
        }
    }

    #[inline]
    fn page(&mut self, i: usize) -> &mut Page {
        debug_assert!(!self.pages.is_null() && i <= self.mask);
        // SAFETY: `i <= mask` (callers mask indices) and `pages` holds `mask + 1` entries; the
        // borrow of `self` keeps the table alive and unaliased.
        unsafe { &mut *self.pages.add(i) }
    }

    /// The slot holding page `key` (page number + 1), or the empty slot where it would go.
    #[inline]
    fn find(&mut self, key: u64, hash: u64) -> usize {
        let mask = self.mask;
        let mut i = hash as usize & mask;
        loop {
            let k = self.page(i).key;
            if k == key || k == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Rebuilds the directory without its empty pages, at twice the capacity the pages with
    /// blocks need (at least [`MIN_PAGES`]; it may shrink); false if the allocation failed.
    #[cold]
    fn rebuild(&mut self) -> bool {
        let old_cap = self.capacity();
        let live = (0..old_cap).filter(|&i| self.page(i).len > 0).count();
        let cap = ((live + 1) * 2).next_power_of_two().max(MIN_PAGES);
        let new = alloc_zeroed::<Page>(cap);
        if new.is_null() {
            return false;
        }
        let old = self.pages;
        self.pages = new;
        self.mask = cap - 1;
        self.len = live;
        for i in 0..old_cap {
            // SAFETY: `i` < the old capacity; the old table is intact until freed below.
            let p = unsafe { *old.add(i) };
            if p.len > 0 {
                let j = self.find(p.key, mix(p.key - 1));
                *self.page(j) = p;
            }
        }
        if !old.is_null() {
            // SAFETY: the old table came from `alloc_zeroed(old_cap)`; its pages moved above.
            unsafe { dealloc(old, old_cap) };
        }
        true
    }

    fn insert(&mut self, addr: usize, hash: u64, id: u32) {
        if !addr.is_multiple_of(1 << GRANULE_SHIFT) {
            self.odd.insert(addr, id);
            return;
        }
        if (self.len + 1) * 4 > self.capacity() * 3
            && !self.rebuild()
            && self.len == self.capacity()
        {
            return; // out of memory with a full directory: the block stays unrecorded
        }
        let key = (addr >> PAGE_SHIFT) as u64 + 1;
        let i = self.find(key, hash);
        let page = self.page(i);
        let new = page.key == 0;
        if new {
            *page = Page { key, ..EMPTY_PAGE };
        }
        // A new page that could not store its block (out of memory) stays, empty: harmless.
        page.insert(granule_key(addr) << ID_BITS | id);
        self.len += new as usize;
    }

    fn remove(&mut self, addr: usize, hash: u64) -> Option<u32> {
        if !addr.is_multiple_of(1 << GRANULE_SHIFT) {
            return self.odd.remove(&addr);
        }
        if self.len == 0 {
            return None;
        }
        let key = (addr >> PAGE_SHIFT) as u64 + 1;
        let i = self.find(key, hash);
        let page = self.page(i);
        if page.key == 0 {
            return None;
        }
        // A page left empty keeps its slot until the next rebuild: pages that hold one large
        // block at a time (`churn`) would otherwise leave and re-enter the directory each time.
        page.remove(granule_key(addr)).map(|e| e & ID_MASK)
    }
}

#[repr(align(64))]
struct Shard(Mutex<Dir>);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SHARD: Shard = Shard(Mutex::new(Dir {
    pages: ptr::null_mut(),
    mask: 0,
    len: 0,
    odd: BTreeMap::new(),
}));
static SHARDS_: [Shard; SHARDS] = [EMPTY_SHARD; SHARDS];

/// The hash of `addr`'s page and the locked shard of its 2 MiB region.
///
/// Shards go by region rather than by page: threads allocate from different arenas, hence
/// different regions, so two threads seldom share a shard (its lock and counters' cache line).
/// By page, every thread touched every shard, and on `mt-churn` the shard locks' cache lines
/// moving between the cores were the largest item in the profile.
#[inline]
fn shard(addr: usize) -> (u64, MutexGuard<'static, Dir>) {
    let hash = mix((addr >> PAGE_SHIFT) as u64);
    let region = mix((addr >> REGION_SHIFT) as u64);
    let dir = SHARDS_[(region >> 58) as usize % SHARDS]
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (hash, dir)
}

/// The shard guards taken before a `fork` (see [`register_fork_handlers`]).
///
/// Slot `i` is written only while shard `i`'s lock is held and read only before it is released,
/// so the shard's own mutex orders every access to it.
struct HeldForFork(core::cell::UnsafeCell<[Option<MutexGuard<'static, Dir>>; SHARDS]>);

// SAFETY: see the type's docs: slot `i` is only touched by the thread holding shard `i`'s lock.
unsafe impl Sync for HeldForFork {}

static HELD_FOR_FORK: HeldForFork =
    HeldForFork(core::cell::UnsafeCell::new([const { None }; SHARDS]));

/// Takes every shard's lock before `fork`, so that no shard is copied into the child locked by a
/// thread that does not exist there (its next allocation in that shard would wait forever).
extern "C" fn before_fork() {
    for (i, shard) in SHARDS_.iter().enumerate() {
        let guard = shard.0.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: this thread holds shard `i`'s lock (`HeldForFork`'s rule).
        unsafe { (*HELD_FOR_FORK.0.get())[i] = Some(guard) };
    }
}

/// Releases what [`before_fork`] took, in the parent and in the child (where the forking thread
/// is the only one, and the owner of every guard).
extern "C" fn after_fork() {
    for i in 0..SHARDS {
        // SAFETY: this thread took shard `i`'s lock in `before_fork` and still holds it.
        drop(unsafe { (*HELD_FOR_FORK.0.get())[i].take() });
    }
}

/// Registers [`before_fork`] and [`after_fork`] with `pthread_atfork` (once, when the tracker is
/// first used).
pub(crate) fn register_fork_handlers() {
    // SAFETY: the handlers are `extern "C"` functions that never unwind (locking recovers from
    // poisoning) and allocate nothing.
    unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
}

/// Records the block at `addr` as allocated by `cs`. Call under the guard.
#[inline]
pub(crate) fn insert(addr: usize, cs: &'static Callsite) {
    crate::guard::in_map(|| {
        let (hash, mut dir) = shard(addr);
        dir.insert(addr, hash, cs.id());
    });
}

/// Forgets the block at `addr` and returns its callsite, or `None` if it was never recorded (a
/// block of the tracker's own, allocated under the guard). Call under the guard.
#[inline]
pub(crate) fn remove(addr: usize) -> Option<&'static Callsite> {
    let id = crate::guard::in_map(|| {
        let (hash, mut dir) = shard(addr);
        dir.remove(addr, hash)
    })?;
    table::by_id(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory driven by a model through growth, spills, page tables and deletion.
    #[test]
    fn directory_matches_a_model() {
        let mut dir = Dir {
            pages: ptr::null_mut(),
            mask: 0,
            len: 0,
            odd: BTreeMap::new(),
        };
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 0x1234_5678;
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few pages and dense granules: inline pairs, spills, full 512-block pages, odd
            // addresses, and pages emptied and refilled.
            let page = 0x7f00_0000 + (x % 40) as usize;
            let granule = if x.is_multiple_of(7) {
                (x >> 8) as usize % 512
            } else {
                (x >> 8) as usize % 3
            };
            let odd = (x >> 20).is_multiple_of(50);
            let addr = (page << PAGE_SHIFT) + (granule << GRANULE_SHIFT) + odd as usize;
            let hash = mix((addr >> PAGE_SHIFT) as u64);
            if let std::collections::hash_map::Entry::Vacant(v) = model.entry(addr) {
                v.insert(round & ID_MASK);
                dir.insert(addr, hash, round & ID_MASK);
            } else {
                let id = model.remove(&addr).unwrap();
                assert_eq!(dir.remove(addr, hash), Some(id), "{addr:#x}");
                assert_eq!(dir.remove(addr, hash), None);
            }
        }
        // Many pages each used once: their empty slots are dropped at rebuilds, so the directory
        // stays sized to the pages that hold blocks.
        for page in 0..20_000usize {
            let addr = (0x1000_0000 + page) << PAGE_SHIFT;
            let hash = mix((addr >> PAGE_SHIFT) as u64);
            dir.insert(addr, hash, 7);
            assert_eq!(dir.remove(addr, hash), Some(7));
        }
        assert!(dir.capacity() <= 256, "{}", dir.capacity());
        let pages: std::collections::HashSet<usize> = model
            .keys()
            .filter(|a| a.is_multiple_of(8))
            .map(|a| a >> PAGE_SHIFT)
            .collect();
        let with_blocks = (0..dir.capacity()).filter(|&i| dir.page(i).len > 0).count();
        assert_eq!(with_blocks, pages.len());
        for (addr, id) in model {
            let hash = mix((addr >> PAGE_SHIFT) as u64);
            assert_eq!(dir.remove(addr, hash), Some(id), "{addr:#x}");
        }
        assert!((0..dir.capacity()).all(|i| dir.page(i).len == 0));
        assert!(dir.odd.is_empty());
    }

    #[test]
    fn blocks_map_to_their_callsite() {
        let a = table::intern(&[9, 9, 9]);
        let b = table::intern(&[8, 8]);
        insert(0x7f00_0000_1000, a);
        insert(0x7f00_0000_1008, b);
        insert(usize::MAX - 6, b); // not a multiple of 8: kept full width
        assert!(ptr::eq(remove(0x7f00_0000_1000).unwrap(), a));
        assert!(remove(0x7f00_0000_1000).is_none());
        assert!(ptr::eq(remove(0x7f00_0000_1008).unwrap(), b));
        assert!(ptr::eq(remove(usize::MAX - 6).unwrap(), b));
    }
}
