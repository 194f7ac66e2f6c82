//! Leaks 12 345 bytes from a named function with `mem::forget`, then returns from `main`.
//! Run by `tests/exit_report.rs` (also with `ALLOC_TRACKER` variations).

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

/// The function the report must name.
#[inline(never)]
fn leak_some() {
    // `black_box`: in a release build LLVM may remove an allocation that is only forgotten.
    let block = std::hint::black_box(vec![7u8; 12_345]);
    std::mem::forget(block);
}

fn main() {
    let freed: Vec<u64> = (0..1000).collect();
    leak_some();
    println!("leaked; {} numbers freed", freed.len());
}
