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

mod model {
    use integration_tests::checks::{Op, run_program};
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..100_000).prop_map(Op::Alloc),
            (any::<usize>(), 1usize..100_000).prop_map(|(i, s)| Op::Realloc(i, s)),
            any::<usize>().prop_map(Op::Free),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Random alloc / realloc / free programs: the tracker's figures equal a model's.
        #[test]
        fn programs_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
            run_program(&ops);
        }
    }
}
