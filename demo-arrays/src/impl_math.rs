//! Element-wise math, NumPy's ufuncs `np.sqrt`, `np.exp`, `np.abs` and `np.clip`, each in two
//! forms: `a.sqrt()` allocates the result (as NumPy's `np.sqrt(a)`); `a.sqrt_inplace()` overwrites
//! `a` and allocates nothing (NumPy's `np.sqrt(a, out=a)`). Inside a fused expression,
//! [`Lazy::sqrt`](crate::fused::Lazy::sqrt) and its siblings add no temporary at all:
//! `(lazy(&a) * 2.0 + &b).sqrt().eval()` allocates the result only, where NumPy's
//! `np.sqrt(a * 2 + b)` allocates two temporaries first.

use crate::array_base::{ArrayBase, Data, DataMut, NdArray};
use crate::element::{Float, Num};

/// NumPy's `np.clip(x, lo, hi)`, checked against NumPy 2.4 (`fixtures/make_fixtures.py`): a NaN
/// in `x`, `lo` or `hi` gives NaN, `lo > hi` gives `hi`, and a bound equal to `x` keeps `x`, so
/// `clip(-0.0, 0.0, 1.0)` is `-0.0`.
#[inline(always)]
pub(crate) fn clip_one<T: Num>(x: T, lo: T, hi: T) -> T {
    let m = if x.is_nan() || !(lo.is_nan() || lo > x) {
        x
    } else {
        lo
    };
    if m.is_nan() || !(hi.is_nan() || hi < m) {
        m
    } else {
        hi
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Float,
{
    /// NumPy's `np.sqrt(a)`: a new array (NaN for negative elements). Allocates the result.
    pub fn sqrt(&self) -> NdArray<S::Elem> {
        self.map(Float::sqrt)
    }

    /// NumPy's `np.exp(a)`: a new array (`inf` on overflow). Allocates the result.
    pub fn exp(&self) -> NdArray<S::Elem> {
        self.map(Float::exp)
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Num,
{
    /// NumPy's `np.abs(a)`: a new array; signed integers wrap (`abs(-128i8) == -128`, as NumPy's).
    /// Allocates the result.
    pub fn abs(&self) -> NdArray<S::Elem> {
        self.map(Num::abs)
    }

    /// NumPy's `np.clip(a, lo, hi)`: each element limited to `[lo, hi]`, as a new array. NaN
    /// elements or bounds give NaN, and `lo > hi` gives `hi` everywhere, as NumPy's. Allocates the
    /// result.
    pub fn clip(&self, lo: S::Elem, hi: S::Elem) -> NdArray<S::Elem> {
        self.map(|x| clip_one(x, lo, hi))
    }
}

impl<S: DataMut> ArrayBase<S>
where
    S::Elem: Float,
{
    /// `a = sqrt(a)` in place (NumPy's `np.sqrt(a, out=a)`): zero bytes allocated.
    pub fn sqrt_inplace(&mut self) {
        self.map_inplace(|x| *x = x.sqrt());
    }

    /// `a = exp(a)` in place (NumPy's `np.exp(a, out=a)`): zero bytes allocated.
    pub fn exp_inplace(&mut self) {
        self.map_inplace(|x| *x = x.exp());
    }
}

impl<S: DataMut> ArrayBase<S>
where
    S::Elem: Num,
{
    /// `a = abs(a)` in place (NumPy's `np.abs(a, out=a)`): zero bytes allocated.
    pub fn abs_inplace(&mut self) {
        self.map_inplace(|x| *x = Num::abs(*x));
    }

    /// `a = clip(a, lo, hi)` in place (NumPy's `a.clip(lo, hi, out=a)`): zero bytes allocated.
    pub fn clip_inplace(&mut self, lo: S::Elem, hi: S::Elem) {
        self.map_inplace(|x| *x = clip_one(*x, lo, hi));
    }
}
