//! Sampled mode's batched live bytes (`alloc-tracker/src/slots.rs`), for `tests/sampled_batches.rs`,
//! run under `ALLOC_TRACKER=sample=524288,report=off`. One argument picks the scenario; each prints
//! one line of `key=value` figures (bytes, blocks; signed where a difference) and exits 0. No
//! other thread of this program allocates while a scenario compares process-wide figures (the
//! tracker's own thread never does).
//!
//! - `exact`: the main thread alone allocates 10 000 blocks of 1000 bytes (150 batches' worth),
//!   frees every other one, reallocates 1000 of the rest to 3000 bytes: the `stats()` deltas at
//!   each step (`alloc_*`, `free_*`, `realloc_*`), which must be exact, and `measure`'s figures of
//!   the first step (`measured_*`).
//! - `peak`: 4 threads each allocate 40 KiB in 40 blocks (under one batch: nothing flushed), wait
//!   for each other, hand their blocks to the main thread, which frees them all (its own batch
//!   goes negative: the global figure lies below zero for a moment). Prints the peak's distance
//!   from the true peak and from live bytes at the end.
//! - `exits`: 1500 threads one after another (more than the registry's 1024 entries) each
//!   allocate 30 KiB in 30 blocks and send them to the main thread, which frees them after all
//!   have exited. Prints the deltas of live bytes, blocks and totals, the registered threads and
//!   the bytes still batched.
//! - `limit`: a helper thread holds 50 KiB allocated (unflushed) and waits; the main thread sets
//!   a budget of live bytes + 1 MiB, then allocates 4 KiB blocks until one is refused: prints how
//!   many bytes it got, then removes the budget and prints the `stats()` delta of 100 blocks of
//!   1000 bytes (exact again on the fast path).

use std::hint::black_box;
use std::sync::{Arc, Barrier, mpsc};

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

fn block(size: usize) -> Vec<u8> {
    black_box(vec![7u8; size])
}

fn exact() {
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(10_000);
    let s0 = alloc_tracker::stats();
    let ((), usage) = alloc_tracker::measure(|| {
        for _ in 0..10_000 {
            kept.push(block(1000));
        }
    });
    let s1 = alloc_tracker::stats();
    let mut i = 0;
    kept.retain(|_| {
        i += 1;
        i % 2 == 0
    });
    let s2 = alloc_tracker::stats();
    for b in kept.iter_mut().take(1000) {
        b.reserve_exact(2000);
        b.resize(3000, 1);
    }
    let s3 = alloc_tracker::stats();
    let d = |a: u64, b: u64| b as i64 - a as i64;
    println!(
        "alloc_live={} alloc_blocks={} alloc_total={} alloc_total_blocks={} \
         free_live={} free_blocks={} realloc_live={} realloc_blocks={} realloc_total={} \
         reallocs={} measured_bytes={} measured_allocs={} peak_ok={}",
        d(s0.live_bytes, s1.live_bytes),
        d(s0.live_blocks, s1.live_blocks),
        d(s0.total_bytes, s1.total_bytes),
        d(s0.total_blocks, s1.total_blocks),
        d(s1.live_bytes, s2.live_bytes),
        d(s1.live_blocks, s2.live_blocks),
        d(s2.live_bytes, s3.live_bytes),
        d(s2.live_blocks, s3.live_blocks),
        d(s2.total_bytes, s3.total_bytes),
        d(s2.reallocs, s3.reallocs),
        usage.allocated_bytes,
        usage.allocations,
        (s1.peak_bytes >= s1.live_bytes && s3.peak_bytes >= s1.peak_bytes) as u8,
    );
    drop(kept);
}

fn peak() {
    const THREADS: usize = 4;
    let before = alloc_tracker::stats();
    let barrier = Arc::new(Barrier::new(THREADS));
    let (tx, rx) = mpsc::channel::<Vec<Vec<u8>>>();
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = barrier.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mine: Vec<Vec<u8>> = (0..40).map(|_| block(1024)).collect();
                barrier.wait();
                tx.send(mine).unwrap();
            })
        })
        .collect();
    drop(tx);
    let got: Vec<Vec<Vec<u8>>> = rx.iter().collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(got);
    drop(rx);
    drop(barrier);
    let after = alloc_tracker::stats();
    // Each thread's 40 blocks, its holder (40 × 24 bytes), the main thread's receiving vector
    // and the threads' own start-up blocks all count; the 4 × 40 KiB are the part known here.
    let known_peak = before.live_bytes + (THREADS * 40 * 1024) as u64;
    println!(
        "peak_minus_known={} peak_minus_live={} live_delta={} batch={}",
        after.peak_bytes as i64 - known_peak as i64,
        after.peak_bytes as i64 - after.live_bytes as i64,
        after.live_bytes as i64 - before.live_bytes as i64,
        alloc_tracker::__bench::SAMPLED_BATCH,
    );
}

fn exits() {
    const THREADS: usize = 1500;
    let mut held: Vec<Vec<Vec<u8>>> = Vec::with_capacity(THREADS);
    let before = alloc_tracker::stats();
    for _ in 0..THREADS {
        let (tx, rx) = mpsc::channel::<Vec<Vec<u8>>>();
        std::thread::spawn(move || {
            tx.send((0..30).map(|_| block(1024)).collect()).unwrap();
        })
        .join()
        .unwrap();
        held.push(rx.recv().unwrap());
    }
    let (registered, batched_before_free) = alloc_tracker::__bench::sampled_batches();
    let mid = alloc_tracker::stats();
    // The blocks, not `held`'s own buffer (allocated before `before`).
    held.drain(..).for_each(drop);
    let after = alloc_tracker::stats();
    println!(
        "held_delta={} live_delta={} blocks_delta={} registered={} batched={} peak_ok={}",
        mid.live_bytes as i64 - before.live_bytes as i64,
        after.live_bytes as i64 - before.live_bytes as i64,
        after.live_blocks as i64 - before.live_blocks as i64,
        registered,
        batched_before_free,
        (mid.peak_bytes >= mid.live_bytes) as u8,
    );
}

fn limit() {
    // Barriers, not channels: while the budget is full the helper must not allocate, and a
    // thread's first blocking `mpsc` receive allocates its wait context (48 bytes), which the
    // budget refuses: the process aborted when the helper blocked only then.
    let ready = Arc::new(Barrier::new(2));
    let hold = Arc::new(Barrier::new(2));
    let helper = {
        let (ready, hold) = (ready.clone(), hold.clone());
        std::thread::spawn(move || {
            let held: Vec<Vec<u8>> = (0..50).map(|_| block(1024)).collect();
            ready.wait();
            hold.wait();
            drop(held);
        })
    };
    ready.wait();
    let mut got: Vec<Vec<u8>> = Vec::with_capacity(1024);
    let live = alloc_tracker::stats().live_bytes;
    alloc_tracker::set_limit(Some(live + (1 << 20)));
    let mut granted = 0usize;
    loop {
        let mut v: Vec<u8> = Vec::new();
        if v.try_reserve_exact(4096).is_err() {
            break;
        }
        granted += 4096;
        got.push(v);
    }
    alloc_tracker::set_limit(None);
    drop(got);
    hold.wait();
    helper.join().unwrap();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(100);
    let s0 = alloc_tracker::stats();
    for _ in 0..100 {
        kept.push(block(1000));
    }
    let s1 = alloc_tracker::stats();
    println!(
        "granted={granted} after_live={} after_blocks={}",
        s1.live_bytes as i64 - s0.live_bytes as i64,
        s1.live_blocks as i64 - s0.live_blocks as i64,
    );
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("exact") => exact(),
        Some("peak") => peak(),
        Some("exits") => exits(),
        Some("limit") => limit(),
        other => panic!("unknown scenario {other:?}"),
    }
}
