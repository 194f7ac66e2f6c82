//! The block map: `block address -> (callsite id, size, ignored flag, stamp)`, one insert per
//! allocation, one removal per free. The sizes are for the reachability scan (`scan/`), which must
//! know where each live block ends; the flag is [`crate::ignore_leak`]'s; the stamp is the
//! millisecond tick of the block's allocation ([`crate::clock::tick_ms`]), which tells its free
//! whether it was short-lived ([`Removed::short_lived`]).
//!
//! Addresses are grouped by 4 KiB page. Each of 64 shards (picked by a hash of the 2 MiB region) is
//! a mutex over a **directory** of pages, a linear-probing table of 40-byte [`Page`] entries; each
//! page holds its live blocks as `u64` words packing the callsite id (20 bits), the block's 8-byte
//! granule within the page (10 bits, stored plus one so that 0 means empty), the ignored flag, a
//! flag for a big block, the stamp (16 bits) and the low 16 bits of the size. A block of 64 KiB or
//! more is big: the rest of its size is in its page entry's `big` field, which one block at a time
//! can use, since a block that long leaves no room in its first page for another one to start
//! after it (live blocks never overlap), and blocks that start before it are smaller than a page.
//! So every size up to 2^48 bytes is held without a side table. Up to
//! two blocks sit inline in the page entry (large blocks, one or two per page, need nothing more);
//! more go to a small linear-probing table of the page's own, from 8 up to 1024 words (8 KiB).
//!
//! Why pages: allocators hand out neighbouring addresses to neighbouring allocations (a slab of
//! one size class), and programs often free in a related order, so successive operations land in
//! the same page table, already in cache. The previous map hashed each address on its own into
//! one flat table per shard; on the `btree` workload (1.1 M live blocks, 16.8 MB of map) nearly
//! every insert and removal was a cache miss, about a quarter of the tracked run's samples. The
//! page tables hold one 8-byte word per block (size included), at most 3/4 full: about 16 bytes
//! per small block all told (`tests/tests/overhead.rs`).
//!
//! Out of memory: when a page table or a directory cannot grow (the inner allocator refuses the
//! tracker's memory), [`insert`] returns false and the caller counts the block as untracked
//! (`record.rs`). A directory whose rebuild failed goes on taking pages past 3/4 full, but never
//! fills its last slot, so a miss always ends; growth is retried at the next insert.
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
const ID_MASK: u64 = (1 << ID_BITS) - 1;
/// Bits of the granule key (1..=512) in a page entry, above the id.
const KEY_BITS: u32 = 10;
const KEY_FIELD: u64 = ((1 << KEY_BITS) - 1) << ID_BITS;
/// Set on a block that [`crate::ignore_leak`] marked as intentionally kept.
pub(crate) const IGNORED: u64 = 1 << (ID_BITS + KEY_BITS);
/// Set on a big block: its size's bits above the low [`SIZE_LO_BITS`] are in its page's `big`.
const BIG: u64 = IGNORED << 1;
/// The stamp: the low 16 bits of the millisecond tick when the block was allocated.
const STAMP_SHIFT: u32 = ID_BITS + KEY_BITS + 2;
const STAMP_MASK: u64 = 0xFFFF;
/// The low bits of the block's size sit in the top bits of its entry.
const SIZE_SHIFT: u32 = STAMP_SHIFT + 16;
const SIZE_LO_BITS: u32 = 64 - SIZE_SHIFT;
const SIZE_LO_MASK: usize = (1 << SIZE_LO_BITS) - 1;
/// The largest size held: the page's 32-bit `big` field above the entry's 16 bits (256 TiB).
const MAX_SIZE: usize = (1 << (SIZE_LO_BITS + 32)) - 1;
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

/// The granule key of a page entry.
#[inline]
fn key_of(e: u64) -> u32 {
    ((e & KEY_FIELD) >> ID_BITS) as u32
}

/// A block's entry without its key: `size_lo << SIZE_SHIFT | stamp << STAMP_SHIFT | big | id`
/// (the ignored flag clear). `size` is at most [`MAX_SIZE`].
#[inline]
fn meta(id: u32, size: usize, stamp: u32) -> u64 {
    let big = if size > SIZE_LO_MASK { BIG } else { 0 };
    ((size & SIZE_LO_MASK) as u64) << SIZE_SHIFT
        | (stamp as u64 & STAMP_MASK) << STAMP_SHIFT
        | big
        | id as u64
}

/// The size of the block whose entry is `meta`, in a page whose `big` field is `big`.
#[inline]
fn size_of(meta: u64, big: u32) -> usize {
    let lo = (meta >> SIZE_SHIFT) as usize;
    if meta & BIG != 0 {
        (big as usize) << SIZE_LO_BITS | lo
    } else {
        lo
    }
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
/// in between. 4. An entry is `granule_key << ID_BITS | meta` (see [`meta`]); keys are unique
/// within a page. 5. `big` is non-zero exactly when one entry has the [`BIG`] flag, and holds
/// that block's size above its low [`SIZE_LO_BITS`] bits (non-zero for every big size).
#[derive(Clone, Copy)]
struct Page {
    key: u64,
    words: *mut u64,
    mask: u16,
    len: u16,
    big: u32,
    inline: [u64; 2],
}

const EMPTY_PAGE: Page = Page {
    key: 0,
    words: ptr::null_mut(),
    mask: 0,
    len: 0,
    big: 0,
    inline: [0; 2],
};

impl Page {
    #[inline]
    fn word(&self, i: usize) -> *mut u64 {
        debug_assert!(!self.words.is_null() && i <= self.mask as usize);
        // SAFETY: `i <= mask` (callers mask their indices) and `words` holds `mask + 1` words
        // (invariant 3).
        unsafe { self.words.add(i) }
    }

    /// Adds `entry` (its key not yet present); false if memory for the table ran out.
    #[inline]
    fn insert(&mut self, entry: u64) -> bool {
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
    fn put(&mut self, entry: u64) {
        let mask = self.mask as usize;
        let mut i = word_home(key_of(entry), mask);
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
        let new = alloc_zeroed::<u64>(cap);
        if new.is_null() {
            return false;
        }
        let old = *self;
        self.words = new;
        self.mask = cap as u16 - 1;
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
    fn remove(&mut self, k: u32) -> Option<u64> {
        if self.words.is_null() {
            let n = self.len as usize;
            let at = self.inline[..n].iter().position(|&e| key_of(e) == k)?;
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
            if key_of(e) == k {
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
            if !stays(hole, word_home(key_of(e), mask), j) {
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

impl Page {
    /// The entry for granule key `k`, to change its flags in place.
    fn find_mut(&mut self, k: u32) -> Option<&mut u64> {
        if self.words.is_null() {
            let n = self.len as usize;
            return self.inline[..n].iter_mut().find(|e| key_of(**e) == k);
        }
        let mask = self.mask as usize;
        let mut i = word_home(k, mask);
        loop {
            // SAFETY: `word` keeps indices within the table, which the borrow keeps alive.
            let e = unsafe { &mut *self.word(i) };
            if *e == 0 {
                return None;
            }
            if key_of(*e) == k {
                return Some(e);
            }
            i = (i + 1) & mask;
        }
    }
}

/// A shard's directory of pages.
///
/// Invariants: `pages` is null (capacity 0) or holds `mask + 1` (a power of two) [`Page`]s from
/// [`alloc_zeroed`], at most 3/4 of them in use (more only after a rebuild failed for want of
/// memory, and never all of them: one slot stays empty, where a miss ends), each at or cyclically
/// after its home slot
/// `mix(page number) & mask` with no empty slot in between; `len` counts the used slots, which
/// include pages left without blocks (dropped at the next rebuild).
struct Dir {
    pages: *mut Page,
    mask: usize,
    len: usize,
    /// Blocks at addresses that are not multiples of 8, at full width: address -> ([`meta`]
    /// word, size).
    odd: BTreeMap<usize, (u64, usize)>,
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

    /// The slot holding page `key` (page number + 1), or the empty slot where it would go;
    /// `None` if neither exists (a full directory without the page).
    ///
    /// [`Dir::insert`] always leaves a slot empty, so a miss ends at it; the probe is bounded
    /// all the same, so that a full table can never hold a shard lock in an endless loop.
    #[inline]
    fn find(&mut self, key: u64, hash: u64) -> Option<usize> {
        let mask = self.mask;
        let mut i = hash as usize & mask;
        for _ in 0..=mask {
            let k = self.page(i).key;
            if k == key || k == 0 {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
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
            // The new table has room for twice the pages moved: `find` always has a slot.
            if p.len > 0
                && let Some(j) = self.find(p.key, mix(p.key - 1))
            {
                *self.page(j) = p;
            }
        }
        if !old.is_null() {
            // SAFETY: the old table came from `alloc_zeroed(old_cap)`; its pages moved above.
            unsafe { dealloc(old, old_cap) };
        }
        true
    }

    /// Records a block: `meta` is its [`meta`] word, `size` its full size (the part above the
    /// word's low bits goes to the page's `big` field). False if memory ran out, or if the page's
    /// `big` field is taken (only a block map out of step with the allocator, which hands out
    /// overlapping blocks, could ask that).
    fn insert(&mut self, addr: usize, hash: u64, meta: u64, size: usize) -> bool {
        if !addr.is_multiple_of(1 << GRANULE_SHIFT) {
            self.odd.insert(addr, (meta, size));
            return true;
        }
        // A failed rebuild (out of memory) leaves the directory as it was: blocks of pages it
        // holds are still stored, and new pages while a slot would stay empty.
        if (self.len + 1) * 4 > self.capacity() * 3 && !self.rebuild() && self.capacity() == 0 {
            return false;
        }
        let key = (addr >> PAGE_SHIFT) as u64 + 1;
        let Some(i) = self.find(key, hash) else {
            return false;
        };
        let new = self.page(i).key == 0;
        if new {
            // Keep one slot empty, so that every miss ends there.
            if self.len + 1 >= self.capacity() {
                return false;
            }
            *self.page(i) = Page { key, ..EMPTY_PAGE };
            self.len += 1;
        }
        let page = self.page(i);
        let big = meta & BIG != 0;
        if big && page.big != 0 {
            return false;
        }
        // A new page stores its first block inline (no allocation), so it never stays empty here.
        let stored = page.insert((granule_key(addr) as u64) << ID_BITS | meta);
        if stored && big {
            page.big = (size >> SIZE_LO_BITS) as u32;
        }
        stored
    }

    /// Forgets the block at `addr`: its [`meta`] word (key bits cleared) and full size.
    fn remove(&mut self, addr: usize, hash: u64) -> Option<(u64, usize)> {
        if !addr.is_multiple_of(1 << GRANULE_SHIFT) {
            return self.odd.remove(&addr);
        }
        let page = self.page_of(addr, hash)?;
        // A page left empty keeps its slot until the next rebuild: pages that hold one large
        // block at a time (`churn`) would otherwise leave and re-enter the directory each time.
        let meta = page.remove(granule_key(addr))? & !KEY_FIELD;
        let size = size_of(meta, page.big);
        if meta & BIG != 0 {
            page.big = 0;
        }
        Some((meta, size))
    }

    /// The page entry holding `addr`'s page, if any.
    fn page_of(&mut self, addr: usize, hash: u64) -> Option<&mut Page> {
        if self.len == 0 {
            return None;
        }
        let key = (addr >> PAGE_SHIFT) as u64 + 1;
        let i = self.find(key, hash)?;
        let page = self.page(i);
        (page.key != 0).then_some(page)
    }

    /// Sets the ignored flag of the block starting at `addr`; false if there is none.
    fn set_ignored(&mut self, addr: usize, hash: u64) -> bool {
        if !addr.is_multiple_of(1 << GRANULE_SHIFT) {
            return self
                .odd
                .get_mut(&addr)
                .map(|(m, _)| *m |= IGNORED)
                .is_some();
        }
        let Some(page) = self.page_of(addr, hash) else {
            return false;
        };
        page.find_mut(granule_key(addr))
            .map(|e| *e |= IGNORED)
            .is_some()
    }

    /// Calls `f(addr, meta, size)` for every block of this shard.
    fn for_each(&mut self, mut f: impl FnMut(usize, u64, usize)) {
        for (&addr, &(meta, size)) in &self.odd {
            f(addr, meta, size);
        }
        for i in 0..self.capacity() {
            // SAFETY: `i` is below the capacity, so within the directory's table.
            let page = unsafe { &*self.pages.add(i) };
            if page.len == 0 {
                continue;
            }
            let base = ((page.key - 1) as usize) << PAGE_SHIFT;
            let mut visit = |e: u64| {
                if e != 0 {
                    let addr = base + ((key_of(e) as usize - 1) << GRANULE_SHIFT);
                    let meta = e & !KEY_FIELD;
                    f(addr, meta, size_of(meta, page.big));
                }
            };
            if page.words.is_null() {
                page.inline[..page.len as usize]
                    .iter()
                    .for_each(|&e| visit(e));
            } else {
                for j in 0..=page.mask as usize {
                    // SAFETY: `j <= mask`: within the page's table.
                    visit(unsafe { *page.word(j) });
                }
            }
        }
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

/// The shard guards taken before a `fork` (see [`lock_for_fork`]).
///
/// Slot `i` is written only while shard `i`'s lock is held and read only before it is released,
/// so the shard's own mutex orders every access to it.
struct HeldForFork(core::cell::UnsafeCell<[Option<MutexGuard<'static, Dir>>; SHARDS]>);

// SAFETY: see the type's docs: slot `i` is only touched by the thread holding shard `i`'s lock.
unsafe impl Sync for HeldForFork {}

static HELD_FOR_FORK: HeldForFork =
    HeldForFork(core::cell::UnsafeCell::new([const { None }; SHARDS]));

/// Takes every shard's lock before `fork` (`lifecycle.rs`'s prepare handler), so that no shard
/// is copied into the child locked by a thread that does not exist there (its next allocation in
/// that shard would wait forever). The caller marks the thread as inside the tracker first.
pub(crate) fn lock_for_fork() {
    for (i, shard) in SHARDS_.iter().enumerate() {
        let guard = shard.0.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: this thread holds shard `i`'s lock (`HeldForFork`'s rule).
        unsafe { (*HELD_FOR_FORK.0.get())[i] = Some(guard) };
    }
}

/// Releases what [`lock_for_fork`] took, in the parent and in the child (where the forking
/// thread is the only one, and the owner of every guard).
pub(crate) fn unlock_after_fork() {
    for i in 0..SHARDS {
        // SAFETY: this thread took shard `i`'s lock in `lock_for_fork` and still holds it.
        drop(unsafe { (*HELD_FOR_FORK.0.get())[i].take() });
    }
}

/// Records the block at `addr` of `size` bytes as allocated by `cs` now (stamped with the tick);
/// false if the map could not grow to hold it (the inner allocator refused the tracker's
/// memory), and the block is not recorded. Call under the guard.
#[inline]
pub(crate) fn insert(addr: usize, size: usize, cs: &'static Callsite) -> bool {
    if size > MAX_SIZE {
        return false;
    }
    let meta = meta(cs.id(), size, crate::clock::tick_ms());
    crate::guard::in_map(|| {
        let (hash, mut dir) = shard(addr);
        dir.insert(addr, hash, meta, size)
    })
}

/// A block taken out of the map: its callsite, size, flags and stamp (to put back as it was).
#[derive(Clone, Copy)]
pub(crate) struct Removed {
    pub cs: &'static Callsite,
    pub size: usize,
    meta: u64,
}

impl Removed {
    /// Whether the block is short-lived when freed now: the tick has moved on by at most one
    /// since it was allocated, so every block that lived under 1 ms counts, a block that lived
    /// `1 + f` ms (`f` < 1) counts with probability `1 - f`, and one that lived 2 ms or more never
    /// does (as far as the published tick keeps time; see `table::Callsite::short_lived`). The
    /// stamp has 16 bits: a block that lives a multiple of 65.536 s, to within 2 ms, counts too.
    #[inline]
    pub(crate) fn short_lived(&self) -> bool {
        short_lived_at(self.meta, crate::clock::tick_ms())
    }
}

/// Whether the block whose entry is `meta` is short-lived at tick `now` (see
/// [`Removed::short_lived`]).
#[inline]
fn short_lived_at(meta: u64, now: u32) -> bool {
    let stamp = (meta >> STAMP_SHIFT) & STAMP_MASK;
    (now as u64).wrapping_sub(stamp) & STAMP_MASK <= 1
}

/// Forgets the block at `addr` and returns it, or `None` if it was never recorded (a block of the
/// tracker's own, allocated under the guard). Call under the guard.
#[inline]
pub(crate) fn remove(addr: usize) -> Option<Removed> {
    let (meta, size) = crate::guard::in_map(|| {
        let (hash, mut dir) = shard(addr);
        dir.remove(addr, hash)
    })?;
    Some(Removed {
        cs: table::by_id((meta & ID_MASK) as u32)?,
        size,
        meta,
    })
}

/// Puts back a block that [`remove`] took out (a realloc that failed); false as for [`insert`].
/// Call under the guard.
#[cold]
pub(crate) fn reinsert(addr: usize, block: Removed) -> bool {
    crate::guard::in_map(|| {
        let (hash, mut dir) = shard(addr);
        dir.insert(addr, hash, block.meta, block.size)
    })
}

/// Marks the live block starting at `addr` as intentionally kept; false if no block starts there.
/// Call under the guard.
pub(crate) fn set_ignored(addr: usize) -> bool {
    crate::guard::in_map(|| {
        let (hash, mut dir) = shard(addr);
        dir.set_ignored(addr, hash)
    })
}

/// One live block, as [`Frozen::for_each`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub addr: usize,
    pub size: usize,
    pub id: u32,
    pub ignored: bool,
}

/// Every shard locked: no block can enter or leave the map (a thread that tries waits), so the
/// blocks listed are live in the inner allocator until this is dropped.
pub(crate) struct Frozen {
    dirs: [Option<MutexGuard<'static, Dir>>; SHARDS],
}

/// Locks every shard, in order (as [`lock_for_fork`] does), without waiting: `None` (and no
/// shard left locked) if a shard's lock is held. Call under the guard, never while holding a
/// shard lock.
///
/// The scan freezes the map after stopping the other threads, and a thread that holds a shard
/// lock is never stopped there; but it may be waiting for a lock of the inner allocator that a
/// stopped thread holds (the forking thread, which takes every shard in `fork`'s prepare handler
/// and then waits in jemalloc's, or a table growing under its shard lock). Waiting for the shard
/// would then wait forever: the scan must let the threads go and try again.
pub(crate) fn try_freeze() -> Option<Frozen> {
    let mut dirs = [const { None }; SHARDS];
    for (slot, shard) in dirs.iter_mut().zip(SHARDS_.iter()) {
        *slot = Some(match shard.0.try_lock() {
            Ok(dir) => dir,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        });
    }
    Some(Frozen { dirs })
}

impl Frozen {
    /// Calls `f` with every live block, in no particular order.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(Block)) {
        for dir in self.dirs.iter_mut().flatten() {
            dir.for_each(|addr, meta, size| {
                f(Block {
                    addr,
                    size,
                    id: (meta & ID_MASK) as u32,
                    ignored: meta & IGNORED != 0,
                })
            });
        }
    }
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
        // Pages (and odd addresses) whose big block is live in the model.
        let mut big_in = std::collections::HashSet::new();
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
            // Sizes from 1 byte to 2^48 - 1: small ones in the entry, big ones (64 KiB and more)
            // with their high bits in the page; one big block at a time per page.
            let size = match x % 5 {
                0 => MAX_SIZE - (x >> 20) as usize,
                1 => SIZE_LO_MASK + 1 + (x >> 30) as usize % 100_000,
                _ => 1 + (x >> 30) as usize % 100_000,
            };
            let id = round & ID_MASK as u32;
            let stamp = round.wrapping_mul(7);
            let m = meta(id, size, stamp);
            let big_key = if odd { addr } else { addr >> PAGE_SHIFT };
            if let std::collections::hash_map::Entry::Vacant(v) = model.entry(addr) {
                let big = m & BIG != 0;
                if big && !odd && big_in.contains(&big_key) {
                    // The page's big field is taken: refused, and nothing changed.
                    assert!(!dir.insert(addr, hash, m, size), "{addr:#x}");
                    continue;
                }
                v.insert((m, size));
                assert!(dir.insert(addr, hash, m, size));
                if big {
                    big_in.insert(big_key);
                }
            } else {
                let want = model.remove(&addr).unwrap();
                assert_eq!(dir.remove(addr, hash), Some(want), "{addr:#x}");
                assert_eq!(dir.remove(addr, hash), None);
                if want.0 & BIG != 0 {
                    big_in.remove(&big_key);
                }
            }
            if round % 1000 == 0 {
                let mut seen = std::collections::HashMap::new();
                dir.for_each(|a, m, sz| assert!(seen.insert(a, (m, sz)).is_none()));
                assert_eq!(seen, model, "for_each lists exactly the live blocks");
            }
        }
        // Many pages each used once: their empty slots are dropped at rebuilds, so the directory
        // stays sized to the pages that hold blocks.
        for page in 0..20_000usize {
            let addr = (0x1000_0000 + page) << PAGE_SHIFT;
            let hash = mix((addr >> PAGE_SHIFT) as u64);
            dir.insert(addr, hash, meta(7, 64, 3), 64);
            assert_eq!(dir.remove(addr, hash), Some((meta(7, 64, 3), 64)));
        }
        assert!(dir.capacity() <= 256, "{}", dir.capacity());
        let pages: std::collections::HashSet<usize> = model
            .keys()
            .filter(|a| a.is_multiple_of(8))
            .map(|a| a >> PAGE_SHIFT)
            .collect();
        let with_blocks = (0..dir.capacity()).filter(|&i| dir.page(i).len > 0).count();
        assert_eq!(with_blocks, pages.len());
        // The ignored flag is set in place and comes back with the block.
        if let Some((&addr, &(m, size))) = model.iter().next() {
            let hash = mix((addr >> PAGE_SHIFT) as u64);
            assert!(dir.set_ignored(addr, hash));
            assert!(!dir.set_ignored(addr + 4096 * 64, mix(((addr >> PAGE_SHIFT) + 64) as u64)));
            model.insert(addr, (m | IGNORED, size));
        }
        for (addr, want) in model {
            let hash = mix((addr >> PAGE_SHIFT) as u64);
            assert_eq!(dir.remove(addr, hash), Some(want), "{addr:#x}");
        }
        assert!((0..dir.capacity()).all(|i| dir.page(i).big == 0));
        assert!((0..dir.capacity()).all(|i| dir.page(i).len == 0));
        assert!(dir.odd.is_empty());
    }

    /// A directory with no empty slot (as failed rebuilds could once leave one): a miss must end,
    /// not probe forever holding the shard lock.
    #[test]
    fn a_miss_in_a_full_directory_ends() {
        let mut dir = Dir {
            pages: alloc_zeroed::<Page>(MIN_PAGES),
            mask: MIN_PAGES - 1,
            len: MIN_PAGES,
            odd: BTreeMap::new(),
        };
        assert!(!dir.pages.is_null());
        for i in 0..MIN_PAGES {
            let key = 0x1000 + i as u64;
            *dir.page(i) = Page {
                key,
                len: 1,
                inline: [(1 << ID_BITS) | 7, 0],
                ..EMPTY_PAGE
            };
        }
        let addr = 0x4242usize << PAGE_SHIFT;
        let hash = mix((addr >> PAGE_SHIFT) as u64);
        assert_eq!(dir.remove(addr, hash), None);
        assert!(!dir.set_ignored(addr, hash));
        // SAFETY: from `alloc_zeroed(MIN_PAGES)` above; its pages hold no tables of their own.
        unsafe { dealloc(dir.pages, MIN_PAGES) };
    }

    /// Stamps: freed at the same tick or the next one is short-lived, two ticks on is not, and
    /// the 16-bit stamp compares across its wrap (the tick itself is 32 bits).
    #[test]
    fn short_lived_by_stamp() {
        for (stamp, now, short) in [
            (5, 5, true),
            (5, 6, true),
            (5, 7, false),
            (5, 1005, false),
            (0xFFFF, 0x1_0000, true),
            (0x1_FFFF, 0x2_0000, true),
            (0x1_FFFE, 0x2_0000, false),
            (0x1_0000, 0x2_0000, true), // 65 536 ms on: the documented alias
        ] {
            let m = meta(3, 100_000, stamp);
            assert_eq!(
                short_lived_at(m, now),
                short,
                "stamp {stamp:#x}, now {now:#x}"
            );
            // The stamp leaves the size, the id and the flags alone.
            assert_eq!(size_of(m, 100_000 >> SIZE_LO_BITS), 100_000);
            assert_eq!(m & ID_MASK, 3);
            assert_eq!(m & (IGNORED | KEY_FIELD), 0);
        }
    }

    #[test]
    fn blocks_map_to_their_callsite() {
        let a = table::intern(&[9, 9, 9]);
        let b = table::intern(&[8, 8]);
        insert(0x7f00_0000_1000, 8, a);
        insert(0x7f00_0000_1008, 24, b);
        insert(usize::MAX - 6, 3, b); // not a multiple of 8: kept full width
        let got = remove(0x7f00_0000_1000).unwrap();
        assert!(ptr::eq(got.cs, a) && got.size == 8);
        assert!(remove(0x7f00_0000_1000).is_none());
        let got = remove(0x7f00_0000_1008).unwrap();
        assert!(ptr::eq(got.cs, b) && got.size == 24);
        // A big block after a small one in its first page: both sizes come back whole; a second
        // big block starting in that page (which would overlap the first) is refused.
        let page = 0x7f00_0020_0000;
        assert!(insert(page, 16, a));
        assert!(insert(page + 64, (1 << 40) + 12_345, b));
        assert!(!insert(page + 128, 1 << 17, a));
        assert_eq!(remove(page + 64).unwrap().size, (1 << 40) + 12_345);
        assert!(insert(page + 128, (1 << 17) + 1, a));
        assert_eq!(remove(page + 128).unwrap().size, (1 << 17) + 1);
        assert_eq!(remove(page).unwrap().size, 16);
        assert!(!insert(page, MAX_SIZE + 1, a));
        assert!(set_ignored(usize::MAX - 6));
        let got = remove(usize::MAX - 6).unwrap();
        assert!(ptr::eq(got.cs, b) && got.size == 3 && got.meta & IGNORED != 0);
        crate::counters::check_invariants().unwrap();
    }
}
