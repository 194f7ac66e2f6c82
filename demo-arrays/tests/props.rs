//! Property tests: slicing (any steps, negative too), transposition, reshaping and broadcasting, alone
//! and in random sequences, checked against a naive model that stores, for each position of the
//! result in C order, the flat index of the source element it must show.

use demo_arrays::{NdArray, SharedArray, SliceArg};
use proptest::prelude::*;

/// The naive reference: a shape and, per C-order position, the source element it shows.
#[derive(Clone, Debug)]
struct Model {
    shape: Vec<usize>,
    map: Vec<usize>,
}

fn c_positions(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    for &n in shape {
        out = out
            .into_iter()
            .flat_map(|p| (0..n).map(move |i| [p.clone(), vec![i]].concat()))
            .collect();
    }
    out
}

fn c_index(shape: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// Python's slice semantics, written as a filter over candidate indices (not the crate's formula).
fn py_slice(len: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Vec<usize> {
    let n = len as isize;
    let norm = |v: isize| if v < 0 { v + n } else { v };
    if step > 0 {
        let lo = start.map_or(0, norm).max(0);
        let hi = stop.map_or(n, norm).min(n);
        (0..n)
            .filter(|&i| i >= lo && i < hi && (i - lo) % step == 0)
            .map(|i| i as usize)
            .collect()
    } else {
        let hi = start.map_or(n - 1, norm).min(n - 1);
        let lo = stop.map_or(-1, norm).max(-1);
        (0..n)
            .rev()
            .filter(|&i| i <= hi && i > lo && (hi - i) % (-step) == 0)
            .map(|i| i as usize)
            .collect()
    }
}

impl Model {
    fn new(shape: &[usize]) -> Self {
        Model {
            shape: shape.to_vec(),
            map: (0..shape.iter().product()).collect(),
        }
    }
    fn at(&self, idx: &[usize]) -> usize {
        self.map[c_index(&self.shape, idx)]
    }
    /// `None` if NumPy would raise (index out of range).
    fn slice(&self, args: &[SliceArg]) -> Option<Model> {
        // Per output axis: (source axis or None for a new axis, indices); fixed indices per source axis.
        let mut src_choice: Vec<Vec<usize>> = Vec::new();
        let mut out_axes: Vec<Option<usize>> = Vec::new();
        let mut ax = 0;
        let consumed = args
            .iter()
            .filter(|a| !matches!(a, SliceArg::NewAxis))
            .count();
        if consumed > self.shape.len() {
            return None;
        }
        let full: Vec<SliceArg> = args
            .iter()
            .copied()
            .chain(std::iter::repeat_n(
                SliceArg::ALL,
                self.shape.len() - consumed,
            ))
            .collect();
        for a in full {
            match a {
                SliceArg::NewAxis => out_axes.push(None),
                SliceArg::Index(i) => {
                    let n = self.shape[ax] as isize;
                    let j = if i < 0 { i + n } else { i };
                    if j < 0 || j >= n {
                        return None;
                    }
                    src_choice.push(vec![j as usize]);
                    ax += 1;
                }
                SliceArg::Range { start, stop, step } => {
                    src_choice.push(py_slice(self.shape[ax], start, stop, step));
                    out_axes.push(Some(src_choice.len() - 1));
                    ax += 1;
                }
            }
        }
        let shape: Vec<usize> = out_axes
            .iter()
            .map(|a| a.map_or(1, |s| src_choice[s].len()))
            .collect();
        let map = c_positions(&shape)
            .into_iter()
            .map(|pos| {
                let mut src: Vec<usize> = src_choice
                    .iter()
                    .map(|c| c.first().copied().unwrap_or(0))
                    .collect();
                for (o, a) in out_axes.iter().enumerate() {
                    if let Some(s) = a {
                        src[*s] = src_choice[*s][pos[o]];
                    }
                }
                self.at(&src)
            })
            .collect();
        Some(Model { shape, map })
    }
    fn permute(&self, axes: &[usize]) -> Model {
        let shape: Vec<usize> = axes.iter().map(|&a| self.shape[a]).collect();
        let map = c_positions(&shape)
            .into_iter()
            .map(|pos| {
                let mut src = vec![0; axes.len()];
                for (i, &a) in axes.iter().enumerate() {
                    src[a] = pos[i];
                }
                self.at(&src)
            })
            .collect();
        Model { shape, map }
    }
    fn broadcast(&self, shape: &[usize]) -> Model {
        let lead = shape.len() - self.shape.len();
        let map = c_positions(shape)
            .into_iter()
            .map(|pos| {
                let src: Vec<usize> = self
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| if n == 1 { 0 } else { pos[lead + i] })
                    .collect();
                self.at(&src)
            })
            .collect();
        Model {
            shape: shape.to_vec(),
            map,
        }
    }
}

fn check(a: &SharedArray<f64>, m: &Model) {
    a.check_invariants();
    assert_eq!(a.shape(), &m.shape[..]);
    let got: Vec<usize> = a.iter().map(|&x| x as usize).collect();
    assert_eq!(
        got,
        m.map,
        "elements differ for shape {:?} strides {:?}",
        a.shape(),
        a.strides()
    );
    assert_eq!(a.to_owned().to_vec(), a.to_vec());
    if !a.is_empty() {
        assert_eq!(a.sum(), m.map.iter().map(|&x| x as f64).sum::<f64>());
        assert_eq!(a.max().unwrap() as usize, *m.map.iter().max().unwrap());
        assert_eq!(a.min().unwrap() as usize, *m.map.iter().min().unwrap());
    }
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..6, 1..5)
}

fn slice_arg() -> impl Strategy<Value = SliceArg> {
    prop_oneof![
        6 => (prop::option::of(-8isize..8), prop::option::of(-8isize..8), prop_oneof![-4isize..0, 1isize..5])
            .prop_map(|(start, stop, step)| SliceArg::Range { start, stop, step }),
        2 => (-6isize..6).prop_map(SliceArg::Index),
        1 => Just(SliceArg::NewAxis),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Slice(Vec<SliceArg>),
    Permute(Vec<usize>),
    Reverse,
    BroadcastLead(usize),
    /// Split the element count as (d, len / d) for the `k`-th divisor d, or flatten.
    Reshape(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(slice_arg(), 0..4).prop_map(Op::Slice),
        2 => prop::collection::vec(any::<usize>(), 8).prop_map(Op::Permute),
        1 => Just(Op::Reverse),
        1 => (1usize..3).prop_map(Op::BroadcastLead),
        2 => (0usize..6).prop_map(Op::Reshape),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn slicing_matches_python(shape in shape_strategy(), args in prop::collection::vec(slice_arg(), 0..5)) {
        let a = NdArray::<f64>::arange(shape.iter().product()).into_shape(&shape).unwrap();
        let m = Model::new(&shape);
        match (a.try_slice(&args), m.slice(&args)) {
            (Ok(v), Some(want)) => check(&v.to_owned().into_shared(), &want),
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "{args:?} on {shape:?}: got {:?}, model {:?}", got.map(|v| v.to_vec()), want),
        }
    }

    #[test]
    fn sequences_of_view_ops_match_the_model(shape in shape_strategy(), ops in prop::collection::vec(op(), 1..6)) {
        let mut a: SharedArray<f64> = NdArray::<f64>::arange(shape.iter().product()).into_shape(&shape).unwrap().into_shared();
        let base = a.clone();
        let mut copied = false;
        let mut m = Model::new(&shape);
        for op in ops {
            match op {
                Op::Slice(args) => {
                    let Some(next) = m.slice(&args) else {
                        prop_assert!(a.clone().try_slice_move(&args).is_err());
                        continue;
                    };
                    if next.shape.len() > demo_arrays::MAX_NDIM { continue; }
                    a = a.slice_move(&args);
                    m = next;
                }
                Op::Permute(keys) => {
                    let mut axes: Vec<usize> = (0..m.shape.len()).collect();
                    axes.sort_by_key(|&i| keys[i]);
                    a = a.permuted_axes(&axes).unwrap();
                    m = m.permute(&axes);
                }
                Op::Reverse => {
                    let axes: Vec<usize> = (0..m.shape.len()).rev().collect();
                    a = a.reversed_axes();
                    m = m.permute(&axes);
                }
                Op::Reshape(k) => {
                    let n = m.map.len();
                    let divisors: Vec<usize> = (1..=n.max(1)).filter(|d| n.is_multiple_of(*d)).collect();
                    let shape = if k == 0 || n == 0 { vec![n] } else {
                        let d = divisors[k % divisors.len()];
                        vec![d, n / d]
                    };
                    let view_ok = a.reshape(&shape).is_ok();
                    let cow = a.to_shape(&shape).unwrap();
                    prop_assert_eq!(cow.is_copy(), !view_ok);
                    a = match a.clone().reshape_move(&shape) {
                        Ok(v) => v, // still a view of the same base
                        Err(_) => {
                            prop_assert!(!view_ok);
                            copied = true;
                            cow.into_owned().into_shared()
                        }
                    };
                    m = Model { shape, map: m.map.clone() };
                }
                Op::BroadcastLead(k) => {
                    if m.shape.len() + 1 > demo_arrays::MAX_NDIM { continue; }
                    let shape: Vec<usize> = std::iter::once(k).chain(m.shape.iter().copied()).collect();
                    // Broadcasting is read-only: materialise it as a new shared base.
                    a = a.broadcast(&shape).unwrap().to_owned().into_shared();
                    copied = true;
                    m = m.broadcast(&shape);
                }
            }
            check(&a, &m);
            if !copied && !a.is_empty() {
                prop_assert!(demo_arrays::may_share_memory(&a, &base));
            }
        }
    }

    #[test]
    fn reshape_is_a_view_exactly_when_contiguous(shape in shape_strategy(), step in 1isize..3, t in any::<bool>(), split in 0usize..4) {
        let a = NdArray::<f64>::arange(shape.iter().product()).into_shape(&shape).unwrap();
        let v = a.slice(&[SliceArg::Range { start: None, stop: None, step }]);
        let v = if t { v.reversed_axes() } else { v };
        let n = v.len();
        // A new shape: `n` split into (d, n / d) for a divisor d of n, or flat.
        let divisors: Vec<usize> = (1..=n.max(1)).filter(|d| n.is_multiple_of(*d)).collect();
        let new_shape = if n == 0 || split == 0 { vec![n] } else {
            let d = divisors[split % divisors.len()];
            vec![d, n / d]
        };
        let r = v.to_shape(&new_shape).unwrap();
        prop_assert!(!(v.is_c_contiguous() && r.is_copy()), "contiguous data was copied");
        prop_assert_eq!(r.view().shape().to_vec(), new_shape.clone());
        prop_assert_eq!(r.view().to_vec(), v.to_vec());
        prop_assert_eq!(v.reshape(&new_shape).is_ok(), !r.is_copy());
        if !r.is_copy() {
            prop_assert_eq!(r.view().as_ptr(), v.as_ptr());
            prop_assert!(v.is_empty() || demo_arrays::may_share_memory(&r.view(), &v));
        }
    }

    #[test]
    fn broadcasting_arithmetic_matches_the_model(out in prop::collection::vec(1usize..5, 1..4), ma in any::<u8>(), mb in any::<u8>(), da in 0usize..3, db in 0usize..3) {
        // Derive two compatible operand shapes: drop leading axes, set some axes to 1.
        let derive = |mask: u8, drop: usize| -> Vec<usize> {
            let drop = drop.min(out.len() - 1);
            out[drop..].iter().enumerate().map(|(i, &n)| if mask >> i & 1 == 1 { 1 } else { n }).collect()
        };
        let (sa, sb) = (derive(ma, da), derive(mb, db));
        let a = NdArray::<f64>::arange(sa.iter().product()).into_shape(&sa).unwrap();
        let b = NdArray::<f64>::arange(sb.iter().product()).into_shape(&sb).unwrap();
        let c = &a * 1000.0 + &b.t().t();
        let (ma_, mb_) = (Model::new(&sa).broadcast(c.shape()), Model::new(&sb).broadcast(c.shape()));
        let want: Vec<f64> = ma_.map.iter().zip(&mb_.map).map(|(&x, &y)| x as f64 * 1000.0 + y as f64).collect();
        prop_assert_eq!(c.to_vec(), want);
        // The transposed operand goes through the strided path; the result is the same.
        let d = (&a.t().to_owned().t() * 1000.0) + &b;
        prop_assert_eq!(d.to_vec(), c.to_vec());
    }
}

#[test]
fn incompatible_shapes_name_both() {
    let a = NdArray::<f64>::zeros(&[2, 3]);
    let b = NdArray::<f64>::zeros(&[4]);
    let e = a.try_zip_map(&b, |x, y| x + y).unwrap_err();
    assert_eq!(
        e.to_string(),
        "operands could not be broadcast together with shapes (2, 3) (4,)"
    );
    let r = std::panic::catch_unwind(|| &a + &b).unwrap_err();
    assert_eq!(
        r.downcast_ref::<String>().unwrap(),
        "operands could not be broadcast together with shapes (2, 3) (4,)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn take_matches_the_model(shape in prop::collection::vec(1usize..5, 1..4), axis_key in any::<usize>(), picks in prop::collection::vec(-5isize..5, 0..6), t in any::<bool>()) {
        let a = NdArray::<f64>::arange(shape.iter().product()).into_shape(&shape).unwrap();
        let v = if t { a.t() } else { a.view() };
        let axis = axis_key % v.ndim();
        let len = v.shape()[axis] as isize;
        let ok = picks.iter().all(|&i| i >= -len && i < len);
        let got = v.take(axis, &picks);
        prop_assert_eq!(got.is_ok(), ok);
        if let Ok(r) = got {
            let mut want_shape = v.shape().to_vec();
            want_shape[axis] = picks.len();
            prop_assert_eq!(r.shape(), &want_shape[..]);
            for pos in c_positions(&want_shape) {
                let mut src = pos.clone();
                let p = picks[pos[axis]];
                src[axis] = if p < 0 { (p + len) as usize } else { p as usize };
                prop_assert_eq!(r.get(&pos), v.get(&src));
            }
        }
    }
}
