//! Sampled mode (`ALLOC_TRACKER=sample=<bytes>`): which blocks are recorded, what each stands for,
//! and the filter that lets an unsampled free skip the block map.
//!
//! **Which blocks.** Sampling is a Poisson process over allocated bytes, as in tcmalloc, jemalloc's
//! `prof` and Go's heap profiler: each thread keeps a countdown of bytes to its next sample point,
//! drawn from an exponential distribution of mean `rate`; a block is sampled when a point falls
//! inside it. So a block of `s` bytes is sampled with probability `1 − exp(−s / rate)`: large blocks
//! always, small ones in proportion to their size. The countdown lives in the thread's
//! `ThreadState` ([`Sampler`], two plain cells): an unsampled allocation costs a subtract and a
//! branch. Each thread's generator is seeded from a fixed seed and the order in which threads first
//! allocate, so a single-threaded program samples the same blocks on every run.
//!
//! **What each stands for.** A sampled block of `s` bytes stands for [`weight`]`(s) = 1 / (1 −
//! exp(−s / rate))` blocks of its size (pprof's and tcmalloc's unbiasing): the expected sum of
//! weights over sampled blocks is the number of blocks. Callsites hold these sums in their usual
//! counters, bytes rounded to whole bytes and blocks in fixed point ([`BLOCK_SHIFT`] fraction
//! bits), so a free subtracts exactly what its allocation added.
//!
//! **The filter.** A free must know whether its block was sampled without taking a shard lock. A
//! counting filter of [`FILTER_SLOTS`] one-byte atomic counters (512 KiB of `.bss`, resident only
//! in sampled mode) is indexed by a hash of the address: a sampled block adds one to its slot
//! before its address is handed out and takes it away after it left the block map. A zero slot
//! proves the block unsampled (one relaxed load); a non-zero one sends the free to the map, which
//! may miss (a false positive, at most `sampled live blocks / FILTER_SLOTS` of unsampled frees:
//! 0.4% for a 1 GiB heap of small blocks at the default rate; 2^16 four-byte counters gave 5% on
//! `tests/sampled.rs`'s threads). A counter that reaches 255 stays there (a slot that always
//! probes: safe, never wrong). The order
//! is safe without fences: a free of a block is ordered after its allocation by the program itself
//! (the address had to reach the freeing thread), and the slot stays non-zero while the block is
//! in the map.

use core::cell::Cell;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

/// Fraction bits of the fixed-point block counts callsites hold in sampled mode.
pub(crate) const BLOCK_SHIFT: u32 = 16;
/// Counters in the filter (a power of two).
pub(crate) const FILTER_SLOTS: usize = 1 << 19;
/// The seed every thread's generator starts from, mixed with the thread's ordinal.
const SEED: u64 = 0x5eed_a110_c7a4_c4e2;

/// The mean bytes between samples; 0 in exact mode. Set once, when the configuration is read,
/// before any block is recorded.
static RATE: AtomicU64 = AtomicU64::new(0);
/// Threads that have drawn their first countdown (their ordinals).
static THREADS: AtomicU64 = AtomicU64::new(0);
/// Probes of the block map made by frees that the filter let through, and those that missed
/// (false positives): for tests and for the report's figures of what sampling cost.
static PROBES: AtomicU64 = AtomicU64::new(0);
static PROBE_MISSES: AtomicU64 = AtomicU64::new(0);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU8 = AtomicU8::new(0);
static FILTER: [AtomicU8; FILTER_SLOTS] = [ZERO; FILTER_SLOTS];

/// Turns sampled mode on with a mean of `rate` bytes between samples (called once, by the
/// configuration).
pub(crate) fn set_rate(rate: u64) {
    RATE.store(rate, Relaxed);
}

/// The mean bytes between samples, `None` in exact mode.
#[inline]
pub(crate) fn rate() -> Option<u64> {
    Some(RATE.load(Relaxed)).filter(|&r| r != 0)
}

/// How many blocks a sampled block of `size` bytes stands for: `1 / (1 − exp(−size / rate))`.
pub(crate) fn weight(size: usize, rate: u64) -> f64 {
    let p = -(-(size as f64) / rate as f64).exp_m1();
    if p > 0.0 { 1.0 / p } else { 0.0 }
}

/// A sampled block's contribution to its callsite's counters: estimated bytes (rounded) and
/// estimated blocks in fixed point (see [`BLOCK_SHIFT`]). A pure function of the size, so that a
/// free takes back exactly what the allocation added.
#[inline]
pub(crate) fn estimate(size: usize, rate: u64) -> (u64, u64) {
    let w = weight(size, rate);
    (
        (w * size as f64).round() as u64,
        (w * (1u64 << BLOCK_SHIFT) as f64).round() as u64,
    )
}

/// One thread's countdown to its next sample point, and its generator (xorshift64*).
///
/// Invariant: `rng == 0` exactly until the first countdown is drawn (an xorshift state is never
/// 0 afterwards); `countdown` is meaningful only after.
pub(crate) struct Sampler {
    countdown: Cell<u64>,
    rng: Cell<u64>,
}

impl Sampler {
    /// A sampler that has not drawn yet (const: it lives in a const-initialised thread-local).
    pub(crate) const fn new() -> Sampler {
        Sampler {
            countdown: Cell::new(0),
            rng: Cell::new(0),
        }
    }

    /// A sampler seeded with `seed` (tests).
    #[cfg(test)]
    pub(crate) fn seeded(seed: u64) -> Sampler {
        let s = Sampler::new();
        s.rng.set(splitmix(seed) | 1);
        s
    }

    /// Whether a block of `size` bytes is sampled, at a mean of `rate` bytes between samples.
    /// The common case is one subtract and one branch.
    #[inline]
    pub(crate) fn take(&self, size: usize, rate: u64) -> bool {
        self.take_with(size, || rate)
    }

    /// The countdown left after a block of `size` bytes if no sample point falls in it (the
    /// fast path stores it with [`Sampler::set_left`]); `None` if one does.
    #[inline(always)]
    pub(crate) fn left_after(&self, size: usize) -> Option<u64> {
        let left = self.countdown.get();
        if (size as u64) < left {
            Some(left - size as u64)
        } else {
            None
        }
    }

    /// Stores what [`Sampler::left_after`] returned.
    #[inline(always)]
    pub(crate) fn set_left(&self, left: u64) {
        self.countdown.set(left);
    }

    /// [`Sampler::take`] at the configured rate, which is read only at a sample point (the
    /// fast path's common case loads nothing but the countdown).
    #[inline]
    pub(crate) fn take_configured(&self, size: usize) -> bool {
        self.take_with(size, || RATE.load(Relaxed))
    }

    #[inline(always)]
    fn take_with(&self, size: usize, rate: impl FnOnce() -> u64) -> bool {
        let left = self.countdown.get();
        if (size as u64) < left {
            self.countdown.set(left - size as u64);
            return false;
        }
        self.sample_point(size, rate())
    }

    /// A sample point falls in this block (or the thread has not drawn yet): draw the next
    /// countdown, which by memorylessness starts at the block's end.
    #[cold]
    #[inline(never)]
    fn sample_point(&self, size: usize, rate: u64) -> bool {
        if self.rng.get() == 0 {
            // First use on this thread: draw where the first point falls, then decide as usual.
            let n = THREADS.fetch_add(1, Relaxed);
            self.rng.set(splitmix(SEED ^ n) | 1);
            self.countdown.set(self.draw(rate));
            return self.take(size, rate);
        }
        self.countdown.set(self.draw(rate));
        true
    }

    /// An exponentially distributed countdown of mean `rate` bytes (at least 1).
    fn draw(&self, rate: u64) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        // Uniform in (0, 1]: its logarithm is finite.
        let u = (bits + 1) as f64 / (1u64 << 53) as f64;
        ((-u.ln() * rate as f64) as u64).max(1)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The filter slot of `addr`: its 4 KiB page picks a cache line of 64 slots by hash, its 64-byte
/// granule the slot in that line. Frees of neighbouring blocks (a slab's) then read one line: with
/// a hash of the whole address, the filter's load was a fifth of an unsampled free's cost on
/// `churn`.
#[inline]
fn slot(addr: usize) -> &'static AtomicU8 {
    const LINES: u32 = (FILTER_SLOTS / 64).trailing_zeros();
    let line = ((addr >> 12) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - LINES);
    &FILTER[(line as usize) << 6 | (addr >> 6) & 63]
}

/// Notes a sampled block at `addr` (before its address is handed out).
#[inline]
pub(crate) fn filter_add(addr: usize) {
    // Saturates: a counter at 255 stays there.
    let _ = slot(addr).fetch_update(Relaxed, Relaxed, |n| n.checked_add(1));
}

/// Forgets a sampled block at `addr` (after it left the block map).
#[inline]
pub(crate) fn filter_remove(addr: usize) {
    // A saturated counter no longer knows how many blocks it stands for: it stays.
    let _ = slot(addr).fetch_update(Relaxed, Relaxed, |n| {
        if n == u8::MAX { None } else { n.checked_sub(1) }
    });
}

/// The mean bytes between samples (0 in exact mode).
#[inline]
pub(crate) fn rate_or_zero() -> u64 {
    RATE.load(Relaxed)
}

/// Whether the block at `addr` may be sampled: false proves it is not.
#[inline]
pub(crate) fn maybe_sampled(addr: usize) -> bool {
    slot(addr).load(Relaxed) != 0
}

/// Counts a probe of the block map that the filter let through, and whether it missed.
#[inline]
pub(crate) fn probed(hit: bool) {
    PROBES.fetch_add(1, Relaxed);
    if !hit {
        PROBE_MISSES.fetch_add(1, Relaxed);
    }
}

/// Probes of the block map by frees in sampled mode, and how many missed (false positives).
pub(crate) fn probes() -> (u64, u64) {
    (PROBES.load(Relaxed), PROBE_MISSES.load(Relaxed))
}

/// `524288` -> `512 KiB`, `1048576` -> `1 MiB`, `1000` -> `1000 B`: the rate as the report's
/// header states it.
pub(crate) fn describe(rate: u64) -> String {
    if rate >= 1 << 20 && rate.is_multiple_of(1 << 20) {
        format!("{} MiB", rate >> 20)
    } else if rate >= 1 << 10 && rate.is_multiple_of(1 << 10) {
        format!("{} KiB", rate >> 10)
    } else {
        format!("{rate} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_512K: u64 = 512 << 10;

    /// A block of size s is sampled with probability 1 − exp(−s / rate), from rate/16 to 8 ×
    /// rate: the frequency over 20 000 blocks per size is within 4 standard errors.
    #[test]
    fn sampling_probability_matches_the_poisson_process() {
        let rate = 64 << 10;
        for (k, size) in [rate / 16, rate / 4, rate / 2, rate, 2 * rate, 8 * rate]
            .into_iter()
            .enumerate()
        {
            let s = Sampler::seeded(1000 + k as u64);
            let n = 20_000;
            let hits = (0..n).filter(|_| s.take(size as usize, rate)).count() as f64;
            let p = -(-(size as f64) / rate as f64).exp_m1();
            let se = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
            let freq = hits / n as f64;
            assert!(
                (freq - p).abs() <= 4.0 * se + 1e-12,
                "size {size}: sampled {freq:.4}, expected {p:.4} (±{:.4})",
                4.0 * se
            );
        }
    }

    /// Sums of estimates over one run, for three callsites of known live bytes (64-byte, 4 KiB
    /// and 1 MiB blocks), each sized for about 1000 expected samples: each within ±10%.
    #[test]
    fn estimates_per_callsite_within_ten_percent() {
        let rate = RATE_512K;
        // (block size, blocks): 1000 expected samples each at this rate.
        let sites: [(usize, u64); 3] = [(64, 8_192_000), (4096, 128_000), (1 << 20, 1_157)];
        let s = Sampler::seeded(7);
        let mut est = [(0u64, 0u64); 3];
        let mut x = 1u64;
        // Interleaved, as a program's callsites are.
        let mut left: Vec<u64> = sites.iter().map(|&(_, n)| n).collect();
        while left.iter().any(|&n| n > 0) {
            x = splitmix(x);
            let i = (x % 3) as usize;
            if left[i] == 0 {
                continue;
            }
            left[i] -= 1;
            let size = sites[i].0;
            if s.take(size, rate) {
                let (b, k) = estimate(size, rate);
                est[i].0 += b;
                est[i].1 += k;
            }
        }
        for (i, &(size, n)) in sites.iter().enumerate() {
            let truth = size as f64 * n as f64;
            let got = est[i].0 as f64;
            assert!(
                (got / truth - 1.0).abs() <= 0.10,
                "{size}-byte blocks: estimated {got}, true {truth}"
            );
            let blocks = est[i].1 as f64 / (1u64 << BLOCK_SHIFT) as f64;
            assert!(
                (blocks / n as f64 - 1.0).abs() <= 0.10,
                "{size}-byte blocks: estimated {blocks} blocks, true {n}"
            );
        }
    }

    /// Totals are unbiased: over 20 seeds, the mean estimate of a mixed workload's bytes is
    /// within ±3% of the truth (each run alone has a few percent of error).
    #[test]
    fn totals_unbiased_over_twenty_seeds() {
        let rate = RATE_512K;
        let mut ratio_sum = 0.0;
        for seed in 0..20u64 {
            let s = Sampler::seeded(seed + 100);
            let mut x = seed + 1;
            let (mut est, mut truth) = (0u64, 0u64);
            for _ in 0..200_000 {
                x = splitmix(x);
                // Sizes from 8 bytes to 1 MiB, each power of two alike.
                let size = 8usize << (x % 18);
                truth += size as u64;
                if s.take(size, rate) {
                    est += estimate(size, rate).0;
                }
            }
            ratio_sum += est as f64 / truth as f64;
        }
        let mean_ratio = ratio_sum / 20.0;
        assert!(
            (mean_ratio - 1.0).abs() <= 0.03,
            "mean estimate / truth over 20 seeds: {mean_ratio:.4}"
        );
    }

    #[test]
    fn weights_and_fixed_point() {
        let rate = RATE_512K;
        // Blocks far larger than the rate stand for themselves.
        assert!((weight(64 << 20, rate) - 1.0).abs() < 1e-12);
        // Small blocks stand for about rate / size of their kind.
        assert!((weight(64, rate) / (rate as f64 / 64.0) - 1.0).abs() < 1e-3);
        let (bytes, blocks) = estimate(1 << 20, rate);
        assert_eq!(
            bytes,
            ((1u64 << 20) as f64 / (1.0 - (-2f64).exp())).round() as u64
        );
        assert_eq!(blocks >> BLOCK_SHIFT, 1);
        assert_eq!(describe(524_288), "512 KiB");
        assert_eq!(describe(1 << 20), "1 MiB");
        assert_eq!(describe(1000), "1000 B");
    }

    #[test]
    fn the_filter_counts() {
        let a = 0x7f12_3456_7890usize;
        assert!(!maybe_sampled(a));
        filter_add(a);
        filter_add(a);
        assert!(maybe_sampled(a));
        filter_remove(a);
        assert!(maybe_sampled(a));
        filter_remove(a);
        assert!(!maybe_sampled(a));
        // Saturated: stays, and says "maybe" for ever.
        let b = 0x7f00_0000_0010usize;
        for _ in 0..300 {
            filter_add(b);
        }
        for _ in 0..300 {
            filter_remove(b);
        }
        assert!(maybe_sampled(b));
    }
}
