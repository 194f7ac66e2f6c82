//! Known allocations for `tests/sampled.rs`, run under `ALLOC_TRACKER=sample=<bytes>` (and, for
//! comparison, exactly). One argument picks the scenario:
//!
//! - `known`: three callsites with known live bytes, each sized for about 1000 samples at a
//!   16 KiB rate: `small_block` (262 144 blocks of 64 bytes), `medium_block` (4 096 of 4 KiB),
//!   `large_block` (16 of 1 MiB); `churn` allocates and frees 200 000 blocks (nothing live). All
//!   are kept to exit (leaked on purpose), where the report lists them. Prints `truth small=<bytes>
//!   medium=<bytes> large=<bytes>` and, just before returning, `live=<bytes>` from `stats()`.
//! - `threads`: 8 threads allocate 20 000 blocks each and hand half of them to the next thread,
//!   which frees them (the other half they free themselves), reallocating some on the way
//!   (grow and shrink). Prints `frees=<n> probes=<n> misses=<n> live_delta=<bytes>
//!   blocks_delta=<n> site_live=<bytes>`: the frees made, the block-map probes the filter let
//!   through, the live bytes and blocks gained over the run (0: nothing lost) and the estimated
//!   live bytes left at the threads' callsites (0).
//! - `profile <path>`: the `known` allocations, then `heap_profile()` written to `<path>`.
//! - `periodic <millis>`: the `known` allocations, then sleeps (the periodic writer of
//!   `pprof_every` runs meanwhile) and returns.

use std::hint::black_box;
use std::sync::mpsc;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// Blocks per callsite of `known` (see the module docs).
const SMALL: usize = 262_144;
const MEDIUM: usize = 4_096;
const LARGE: usize = 16;

#[inline(never)]
fn small_block() -> Box<[u8; 64]> {
    black_box(Box::new([1u8; 64]))
}

#[inline(never)]
fn medium_block() -> Vec<u8> {
    black_box(vec![2u8; 4096])
}

#[inline(never)]
fn large_block() -> Vec<u8> {
    black_box(vec![3u8; 1 << 20])
}

#[inline(never)]
fn churn() {
    let mut x = 0x1234_5678u64;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        drop(black_box(vec![0u8; 8 + (x % 2000) as usize]));
    }
}

/// The `known` allocations, leaked so that they are live at exit.
fn known() {
    let mut small = Vec::with_capacity(SMALL);
    let mut medium = Vec::with_capacity(MEDIUM);
    let mut large = Vec::with_capacity(LARGE);
    churn();
    // Interleaved, as a program's callsites are.
    for i in 0..SMALL {
        small.push(small_block());
        if i % 64 == 0 {
            medium.push(medium_block());
        }
        if i % 16_384 == 0 {
            large.push(large_block());
        }
    }
    assert_eq!((medium.len(), large.len()), (MEDIUM, LARGE));
    println!(
        "truth small={} medium={} large={}",
        SMALL * 64,
        MEDIUM * 4096,
        LARGE << 20
    );
    std::mem::forget((small, medium, large));
}

#[inline(never)]
fn thread_block(n: usize) -> Vec<u8> {
    black_box(vec![5u8; 16 + n % 3000])
}

fn threads() {
    const THREADS: usize = 8;
    const BLOCKS: usize = 20_000;
    let before = alloc_tracker::stats();
    let (probes_before, misses_before) = alloc_tracker::__bench::sample_probes();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..THREADS {
        let (tx, rx) = mpsc::channel::<Vec<Vec<u8>>>();
        senders.push(tx);
        receivers.push(rx);
    }
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let next = senders[(t + 1) % THREADS].clone();
            std::thread::spawn(move || {
                let mut mine = Vec::with_capacity(BLOCKS / 2);
                let mut theirs = Vec::with_capacity(BLOCKS / 2);
                for i in 0..BLOCKS {
                    let mut b = thread_block(i * (t + 1));
                    if i % 7 == 0 {
                        // Grow, then shrink: sampled and unsampled blocks both ways.
                        b.reserve_exact(b.len() * 3);
                        b.shrink_to_fit();
                    }
                    if i % 2 == 0 {
                        mine.push(b);
                    } else {
                        theirs.push(b);
                    }
                    if mine.len() == 100 {
                        mine.clear();
                    }
                }
                next.send(theirs).unwrap();
                drop(next);
                drop(mine);
                let got = rx.recv().unwrap();
                drop(got);
            })
        })
        .collect();
    drop(senders);
    for h in handles {
        h.join().unwrap();
    }
    let after = alloc_tracker::stats();
    let (probes, misses) = alloc_tracker::__bench::sample_probes();
    let site_live: u64 = alloc_tracker::snapshot()
        .resolve()
        .iter()
        .filter(|c| {
            c.frames
                .iter()
                .any(|f| f.function.contains("sampled::thread_block"))
        })
        .map(|c| c.stats.live_bytes)
        .sum();
    println!(
        "frees={} probes={} misses={} live_delta={} blocks_delta={} site_live={site_live}",
        THREADS * BLOCKS,
        probes - probes_before,
        misses - misses_before,
        after.live_bytes as i64 - before.live_bytes as i64,
        after.live_blocks as i64 - before.live_blocks as i64,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("known") => known(),
        Some("threads") => threads(),
        Some("profile") => {
            known();
            std::fs::write(&args[1], alloc_tracker::heap_profile()).unwrap();
        }
        Some("periodic") => {
            known();
            let ms: u64 = args[1].parse().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        other => panic!("unknown scenario {other:?}"),
    }
    println!("live={}", alloc_tracker::stats().live_bytes);
}
