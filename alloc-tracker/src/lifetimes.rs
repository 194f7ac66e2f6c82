//! The summed lifetimes of each callsite's blocks, measured off the hot path.
//!
//! A callsite's summed lifetime (DHAT's `tl`: the sum over its blocks of free time minus
//! allocation time, live blocks counted up to now) is the integral over time of its number of
//! live blocks. Reading a clock on every allocation and free to sum it exactly was measured
//! first: `rdtsc` made the `churn` workload 44% slower (0.767 s -> 1.102 s, interleaved
//! medians), Linux's coarse clock 19%. So the integral is sampled instead: a thread of the
//! tracker's own (named `alloc-tracker`, started by the first tracked allocation) wakes every
//! [`PERIOD_NS`] and adds, to every callsite, its live blocks times the time since the last
//! sample; a snapshot or report samples once more first, to its own moment. The allocation path
//! pays nothing.
//!
//! Since the samples fall at times unrelated to what the program allocates, the sum is an
//! unbiased estimate of the integral: a block that lives `L` shorter than the period is counted
//! a whole period with probability `L / period`, so its expected share is `L`. Single short
//! lifetimes are not known, only sums and means over many blocks; blocks that live longer than
//! the period are counted to within one period each.
//!
//! In exact mode the same thread publishes the millisecond tick that block stamps read
//! (`clock::tick_ms`, for short-lived blocks): it wakes every millisecond, publishes, and samples
//! lifetimes every [`PERIOD_NS`]. That costs the thread about 1.6% of a core in a program that
//! does nothing else (16 ticks of CPU time in 10 s, 925 wakeups a second, on the 2-vCPU VM), so
//! in sampled mode, which is for production and counts no short-lived blocks, it wakes every
//! [`PERIOD_NS`] only.
//!
//! The thread never allocates (it walks the lock-free callsite list with atomics), blocks every
//! signal but the scan's stop signal (so a program's own signals still reach its threads), and
//! lengthens its period when there are so many callsites that a walk would take more than 1% of
//! a core.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::clock::{self, now_ns};
use crate::table;

/// The sampling period: 10 ms, lengthened so that a walk stays under 1% of it.
pub(crate) const PERIOD_NS: u64 = 10_000_000;

/// The moment up to which lifetimes have been summed, and whether the thread runs.
static SUMMED_TO_NS: AtomicU64 = AtomicU64::new(0);
static THREAD_STARTED: AtomicBool = AtomicBool::new(false);

/// Lifetimes are summed from `now` on (the tracker's start).
pub(crate) fn start(now: u64) {
    SUMMED_TO_NS.store(now, Relaxed);
}

/// Adds to every callsite's summed lifetime its live blocks times the time since the last
/// sample, up to now; returns now. Concurrent callers sum disjoint intervals. Never allocates.
pub(crate) fn sample() -> u64 {
    let now = now_ns();
    let mut last = SUMMED_TO_NS.load(Relaxed);
    loop {
        if now <= last {
            return now;
        }
        match SUMMED_TO_NS.compare_exchange_weak(last, now, Relaxed, Relaxed) {
            Ok(_) => break,
            Err(seen) => last = seen,
        }
    }
    let dt = now - last;
    for cs in table::callsites() {
        let live = cs.live_blocks();
        if live > 0 {
            cs.lifetime_ns.fetch_add(live.saturating_mul(dt), Relaxed);
        }
    }
    now
}

/// Starts the sampling thread (once); with `tick`, it also publishes the millisecond tick
/// (exact mode). Called by the first tracked allocation, after the inner allocator served it;
/// `pthread_create` takes its memory from the C library and `mmap`, never from Rust's global
/// allocator.
#[cold]
pub(crate) fn start_thread(tick: bool) {
    if THREAD_STARTED.swap(true, Relaxed) {
        return;
    }
    // SAFETY: `attr` is initialised before use and destroyed after; `sampler` has the signature
    // pthread_create expects and never returns; the thread is detached, so nothing joins it.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_attr_init(&mut attr) != 0 {
            return;
        }
        libc::pthread_attr_setstacksize(&mut attr, 64 * 1024);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut thread: libc::pthread_t = 0;
        // The argument is a flag, not a pointer: `sampler` never dereferences it.
        let arg = core::ptr::without_provenance_mut(tick as usize);
        let started = libc::pthread_create(&mut thread, &attr, sampler, arg) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if started {
            libc::pthread_setname_np(thread, c"alloc-tracker".as_ptr());
        }
    }
}

extern "C" fn sampler(tick: *mut libc::c_void) -> *mut libc::c_void {
    let wake_ns = if tick.addr() != 0 {
        clock::TICK_NS
    } else {
        PERIOD_NS
    };
    // SAFETY: a signal set on the stack, filled and edited by libc, then installed as this
    // thread's mask; the scan's stop signal stays deliverable.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigdelset(&mut set, crate::guard::stop_signal());
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, core::ptr::null_mut());
    }
    let wake = libc::timespec {
        tv_sec: 0,
        tv_nsec: wake_ns as libc::c_long,
    };
    let mut period = PERIOD_NS;
    let mut sampled_at = now_ns();
    loop {
        // SAFETY: `wake` is a valid timespec; an interruption (the scan's signal) only shortens
        // the sleep.
        unsafe { libc::nanosleep(&wake, core::ptr::null_mut()) };
        let now = now_ns();
        clock::publish_tick(now);
        if now.saturating_sub(sampled_at) >= period {
            let after = sample();
            clock::publish_tick(after);
            period = PERIOD_NS.max(after.saturating_sub(now).saturating_mul(100));
            sampled_at = after;
        }
    }
}
