//! The lower bound of any sampled-mode wrapper (issue #10): `Floor<A>` does what the issue's
//! spec says an unsampled operation costs and nothing else: an allocation subtracts its size
//! from a thread-local countdown and branches; a free loads one filter byte (the same slot hash
//! as alloc-tracker's `sample.rs`) and branches. A sample point only re-arms the countdown and
//! marks the filter; no stack, no map, no counters, no re-entrancy guard, no `measure`, no
//! `stats()`. Built as `workload-floor` (feature `floor`) to tell what ratio over `aligned` is
//! reachable at all on `churn`.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

const RATE: u64 = 524_288;
const FILTER_SLOTS: usize = 1 << 19;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU8 = AtomicU8::new(0);
static FILTER: [AtomicU8; FILTER_SLOTS] = [ZERO; FILTER_SLOTS];

thread_local! {
    static COUNTDOWN: Cell<u64> = const { Cell::new(RATE) };
}

#[inline]
fn slot(addr: usize) -> &'static AtomicU8 {
    const LINES: u32 = (FILTER_SLOTS / 64).trailing_zeros();
    let line = ((addr >> 12) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - LINES);
    &FILTER[(line as usize) << 6 | (addr >> 6) & 63]
}

/// An allocation of `size` bytes at `p` (null if it failed): the countdown, and a sample point
/// when it runs out. Returns `p`.
#[inline]
fn count_down(p: *mut u8, size: u64) -> *mut u8 {
    let sampled = COUNTDOWN
        .try_with(|c| {
            let left = c.get();
            if size < left {
                c.set(left - size);
                false
            } else {
                true
            }
        })
        .unwrap_or(false);
    if sampled && !p.is_null() {
        sample_point(p as usize);
    }
    p
}

/// The wrapper: see the module docs.
pub struct Floor<A>(pub A);

#[cold]
#[inline(never)]
fn sample_point(addr: usize) {
    // A fixed countdown: the floor does not pay for a draw (a real one costs a logarithm per
    // sample, about 20 000 times on churn).
    COUNTDOWN.with(|c| c.set(RATE));
    let _ = slot(addr).fetch_update(Relaxed, Relaxed, |n| n.checked_add(1));
}

#[cold]
#[inline(never)]
fn maybe_sampled_free(addr: usize) {
    let _ = slot(addr).fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
}

// SAFETY: forwards every call to `A` unchanged; the bookkeeping is a thread-local cell and the
// filter's atomics, and never allocates or panics.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Floor<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { self.0.alloc(layout) };
        count_down(p, layout.size() as u64)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if slot(ptr as usize).load(Relaxed) != 0 {
            maybe_sampled_free(ptr as usize);
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if slot(ptr as usize).load(Relaxed) != 0 {
            maybe_sampled_free(ptr as usize);
        }
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        count_down(p, new_size as u64)
    }
}
