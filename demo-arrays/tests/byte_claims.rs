//! Every byte count the docs and the tour claim, measured with `alloc_tracker::measure` under the
//! workspace's global allocator (`Tracked<AlignedAlloc>`). `measure` is thread-scoped, so the tests
//! stay exact when cargo runs them in parallel.

use alloc_tracker::{Tracked, measure};
use demo_arrays::{
    INFER, NdArray, SharedArray, SliceArg, concatenate, lazy, lazy_where, may_share_memory, s,
    stack, where_,
};

#[global_allocator]
static GLOBAL: Tracked<alloc_core::AlignedAlloc> = Tracked::new(alloc_core::AlignedAlloc::new());

const N: usize = 1 << 16;

fn f64s(n: usize) -> NdArray<f64> {
    NdArray::arange(n)
}

#[test]
fn construction_allocates_exactly_the_elements_aligned() {
    let (a, u) = measure(|| NdArray::<f32>::zeros(&[300, 7]));
    assert_eq!((u.allocated_bytes, u.allocations), (300 * 7 * 4, 1));
    assert_eq!(a.as_ptr() as usize % 64, 0);
    assert_eq!(a.nbytes(), 300 * 7 * 4);
}

#[test]
fn views_allocate_nothing() {
    let a = f64s(N).into_shape(&[256, 256]).unwrap();
    let (checksum, u) = measure(|| {
        let v = a.view();
        let s1 = a.slice(&s![10..-10;3, ..;-2]);
        let t = a.t();
        let b = a.slice(&s![0, ..]).broadcast(&[4, 256]).unwrap().len();
        let r = a.reshape(&[65536]).unwrap();
        let n = a.slice(&s![.., SliceArg::NewAxis, 5]);
        // Every other row, each split in two: strided, yet NumPy's rule finds a view.
        let every_other = a.slice(&s![..;2, ..]);
        let split = every_other.reshape(&[128, 2, 128]).unwrap();
        v.len() + s1.len() + t.len() + b + r.len() + n.len() + split.len()
    });
    assert!(checksum > 0);
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0), "{u:?}");
}

#[test]
fn take_allocates_exactly_n_times_itemsize() {
    let a = f64s(N);
    let idx: Vec<isize> = (0..1000).map(|i| (i * 37 % N) as isize).collect();
    let (t, u) = measure(|| a.take(0, &idx).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (1000 * 8, 1));
    assert!(!may_share_memory(&a, &t));
    // Along axis 1 of a 2-d array: rows × picks × itemsize.
    let m = f64s(64 * 32).into_shape(&[64, 32]).unwrap();
    let (t, u) = measure(|| m.take(1, &[3, -1, 3]).unwrap());
    assert_eq!(t.shape(), &[64, 3]);
    assert_eq!(u.allocated_bytes, 64 * 3 * 8);
}

#[test]
fn mask_allocates_exactly_the_selected_elements() {
    let a = f64s(N);
    let mask = a.map(|x| (x as usize).is_multiple_of(3));
    let (m, u) = measure(|| a.mask(&mask).unwrap());
    assert_eq!(u.allocated_bytes as usize, m.len() * 8);
    assert_eq!(m.len(), N.div_ceil(3));
}

#[test]
fn in_place_ops_allocate_nothing() {
    let mut a = f64s(N);
    let b = f64s(N);
    let row = f64s(256);
    let (_, u) = measure(|| {
        a += &b;
        a *= 2.0;
        a -= 1.0;
        a /= &b.map(|x| x + 1.0); // (this temporary is outside the claim…)
    });
    assert_eq!(u.allocations, 1, "only the explicit map temporary: {u:?}");
    let (_, u) = measure(|| {
        a += &b;
        a.mul_add_assign(2.0, &b);
        let mut m = a.view_mut().into_shape(&[256, 256]).unwrap();
        m += &row; // broadcast row
    });
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0), "{u:?}");
}

#[test]
fn temporaries_vs_chain_vs_fused_vs_in_place() {
    let a = f64s(N);
    let b = f64s(N);
    let out = N as u64 * 8;
    // NumPy's `a * 2.0 + b`: a temporary for `a * 2.0`, then the result — peak twice the output.
    let (r1, u) = measure(|| &(&a * 2.0) + &b);
    assert_eq!(
        (u.allocations, u.allocated_bytes, u.peak_bytes),
        (2, 2 * out, 2 * out),
        "{u:?}"
    );
    // By value, the temporary's buffer is reused for the result.
    let (r2, u) = measure(|| &a * 2.0 + &b);
    assert_eq!(
        (u.allocations, u.allocated_bytes, u.peak_bytes),
        (1, out, out),
        "{u:?}"
    );
    // Fused: one pass, the output only.
    let (r3, u) = measure(|| (lazy(&a) * 2.0 + &b).eval().unwrap());
    assert_eq!(
        (u.allocations, u.allocated_bytes, u.peak_bytes),
        (1, out, out),
        "{u:?}"
    );
    // In place into an existing array: nothing.
    let mut r4 = NdArray::<f64>::zeros(&[N]);
    let (_, u) = measure(|| (lazy(&a) * 2.0 + &b).eval_into(&mut r4).unwrap());
    assert_eq!(u.allocated_bytes, 0);
    assert_eq!(r1.to_vec(), r2.to_vec());
    assert_eq!(r1.to_vec(), r3.to_vec());
    assert_eq!(r1.to_vec(), r4.to_vec());
}

#[test]
fn reductions_allocate_nothing() {
    let a = f64s(N).into_shape(&[256, 256]).unwrap();
    let ((s, m, lo, hi, ts), u) = measure(|| {
        (
            a.sum(),
            a.mean(),
            a.min().unwrap(),
            a.max().unwrap(),
            a.t().slice(&s![..;2]).sum(),
        )
    });
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0));
    assert_eq!(s, (N * (N - 1) / 2) as f64);
    assert_eq!((m, lo, hi), (s / N as f64, 0.0, (N - 1) as f64));
    assert!(ts > 0.0);
}

#[test]
fn to_owned_of_a_view_is_its_elements_only() {
    let a = f64s(N);
    let v = a.slice(&s![5..1005]);
    let (c, u) = measure(|| v.to_owned());
    assert_eq!((u.allocated_bytes, u.allocations), (1000 * 8, 1));
    assert_eq!(c.base_nbytes(), Some(1000 * 8));
}

#[test]
fn a_shared_slice_pins_its_whole_base_until_to_owned() {
    let bytes = N * 8;
    let (small, u) = measure(|| {
        let base: SharedArray<f64> = f64s(N).into_shared();
        let small = base.clone().slice_move(&s![..10]);
        drop(base);
        small
    });
    // The base buffer plus the reference count block are still live: the 10-element view pins them.
    assert!(
        u.net_bytes() as usize >= bytes && (u.net_bytes() as usize) < bytes + 128,
        "{u:?}"
    );
    assert_eq!(small.base_nbytes(), Some(bytes));
    assert_eq!(small.len(), 10);
    let (owned, u) = measure(move || {
        let o = small.to_owned();
        drop(small);
        o
    });
    // Releasing the view frees the whole base; the copy holds its 10 elements only.
    assert_eq!(u.allocated_bytes, 80);
    assert!(u.freed_bytes as usize >= bytes, "{u:?}");
    assert_eq!(owned.base_nbytes(), Some(80));
}

#[test]
fn slicing_a_shared_array_allocates_nothing() {
    let base = f64s(N).into_shared();
    let (v, u) = measure(|| base.clone().slice_move(&s![..;-7]));
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0));
    assert!(may_share_memory(&base, &v));
}

#[test]
fn mmap_keeps_data_off_the_heap_and_load_allocates_the_array() {
    let dir = std::env::temp_dir().join(format!("demo-arrays-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.npy");
    let a = f64s(N);
    demo_arrays::npy::save(&path, &a).unwrap();
    let (sum, u) = measure(|| {
        // SAFETY: this test's own temporary file, not written while mapped.
        let m =
            unsafe { demo_arrays::npy::open_mmap::<f64>(&path, demo_arrays::MmapMode::ReadOnly) }
                .unwrap();
        m.sum()
    });
    assert_eq!(sum, a.sum());
    assert!(
        u.peak_bytes < 4096,
        "mapping used {} heap bytes",
        u.peak_bytes
    );
    let (l, u) = measure(|| demo_arrays::npy::load::<f64>(&path).unwrap());
    assert!(
        u.peak_bytes as usize >= N * 8 && (u.peak_bytes as usize) < N * 8 + 4096,
        "{u:?}"
    );
    assert_eq!(l.to_vec(), a.to_vec());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_copies_allocate_exactly_their_result() {
    let a = f64s(N).into_shape(&[256, 256]).unwrap();
    // NumPy's a.T.reshape(-1): a copy of the elements, nothing else.
    let t = a.t();
    let (r, u) = measure(|| t.to_shape(&[N]).unwrap());
    assert!(r.is_copy());
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64 * 8, 1));
    // Contiguous reshape through to_shape: a view.
    let (r, u) = measure(|| a.to_shape(&[N]).unwrap());
    assert!(!r.is_copy());
    assert_eq!(u.allocated_bytes, 0);
    // astype: len × the new itemsize.
    let (f, u) = measure(|| a.astype::<f32>());
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64 * 4, 1));
    assert_eq!(f.nbytes(), N * 4);
    // clone (NumPy's copy): nbytes.
    let (_c, u) = measure(|| a.clone());
    assert_eq!(u.allocated_bytes, a.nbytes() as u64);
    // from_vec copies into an aligned buffer and frees the Vec's.
    let v: Vec<f64> = (0..1000).map(f64::from).collect();
    let (x, u) = measure(move || NdArray::from_vec(&[10, 100], v).unwrap());
    assert_eq!(
        (u.allocated_bytes, u.allocations, u.freed_bytes),
        (8000, 1, 8000)
    );
    assert_eq!(x.as_ptr() as usize % 64, 0);
}

#[test]
fn axis_reductions_and_cumsum_allocate_exactly_their_result() {
    let a = f64s(N).into_shape(&[256, 256]).unwrap();
    let t = a.t();
    for axis in [0, 1] {
        let (r, u) = measure(|| a.sum_axis(axis).unwrap());
        assert_eq!((u.allocated_bytes, u.allocations), (256 * 8, 1), "{u:?}");
        assert_eq!(r.len(), 256);
        let (_, u) = measure(|| t.mean_axis(axis).unwrap());
        assert_eq!((u.allocated_bytes, u.allocations), (256 * 8, 1), "{u:?}");
        let (_, u) = measure(|| t.min_axis(axis).unwrap());
        assert_eq!((u.allocated_bytes, u.allocations), (256 * 8, 1), "{u:?}");
        let (_, u) = measure(|| a.max_axis(axis).unwrap());
        assert_eq!((u.allocated_bytes, u.allocations), (256 * 8, 1), "{u:?}");
    }
    // int8 sums along an axis widen to i64: 8 bytes per result element.
    let i = NdArray::<i8>::from_elem(&[100, 30], 1);
    let (r, u) = measure(|| i.sum_axis(0).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (30 * 8, 1));
    assert_eq!(r.to_vec(), vec![100i64; 30]);
    let (_, u) = measure(|| i.cumsum());
    assert_eq!((u.allocated_bytes, u.allocations), (3000 * 8, 1));
    let ((mx, mn), u) = measure(|| (t.argmax().unwrap(), a.argmin().unwrap()));
    assert_eq!((u.allocated_bytes, mx, mn), (0, N - 1, 0));
}

#[test]
fn element_access_scalar_left_negation_and_allclose_bytes() {
    let mut a = f64s(N);
    let (_, u) = measure(|| {
        a[[5]] = 1.0;
        *a.get_mut(&[6]).unwrap() += a[[7]];
        a.iter_mut().for_each(|x| *x *= 0.5);
        a.get(&[0]).copied()
    });
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0));
    // NumPy's 2.0 * a and -a: the result; by value, in the operand's buffer: nothing.
    let (_, u) = measure(|| 2.0 * &a);
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64 * 8, 1));
    let (_, u) = measure(|| -&a);
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64 * 8, 1));
    let b = a.clone();
    let (b, u) = measure(move || -(1.0 - b));
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0));
    // `-(1.0 - b)` is `b - 1.0`, computed in `b`'s buffer.
    assert_eq!(b.to_vec(), a.map(|x| x - 1.0).to_vec());
    let c = a.clone();
    let (close, u) = measure(|| a.allclose(&c, 1e-5, 1e-8).unwrap());
    assert!(close);
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0));
    // floor_div: the result.
    let (_, u) = measure(|| a.floor_div(&c));
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64 * 8, 1));
}

#[test]
fn comparisons_masks_and_where_bytes() {
    let a = f64s(N);
    let b = f64s(N);
    // A comparison allocates its bool result, one byte per element, scalar or array operand.
    let (m, u) = measure(|| a.lt(1000.0).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64, 1), "{u:?}");
    let (_, u) = measure(|| a.ge(&b).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64, 1), "{u:?}");
    let row = f64s(256);
    let m2 = a.view().into_shape(&[256, 256]).unwrap();
    let (_, u) = measure(|| m2.eq(&row).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (N as u64, 1), "{u:?}");
    // any/all and counting: nothing.
    let ((any, all, count), u) = measure(|| (m.any(), m.all(), m.sum()));
    assert_eq!((u.allocated_bytes, any, all, count), (0, true, false, 1000));
    let (_, u) = measure(|| m2.any_axis(0).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (256, 1));
    // where_: the result only; assign_where: nothing.
    let (_, u) = measure(|| where_(&m, &a, 0.0).unwrap());
    assert_eq!(
        (u.allocated_bytes, u.allocations),
        (N as u64 * 8, 1),
        "{u:?}"
    );
    // Fused: NumPy's np.where(m, a * 2 + b, 0) allocates two temporaries; this, the result only.
    let zero = demo_arrays::fused::scalar(0.0);
    let (f, u) = measure(|| lazy_where(&m, lazy(&a) * 2.0 + &b, zero).eval().unwrap());
    assert_eq!(
        (u.allocated_bytes, u.allocations, u.peak_bytes),
        (N as u64 * 8, 1, N as u64 * 8),
        "{u:?}"
    );
    assert_eq!(
        f.to_vec(),
        where_(&m, &(&a * 2.0 + &b), 0.0).unwrap().to_vec()
    );
    let mut c = a.clone();
    let (_, u) = measure(|| c.assign_where(&m, -1.0).unwrap());
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0), "{u:?}");
}

#[test]
fn fused_broadcast_allocates_the_result_only() {
    // NumPy's `m * row + col` (a (256, 256) array, a (256,) row, a (256, 1) column) allocates a
    // temporary for `m * row`; fused, the operands broadcast in place: the result only, and no
    // broadcast copy of `row` or `col`.
    let (r, k) = (256, 256);
    let m = f64s(r * k).into_shape(&[r, k]).unwrap();
    let row = f64s(k);
    let col = f64s(r).into_shape(&[r, 1]).unwrap();
    let out = (r * k * 8) as u64;
    let (unfused, u) = measure(|| &(&m * &row) + &col);
    assert_eq!(
        (u.allocations, u.allocated_bytes, u.peak_bytes),
        (2, 2 * out, 2 * out),
        "{u:?}"
    );
    let (fused, u) = measure(|| (lazy(&m) * &row + &col).eval().unwrap());
    assert_eq!(
        (u.allocations, u.allocated_bytes, u.peak_bytes),
        (1, out, out),
        "{u:?}"
    );
    assert_eq!(fused.to_vec(), unfused.to_vec());
    // Strided operands take the same blocked path: still the result only.
    let (_, u) = measure(|| (lazy(&m.t()) * &row + &col).eval().unwrap());
    assert_eq!((u.allocations, u.allocated_bytes), (1, out), "{u:?}");
    // Into an existing array, and with a unary function on top: nothing.
    let mut into = NdArray::<f64>::zeros(&[r, k]);
    let (_, u) = measure(|| {
        (lazy(&m) * &row + &col)
            .sqrt()
            .eval_into(&mut into)
            .unwrap()
    });
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0), "{u:?}");
    // np.where with a broadcast condition and a broadcast branch: the result only.
    let mask = row.gt(100.0).unwrap();
    let (w, u) = measure(|| {
        lazy_where(&mask, lazy(&m) * 2.0, lazy(&col))
            .eval()
            .unwrap()
    });
    assert_eq!((u.allocations, u.allocated_bytes), (1, out), "{u:?}");
    assert_eq!(
        w.to_vec(),
        where_(&mask, &(&m * 2.0), &col).unwrap().to_vec()
    );
}

#[test]
fn math_bytes_plain_in_place_and_fused() {
    let a = f64s(N);
    let b = f64s(N);
    let out = N as u64 * 8;
    for f in [NdArray::sqrt, NdArray::exp, NdArray::abs] {
        let (_, u) = measure(|| f(&a));
        assert_eq!((u.allocated_bytes, u.allocations), (out, 1), "{u:?}");
    }
    let (_, u) = measure(|| a.clip(1.0, 2.0));
    assert_eq!((u.allocated_bytes, u.allocations), (out, 1), "{u:?}");
    let mut c = a.clone();
    let (_, u) = measure(|| {
        c.sqrt_inplace();
        c.exp_inplace();
        c.abs_inplace();
        c.clip_inplace(0.0, 1.0);
    });
    assert_eq!((u.allocated_bytes, u.allocations), (0, 0), "{u:?}");
    // NumPy's np.sqrt(a * 2 + b) allocates two temporaries; fused, only the result.
    let (r, u) = measure(|| (lazy(&a) * 2.0 + &b).sqrt().eval().unwrap());
    assert_eq!(
        (u.allocated_bytes, u.allocations, u.peak_bytes),
        (out, 1, out),
        "{u:?}"
    );
    assert_eq!(r.to_vec(), (&a * 2.0 + &b).sqrt().to_vec());
}

#[test]
fn shape_helpers_and_joins_bytes() {
    let a = f64s(N);
    // -1 in reshape, squeeze and expand_dims: views, nothing.
    let (n, u) = measure(|| {
        let r = a.reshape(&[INFER, 256]).unwrap();
        let e = r.expand_dims(1).unwrap();
        let q = e.squeeze();
        r.len() + e.ndim() + q.ndim()
    });
    assert_eq!((u.allocated_bytes, u.allocations, n), (0, 0, N + 3 + 2));
    // concatenate and stack: exactly the result.
    let m = a.reshape(&[256, 256]).unwrap();
    let (c, u) = measure(|| concatenate(&[m, m.slice(&s![..10])], 0).unwrap());
    assert_eq!(c.shape(), &[266, 256]);
    assert_eq!(
        (u.allocated_bytes, u.allocations),
        (266 * 256 * 8, 1),
        "{u:?}"
    );
    let (c, u) = measure(|| stack(&[m, m.t()], 2).unwrap());
    assert_eq!(c.shape(), &[256, 256, 2]);
    assert_eq!(
        (u.allocated_bytes, u.allocations),
        (2 * N as u64 * 8, 1),
        "{u:?}"
    );
    // Constructors: exactly their elements.
    let (_, u) = measure(|| NdArray::<f32>::ones(&[300, 7]));
    assert_eq!((u.allocated_bytes, u.allocations), (300 * 7 * 4, 1));
    let (_, u) = measure(|| NdArray::<f64>::eye(100));
    assert_eq!((u.allocated_bytes, u.allocations), (100 * 100 * 8, 1));
    let (_, u) = measure(|| NdArray::<f64>::linspace(0.0, 1.0, 1000));
    assert_eq!((u.allocated_bytes, u.allocations), (8000, 1));
}
