//! Results compared with NumPy's own: sums (widened integers, pairwise floats on strided layouts),
//! floor division, and error messages. The expected values are `.npy` files and text written by
//! `fixtures/make_fixtures.py` with NumPy 2.4; the last test re-runs that script and checks the
//! committed files are still what NumPy produces.

use std::path::{Path, PathBuf};

use demo_arrays::{NdArray, Num, npy, s};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rel(v: f64, exact: f64) -> f64 {
    (v - exact).abs() / exact.abs()
}

#[test]
fn float32_sums_over_strided_views_and_short_rows_are_pairwise_accurate() {
    let numpy = npy::load::<f32>(fixture("numpy_sum_f4.npy"))
        .unwrap()
        .to_vec();
    let x = NdArray::<f32>::from_elem(&[10_000_000], 0.1);
    let b = NdArray::<f32>::from_elem(&[5_000_000, 2], 0.1);
    // The exact sum of the 5 M stored values (0.1f32 is 0.100000001490116…).
    let exact = 5_000_000.0 * 0.1f32 as f64;
    let strided = x.slice(&s![..;2]).sum();
    let lane = b.slice(&s![.., ..1]).sum();
    // Before: relative errors 1.5e-3 (strided) and 4.3e-2 (one-element rows); NumPy: 1.1e-7.
    for (what, ours, np) in [
        ("a[::2].sum()", strided, numpy[0]),
        ("b[:, :1].sum()", lane, numpy[1]),
    ] {
        let (e, enp) = (rel(ours as f64, exact), rel(np as f64, exact));
        println!("{what}: demo-arrays {ours} (rel. error {e:.1e}), NumPy {np} ({enp:.1e})");
        assert!(e <= 1e-6, "{what}: {ours}, relative error {e:.1e}");
        assert!(
            enp <= 1e-6,
            "the fixture's NumPy sum {np} is not what NumPy gives"
        );
    }
    // Reversed, transposed and broadcast layouts take the same blocked path.
    let t = b.t();
    assert!(rel(t.slice(&s![..1, ..;-1]).sum() as f64, exact) <= 1e-6);
    let one = NdArray::<f32>::from_elem(&[1], 0.1);
    let wide = one.broadcast(&[2_500_000, 2]).unwrap();
    assert!(rel(wide.sum() as f64, exact) <= 1e-6);
}

#[test]
fn integer_and_bool_sums_widen_like_numpy() {
    let signed = npy::load::<i64>(fixture("numpy_sum_i8.npy"))
        .unwrap()
        .to_vec();
    let unsigned = npy::load::<u64>(fixture("numpy_sum_u8.npy"))
        .unwrap()
        .to_vec();
    // Before: -96 (100 000 int8 ones wrapped in int8) and 64 (1000 × 200 in uint8).
    let ones: i64 = NdArray::<i8>::from_elem(&[100_000], 1).sum();
    assert_eq!(ones, signed[0]);
    assert_eq!(NdArray::<i8>::from_elem(&[1000], -128).sum(), signed[1]);
    let m = NdArray::<i16>::arange(1000).into_shape(&[10, 100]).unwrap();
    assert_eq!(m.slice(&s![.., ..;3]).sum(), signed[2]);
    let mask = NdArray::<i64>::arange(1000).map(|x| x % 3 == 0);
    assert_eq!(mask.sum(), signed[3]);
    assert_eq!(mask.mean(), 334.0 / 1000.0);
    let twohundred: u64 = NdArray::<u8>::from_elem(&[1000], 200).sum();
    assert_eq!(twohundred, unsigned[0]);
    let big = NdArray::<u16>::from_elem(&[40, 50], u16::MAX);
    assert_eq!(big.t().sum(), unsigned[1]);
}

/// Checks `T::floor_div` (and the array method) against NumPy's `a // b` table in `name`, bit for
/// bit (NaN matches NaN; the sign of a zero counts).
fn check_floor_div<T: Num + demo_arrays::Element>(name: &str, same: impl Fn(T, T) -> bool) {
    let t = npy::load::<T>(fixture(name)).unwrap();
    let (a, b, want) = (t.slice(&s![0]), t.slice(&s![1]), t.slice(&s![2]));
    let got = a.floor_div(&b);
    for (i, ((&x, &y), (&w, &g))) in a
        .iter()
        .zip(b.iter())
        .zip(want.iter().zip(got.iter()))
        .enumerate()
    {
        assert!(
            same(g, w),
            "{name}[{i}]: {x:?} // {y:?} = {g:?}, NumPy {w:?}"
        );
    }
}

#[test]
fn floor_div_matches_numpy_including_negatives_and_zero() {
    check_floor_div::<i8>("numpy_floordiv_i1.npy", |a, b| a == b);
    check_floor_div::<i64>("numpy_floordiv_i8.npy", |a, b| a == b);
    check_floor_div::<u8>("numpy_floordiv_u1.npy", |a, b| a == b);
    check_floor_div::<f64>("numpy_floordiv_f8.npy", |a, b| {
        a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
    });
    check_floor_div::<f32>("numpy_floordiv_f4.npy", |a, b| {
        a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
    });
    // `/` stays Rust's truncating division, and never panics on zero.
    let a = NdArray::<i32>::from_vec(&[4], vec![-7, 7, i32::MIN, 5]).unwrap();
    let b = NdArray::<i32>::from_vec(&[4], vec![2, -2, -1, 0]).unwrap();
    assert_eq!((&a / &b).to_vec(), vec![-3, -3, i32::MIN, 0]);
    assert_eq!(a.floor_div(&b).to_vec(), vec![-4, -4, i32::MIN, 0]);
    assert_eq!(a.floor_div_scalar(-2).to_vec(), vec![3, -4, 1 << 30, -3]);
    assert_eq!((&a / 0).to_vec(), vec![0; 4]);
}

#[test]
fn take_errors_read_as_numpy() {
    let want = std::fs::read_to_string(fixture("numpy_errors.txt")).unwrap();
    let want: Vec<&str> = want.lines().collect();
    let a = NdArray::<f64>::arange(6).into_shape(&[2, 3]).unwrap();
    let got = [
        a.take(2, &[0]).unwrap_err().to_string(),
        a.take(0, &[5]).unwrap_err().to_string(),
        a.take(1, &[-4]).unwrap_err().to_string(),
    ];
    assert_eq!(got.as_slice(), want.as_slice());
}

/// Re-runs `make_fixtures.py` into a temporary directory and checks every committed fixture is
/// byte-identical to what NumPy writes now. Needs `python3` with NumPy (`pip install numpy`).
#[test]
fn committed_fixtures_are_what_numpy_writes() {
    let out = std::env::temp_dir().join(format!("demo-arrays-fixtures-{}", std::process::id()));
    let run = std::process::Command::new("python3")
        .arg(fixture("make_fixtures.py"))
        .arg(&out)
        .output();
    let run = match run {
        Ok(r) => r,
        Err(e) => panic!("cannot run python3 ({e}); this test needs python3 with NumPy"),
    };
    assert!(
        run.status.success(),
        "make_fixtures.py failed (needs NumPy: pip install numpy):\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut compared = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let committed = std::fs::read(fixture(&name))
            .unwrap_or_else(|e| panic!("{name} is written by the script but not committed: {e}"));
        assert!(
            std::fs::read(&p).unwrap() == committed,
            "{name}: NumPy now writes different bytes"
        );
        compared += 1;
    }
    std::fs::remove_dir_all(&out).unwrap();
    assert!(compared >= 30, "only {compared} files compared");
}
