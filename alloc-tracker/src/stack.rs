//! The calling thread's own stack bounds, cached per thread: the stack walks read only
//! `[sp, top)` of the thread's own stack (see [`live_top`]).

use core::cell::Cell;

/// Bounds of a thread whose stack could not be read: no `sp` lies inside.
const UNKNOWN: (usize, usize) = (1, 1);

thread_local! {
    /// This thread's own stack, `[bottom, top)`: `(0, 0)` = not yet read, [`UNKNOWN`].
    static STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// This thread's stack top if `sp` lies in the thread's own stack: then `[sp, top)` is its
/// live part, one mapping, readable while the frame owning `sp` runs.
///
/// `None` when `sp` lies elsewhere (a signal handler on a `sigaltstack`, a coroutine's or a
/// green thread's stack), where `[sp, top)` may span other mappings and unmapped gaps, or when
/// the bounds are unknown. The common case costs one thread-local load and two compares.
#[inline(always)]
pub(crate) fn live_top(sp: usize) -> Option<usize> {
    let (bottom, top) = STACK.try_with(Cell::get).unwrap_or(UNKNOWN);
    if bottom <= sp && sp < top {
        return Some(top);
    }
    live_top_slow(sp, top)
}

/// [`live_top`] outside the cached bounds: reads them on the thread's first capture, else
/// `None`.
#[cold]
#[inline(never)]
fn live_top_slow(sp: usize, top: usize) -> Option<usize> {
    if top != 0 {
        return None;
    }
    let (bottom, top) = read_bounds().unwrap_or(UNKNOWN);
    let _ = STACK.try_with(|c| c.set((bottom, top)));
    (bottom <= sp && sp < top).then_some(top)
}

/// This thread's stack `[bottom, top)` from `pthread_getattr_np`. For the main thread glibc
/// gives the lowest address the stack may grow to (`RLIMIT_STACK` below its top, short of the
/// next mapping), not yet all mapped: only `[sp, top)` is ever read, and that part is.
#[cold]
#[inline(never)]
fn read_bounds() -> Option<(usize, usize)> {
    let mut attr = core::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut addr: *mut libc::c_void = core::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `pthread_getattr_np` initialises `attr` for the calling thread when it returns 0;
    // only then is it read and destroyed. It may call the C library's malloc, never Rust's
    // global allocator, so it cannot re-enter the tracker.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let ok = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if !ok {
            return None;
        }
    }
    let bottom = addr as usize;
    let top = bottom.checked_add(size)?;
    // `bottom > 1`: a thread's bounds never equal `(0, 0)` (not read) or [`UNKNOWN`].
    (1 < bottom && bottom < top).then_some((bottom, top))
}
