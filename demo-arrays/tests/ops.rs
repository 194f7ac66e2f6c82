//! Arithmetic, reductions, fused expressions, copies and errors: results checked against plain
//! loops over `to_vec()`.

use demo_arrays::{ArrayError, NdArray, lazy, may_share_memory, s};

fn naive_sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

#[test]
fn reductions_match_plain_loops_on_every_layout() {
    for n in [0usize, 1, 31, 32, 33, 4095, 4096, 4097, 100_003] {
        let a = NdArray::<f64>::from_shape_fn(&[n], |i| ((i[0] * 7919) % 1000) as f64 - 500.0);
        let v = a.to_vec();
        assert_eq!(a.sum(), naive_sum(&v), "n={n}");
        if n > 0 {
            assert_eq!(
                a.min().unwrap(),
                v.iter().cloned().fold(f64::INFINITY, f64::min)
            );
            assert_eq!(
                a.max().unwrap(),
                v.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            );
            assert!((a.mean() - naive_sum(&v) / n as f64).abs() < 1e-9);
            // Strided and reversed views take the lane paths.
            let r = a.slice(&s![..;-3]);
            assert_eq!(r.sum(), naive_sum(&r.to_vec()));
            assert_eq!(
                r.max().unwrap(),
                r.to_vec().iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            );
        }
    }
    let m = NdArray::<i32>::arange(600).into_shape(&[20, 30]).unwrap();
    let t = m.t();
    assert_eq!(t.sum(), (0..600).sum::<i64>());
    assert_eq!(
        t.slice(&s![1..;2, ..;-5]).sum(),
        t.slice(&s![1..;2, ..;-5])
            .iter()
            .map(|&x| x as i64)
            .sum::<i64>()
    );
    assert_eq!(m.slice(&s![.., 3]).min().unwrap(), 3);
}

#[test]
fn nan_propagates_and_empty_min_is_an_error() {
    let mut a = NdArray::<f32>::arange(1000);
    a.as_slice_mut().unwrap()[777] = f32::NAN;
    assert!(a.min().unwrap().is_nan() && a.max().unwrap().is_nan() && a.sum().is_nan());
    let e = NdArray::<f64>::zeros(&[0, 3]).min().unwrap_err();
    assert_eq!(
        e.to_string(),
        "zero-size array to reduction operation minimum which has no identity"
    );
    assert!(NdArray::<f64>::zeros(&[0]).mean().is_nan());
}

#[test]
fn integer_arithmetic_wraps_like_numpy() {
    let a = NdArray::<i8>::from_vec(&[3], vec![100, -128, 7]).unwrap();
    assert_eq!((&a + &a).to_vec(), vec![-56, 0, 14]);
    assert_eq!((&a / 0).to_vec(), vec![0, 0, 0]);
    assert_eq!(a.astype::<i64>().sum(), -21);
    // `sum` widens to i64 as NumPy's does: 100 + (-128) + 7 = -21 without wrapping in i8.
    assert_eq!(a.sum(), -21i64);
    let big = NdArray::<i8>::from_elem(&[3], 100);
    assert_eq!(big.sum(), 300i64); // before: 44 (wrapped in i8)
}

#[test]
fn in_place_and_by_value_ops_agree_with_new_arrays() {
    let a = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap();
    let row = NdArray::<f64>::from_vec(&[4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let col = NdArray::<f64>::from_vec(&[3, 1], vec![10.0, 20.0, 30.0]).unwrap();
    let want: Vec<f64> = (0..12)
        .map(|i| (i as f64 * 2.0 + (i % 4 + 1) as f64) - (10 * (i / 4 + 1)) as f64)
        .collect();
    assert_eq!((&(&(&a * 2.0) + &row) - &col).to_vec(), want);
    let mut b = a.clone();
    b.mul_add_assign(2.0, &row);
    b -= &col;
    assert_eq!(b.to_vec(), want);
    let c = a.clone() * 2.0 + &row - &col;
    assert_eq!(c.to_vec(), want);
    // By value with a result shape larger than `self`: falls back to a new array.
    let d = row.clone() + &col;
    assert_eq!(d.shape(), &[3, 4]);
    // In place into a strided mutable view.
    let mut e = NdArray::<f64>::zeros(&[4, 4]);
    let mut v = e.slice_mut(&s![..;2, 1..]);
    v += 1.0;
    assert_eq!(e.sum(), 6.0);
    assert!(
        std::panic::catch_unwind(move || {
            let mut r = NdArray::<f64>::zeros(&[4]);
            r += &NdArray::<f64>::zeros(&[3, 4]);
        })
        .is_err()
    );
}

#[test]
fn fused_expressions_match_and_check_shapes() {
    let a = NdArray::<f32>::arange(1000);
    let b = NdArray::<f32>::from_shape_fn(&[1000], |i| (i[0] % 7) as f32);
    let want = &(&a * 2.0) + &b;
    assert_eq!(
        (lazy(&a) * 2.0 + &b).eval().unwrap().to_vec(),
        want.to_vec()
    );
    // Non-contiguous operands take the blocked lane path.
    let (ar, br) = (a.slice(&s![..;-1]), b.slice(&s![..;-1]));
    let r = (lazy(&ar) * 2.0 + &br - lazy(&ar) / 4.0).eval().unwrap();
    let w: Vec<f32> = ar
        .iter()
        .zip(br.iter())
        .map(|(&x, &y)| x * 2.0 + y - x / 4.0)
        .collect();
    assert_eq!(r.to_vec(), w);
    let mut out = NdArray::<f32>::zeros(&[2000]);
    (lazy(&a) * 2.0 + &b)
        .eval_into(&mut out.slice_mut(&s![..;2]))
        .unwrap();
    assert_eq!(out.slice(&s![..;2]).to_vec(), want.to_vec());
    let e = (lazy(&a) + &NdArray::<f32>::zeros(&[10]))
        .eval()
        .unwrap_err();
    assert!(e.to_string().ends_with("with shapes (1000,) (10,)"), "{e}");
}

#[test]
fn axis0_sums_over_several_column_stripes() {
    // 3000 rows: 94 chunks of 32, a cascade of 8 rows, so stripes of 512 columns: 1200 columns
    // take three (512, 512, 176), and a 3-d array's middle axis one per outer index.
    let (r, k) = (3000usize, 1200usize);
    let ints = NdArray::<i32>::from_shape_fn(&[r, k], |i| {
        ((i[0] * 7919 + i[1] * 31) % 2001) as i32 - 1000
    });
    let got = ints.sum_axis(0).unwrap();
    for j in [0, 1, 511, 512, 513, 1023, 1024, 1199] {
        let want: i64 = (0..r).map(|i| ints[[i, j]] as i64).sum();
        assert_eq!(got[[j]], want, "column {j}");
    }
    let cube = ints.reshape(&[2, 1500, 1200]).unwrap();
    let got = cube.sum_axis(1).unwrap();
    for (o, j) in [(0, 0), (1, 700), (1, 1199)] {
        let want: i64 = (0..1500).map(|i| cube[[o, i, j]] as i64).sum();
        assert_eq!(got[[o, j]], want, "[{o}, {j}]");
    }
    // Floats: each column within 1e-6 of the exact sum (float32 0.1 + a small ramp).
    let f = NdArray::<f32>::from_shape_fn(&[r, k], |i| 0.1 + (i[1] % 7) as f32 * 1e-3);
    for (j, &s) in f.sum_axis(0).unwrap().iter().enumerate() {
        let exact = r as f64 * (0.1f32 + (j % 7) as f32 * 1e-3) as f64;
        assert!(
            ((s as f64 - exact) / exact).abs() <= 1e-6,
            "column {j}: {s} vs {exact}"
        );
    }
}

#[test]
fn contiguous_lane_sums_and_stride_2_gathers_match_plain_loops() {
    // Summed axis of stride 1 (rows summed in place): a 3-d last axis, a view whose rows are
    // further apart than their length, an empty axis, and a 1-d array.
    let cube = NdArray::<i32>::from_shape_fn(&[3, 5, 1100], |i| {
        ((i[0] * 977 + i[1] * 7919 + i[2] * 31) % 2001) as i32 - 1000
    });
    let got = cube.sum_axis(2).unwrap();
    let rows = cube.slice(&s![.., 1..4, 3..1003]);
    let got_rows = rows.sum_axis(2).unwrap();
    for o in 0..3 {
        for r in 0..5 {
            let want: i64 = (0..1100).map(|j| cube[[o, r, j]] as i64).sum();
            assert_eq!(got[[o, r]], want, "[{o}, {r}]");
        }
        for r in 0..3 {
            let want: i64 = (3..1003).map(|j| cube[[o, r + 1, j]] as i64).sum();
            assert_eq!(got_rows[[o, r]], want, "view [{o}, {r}]");
        }
    }
    let empty = cube.slice(&s![.., .., ..0]).sum_axis(2).unwrap();
    assert_eq!(
        (empty.shape(), empty.to_vec()),
        (&[3, 5][..], vec![0i64; 15])
    );
    let flat = cube.reshape(&[16500]).unwrap();
    assert_eq!(flat.sum_axis(0).unwrap().to_vec(), vec![flat.sum()]);
    // Stride 2 (the vectorized gather) and -2, across lanes and block boundaries.
    let v = flat.to_vec();
    for (view, start, step) in [
        (flat.slice(&s![..;2]), 0usize, 2isize),
        (flat.slice(&s![1..;2]), 1, 2),
        (flat.slice(&s![..;-2]), 16499, -2),
    ] {
        let want: i64 = (0..view.len())
            .map(|q| v[(start as isize + q as isize * step) as usize] as i64)
            .sum();
        assert_eq!(view.sum(), want, "start {start} step {step}");
    }
    let cols = cube.reshape(&[8250, 2]).unwrap();
    let want: i64 = v.iter().step_by(2).map(|&x| x as i64).sum();
    assert_eq!(cols.slice(&s![.., ..1]).sum(), want);
}

#[test]
fn fused_broadcast_matches_unfused_on_every_layout() {
    // Lanes shorter and longer than a block (256), operands broadcast along the lane (stride 0),
    // across it, on a middle axis, reversed, transposed and strided; every result equals the
    // unfused expression's (the same operations in the same order, so bit for bit).
    let m = NdArray::<f64>::from_shape_fn(&[5, 7, 600], |i| {
        (i[0] * 7919 + i[1] * 31 + i[2]) as f64 * 0.37 - 400.0
    });
    let cases: Vec<(&str, NdArray<f64>, NdArray<f64>)> = vec![
        (
            "row",
            m.clone(),
            NdArray::from_shape_fn(&[600], |i| i[0] as f64 / 3.0),
        ),
        (
            "column",
            m.clone(),
            NdArray::from_shape_fn(&[5, 7, 1], |i| (i[0] * 7 + i[1]) as f64),
        ),
        (
            "middle",
            m.clone(),
            NdArray::from_shape_fn(&[5, 1, 600], |i| (i[0] + i[2]) as f64),
        ),
        ("scalar-like", m.clone(), NdArray::from_elem(&[1], 2.5)),
        (
            "both",
            NdArray::from_shape_fn(&[5, 1, 600], |i| i[2] as f64),
            { NdArray::from_shape_fn(&[7, 1], |i| i[0] as f64 - 3.0) },
        ),
        (
            "reversed",
            m.slice(&s![..;-1, .., ..;-1]).to_owned(),
            NdArray::arange(600),
        ),
        (
            "short lanes",
            m.reshape(&[10500, 2]).unwrap().to_owned(),
            NdArray::arange(2),
        ),
    ];
    for (name, a, b) in &cases {
        let views = [
            (a.view(), b.view()),
            (a.slice(&s![..;-1]), b.view()),
            (a.view(), b.slice(&s![..;-1])),
        ];
        for (k, (a, b)) in views.iter().enumerate() {
            let want = &(&(a * 2.0) + b) - &(a * b);
            let got = (lazy(a) * 2.0 + b - lazy(a) * b).eval().unwrap();
            assert_eq!(got.shape(), want.shape(), "{name} {k}");
            assert_eq!(got.to_vec(), want.to_vec(), "{name} {k}");
            // The operands in the other order, and into a Fortran-ordered (transposed) output.
            let got = (lazy(b) - a).eval().unwrap();
            assert_eq!(
                got.to_vec(),
                (b - a).to_vec(),
                "{name} {k} reversed operands"
            );
            let mut out =
                NdArray::<f64>::zeros(&want.shape().iter().rev().copied().collect::<Vec<_>>());
            let mut out_t = out.view_mut().reversed_axes();
            (lazy(a) * 2.0 + b - lazy(a) * b)
                .eval_into(&mut out_t)
                .unwrap();
            assert_eq!(
                out.t().to_vec(),
                want.to_vec(),
                "{name} {k} into a transposed array"
            );
        }
    }
    // A transposed operand (strided along the lane) with a broadcast column.
    let t = NdArray::<f32>::from_shape_fn(&[300, 40], |i| (i[0] * 40 + i[1]) as f32 * 0.5);
    let col = NdArray::<f32>::from_shape_fn(&[40, 1], |i| i[0] as f32 + 1.0);
    let got = (lazy(&t.t()) / &col).eval().unwrap();
    assert_eq!(got.to_vec(), (&t.t() / &col).to_vec());
    // Integers, zero dimensions and empty shapes.
    let i = NdArray::<i32>::from_shape_fn(&[3, 4], |i| i[0] as i32 * 10 - i[1] as i32);
    let r = NdArray::<i32>::from_vec(&[4], vec![1, -2, 3, -4]).unwrap();
    assert_eq!(
        (lazy(&i) * &r + 7).eval().unwrap().to_vec(),
        (&(&i * &r) + 7).to_vec()
    );
    let z = NdArray::<f64>::from_elem(&[], 4.0);
    assert_eq!((lazy(&z) * &m).eval().unwrap().to_vec(), (&z * &m).to_vec());
    assert_eq!((lazy(&z) + 1.0).eval().unwrap().to_vec(), vec![5.0]);
    let empty = NdArray::<f64>::zeros(&[0, 600]);
    assert_eq!(
        (lazy(&empty) + &cases[0].2).eval().unwrap().shape(),
        &[0, 600]
    );
}

#[test]
fn copies_do_not_share_memory_and_views_do() {
    let a = NdArray::<f64>::arange(24).into_shape(&[2, 3, 4]).unwrap();
    assert!(may_share_memory(&a, &a.slice(&s![1, .., ..;-1])));
    assert!(may_share_memory(&a, &a.t()));
    let taken = a.take(2, &[3, 0]).unwrap();
    assert_eq!(taken.shape(), &[2, 3, 2]);
    let want: Vec<f64> = (0..2)
        .flat_map(|i| (0..3).flat_map(move |j| [3, 0].map(|k| (i * 12 + j * 4 + k) as f64)))
        .collect();
    assert_eq!(taken.to_vec(), want);
    assert!(!may_share_memory(&a, &taken));
    let m = a.map(|x| x > 11.5);
    assert_eq!(
        a.mask(&m).unwrap().to_vec(),
        (12..24).map(|x| x as f64).collect::<Vec<_>>()
    );
    let t = a.t();
    let r = t.to_shape(&[24]).unwrap();
    assert!(r.is_copy());
    assert_eq!(
        a.t().astype::<i16>().to_vec(),
        a.t().iter().map(|&x| x as i16).collect::<Vec<_>>()
    );
    assert_eq!(
        a.map(|x| x - 12.0)
            .astype::<bool>()
            .iter()
            .filter(|&&b| !b)
            .count(),
        1
    );
    let f = a.flags();
    assert!(f.c_contiguous && f.aligned && f.owns_data && f.writeable);
    let vf = a.slice(&s![.., .., 1..]).flags();
    assert!(!vf.c_contiguous && !vf.aligned && !vf.owns_data && !vf.writeable);
    assert_eq!(
        a.take(0, &[2]).unwrap_err().to_string(),
        "index 2 is out of bounds for axis 0 with size 2"
    );
    assert!(
        a.try_slice(&s![0, 0, 0, 0])
            .unwrap_err()
            .to_string()
            .starts_with("too many indices")
    );
    assert!(a.try_slice(&s![..;0]).is_err());
    assert!(
        a.mask(&NdArray::<bool>::zeros(&[2]))
            .unwrap_err()
            .to_string()
            .contains("(2, 3, 4) (2,)")
    );
}

#[test]
fn out_of_memory_reads_like_numpy_when_the_size_overflows() {
    let e = NdArray::<f64>::try_zeros(&[usize::MAX / 2, 3]).unwrap_err();
    assert!(matches!(e, ArrayError::OutOfMemory { .. }));
    assert!(e.to_string().starts_with("unable to allocate "), "{e}");
    assert!(
        e.to_string().ends_with(
            " EiB for an array with shape (9223372036854775807, 3) and data type float64"
        ),
        "{e}"
    );
    // Fits in usize but not in a Layout (more than isize::MAX bytes).
    let e = NdArray::<f64>::try_zeros(&[1 << 61]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to allocate 16.0 EiB for an array with shape (2305843009213693952,) and data type float64"
    );
    let r = std::panic::catch_unwind(|| NdArray::<u8>::zeros(&[usize::MAX, 2])).unwrap_err();
    assert!(
        r.downcast_ref::<String>()
            .unwrap()
            .starts_with("unable to allocate")
    );
}

#[test]
fn a_view_is_a_fixed_size_value() {
    // dim.rs: shape and strides live inline (MAX_NDIM = 8), so a view is 144 bytes and never
    // allocates; an owned array adds its buffer handle.
    assert_eq!(std::mem::size_of::<demo_arrays::ArrayView<'_, f64>>(), 144);
    assert_eq!(demo_arrays::MAX_NDIM, 8);
}

#[test]
fn extreme_slice_steps_are_results_not_overflow_panics() {
    // Before: debug builds panicked with "attempt to negate with overflow" / "multiply with overflow".
    let a = NdArray::<f64>::arange(5);
    // NumPy: np.arange(5)[::-2**63] -> [4.]; np.arange(5)[::2**63-1] -> [0.]
    assert_eq!(a.try_slice(&s![..;isize::MIN]).unwrap().to_vec(), vec![4.0]);
    assert_eq!(a.try_slice(&s![..;isize::MAX]).unwrap().to_vec(), vec![0.0]);
    let m = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap();
    // stride 4 × step isize::MAX overflows; one row is taken, so it does not matter.
    let v = m.try_slice(&s![..;isize::MAX, ..;isize::MIN]).unwrap();
    assert_eq!((v.shape(), v.to_vec()), (&[1, 1][..], vec![3.0]));
    // NumPy: m[-2**63:2**63-1:-2**63+1, 1] -> [], m[2**63-1:-2**63:-2**63+1, 1] -> [9.]
    let v = m
        .try_slice(&s![isize::MIN..isize::MAX;isize::MIN, 1])
        .unwrap();
    assert_eq!(v.to_vec(), Vec::<f64>::new());
    let v = m
        .try_slice(&s![isize::MAX..isize::MIN;isize::MIN, 1])
        .unwrap();
    assert_eq!(v.to_vec(), vec![9.0]);
    assert!(m.try_slice(&s![isize::MIN]).is_err());
    let mut w = m.clone();
    w.slice_mut(&s![..;isize::MIN, ..;isize::MIN]).fill(-1.0);
    assert_eq!(w.sum(), 66.0 - 11.0 - 1.0);
}

#[test]
fn element_access_by_index_get_and_iter_mut() {
    let mut a = NdArray::<f64>::arange(12).into_shape(&[3, 4]).unwrap();
    assert_eq!(a[[1, 2]], 6.0);
    a[[2, 3]] = -1.0;
    assert_eq!(a.get(&[2, 3]), Some(&-1.0));
    assert_eq!(a.get(&[3, 0]), None);
    assert_eq!(a.get(&[0]), None);
    *a.get_mut(&[0, 0]).unwrap() = 100.0;
    assert!(a.get_mut(&[0, 4]).is_none());
    let t = a.t();
    assert_eq!(t[[3, 2]], -1.0);
    // iter_mut in logical order over a strided, reversed mutable view.
    let mut v = a.slice_mut(&s![..;-1, 1..;2]);
    for (i, x) in v.iter_mut().enumerate() {
        *x = i as f64;
    }
    assert_eq!(
        a.slice(&s![..;-1, 1..;2]).to_vec(),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert_eq!(a[[2, 1]], 0.0);
    let msg = std::panic::catch_unwind(|| a[[3, 0]]).unwrap_err();
    assert_eq!(
        msg.downcast_ref::<String>().unwrap(),
        "index 3 is out of bounds for axis 0 with size 3"
    );
    assert!(std::panic::catch_unwind(|| a[[0]]).is_err());
}

#[test]
fn axis_sums_match_naive_loops_on_every_layout_and_axis() {
    // Tiled (summed axis strided, result's last axis contiguous) and lane-by-lane paths alike.
    for shape in [vec![3usize, 40, 17], vec![600, 3], vec![5, 300], vec![7]] {
        let n: usize = shape.iter().product();
        let a = NdArray::<i32>::from_shape_fn(&[n], |i| (i[0] as i32 * 7919) % 1000 - 500)
            .into_shape(&shape)
            .unwrap();
        let views = [a.view(), a.t(), a.slice(&s![..;-1]), a.slice(&s![1..;2])];
        for v in views {
            for axis in 0..v.ndim() {
                let got = v.sum_axis(axis).unwrap();
                let mut rest: Vec<usize> = v.shape().to_vec();
                rest.remove(axis);
                assert_eq!(got.shape(), rest.as_slice());
                let want = NdArray::<i64>::from_shape_fn(&rest, |idx| {
                    (0..v.shape()[axis])
                        .map(|j| {
                            let mut full = idx.to_vec();
                            full.insert(axis, j);
                            v.get(&full).copied().unwrap() as i64
                        })
                        .sum()
                });
                assert_eq!(got.to_vec(), want.to_vec(), "{:?} axis {axis}", v.strides());
            }
        }
    }
}
