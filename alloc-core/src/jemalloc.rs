//! The `GlobalAlloc` impl: [`policy::flags`] decides, jemalloc allocates, big blocks get huge pages.
//!
//! Every method is `#[inline]`: a wrapper without it cost about 12% on the churn workload. When the
//! policy asks for no flags, the plain `malloc`/`calloc`/`realloc` entry points are used, exactly as
//! `tikv_jemallocator::Jemalloc` does, so the common path is the same machine code as raw jemalloc.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use tikv_jemalloc_sys as ffi;

use crate::config::{ConfPtr, JEMALLOC_MALLOC_CONF, JEMALLOC_MALLOC_CONF_UNPREFIXED};
use crate::policy;

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

// SAFETY: every method forwards to jemalloc with the flags `policy::flags(size, align)`, which
// request at least `layout.align()` (the natural class provides it where the flags are 0), and
// `dealloc` passes the same `(size, flags)` the block was made or last reallocated with, as
// `sdallocx` requires. Null is returned on failure; nothing here panics or unwinds.
unsafe impl GlobalAlloc for AlignedAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let flags = policy::flags(layout.size(), layout.align());
        // SAFETY: the caller guarantees a non-zero size; the flags encode a valid power-of-two alignment.
        let ptr = unsafe {
            if flags == 0 {
                ffi::malloc(layout.size())
            } else {
                ffi::mallocx(layout.size(), flags)
            }
        };
        after_alloc(ptr.cast(), layout.size())
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let flags = policy::flags(layout.size(), layout.align());
        // SAFETY: as in `alloc`. jemalloc zeroes lazily: pages fresh from the kernel are not memset.
        let ptr = unsafe {
            if flags == 0 {
                ffi::calloc(1, layout.size())
            } else {
                ffi::mallocx(layout.size(), flags | ffi::MALLOCX_ZERO)
            }
        };
        after_alloc(ptr.cast(), layout.size())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let flags = policy::flags(layout.size(), layout.align());
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`, so `flags`
        // equals the flags it was allocated (or last reallocated) with.
        unsafe { ffi::sdallocx(ptr.cast(), layout.size(), flags) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let flags = policy::flags(new_size, layout.align());
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
