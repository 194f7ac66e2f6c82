//! `Tracked<A>`: the `GlobalAlloc` wrapper. Forward to the inner allocator, count, record.
//!
//! Each method: take the re-entrancy guard (or, if this thread is already inside the tracker,
//! forward and count the block as overhead), check the budget, call the inner allocator with no
//! lock held, check for null, then record. Nothing here allocates outside the guard or panics.
//! Only growth is held to the budget (a realloc that does not grow is never refused); a refusal
//! is announced on stderr (rate-limited, see `record::refused`) before null is returned.
//!
//! Sampled mode's ready path (`fast.rs`) comes first in each method and is all that inlines into
//! the `__rust_alloc` shims: one thread-local byte and the budget's word tell it, then the inner
//! call and a few thread-local counters. Everything else (exact mode, a thread not registered yet,
//! a call from inside the tracker, a budget) is the slow path, out of line.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use crate::counters::{self, Reserved};
use crate::fast;
use crate::guard::{Guard, Ready};
use crate::lifecycle::{self, InitHook};
use crate::record;
use crate::sample;

/// A global allocator that forwards to `A` and records every block: global counters always, and
/// per callsite (the allocating stack) live bytes, totals and peak share, reported at exit.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
///     alloc_tracker::Tracked::new(std::alloc::System);
///
/// let before = alloc_tracker::stats();
/// let v = std::hint::black_box(vec![0u8; 100]); // black_box: kept in release builds too
/// let during = alloc_tracker::stats();
/// assert_eq!(during.total_bytes - before.total_bytes, 100);
/// assert_eq!(during.total_blocks - before.total_blocks, 1);
/// drop(v);
/// ```
pub struct Tracked<A> {
    inner: A,
    /// Keeps the load-time hook (which registers the exit report) linked into every program that
    /// names `Tracked::new`, as `alloc_core::AlignedAlloc` does for its configuration.
    _hook: &'static InitHook,
}

impl<A> Tracked<A> {
    /// Wraps `inner`; a `const fn` so it can initialise a `#[global_allocator]` static.
    pub const fn new(inner: A) -> Self {
        Tracked {
            inner,
            _hook: &lifecycle::INIT_HOOK,
        }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

impl<A: core::fmt::Debug> core::fmt::Debug for Tracked<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Tracked").field(&self.inner).finish()
    }
}

// SAFETY: every method forwards to `A` with the caller's own arguments (so `A`'s guarantees carry
// over), returns `A`'s result unchanged or null (a refusal by the budget, before `A` was asked), and
// records blocks only after `A` succeeded and frees them only before `A` gets them back. No method
// panics: the bookkeeping is atomics, thread-local cells and the tracker's own maps.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Tracked<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(r) = fast::ready() {
            // SAFETY: the caller's contract for `alloc` is passed on unchanged.
            return unsafe { allocate_ready(&r, layout, |l| self.inner.alloc(l)) };
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { self.allocate(layout, |l| self.inner.alloc(l)) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(r) = fast::ready() {
            // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
            return unsafe { allocate_ready(&r, layout, |l| self.inner.alloc_zeroed(l)) };
        }
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        unsafe { self.allocate(layout, |l| self.inner.alloc_zeroed(l)) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match fast::ready() {
            Some(r) if !fast::freeing_ready(&r, ptr as usize, layout.size()) => {
                // SAFETY: the caller guarantees `ptr` is live in `A` with `layout`; counted as
                // freed above.
                unsafe { self.inner.dealloc(ptr, layout) }
            }
            // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
            Some(_) => unsafe { self.deallocate_event(ptr, layout) },
            // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
            None => unsafe { self.deallocate(ptr, layout) },
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A sampled old block (or one the filter cannot rule out) leaves the block map on the
        // slow path.
        if let Some(r) = fast::ready()
            && !sample::maybe_sampled(ptr as usize)
        {
            // SAFETY: the caller's contract for `realloc` is passed on unchanged.
            let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
            if !new.is_null() {
                fast::reallocated_ready(&r, new, layout.size(), new_size);
            }
            return new;
        }
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { self.reallocate(ptr, layout, new_size) }
    }
}

/// `alloc` and `alloc_zeroed` on the ready path: the inner call (`inner`, with no guard held:
/// an inner allocator that itself allocates through the global allocator would have those
/// blocks counted as the program's, where the slow path counts them as overhead), then the
/// thread's counters.
///
/// # Safety
///
/// As for [`Tracked::allocate`].
#[inline(always)]
unsafe fn allocate_ready(
    r: &Ready,
    layout: Layout,
    inner: impl FnOnce(Layout) -> *mut u8,
) -> *mut u8 {
    let p = inner(layout);
    if !p.is_null() {
        fast::allocated_ready(r, p, layout.size());
    }
    p
}

/// `Tracked::dealloc` off the ready path: records the free of the block of `size` bytes at
/// `ptr` (before the inner allocator gets it back).
#[inline(always)]
fn freeing(ptr: *mut u8, size: usize) {
    match Guard::enter() {
        // Sampled mode's fast path under the guard (a thread not registered yet).
        Some(guard) if counters::sampled_fast() => {
            fast::freeing(guard.thread(), ptr as usize, size)
        }
        Some(guard) => record::free(&guard, ptr, size),
        None => record::free_reentrant(ptr, size),
    }
}

impl<A: GlobalAlloc> Tracked<A> {
    /// `dealloc` off the ready path.
    ///
    /// # Safety
    ///
    /// The `GlobalAlloc::dealloc` contract.
    #[inline(never)]
    unsafe fn deallocate(&self, ptr: *mut u8, layout: Layout) {
        freeing(ptr, layout.size());
        // SAFETY: the caller guarantees `ptr` is live in `A` with `layout`; recorded as freed above.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// `dealloc` on the ready path when the block may be sampled or the batch is due.
    ///
    /// # Safety
    ///
    /// The `GlobalAlloc::dealloc` contract.
    #[cold]
    #[inline(never)]
    unsafe fn deallocate_event(&self, ptr: *mut u8, layout: Layout) {
        fast::free_event_ready(ptr as usize);
        // SAFETY: the caller guarantees `ptr` is live in `A` with `layout`; recorded as freed above.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// `realloc` off the ready path.
    ///
    /// # Safety
    ///
    /// The `GlobalAlloc::realloc` contract.
    #[inline(never)]
    unsafe fn reallocate(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        let Some(guard) = Guard::enter() else {
            // From inside the tracker: the new block is overhead; a user's block (see
            // `record::free_reentrant`) counts as freed.
            let user = record::tracked_block_reentrant(ptr);
            // SAFETY: the caller's contract for `realloc` is passed on unchanged.
            let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
            record::realloc_reentrant_done(ptr, new, user, old_size, new_size);
            return new;
        };
        if counters::sampled_fast() {
            let old = fast::realloc_begin(&guard, ptr);
            // SAFETY: the caller's contract for `realloc` is passed on unchanged.
            let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
            if new.is_null() {
                fast::realloc_failed(ptr, old);
            } else {
                fast::reallocated(&guard, new, old_size, new_size, old);
            }
            return new;
        }
        let moving = record::realloc_begin(&guard, ptr);
        let internal = record::is_internal(&moving);
        let growth = new_size.saturating_sub(old_size);
        // Only growth is held to the budget: a realloc that does not grow (`shrink_to_fit`,
        // `into_boxed_slice`) lowers live bytes and must succeed even when they are already past
        // a budget set below them, or every shrink would abort.
        let live = if internal || growth == 0 {
            0
        } else {
            match counters::reserve(growth) {
                Reserved::Live(live) => live,
                Reserved::Refused(refused) => {
                    record::realloc_failed(ptr, moving);
                    record::refused(new_size, growth, refused);
                    return ptr::null_mut();
                }
                // Sampled mode's fast path began after the check above (a budget was just
                // removed): this realloc stays on the slow path, which counts growth here.
                Reserved::Sampled => counters::reserve_anyway(growth),
            }
        };
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if new.is_null() {
            if !internal {
                counters::unreserve(growth); // 0 for a shrink: nothing was reserved
            }
            record::realloc_failed(ptr, moving);
        } else if internal {
            counters::overhead_sub(old_size);
            counters::overhead_add(new_size);
        } else {
            record::realloc_done(&guard, moving, new, old_size, new_size, live);
        }
        new
    }

    /// `alloc` and `alloc_zeroed` off the ready path: budget, inner call, record.
    ///
    /// # Safety
    ///
    /// - `layout` has a non-zero size (the `GlobalAlloc::alloc` contract), and `inner` is the
    ///   matching method of `self.inner`.
    #[inline(never)]
    unsafe fn allocate(&self, layout: Layout, inner: impl FnOnce(Layout) -> *mut u8) -> *mut u8 {
        let Some(guard) = Guard::enter() else {
            let p = inner(layout);
            if !p.is_null() {
                counters::overhead_add(layout.size());
            }
            return p;
        };
        let live = match counters::reserve(layout.size()) {
            Reserved::Live(live) => live,
            Reserved::Refused(refused) => {
                record::refused(layout.size(), layout.size(), refused);
                return ptr::null_mut();
            }
            Reserved::Sampled => {
                let p = inner(layout);
                if !p.is_null() {
                    fast::allocated(&guard, p, layout.size());
                }
                return p;
            }
        };
        let p = inner(layout);
        if p.is_null() {
            counters::unreserve(layout.size());
        } else {
            record::alloc(&guard, p, layout.size(), live);
        }
        p
    }
}
