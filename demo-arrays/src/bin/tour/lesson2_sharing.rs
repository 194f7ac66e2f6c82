//! Lesson 2: `b = a` in Python binds a second name to the same array; in Rust a borrow or a view does
//! the same, and a move transfers ownership. None of them copies.

use alloc_tracker::measure;
use demo_arrays::{NdArray, may_share_memory};

use super::{Ctx, note, numpy, row, usage};

pub fn run(ctx: &Ctx) {
    let n = ctx.size(10_000_000);
    let a = NdArray::<f64>::arange(n);
    numpy("b = a            # same object, no copy;  np.may_share_memory(a, b) -> True");
    let (r, u) = measure(|| {
        let b = &a;
        b.len()
    });
    row("let b = &a;", usage(&u));
    assert!(r == n);
    let (shared, u) = measure(|| {
        let v = a.view();
        may_share_memory(&a, &v)
    });
    row("let v = a.view();", usage(&u));
    let (moved, u) = measure(move || {
        let c = a; // the buffer changes owner, the bytes stay where they are
        c
    });
    row("let c = a;  (move)", usage(&u));
    let (total, u) = measure(|| total_of(&moved));
    row("fn total(x: &NdArray<f64>) ... total(&c)", usage(&u));
    note(format!(
        "views share memory with their array: {shared}; passing by reference copies nothing (sum {total})"
    ));
    numpy("c = a.copy()     # an explicit copy");
    let (_c2, u) = measure(|| moved.clone());
    row("let c2 = c.clone();", usage(&u));
}

fn total_of(x: &NdArray<f64>) -> f64 {
    x.sum()
}
