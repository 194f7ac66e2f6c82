//! Sampled mode's alloc+free pair against the untracked pair (issue #10): `Tracked<AlignedAlloc>`
//! under `ALLOC_TRACKER=sample=524288` (jemalloc's default rate) against `AlignedAlloc` called
//! directly, through `GlobalAlloc`, one block at a time. At this rate a 64-byte block is sampled
//! once per 8 192 pairs and a 1 KiB block once per 512: the figures are the unsampled pair's cost
//! plus that share of a sampled one (stack capture, map, filter).
//!
//! Run: `cargo bench -p benches --bench sampled_pair -- --warm-up-time 1 --measurement-time 3`.
//! Without `ALLOC_TRACKER` the bench runs itself again with `sample=524288,report=off` (the
//! tracker reads the variable once, at start); a caller's own value is kept (e.g.
//! `ALLOC_TRACKER=report=off` times exact mode's pair). Figures: `benches/RESULTS.md` section 9.

use std::alloc::Layout;
use std::hint::black_box;

use alloc_core::AlignedAlloc;
use alloc_tracker::Tracked;
use benches::alloc_pair;
use criterion::{BenchmarkId, Criterion};

#[global_allocator]
static GLOBAL: Tracked<AlignedAlloc> = Tracked::new(AlignedAlloc::new());

fn sampled_pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("sampled_pair");
    for (size, name) in [(64usize, "64B"), (1024, "1KiB")] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        g.bench_with_input(BenchmarkId::new("untracked", name), &layout, |b, &l| {
            b.iter(|| alloc_pair(&AlignedAlloc::new(), l))
        });
        g.bench_with_input(BenchmarkId::new("sampled", name), &layout, |b, &l| {
            b.iter(|| alloc_pair(&GLOBAL, l))
        });
    }
    g.finish();
}

fn main() {
    // The tracker reads ALLOC_TRACKER once, when the program starts: without it, run again with
    // it (the caller's own value, e.g. `report=off` for exact mode, is kept).
    if std::env::var_os("ALLOC_TRACKER").is_none() {
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("ALLOC_TRACKER", "sample=524288,report=off")
            .exec();
        panic!("could not run the bench again in sampled mode: {err}");
    }
    if std::env::var("ALLOC_TRACKER").is_ok_and(|v| v.contains("sample=")) {
        drop(black_box(vec![0u8; 16]));
        assert!(
            alloc_tracker::__bench::sampled_batches().0 >= 1,
            "sampled mode did not engage"
        );
    }
    let mut c = Criterion::default().configure_from_args();
    sampled_pair(&mut c);
    c.final_summary();
}
