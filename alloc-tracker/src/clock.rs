//! The monotonic clock of reports and lifetimes: nanoseconds, the tracker's start, and the
//! millisecond tick that block stamps read.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

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

/// Milliseconds since the tracker started, as last published by the tracker's own thread
/// (`lifetimes.rs`, every [`TICK_NS`]); the block map stamps each block with its low 16 bits, so
/// that a free can tell a short-lived block (see `table::Callsite::short_lived`) with one load of
/// a line that is written once a millisecond, instead of a clock read per operation (which cost
/// 19-44% on `churn`, see `lifetimes.rs`).
#[repr(align(64))]
struct Tick(AtomicU32);

static TICK_MS: Tick = Tick(AtomicU32::new(0));

/// How often the tick is published: 1 ms.
pub(crate) const TICK_NS: u64 = 1_000_000;

/// The published millisecond tick (0 until the tracker's thread runs).
#[inline]
pub(crate) fn tick_ms() -> u32 {
    TICK_MS.0.load(Relaxed)
}

/// Publishes the tick for `now` (a [`now_ns`] reading). Called by the tracker's thread alone.
pub(crate) fn publish_tick(now: u64) {
    TICK_MS
        .0
        .store((since_start_ns(now) / TICK_NS) as u32, Relaxed);
}
