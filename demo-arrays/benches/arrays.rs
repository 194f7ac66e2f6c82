//! demo-arrays against a plain read-bandwidth baseline and against `ndarray` 0.17, all under the
//! workspace allocator (`alloc_core::AlignedAlloc`):
//!
//! - `sum_256MiB`: `sum()` of f64 and f32 over 256 MiB, next to a read-bandwidth baseline (a wrapping
//!   `u64` sum, which the compiler vectorizes freely) and `ndarray`'s `sum()`.
//! - `sum_alignment`: the same sum from a 64-byte-aligned start and from one element further (8 bytes
//!   off), in L1 (16 KiB) and from memory (256 MiB).
//! - `a*2+b`: NumPy-style temporaries, a by-value chain, the fused expression (new output and into an
//!   existing one), in-place `mul_add_assign`, and `ndarray`'s equivalents, on 8 M f64.
//!
//! - `sum_strided_axis`: NumPy-accurate sums where the layout is not one slice: `a[::2]` of 10 M f32
//!   and `b[:, :1]` of a (5 M, 2) f32 array (gathered into blocks, then pairwise), and sums along
//!   each axis of a 2048 × 1024 f64 array, against `ndarray`'s `sum` / `sum_axis`.
//!
//! - `fused_broadcast`: `m * 2 + row - col` over a 2048 × 2048 f64 `m` with a (2048,) row and a
//!   (2048, 1) column: temporaries, fused with implicit and with explicit broadcasting, and
//!   `ndarray`'s temporaries and `Zip`.
//! - `index_counter`: the paths walked by `dim::Counter` (element iterator, lane walks) over
//!   non-contiguous 1024 × 1024 f64 views: `iter()` of a transposed view, `map_inplace` of every
//!   other column, `&a + &b` of a transposed and a plain array.
//!
//! Run: `cargo bench -p demo-arrays --bench arrays -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use demo_arrays::{NdArray, lazy, s};

#[global_allocator]
static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();

const BYTES: usize = 256 << 20;

/// Read bandwidth: a wrapping `u64` sum (associative, so it vectorizes with no extra care).
fn read_baseline(s: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available (checked above).
        return unsafe { read_avx2(s) };
    }
    s.iter().fold(0u64, |a, &x| a.wrapping_add(x))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn read_avx2(s: &[u64]) -> u64 {
    s.iter().fold(0u64, |a, &x| a.wrapping_add(x))
}

fn sums(c: &mut Criterion) {
    let mut g = c.benchmark_group("sum_256MiB");
    g.throughput(Throughput::Bytes(BYTES as u64));
    g.sample_size(10);
    let words = NdArray::<u64>::from_elem(&[BYTES / 8], 1);
    g.bench_function("read_baseline_u64", |b| {
        b.iter(|| read_baseline(black_box(words.as_slice().unwrap())))
    });
    drop(words);
    let a64 = NdArray::<f64>::from_elem(&[BYTES / 8], 1.0);
    g.bench_function("demo_arrays_f64", |b| b.iter(|| black_box(&a64).sum()));
    g.bench_function("demo_arrays_f64_max", |b| {
        b.iter(|| black_box(&a64).max().unwrap())
    });
    g.bench_function("demo_arrays_f64_mean", |b| {
        b.iter(|| black_box(&a64).mean())
    });
    g.bench_function("naive_iter_sum_f64", |b| {
        b.iter(|| black_box(a64.as_slice().unwrap()).iter().sum::<f64>())
    });
    drop(a64);
    let a32 = NdArray::<f32>::from_elem(&[BYTES / 4], 1.0);
    g.bench_function("demo_arrays_f32", |b| b.iter(|| black_box(&a32).sum()));
    drop(a32);
    let n64 = ndarray::Array1::<f64>::from_elem(BYTES / 8, 1.0);
    g.bench_function("ndarray_f64", |b| b.iter(|| black_box(&n64).sum()));
    drop(n64);
    let n32 = ndarray::Array1::<f32>::from_elem(BYTES / 4, 1.0);
    g.bench_function("ndarray_f32", |b| b.iter(|| black_box(&n32).sum()));
    g.bench_function("demo_arrays_f32_min", |b| {
        let a32 = NdArray::<f32>::from_elem(&[BYTES / 4], 1.0);
        b.iter(|| black_box(&a32).min().unwrap())
    });
    g.finish();
}

fn alignment(c: &mut Criterion) {
    let mut g = c.benchmark_group("sum_alignment");
    for n in [2048usize, BYTES / 8] {
        g.throughput(Throughput::Bytes((n * 8) as u64));
        if n > 1 << 20 {
            g.sample_size(10);
        }
        let a = NdArray::<f64>::from_elem(&[n + 1], 1.0);
        let aligned = a.slice(&s![..n as isize]);
        let offset = a.slice(&s![1..]);
        assert!(aligned.flags().aligned && !offset.flags().aligned);
        g.bench_with_input(BenchmarkId::new("aligned", n * 8), &aligned, |b, v| {
            b.iter(|| black_box(v).sum())
        });
        g.bench_with_input(BenchmarkId::new("offset_8B", n * 8), &offset, |b, v| {
            b.iter(|| black_box(v).sum())
        });
    }
    g.finish();
}

fn temporaries(c: &mut Criterion) {
    const N: usize = 8_000_000;
    let mut g = c.benchmark_group("a*2+b_8M_f64");
    g.throughput(Throughput::Bytes((N * 8 * 3) as u64)); // two reads and one write per element
    g.sample_size(20);
    let a = NdArray::<f64>::arange(N);
    let b = NdArray::<f64>::from_elem(&[N], 1.0);
    g.bench_function("temporaries", |bn| bn.iter(|| &(&a * 2.0) + &b));
    g.bench_function("by_value_chain", |bn| bn.iter(|| &a * 2.0 + &b));
    g.bench_function("fused_eval", |bn| {
        bn.iter(|| (lazy(&a) * 2.0 + &b).eval().unwrap())
    });
    let mut out = NdArray::<f64>::zeros(&[N]);
    g.bench_function("fused_eval_into", |bn| {
        bn.iter(|| (lazy(&a) * 2.0 + &b).eval_into(&mut out).unwrap())
    });
    let mut d = a.clone();
    g.bench_function("in_place_mul_add_assign", |bn| {
        bn.iter(|| {
            d.mul_add_assign(0.5, &b); // bounded: d converges instead of overflowing
        })
    });
    let na = ndarray::Array1::<f64>::from_iter((0..N).map(|i| i as f64));
    let nb = ndarray::Array1::<f64>::from_elem(N, 1.0);
    g.bench_function("ndarray_temporaries", |bn| bn.iter(|| &(&na * 2.0) + &nb));
    g.bench_function("ndarray_by_value_chain", |bn| bn.iter(|| &na * 2.0 + &nb));
    g.bench_function("ndarray_zip_new", |bn| {
        bn.iter(|| {
            ndarray::Zip::from(&na)
                .and(&nb)
                .map_collect(|&x, &y| x * 2.0 + y)
        })
    });
    let mut nd = na.clone();
    g.bench_function("ndarray_in_place_zip", |bn| {
        bn.iter(|| {
            ndarray::Zip::from(&mut nd)
                .and(&nb)
                .for_each(|x, &y| *x = *x * 0.5 + y)
        })
    });
    g.finish();
}

fn strided_and_axis_sums(c: &mut Criterion) {
    let mut g = c.benchmark_group("sum_strided_axis");
    g.sample_size(10);
    const N: usize = 10_000_000;
    g.throughput(Throughput::Elements((N / 2) as u64));
    let x = NdArray::<f32>::from_elem(&[N], 0.1);
    g.bench_function("demo_arrays_every_other_f32", |b| {
        b.iter(|| black_box(&x).slice(&s![..;2]).sum())
    });
    let nx = ndarray::Array1::<f32>::from_elem(N, 0.1);
    g.bench_function("ndarray_every_other_f32", |b| {
        b.iter(|| black_box(&nx).slice(ndarray::s![..;2]).sum())
    });
    let y = NdArray::<f32>::from_elem(&[N / 2, 2], 0.1);
    g.bench_function("demo_arrays_first_column_f32", |b| {
        b.iter(|| black_box(&y).slice(&s![.., ..1]).sum())
    });
    let ny = ndarray::Array2::<f32>::from_elem((N / 2, 2), 0.1);
    g.bench_function("ndarray_first_column_f32", |b| {
        b.iter(|| black_box(&ny).slice(ndarray::s![.., ..1]).sum())
    });
    drop((x, nx, y, ny));
    let (r, k) = (2048, 1024);
    g.throughput(Throughput::Elements((r * k) as u64));
    let m = NdArray::<f64>::from_elem(&[r, k], 0.5);
    let nm = ndarray::Array2::<f64>::from_elem((r, k), 0.5);
    for axis in [0, 1] {
        g.bench_function(BenchmarkId::new("demo_arrays_sum_axis_f64", axis), |b| {
            b.iter(|| black_box(&m).sum_axis(axis).unwrap())
        });
        g.bench_function(BenchmarkId::new("ndarray_sum_axis_f64", axis), |b| {
            b.iter(|| black_box(&nm).sum_axis(ndarray::Axis(axis)))
        });
    }
    g.finish();
}

fn fused_broadcast(c: &mut Criterion) {
    const R: usize = 2048;
    let mut g = c.benchmark_group("fused_broadcast");
    g.throughput(Throughput::Bytes((R * R * 8 * 2) as u64)); // one read and one write per element
    g.sample_size(10);
    let m = NdArray::<f64>::from_shape_fn(&[R, R], |i| (i[0] + i[1]) as f64);
    let row = NdArray::<f64>::arange(R);
    let col = NdArray::<f64>::from_elem(&[R, 1], 0.5);
    g.bench_function("temporaries", |b| b.iter(|| &(&(&m * 2.0) + &row) - &col));
    g.bench_function("fused_eval", |b| {
        b.iter(|| (lazy(&m) * 2.0 + &row - &col).eval().unwrap())
    });
    let (rb, cb) = (
        row.broadcast(&[R, R]).unwrap(),
        col.broadcast(&[R, R]).unwrap(),
    );
    g.bench_function("fused_eval_explicit_broadcast", |b| {
        b.iter(|| (lazy(&m) * 2.0 + &rb - &cb).eval().unwrap())
    });
    let nm = ndarray::Array2::<f64>::from_shape_fn((R, R), |(i, j)| (i + j) as f64);
    let nrow = ndarray::Array1::<f64>::from_iter((0..R).map(|i| i as f64));
    let ncol = ndarray::Array2::<f64>::from_elem((R, 1), 0.5);
    g.bench_function("ndarray_temporaries", |b| {
        b.iter(|| &(&(&nm * 2.0) + &nrow) - &ncol)
    });
    g.bench_function("ndarray_zip_new", |b| {
        b.iter(|| {
            ndarray::Zip::from(&nm)
                .and_broadcast(&nrow)
                .and_broadcast(&ncol)
                .map_collect(|&x, &r, &c| x * 2.0 + r - c)
        })
    });
    g.finish();
}

fn index_counter(c: &mut Criterion) {
    const R: usize = 1024;
    let mut g = c.benchmark_group("index_counter");
    g.throughput(Throughput::Elements((R * R) as u64));
    g.sample_size(20);
    let a = NdArray::<f64>::from_shape_fn(&[R, R], |i| (i[0] ^ i[1]) as f64);
    let t = a.t();
    g.bench_function("iter_next_transposed", |b| {
        b.iter(|| black_box(&t).iter().fold(0.0, |s, &x| s + x))
    });
    let mut w = NdArray::<f64>::zeros(&[R, 2 * R]);
    g.bench_function("map_inplace_every_other_column", |b| {
        b.iter(|| w.slice_mut(&s![.., ..;2]).map_inplace(|x| *x += 1.0))
    });
    g.bench_function("zip_map_transposed_plus_plain", |b| {
        b.iter(|| &black_box(&a).t() + black_box(&a))
    });
    g.finish();
}

criterion_group!(
    benches,
    sums,
    alignment,
    temporaries,
    strided_and_axis_sums,
    fused_broadcast,
    index_counter
);
criterion_main!(benches);
