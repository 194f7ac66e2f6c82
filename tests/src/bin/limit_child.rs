//! `Tracked<AlignedAlloc>` with `set_limit`: past the budget `try_reserve` errs, the counters stay
//! exact, and raising the limit lets work go on. In a process of its own (run by
//! `tests/tests/limit.rs`): the budget and the live-bytes figures are process-wide, and the test
//! harness's threads would allocate under the budget and move the figures.
//!
//! Figures are collected while the budget is set and asserted after it is lifted, so that the
//! assertions' own formatting is not refused (a panicking thread is exempt from the budget, see
//! `set_limit`, but building an assertion's message happens before the panic starts).

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

fn main() {
    let mut kept: Vec<u8> = Vec::with_capacity(10_000);
    let mut big: Vec<u8> = Vec::new();
    let before = alloc_tracker::stats();
    let budget = before.live_bytes + 50_000;
    alloc_tracker::set_limit(Some(budget));
    let limit_read = alloc_tracker::limit();

    // A fresh allocation past the budget fails, and so does a realloc's growth.
    let fresh_refused = big.try_reserve_exact(60_000).is_err();
    let growth_refused = kept.try_reserve_exact(70_000).is_err(); // +60 000
    let kept_capacity = kept.capacity();
    let refused = alloc_tracker::stats();

    // Within the budget, work goes on; the counters are exact.
    let within_ok = big.try_reserve_exact(30_000).is_ok();
    let within = alloc_tracker::stats();
    let past_refused = kept.try_reserve_exact(35_000).is_err(); // 30 000 + 25 000 > 50 000

    alloc_tracker::set_limit(Some(before.live_bytes + 100_000));
    let raised_ok = kept.try_reserve_exact(35_000).is_ok();
    let raised = alloc_tracker::stats();
    alloc_tracker::set_limit(None);

    assert_eq!(limit_read, Some(budget));
    assert!(fresh_refused, "a fresh block past the budget");
    assert!(growth_refused, "a realloc's growth past the budget");
    assert_eq!(
        kept_capacity, 10_000,
        "a failed realloc keeps the old block"
    );
    assert_eq!(
        refused.live_bytes, before.live_bytes,
        "refusals count nothing"
    );
    assert_eq!(refused.total_blocks, before.total_blocks);
    assert!(within_ok);
    assert_eq!(within.live_bytes, before.live_bytes + 30_000);
    assert!(past_refused);
    assert!(raised_ok);
    assert_eq!(kept.capacity(), 35_000);
    assert_eq!(raised.live_bytes, before.live_bytes + 30_000 + 25_000);
    assert_eq!(alloc_tracker::limit(), None);
    drop((big, kept));
    assert_eq!(
        alloc_tracker::stats().live_bytes,
        before.live_bytes - 10_000
    );
    println!("budget checks passed");
}
