//! Reductions `sum`, `mean`, `min`, `max`, written so the compiler vectorizes them.
//!
//! Floating-point addition is not associative, so a plain `iter().sum()` is one long dependency chain
//! that LLVM must not reorder: one scalar add per 4 cycles. The kernel here keeps [`LANES`] (32)
//! independent accumulators over `as_chunks::<32>()`, which LLVM turns into packed vector adds, and
//! combines blocks of [`BLOCK`] elements pairwise, like NumPy's pairwise summation (error grows like
//! `O(log n)` instead of `O(n)`). Every layout gets the same kernel: contiguous data in place,
//! strided elements and short rows gathered into a [`BLOCK`]-element stack buffer first
//! (`for_each_block`), so `a[::2].sum()` is as accurate as `a.sum()`. The slice kernels are compiled twice: for the baseline target and,
//! on x86-64, with AVX2 enabled, picked at run time with `is_x86_feature_detected!`.
//!
//! Checked in the assembly (`objdump -d -C` of the release bench binary, x86-64, rustc 1.95):
//!
//! - `sum_k::sum_avx2`: the main loop is eight `vaddpd mem, ymm, ymm` (f64) or four `vaddps` (f32) per
//!   32 elements, loading straight from memory; the baseline copy (`sum_slice`) uses SSE2
//!   `addpd`/`addps` on `xmm`.
//! - `min_k::min_avx2` / `max_k::max_avx2`: `vcmpltps`/`vcmpltpd` + `vcmpunordp*` (the NaN check) +
//!   `vblendvp*` on `ymm`.
//! - `mean_k::sum_f64_avx2`: `vaddpd ymm`, with `vcvtps2pd` for f32 input.
//!
//! Measured (benches/RESULTS.md, with 4096-element blocks): `sum` reaches 97 % (f64) and 95 % (f32)
//! of a plain read-bandwidth loop over 256 MiB, 1.27× ndarray's `sum`; `iter().sum()` reaches 49 %.
//! With 1024-element blocks (one short run, `--measurement-time 2`, 2-core VM, medians): read
//! baseline 18.29 ms, f64 `sum` 18.31 ms (100 %), f32 19.99 ms (91 %), ndarray 23.53 / 30.02 ms;
//! 16 KiB in L1 146 ns. Strided, same run: `a[::2].sum()` of 10 M f32 3.12 ms (ndarray 3.41 ms),
//! `b[:, :1].sum()` 3.13 ms (ndarray 3.42 ms). Combining the 32 lane
//! accumulators with a tree instead of in order made LLVM's SLP vectorizer fall back to `xmm`.

use crate::array_base::{ArrayBase, Data};
use std::mem::MaybeUninit;

use crate::element::{Num, Summable};
use crate::error::ArrayError;
use crate::iter::{for_each_lane, inner_stride};

/// Independent accumulators per kernel: four AVX2 registers of `f32`, eight of `f64`.
pub const LANES: usize = 32;
/// Elements summed per block before blocks are combined pairwise: each of the [`LANES`]
/// accumulators adds 32 elements in a row, then the lanes are added in order. Measured on the
/// `f32` test of `tests/numpy_semantics.rs` (5 M values of 0.1): relative error 3.9e-7 with 1024,
/// 8.3e-7 with 2048, 1.2e-6 with 4096 (NumPy: 1.1e-7, with 8 accumulators of 16). 1024 keeps a
/// margin under the 1e-6 NumPy-accuracy target, and the gather buffer at 8 KiB for `f64`.
pub const BLOCK: usize = 1024;

#[inline(always)]
fn fold_block<T: Copy, A: Copy>(
    s: &[T],
    init: A,
    step: impl Fn(A, T) -> A,
    merge: impl Fn(A, A) -> A,
) -> A {
    let (chunks, rem) = s.as_chunks::<LANES>();
    let mut acc = [init; LANES];
    for c in chunks {
        for i in 0..LANES {
            acc[i] = step(acc[i], c[i]);
        }
    }
    // Combine the lanes in order. (A tree here looks tidier, but measured: it made LLVM's SLP
    // vectorizer fall back from ymm to xmm registers for the main loop above.)
    let mut total = acc[0];
    for &a in &acc[1..] {
        total = merge(total, a);
    }
    rem.iter().fold(total, |a, &x| step(a, x))
}

/// `x` if it is smaller or NaN, else `acc`: a NaN, once taken, is never replaced (no comparison with
/// it is true), so it propagates as in NumPy. Compiles to compare + blend.
#[inline(always)]
fn min_step<T: Num>(acc: T, x: T) -> T {
    if x < acc || x.is_nan() { x } else { acc }
}
#[inline(always)]
fn max_step<T: Num>(acc: T, x: T) -> T {
    if x > acc || x.is_nan() { x } else { acc }
}

/// Partial results combined pairwise as they arrive (cascade summation): part `i` merges with its
/// finished neighbours like the leaves of a balanced binary tree, tracked by a binary counter, so
/// `n` parts are combined at depth `log2(n)` and the rounding error grows like `O(log n)`.
pub(crate) struct Cascade<A, M> {
    stack: [A; 64],
    depth: usize,
    count: u64,
    merge: M,
}

impl<A: Copy, M: Fn(A, A) -> A> Cascade<A, M> {
    #[inline(always)]
    pub(crate) fn new(init: A, merge: M) -> Self {
        Cascade {
            stack: [init; 64],
            depth: 0,
            count: 0,
            merge,
        }
    }
    #[inline(always)]
    pub(crate) fn push(&mut self, mut part: A) {
        // Merge with as many finished subtrees as the part count's trailing ones say.
        let mut n = self.count;
        while n & 1 == 1 {
            self.depth -= 1;
            part = (self.merge)(self.stack[self.depth], part);
            n >>= 1;
        }
        self.stack[self.depth] = part;
        self.depth += 1;
        self.count += 1;
    }
    /// The combined result, or `empty` if nothing was pushed.
    #[inline(always)]
    pub(crate) fn finish(mut self, empty: A) -> A {
        if self.depth == 0 {
            return empty;
        }
        self.depth -= 1;
        let mut total = self.stack[self.depth];
        while self.depth > 0 {
            self.depth -= 1;
            total = (self.merge)(self.stack[self.depth], total);
        }
        total
    }
}

/// Folds `s` block by block ([`BLOCK`] elements, [`LANES`] accumulators each), combining the block
/// results in a [`Cascade`].
///
/// A slice of one block skips the cascade: a cascade of one part finishes as that part, so the result
/// is the same bit for bit, without the cascade's setup (a 528-byte `memset` of its stack for `f64`,
/// and its counters) for every short lane. Measured on an axis-1 `sum_axis` (2048 rows of 1024 f64,
/// one block per row, through [`sum_lanes`]): callgrind 1.14 M → 0.79 M instructions per call
/// (ndarray 2.76 M).
#[inline(always)]
fn fold_pairwise<T: Copy, A: Copy>(
    s: &[T],
    init: A,
    step: impl Fn(A, T) -> A + Copy,
    merge: impl Fn(A, A) -> A + Copy,
) -> A {
    if !s.is_empty() && s.len() <= BLOCK {
        return fold_block(s, init, step, merge);
    }
    let mut c = Cascade::new(init, merge);
    for block in s.chunks(BLOCK) {
        c.push(fold_block(block, init, step, merge));
    }
    c.finish(init)
}

macro_rules! multiversion {
    ($(#[$doc:meta])* $name:ident, $avx:ident, <$t:ident: $bound:path>($s:ident: &[$t2:ident]) -> $ret:ty $body:block) => {
        #[inline(always)]
        fn generic_body<$t: $bound>($s: &[$t2]) -> $ret $body

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx<$t: $bound>($s: &[$t2]) -> $ret {
            generic_body($s)
        }

        $(#[$doc])*
        pub(crate) fn $name<$t: $bound>($s: &[$t2]) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked on the line above), the only requirement of
                // calling a `#[target_feature(enable = "avx2")]` function.
                return unsafe { $avx($s) };
            }
            generic_body($s)
        }
    };
}

mod sum_k {
    use super::*;
    multiversion! {
        /// Pairwise sum of a slice in its accumulator type (wrapping for integers).
        sum_slice, sum_avx2, <T: Summable>(s: &[T]) -> T::Acc {
            fold_pairwise(s, T::ACC_ZERO, |a: T::Acc, x: T| T::acc_add(a, x.widen()), T::acc_add)
        }
    }
    /// The body of [`sum_lanes`]: `sum_slice` of each lane, with no dispatch per lane.
    ///
    /// # Safety
    ///
    /// As [`sum_lanes`].
    #[inline(always)]
    unsafe fn lanes_body<T: Summable>(
        out: &mut [MaybeUninit<T::Acc>],
        first: *const T,
        step: isize,
        len: usize,
    ) {
        for (i, dst) in out.iter_mut().enumerate() {
            let lane: &[T] = if len == 0 {
                &[]
            } else {
                // SAFETY: lane `i < out.len()` is `len` consecutive live elements (the caller's
                // guarantee).
                unsafe { std::slice::from_raw_parts(first.offset(i as isize * step), len) }
            };
            dst.write(generic_body(lane));
        }
    }

    /// [`lanes_body`] with AVX2.
    ///
    /// # Safety
    ///
    /// As [`sum_lanes`], and the CPU supports AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn lanes_avx2<T: Summable>(
        out: &mut [MaybeUninit<T::Acc>],
        first: *const T,
        step: isize,
        len: usize,
    ) {
        // SAFETY: the caller's guarantee, passed on.
        unsafe { lanes_body(out, first, step, len) }
    }

    /// Writes to `out[i]` the [`sum_slice`] of lane `i`: `len` consecutive elements from
    /// `first.offset(i * step)` (an axis-1 `sum_axis`, one lane per row). One CPU-feature check
    /// for all the lanes.
    ///
    /// # Safety
    ///
    /// Unless `len == 0`, for every `i < out.len()` the `len` elements from `first.offset(i * step)`
    /// are live, initialised and not written during the call.
    pub(crate) unsafe fn sum_lanes<T: Summable>(
        out: &mut [MaybeUninit<T::Acc>],
        first: *const T,
        step: isize,
        len: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected; the rest is the caller's guarantee.
            return unsafe { lanes_avx2(out, first, step, len) };
        }
        // SAFETY: the caller's guarantee, passed on.
        unsafe { lanes_body(out, first, step, len) }
    }
}
mod mean_k {
    use super::*;
    multiversion! {
        /// Pairwise sum of a slice converted to `f64`.
        sum_f64_slice, sum_f64_avx2, <T: Summable>(s: &[T]) -> f64 {
            fold_pairwise(s, 0.0f64, |a: f64, x: T| a + x.to_f64(), |a: f64, b: f64| a + b)
        }
    }
}
mod min_k {
    use super::*;
    multiversion! {
        /// Minimum of a non-empty slice.
        min_slice, min_avx2, <T: Num>(s: &[T]) -> T {
            fold_pairwise(s, s[0], min_step, min_step)
        }
    }
}
mod max_k {
    use super::*;
    multiversion! {
        /// Maximum of a non-empty slice.
        max_slice, max_avx2, <T: Num>(s: &[T]) -> T {
            fold_pairwise(s, s[0], max_step, max_step)
        }
    }
}
pub(crate) use max_k::max_slice;
pub(crate) use mean_k::sum_f64_slice;
pub(crate) use min_k::min_slice;
pub(crate) use sum_k::{sum_lanes, sum_slice};

/// The first `n` slots of `buf` as initialised elements (`<[MaybeUninit<T>]>::assume_init_ref` is
/// newer than this crate's minimum Rust).
///
/// # Safety
///
/// `n <= buf.len()` and the first `n` slots have been written.
unsafe fn written<T>(buf: &[MaybeUninit<T>], n: usize) -> &[T] {
    debug_assert!(n <= buf.len());
    // SAFETY: `MaybeUninit<T>` has `T`'s layout; the caller guarantees the `n` slots are initialised
    // and in bounds; the borrow of `buf` keeps them alive and unchanged.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<T>(), n) }
}

/// Copies `dst.len()` elements into `dst`, the first at `src` and each `step` elements after the
/// previous. The common stride 2 (`a[::2]`, a column of an `(n, 2)` array) gets a loop of its own,
/// which LLVM vectorizes as wide loads and shuffles instead of one scalar load per element
/// (`vmovups` + `vshufps`/`vpermpd` on `ymm` in `gather_avx2`). Measured: callgrind, `a[::2].sum()`
/// of 1 M f32, 8.9 instructions per summed element before, 1.1 after (ndarray: 2.0, a serial
/// scalar add chain); criterion (`sum_strided_axis`, one run, load ~5): `a[::2].sum()` of 10 M f32
/// 1.89 ms (ndarray 4.52 ms), `b[:, :1].sum()` 1.91 ms (ndarray 5.75 ms).
///
/// # Safety
///
/// For every `q < dst.len()`, `src.offset(q * step)` is a live, initialised element not written
/// during the call.
#[inline(always)]
unsafe fn gather_body<T: Copy>(dst: &mut [MaybeUninit<T>], src: *const T, step: isize) {
    if step == 2 {
        for (q, d) in dst.iter_mut().enumerate() {
            // SAFETY: `q < dst.len()`, the caller's guarantee.
            d.write(unsafe { *src.add(2 * q) });
        }
    } else {
        for (q, d) in dst.iter_mut().enumerate() {
            // SAFETY: `q < dst.len()`, the caller's guarantee.
            d.write(unsafe { *src.offset(q as isize * step) });
        }
    }
}

/// [`gather_body`] compiled with AVX2 (wider shuffles).
///
/// # Safety
///
/// As [`gather_body`], and the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gather_avx2<T: Copy>(dst: &mut [MaybeUninit<T>], src: *const T, step: isize) {
    // SAFETY: the caller's guarantee, passed on.
    unsafe { gather_body(dst, src, step) }
}

/// [`gather_body`], with AVX2 when the CPU has it.
///
/// # Safety
///
/// As [`gather_body`].
#[inline]
unsafe fn gather<T: Copy>(dst: &mut [MaybeUninit<T>], src: *const T, step: isize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected; the rest is the caller's guarantee.
        return unsafe { gather_avx2(dst, src, step) };
    }
    // SAFETY: the caller's guarantee, passed on.
    unsafe { gather_body(dst, src, step) }
}

/// Contiguous runs at least this long are summed in place; shorter ones (and strided elements) are
/// gathered into a block first, so a kernel call always has enough elements to amortise it.
const DIRECT_MIN: usize = 8 * LANES;

impl<S: Data> ArrayBase<S> {
    /// Calls `f` with every element exactly once, as slices of at most [`BLOCK`] elements, in an
    /// order chosen for memory access (not C order: for order-independent reductions). Contiguous
    /// data is passed in place; strided elements and short rows are gathered into a stack block, so
    /// `f` sees full blocks whatever the layout (NumPy's accuracy for `a[::2].sum()` and
    /// `b[:, :1].sum()`). Allocates nothing.
    pub(crate) fn for_each_block(&self, mut f: impl FnMut(&[S::Elem])) {
        if let Some(s) = self.memory_slice() {
            s.chunks(BLOCK).for_each(f);
            return;
        }
        let g = self.geom.for_reduction();
        let ptr = self.ptr.as_ptr();
        let is = inner_stride(&g);
        let mut buf = [const { MaybeUninit::<S::Elem>::uninit() }; BLOCK];
        let mut filled = 0usize;
        for_each_lane(g.shape(), [g.strides()], |[o], n| {
            let mut j = 0usize;
            if is == 1 {
                while n - j >= DIRECT_MIN {
                    let m = (n - j).min(BLOCK);
                    // SAFETY: a lane of stride 1 is `n` consecutive in-bounds elements (invariant 2
                    // for `g`, which reaches the same elements as `self.geom`), `j + m <= n`.
                    f(unsafe { std::slice::from_raw_parts(ptr.offset(o + j as isize), m) });
                    j += m;
                }
            }
            while j < n {
                let m = (n - j).min(BLOCK - filled);
                // SAFETY: for `q < m`, `j + q < n`: an in-bounds offset of the lane (invariant 2),
                // live and not written while `&self` is borrowed.
                unsafe {
                    gather(
                        &mut buf[filled..filled + m],
                        ptr.offset(o + j as isize * is),
                        is,
                    )
                };
                filled += m;
                j += m;
                if filled == BLOCK {
                    // SAFETY: all `BLOCK` slots were written since the buffer was last emptied.
                    f(unsafe { written(&buf, BLOCK) });
                    filled = 0;
                }
            }
        });
        if filled > 0 {
            // SAFETY: the first `filled` slots were written since the buffer was last emptied.
            f(unsafe { written(&buf, filled) });
        }
    }

    /// Runs `kernel` over blocks of the elements and combines the parts pairwise; `empty` if there
    /// are none.
    fn reduce_blocks<A: Copy>(
        &self,
        empty: A,
        kernel: impl Fn(&[S::Elem]) -> A,
        merge: impl Fn(A, A) -> A,
    ) -> A {
        if let Some(s) = self.memory_slice() {
            return if s.is_empty() { empty } else { kernel(s) };
        }
        let mut c = Cascade::new(empty, merge);
        self.for_each_block(|b| c.push(kernel(b)));
        c.finish(empty)
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Summable,
{
    /// Sum of all elements (NumPy's `a.sum()`), in NumPy's accumulator type: `i64` for signed
    /// integers and `bool` (a count of `true`s), `u64` for unsigned integers, the float type itself
    /// for floats. Pairwise and vectorized for every layout: strided views and many short rows are
    /// gathered into blocks first, so the rounding error grows like `O(log n)` as NumPy's (an `f32`
    /// sum of 10 M values of 0.1 over `a[::2]` is off by about 1e-7, not 1e-3). Integer sums wrap
    /// in 64 bits, as NumPy's do. Allocates nothing.
    pub fn sum(&self) -> <S::Elem as Summable>::Acc {
        self.reduce_blocks(S::Elem::ACC_ZERO, sum_slice, <S::Elem as Summable>::acc_add)
    }

    /// Arithmetic mean as `f64`, accumulated pairwise in `f64` (NaN for an empty array, as NumPy's
    /// with a warning). For `bool`, the fraction of `true`s.
    pub fn mean(&self) -> f64 {
        self.reduce_blocks(0.0, sum_f64_slice, |a, b| a + b) / self.len() as f64
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Num,
{
    /// Smallest element; NaN if any element is NaN (as NumPy's `a.min()`).
    pub fn min(&self) -> Result<S::Elem, ArrayError> {
        let first = *self
            .iter()
            .next()
            .ok_or(ArrayError::EmptyReduction("minimum"))?;
        Ok(self.reduce_blocks(first, min_slice, min_step))
    }

    /// Largest element; NaN if any element is NaN (as NumPy's `a.max()`).
    pub fn max(&self) -> Result<S::Elem, ArrayError> {
        let first = *self
            .iter()
            .next()
            .ok_or(ArrayError::EmptyReduction("maximum"))?;
        Ok(self.reduce_blocks(first, max_slice, max_step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fold_pairwise`'s one-block shortcut gives what the cascade gives, bit for bit, on values
    /// whose sum depends on the order of the additions, at the lengths around [`BLOCK`].
    #[test]
    fn one_block_shortcut_matches_the_cascade() {
        let v: Vec<f32> = (0..3 * BLOCK)
            .map(|i| 0.1 + (i % 7) as f32 * 1e-3 + (i % 3) as f32 * 1e4)
            .collect();
        let add = |a: f32, b: f32| a + b;
        for n in [1, 2, 31, 33, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 5] {
            let s = &v[..n];
            let mut c = Cascade::new(0.0f32, add);
            for b in s.chunks(BLOCK) {
                c.push(fold_block(b, 0.0, add, add));
            }
            let want = c.finish(0.0);
            assert_eq!(sum_slice(s).to_bits(), want.to_bits(), "n = {n}");
            // And the shortcut is not the sequential sum these values would give otherwise.
            if n == BLOCK {
                assert_ne!(s.iter().fold(0.0f32, |a, &x| a + x), want, "n = {n}");
            }
        }
    }
}
