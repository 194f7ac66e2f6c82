//! Allocation failure for real: with `alloc_tracker::set_limit` the global allocator returns null,
//! and `try_zeros`, `try_to_owned` and `npy::load` return NumPy's out-of-memory message instead of
//! aborting. One test per file: the limit is process-wide.

use alloc_tracker::{Tracked, set_limit, stats};
use demo_arrays::{ArrayError, NdArray, npy};

#[global_allocator]
static GLOBAL: Tracked<alloc_core::AlignedAlloc> = Tracked::new(alloc_core::AlignedAlloc::new());

#[test]
fn allocator_null_becomes_numpy_style_error() {
    let a = NdArray::<f64>::arange(1 << 20); // 8 MiB
    let path = std::env::temp_dir().join(format!("demo-arrays-oom-{}.npy", std::process::id()));
    npy::save(&path, &a).unwrap();
    set_limit(Some(stats().live_bytes + (1 << 20)));
    let e = NdArray::<f64>::try_zeros(&[100_000, 100_000]).unwrap_err();
    let e2 = a.try_to_owned().unwrap_err();
    let e3 = npy::load::<f64>(&path).unwrap_err();
    let small = NdArray::<f64>::try_zeros(&[1000]).map(|z| z.len());
    set_limit(None);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(e, ArrayError::OutOfMemory { .. }));
    assert_eq!(
        e.to_string(),
        "unable to allocate 74.5 GiB for an array with shape (100000, 100000) and data type float64"
    );
    assert_eq!(
        e2.to_string(),
        "unable to allocate 8.00 MiB for an array with shape (1048576,) and data type float64"
    );
    assert_eq!(e3.to_string(), e2.to_string());
    assert_eq!(
        small.unwrap(),
        1000,
        "small allocations under the budget still succeed"
    );
}
