//! `Tracked<AlignedAlloc>`, 8 threads × 200 000 random alloc/realloc/free operations (1 B..1 MiB),
//! in a process of its own: the test harness's threads (which allocate whenever they like) are not
//! in it, so the global figures read here are exactly what these threads did. Exits 0 when every
//! check holds; a failed check panics (exit 101) with the figures. Run by `tests/tests/balance.rs`.

use std::sync::{Arc, Barrier};

use integration_tests::checks::{self, Churned};

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

const THREADS: usize = 8;
const OPS: usize = 200_000;

fn main() {
    // Main reads the figures only while every worker is parked at a barrier: after they started
    // and before they work, then after they worked and before they exit. Nothing else in this
    // process allocates through the global allocator meanwhile (jemalloc's background thread
    // calls jemalloc directly).
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                barrier.wait();
                let churned = checks::churn(0x9E37_79B9 * (t as u64 + 1), OPS, 1 << 20);
                barrier.wait();
                barrier.wait();
                churned
            })
        })
        .collect();
    barrier.wait();
    let before = alloc_tracker::stats();
    barrier.wait();
    barrier.wait();
    let after = alloc_tracker::stats();
    barrier.wait();
    let counted =
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold(Churned::default(), |a, c| Churned {
                blocks: a.blocks + c.blocks,
                bytes: a.bytes + c.bytes,
            });

    assert_eq!(after.live_bytes, before.live_bytes, "live bytes");
    assert_eq!(after.live_blocks, before.live_blocks, "live blocks");
    // Each worker also allocated its table of 64 slots, outside its own count.
    let slot_table = (64 * std::mem::size_of::<Vec<u8>>()) as u64;
    assert_eq!(
        after.total_blocks - before.total_blocks,
        counted.blocks + THREADS as u64
    );
    assert_eq!(
        after.total_bytes - before.total_bytes,
        counted.bytes + THREADS as u64 * slot_table
    );
    assert!(after.peak_bytes >= before.peak_bytes);
    assert!(counted.blocks > (THREADS * OPS / 3) as u64, "{counted:?}");

    // Per-callsite figures add up to the global ones (read together, at rest: the workers have
    // exited and nothing else runs).
    let snap = alloc_tracker::snapshot();
    let heap = snap.heap();
    let sum = |f: fn(&alloc_tracker::CallsiteStats) -> u64| -> u64 {
        snap.callsites().iter().map(f).sum()
    };
    assert_eq!(sum(|c| c.live_bytes), heap.live_bytes);
    assert_eq!(sum(|c| c.live_blocks), heap.live_blocks);
    assert_eq!(sum(|c| c.total_bytes), heap.total_bytes);
    assert_eq!(sum(|c| c.total_blocks), heap.total_blocks);
    assert!(
        snap.callsites()
            .iter()
            .all(|c| c.max_live_bytes >= c.live_bytes)
    );
    assert!(sum(|c| c.peak_bytes) <= heap.peak_bytes);
    println!(
        "balanced: {} blocks, {} bytes",
        counted.blocks, counted.bytes
    );
}
