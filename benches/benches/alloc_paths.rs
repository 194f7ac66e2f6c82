//! alloc+free pairs through `GlobalAlloc` directly, per size, for `System`, raw jemalloc and
//! `AlignedAlloc`: the per-call cost of the policy, the flags and the huge-page advice.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use alloc_core::AlignedAlloc;
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

fn pair<A: GlobalAlloc>(a: &A, layout: Layout) {
    // SAFETY: `layout` has a non-zero size; the block is freed with the same layout.
    unsafe {
        let p = a.alloc(layout);
        assert!(!p.is_null());
        // Touch one byte so the block is really used (not the whole block: that is bandwidth).
        p.write_volatile(1);
        a.dealloc(black_box(p), layout);
    }
}

fn alloc_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_paths");
    for (size, name) in SIZES {
        let layout = Layout::from_size_align(size, 8).unwrap();
        g.bench_with_input(BenchmarkId::new("system", name), &layout, |b, &l| {
            b.iter(|| pair(&System, l))
        });
        g.bench_with_input(BenchmarkId::new("jemalloc", name), &layout, |b, &l| {
            b.iter(|| pair(&Jemalloc, l))
        });
        g.bench_with_input(BenchmarkId::new("aligned", name), &layout, |b, &l| {
            b.iter(|| pair(&AlignedAlloc::new(), l))
        });
    }
    g.finish();
}

criterion_group!(benches, alloc_paths);
criterion_main!(benches);
