//! Reductions along one axis (NumPy's `a.sum(axis=k)`, `mean`, `min`, `max`), `argmin`/`argmax`
//! and `cumsum`. Each allocates exactly its result and nothing else (`tests/byte_claims.rs`). Every
//! output element is its own lane's reduction through the same blocked pairwise kernels as
//! [`sum`](crate::ArrayBase::sum), so a sum along any axis, of any layout, keeps NumPy's accuracy.

use std::ptr::NonNull;

use crate::array_base::{ArrayBase, ArrayView, Data, NdArray, ViewRepr};
use crate::dim::Geom;
use crate::element::{Element, Num, Summable};
use crate::error::ArrayError;
use crate::iter::{for_each_lane, inner_stride};
use crate::reduce::Cascade;

/// Rows added into one partial sum per column before it joins the column's pairwise cascade.
const CHUNK_ROWS: usize = 32;
/// Adjacent columns summed together: 32 elements, four cache lines of `f64`.
const TILE_COLS: usize = 32;

impl<S: Data> ArrayBase<S> {
    /// Builds the array of `shape` without `axis` whose element at each index is `f` of the 1-d
    /// view along `axis` at that index. Allocates the result only.
    fn map_lanes<U: Element>(
        &self,
        axis: usize,
        f: impl Fn(ArrayView<'_, S::Elem>) -> U,
    ) -> Result<NdArray<U>, ArrayError> {
        let nd = self.ndim();
        if axis >= nd {
            return Err(ArrayError::AxisOutOfBounds { axis, ndim: nd });
        }
        // The other axes, in order: the result's shape, with `self`'s strides.
        let mut rest = Geom::empty(nd - 1)?;
        for (k, ax) in (0..nd).filter(|&ax| ax != axis).enumerate() {
            rest.set(k, self.shape()[ax], self.strides()[ax]);
        }
        let mut lane = Geom::empty(1)?;
        lane.set(0, self.shape()[axis], self.strides()[axis]);
        let base = self.ptr.as_ptr();
        let is = inner_stride(&rest);
        NdArray::try_build(rest.shape(), |out| {
            let mut k = 0;
            for_each_lane(rest.shape(), [rest.strides()], |[o], n| {
                for j in 0..n {
                    // Offset of an in-bounds index of the other axes (or of an empty lane, never
                    // read): `wrapping_offset` stays valid in both cases.
                    let p = base.wrapping_offset(o + j as isize * is);
                    let v = ArrayBase {
                        data: ViewRepr::new(),
                        ptr: NonNull::new(p).unwrap_or(self.ptr),
                        geom: lane,
                    };
                    // Every index of `v` is an index of `self` (invariant 2 holds for the view).
                    out[k].write(f(v));
                    k += 1;
                }
            });
        })
    }
}

impl<S: Data> ArrayBase<S> {
    /// NumPy's `a.any(axis=axis)`: whether each lane along `axis` has a non-zero element (see
    /// [`any`](Self::any)), as a `bool` array of the other axes' shape. Allocates exactly the result.
    pub fn any_axis(&self, axis: usize) -> Result<NdArray<bool>, ArrayError> {
        self.map_lanes(axis, |v| v.any())
    }

    /// NumPy's `a.all(axis=axis)`: whether every element of each lane along `axis` is non-zero
    /// (see [`all`](Self::all)). Allocates exactly the result.
    pub fn all_axis(&self, axis: usize) -> Result<NdArray<bool>, ArrayError> {
        self.map_lanes(axis, |v| v.all())
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Summable,
{
    /// Sums along `axis` (NumPy's `a.sum(axis=axis)`), in the accumulator type of
    /// [`sum`](Self::sum): the result has the other axes' shape. Allocates exactly the result.
    pub fn sum_axis(&self, axis: usize) -> Result<NdArray<<S::Elem as Summable>::Acc>, ArrayError> {
        if let Some(r) = self.sum_axis_tiled(axis) {
            return r;
        }
        self.map_lanes(axis, |v| v.sum())
    }

    /// `sum_axis` when the result's last axis is contiguous in `self` (stride 1) and the summed axis
    /// is not (a C array's axis 0): lane by lane would read one element per cache line. Instead
    /// take [`TILE_COLS`] adjacent columns at a time and add [`CHUNK_ROWS`] rows into one partial
    /// sum per column (a row at a time, so the adds vectorize across columns), then push each
    /// partial into that column's pairwise cascade: chains of 32 adds, as in the flat kernel.
    /// `None` if the layout does not fit.
    fn sum_axis_tiled(
        &self,
        axis: usize,
    ) -> Option<Result<NdArray<<S::Elem as Summable>::Acc>, ArrayError>> {
        let nd = self.ndim();
        if axis >= nd || nd < 2 {
            return None;
        }
        let inner = if axis + 1 == nd { nd - 2 } else { nd - 1 };
        if self.strides()[inner] != 1 || self.strides()[axis].unsigned_abs() <= 1 {
            return None;
        }
        let mut rest = Geom::empty(nd - 1).ok()?;
        for (k, ax) in (0..nd).filter(|&ax| ax != axis).enumerate() {
            rest.set(k, self.shape()[ax], self.strides()[ax]);
        }
        let (len, step) = (self.shape()[axis], self.strides()[axis]);
        let base = self.ptr.as_ptr();
        let zero = <S::Elem as Summable>::ACC_ZERO;
        let add = <S::Elem as Summable>::acc_add;
        Some(NdArray::try_build(rest.shape(), |out| {
            let mut k = 0;
            // Lanes of the result: `n` adjacent columns from offset `o` (stride 1, checked above).
            for_each_lane(rest.shape(), [rest.strides()], |[o], n| {
                for c0 in (0..n).step_by(TILE_COLS) {
                    let w = (n - c0).min(TILE_COLS);
                    let mut cols: [Cascade<_, _>; TILE_COLS] =
                        std::array::from_fn(|_| Cascade::new(zero, add));
                    for r0 in (0..len).step_by(CHUNK_ROWS) {
                        let mut part = [zero; TILE_COLS];
                        for r in r0..(r0 + CHUNK_ROWS).min(len) {
                            let first = o + c0 as isize + r as isize * step;
                            // SAFETY: columns `c0..c0 + w` (< n) of the result's lane, in row
                            // `r < len` of the summed axis, are `w` consecutive in-bounds elements
                            // of `self` (stride 1; invariant 2).
                            let row = unsafe { std::slice::from_raw_parts(base.offset(first), w) };
                            if let Ok(row) = <&[S::Elem; TILE_COLS]>::try_from(row) {
                                for (p, &x) in part.iter_mut().zip(row) {
                                    *p = add(*p, x.widen());
                                }
                            } else {
                                for (p, &x) in part.iter_mut().zip(row) {
                                    *p = add(*p, x.widen());
                                }
                            }
                        }
                        for (cascade, &p) in cols.iter_mut().zip(&part[..w]) {
                            cascade.push(p);
                        }
                    }
                    for (dst, cascade) in out[k + c0..k + c0 + w].iter_mut().zip(cols) {
                        dst.write(cascade.finish(zero));
                    }
                }
                k += n;
            });
        }))
    }

    /// Means along `axis`, as `f64` (NumPy's `a.mean(axis=axis)`; NaN for an empty axis).
    /// Allocates exactly the result.
    pub fn mean_axis(&self, axis: usize) -> Result<NdArray<f64>, ArrayError> {
        self.map_lanes(axis, |v| v.mean())
    }

    /// Running sums in C order, flattened (NumPy's `a.cumsum()`), in the accumulator type of
    /// [`sum`](Self::sum) (`int8` → `i64`, as NumPy's). Sequential, as NumPy's: a float `cumsum`
    /// is not pairwise, so its last element can differ from `sum()`. Allocates exactly the result.
    pub fn cumsum(&self) -> NdArray<<S::Elem as Summable>::Acc> {
        NdArray::try_build(&[self.len()], |out| {
            let mut acc = S::Elem::ACC_ZERO;
            for (o, &x) in out.iter_mut().zip(self.iter()) {
                acc = S::Elem::acc_add(acc, x.widen());
                o.write(acc);
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Num,
{
    /// Minima along `axis` (NumPy's `a.min(axis=axis)`; NaN propagates). An error for an empty
    /// axis, as NumPy's. Allocates exactly the result.
    pub fn min_axis(&self, axis: usize) -> Result<NdArray<S::Elem>, ArrayError> {
        self.check_reducible(axis, "minimum")?;
        self.map_lanes(axis, |v| v.min().expect("non-empty axis"))
    }

    /// Maxima along `axis` (NumPy's `a.max(axis=axis)`; NaN propagates). An error for an empty
    /// axis, as NumPy's. Allocates exactly the result.
    pub fn max_axis(&self, axis: usize) -> Result<NdArray<S::Elem>, ArrayError> {
        self.check_reducible(axis, "maximum")?;
        self.map_lanes(axis, |v| v.max().expect("non-empty axis"))
    }

    fn check_reducible(&self, axis: usize, op: &'static str) -> Result<(), ArrayError> {
        match self.shape().get(axis) {
            None => Err(ArrayError::AxisOutOfBounds {
                axis,
                ndim: self.ndim(),
            }),
            Some(0) => Err(ArrayError::EmptyReduction(op)),
            Some(_) => Ok(()),
        }
    }

    /// The C-order (flattened) index of the largest element, the first one if several are equal,
    /// the first NaN if there is one (NumPy's `a.argmax()`). Allocates nothing.
    pub fn argmax(&self) -> Result<usize, ArrayError> {
        self.arg_best("argmax", |x, best| x > best)
    }

    /// The C-order (flattened) index of the smallest element, the first one if several are equal,
    /// the first NaN if there is one (NumPy's `a.argmin()`). Allocates nothing.
    pub fn argmin(&self) -> Result<usize, ArrayError> {
        self.arg_best("argmin", |x, best| x < best)
    }

    fn arg_best(
        &self,
        op: &'static str,
        better: impl Fn(S::Elem, S::Elem) -> bool,
    ) -> Result<usize, ArrayError> {
        let mut it = self.iter().copied().enumerate();
        let (mut at, mut best) = it.next().ok_or(ArrayError::EmptyReduction(op))?;
        if best.is_nan() {
            return Ok(0);
        }
        for (i, x) in it {
            if x.is_nan() {
                return Ok(i);
            }
            if better(x, best) {
                (at, best) = (i, x);
            }
        }
        Ok(at)
    }
}
