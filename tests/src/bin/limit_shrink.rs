//! A budget below live bytes: reallocs that do not grow (`Vec::shrink_to_fit`,
//! `Vec::into_boxed_slice`) still succeed and give their bytes back; then an infallible
//! allocation past the budget aborts, and the tracker's line on stderr says it was the budget.
//! Run by `tests/tests/limit_shrink.rs`.
//!
//! Figures are collected while the budget is set and printed after it is lifted: printing
//! allocates stdout's buffer, which the budget would refuse.

use std::io::Write;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

/// The size of the infallible allocation that the budget refuses.
const BIG: usize = 3_000_000;

fn main() {
    let mut bytes: Vec<u8> = Vec::with_capacity(200_000);
    bytes.extend(std::iter::repeat_n(1u8, 1_000));
    let mut words: Vec<u64> = Vec::with_capacity(10_000);
    words.push(7);
    let before = alloc_tracker::stats().live_bytes;
    // Well below what is live: as after a low `set_limit`, or a budget a panicking thread passed.
    let budget = before / 2;
    alloc_tracker::set_limit(Some(budget));

    bytes.shrink_to_fit(); // realloc 200 000 -> 1 000 bytes
    let after_shrink = alloc_tracker::stats().live_bytes;
    let boxed = words.into_boxed_slice(); // realloc 80 000 -> 8 bytes
    let after_box = alloc_tracker::stats().live_bytes;

    alloc_tracker::set_limit(None);
    println!(
        "shrink_to_fit: capacity {}, live -{}",
        bytes.capacity(),
        before - after_shrink
    );
    println!(
        "into_boxed_slice: len {}, live -{}",
        boxed.len(),
        after_shrink - after_box
    );
    let live = alloc_tracker::stats().live_bytes;
    let budget = live + 1_000_000;
    println!("budget {budget}, allocating {BIG} bytes");
    std::io::stdout().flush().unwrap();

    alloc_tracker::set_limit(Some(budget));
    // Infallible: the refusal reaches `handle_alloc_error`, which aborts.
    let big = std::hint::black_box(vec![1u8; BIG]);
    alloc_tracker::set_limit(None);
    println!("not refused: {}", big.len());
}
