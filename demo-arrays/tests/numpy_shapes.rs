//! `-1` in shapes ([`INFER`]), `concatenate`/`stack`, `squeeze`/`expand_dims`, and the `ones`,
//! `eye` and `linspace` constructors, compared with NumPy's answers and error messages in
//! `fixtures/` (written by `fixtures/make_fixtures.py`).

use std::path::{Path, PathBuf};

use demo_arrays::{INFER, NdArray, concatenate, npy, s, stack};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> NdArray<f64> {
    npy::load::<f64>(fixture(name)).unwrap()
}

/// Same shape and same bits (`linspace` is compared bit for bit).
fn same(got: &NdArray<f64>, name: &str) {
    let want = load(name);
    assert_eq!(got.shape(), want.shape(), "{name}");
    let bits = |a: &NdArray<f64>| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(&want), "{name}: {got:?} vs NumPy {want:?}");
}

/// `t` of the fixture script: arange(24).reshape(2, 3, 4) / 2.
fn t() -> NdArray<f64> {
    NdArray::<f64>::arange(24).into_shape(&[2, 3, 4]).unwrap() / 2.0
}

/// NumPy's error messages, in the order `make_fixtures.py` writes them.
fn numpy_errors() -> Vec<String> {
    std::fs::read_to_string(fixture("numpy_errors_shapes.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn minus_one_in_shapes_is_inferred_as_numpy_does() {
    let t = t();
    let moved = t.view().permuted_axes(&[2, 0, 1]).unwrap();
    let r = moved.to_shape(&[INFER, 3]).unwrap();
    assert!(r.is_copy());
    same(&r.into_owned(), "numpy_reshape_infer.npy");
    assert_eq!(t.reshape(&[4, INFER]).unwrap().shape(), &[4, 6]);
    assert_eq!(t.reshape(&[INFER]).unwrap().shape(), &[24]);
    assert_eq!(
        t.clone().into_shape(&[2, INFER, 2]).unwrap().shape(),
        &[2, 6, 2]
    );
    let shared = t.clone().into_shared();
    assert_eq!(
        shared.reshape_move(&[INFER, 1, 8]).unwrap().shape(),
        &[3, 1, 8]
    );
    let e = numpy_errors();
    assert_eq!(t.reshape(&[INFER, INFER]).unwrap_err().to_string(), e[0]);
    // NumPy prints the -1 as `newaxis` in this message; demo-arrays prints `-1`.
    let got = [
        t.reshape(&[5, INFER]).unwrap_err().to_string(),
        t.to_shape(&[0, INFER]).err().unwrap().to_string(),
    ];
    assert_eq!(got[0], e[1].replace("(5,newaxis)", "(5, -1)"));
    assert_eq!(got[1], e[2].replace("(0,newaxis)", "(0, -1)"));
    // Empty arrays: the inferred length is 0 when the others are non-zero, as NumPy's.
    let empty = NdArray::<f64>::zeros(&[0, 3]);
    assert_eq!(empty.reshape(&[INFER, 6]).unwrap().shape(), &[0, 6]);
}

#[test]
fn concatenate_and_stack_match_numpy() {
    let t = t();
    same(
        &concatenate(&[t.view(), t.slice(&s![..1])], 0).unwrap(),
        "numpy_concat0.npy",
    );
    same(
        &concatenate(
            &[
                t.view(),
                t.slice(&s![.., .., ..;-2]),
                t.slice(&s![.., .., ..0]),
            ],
            2,
        )
        .unwrap(),
        "numpy_concat2.npy",
    );
    let twice = t.slice(&s![1]).to_owned() * 2.0;
    same(
        &stack(&[t.slice(&s![0]), twice.view()], 1).unwrap(),
        "numpy_stack1.npy",
    );
    same(
        &stack(&[t.slice(&s![0]), t.slice(&s![1])], 2).unwrap(),
        "numpy_stack2.npy",
    );
    let e = numpy_errors();
    let z = NdArray::<f64>::zeros;
    let got = [
        concatenate::<f64>(&[], 0),
        concatenate(&[z(&[2, 3]).view(), z(&[2, 2]).view()], 0),
        concatenate(&[z(&[2, 3]).view(), z(&[3]).view()], 0),
        concatenate(&[z(&[]).view(), z(&[]).view()], 0),
        concatenate(&[t.view()], 3),
        stack(&[z(&[2]).view(), z(&[3]).view()], 0),
        stack::<f64>(&[], 0),
        stack(&[z(&[2, 3]).view()], 3),
    ]
    .map(|r| r.unwrap_err().to_string());
    assert_eq!(got.as_slice(), &e[3..11]);
}

#[test]
fn squeeze_and_expand_dims_are_views_with_numpy_errors() {
    let a = NdArray::<f64>::arange(6).into_shape(&[1, 2, 1, 3]).unwrap();
    let q = a.view().squeeze();
    assert_eq!(q.shape(), &[2, 3]);
    assert_eq!(q.to_vec(), a.to_vec());
    assert_eq!(a.view().squeeze_axis(2).unwrap().shape(), &[1, 2, 3]);
    let col = q.expand_dims(2).unwrap();
    assert_eq!((col.shape(), col[[1, 2, 0]]), (&[2, 3, 1][..], 5.0));
    let row = q.expand_dims(0).unwrap();
    assert!(row.is_c_contiguous());
    // Owned arrays stay owned and contiguous.
    let owned = a.clone().squeeze().expand_dims(1).unwrap();
    owned.check_invariants();
    assert!(owned.flags().owns_data && owned.is_c_contiguous());
    assert_eq!(owned.shape(), &[2, 1, 3]);
    let e = numpy_errors();
    let z = NdArray::<f64>::zeros;
    assert_eq!(z(&[2, 3]).squeeze_axis(1).unwrap_err().to_string(), e[11]);
    assert_eq!(z(&[2, 1]).squeeze_axis(2).unwrap_err().to_string(), e[12]);
    assert_eq!(z(&[2, 3]).expand_dims(3).unwrap_err().to_string(), e[13]);
    let full = NdArray::<f64>::zeros(&[1; demo_arrays::MAX_NDIM]);
    assert!(full.expand_dims(0).is_err());
}

#[test]
fn ones_eye_and_linspace_match_numpy() {
    let want = load("numpy_eye_ones.npy");
    assert_eq!(NdArray::<f64>::eye(3).to_vec(), want.slice(&s![0]).to_vec());
    assert_eq!(
        NdArray::<f64>::ones(&[3, 3]).to_vec(),
        want.slice(&s![1]).to_vec()
    );
    assert_eq!(NdArray::<bool>::ones(&[2]).to_vec(), vec![true, true]);
    assert_eq!(NdArray::<i8>::eye(2).to_vec(), vec![1, 0, 0, 1]);
    assert!(NdArray::<u8>::eye(0).is_empty());
    let parts = [
        NdArray::<f64>::linspace(0.0, 1.0, 7),
        NdArray::linspace(-3.5, 2.25, 10),
        NdArray::linspace(1.0, 1.0, 3),
        NdArray::linspace(5.0, 6.0, 1),
        NdArray::linspace(0.0, 1e-310, 4),
        NdArray::linspace(2.0, -7.0, 13),
    ];
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    same(&concatenate(&views, 0).unwrap(), "numpy_linspace_f8.npy");
    let want = npy::load::<f32>(fixture("numpy_linspace_f4.npy")).unwrap();
    let got = NdArray::<f32>::linspace(0.0, 1.0, 7);
    let bits = |a: &NdArray<f32>| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&want));
    assert!(NdArray::<f64>::linspace(0.0, 1.0, 0).is_empty());
}
