//! A global allocator chosen at run time: `Tracked<System>` (the tracker records every block and
//! prints its exit report) or plain `System` (nothing between the program and the C library's
//! malloc, so valgrind's memcheck sees exactly the program's own blocks), for the same binary.
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: integration_tests::switch::Switch = integration_tests::switch::Switch;
//! ```
//!
//! The choice is made once, by the first call into the allocator, from the environment variable
//! [`UNTRACKED_ENV`] (`LEAK_CASES_UNTRACKED=1` selects plain `System`; unset or any other value
//! selects the tracker). It is read with `libc::getenv`, which does not allocate, and cached in an
//! atomic: every later call takes the same path, so a block is always freed by the allocator that
//! made it (the two never mix). Setting the variable from inside the program has no effect: the
//! first allocation (std's runtime allocates before `main`) has already decided.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::CStr;
use core::sync::atomic::{AtomicU8, Ordering};
use std::alloc::System;

use alloc_tracker::Tracked;

/// The environment variable that selects plain `System`: `LEAK_CASES_UNTRACKED=1`.
pub const UNTRACKED_ENV: &str = "LEAK_CASES_UNTRACKED";
const UNTRACKED_ENV_C: &CStr = c"LEAK_CASES_UNTRACKED";

const UNDECIDED: u8 = 0;
const TRACKED: u8 = 1;
const UNTRACKED: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);
static TRACKER: Tracked<System> = Tracked::new(System);

/// Forwards every call to `Tracked<System>` or to `System`, chosen once (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Switch;

/// Whether this process records its blocks with the tracker (deciding now if nothing has yet).
#[inline]
pub fn is_tracked() -> bool {
    match MODE.load(Ordering::Acquire) {
        TRACKED => true,
        UNTRACKED => false,
        _ => decide(),
    }
}

#[cold]
#[inline(never)]
fn decide() -> bool {
    // SAFETY: `getenv` gets a NUL-terminated name; it returns null or a pointer to a
    // NUL-terminated value inside the environment, read here before anything could change it (this
    // runs at the first allocation, before `main`) and without allocating.
    let untracked = unsafe {
        let value = libc::getenv(UNTRACKED_ENV_C.as_ptr());
        !value.is_null() && CStr::from_ptr(value) == c"1"
    };
    let wanted = if untracked { UNTRACKED } else { TRACKED };
    // Two threads deciding at once read the same environment; the first store wins either way.
    match MODE.compare_exchange(UNDECIDED, wanted, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => wanted == TRACKED,
        Err(decided) => decided == TRACKED,
    }
}

// SAFETY: each method passes the caller's arguments unchanged to one of two sound allocators and
// returns its result unchanged. The choice never changes after the first call, so `dealloc` and
// `realloc` always reach the allocator that made the block.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_tracked() {
            // SAFETY: the caller's contract for `alloc` is passed on unchanged.
            unsafe { TRACKER.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_tracked() {
            // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
            unsafe { TRACKER.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_tracked() {
            // SAFETY: `ptr` was allocated by `TRACKER` (the choice never changes) with `layout`.
            unsafe { TRACKER.dealloc(ptr, layout) }
        } else {
            // SAFETY: `ptr` was allocated by `System` (the choice never changes) with `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if is_tracked() {
            // SAFETY: `ptr` was allocated by `TRACKER` with `layout`; the caller's contract holds.
            unsafe { TRACKER.realloc(ptr, layout, new_size) }
        } else {
            // SAFETY: `ptr` was allocated by `System` with `layout`; the caller's contract holds.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}
