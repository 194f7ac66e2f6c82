//! The monotonic clock of reports and lifetimes: nanoseconds, and the tracker's start.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// When the tracker started.
static START_NS: AtomicU64 = AtomicU64::new(0);

/// The monotonic clock in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Seconds since the tracker started.
pub(crate) fn elapsed_secs() -> f64 {
    since_start_ns(now_ns()) as f64 / 1e9
}

/// Notes the start of the clock (the tracker's registration, at load); returns it.
pub(crate) fn start() -> u64 {
    let now = now_ns();
    START_NS.store(now, Relaxed);
    now
}

/// Nanoseconds from the start to `t` (a [`now_ns`] reading).
pub(crate) fn since_start_ns(t: u64) -> u64 {
    t.saturating_sub(START_NS.load(Relaxed))
}
