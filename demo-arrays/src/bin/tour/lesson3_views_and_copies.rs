//! Lesson 3: basic slicing gives a view (0 bytes), fancy indexing copies (n × itemsize), and
//! reshaping a transposed array copies (the data is not C-contiguous any more).

use alloc_tracker::measure;
use demo_arrays::{NdArray, may_share_memory, s};

use super::{Ctx, note, numpy, row, usage};

pub fn run(ctx: &Ctx) {
    let side = if ctx.quick { 125 } else { 1000 };
    let a = NdArray::<f64>::arange(side * side)
        .into_shape(&[side, side])
        .unwrap();
    numpy(&format!(
        "a = np.arange({}.).reshape({side}, {side})",
        side * side
    ));

    numpy("v = a[10:-10:2, ::-1]                 # view");
    let (v, u) = measure(|| a.slice(&s![10..-10;2, ..;-1]));
    row("a.slice(&s![10..-10;2, ..;-1])", usage(&u));
    note(format!(
        "shape {:?}, strides {:?} (elements), shares memory: {}",
        v.shape(),
        v.strides(),
        may_share_memory(&a, &v)
    ));

    numpy("f = a[[0, 5, 7]]                      # fancy indexing: a copy");
    let (f, u) = measure(|| a.take(0, &[0, 5, 7]).unwrap());
    row("a.take(0, &[0, 5, 7])", usage(&u));
    note(format!(
        "3 rows x {side} x 8 bytes; shares memory: {}",
        may_share_memory(&a, &f)
    ));

    numpy("m = a[a > 0.5 * a.max()]              # boolean mask: a copy");
    let mask = a.map(|x| x > 0.5 * (side * side) as f64);
    let (m, u) = measure(|| a.mask(&mask).unwrap());
    row("a.mask(&mask)", usage(&u));
    note(format!("{} elements selected", m.len()));

    numpy(&format!(
        "a.reshape({})                        # contiguous: a view",
        side * side
    ));
    let (r, u) = measure(|| a.reshape(&[side * side]).unwrap().len());
    row(&format!("a.reshape(&[{}])", side * side), usage(&u));
    let _ = r;
    numpy(&format!(
        "a.T.reshape({})                      # transposed: a copy",
        side * side
    ));
    let t = a.t();
    let (cow, u) = measure(|| t.to_shape(&[side * side]).unwrap());
    row(&format!("a.t().to_shape(&[{}])", side * side), usage(&u));
    note(format!(
        "to_shape says whether it copied: is_copy() = {}",
        cow.is_copy()
    ));
}
