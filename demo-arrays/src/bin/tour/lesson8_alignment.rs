//! Lesson 8: summing a 64-byte-aligned array vs the same data viewed from its second element (8
//! bytes off, so vector loads straddle cache lines). Times are measured, best of several runs.

use demo_arrays::{NdArray, s};

use super::{Ctx, best_of, ms, note, numpy, row};

fn compare(label: &str, n: usize, reps: usize, inner: usize) {
    let a = NdArray::<f64>::from_elem(&[n + 1], 1.0);
    let aligned = a.slice(&s![..n as isize]);
    let shifted = a.slice(&s![1..]);
    let run = |v: &demo_arrays::ArrayView<'_, f64>| {
        best_of(reps, || {
            let mut t = 0.0;
            for _ in 0..inner {
                t += std::hint::black_box(v).sum();
            }
            t
        })
    };
    let (s1, t1) = run(&aligned);
    let (s2, t2) = run(&shifted);
    assert_eq!(s1, s2);
    let gbs = |t: std::time::Duration| (n * 8 * inner) as f64 / t.as_secs_f64() / 1e9;
    row(
        &format!("{label}: {n} f64 x{inner}"),
        format!(
            "aligned {} ({:.1} GB/s) | offset 8 B {} ({:.1} GB/s) | ratio {:.2}",
            ms(t1),
            gbs(t1),
            ms(t2),
            gbs(t2),
            t2.as_secs_f64() / t1.as_secs_f64()
        ),
    );
    let _ = (aligned.flags().aligned, shifted.flags().aligned);
}

pub fn run(ctx: &Ctx) {
    numpy("a = np.ones(n + 1); a[:-1].sum() vs a[1:].sum()  # a[1:] is misaligned by 8 bytes");
    let q = if ctx.quick { 16 } else { 1 };
    compare("in L1 cache  ", 2048, 5, 20_000 / q);
    compare("in L2 cache  ", 32_768, 5, 1_000 / q);
    compare("from memory  ", ctx.size(16 << 20), 3, 1);
    note("flags: a.flags().aligned is true for the array, false for the offset view");
    note(
        "expect the gap only where loads are the bottleneck (in cache); from memory, bandwidth hides it",
    );
}
