//! Element-wise arithmetic with NumPy broadcasting.
//!
//! - `&a + &b`, `&a * 2.0`: a new array (one allocation, the result), like NumPy's `a + b`. Shapes
//!   broadcast by NumPy's rules; incompatible shapes panic with NumPy's message naming both, and
//!   [`try_zip_map`](ArrayBase::try_zip_map) returns it as an error instead.
//! - `a + &b`, `a * 2.0` with `a` an owned [`NdArray`] by value: the result is written into `a`'s
//!   buffer when the shapes allow, so chains like `a * 2.0 + &b` allocate nothing beyond `a`.
//! - `a += &b`, `a *= 2.0`, [`mul_add_assign`](ArrayBase::mul_add_assign): in place, zero bytes.
//! - `2.0 * &a`, `1.0 - &a` (scalar on the left) and `-&a`: a new array; `2.0 * a`, `-a` with `a`
//!   owned by value: in `a`'s buffer, zero bytes.
//!
//! Integer `+ - *` wrap, as NumPy's do. Integer `/` is Rust's truncating division (`-7 / 2 == -3`),
//! which is *not* NumPy's `/` (true division to float) nor its `//`; for NumPy's `//` use
//! [`floor_div`](ArrayBase::floor_div) (`-7 // 2 == -4`). Division by zero never panics: integer
//! `/` and `floor_div` give 0 (as NumPy's `//`, minus its warning), floats give IEEE `inf`/`nan`.

use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::array_base::{ArrayBase, Data, DataMut, NdArray};
use crate::dim::broadcast_shapes;
use crate::element::{Element, Num, Summable};
use crate::error::ArrayError;
use crate::iter::{for_each_lane, inner_stride};

impl<S: Data> ArrayBase<S> {
    /// `f(element)` for every element, as a new C-ordered array (NumPy's ufunc on one operand).
    pub fn map<U: Element>(&self, f: impl Fn(S::Elem) -> U) -> NdArray<U> {
        NdArray::try_build(self.shape(), |out| self.write_mapped(out, f))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `f(a, b)` element-wise over `self` and `other` broadcast together, as a new C-ordered array;
    /// an error naming both shapes if they do not broadcast, or out-of-memory.
    pub fn try_zip_map<S2: Data, U: Element>(
        &self,
        other: &ArrayBase<S2>,
        f: impl Fn(S::Elem, S2::Elem) -> U,
    ) -> Result<NdArray<U>, ArrayError> {
        let g = broadcast_shapes(self.shape(), other.shape())?;
        let (a, b) = (self.broadcast(g.shape())?, other.broadcast(g.shape())?);
        NdArray::try_build(g.shape(), |out| {
            if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
                for ((o, &x), &y) in out.iter_mut().zip(x).zip(y) {
                    o.write(f(x, y));
                }
                return;
            }
            let (pa, pb) = (a.ptr.as_ptr(), b.ptr.as_ptr());
            let (sa, sb) = (inner_stride(&a.geom), inner_stride(&b.geom));
            let mut k = 0;
            for_each_lane(g.shape(), [a.strides(), b.strides()], |[oa, ob], n| {
                for (j, o) in out[k..k + n].iter_mut().enumerate() {
                    let j = j as isize;
                    // SAFETY: both views have the broadcast shape, so lane offsets plus `j·stride`
                    // for `j < n` are in-bounds element offsets of each (invariant 2).
                    o.write(unsafe { f(*pa.offset(oa + j * sa), *pb.offset(ob + j * sb)) });
                }
                k += n;
            });
        })
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Num,
{
    /// NumPy's `a // b`, element-wise with broadcasting, as a new array: quotients rounded toward
    /// negative infinity (`-7 // 2 == -4`, where `/` gives Rust's `-3`). Integer division by zero
    /// gives 0 and `MIN // -1` gives `MIN`, as NumPy's (without its warnings); floats follow NumPy's
    /// `npy_floor_divide` (`1.0 // 0.0 == inf`). Allocates the result. Panics with NumPy's message
    /// if the shapes do not broadcast (see [`try_zip_map`](Self::try_zip_map)).
    pub fn floor_div<S2: Data<Elem = S::Elem>>(&self, rhs: &ArrayBase<S2>) -> NdArray<S::Elem> {
        self.try_zip_map(rhs, S::Elem::floor_div)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// NumPy's `a // x` for a scalar `x`, as a new array (see [`floor_div`](Self::floor_div)).
    pub fn floor_div_scalar(&self, x: S::Elem) -> NdArray<S::Elem> {
        self.map(|a| S::Elem::floor_div(a, x))
    }
}

impl<S: DataMut> ArrayBase<S> {
    /// `self[i] = f(self[i], other[i])` with `other` broadcast to `self`'s shape (NumPy's `out=`);
    /// zero bytes allocated. Errors naming both shapes if `other` does not broadcast to `self`.
    pub fn try_zip_assign<S2: Data>(
        &mut self,
        other: &ArrayBase<S2>,
        f: impl Fn(S::Elem, S2::Elem) -> S::Elem,
    ) -> Result<(), ArrayError> {
        let b = other.broadcast(self.shape()).map_err(|_| {
            ArrayError::mismatch(
                "non-broadcastable operand could not be broadcast to the output",
                other.shape(),
                self.shape(),
            )
        })?;
        let geom = self.geom;
        let pb = b.ptr.as_ptr();
        if let (Some(y), true) = (b.as_slice(), geom.is_c_contiguous()) {
            let x = self.as_slice_mut().expect("checked C-contiguous");
            for (x, &y) in x.iter_mut().zip(y) {
                *x = f(*x, y);
            }
            return Ok(());
        }
        let pa = self.ptr.as_ptr();
        let (sa, sb) = (inner_stride(&geom), inner_stride(&b.geom));
        for_each_lane(
            geom.shape(),
            [geom.strides(), b.strides()],
            |[oa, ob], n| {
                for j in 0..n as isize {
                    // SAFETY: in-bounds offsets of both arrays (same shape after broadcasting); the
                    // writes hit distinct elements of `self` (invariant 4) and `&mut self` excludes other
                    // access; `other` cannot alias `self` mutably borrowed (the borrow checker forbids it).
                    unsafe {
                        let x = pa.offset(oa + j * sa);
                        *x = f(*x, *pb.offset(ob + j * sb));
                    }
                }
            },
        );
        Ok(())
    }

    /// `self = self * m + b` in one pass, in place (NumPy's `np.multiply(a, m, out=a); a += b`
    /// without the second pass); zero bytes allocated. Panics if `b` does not broadcast to `self`.
    pub fn mul_add_assign<S2: Data<Elem = S::Elem>>(&mut self, m: S::Elem, b: &ArrayBase<S2>)
    where
        S::Elem: Num,
    {
        self.try_zip_assign(b, |x, y| S::Elem::add(S::Elem::mul(x, m), y))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Calls `f` on every element in logical order, in place.
    pub fn map_inplace(&mut self, mut f: impl FnMut(&mut S::Elem)) {
        if let Some(s) = self.as_slice_mut() {
            s.iter_mut().for_each(f);
            return;
        }
        let ptr = self.ptr.as_ptr();
        let geom = self.geom;
        let is = inner_stride(&geom);
        for_each_lane(geom.shape(), [geom.strides()], |[o], n| {
            for j in 0..n as isize {
                // SAFETY: `o + j·is` is an in-bounds offset (lane of an in-bounds index), distinct
                // per visit (invariant 4), and `&mut self` excludes other access.
                f(unsafe { &mut *ptr.offset(o + j * is) });
            }
        });
    }

    /// Sets every element to `value` (NumPy's `a[...] = value`).
    pub fn fill(&mut self, value: S::Elem) {
        self.map_inplace(|x| *x = value);
    }

    /// Copies `src` (broadcast to `self`'s shape) into `self` (NumPy's `a[...] = src`).
    pub fn assign<S2: Data<Elem = S::Elem>>(
        &mut self,
        src: &ArrayBase<S2>,
    ) -> Result<(), ArrayError> {
        self.try_zip_assign(src, |_, y| y)
    }
}

macro_rules! binary_ops {
    ($($Op:ident $op:ident $OpAssign:ident $op_assign:ident $f:ident;)*) => {$(
        impl<S: Data, S2: Data<Elem = S::Elem>> $Op<&ArrayBase<S2>> for &ArrayBase<S>
        where
            S::Elem: Num,
        {
            type Output = NdArray<S::Elem>;
            /// A new array (panics with NumPy's message if the shapes do not broadcast). For
            /// integers, `/` truncates and gives 0 on division by zero (see the module docs).
            fn $op(self, rhs: &ArrayBase<S2>) -> NdArray<S::Elem> {
                self.try_zip_map(rhs, S::Elem::$f).unwrap_or_else(|e| panic!("{e}"))
            }
        }

        impl<T: Num, S2: Data<Elem = T>> $Op<&ArrayBase<S2>> for NdArray<T> {
            type Output = NdArray<T>;
            /// Reuses `self`'s buffer when the broadcast shape is `self`'s shape, else allocates.
            fn $op(mut self, rhs: &ArrayBase<S2>) -> NdArray<T> {
                match broadcast_shapes(self.shape(), rhs.shape()) {
                    Ok(g) if g.shape() == self.shape() => {
                        self.try_zip_assign(rhs, T::$f).unwrap_or_else(|e| panic!("{e}"));
                        self
                    }
                    _ => (&self).$op(rhs),
                }
            }
        }

        impl<S: DataMut, S2: Data<Elem = S::Elem>> $OpAssign<&ArrayBase<S2>> for ArrayBase<S>
        where
            S::Elem: Num,
        {
            /// In place, zero bytes allocated; panics if `rhs` does not broadcast to `self`.
            fn $op_assign(&mut self, rhs: &ArrayBase<S2>) {
                self.try_zip_assign(rhs, S::Elem::$f).unwrap_or_else(|e| panic!("{e}"))
            }
        }
    )*};
}

binary_ops! {
    Add add AddAssign add_assign add;
    Sub sub SubAssign sub_assign sub;
    Mul mul MulAssign mul_assign mul;
    Div div DivAssign div_assign div;
}

macro_rules! scalar_ops {
    ($($t:ty),*) => {$(
        scalar_ops!(@one $t, Add add AddAssign add_assign add);
        scalar_ops!(@one $t, Sub sub SubAssign sub_assign sub);
        scalar_ops!(@one $t, Mul mul MulAssign mul_assign mul);
        scalar_ops!(@one $t, Div div DivAssign div_assign div);
    )*};
    (@one $t:ty, $Op:ident $op:ident $OpAssign:ident $op_assign:ident $f:ident) => {
        impl<S: Data<Elem = $t>> $Op<$t> for &ArrayBase<S> {
            type Output = NdArray<$t>;
            /// A new array (one allocation: the result).
            fn $op(self, rhs: $t) -> NdArray<$t> {
                self.map(|x| <$t as Num>::$f(x, rhs))
            }
        }
        impl $Op<$t> for NdArray<$t> {
            type Output = NdArray<$t>;
            /// In `self`'s buffer: zero bytes allocated.
            fn $op(mut self, rhs: $t) -> NdArray<$t> {
                self.map_inplace(|x| *x = <$t as Num>::$f(*x, rhs));
                self
            }
        }
        impl<S: DataMut<Elem = $t>> $OpAssign<$t> for ArrayBase<S> {
            /// In place: zero bytes allocated.
            fn $op_assign(&mut self, rhs: $t) {
                self.map_inplace(|x| *x = <$t as Num>::$f(*x, rhs));
            }
        }
    };
}

scalar_ops!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! scalar_left_ops {
    ($($t:ty),*) => {$(
        scalar_left_ops!(@one $t, Add add add);
        scalar_left_ops!(@one $t, Sub sub sub);
        scalar_left_ops!(@one $t, Mul mul mul);
        scalar_left_ops!(@one $t, Div div div);
    )*};
    (@one $t:ty, $Op:ident $op:ident $f:ident) => {
        impl<S: Data<Elem = $t>> $Op<&ArrayBase<S>> for $t {
            type Output = NdArray<$t>;
            /// NumPy's `x op a` with the scalar on the left: a new array (one allocation).
            fn $op(self, rhs: &ArrayBase<S>) -> NdArray<$t> {
                rhs.map(|x| <$t as Num>::$f(self, x))
            }
        }
        impl $Op<NdArray<$t>> for $t {
            type Output = NdArray<$t>;
            /// In `rhs`'s buffer: zero bytes allocated.
            fn $op(self, mut rhs: NdArray<$t>) -> NdArray<$t> {
                rhs.map_inplace(|x| *x = <$t as Num>::$f(self, *x));
                rhs
            }
        }
    };
}

scalar_left_ops!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

impl<S: Data> Neg for &ArrayBase<S>
where
    S::Elem: Num,
{
    type Output = NdArray<S::Elem>;
    /// NumPy's `-a`: a new array. Integers wrap (`-(-128i8) == -128`, and unsigned `-1u8 == 255`,
    /// as NumPy's); floats flip the sign bit (`-0.0`).
    fn neg(self) -> NdArray<S::Elem> {
        self.map(neg_one)
    }
}

impl<T: Num> Neg for NdArray<T> {
    type Output = NdArray<T>;
    /// `-a` in `a`'s own buffer: zero bytes allocated.
    fn neg(mut self) -> NdArray<T> {
        self.map_inplace(|x| *x = neg_one(*x));
        self
    }
}

/// `-x` for any `Num`: `0 - x` wraps for integers; for floats, `x * -1` flips the sign of zeros and
/// NaNs too (`0.0 - 0.0` would give `+0.0`).
#[inline(always)]
fn neg_one<T: Num>(x: T) -> T {
    if T::DTYPE.is_float() {
        T::mul(x, T::from_scalar(crate::element::Scalar::Int(-1)))
    } else {
        T::sub(T::ZERO, x)
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: Num,
{
    /// NumPy's `np.allclose(a, b, rtol, atol)`: whether `|a - b| <= atol + rtol·|b|` for every pair
    /// of elements of `self` and `other` broadcast together, computed in `f64`. NaNs are never
    /// close (NumPy's default `equal_nan=False`); infinities are close to equal infinities only.
    /// NumPy's defaults are `rtol = 1e-5`, `atol = 1e-8`. Errors if the shapes do not broadcast.
    /// Allocates nothing (NumPy allocates several temporaries).
    pub fn allclose<S2: Data>(
        &self,
        other: &ArrayBase<S2>,
        rtol: f64,
        atol: f64,
    ) -> Result<bool, ArrayError>
    where
        S2::Elem: Num,
    {
        let g = broadcast_shapes(self.shape(), other.shape())?;
        let (a, b) = (self.broadcast(g.shape())?, other.broadcast(g.shape())?);
        Ok(a.iter().zip(b.iter()).all(|(&x, &y)| {
            let (x, y) = (x.to_f64(), y.to_f64());
            if x.is_infinite() || y.is_infinite() {
                x == y
            } else {
                (x - y).abs() <= atol + rtol * y.abs()
            }
        }))
    }
}
