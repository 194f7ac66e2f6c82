//! `alloc_core::stats()` in a process of its own: the figures are process-wide, so no other test may
//! allocate while this one reads them.

#[global_allocator]
static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();

#[test]
fn stats_follow_a_100_mib_block() {
    const MIB: usize = 1 << 20;
    let before = alloc_core::stats().unwrap();
    let mut v: Vec<u8> = Vec::with_capacity(100 * MIB);
    v.resize(100 * MIB, 1);
    let during = alloc_core::stats().unwrap();
    assert!(
        during.allocated >= before.allocated + 100 * MIB,
        "{before:?} -> {during:?}"
    );
    assert!(during.active >= before.active + 100 * MIB);
    assert!(
        during.resident >= before.resident + 90 * MIB,
        "touched pages are resident"
    );
    assert!(during.mapped >= during.active);
    drop(v);
    let after = alloc_core::stats().unwrap();
    assert!(
        after.allocated + 100 * MIB <= during.allocated,
        "{during:?} -> {after:?}"
    );
    assert!(after.active + 100 * MIB <= during.active);
}
