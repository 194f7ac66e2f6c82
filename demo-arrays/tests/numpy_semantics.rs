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

fn load_f64(name: &str) -> NdArray<f64> {
    npy::load::<f64>(fixture(name)).unwrap()
}

#[test]
fn axis_reductions_match_numpy() {
    let m = NdArray::<f64>::arange(24).into_shape(&[2, 3, 4]).unwrap() / 4.0 - 2.0;
    let same = |a: NdArray<f64>, name: &str| {
        let want = load_f64(name);
        assert_eq!(a.shape(), want.shape(), "{name}");
        assert_eq!(a.to_vec(), want.to_vec(), "{name}");
    };
    same(m.sum_axis(0).unwrap(), "numpy_axis_sum0.npy");
    same(m.t().sum_axis(2).unwrap(), "numpy_axis_sum2_T.npy");
    same(
        m.slice(&s![.., ..;-1, ..;2]).mean_axis(1).unwrap(),
        "numpy_axis_mean1.npy",
    );
    same(m.min_axis(1).unwrap(), "numpy_axis_min1.npy");
    same(m.t().max_axis(2).unwrap(), "numpy_axis_max2.npy");
    let i8s = NdArray::<i8>::from_vec(&[2, 3], vec![100, -128, 7, 127, 127, -1]).unwrap();
    let want = npy::load::<i64>(fixture("numpy_axis_sum_i1.npy")).unwrap();
    assert_eq!(i8s.sum_axis(0).unwrap().to_vec(), want.to_vec());
    let want = npy::load::<i64>(fixture("numpy_cumsum_i1.npy")).unwrap();
    assert_eq!(i8s.t().cumsum().to_vec(), want.to_vec());
    assert!(
        m.sum_axis(3).unwrap_err().to_string()
            == "axis 3 is out of bounds for array of dimension 3"
    );
    assert!(NdArray::<f64>::zeros(&[0, 2]).min_axis(0).is_err());
    assert_eq!(
        NdArray::<f64>::zeros(&[0, 2]).sum_axis(0).unwrap().to_vec(),
        vec![0.0, 0.0]
    );
    // Pairwise along a long strided axis: 5 M f32 0.1 down axis 0 of a (5 M, 2) array.
    let b = NdArray::<f32>::from_elem(&[5_000_000, 2], 0.1);
    let exact = 5_000_000.0 * 0.1f32 as f64;
    for s in b.sum_axis(0).unwrap().iter() {
        assert!(rel(*s as f64, exact) <= 1e-6, "{s}");
    }
}

#[test]
fn argmax_negation_and_allclose_match_numpy() {
    let want = npy::load::<i64>(fixture("numpy_arg.npy")).unwrap().to_vec();
    let arg = NdArray::<f64>::from_vec(&[2, 3], vec![3.0, 9.0, 1.0, 9.0, f64::NAN, 1.0]).unwrap();
    let m = NdArray::<f64>::arange(24).into_shape(&[2, 3, 4]).unwrap() / 4.0 - 2.0;
    let got = [
        arg.slice(&s![0]).argmax().unwrap(),
        arg.slice(&s![0]).argmin().unwrap(),
        arg.argmax().unwrap(),
        arg.argmin().unwrap(),
        arg.t().argmax().unwrap(),
        m.map(f64::abs).argmin().unwrap(),
    ];
    assert_eq!(got.map(|i| i as i64).to_vec(), want);
    let neg = npy::load::<i64>(fixture("numpy_neg_i1_u1.npy")).unwrap();
    let i8s = NdArray::<i8>::from_vec(&[2, 3], vec![100, -128, 7, 127, 127, -1]).unwrap();
    let u8s = i8s.map(|x| x as u8);
    assert_eq!((-&u8s).astype::<i64>().to_vec(), neg.slice(&s![0]).to_vec());
    assert_eq!((-i8s).astype::<i64>().to_vec(), neg.slice(&s![1]).to_vec());
    let z = -NdArray::<f64>::zeros(&[1]);
    assert!(z.to_vec()[0].is_sign_negative());
    let want = npy::load::<bool>(fixture("numpy_allclose.npy"))
        .unwrap()
        .to_vec();
    let x = NdArray::<f64>::from_vec(
        &[6],
        vec![1.0, 1e10, 1e-8, f64::INFINITY, f64::NEG_INFINITY, 0.0],
    )
    .unwrap();
    let (rtol, atol) = (1e-5, 1e-8);
    let nan = NdArray::<f64>::from_elem(&[1], f64::NAN);
    let got = [
        x.allclose(&(&x + &(&x * 1e-6)), rtol, atol).unwrap(),
        x.allclose(&(&x + 1e-5), rtol, atol).unwrap(),
        x.allclose(&(&x * (1.0 + 2e-5)), rtol, atol).unwrap(),
        nan.allclose(&nan, rtol, atol).unwrap(),
        NdArray::<f64>::from_elem(&[], f64::INFINITY)
            .allclose(
                &NdArray::<f64>::from_elem(&[], f64::NEG_INFINITY),
                rtol,
                atol,
            )
            .unwrap(),
    ];
    assert_eq!(got.to_vec(), want);
    assert!(
        x.allclose(&NdArray::<f64>::zeros(&[2]), rtol, atol)
            .is_err()
    );
    // Scalar on the left, as NumPy's 2.0 * a, 1.0 - a, 1.0 / a.
    let a = NdArray::<f64>::from_vec(&[3], vec![1.0, 2.0, 4.0]).unwrap();
    assert_eq!((2.0 * &a).to_vec(), vec![2.0, 4.0, 8.0]);
    assert_eq!((1.0 - &a).to_vec(), vec![0.0, -1.0, -3.0]);
    assert_eq!((1.0 / a.clone()).to_vec(), vec![1.0, 0.5, 0.25]);
    assert_eq!((10 - &NdArray::<i32>::arange(3)).to_vec(), vec![10, 9, 8]);
}
