//! Summed lifetimes (`CallsiteStats::lifetime_ns`, DHAT's `tl`), sampled off the allocation path
//! by the tracker's own thread every 10 ms: checked against lifetimes this test measures itself
//! with `Instant` around each block. Each callsite here is this test's own, so other test
//! threads allocating meanwhile change nothing it reads.

use std::hint::black_box;
use std::time::{Duration, Instant};

use integration_tests::checks::callsites_of;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

#[inline(never)]
fn long_lived() -> Vec<u8> {
    black_box(vec![1u8; 4096])
}

#[inline(never)]
fn short_lived() -> Vec<u8> {
    black_box(vec![2u8; 64])
}

/// The summed lifetime the tracker gives the callsites in `function`, in nanoseconds.
fn summed(function: &str) -> u64 {
    let sites = callsites_of(function);
    assert!(!sites.is_empty(), "{function}");
    sites.iter().map(|s| s.stats.lifetime_ns).sum()
}

#[test]
fn one_block_held_a_second() {
    let start = Instant::now();
    let block = long_lived();
    std::thread::sleep(Duration::from_millis(1000));
    drop(block);
    let truth = start.elapsed().as_nanos() as i64;
    let est = summed("long_lived") as i64;
    // Off by at most the sampling intervals around the allocation and the free: 10 ms each,
    // longer if the sampler thread is scheduled late on a busy machine (up to 125 ms each
    // allowed here).
    assert!(
        (est - truth).abs() < 250_000_000,
        "estimate {est} ns, measured {truth} ns"
    );
}

#[test]
fn many_short_blocks_sum_without_bias() {
    // 600 blocks of about 2 ms each, each followed by 3 ms with none live: a sampler that
    // counted wall time would give 2.5 times the truth. The thread samples every 10 ms and sees
    // the block live 40% of the time: about 300 samples, a standard deviation near 7% of the
    // sum (more if a busy machine stretches the periods); the bound is several of those.
    let mut truth = Duration::ZERO;
    for _ in 0..600 {
        let start = Instant::now();
        let block = short_lived();
        std::thread::sleep(Duration::from_millis(2));
        drop(block);
        truth += start.elapsed();
        std::thread::sleep(Duration::from_millis(3));
    }
    let truth = truth.as_nanos() as f64;
    let est = summed("short_lived") as f64;
    let ratio = est / truth;
    eprintln!("short blocks: estimate {est} ns, measured {truth} ns (ratio {ratio:.3})");
    assert!(
        (0.55..1.45).contains(&ratio),
        "estimate {est} ns, measured {truth} ns (ratio {ratio:.2})"
    );
    // A live block counts up to the snapshot.
    let held = short_lived();
    let before = summed("short_lived");
    std::thread::sleep(Duration::from_millis(200));
    let after = summed("short_lived");
    drop(held);
    assert!(
        (150_000_000..400_000_000).contains(&(after - before)),
        "{before} -> {after}"
    );
}
