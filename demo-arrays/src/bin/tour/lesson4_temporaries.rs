//! Lesson 4: `a * 2.0 + b` allocates a temporary for `a * 2.0` before the result; by-value chains
//! reuse the buffer, a fused expression computes the result in one pass, and in-place ops allocate
//! nothing.

use alloc_tracker::measure;
use demo_arrays::{NdArray, lazy};

use super::{Ctx, best_of, ms, note, numpy, row, usage};

pub fn run(ctx: &Ctx) {
    let n = ctx.size(8_000_000);
    let a = NdArray::<f64>::arange(n);
    let b = NdArray::<f64>::from_elem(&[n], 1.0);
    let reps = if ctx.quick { 1 } else { 5 };
    numpy(&format!(
        "a, b = np.arange({n}.), np.ones({n}); c = a * 2.0 + b   # temporary for a * 2.0"
    ));

    let ((r1, u1), t1) = best_of(reps, || measure(|| &(&a * 2.0) + &b));
    row("&(&a * 2.0) + &b", format!("{}  {}", usage(&u1), ms(t1)));
    drop(r1);
    numpy("c = a * 2.0; c += b                   # reuse the temporary");
    let ((r2, u2), t2) = best_of(reps, || measure(|| &a * 2.0 + &b));
    row(
        "&a * 2.0 + &b  (by value: reuses buffer)",
        format!("{}  {}", usage(&u2), ms(t2)),
    );
    drop(r2);
    numpy("numexpr.evaluate('a * 2.0 + b')      # fused, one pass");
    let ((r3, u3), t3) = best_of(reps, || measure(|| (lazy(&a) * 2.0 + &b).eval().unwrap()));
    row(
        "(lazy(&a) * 2.0 + &b).eval()",
        format!("{}  {}", usage(&u3), ms(t3)),
    );
    numpy("np.multiply(a, 2.0, out=c); c += b    # in place, into existing c");
    let mut c = r3;
    let ((), u4) = measure(|| (lazy(&a) * 2.0 + &b).eval_into(&mut c).unwrap());
    row("(lazy(&a) * 2.0 + &b).eval_into(&mut c)", usage(&u4));
    let mut d = a.clone();
    let (((), u5), t5) = best_of(reps, || measure(|| d.mul_add_assign(2.0, &b)));
    row(
        "d.mul_add_assign(2.0, &b)  (d = a.copy())",
        format!("{}  {}", usage(&u5), ms(t5)),
    );
    note(format!(
        "peak: temporaries {:.1}x the fused peak; fused is {:.2}x faster than temporaries",
        u1.peak_bytes as f64 / u3.peak_bytes.max(1) as f64,
        t1.as_secs_f64() / t3.as_secs_f64()
    ));
}
