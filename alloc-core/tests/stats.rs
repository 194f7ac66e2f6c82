//! `alloc_core::stats()` in a process of its own: the figures are process-wide, so no other test may
//! allocate while this one reads them.

#[global_allocator]
static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();

mod common;
use common::rss;

/// What the test harness's own threads may allocate or free between two readings.
const SLACK: usize = 1 << 20;

/// The tests of this file read process-wide figures: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn zeroed_blocks_are_not_memset() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const MIB: usize = 1 << 20;
    let before = alloc_core::stats().unwrap();
    let rss_before = rss();
    // vec![0; n] goes through alloc_zeroed: jemalloc knows fresh pages are zero and leaves them
    // untouched, so they are not resident until written.
    let v = vec![0u8; 256 * MIB];
    let during = alloc_core::stats().unwrap();
    let rss_during = rss();
    assert!(
        during.allocated + SLACK >= before.allocated + 256 * MIB,
        "{before:?} -> {during:?}"
    );
    // (jemalloc's own `resident` is an upper bound that counts untouched pages: ask the kernel.)
    assert!(
        rss_during < rss_before + 16 * MIB,
        "a 256 MiB zeroed block made {} MiB resident: it was memset",
        (rss_during - rss_before) / MIB
    );
    assert!(v.iter().step_by(4096).all(|&b| b == 0));
}

#[test]
fn stats_follow_a_100_mib_block() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const MIB: usize = 1 << 20;
    let before = alloc_core::stats().unwrap();
    let mut v: Vec<u8> = Vec::with_capacity(100 * MIB);
    v.resize(100 * MIB, 1);
    let during = alloc_core::stats().unwrap();
    assert!(
        during.allocated + SLACK >= before.allocated + 100 * MIB,
        "{before:?} -> {during:?}"
    );
    assert!(during.active + SLACK >= before.active + 100 * MIB);
    // The 100 MiB just written are resident, and jemalloc counts them there: its `resident`
    // covers every active page. (Not "resident grew by 100 MiB": a block freed before, such as the
    // other test's 256 MiB, leaves dirty pages that jemalloc still counts as resident until its
    // background thread purges them, and this block may reuse them. That made this test fail
    // now and then, depending on the order the tests ran in and on the purge's timing.)
    assert!(
        during.resident >= during.active && during.resident >= 100 * MIB,
        "touched pages are resident: {during:?}"
    );
    assert!(during.mapped >= during.active);
    drop(v);
    let after = alloc_core::stats().unwrap();
    assert!(
        after.allocated + 100 * MIB <= during.allocated + SLACK,
        "{during:?} -> {after:?}"
    );
    assert!(after.active + 100 * MIB <= during.active + SLACK);
}

#[test]
fn large_blocks_take_only_their_class_pages() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const MIB: usize = 1 << 20;
    // 1024 blocks of 40 KiB (one of jemalloc's large classes, over `small::SMALL_MAX`): 40 MiB of
    // active pages. With jemalloc's default `cache_oblivious:true` each would take a page more
    // (44 KiB, 44 MiB in all) for its random start; alloc-core turns that off (config.rs).
    const N: usize = 1024;
    const SIZE: usize = 40 << 10;
    const _: () = assert!(SIZE > alloc_core::small::SMALL_MAX);
    let before = alloc_core::stats().unwrap();
    let blocks: Vec<Vec<u8>> = (0..N).map(|_| Vec::with_capacity(SIZE)).collect();
    let during = alloc_core::stats().unwrap();
    let grew = during.active - before.active;
    assert!(
        grew + SLACK >= N * SIZE && grew <= N * SIZE + SLACK,
        "{N} blocks of {SIZE} bytes made {:.2} MiB active ({:.2} MiB expected): {before:?} -> {during:?}",
        grew as f64 / MIB as f64,
        (N * SIZE) as f64 / MIB as f64
    );
    drop(blocks);
}
