//! The tracker's own memory per live block (`stats().overhead_bytes`), as documented in
//! `alloc-tracker`'s crate docs: an 8-byte word (callsite, size, flag) per small block in its
//! page's table (at most 3/4 full), and a 40-byte directory entry per page for blocks of a page or
//! more. Measured here (`cargo test -p integration-tests --test overhead -- --nocapture`): 16.0 B
//! per 32-byte block, 78 B per 8 KiB block (8.1 B and 58 to 62 B before the block sizes were
//! stored, for the reachability scan). Alone in its test binary: the overhead figure is
//! process-wide.

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

/// Overhead bytes per block while `n` blocks of `size` bytes are live.
fn overhead_per_block(n: usize, size: usize) -> f64 {
    let mut blocks: Vec<Box<[u8]>> = Vec::with_capacity(n);
    let before = alloc_tracker::stats().overhead_bytes;
    for i in 0..n {
        blocks.push(vec![i as u8; size].into_boxed_slice());
    }
    let after = alloc_tracker::stats().overhead_bytes;
    assert!(alloc_tracker::stats().live_blocks as usize >= n);
    drop(blocks);
    (after as f64 - before as f64) / n as f64
}

#[test]
fn block_map_bytes_per_live_block() {
    // Warm up: the callsite records and the first tables.
    overhead_per_block(10_000, 32);
    // Large first: the directory grows to its size then, and is not shrunk by the small run.
    let large = overhead_per_block(20_000, 8192);
    let small = overhead_per_block(400_000, 32);
    eprintln!("overhead per block: 32 B blocks {small:.1} B, 8 KiB blocks {large:.1} B");
    assert!(
        small > 8.0 && small <= 20.0,
        "32-byte blocks: {small:.1} B each"
    );
    assert!(
        large > 20.0 && large <= 90.0,
        "8 KiB blocks: {large:.1} B each"
    );
}
