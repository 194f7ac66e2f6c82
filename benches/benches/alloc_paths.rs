//! alloc+free pairs through `GlobalAlloc` directly, per size, for `System`, raw jemalloc and
//! `AlignedAlloc`: the per-call cost of the policy, the flags and the huge-page advice.

use std::alloc::{Layout, System};

use alloc_core::AlignedAlloc;
use benches::alloc_pair;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tikv_jemallocator::Jemalloc;

const SIZES: [(usize, &str); 7] = [
    (16, "16B"),
    (256, "256B"),
    (4 << 10, "4KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (8 << 20, "8MiB"),
    (64 << 20, "64MiB"),
];

fn alloc_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_paths");
    for (size, name) in SIZES {
        let layout = Layout::from_size_align(size, 8).unwrap();
        g.bench_with_input(BenchmarkId::new("system", name), &layout, |b, &l| {
            b.iter(|| alloc_pair(&System, l))
        });
        g.bench_with_input(BenchmarkId::new("jemalloc", name), &layout, |b, &l| {
            b.iter(|| alloc_pair(&Jemalloc, l))
        });
        g.bench_with_input(BenchmarkId::new("aligned", name), &layout, |b, &l| {
            b.iter(|| alloc_pair(&AlignedAlloc::new(), l))
        });
    }
    g.finish();
}

criterion_group!(benches, alloc_paths);
criterion_main!(benches);
