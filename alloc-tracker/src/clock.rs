//! The clock of block lifetimes: cheap enough to read on every allocation and free.
//!
//! On x86-64 it is the CPU's time-stamp counter (`rdtsc`, about 10 ns on this project's
//! machines, a third of `clock_gettime`), in units of 16 cycles; elsewhere the monotonic clock in
//! 16 ns units. Ticks are turned into nanoseconds only when a report is written, by the rate
//! measured between the tracker's start ([`start`]) and then. Linux only offers the counter to
//! user code where it is invariant (constant rate across cores and power states, `constant_tsc`
//! and `nonstop_tsc`), which x86-64 machines of the last decade all are.
//!
//! Sums of ticks are kept in wrapping `u64` arithmetic: a callsite's summed lifetime is a
//! difference of two such sums (see `table::Callsite::lifetime_ticks`), exact as long as the true
//! figure stays below 2^64 ticks (about 9·10^10 block-seconds at 3 GHz).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Ticks and nanoseconds when the tracker started.
static START_TICKS: AtomicU64 = AtomicU64::new(0);
static START_NS: AtomicU64 = AtomicU64::new(0);

/// The clock now, in ticks.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions; it reads a counter (user mode may read it on
        // Linux).
        unsafe { core::arch::x86_64::_rdtsc() >> 4 }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        crate::exit::now_ns() >> 4
    }
}

/// Notes the start of the clock (the tracker's first use).
pub(crate) fn start() {
    START_TICKS.store(ticks(), Relaxed);
    START_NS.store(crate::exit::now_ns(), Relaxed);
}

/// Nanoseconds per tick, measured since [`start`] (16.0 when too little time has passed to
/// measure, or without a time-stamp counter).
pub(crate) fn ns_per_tick() -> f64 {
    let ticks = ticks().wrapping_sub(START_TICKS.load(Relaxed));
    let ns = crate::exit::now_ns().saturating_sub(START_NS.load(Relaxed));
    if cfg!(target_arch = "x86_64") && ticks > 1_000 && ns > 1_000 {
        ns as f64 / ticks as f64
    } else {
        16.0
    }
}

/// Nanoseconds from the start to the moment `t` (in ticks).
pub(crate) fn since_start_ns(t: u64) -> u64 {
    (t.wrapping_sub(START_TICKS.load(Relaxed)) as f64 * ns_per_tick()) as u64
}
