//! Lesson 9: the dtype changes results, not just bytes: f32 accumulation loses digits on long sums
//! (NumPy's pairwise `sum` hides most of it, on strided views too; a running total does not), and
//! `int8` arithmetic wraps silently — though `sum` widens to `int64`, as NumPy's does.

use demo_arrays::NdArray;

use super::{Ctx, note, numpy, row};

pub fn run(ctx: &Ctx) {
    let n = ctx.size(10_000_000);
    let exact = n as f64 * 0.1;
    numpy(&format!(
        "x = np.full({n}, 0.1, dtype=np.float32); x.sum(), x.astype(np.float64).sum()"
    ));
    let x32 = NdArray::<f32>::from_elem(&[n], 0.1);
    let x64 = NdArray::<f64>::from_elem(&[n], 0.1);
    let s32 = x32.sum();
    let s64 = x64.sum();
    let mut running = 0.0f32;
    for &v in x32.as_slice().unwrap_or(&[]) {
        running += v;
    }
    let rel = |v: f64| (v - exact).abs() / exact;
    row(
        "x32.sum()  (pairwise, f32)",
        format!("{s32:.3}  rel. error {:.1e}", rel(s32 as f64)),
    );
    let strided = x32.slice(&demo_arrays::s![..;2]).sum();
    row(
        "x32.slice(s![..;2]).sum()  (x[::2])",
        format!("{strided:.3}  rel. error {:.1e}", rel(strided as f64 * 2.0)),
    );
    row(
        "x64.sum()  (pairwise, f64)",
        format!("{s64:.3}  rel. error {:.1e}", rel(s64)),
    );
    row(
        "running f32 total (a Python-style loop)",
        format!("{running:.3}  rel. error {:.1e}", rel(running as f64)),
    );
    row(
        "x32.mean() (accumulates in f64)",
        format!("{:.6}", x32.mean()),
    );
    note("0.1 is not exact in f32 either: the f32 data itself is 0.100000001490116…");

    numpy("a = np.array([100, 120], dtype=np.int8); a + a   # -> [-56, -16], no warning");
    let a = NdArray::<i8>::from_vec(&[2], vec![100, 120]).expect("two elements");
    row("&a + &a  (i8)", format!("{:?}", (&a + &a).to_vec()));
    let s: i64 = a.sum();
    row("a.sum()  (accumulates in i64)", format!("{s}"));
    let mut wrapped = 0i8;
    for &v in a.as_slice().unwrap_or(&[]) {
        wrapped = wrapped.wrapping_add(v);
    }
    row("running i8 total (wrapping)", format!("{wrapped}"));
    note("sum widens as NumPy's: int8/16/32 -> i64, uint -> u64, bool -> a count; + - * do not");
}
