//! A program whose exit report shows each shape of the text report with known figures (read by
//! `tests/report_text.rs`): the owner of a peak freed before exit, 100 000 temporaries, a `Vec`
//! made in one function and grown in another, one helper reached from two callers (merged when
//! `frames=1`), and blocks made under std's iterator adapters (folded).

use std::hint::black_box;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

/// Held until exit: reachable, so none of this leaks.
static KEEP: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// 10 000 000 bytes in one block, freed at once: the heap's peak (everything else is far smaller).
#[inline(never)]
fn peak_owner() {
    let big = black_box(vec![1u8; 10_000_000]);
    drop(big);
}

/// 100 000 blocks of 64 bytes, each freed before this thread allocates again: temporaries.
#[inline(never)]
fn temporaries() {
    for i in 0..100_000u32 {
        let v = black_box(vec![i as u8; 64]);
        drop(v);
    }
}

/// A vector made here with room for 4 bytes...
#[inline(never)]
fn make_small() -> Vec<u8> {
    Vec::with_capacity(4)
}

/// ... and grown here to 100 000 bytes.
#[inline(never)]
fn grow(v: &mut Vec<u8>) {
    for i in 0..100_000u32 {
        v.push(i as u8);
    }
}

/// One allocation of `n` bytes, reached from two callers.
#[inline(never)]
fn helper(n: usize) -> Vec<u8> {
    black_box(vec![7u8; n])
}

#[inline(never)]
fn caller_one() -> Vec<u8> {
    helper(3000)
}

#[inline(never)]
fn caller_two() -> Vec<u8> {
    helper(5000)
}

/// 20 blocks of 30 bytes, made by a closure that std's iterator adapters call.
#[inline(never)]
fn through_iterators() -> Vec<Vec<u8>> {
    (0..20u8).map(|i| black_box(vec![i; 30])).collect()
}

fn main() {
    peak_owner();
    temporaries();
    let mut v = make_small();
    grow(&mut v);
    let mut keep = KEEP.lock().unwrap();
    keep.push(v);
    keep.push(caller_one());
    keep.push(caller_two());
    keep.extend(through_iterators());
}
