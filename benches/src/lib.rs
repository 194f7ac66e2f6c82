//! Benchmarks, and what the criterion benches share.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;

/// One alloc+free pair of `layout` through `a`, directly through `GlobalAlloc`: the block is
/// touched at one byte (so it is really used; the whole block would be bandwidth) and freed with
/// the same layout at once.
pub fn alloc_pair<A: GlobalAlloc>(a: &A, layout: Layout) {
    // SAFETY: `layout` has a non-zero size (every caller's is); the block is freed with the same
    // layout.
    unsafe {
        let p = a.alloc(layout);
        assert!(!p.is_null());
        p.write_volatile(1);
        a.dealloc(black_box(p), layout);
    }
}
