//! The cache of freed mappings (`alloc_core::mapped`), in a process of its own so that the cache
//! starts empty: a freed mapping is reused warm, and `alloc_zeroed` on it gives zeroes without
//! writing them (the pages go back to the kernel and come back as zero pages).

use std::alloc::{GlobalAlloc, Layout};

use alloc_core::AlignedAlloc;
use alloc_core::mapped;

#[global_allocator]
static GLOBAL: AlignedAlloc = AlignedAlloc::new();

mod common;
use common::{rss, thread_faults};

const MIB: usize = 1 << 20;

#[test]
fn freed_mappings_are_reused_and_zeroed_without_memset() {
    let a = AlignedAlloc::new();
    let layout = Layout::from_size_align(64 * MIB, 8).unwrap();
    assert_eq!(mapped::totals(), mapped::Totals::default());

    // Every unsafe block of this test: each allocation has a non-zero size; a block is only read
    // or written within its size while live, and freed once with its layout.
    // SAFETY: see above.
    let first = unsafe { a.alloc(layout) };
    assert!(!first.is_null());
    // SAFETY: see above.
    unsafe { first.write_bytes(0xff, layout.size()) };
    // SAFETY: see above.
    unsafe { a.dealloc(first, layout) };
    assert_eq!(mapped::totals().cached_bytes, 64 * MIB);

    // A plain allocation of the same size takes the warm mapping: writing all of it faults
    // nothing (a fresh mapping would fault 32 huge pages or 16 384 small ones).
    // SAFETY: see above.
    let again = unsafe { a.alloc(layout) };
    assert_eq!(again, first, "the cached mapping was not reused");
    assert_eq!(mapped::totals().cached_bytes, 0);
    let faults = thread_faults();
    // SAFETY: see above.
    unsafe { again.write_bytes(0xfe, layout.size()) };
    let faulted = thread_faults() - faults;
    assert!(
        faulted < 8,
        "rewriting a reused mapping faulted {faulted} pages"
    );
    // SAFETY: see above.
    unsafe { a.dealloc(again, layout) };

    // `alloc_zeroed` on it: all zero, and the 64 MiB written above are no longer resident.
    let resident = rss();
    // SAFETY: see above.
    let zeroed = unsafe { a.alloc_zeroed(layout) };
    assert_eq!(zeroed, first, "the cached mapping was not reused");
    // SAFETY: `zeroed` is a live block of `layout.size()` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(zeroed, layout.size()) };
    assert!(
        bytes.iter().all(|&b| b == 0),
        "a recycled mapping was not zeroed"
    );
    let after = rss();
    assert!(
        after + 48 * MIB < resident,
        "resident {} MiB -> {} MiB: the zeroes were written, not mapped",
        resident / MIB,
        after / MIB
    );
    // SAFETY: see above.
    unsafe { a.dealloc(zeroed, layout) };

    // A freed mapping larger than the cache's budget is unmapped at once.
    let huge = Layout::from_size_align(mapped::CACHE_BYTES + 2 * MIB, 8).unwrap();
    // SAFETY: see above.
    let p = unsafe { a.alloc(huge) };
    assert!(!p.is_null());
    let cached = mapped::totals().cached_bytes;
    // SAFETY: see above.
    unsafe { a.dealloc(p, huge) };
    assert_eq!(mapped::totals().cached_bytes, cached);
}
