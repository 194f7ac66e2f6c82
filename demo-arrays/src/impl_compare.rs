//! Comparisons that give `bool` arrays (NumPy's `a < b`, `a == 0.5`), the reductions NumPy users
//! apply to them (`any`, `all`; `sum` counts the `true`s), and selecting with them: [`where_`]
//! (`np.where(c, x, y)`) and [`assign_where`](ArrayBase::assign_where) (`a[mask] = x`).
//!
//! The right-hand side of a comparison, and both branches of `where_`, are an [`Operand`]: an array
//! (`&a`, or a view by value) or a plain scalar, which broadcasts like NumPy's 0-d arrays.

use std::ptr::NonNull;

use crate::array_base::{ArrayBase, ArrayView, Data, DataMut, NdArray, ViewRepr};
use crate::dim::{Geom, broadcast_shapes};
use crate::element::{Element, Scalar};
use crate::error::{ArrayError, ShapeDisplay};

/// An argument that is an array or a scalar: `&a` for any array of `T`, a view by value
/// (`a.t()`), or a plain `T`, which acts as a 0-d array and so broadcasts against any shape, as a
/// NumPy scalar does. Passing one allocates nothing.
pub trait Operand<T: Element> {
    /// The operand as a view: the array's own elements, or a 0-d view of the scalar.
    fn as_view(&self) -> ArrayView<'_, T>;
}

impl<S: Data> Operand<S::Elem> for &ArrayBase<S> {
    fn as_view(&self) -> ArrayView<'_, S::Elem> {
        self.view()
    }
}

impl<S: Data> Operand<S::Elem> for ArrayBase<S> {
    fn as_view(&self) -> ArrayView<'_, S::Elem> {
        self.view()
    }
}

macro_rules! scalar_operand {
    ($($t:ty),*) => {$(
        impl Operand<$t> for $t {
            /// A 0-d view of the scalar itself.
            fn as_view(&self) -> ArrayView<'_, $t> {
                ArrayBase {
                    data: ViewRepr::new(),
                    // The one index of a 0-d array, `[]`, reaches offset 0: this value, borrowed
                    // for the view's lifetime (invariant 2).
                    ptr: NonNull::from(self),
                    geom: Geom::empty(0).expect("0 dimensions are supported"),
                }
            }
        }
    )*};
}
scalar_operand!(bool, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

/// The value of a 0-d view.
fn only<T: Element>(v: &ArrayView<'_, T>) -> T {
    *v.get(&[]).expect("a 0-d array has one element")
}

impl<S: Data> ArrayBase<S> {
    /// `f(a, b)` for `self` and `rhs` broadcast together; a scalar `rhs` takes the one-operand path.
    fn compare(
        &self,
        rhs: impl Operand<S::Elem>,
        f: impl Fn(S::Elem, S::Elem) -> bool,
    ) -> Result<NdArray<bool>, ArrayError> {
        let r = rhs.as_view();
        if r.ndim() == 0 {
            let y = only(&r);
            return NdArray::try_build(self.shape(), |out| self.write_mapped(out, |x| f(x, y)));
        }
        self.try_zip_map(&r, f)
    }

    /// NumPy's `a == b`: element-wise equality with broadcasting, as a new `bool` array; `rhs` is an
    /// array or a scalar ([`Operand`]). NaN equals nothing, itself included. Allocates the result
    /// (one byte per element); an error naming both shapes if they do not broadcast.
    pub fn eq(&self, rhs: impl Operand<S::Elem>) -> Result<NdArray<bool>, ArrayError> {
        self.compare(rhs, |a, b| a == b)
    }

    /// NumPy's `a != b` (see [`eq`](Self::eq)); NaN differs from everything, itself included.
    pub fn ne(&self, rhs: impl Operand<S::Elem>) -> Result<NdArray<bool>, ArrayError> {
        self.compare(rhs, |a, b| a != b)
    }

    /// NumPy's `a.any()`: whether some element is non-zero (`true`, a non-zero number, or NaN, as
    /// Python's `bool(x)`); `false` for an empty array. Stops at the first one. Allocates nothing.
    pub fn any(&self) -> bool {
        let zero = S::Elem::from_scalar(Scalar::Bool(false));
        match self.memory_slice() {
            Some(s) => s.iter().any(|&x| x != zero),
            None => self.iter().any(|&x| x != zero),
        }
    }

    /// NumPy's `a.all()`: whether every element is non-zero (see [`any`](Self::any)); `true` for
    /// an empty array. Stops at the first zero. Allocates nothing.
    pub fn all(&self) -> bool {
        let zero = S::Elem::from_scalar(Scalar::Bool(false));
        match self.memory_slice() {
            Some(s) => s.iter().all(|&x| x != zero),
            None => self.iter().all(|&x| x != zero),
        }
    }
}

impl<S: Data> ArrayBase<S>
where
    S::Elem: PartialOrd,
{
    /// NumPy's `a < b`, element-wise with broadcasting, as a new `bool` array (see
    /// [`eq`](Self::eq)). Every comparison with NaN is `false`, as NumPy's.
    pub fn lt(&self, rhs: impl Operand<S::Elem>) -> Result<NdArray<bool>, ArrayError> {
        self.compare(rhs, |a, b| a < b)
    }

    /// NumPy's `a <= b` (see [`lt`](Self::lt)).
    pub fn le(&self, rhs: impl Operand<S::Elem>) -> Result<NdArray<bool>, ArrayError> {
        self.compare(rhs, |a, b| a <= b)
    }

    /// NumPy's `a > b` (see [`lt`](Self::lt)).
    pub fn gt(&self, rhs: impl Operand<S::Elem>) -> Result<NdArray<bool>, ArrayError> {
        self.compare(rhs, |a, b| a > b)
    }

    /// NumPy's `a >= b` (see [`lt`](Self::lt)).
    pub fn ge(&self, rhs: impl Operand<S::Elem>) -> Result<NdArray<bool>, ArrayError> {
        self.compare(rhs, |a, b| a >= b)
    }
}

/// The broadcast shape of three operands, or NumPy's error naming all three.
fn broadcast3(a: &[usize], b: &[usize], c: &[usize]) -> Result<Geom, ArrayError> {
    broadcast_shapes(a, b)
        .and_then(|ab| broadcast_shapes(ab.shape(), c))
        .map_err(|_| {
            ArrayError::Invalid(format!(
                "operands could not be broadcast together with shapes {} {} {}",
                ShapeDisplay::of(a),
                ShapeDisplay::of(b),
                ShapeDisplay::of(c)
            ))
        })
}

/// NumPy's `np.where(cond, x, y)`: `x` where `cond` is true, else `y`, with the three broadcast
/// together; `x` and `y` are arrays or scalars ([`Operand`]), so `where_(&a.lt(0.0)?, 0.0, &a)` is
/// NumPy's `np.where(a < 0, 0, a)`. Allocates the result only; an error naming the three shapes if
/// they do not broadcast (`operands could not be broadcast together with shapes (2,) (3,) ()`).
/// To overwrite in place instead, see [`assign_where`](ArrayBase::assign_where); to compute `x`
/// or `y` without temporaries, [`lazy_where`](crate::lazy_where).
pub fn where_<T: Element>(
    cond: impl Operand<bool>,
    x: impl Operand<T>,
    y: impl Operand<T>,
) -> Result<NdArray<T>, ArrayError> {
    let (c, x, y) = (cond.as_view(), x.as_view(), y.as_view());
    let g = broadcast3(c.shape(), x.shape(), y.shape())?;
    let (c, x, y) = (
        c.broadcast(g.shape())?,
        x.broadcast(g.shape())?,
        y.broadcast(g.shape())?,
    );
    NdArray::try_build(g.shape(), |out| {
        let pick = |(c, (x, y)): (&bool, (&T, &T))| if *c { *x } else { *y };
        if let (Some(c), Some(x), Some(y)) = (c.as_slice(), x.as_slice(), y.as_slice()) {
            for (o, v) in out.iter_mut().zip(c.iter().zip(x.iter().zip(y))) {
                o.write(pick(v));
            }
        } else {
            for (o, v) in out.iter_mut().zip(c.iter().zip(x.iter().zip(y.iter()))) {
                o.write(pick(v));
            }
        }
    })
}

impl<S: DataMut> ArrayBase<S> {
    /// NumPy's `a[mask] = src` / `np.copyto(a, src, where=mask)`: sets `self` to `src` where `mask`
    /// is true, in place, with `mask` and `src` (array or scalar) broadcast to `self`'s shape; so
    /// `a.assign_where(&a.lt(0.0)?, 0.0)` is NumPy's `a[a < 0] = 0`, and the in-place form of
    /// [`where_`]. Zero bytes allocated (NumPy's `a[a < 0] = 0` allocates the mask too). An error
    /// naming the shapes if `mask` or `src` does not broadcast to `self`.
    pub fn assign_where(
        &mut self,
        mask: impl Operand<bool>,
        src: impl Operand<S::Elem>,
    ) -> Result<(), ArrayError> {
        let (m, s) = (mask.as_view(), src.as_view());
        let to_self = |v: &[usize]| {
            ArrayError::mismatch(
                "non-broadcastable operand could not be broadcast to the output",
                v,
                self.shape(),
            )
        };
        let m = m.broadcast(self.shape()).map_err(|_| to_self(m.shape()))?;
        let s = s.broadcast(self.shape()).map_err(|_| to_self(s.shape()))?;
        if let (Some(ms), Some(ss)) = (m.as_slice(), s.as_slice())
            && let Some(xs) = self.as_slice_mut()
        {
            for (x, (&m, &s)) in xs.iter_mut().zip(ms.iter().zip(ss)) {
                if m {
                    *x = s;
                }
            }
            return Ok(());
        }
        for (x, (&m, &s)) in self.iter_mut().zip(m.iter().zip(s.iter())) {
            if m {
                *x = s;
            }
        }
        Ok(())
    }
}
