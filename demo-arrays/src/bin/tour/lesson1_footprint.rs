//! Lesson 1: an array is one contiguous block whose size is `len × itemsize`; the dtype decides it.

use alloc_tracker::measure;
use demo_arrays::NdArray;

use super::{Ctx, bytes, note, numpy, row, usage};

pub fn run(ctx: &Ctx) {
    let n = ctx.size(10_000_000);
    numpy(&format!(
        "a = np.zeros({n}); b = np.zeros({n}, dtype=np.float32); a.nbytes, b.nbytes"
    ));
    let (a, u64_) = measure(|| NdArray::<f64>::zeros(&[n]));
    row(&format!("NdArray::<f64>::zeros(&[{n}])"), usage(&u64_));
    let (b, u32_) = measure(|| NdArray::<f32>::zeros(&[n]));
    row(&format!("NdArray::<f32>::zeros(&[{n}])"), usage(&u32_));
    let (l, u8_) = measure(|| vec![0.0f64; n]);
    row(&format!("vec![0.0f64; {n}] (for comparison)"), usage(&u8_));
    drop(l);
    note(format!(
        "f32 takes {:.2}x the bytes of f64 for the same {n} elements: {} vs {}",
        u32_.allocated_bytes as f64 / u64_.allocated_bytes as f64,
        bytes(u32_.allocated_bytes),
        bytes(u64_.allocated_bytes)
    ));
    note(format!(
        "one block each, first element 64-byte aligned: {} / {}; a.nbytes() = {}",
        a.flags().aligned,
        b.flags().aligned,
        bytes(a.nbytes() as u64)
    ));
}
