//! The `GlobalAlloc` impl: [`policy::flags`] decides, [`small`] or jemalloc allocates, big blocks
//! get huge pages.
//!
//! Every method is `#[inline]`: a wrapper without it cost about 12% on the churn workload. When the
//! policy asks for no flags, blocks of up to [`small::SMALL_MAX`] (32 KiB) come from [`small`]'s
//! thread-owned pages (one out-of-line call, as jemalloc's `malloc` is), larger ones from the plain
//! `malloc`/`calloc`/`realloc` entry points, exactly as `tikv_jemallocator::Jemalloc` does; a free
//! tells the two apart with one range check.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::mem::MaybeUninit;
use core::ptr;

use tikv_jemalloc_sys as ffi;

use crate::config::{ConfPtr, JEMALLOC_MALLOC_CONF, JEMALLOC_MALLOC_CONF_UNPREFIXED};
use crate::mapped::{self, Resized};
use crate::policy;
use crate::small;

/// jemalloc with 64-byte alignment for blocks of 256 bytes or more, transparent huge pages for
/// blocks of 4 MiB or more, and large temporaries kept for reuse (see the crate docs).
///
/// Install it with `#[global_allocator] static GLOBAL: AlignedAlloc = AlignedAlloc::new();`.
#[derive(Clone, Copy)]
pub struct AlignedAlloc {
    /// Keeps the `malloc_conf` symbols (prefixed and not) linked into every program that uses this
    /// allocator.
    _conf: [&'static ConfPtr; 2],
}

impl AlignedAlloc {
    /// The allocator; a `const fn` so it can initialise a `#[global_allocator]` static.
    pub const fn new() -> Self {
        Self {
            _conf: [&JEMALLOC_MALLOC_CONF, &JEMALLOC_MALLOC_CONF_UNPREFIXED],
        }
    }
}

impl Default for AlignedAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for AlignedAlloc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AlignedAlloc")
    }
}

/// Advise the kernel to back `[ptr, ptr + size)` with transparent huge pages.
///
/// Only whole pages inside the block are advised (jemalloc may offset a large block by a few cache
/// lines). A failure (no THP support) is ignored: the block is valid either way. One `madvise`
/// system call per block of 4 MiB or more: under 1 µs against the milliseconds of faulting 4 MiB.
#[cold]
#[inline(never)]
fn advise_huge_pages(ptr: *mut u8, size: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + size) & !(PAGE - 1);
    if end > start {
        // SAFETY: `[start, end)` lies inside a live block this allocator just handed out, so the
        // pages are mapped and ours; MADV_HUGEPAGE changes no contents, only how faults are served.
        unsafe {
            libc::madvise(start as *mut c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Applies the huge-page advice to a freshly allocated or reallocated block of `size` bytes.
#[inline]
fn after_alloc(ptr: *mut u8, size: usize) -> *mut u8 {
    if policy::wants_huge_pages(size) && !ptr.is_null() {
        advise_huge_pages(ptr, size);
    }
    ptr
}

/// `alloc`/`alloc_zeroed` of a block with jemalloc flags (an alignment above the natural class's,
/// or 4 MiB or more): a mapping of its own if `mapped` serves it, else jemalloc with the flags.
/// Out of line, so that the common path (no flags) stays what raw jemalloc's is.
#[inline(never)]
fn alloc_flagged(layout: Layout, flags: core::ffi::c_int, zero: bool) -> *mut u8 {
    if mapped::wanted(layout.size(), layout.align())
        && let Some(p) = mapped::alloc(layout.size(), zero)
    {
        return p;
    }
    let flags = if zero {
        flags | ffi::MALLOCX_ZERO
    } else {
        flags
    };
    // SAFETY: a non-zero size (the caller's `GlobalAlloc` contract) and the policy's flags.
    let ptr = unsafe { ffi::mallocx(layout.size(), flags) };
    after_alloc(ptr.cast(), layout.size())
}

/// `dealloc` of a block with jemalloc flags: `mapped`'s if it is one of its blocks, else jemalloc's.
///
/// # Safety
///
/// `ptr` is live in this allocator with `layout`, and `flags` are `policy::flags` of the layout.
#[inline(never)]
unsafe fn dealloc_flagged(ptr: *mut u8, layout: Layout, flags: core::ffi::c_int) {
    // `mapped` serves only blocks this large (and never one whose alignment it cannot give, so
    // the registry lookup in `mapped::dealloc` answers for every block it could hold).
    if layout.size() >= policy::MAP_THRESHOLD && mapped::dealloc(ptr) {
        return; // it lived in a mapping of its own
    }
    // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`, so `flags` equals
    // the flags it was allocated (or last reallocated) with; it is not one of `mapped`'s blocks.
    unsafe { ffi::sdallocx(ptr.cast(), layout.size(), flags) }
}

/// `realloc` where the old or the new size is one `mapped` may serve.
///
/// # Safety
///
/// `ptr` is live in this allocator with `layout`, and `new_size` is non-zero (`GlobalAlloc::realloc`).
#[cold]
#[inline(never)]
unsafe fn realloc_mapped(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let (old_size, align) = (layout.size(), layout.align());
    match mapped::realloc(ptr, new_size) {
        Resized::Done(new) => return new,
        Resized::Leave => {
            // Shrinking below the threshold: into a jemalloc block, then the mapping goes.
            let flags = policy::flags(new_size, align);
            // SAFETY: a non-zero size and the policy's flags for it.
            let new = after_alloc(unsafe { ffi::mallocx(new_size, flags) }.cast(), new_size);
            if !new.is_null() {
                // SAFETY: both blocks are live and distinct, and `new_size < old_size` bytes fit both.
                unsafe { ptr::copy_nonoverlapping(ptr, new, new_size) };
                mapped::dealloc(ptr);
            }
            return new;
        }
        Resized::NotMapped => {}
    }
    if small::owns(ptr) {
        // SAFETY: one of `small`'s blocks, with the caller's `realloc` contract.
        return unsafe { realloc_out_of_small(ptr, layout, new_size) };
    }
    // A jemalloc block (of any size: the registry may have been full when it was made).
    if mapped::wanted(new_size, align)
        && let Some(new) = mapped::alloc(new_size, false)
    {
        // SAFETY: both blocks are live and distinct; the smaller size fits both. Then the old
        // block goes back to jemalloc with the flags it was made with.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
            ffi::sdallocx(ptr.cast(), old_size, policy::flags(old_size, align));
        }
        return new;
    }
    let flags = policy::flags(new_size, align);
    // SAFETY: as in `GlobalAlloc::realloc` below: a live jemalloc block and the new size's flags.
    let new = unsafe { ffi::rallocx(ptr.cast(), new_size, flags) };
    after_alloc(new.cast(), new_size)
}

/// A block of `size` bytes that takes no flags: from [`small`] up to [`small::SMALL_MAX`] bytes
/// (jemalloc when that layer cannot serve it), else jemalloc's `malloc`.
#[inline]
fn alloc_natural(size: usize) -> *mut u8 {
    if size <= small::SMALL_MAX {
        return alloc_small(size);
    }
    // SAFETY: a non-zero size (the caller's `GlobalAlloc` contract); no flags.
    unsafe { ffi::malloc(size).cast() }
}

/// [`alloc_natural`] of a small block. Out of line, like jemalloc's `malloc`: inlined into a
/// tight loop (the `churn` workload), the fast path's registers made the caller spill its own.
/// Each way out of the fast path is a tail call taking only `size`, so the fast path saves no
/// register (with the slow path's `size` kept across a call, it pushed and popped two).
#[inline(never)]
fn alloc_small(size: usize) -> *mut u8 {
    let p = small::alloc_fast(size);
    if !p.is_null() {
        return p;
    }
    if small::thread_off() {
        // SAFETY: a non-zero size (the caller's `GlobalAlloc` contract); no flags.
        return unsafe { ffi::malloc(size).cast() };
    }
    alloc_small_refill(size)
}

/// [`alloc_small`] when the class's current page has no free block: the layer's next one, or
/// jemalloc's.
#[cold]
#[inline(never)]
fn alloc_small_refill(size: usize) -> *mut u8 {
    let p = small::alloc_refill(size);
    if !p.is_null() {
        return p;
    }
    // SAFETY: a non-zero size (the caller's `GlobalAlloc` contract); no flags.
    unsafe { ffi::malloc(size).cast() }
}

/// Frees a block made with no flags: [`small`]'s if it lies in its range, else jemalloc's.
///
/// # Safety
///
/// `ptr` is live in this allocator, made (or last reallocated) with `size` and no flags.
#[inline]
unsafe fn free_natural(ptr: *mut u8, size: usize) {
    if small::owns(ptr) {
        // SAFETY: one of `small`'s live blocks, of `size` (caller).
        return unsafe { small::free(ptr, size) };
    }
    // SAFETY: a jemalloc block made with `size` and no flags (caller).
    unsafe { ffi::sdallocx(ptr.cast(), size, 0) }
}

/// `realloc` of one of [`small`]'s blocks to a size or alignment it does not serve in place:
/// a new block from the allocator's own `alloc`, the contents, then the old block freed.
///
/// # Safety
///
/// `ptr` is one of `small`'s live blocks with `layout`; `new_size` is non-zero and
/// `Layout::from_size_align(new_size, layout.align())` is valid (`GlobalAlloc::realloc`).
#[cold]
#[inline(never)]
unsafe fn realloc_out_of_small(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: `GlobalAlloc::realloc`'s contract makes the new layout valid.
    let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
    // SAFETY: a non-zero size; then both blocks are live and distinct and the smaller size fits
    // both; the old block goes back with the layout it was made with. On failure it stays.
    unsafe {
        let new = AlignedAlloc::new().alloc(new_layout);
        if !new.is_null() {
            ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            small::free(ptr, layout.size());
        }
        new
    }
}

/// `realloc` of one of [`small`]'s blocks to a size it serves: in place within the size class,
/// else a new small block (jemalloc's if the layer cannot give one), the contents, and the old
/// block freed. The common growth of a short `String` or `Vec`, without [`realloc_copy`]'s size
/// class arithmetic or [`free_natural`]'s test of whose block it is.
///
/// # Safety
///
/// `ptr` is one of `small`'s live blocks of `old_size`; `new_size` is non-zero, at most
/// [`small::SMALL_MAX`], and takes no flags at the block's alignment.
#[inline]
unsafe fn realloc_small(ptr: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
    if small::same_class(old_size, new_size) {
        return ptr;
    }
    let new = alloc_small(new_size);
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct, each at least the size class of the smaller
        // size (`small`'s and jemalloc's classes are the same, `policy::size_class`), as
        // `copy_class` needs; the old block is `small`'s (caller). On failure it stays as it was.
        unsafe {
            copy_class(ptr, new, old_size.min(new_size));
            small::free(ptr, old_size);
        }
    }
    new
}

/// Copies the first `n` bytes of `src` to `dst`, and up to the end of `n`'s size class when
/// that is at most 32 bytes: one or two moves of 8 or 16 bytes instead of a call to `memcpy`.
///
/// # Safety
///
/// `src` and `dst` are distinct blocks of at least `policy::size_class(n)` bytes.
#[inline]
unsafe fn copy_class(src: *const u8, dst: *mut u8, n: usize) {
    /// Bytes that may be uninitialised past `n`: copied as such, never read as values.
    type Chunk<const K: usize> = [MaybeUninit<u8>; K];
    // SAFETY: the classes of sizes up to 8, 16 and 32 are 8, 16 and 32 bytes, inside both blocks
    // (caller); larger copies move exactly `n` bytes.
    unsafe {
        if n <= 8 {
            ptr::copy_nonoverlapping(src.cast::<Chunk<8>>(), dst.cast::<Chunk<8>>(), 1);
        } else if n <= 16 {
            ptr::copy_nonoverlapping(src.cast::<Chunk<16>>(), dst.cast::<Chunk<16>>(), 1);
        } else if n <= 32 {
            ptr::copy_nonoverlapping(src.cast::<Chunk<32>>(), dst.cast::<Chunk<32>>(), 1);
        } else {
            ptr::copy_nonoverlapping(src, dst, n);
        }
    }
}

/// `realloc` of a block of at most [`policy::COPY_REALLOC_MAX`] bytes made without flags, to a
/// size that takes none: in place within its size class (as jemalloc's `realloc` keeps it), else
/// `malloc`, copy and sized free, all from and to the thread's cache (see the constant's docs).
///
/// # Safety
///
/// `ptr` is live in this allocator with `old_size` and no flags; `new_size` is non-zero and
/// `policy::flags(new_size, align)` is 0 for the block's alignment.
#[inline]
unsafe fn realloc_copy(ptr: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
    if new_size <= policy::COPY_REALLOC_MAX
        && policy::size_class(new_size) == policy::size_class(old_size)
    {
        // Same class: the block already holds `new_size` bytes, and a later `sdallocx` with
        // `new_size` names the class it was made in.
        return ptr;
    }
    // No flags, as the policy asks for `new_size` (under 4 MiB, so no huge-page advice either).
    let new = alloc_natural(new_size);
    if !new.is_null() {
        // SAFETY: both blocks are live and distinct, and the smaller size fits both; the old block
        // goes back with the size and flags (none) it was made with. On failure it stays as it was.
        unsafe {
            ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
            free_natural(ptr, old_size);
        }
    }
    new
}

// SAFETY: blocks of up to `small::SMALL_MAX` that take no flags come from `small` (its natural
// classes are jemalloc's, with the same alignment) and go back to it (`small::owns`); the rest
// of every method forwards to jemalloc with the flags `policy::flags(size, align)`, which
// request at least `layout.align()` (the natural class provides it where the flags are 0), and
// `dealloc` passes the same `(size, flags)` the block was made or last reallocated with, as
// `sdallocx` requires. Null is returned on failure; nothing here panics or unwinds.
unsafe impl GlobalAlloc for AlignedAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let flags = policy::flags(layout.size(), layout.align());
        if flags != 0 {
            return alloc_flagged(layout, flags, false);
        }
        // No flags: the natural size class gives the policy's alignment (in `small` as in
        // jemalloc), and the block is under 4 MiB (larger ones always have flags).
        alloc_natural(layout.size())
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let flags = policy::flags(layout.size(), layout.align());
        if flags != 0 {
            return alloc_flagged(layout, flags, true);
        }
        let size = layout.size();
        if size <= small::SMALL_MAX {
            let p = small::alloc(size);
            if !p.is_null() {
                // SAFETY: a fresh block of at least `size` bytes (a recycled one is not zero).
                unsafe { ptr::write_bytes(p, 0, size) };
                return p;
            }
        }
        // SAFETY: as in `alloc`. jemalloc zeroes lazily: pages fresh from the kernel are not memset.
        unsafe { ffi::calloc(1, size).cast() }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let flags = policy::flags(layout.size(), layout.align());
        if flags != 0 {
            // SAFETY: the caller's contract for `dealloc`, passed on.
            return unsafe { dealloc_flagged(ptr, layout, flags) };
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`, so it was
        // made (or last reallocated) with the same flags, 0: `small`'s or jemalloc's (`mapped`
        // serves only blocks of 32 MiB or more, which have flags).
        unsafe { free_natural(ptr, layout.size()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old_size, align) = (layout.size(), layout.align());
        // Both sizes small with a natural alignment (so neither takes flags): one branch for the
        // three compares, then whether the block is `small`'s.
        if (old_size.max(new_size) <= small::SMALL_MAX)
            & (align <= policy::NATURAL_ALIGN)
            & (align <= old_size.min(new_size))
            && small::owns(ptr)
        {
            // SAFETY: one of `small`'s live blocks of `old_size` (caller), to a small size that
            // takes no flags.
            return unsafe { realloc_small(ptr, old_size, new_size) };
        }
        if mapped::wanted(old_size.max(new_size), align) {
            // SAFETY: the caller's contract for `realloc`, passed on.
            return unsafe { realloc_mapped(ptr, layout, new_size) };
        }
        let flags = policy::flags(new_size, align);
        if flags == 0 && old_size <= policy::COPY_REALLOC_MAX && policy::flags(old_size, align) == 0
        {
            // SAFETY: the caller's contract for `realloc`; both sizes take no flags.
            return unsafe { realloc_copy(ptr, old_size, new_size) };
        }
        if small::owns(ptr) {
            // SAFETY: one of `small`'s blocks (to a size that takes flags), the caller's contract.
            return unsafe { realloc_out_of_small(ptr, layout, new_size) };
        }
        // SAFETY: `ptr` is live with `layout` (caller's contract) and `new_size` is non-zero; the
        // flags for the new size are what `dealloc` will later compute from `(new_size, align)`.
        // On failure jemalloc returns null and leaves the old block untouched.
        let new = unsafe {
            if flags == 0 {
                ffi::realloc(ptr.cast(), new_size)
            } else {
                ffi::rallocx(ptr.cast(), new_size, flags)
            }
        };
        after_alloc(new.cast(), new_size)
    }
}
