//! Blocks of [`policy::MAP_THRESHOLD`](crate::policy::MAP_THRESHOLD) bytes or more in mappings
//! of their own, grown and shrunk by moving pages (`mremap`) instead of copying them.
//!
//! jemalloc grows a block by allocating a new one and copying: a `Vec<u8>` grown to 512 MiB copies
//! 512 MiB on the way and, for the length of each copy, holds both blocks (the `hugegrow` workload,
//! `benches/RESULTS.md` section 11). glibc moves the pages of its mmapped blocks with `mremap`
//! instead; so does this module, for the blocks it serves:
//!
//! - **Mappings.** A block of `size` bytes gets a private anonymous mapping of `size` rounded up to
//!   [`policy::HUGE_PAGE_SIZE`](crate::policy::HUGE_PAGE_SIZE), 2 MiB-aligned and advised
//!   `MADV_HUGEPAGE` (the guarantees of blocks of 4 MiB or more hold). Growth first tries to
//!   extend the mapping in place, then moves it (`MREMAP_MAYMOVE | MREMAP_FIXED`) to a 2 MiB-aligned
//!   range reserved for it; shrinking gives the tail back. A block shrunk below the threshold
//!   moves to jemalloc (one copy).
//! - **The registry** is a fixed table of [`MAX_MAPPINGS`] words, one per live mapping (its
//!   address and length in 2 MiB units, packed), claimed and released with atomic
//!   compare-and-swap: no lock, no allocation. `dealloc`, `realloc` and [`crate::usable_size`] of a
//!   block that could be one look it up (a scan of the table, against the milliseconds of faulting
//!   32 MiB in); only blocks of the threshold or more, or 2 MiB-aligned ones for `usable_size`, pay.
//!   With the table full, new large blocks come from jemalloc as before: the budget bounds the
//!   process's mappings (the kernel's `vm.max_map_count` is 65 530 by default), never a block.
//! - **The cache** keeps up to [`CACHE_SLOTS`] freed mappings, at most [`CACHE_BYTES`] in all, so
//!   a loop that frees and allocates a large temporary reuses warm pages (no page-fault storm).
//!   A freed mapping is advised `MADV_FREE` as it enters the cache: its pages stay mapped (reuse
//!   faults nothing) but the kernel may take them back under memory pressure, as it may jemalloc's
//!   "muzzy" pages; alloc-core runs no thread of its own to return them on a timer.
//!   A cached mapping is resized to the next block with `mremap`; for `alloc_zeroed` it is zeroed
//!   with `madvise(MADV_DONTNEED)` (the kernel maps zero pages on the next touch: no memset).
//!   Fresh mappings are zero already.
//! - **Failure.** If the kernel refuses a mapping, the block comes from jemalloc (which will
//!   usually fail too: then null). If it refuses to grow one, `realloc` returns null and the old
//!   block stays as it was.
//! - [`crate::stats`] counts these blocks: `allocated`, `active` and `mapped` add the live
//!   mappings' lengths, `resident` adds them and the cached ones (an upper bound, as jemalloc's
//!   own `resident` is).
//!
//! Fork: the mappings are private, so a child has its own copy of each, with the registry that
//! describes them; both processes go on freeing and growing their own.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::policy::{HUGE_PAGE_SIZE, MAP_THRESHOLD};

/// How many blocks may live in mappings of their own at once; past it jemalloc serves them.
pub const MAX_MAPPINGS: usize = 256;
/// How many freed mappings are kept for reuse.
pub const CACHE_SLOTS: usize = 4;
/// The most bytes the cache keeps mapped; a larger freed mapping is unmapped at once.
pub const CACHE_BYTES: usize = 1 << 30;

/// Units (2 MiB) of a mapping's length fit in an entry's low 21 bits, beside its 2 MiB-aligned
/// address: mappings up to 4 TiB.
const UNIT_BITS: u32 = HUGE_PAGE_SIZE.trailing_zeros();
const UNIT_MASK: usize = HUGE_PAGE_SIZE - 1;

static REGISTRY: [AtomicUsize; MAX_MAPPINGS] = [const { AtomicUsize::new(0) }; MAX_MAPPINGS];
static CACHE: [AtomicUsize; CACHE_SLOTS] = [const { AtomicUsize::new(0) }; CACHE_SLOTS];
/// A registry slot held by a block whose mapping is being resized: not free (`register` takes only
/// 0) and naming no address (`find` is never asked about address 0).
const MOVING: usize = 1;
/// Live mappings and their bytes, and the bytes in the cache.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// An entry: a 2 MiB-aligned address and a length in 2 MiB units (never 0: 0 is a free slot).
fn pack(addr: usize, len: usize) -> usize {
    addr | (len >> UNIT_BITS)
}
fn unpack(entry: usize) -> (usize, usize) {
    (entry & !UNIT_MASK, (entry & UNIT_MASK) << UNIT_BITS)
}

/// The mapping length for a block of `size` bytes, or `None` if it is too long to pack.
fn length(size: usize) -> Option<usize> {
    let len = size.checked_next_multiple_of(HUGE_PAGE_SIZE)?;
    (len >> UNIT_BITS <= UNIT_MASK).then_some(len)
}

/// Whether a block of `(size, align)` is one this module may serve.
#[inline]
pub(crate) fn wanted(size: usize, align: usize) -> bool {
    size >= MAP_THRESHOLD && align <= HUGE_PAGE_SIZE
}

/// Maps `len` bytes (a multiple of 2 MiB) at a 2 MiB-aligned address; `None` if the kernel refuses.
fn map_aligned(len: usize) -> Option<usize> {
    let span = len.checked_add(HUGE_PAGE_SIZE)?;
    // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            span,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let raw = raw as usize;
    let start = raw.next_multiple_of(HUGE_PAGE_SIZE);
    // SAFETY: `[raw, start)` and `[start + len, raw + span)` are the unaligned ends of the mapping
    // just made, which nothing else refers to.
    unsafe {
        if start > raw {
            libc::munmap(raw as *mut c_void, start - raw);
        }
        if raw + span > start + len {
            libc::munmap((start + len) as *mut c_void, raw + span - (start + len));
        }
        libc::madvise(start as *mut c_void, len, libc::MADV_HUGEPAGE);
    }
    Some(start)
}

/// Gives `[addr, addr + len)` back to the kernel.
fn unmap(addr: usize, len: usize) {
    // SAFETY: callers pass a mapping of this module that no block refers to any more.
    unsafe { libc::munmap(addr as *mut c_void, len) };
}

/// Resizes the mapping `[addr, addr + old_len)` to `new_len` bytes, keeping its contents and a
/// 2 MiB-aligned start; the new address, or `None` (the old mapping untouched) if the kernel refuses.
fn remap(addr: usize, old_len: usize, new_len: usize) -> Option<usize> {
    if new_len == old_len {
        return Some(addr);
    }
    // In place first: a shrink always succeeds; growth does if the range after is free.
    // SAFETY: `[addr, addr + old_len)` is a whole mapping of this module, owned by the caller's
    // block; without MREMAP_MAYMOVE the kernel either resizes it where it is or changes nothing.
    let same = unsafe { libc::mremap(addr as *mut c_void, old_len, new_len, 0) };
    if same != libc::MAP_FAILED {
        return Some(addr);
    }
    // Elsewhere: reserve an aligned range, then move the pages onto it (MREMAP_FIXED replaces the
    // reservation atomically).
    let dest = map_aligned(new_len)?;
    // SAFETY: `dest` is a fresh mapping of `new_len` bytes nothing refers to; the kernel moves the
    // old pages there and unmaps the old range, or fails and changes nothing.
    let moved = unsafe {
        libc::mremap(
            addr as *mut c_void,
            old_len,
            new_len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            dest as *mut c_void,
        )
    };
    if moved == libc::MAP_FAILED {
        release_reservation(dest, new_len);
        return None;
    }
    Some(dest)
}

/// Gives back the reservation `[dest, dest + len)` after a failed `MREMAP_FIXED` move. Linux
/// unmaps the destination before some of its checks (the mapping count among them), so the range
/// may already be free and even be someone else's by now: it is unmapped only if a
/// `MAP_FIXED_NOREPLACE` probe finds all of it free (the probe is then what goes) and left
/// alone otherwise (at worst an untouched reservation stays mapped: address space, no memory).
fn release_reservation(dest: usize, len: usize) {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping: it maps the range only if
    // nothing is mapped anywhere in it, else fails with EEXIST.
    let probe = unsafe {
        libc::mmap(
            dest as *mut c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if probe == libc::MAP_FAILED {
        return;
    }
    // SAFETY: the probe is ours (the kernel put it where asked, or, on a kernel that ignores the
    // flag, wherever it chose: either way a fresh mapping of `len` bytes nothing refers to).
    unsafe { libc::munmap(probe, len) };
}

/// Puts `entry` in a free registry slot; `false` if the table is full.
fn register(entry: usize) -> bool {
    for slot in &REGISTRY {
        if slot
            .compare_exchange(0, entry, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
    }
    false
}

/// The registry slot of the live block at `addr`, if this module serves it.
fn find(addr: usize) -> Option<&'static AtomicUsize> {
    if addr & UNIT_MASK != 0 || LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    REGISTRY
        .iter()
        .find(|slot| unpack(slot.load(Ordering::Acquire)).0 == addr)
}

/// A cached mapping, taken out of the cache (address, length).
fn take_cached() -> Option<(usize, usize)> {
    for slot in &CACHE {
        if slot.load(Ordering::Relaxed) != 0 {
            let entry = slot.swap(0, Ordering::AcqRel);
            if entry != 0 {
                let (addr, len) = unpack(entry);
                CACHED_BYTES.fetch_sub(len, Ordering::Relaxed);
                return Some((addr, len));
            }
        }
    }
    None
}

/// Keeps a freed mapping for reuse if the cache has room, else unmaps it.
fn release(addr: usize, len: usize) {
    if CACHED_BYTES.fetch_add(len, Ordering::Relaxed) + len <= CACHE_BYTES {
        // SAFETY: the mapping is this module's and no block refers to it any more; MADV_FREE only
        // lets the kernel reclaim its pages lazily (their contents may then read as zero).
        unsafe { libc::madvise(addr as *mut c_void, len, libc::MADV_FREE) };
        let entry = pack(addr, len);
        for slot in &CACHE {
            if slot
                .compare_exchange(0, entry, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
    CACHED_BYTES.fetch_sub(len, Ordering::Relaxed);
    unmap(addr, len);
}

/// A block of `size` bytes (`wanted`) in a mapping of its own, zeroed if `zero`; `None` if the
/// registry is full or the kernel refuses (the caller then asks jemalloc).
pub(crate) fn alloc(size: usize, zero: bool) -> Option<*mut u8> {
    let len = length(size)?;
    if LIVE.load(Ordering::Relaxed) >= MAX_MAPPINGS {
        return None;
    }
    let addr = match take_cached() {
        Some((addr, old_len)) => match remap(addr, old_len, len) {
            Some(addr) => {
                if zero {
                    // SAFETY: the cached mapping is this module's and no block refers to it; the
                    // kernel replaces its pages with zero pages on the next touch. It refuses for
                    // locked pages (`mlockall`): then they are zeroed by hand.
                    unsafe {
                        if libc::madvise(addr as *mut c_void, len, libc::MADV_DONTNEED) != 0 {
                            ptr::write_bytes(addr as *mut u8, 0, len);
                        }
                    }
                }
                addr
            }
            None => {
                unmap(addr, old_len);
                map_aligned(len)?
            }
        },
        None => map_aligned(len)?,
    };
    if !register(pack(addr, len)) {
        release(addr, len);
        return None;
    }
    LIVE.fetch_add(1, Ordering::AcqRel);
    LIVE_BYTES.fetch_add(len, Ordering::Relaxed);
    Some(addr as *mut u8)
}

/// Frees the block at `ptr` if this module serves it (`true`); `false` leaves it to jemalloc.
pub(crate) fn dealloc(ptr: *mut u8) -> bool {
    let Some(slot) = find(ptr as usize) else {
        return false;
    };
    let (addr, len) = unpack(slot.swap(0, Ordering::AcqRel));
    LIVE.fetch_sub(1, Ordering::AcqRel);
    LIVE_BYTES.fetch_sub(len, Ordering::Relaxed);
    release(addr, len);
    true
}

/// What `realloc` found about a block.
pub(crate) enum Resized {
    /// Not one of this module's blocks: jemalloc's to resize.
    NotMapped,
    /// Resized in its mapping (the new address), or null if the kernel refused (block unchanged).
    Done(*mut u8),
    /// Shrinking below the threshold: the caller moves it to jemalloc, then calls [`dealloc`].
    Leave,
}

/// Resizes the block at `ptr` to `new_size` bytes if it lives in a mapping of its own.
pub(crate) fn realloc(ptr: *mut u8, new_size: usize) -> Resized {
    let Some(slot) = find(ptr as usize) else {
        return Resized::NotMapped;
    };
    if new_size < MAP_THRESHOLD {
        return Resized::Leave;
    }
    let entry = slot.load(Ordering::Acquire);
    let (addr, old_len) = unpack(entry);
    let Some(new_len) = length(new_size) else {
        return Resized::Done(ptr::null_mut());
    };
    if new_len == old_len {
        return Resized::Done(ptr);
    }
    // While the pages move (or a shrunk tail goes), the kernel may hand the old range to another
    // thread's mapping, which could then be registered or freed: the slot must not name the old
    // address meanwhile, nor be taken by another block.
    slot.store(MOVING, Ordering::Release);
    match remap(addr, old_len, new_len) {
        Some(new) => {
            slot.store(pack(new, new_len), Ordering::Release);
            if new_len >= old_len {
                LIVE_BYTES.fetch_add(new_len - old_len, Ordering::Relaxed);
            } else {
                LIVE_BYTES.fetch_sub(old_len - new_len, Ordering::Relaxed);
            }
            Resized::Done(new as *mut u8)
        }
        None => {
            slot.store(entry, Ordering::Release);
            Resized::Done(ptr::null_mut())
        }
    }
}

/// The usable length of the block at `ptr` if this module serves it.
pub(crate) fn usable_size(ptr: *const u8) -> Option<usize> {
    find(ptr as usize).map(|slot| unpack(slot.load(Ordering::Acquire)).1)
}

/// What the mappings of this module hold now (see [`totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Blocks living in mappings of their own (at most [`MAX_MAPPINGS`]).
    pub mappings: usize,
    /// Their mappings' bytes (each block's size rounded up to 2 MiB).
    pub bytes: usize,
    /// Bytes of freed mappings kept for reuse (at most [`CACHE_BYTES`]).
    pub cached_bytes: usize,
}

/// The live mappings and the cache, process-wide (relaxed reads: a block being made or freed on
/// another thread may or may not be counted yet).
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();
///
/// let before = alloc_core::mapped::totals();
/// let v = vec![1u8; 40 << 20]; // 40 MiB: past MAP_THRESHOLD (32 MiB)
/// let during = alloc_core::mapped::totals();
/// assert_eq!(v.as_ptr() as usize % (2 << 20), 0);
/// assert!(during.mappings >= before.mappings + 1 && during.bytes >= before.bytes + (40 << 20));
/// ```
pub fn totals() -> Totals {
    Totals {
        mappings: LIVE.load(Ordering::Acquire),
        bytes: LIVE_BYTES.load(Ordering::Relaxed),
        cached_bytes: CACHED_BYTES.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let big = (1usize << 42) - HUGE_PAGE_SIZE; // the longest mapping an entry holds
        for (addr, len) in [(HUGE_PAGE_SIZE, HUGE_PAGE_SIZE), (0x7f00_0000_0000, big)] {
            assert_eq!(unpack(pack(addr, len)), (addr, len));
        }
        assert_eq!(length(big), Some(big));
        assert_eq!(length(big + 1), None);
        assert_eq!(
            length(MAP_THRESHOLD + 1),
            Some(MAP_THRESHOLD + HUGE_PAGE_SIZE)
        );
    }
}
