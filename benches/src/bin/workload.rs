//! Whole-process allocator workloads, one global allocator per build (cargo feature).
//!
//! ```text
//! cargo run --release -p benches --bin workload --no-default-features --features jemalloc -- churn
//! ```
//!
//! Workloads (deterministic, fixed seeds; each prints a checksum so the work cannot be optimised
//! away, and `peak_rss_kib=<n> minor_faults=<n>` on stderr, the peak being `VmHWM`):
//! - `churn`: 5 M random 8..4096-byte buffers through a ring of 1000.
//! - `mt-churn`: the same on 2 threads (5 M each, different seeds).
//! - `vecgrow`: 200 k `Vec<u64>` grown by `push` to random lengths up to 4096, through a ring of 1000.
//! - `btree`: 1 M `BTreeMap<u64, String>` inserts, then every other key removed.
//! - `arrays`: the NumPy-style loop `c = a*2.0 + b` over 1 M-element f64 vectors, 200 times, each
//!   operation allocating its result like NumPy does (two 8 MB temporaries per iteration).
//! - `midarrays`: the same loop at the sizes below the 4 MiB huge-page rule (2 K to 256 K elements,
//!   16 KiB to 2 MiB), 2^27 elements per size: where jemalloc's page placement of large blocks
//!   (`cache_oblivious`) decides whether `a`, `b`, `t` and `c` start at the same offset in a page.
//!   Prints each size's seconds on stderr.
//! - `touch`: first touch of a 256 MiB zeroed buffer, one write per 4 KiB page.
//! - `hugegrow`: a `Vec<u8>` grown to 512 MiB by appending 64 KiB chunks, then dropped; 4 times.
//! - `larson`: mimalloc-bench's `larson` (Paul Larson's server test, from Hoard), with a fixed amount
//!   of work instead of a fixed time: 2 lanes of 5000 blocks of 8..1000 bytes, made and shuffled by
//!   the main thread; each lane is then worked by 12 threads in turn, each replacing 500 000 random
//!   blocks of its lane (free, then allocate a new random size, write two bytes), so every thread
//!   frees blocks that an earlier thread allocated and exits with blocks still live.
//! - `cache-scratch`: mimalloc-bench's `cache-scratchN` (Hoard's passive false-sharing test): the main
//!   thread allocates one 1-byte object per thread (adjacent: one cache line), each of 2 threads
//!   frees the one it was given, then 1000 times allocates a 1-byte object, writes and reads it
//!   1 000 000 times and frees it. An allocator that hands a thread the block another thread's
//!   object shares a line with makes the two cores fight over that line on every write.
//! - `heap1g`: 1 000 000 blocks of 1 KiB (about 1 GiB) kept to the end by a static, plus 1000
//!   forgotten 64-byte blocks: what the tracker's reachability scan at exit has to read (time it
//!   with `ALLOC_TRACKER=report=<file>` against `...,scan=off`).

use std::collections::BTreeMap;
use std::hint::black_box;

/// How many global allocators the build selected: exactly one may be.
const ALLOCATORS: usize = cfg!(feature = "system") as usize
    + cfg!(feature = "jemalloc") as usize
    + cfg!(feature = "mimalloc") as usize
    + cfg!(feature = "aligned") as usize
    + cfg!(feature = "tracked") as usize
    + cfg!(feature = "dhat") as usize
    + cfg!(feature = "floor") as usize;
const _: () = assert!(
    ALLOCATORS == 1,
    "pick one global allocator: --no-default-features --features system|jemalloc|mimalloc|aligned|tracked|dhat|floor"
);

#[cfg(feature = "system")]
#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "aligned")]
#[global_allocator]
static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();

#[cfg(feature = "tracked")]
#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

#[cfg(feature = "dhat")]
#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

#[cfg(feature = "floor")]
#[path = "../floor.rs"]
mod floor;

#[cfg(feature = "floor")]
#[global_allocator]
static GLOBAL: floor::Floor<alloc_core::AlignedAlloc> =
    floor::Floor(alloc_core::AlignedAlloc::new());

/// xorshift64*: a tiny deterministic generator, the same under every allocator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn churn(seed: u64, ops: usize) -> u64 {
    let mut rng = Rng(seed);
    let mut ring: Vec<Vec<u8>> = (0..1000).map(|_| Vec::new()).collect();
    let mut sum = 0u64;
    for i in 0..ops {
        let size = 8 + rng.below(4096 - 8) as usize;
        let mut buf = Vec::with_capacity(size);
        buf.push(i as u8);
        buf.resize(size.min(16), 1);
        let slot = &mut ring[i % 1000];
        sum = sum.wrapping_add(slot.len() as u64 + slot.first().copied().unwrap_or(0) as u64);
        *slot = black_box(buf);
    }
    sum
}

fn mt_churn() -> u64 {
    let handles: Vec<_> = (0..2u64)
        .map(|t| std::thread::spawn(move || churn(0x9e37_79b9 + t, 5_000_000)))
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold(0, u64::wrapping_add)
}

fn vecgrow() -> u64 {
    let mut rng = Rng(42);
    let mut ring: Vec<Vec<u64>> = (0..1000).map(|_| Vec::new()).collect();
    let mut sum = 0u64;
    for i in 0..200_000usize {
        let len = 1 + rng.below(4096) as usize;
        let mut v = Vec::new();
        for k in 0..len as u64 {
            v.push(k ^ i as u64);
        }
        sum = sum.wrapping_add(v[len / 2]);
        ring[i % 1000] = black_box(v);
    }
    sum
}

fn btree() -> u64 {
    let mut rng = Rng(7);
    let mut map = BTreeMap::new();
    let mut keys = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let k = rng.next();
        map.insert(k, format!("value-{k}"));
        keys.push(k);
    }
    for k in keys.iter().step_by(2) {
        map.remove(k);
    }
    map.values().map(|v| v.len() as u64).sum::<u64>() + map.len() as u64
}

/// `a * 2.0 + b` the NumPy way: each operator allocates its result.
fn arrays() -> u64 {
    numpy_loop(1 << 20, 200) as u64
}

/// `iters` times `c = a*2.0 + b` over `n`-element f64 vectors, each operation allocating its
/// result (a temporary `t`, then `c`), as NumPy does.
fn numpy_loop(n: usize, iters: usize) -> f64 {
    let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let b: Vec<f64> = (0..n).map(|i| (n - i) as f64).collect();
    let mut acc = 0.0;
    for it in 0..iters {
        let t: Vec<f64> = a.iter().map(|x| x * 2.0).collect();
        let c: Vec<f64> = t.iter().zip(&b).map(|(x, y)| x + y).collect();
        drop(t);
        acc += c[it * 4099 % n];
    }
    acc
}

/// `arrays`' loop over vectors of 16 KiB to 2 MiB (see the module docs).
fn midarrays() -> u64 {
    let mut acc = 0.0;
    for n in [1usize << 11, 1 << 13, 1 << 15, 1 << 17, 1 << 18] {
        let start = std::time::Instant::now();
        acc += numpy_loop(n, (1 << 27) / n);
        eprintln!("midarrays n={n} secs={:.4}", start.elapsed().as_secs_f64());
    }
    acc as u64
}

fn touch() -> u64 {
    const SIZE: usize = 256 << 20;
    let mut v = vec![0u8; SIZE];
    for i in (0..SIZE).step_by(4096) {
        v[i] = i as u8 | 1;
    }
    v.iter().step_by(4096).map(|&x| x as u64).sum()
}

/// A `Vec<u8>` grown to 512 MiB by appending 64 KiB chunks (as `read_to_end` grows a buffer),
/// then dropped; 4 times. Every doubling past the allocator's own mapping threshold is a copy
/// unless the allocator moves pages (`mremap`).
fn hugegrow() -> u64 {
    const SIZE: usize = 512 << 20;
    let chunk = [0x5au8; 64 << 10];
    let mut sum = 0u64;
    for round in 0..4u8 {
        let mut v: Vec<u8> = Vec::new();
        while v.len() < SIZE {
            v.extend_from_slice(&chunk);
            let last = v.len() - 1;
            v[last] = round;
        }
        sum +=
            v.iter().step_by(1 << 20).map(|&x| x as u64).sum::<u64>() + black_box(&v).len() as u64;
    }
    sum
}

/// One block of `larson`: allocated with `malloc` semantics (uninitialised), two bytes written.
fn larson_block(size: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(b"ab");
    b
}

/// One thread's turn at a `larson` lane: `rounds` times, free a random block and put a new one of
/// a random size in its place. Returns the lane, its generator and a checksum of what it read.
fn larson_turn(mut lane: Vec<Vec<u8>>, mut rng: Rng, rounds: usize) -> (Vec<Vec<u8>>, Rng, u64) {
    let mut sum = 0u64;
    for _ in 0..rounds {
        let victim = rng.below(lane.len() as u64) as usize;
        let size = 8 + rng.below(1000 - 8) as usize;
        lane[victim] = Vec::new(); // the free comes first, as in larson
        lane[victim] = black_box(larson_block(size));
        sum = sum.wrapping_add(lane[victim][0] as u64 + size as u64);
    }
    (lane, rng, sum)
}

/// mimalloc-bench's `larson 5 8 1000 5000 100 4141 2`, run for a fixed number of thread turns
/// (`TURNS` per lane) instead of 5 seconds, so every allocator does the same work.
fn larson() -> u64 {
    const LANES: usize = 2;
    const BLOCKS: usize = 5000;
    const ROUNDS: usize = 100 * BLOCKS;
    const TURNS: usize = 12;
    let mut rng = Rng(4141);
    // Warm-up in the main thread, as larson's `warmup`: allocate, shuffle, then replace 4× over.
    let mut blocks: Vec<Vec<u8>> = (0..LANES * BLOCKS)
        .map(|_| larson_block(8 + rng.below(1000 - 8) as usize))
        .collect();
    for i in (1..blocks.len()).rev() {
        blocks.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for _ in 0..4 * blocks.len() {
        let victim = rng.below(blocks.len() as u64) as usize;
        blocks[victim] = Vec::new();
        blocks[victim] = larson_block(8 + rng.below(1000 - 8) as usize);
    }
    let lanes: Vec<Vec<Vec<u8>>> = (0..LANES)
        .map(|_| blocks.split_off(blocks.len() - BLOCKS))
        .collect();
    let coordinators: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let rng = Rng(rng.next() | 1);
            std::thread::spawn(move || {
                // Each turn is a fresh thread, as larson's workers start their successor and exit.
                let (mut lane, mut rng, mut sum) = (lane, rng, 0u64);
                for _ in 0..TURNS {
                    let (l, r, s) = std::thread::spawn(move || larson_turn(lane, rng, ROUNDS))
                        .join()
                        .unwrap();
                    (lane, rng, sum) = (l, r, sum.wrapping_add(s));
                }
                (lane, sum)
            })
        })
        .collect();
    // The main thread frees the last turns' blocks.
    coordinators
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold(0, |acc, (lane, sum)| {
            acc.wrapping_add(sum)
                .wrapping_add(lane.iter().map(|b| b.len() as u64).sum())
        })
}

/// mimalloc-bench's `cache-scratch 2 1000 1 2000000 2` (`cache-scratchN` on 2 cores): its
/// repetitions are shared among the threads, 1 000 000 writes per object each.
fn cache_scratch() -> u64 {
    const THREADS: usize = 2;
    const ITERATIONS: usize = 1000;
    const OBJ_SIZE: usize = 1;
    const REPETITIONS: usize = 2_000_000;
    // Allocated together by the main thread: neighbours in one cache line under most allocators.
    let objs: Vec<Vec<u8>> = (0..THREADS).map(|_| Vec::with_capacity(OBJ_SIZE)).collect();
    let workers: Vec<_> = objs
        .into_iter()
        .map(|given| {
            std::thread::spawn(move || {
                drop(given);
                let mut sum = 0u64;
                for _ in 0..ITERATIONS {
                    let mut obj: Vec<u8> = Vec::with_capacity(OBJ_SIZE);
                    let p = obj.as_mut_ptr();
                    for _ in 0..REPETITIONS / THREADS {
                        for k in 0..OBJ_SIZE {
                            // SAFETY: `k < OBJ_SIZE <= obj.capacity()`: inside the block, which
                            // this thread owns; volatile so each write reaches memory, as in
                            // cache-scratch's `volatile char`.
                            unsafe {
                                p.add(k).write_volatile(k as u8);
                                sum += p.add(k).read_volatile() as u64 + 1;
                            }
                        }
                    }
                    drop(black_box(obj));
                }
                sum
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .fold(0, u64::wrapping_add)
}

/// Keeps `heap1g`'s blocks to the end of the process.
static KEPT: std::sync::Mutex<Vec<Box<[u8]>>> = std::sync::Mutex::new(Vec::new());

fn heap1g() -> u64 {
    let mut rng = Rng(0x5eed_1000);
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.reserve_exact(1_000_000);
    let mut sum = 0u64;
    for i in 0..1_000_000u64 {
        let b = vec![(rng.next() as u8) | 1; 1024].into_boxed_slice();
        sum += b[(i % 1024) as usize] as u64;
        kept.push(b);
        if i % 1000 == 0 {
            std::mem::forget(black_box(vec![i as u8; 64]));
        }
    }
    sum
}

/// The process's peak resident set (KiB) and its minor page faults.
///
/// The peak is `VmHWM` from `/proc/self/status`: the high-water mark of this address space, which
/// starts afresh at `exec`. `getrusage`'s `ru_maxrss` does not: Linux folds the pre-`exec` image
/// into it, so a workload started from a 14 MiB Python process reported at least 14 MiB whatever
/// it used. `ru_maxrss` is the fallback where `/proc` cannot be read.
fn usage() -> (i64, i64) {
    // SAFETY: `getrusage` fills the zeroed struct we pass; RUSAGE_SELF is always valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
    (hwm.unwrap_or(ru.ru_maxrss), ru.ru_minflt)
}

fn main() {
    #[cfg(feature = "dhat")]
    let _profiler = dhat::Profiler::builder()
        .file_name(std::env::temp_dir().join("workload-dhat-heap.json"))
        .build();
    let name = std::env::args().nth(1).unwrap_or_default();
    let sum = match name.as_str() {
        "churn" => churn(0x9e37_79b9, 5_000_000),
        "mt-churn" => mt_churn(),
        "vecgrow" => vecgrow(),
        "btree" => btree(),
        "arrays" => arrays(),
        "midarrays" => midarrays(),
        "touch" => touch(),
        "hugegrow" => hugegrow(),
        "heap1g" => heap1g(),
        "larson" => larson(),
        "cache-scratch" => cache_scratch(),
        _ => {
            eprintln!(
                "usage: workload churn|mt-churn|vecgrow|btree|arrays|midarrays|touch|hugegrow|heap1g|larson|cache-scratch"
            );
            std::process::exit(2);
        }
    };
    println!("{name} checksum {sum}");
    let (rss, faults) = usage();
    eprintln!("peak_rss_kib={rss} minor_faults={faults}");
}
