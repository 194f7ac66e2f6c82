//! `Tracked<System>`: the same checks over the C library's malloc.

use integration_tests::checks;

#[global_allocator]
static GLOBAL: alloc_tracker::Tracked<std::alloc::System> =
    alloc_tracker::Tracked::new(std::alloc::System);

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
    checks::churn(11, 20_000, 1 << 20);
}
