//! Comparisons, `any`/`all`, `where_`, `assign_where`, and `sqrt`/`exp`/`abs`/`clip` (plain,
//! in place and fused), compared with NumPy's answers in `fixtures/` (written by
//! `fixtures/make_fixtures.py`; `numpy_semantics.rs` checks they are what NumPy writes today).

use std::path::{Path, PathBuf};

use demo_arrays::fused::scalar;
use demo_arrays::{ArrayError, NdArray, lazy, lazy_where, npy, s, where_};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load<T: demo_arrays::Element>(name: &str) -> NdArray<T> {
    npy::load::<T>(fixture(name)).unwrap()
}

/// `c` and `r` of the fixture script.
fn c_and_r() -> (NdArray<f64>, NdArray<f64>) {
    let c = NdArray::from_vec(&[2, 3], vec![0.5, f64::NAN, -1.0, 2.0, 0.5, -0.0]).unwrap();
    let r = NdArray::from_vec(&[3], vec![0.5, 1.0, 0.0]).unwrap();
    (c, r)
}

/// Bit-for-bit equality of floats, NaN matching NaN.
fn same_bits<T: demo_arrays::Float + Into<f64>>(got: &[T], want: &[T]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(&g, &w)| {
            let (g, w): (f64, f64) = (g.into(), w.into());
            g.to_bits() == w.to_bits() || g.is_nan() && w.is_nan()
        })
}

/// Within one unit in the last place (in `T`'s precision): `exp` is not correctly rounded, and
/// NumPy's SIMD `exp` and Rust's `libm` may differ by one ulp (they do for `float32` here).
fn within_one_ulp(got: &[f32], want: &[f32]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(&g, &w)| {
            g.to_bits() == w.to_bits()
                || g.is_nan() && w.is_nan()
                || g.is_finite() && w.is_finite() && g.to_bits().abs_diff(w.to_bits()) <= 1
        })
}

/// [`within_one_ulp`] for `f64`.
fn within_one_ulp_f64(got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(&g, &w)| {
            g.to_bits() == w.to_bits()
                || g.is_nan() && w.is_nan()
                || g.is_finite() && w.is_finite() && g.to_bits().abs_diff(w.to_bits()) <= 1
        })
}

#[test]
fn comparisons_broadcast_and_treat_nan_as_numpy() {
    let (c, r) = c_and_r();
    let want = load::<bool>("numpy_compare.npy");
    let got = [
        c.eq(&r),
        c.ne(&r),
        c.lt(&r),
        c.le(&r),
        c.gt(&r),
        c.ge(&r),
        c.eq(0.5),
        c.ne(0.5),
        c.lt(0.5),
        c.le(0.0),
        c.gt(-1.0),
        c.ge(0.5),
    ];
    for (k, g) in got.into_iter().enumerate() {
        let g = g.unwrap();
        assert_eq!(g.shape(), &[2, 3]);
        assert_eq!(
            g.to_vec(),
            want.slice(&s![k as isize]).to_vec(),
            "comparison {k}"
        );
    }
    // Any layout on either side; the left side may broadcast too.
    let ct = c.t();
    assert_eq!(
        r.view()
            .expand_dims(1)
            .unwrap()
            .lt(ct)
            .unwrap()
            .t()
            .to_vec(),
        c.gt(&r).unwrap().to_vec()
    );
    let e = c.lt(NdArray::<f64>::zeros(&[2])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "operands could not be broadcast together with shapes (2, 3) (2,)"
    );
    let ints = NdArray::<i32>::arange(5);
    assert_eq!(
        ints.ge(2).unwrap().to_vec(),
        vec![false, false, true, true, true]
    );
}

#[test]
fn any_all_and_counting_match_numpy() {
    let (c, _) = c_and_r();
    let want = load::<bool>("numpy_any_all.npy").to_vec();
    let empty = NdArray::<f64>::zeros(&[0]);
    let mut got = vec![
        c.any(),
        c.all(),
        c.gt(5.0).unwrap().any(),
        c.eq(&c).unwrap().all(),
        empty.any(),
        empty.all(),
        NdArray::from_elem(&[1], f64::NAN).all(),
        NdArray::from_elem(&[1], -0.0f64).any(),
    ];
    got.extend(c.any_axis(0).unwrap().iter());
    got.extend(c.gt(0.0).unwrap().all_axis(1).unwrap().iter());
    got.extend(c.gt(0.0).unwrap().t().any_axis(0).unwrap().iter());
    assert_eq!(got, want);
    // `sum` of a mask counts its `true`s, as NumPy's `(c > 0).sum()`.
    assert_eq!(c.gt(0.0).unwrap().sum(), 3);
    assert!(c.any_axis(2).is_err());
}

#[test]
fn where_and_assign_where_match_numpy() {
    let (c, r) = c_and_r();
    let want = load::<f64>("numpy_where.npy");
    let r10 = &r * 10.0;
    let a = where_(c.gt(0.0).unwrap(), &c, &r10).unwrap();
    let b = where_(r.gt(0.0).unwrap(), 7.0, &c).unwrap();
    assert!(same_bits(&a.to_vec(), &want.slice(&s![0]).to_vec()));
    assert!(same_bits(&b.to_vec(), &want.slice(&s![1]).to_vec()));
    // Fused, with the row and the mask broadcast explicitly first (a view of the full shape).
    let pos = c.gt(0.0).unwrap();
    let r10b = r10.broadcast(&[2, 3]).unwrap();
    let fa = lazy_where(&pos, lazy(&c) * 1.0, lazy(&r10b))
        .eval()
        .unwrap();
    assert!(same_bits(&fa.to_vec(), &want.slice(&s![0]).to_vec()));
    let rpos = r.gt(0.0).unwrap();
    let rpos = rpos.broadcast(&[2, 3]).unwrap();
    let fb = lazy_where(&rpos, scalar(7.0), lazy(&c)).eval().unwrap();
    assert!(same_bits(&fb.to_vec(), &want.slice(&s![1]).to_vec()));
    let mut into = NdArray::<f64>::zeros(&[2, 3]);
    lazy_where(&pos, lazy(&c), scalar(0.0))
        .eval_into(&mut into.view_mut().reversed_axes().reversed_axes())
        .unwrap();
    assert_eq!(into.to_vec(), where_(&pos, &c, 0.0).unwrap().to_vec());
    // Operands broadcast inside the expression too: the (3,) row against the (2, 3) mask.
    assert_eq!(
        lazy_where(&rpos, lazy(&r), scalar(0.0))
            .eval()
            .unwrap()
            .to_vec(),
        where_(rpos, &r, 0.0).unwrap().to_vec()
    );
    assert_eq!(
        lazy_where(&pos, lazy(&NdArray::<f64>::zeros(&[2])), scalar(0.0))
            .eval()
            .unwrap_err()
            .to_string(),
        "operands could not be broadcast together with shapes (2, 3) (2,)"
    );
    let mut d = c.clone();
    let mask = d.lt(0.0).unwrap();
    d.assign_where(&mask, 0.0).unwrap();
    let rows = NdArray::from_vec(&[3], vec![9.0, 8.0, 7.0]).unwrap();
    let cols = NdArray::from_vec(&[3], vec![true, false, true]).unwrap();
    d.assign_where(&cols, &rows).unwrap();
    assert!(same_bits(
        &d.to_vec(),
        &load::<f64>("numpy_assign_where.npy").to_vec()
    ));
    // In place through a strided view.
    let mut e = c.clone();
    e.slice_mut(&s![.., ..;2]).assign_where(true, -5.0).unwrap();
    assert_eq!(e[[1, 2]], -5.0);
    // NumPy names all three shapes; it writes them without spaces (and a trailing space).
    let want = std::fs::read_to_string(fixture("numpy_errors_shapes.txt")).unwrap();
    let np_where = want.lines().last().unwrap();
    let err = where_(
        NdArray::<bool>::zeros(&[2]),
        NdArray::<f64>::zeros(&[3]),
        0.0,
    )
    .unwrap_err();
    assert_eq!(err.to_string().replace(", ", ","), np_where.trim_end());
    let err = d
        .assign_where(NdArray::<bool>::zeros(&[2]), 0.0)
        .unwrap_err();
    assert!(matches!(err, ArrayError::ShapeMismatch { .. }), "{err}");
}

#[test]
fn sqrt_exp_abs_clip_match_numpy_in_every_form() {
    let v = NdArray::<f64>::from_vec(
        &[11],
        vec![
            -2.5,
            -1.0,
            -0.0,
            0.0,
            0.25,
            2.0,
            1e300,
            710.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ],
    )
    .unwrap();
    let want = load::<f64>("numpy_math_f8.npy");
    let row = |k: isize| want.slice(&s![k]).to_vec();
    let got = [
        v.sqrt(),
        v.exp(),
        v.abs(),
        v.clip(-1.0, 2.0),
        v.clip(2.0, -1.0),
        v.clip(f64::NAN, 1.0),
        v.clip(0.0, 1.0),
    ];
    for (k, g) in got.iter().enumerate() {
        let close = if k == 1 {
            within_one_ulp_f64
        } else {
            same_bits::<f64>
        };
        assert!(
            close(&g.to_vec(), &row(k as isize)),
            "row {k}: {:?} vs NumPy {:?}",
            g.to_vec(),
            row(k as isize)
        );
    }
    // In place, and fused into one pass, give the same bits.
    let mut w = v.clone();
    w.sqrt_inplace();
    assert!(same_bits(&w.to_vec(), &row(0)));
    let mut w = v.clone();
    w.exp_inplace();
    assert!(within_one_ulp_f64(&w.to_vec(), &row(1)));
    let mut w = v.clone();
    w.abs_inplace();
    assert!(same_bits(&w.to_vec(), &row(2)));
    let mut w = v.clone();
    w.clip_inplace(-1.0, 2.0);
    assert!(same_bits(&w.to_vec(), &row(3)));
    let fused = [
        (lazy(&v) * 1.0).sqrt().eval().unwrap(),
        (lazy(&v) + 0.0).exp().eval().unwrap(),
        lazy(&v).abs().eval().unwrap(),
        lazy(&v).clip(-1.0, 2.0).eval().unwrap(),
    ];
    for (k, g) in fused.iter().enumerate() {
        let close = if k == 1 {
            within_one_ulp_f64
        } else {
            same_bits::<f64>
        };
        assert!(close(&g.to_vec(), &row(k as isize)), "fused row {k}");
    }
    // float32 in its own precision: exact, but for `exp` (one ulp).
    let v32 = v.astype::<f32>();
    let want = load::<f32>("numpy_math_f4.npy");
    assert!(within_one_ulp(
        &v32.exp().to_vec(),
        &want.slice(&s![1]).to_vec()
    ));
    let got = [v32.sqrt(), v32.exp(), v32.abs(), v32.clip(-1.0, 2.0)];
    for (k, g) in got.iter().enumerate().filter(|&(k, _)| k != 1) {
        assert!(
            same_bits(&g.to_vec(), &want.slice(&s![k as isize]).to_vec()),
            "f32 row {k}"
        );
    }
    // Integers: abs wraps at -128, as NumPy's.
    let i = NdArray::<i8>::from_vec(&[5], vec![-128, -5, 0, 7, 127]).unwrap();
    let want = load::<i8>("numpy_math_i1.npy");
    assert_eq!(i.abs().to_vec(), want.slice(&s![0]).to_vec());
    assert_eq!(i.clip(-5, 100).to_vec(), want.slice(&s![1]).to_vec());
    // A strided view in place.
    let mut m = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap() - 6.0;
    m.slice_mut(&s![.., ..;-3]).abs_inplace();
    assert_eq!(m.to_vec()[..4], [6.0, -5.0, -4.0, 3.0]);
}

/// `m`, `row` and `col` of the fixture script's fused-broadcast section.
fn fused_operands() -> (NdArray<f64>, NdArray<f64>, NdArray<f64>) {
    let m = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap() / 4.0 - 1.0;
    let row = NdArray::from_vec(&[4], vec![0.5, -1.0, 2.0, 0.25]).unwrap();
    let col = NdArray::from_vec(&[3, 1], vec![1.0, -2.0, 0.5]).unwrap();
    (m, row, col)
}

#[test]
fn fused_expressions_broadcast_as_numpy() {
    let want = load::<f64>("numpy_fused_broadcast.npy");
    let (m, row, col) = fused_operands();
    let (rm, rrow, rcol) = (
        m.slice(&s![..;-1]),
        row.slice(&s![..;-1]),
        col.slice(&s![..;-1]),
    );
    let mt = m.t();
    let flipped = mt.slice(&s![..;-1]);
    let got = [
        (lazy(&m) * 2.0 + &row - &col).eval().unwrap(),
        (lazy(&m) * &row + &col).abs().sqrt().eval().unwrap(),
        lazy_where(&row.gt(0.0).unwrap(), lazy(&m) * 2.0 + &row, lazy(&col))
            .eval()
            .unwrap(),
        lazy_where(&col.gt(0.0).unwrap(), lazy(&m), scalar(0.0))
            .eval()
            .unwrap(),
        (lazy(&rm) * 2.0 - &rrow).eval().unwrap(),
        (lazy(&flipped.t()) * &rcol + 7.0).eval().unwrap(),
    ];
    for (k, g) in got.iter().enumerate() {
        assert_eq!(g.shape(), &[3, 4], "case {k}");
        assert!(
            same_bits(&g.to_vec(), &want.slice(&s![k as isize]).to_vec()),
            "case {k}: {:?}",
            g.to_vec()
        );
    }
    // Into an existing array (a strided view), the operands broadcast to its shape as NumPy's
    // `np.add(m * 2, row, out=o)`; an `out` they do not broadcast to is an error.
    let mut o = NdArray::<f64>::zeros(&[3, 8]);
    (lazy(&m) * 2.0 + &row - &col)
        .eval_into(&mut o.slice_mut(&s![.., ..;2]))
        .unwrap();
    assert!(same_bits(
        &o.slice(&s![.., ..;2]).to_vec(),
        &want.slice(&s![0]).to_vec()
    ));
    let mut wide = NdArray::<f64>::zeros(&[2, 3, 4]);
    (lazy(&row) - &col).eval_into(&mut wide).unwrap();
    assert_eq!(
        wide.slice(&s![1]).to_vec(),
        (&row - &col).to_vec(),
        "broadcast up to out's extra axis"
    );
    let e = (lazy(&m) + &row)
        .eval_into(&mut NdArray::<f64>::zeros(&[4]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot evaluate an expression into an array with shapes (3, 4) (4,)"
    );
}
