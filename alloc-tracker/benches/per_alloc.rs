//! Per-allocation cost of tracking, stage by stage: stack capture (frame pointers vs DWARF),
//! callsite interning, and a whole tracked alloc + free against the same inner allocator called
//! directly. Run: `cargo bench -p alloc-tracker --bench per_alloc`.
//!
//! Measured 2026-11-26 10:20 UTC on this workspace's machine (2 shared cores, x86-64, nothing else
//! running; ±10% between runs), `--warm-up-time 1 --measurement-time 3`:
//!
//! | bench | time |
//! |---|---:|
//! | `capture/fp_32_frames` | 44.8 ns |
//! | `capture/dwarf_32_frames` (`dwarf.rs`, cached rules; 5.1–5.4 µs through libgcc) | 249 ns |
//! | `intern/hit_32_frames` | 7.9 ns |
//! | `intern/capture_and_intern_32` | 65.5 ns |
//! | `alloc_free_64B/untracked` (`AlignedAlloc` called directly) | 4.6 ns |
//! | `alloc_free_64B/tracked` (`Tracked<AlignedAlloc>`, 20 frames deep) | 106 ns |
//! | `free_64B/tracked_free_only` | 30.7 ns |
//! | `alloc_free_64B_two_threads/untracked` (wall time per pair) | 3.8 ns |
//! | `alloc_free_64B_two_threads/tracked` (same callsite on both threads) | 109 ns |
//!
//! The frame-pointer walk is a chain of dependent loads, about 1.5 ns per frame: with the default
//! 32 frames it is half of the tracked cost. The DWARF walk's cache hits cost about 8 ns per frame
//! (the cache set, then one or two stack words, each load depending on the last). Whole programs
//! pay far less than this 20× ratio, since they do other work between allocations: the `workload`
//! binary's figures for every allocator are in `benches/RESULTS.md` (`benches/compare.sh`).
//!
//! History worth keeping: with a flat hash map from address to callsite (16.8 MB on `btree`, whose
//! heap is far larger than the caches) nearly every insert and removal missed the cache, and
//! `btree` ran 1.6× `AlignedAlloc`; grouping the map by page made it 1.2–1.4× (`blockmap.rs`).
//! Before the exit report told runtime-held blocks apart by the symbol table, it loaded DWARF at
//! every exit: +45 MB of peak RSS and ~0.3 s. Through libgcc, `unwind=dwarf` was slower than
//! dhat-rs (churn 11.6 s against 8.85 s); the cached walk of `dwarf.rs` took it to 0.87 s.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;

use alloc_core::AlignedAlloc;
use alloc_tracker::{__bench, Tracked};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: Tracked<AlignedAlloc> = Tracked::new(AlignedAlloc::new());

/// Nests `depth` frames, then runs `f`: benches see a realistic stack depth.
#[inline(never)]
fn at_depth<R>(depth: usize, f: &mut dyn FnMut() -> R) -> R {
    if depth == 0 {
        f()
    } else {
        black_box(at_depth(depth - 1, f))
    }
}

fn capture(c: &mut Criterion) {
    let mut g = c.benchmark_group("capture");
    g.bench_function("fp_32_frames", |b| {
        at_depth(40, &mut || b.iter(|| __bench::capture(32, false)))
    });
    g.bench_function("dwarf_32_frames", |b| {
        at_depth(40, &mut || b.iter(|| __bench::capture(32, true)))
    });
    g.finish();
}

fn intern(c: &mut Criterion) {
    let mut g = c.benchmark_group("intern");
    g.bench_function("hit_32_frames", |b| b.iter(__bench::intern_fixed));
    g.bench_function("capture_and_intern_32", |b| {
        at_depth(40, &mut || b.iter(|| __bench::capture_and_intern(32)))
    });
    g.finish();
}

fn record(c: &mut Criterion) {
    let layout = Layout::from_size_align(64, 8).unwrap();
    let raw = AlignedAlloc::new();
    let mut g = c.benchmark_group("alloc_free_64B");
    g.bench_function("untracked", |b| {
        b.iter(|| {
            // SAFETY: non-zero layout; the block is freed with the same layout at once.
            unsafe { raw.dealloc(black_box(raw.alloc(layout)), layout) }
        })
    });
    g.bench_function("tracked", |b| {
        at_depth(20, &mut || {
            b.iter(|| {
                // SAFETY: as above, through the tracked global allocator.
                unsafe { GLOBAL.dealloc(black_box(GLOBAL.alloc(layout)), layout) }
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("free_64B");
    g.bench_function("tracked_free_only", |b| {
        b.iter_batched(
            // SAFETY: non-zero layout.
            || unsafe { GLOBAL.alloc(layout) },
            // SAFETY: the block came from GLOBAL with `layout` in the setup.
            |p| unsafe { GLOBAL.dealloc(p, layout) },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Two threads allocating and freeing 64-byte blocks from the same callsite at once: the cost of
/// shared counters' cache lines moving between cores. Reports time per operation pair.
fn two_threads(c: &mut Criterion) {
    fn run<A: GlobalAlloc + Sync>(a: &A, iters: u64) -> std::time::Duration {
        let layout = Layout::from_size_align(64, 8).unwrap();
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..iters / 2 {
                        // SAFETY: non-zero layout; freed with the same layout at once.
                        unsafe { a.dealloc(black_box(a.alloc(layout)), layout) }
                    }
                });
            }
        });
        start.elapsed()
    }
    let mut g = c.benchmark_group("alloc_free_64B_two_threads");
    g.bench_function("untracked", |b| {
        b.iter_custom(|iters| run(&AlignedAlloc::new(), iters))
    });
    g.bench_function("tracked", |b| b.iter_custom(|iters| run(&GLOBAL, iters)));
    g.finish();
}

criterion_group!(benches, capture, intern, record, two_threads);
criterion_main!(benches);
