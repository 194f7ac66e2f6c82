//! Lesson 5: a ten-element view of a 100 MB array keeps all 100 MB alive (NumPy's `view.base`); the
//! tracker shows the block live at the base's callsite. `to_owned` copies the ten elements and lets
//! the base go.

use alloc_tracker::{measure, snapshot};
use demo_arrays::{NdArray, SharedArray, s};

use super::{Ctx, bytes, note, numpy, row, usage};

/// Makes the big base: this function is the callsite the tracker reports.
#[inline(never)]
fn load_big_table(n: usize) -> SharedArray<f64> {
    NdArray::<f64>::arange(n).into_shared()
}

pub fn run(ctx: &Ctx) {
    let n = ctx.size(12_500_000); // 100 MB of f64
    numpy(&format!(
        "big = np.arange({n}.); head = big[:10]; del big   # head.base keeps 100 MB alive"
    ));
    let (head, u) = measure(|| {
        let big = load_big_table(n);
        let head = big.clone().slice_move(&s![..10]);
        drop(big);
        head
    });
    row("let head = big.slice_move(&s![..10]); drop(big)", usage(&u));
    row(
        "  still live after drop(big)",
        bytes(u.net_bytes().max(0) as u64),
    );
    note(format!(
        "head has {} elements ({}), but head.base_nbytes() = {}",
        head.len(),
        bytes(head.nbytes() as u64),
        bytes(head.base_nbytes().unwrap_or(0) as u64)
    ));
    // Where is it? The largest live callsite, resolved to frames.
    let mut snap = snapshot();
    snap.sort_by_key_desc(|c| c.live_bytes);
    if let Some(top) = snap.resolve().into_iter().next() {
        note(format!(
            "tracker: largest live callsite holds {} in {} block(s):",
            bytes(top.stats.live_bytes),
            top.stats.live_blocks
        ));
        // Frames from the allocation up to this lesson's function (release builds inline some).
        let frames = super::user_frames(&top.frames);
        let upto = frames
            .iter()
            .position(|f| super::mentions(std::slice::from_ref(f), "lesson5"))
            .map_or(4, |i| i + 1);
        for f in frames.iter().take(upto.min(8)) {
            println!("       {f}");
        }
    }
    numpy("head = big[:10].copy(); del big       # keep the ten, free the rest");
    let (owned, u) = measure(move || {
        let owned = head.to_owned();
        drop(head);
        owned
    });
    row("let owned = head.to_owned(); drop(head)", usage(&u));
    row("  freed", bytes(u.freed_bytes));
    note(format!(
        "net {} after the copy: the 10 elements ({}) stay, the base is gone",
        if u.net_bytes() < 0 {
            format!("-{}", bytes(u.net_bytes().unsigned_abs()))
        } else {
            bytes(u.net_bytes() as u64)
        },
        bytes(owned.nbytes() as u64)
    ));
}
