//! Reductions along one axis (NumPy's `a.sum(axis=k)`, `mean`, `min`, `max`), `argmin`/`argmax`
//! and `cumsum`. Each allocates exactly its result and nothing else (`tests/byte_claims.rs`). Every
//! output element is its own lane's reduction through the same blocked pairwise kernels as
//! [`sum`](crate::ArrayBase::sum), so a sum along any axis, of any layout, keeps NumPy's accuracy.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::array_base::{ArrayBase, ArrayView, Data, NdArray, ViewRepr};
use crate::dim::Geom;
use crate::element::{Element, Num, Summable};
use crate::error::ArrayError;
use crate::iter::{for_each_lane, inner_stride};
use crate::reduce::sum_lanes;

/// Rows added into one partial sum per column before it joins the column's pairwise cascade: chains
/// of 32 adds, as each accumulator of the flat kernel ([`BLOCK`](crate::reduce::BLOCK)).
const CHUNK_ROWS: usize = 32;
/// Accumulator elements of the stack buffer of [`ArrayBase::sum_axis_rows`] (32 KiB of `f64`): the
/// partial row being built plus the cascade's finished rows, all of one column stripe.
const SCRATCH: usize = 4096;
/// Rows added per pass over a partial row in [`stripe_body`] (a divisor of [`CHUNK_ROWS`]).
const PASS_ROWS: usize = 4;

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
        if let Some(r) = self.sum_axis_rows(axis) {
            return r;
        }
        if let Some(r) = self.sum_axis_contiguous(axis) {
            return r;
        }
        self.map_lanes(axis, |v| v.sum())
    }

    /// `sum_axis` when the summed axis is contiguous in `self` (stride 1: a C array's last axis):
    /// each lane is a slice, summed by [`sum_slice`](crate::reduce::sum_slice)'s kernel directly, without building a view per lane and
    /// asking it for its memory layout, with one CPU-feature check for all lanes. Same additions as
    /// `sum()` of each lane. `None` if the layout does not fit.
    ///
    /// Measured (criterion `sum_strided_axis/*_sum_axis_f64/1`, 2048 × 1024 f64, one run, load ~6):
    /// 806 µs before (a view and `sum()` per row) against ndarray's 642 µs; 651 / 657 µs after in
    /// two runs against ndarray's 619 / 707 µs: at parity within this VM's noise, both limited by
    /// memory (16 MiB in about 0.65 ms). Callgrind (512 × 1024): 407 k instructions per call before,
    /// 286 k after, ndarray 688 k. Without the cascade's setup per one-block lane (`fold_pairwise`),
    /// 2048 × 1024: 1.14 M → 0.79 M instructions per call (ndarray 2.76 M).
    fn sum_axis_contiguous(
        &self,
        axis: usize,
    ) -> Option<Result<NdArray<<S::Elem as Summable>::Acc>, ArrayError>> {
        let nd = self.ndim();
        if axis >= nd || self.strides()[axis] != 1 {
            return None;
        }
        let mut rest = Geom::empty(nd - 1).ok()?;
        for (k, ax) in (0..nd).filter(|&ax| ax != axis).enumerate() {
            rest.set(k, self.shape()[ax], self.strides()[ax]);
        }
        let len = self.shape()[axis];
        let base = self.ptr.as_ptr();
        let is = inner_stride(&rest);
        Some(NdArray::try_build(rest.shape(), |out| {
            let mut k = 0;
            for_each_lane(rest.shape(), [rest.strides()], |[o], n| {
                // SAFETY: for `j < n`, `o + j * is` is the offset of an in-bounds index of the
                // other axes, and from it the summed axis reaches `len` consecutive in-bounds
                // elements (stride 1; invariant 2), not written while `&self` is borrowed.
                unsafe { sum_lanes(&mut out[k..k + n], base.wrapping_offset(o), is, len) };
                k += n;
            });
        }))
    }

    /// `sum_axis` when the result's last axis is contiguous in `self` (stride 1) and the summed axis
    /// is not (a C array's axis 0): lane by lane would read one element per cache line, and even
    /// 32 columns at a time read only 256 bytes per row before jumping a whole row ahead. Instead
    /// take stripes of up to [`SCRATCH`]` / levels` adjacent columns (a whole row when it fits) and
    /// add them, [`PASS_ROWS`] rows per pass, into one partial row per [`CHUNK_ROWS`] rows (vectorized
    /// adds of contiguous runs); each partial row then joins a pairwise cascade of rows kept in a stack
    /// buffer, so every column gets exactly the additions of a per-column
    /// [`Cascade`](crate::reduce::Cascade) over 32-row chains: NumPy-like `O(log n)` error growth
    /// (NumPy's own axis-0 sum adds row after row, `O(n)`). `None` if the layout does not fit.
    ///
    /// Measured (criterion `sum_strided_axis/*_sum_axis_f64/0`, 2048 × 1024 f64, medians of one
    /// run each on the 2-core VM at load ~10 from other builds): 4.69 ms before (32-column tiles)
    /// against ndarray's 1.65 ms; 1.56 ms with these stripes (512 columns) against ndarray's 1.56 ms.
    /// Then, on a 2-vCPU AMD EPYC with AVX-512 (AVX2 used) where the 16 MiB array stays in L3 (load
    /// ~1.5): 533 µs a row per pass, compiled for SSE2, against ndarray's 347 µs; 205–217 µs with
    /// [`PASS_ROWS`]` = 4` rows per pass and AVX2 (228 µs with SSE2; 318 µs with 2 rows per pass, 217
    /// with 8; whole-row stripes of 1024 columns were not faster) against ndarray's 337–342 µs.
    /// Callgrind: 6.60 M instructions per call before, 1.95 M after, ndarray 5.88 M.
    fn sum_axis_rows(
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
        // A cascade of `c` parts holds at most `bit_length(c)` finished rows, plus the one being
        // built: that many rows of the stripe must fit in the scratch buffer.
        let chunks = len.div_ceil(CHUNK_ROWS);
        let slots = (usize::BITS - chunks.leading_zeros()) as usize + 1;
        let lane = *rest.shape().last().expect("nd >= 2");
        let width = (SCRATCH / slots).min(lane).max(1);
        let base = self.ptr.as_ptr();
        Some(NdArray::try_build(rest.shape(), |out| {
            let zero = <S::Elem as Summable>::ACC_ZERO;
            let mut buf = [const { MaybeUninit::<<S::Elem as Summable>::Acc>::uninit() }; SCRATCH];
            let used = (slots * width).min(SCRATCH);
            for b in &mut buf[..used] {
                b.write(zero);
            }
            // SAFETY: the first `used` slots were initialised just above; `MaybeUninit<A>` has
            // `A`'s layout, and `buf` is not touched otherwise while this borrow lives.
            let scratch = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), used) };
            let mut k = 0;
            // Lanes of the result: `n` adjacent columns from offset `o` (stride 1, checked above).
            for_each_lane(rest.shape(), [rest.strides()], |[o], n| {
                for c0 in (0..n).step_by(width) {
                    let w = (n - c0).min(width);
                    // SAFETY: columns `c0..c0 + w` (<= n) of the result's lane, in every row
                    // `r < len` of the summed axis, are `w` consecutive in-bounds elements of
                    // `self` (stride 1; invariant 2); `scratch` holds `slots` rows of `width >= w`.
                    let sum = unsafe {
                        stripe_sum(scratch, width, w, base.offset(o + c0 as isize), step, len)
                    };
                    for (dst, &s) in out[k + c0..k + c0 + w].iter_mut().zip(sum) {
                        dst.write(s);
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

/// The column sums of a stripe: `len` rows of `w` consecutive elements, the first at `first` and
/// each `step` elements after the previous. Rows are added into a partial row per [`CHUNK_ROWS`]
/// rows, [`PASS_ROWS`] rows per pass over it (see [`add_rows`]), and the partial rows are combined
/// as [`Cascade::push`](crate::reduce::Cascade) combines parts, rows of `scratch` (`width` elements
/// apart) holding its stack. Returns the `w` sums, a prefix of `scratch`.
///
/// # Safety
///
/// For every `r < len`, the `w` elements from `first.offset(r * step)` are live, initialised and not
/// written during the call. (Not a safety matter, but a bounds-check panic otherwise: `w <= width`,
/// and `scratch` holds `bit_length(ceil(len / CHUNK_ROWS)) + 1` rows of `width`, since a cascade of
/// `c` parts keeps at most `bit_length(c)`.)
#[inline(always)]
unsafe fn stripe_body<T: Summable>(
    scratch: &mut [T::Acc],
    width: usize,
    w: usize,
    first: *const T,
    step: isize,
    len: usize,
) -> &[T::Acc] {
    let (zero, add) = (T::ACC_ZERO, T::acc_add);
    // SAFETY: `row` is called with `r < len` only (below), whose `w` elements the caller guarantees.
    let row = |r: usize| unsafe { std::slice::from_raw_parts(first.offset(r as isize * step), w) };
    let mut depth = 0usize;
    for (count, r0) in (0..len).step_by(CHUNK_ROWS).enumerate() {
        let part = &mut scratch[depth * width..][..w];
        part.fill(zero);
        let end = (r0 + CHUNK_ROWS).min(len);
        let mut r = r0;
        while end - r >= PASS_ROWS {
            add_rows::<T, PASS_ROWS>(part, std::array::from_fn(|i| row(r + i)));
            r += PASS_ROWS;
        }
        for r in r..end {
            add_rows::<T, 1>(part, [row(r)]);
        }
        // Merge with as many finished rows as the part count's trailing ones say.
        let mut c = count;
        while c & 1 == 1 {
            depth -= 1;
            let (lower, upper) = scratch.split_at_mut((depth + 1) * width);
            let below = &mut lower[depth * width..][..w];
            for (b, &p) in below.iter_mut().zip(&upper[..w]) {
                *b = add(*b, p);
            }
            c >>= 1;
        }
        depth += 1;
    }
    if depth == 0 {
        scratch[..w].fill(zero);
    }
    // Fold the finished rows from the top, `Cascade::finish`'s order.
    for d in (1..depth).rev() {
        let (lower, upper) = scratch.split_at_mut(d * width);
        let below = &mut lower[(d - 1) * width..][..w];
        for (b, &p) in below.iter_mut().zip(&upper[..w]) {
            *b = add(*b, p);
        }
    }
    &scratch[..w]
}

/// `part[j] = ((part[j] + rows[0][j]) + rows[1][j]) + …` for every `j < part.len()`: the same
/// additions, in the same order, as adding the rows one at a time, but each accumulator is loaded
/// and stored once per `R` rows instead of once per row, so a pass is `R` streamed loads per
/// element instead of a load, an add and a store per element per row (`rows[i].len() >=
/// part.len()`).
#[inline(always)]
fn add_rows<T: Summable, const R: usize>(part: &mut [T::Acc], rows: [&[T]; R]) {
    let w = part.len();
    let rows = rows.map(|r| &r[..w]);
    for (j, p) in part.iter_mut().enumerate() {
        let mut acc = *p;
        for r in &rows {
            acc = T::acc_add(acc, r[j].widen());
        }
        *p = acc;
    }
}

/// [`stripe_body`] compiled with AVX2.
///
/// # Safety
///
/// As [`stripe_body`], and the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn stripe_avx2<T: Summable>(
    scratch: &mut [T::Acc],
    width: usize,
    w: usize,
    first: *const T,
    step: isize,
    len: usize,
) -> &[T::Acc] {
    // SAFETY: the caller's guarantee, passed on.
    unsafe { stripe_body(scratch, width, w, first, step, len) }
}

/// [`stripe_body`], with AVX2 when the CPU has it.
///
/// # Safety
///
/// As [`stripe_body`].
#[inline]
unsafe fn stripe_sum<T: Summable>(
    scratch: &mut [T::Acc],
    width: usize,
    w: usize,
    first: *const T,
    step: isize,
    len: usize,
) -> &[T::Acc] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected; the rest is the caller's guarantee.
        return unsafe { stripe_avx2(scratch, width, w, first, step, len) };
    }
    // SAFETY: the caller's guarantee, passed on.
    unsafe { stripe_body(scratch, width, w, first, step, len) }
}
