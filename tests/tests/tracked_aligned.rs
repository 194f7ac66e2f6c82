//! `Tracked<AlignedAlloc>`: attribution, measure, realloc, re-entrancy, thread-local destructors.

use integration_tests::checks;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<alloc_core::AlignedAlloc> =
    alloc_tracker::Tracked::new(alloc_core::AlignedAlloc::new());

#[test]
fn attribution() {
    checks::attribution();
}

#[test]
fn measure_figures() {
    checks::measure_figures();
}

#[test]
fn realloc_attribution() {
    checks::realloc_attribution();
}

#[test]
fn report_generation_allocates_untracked() {
    checks::report_allocates_untracked();
}

#[test]
fn thread_local_destructors_are_tracked() {
    checks::thread_local_destructors();
}

#[test]
fn blocks_keep_the_inner_allocators_alignment() {
    let v = vec![0f64; 1024];
    assert_eq!(v.as_ptr() as usize % alloc_core::SIMD_ALIGN, 0);
}

#[test]
fn churn_counts_match_the_threads_own() {
    checks::churn(7, 20_000, 1 << 16);
}
