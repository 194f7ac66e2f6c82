//! `Tracked<Jemalloc>` (tikv-jemallocator): the same checks over plain jemalloc.

use integration_tests::checks;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<tikv_jemallocator::Jemalloc> =
    alloc_tracker::Tracked::new(tikv_jemallocator::Jemalloc);

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
fn churn_counts_match_the_threads_own() {
    checks::churn(13, 20_000, 1 << 20);
}
