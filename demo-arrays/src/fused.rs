//! Fused element-wise expressions: `lazy(&a) * 2.0 + &b` builds an expression tree (no arithmetic,
//! no allocation) and [`Lazy::eval`] computes it in one pass into one new array — the result is the
//! only allocation, where NumPy's `a * 2.0 + b` allocates a temporary for `a * 2.0` first (numexpr's
//! trick). [`Lazy::eval_into`] writes into an existing array and allocates nothing.
//!
//! Unary functions fuse into the same pass: `(lazy(&a) * 2.0 + &b).sqrt().eval()` allocates the
//! result only, where NumPy's `np.sqrt(a * 2 + b)` allocates two temporaries ([`Lazy::sqrt`],
//! [`Lazy::exp`], [`Lazy::abs`], [`Lazy::clip`], and any function through [`Lazy::map`]).
//!
//! Operands must all have the same shape (broadcast one explicitly with
//! [`broadcast`](crate::ArrayBase::broadcast) first); scalars combine with anything. When every
//! operand is C-contiguous the evaluation is a single indexed loop the compiler vectorizes; otherwise
//! it walks the index space element by element.

use std::ops::{Add, Div, Mul, Sub};

use crate::array_base::{ArrayBase, ArrayView, Data, DataMut, NdArray};
use crate::dim::{Counter, Geom};
use crate::element::{Float, Num};
use crate::error::ArrayError;

/// A node of an element-wise expression over arrays of one shape.
pub trait Expr: Sized {
    /// The element type of the result.
    type Elem: Num;
    /// The common shape of the array operands (`None` if only scalars), or an error naming two shapes
    /// that differ.
    fn geom(&self) -> Result<Option<Geom>, ArrayError>;
    /// Whether every array operand is C-contiguous.
    fn contiguous(&self) -> bool;
    /// The value at flat (C-order) position `i`.
    ///
    /// # Safety
    ///
    /// `i` is below the shape's element count and [`contiguous`](Expr::contiguous) is true.
    unsafe fn at_flat(&self, i: usize) -> Self::Elem;
    /// The value at `index`.
    ///
    /// # Safety
    ///
    /// `index` is in bounds of the shape returned by [`geom`](Expr::geom).
    unsafe fn at_index(&self, index: &[usize]) -> Self::Elem;
}

/// An expression, ready to be combined with `+ - * /` and evaluated.
#[derive(Clone, Copy)]
pub struct Lazy<E>(pub E);

/// Starts an expression from an array: `lazy(&a) * 2.0 + &b`.
pub fn lazy<S: Data>(a: &ArrayBase<S>) -> Lazy<Leaf<'_, S::Elem>>
where
    S::Elem: Num,
{
    Lazy(Leaf(a.view()))
}

/// An array operand.
#[derive(Clone, Copy)]
pub struct Leaf<'a, T: Num>(ArrayView<'a, T>);

/// A scalar operand.
#[derive(Clone, Copy)]
pub struct Scalar<T>(pub T);

/// A binary operation node.
#[derive(Clone, Copy)]
pub struct Binary<L, R, O> {
    l: L,
    r: R,
    _op: O,
}

/// The operation of a [`Binary`] node.
pub trait BinOp<T>: Copy {
    /// Applies the operation.
    fn apply(a: T, b: T) -> T;
}

macro_rules! ops {
    ($($Name:ident $f:ident),*) => {$(
        /// An arithmetic operation marker.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $Name;
        impl<T: Num> BinOp<T> for $Name {
            #[inline(always)]
            fn apply(a: T, b: T) -> T {
                T::$f(a, b)
            }
        }
    )*};
}
ops!(AddOp add, SubOp sub, MulOp mul, DivOp div);

impl<T: Num> Expr for Leaf<'_, T> {
    type Elem = T;
    fn geom(&self) -> Result<Option<Geom>, ArrayError> {
        Ok(Some(self.0.geom))
    }
    fn contiguous(&self) -> bool {
        self.0.is_c_contiguous()
    }
    #[inline(always)]
    unsafe fn at_flat(&self, i: usize) -> T {
        // SAFETY: the caller guarantees `i < len` and C-contiguity, so `ptr + i` is element `i`.
        unsafe { *self.0.ptr.as_ptr().add(i) }
    }
    #[inline(always)]
    unsafe fn at_index(&self, index: &[usize]) -> T {
        let off = self.0.geom.offset(index);
        // SAFETY: the caller guarantees `index` is in bounds, so `off` is an element (invariant 2).
        unsafe { *self.0.ptr.as_ptr().offset(off) }
    }
}

impl<T: Num> Expr for Scalar<T> {
    type Elem = T;
    fn geom(&self) -> Result<Option<Geom>, ArrayError> {
        Ok(None)
    }
    fn contiguous(&self) -> bool {
        true
    }
    #[inline(always)]
    unsafe fn at_flat(&self, _: usize) -> T {
        self.0
    }
    #[inline(always)]
    unsafe fn at_index(&self, _: &[usize]) -> T {
        self.0
    }
}

/// The common shape of two operands (`None` for scalars), or an error naming both.
fn common(a: Option<Geom>, b: Option<Geom>) -> Result<Option<Geom>, ArrayError> {
    match (a, b) {
        (Some(a), Some(b)) if a.shape() != b.shape() => Err(ArrayError::mismatch(
            "fused operands must have equal shapes (broadcast explicitly first)",
            a.shape(),
            b.shape(),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

impl<L: Expr, R: Expr<Elem = L::Elem>, O: BinOp<L::Elem>> Expr for Binary<L, R, O> {
    type Elem = L::Elem;
    fn geom(&self) -> Result<Option<Geom>, ArrayError> {
        common(self.l.geom()?, self.r.geom()?)
    }
    fn contiguous(&self) -> bool {
        self.l.contiguous() && self.r.contiguous()
    }
    #[inline(always)]
    unsafe fn at_flat(&self, i: usize) -> L::Elem {
        // SAFETY: forwarded: the same precondition holds for both operands.
        unsafe { O::apply(self.l.at_flat(i), self.r.at_flat(i)) }
    }
    #[inline(always)]
    unsafe fn at_index(&self, index: &[usize]) -> L::Elem {
        // SAFETY: forwarded: every operand has the checked common shape.
        unsafe { O::apply(self.l.at_index(index), self.r.at_index(index)) }
    }
}

/// A selection node: NumPy's `np.where(cond, x, y)` inside an expression ([`lazy_where`]).
#[derive(Clone, Copy)]
pub struct Where<'a, X, Y> {
    c: ArrayView<'a, bool>,
    x: X,
    y: Y,
}

/// NumPy's `np.where(cond, x, y)` fused into the expression: `x` where `cond` is true, else `y`,
/// each computed only where it is taken. `lazy_where(&mask, lazy(&a) * 2.0 + &b, scalar(0.0))
/// .eval()` allocates the result only, where NumPy's `np.where(mask, a * 2 + b, 0)` allocates two
/// temporaries first. `cond` must have the operands' shape, like every operand of a fused
/// expression (broadcast it explicitly first). See [`where_`](crate::where_) for the unfused form.
pub fn lazy_where<'a, S, X, Y>(
    cond: &'a ArrayBase<S>,
    x: Lazy<X>,
    y: Lazy<Y>,
) -> Lazy<Where<'a, X, Y>>
where
    S: Data<Elem = bool>,
    X: Expr,
    Y: Expr<Elem = X::Elem>,
{
    Lazy(Where {
        c: cond.view(),
        x: x.0,
        y: y.0,
    })
}

/// A scalar as an expression, for a branch of [`lazy_where`]: `scalar(0.0)`.
pub fn scalar<T: Num>(x: T) -> Lazy<Scalar<T>> {
    Lazy(Scalar(x))
}

impl<X: Expr, Y: Expr<Elem = X::Elem>> Expr for Where<'_, X, Y> {
    type Elem = X::Elem;
    fn geom(&self) -> Result<Option<Geom>, ArrayError> {
        let xy = common(self.x.geom()?, self.y.geom()?)?;
        common(Some(self.c.geom), xy)
    }
    fn contiguous(&self) -> bool {
        self.c.is_c_contiguous() && self.x.contiguous() && self.y.contiguous()
    }
    #[inline(always)]
    unsafe fn at_flat(&self, i: usize) -> X::Elem {
        // SAFETY: the caller guarantees `i < len` and that every operand, `c` included, is
        // C-contiguous, so `ptr + i` is element `i` of `c`; the same holds for `x` and `y`.
        unsafe {
            if *self.c.ptr.as_ptr().add(i) {
                self.x.at_flat(i)
            } else {
                self.y.at_flat(i)
            }
        }
    }
    #[inline(always)]
    unsafe fn at_index(&self, index: &[usize]) -> X::Elem {
        let off = self.c.geom.offset(index);
        // SAFETY: the caller guarantees `index` is in bounds of the common shape, which is `c`'s,
        // so `off` is an element of `c` (invariant 2); the same holds for `x` and `y`.
        unsafe {
            if *self.c.ptr.as_ptr().offset(off) {
                self.x.at_index(index)
            } else {
                self.y.at_index(index)
            }
        }
    }
}

/// A unary node: `f` applied to each value of the operand ([`Lazy::map`]).
#[derive(Clone, Copy)]
pub struct Map<E, F> {
    e: E,
    f: F,
}

impl<E: Expr, F: Fn(E::Elem) -> E::Elem> Expr for Map<E, F> {
    type Elem = E::Elem;
    fn geom(&self) -> Result<Option<Geom>, ArrayError> {
        self.e.geom()
    }
    fn contiguous(&self) -> bool {
        self.e.contiguous()
    }
    #[inline(always)]
    unsafe fn at_flat(&self, i: usize) -> E::Elem {
        // SAFETY: the caller's guarantee for `self` is the same guarantee for the operand.
        (self.f)(unsafe { self.e.at_flat(i) })
    }
    #[inline(always)]
    unsafe fn at_index(&self, index: &[usize]) -> E::Elem {
        // SAFETY: as above.
        (self.f)(unsafe { self.e.at_index(index) })
    }
}

impl<E: Expr> Lazy<E> {
    /// `f` of every value, fused into the same pass: no temporary (NumPy's ufunc on a temporary).
    pub fn map<F: Fn(E::Elem) -> E::Elem>(self, f: F) -> Lazy<Map<E, F>> {
        Lazy(Map { e: self.0, f })
    }

    /// NumPy's `np.abs` of the expression, fused (see [`ArrayBase::abs`]).
    pub fn abs(self) -> Lazy<Map<E, impl Fn(E::Elem) -> E::Elem + Copy>> {
        self.map(Num::abs)
    }

    /// NumPy's `np.clip(expr, lo, hi)`, fused (see [`ArrayBase::clip`]).
    pub fn clip(
        self,
        lo: E::Elem,
        hi: E::Elem,
    ) -> Lazy<Map<E, impl Fn(E::Elem) -> E::Elem + Copy>> {
        self.map(move |x| crate::impl_math::clip_one(x, lo, hi))
    }
}

impl<E: Expr> Lazy<E>
where
    E::Elem: Float,
{
    /// NumPy's `np.sqrt` of the expression, fused: `(lazy(&a) * 2.0 + &b).sqrt().eval()` allocates
    /// the result only (NumPy's `np.sqrt(a * 2 + b)` allocates two temporaries first).
    pub fn sqrt(self) -> Lazy<Map<E, impl Fn(E::Elem) -> E::Elem + Copy>> {
        self.map(Float::sqrt)
    }

    /// NumPy's `np.exp` of the expression, fused (see [`sqrt`](Self::sqrt)).
    pub fn exp(self) -> Lazy<Map<E, impl Fn(E::Elem) -> E::Elem + Copy>> {
        self.map(Float::exp)
    }
}

impl<E: Expr> Lazy<E> {
    /// Evaluates into a new C-ordered array in one pass: the result is the only allocation.
    pub fn eval(self) -> Result<NdArray<E::Elem>, ArrayError> {
        let geom = self.0.geom()?.unwrap_or(Geom::c_order(&[])?);
        let e = &self.0;
        let contiguous = e.contiguous();
        NdArray::try_build(geom.shape(), |out| {
            if contiguous {
                for (i, o) in out.iter_mut().enumerate() {
                    // SAFETY: `i < len` and every operand is C-contiguous (checked above).
                    o.write(unsafe { e.at_flat(i) });
                }
            } else {
                for_each_index(&geom, |k, idx| {
                    // SAFETY: `idx` walks the in-bounds indices of the common shape.
                    out[k].write(unsafe { e.at_index(idx) });
                });
            }
        })
    }

    /// Evaluates into `out` (same shape), in one pass: zero bytes allocated. `out` may be one of the
    /// operands' own arrays only through a copy: the borrow checker rejects aliasing.
    pub fn eval_into<S: DataMut<Elem = E::Elem>>(
        self,
        out: &mut ArrayBase<S>,
    ) -> Result<(), ArrayError> {
        let geom = self.0.geom()?;
        if let Some(g) = geom
            && g.shape() != out.shape()
        {
            return Err(ArrayError::mismatch(
                "cannot evaluate an expression into an array",
                g.shape(),
                out.shape(),
            ));
        }
        let e = &self.0;
        if e.contiguous()
            && let Some(o) = out.as_slice_mut()
        {
            for (i, o) in o.iter_mut().enumerate() {
                // SAFETY: `i < len` of the common shape and every operand is C-contiguous.
                *o = unsafe { e.at_flat(i) };
            }
            return Ok(());
        }
        let shape = out.geom;
        let mut view = out.view_mut();
        for_each_index(&shape, |_, idx| {
            let dst = view_get_mut(&mut view, idx);
            // SAFETY: `idx` is in bounds of the common shape.
            *dst = unsafe { e.at_index(idx) };
        });
        Ok(())
    }
}

fn view_get_mut<'v, T: Num>(v: &'v mut crate::ArrayViewMut<'_, T>, idx: &[usize]) -> &'v mut T {
    let off = v.geom.offset(idx);
    // SAFETY: `idx` is in bounds (callers walk the view's own shape), so `off` is a distinct element
    // of the uniquely borrowed view (invariants 2 and 4).
    unsafe { &mut *v.ptr.as_ptr().offset(off) }
}

/// Calls `f(k, index)` for every index of `geom` in C order, `k` counting from 0.
fn for_each_index(geom: &Geom, mut f: impl FnMut(usize, &[usize])) {
    let mut c = Counter::<0>::new();
    for k in 0..geom.len() {
        f(k, c.index(geom.ndim()));
        c.advance(geom.shape(), []);
    }
}

macro_rules! lazy_ops {
    ($($Op:ident $op:ident $Marker:ident),*) => {$(
        impl<E: Expr, R: Expr<Elem = E::Elem>> $Op<Lazy<R>> for Lazy<E> {
            type Output = Lazy<Binary<E, R, $Marker>>;
            fn $op(self, rhs: Lazy<R>) -> Self::Output {
                Lazy(Binary { l: self.0, r: rhs.0, _op: $Marker })
            }
        }
        impl<'a, E: Expr, S: Data<Elem = E::Elem>> $Op<&'a ArrayBase<S>> for Lazy<E> {
            type Output = Lazy<Binary<E, Leaf<'a, E::Elem>, $Marker>>;
            fn $op(self, rhs: &'a ArrayBase<S>) -> Self::Output {
                Lazy(Binary { l: self.0, r: Leaf(rhs.view()), _op: $Marker })
            }
        }
    )*};
}
lazy_ops!(Add add AddOp, Sub sub SubOp, Mul mul MulOp, Div div DivOp);

macro_rules! lazy_scalar_ops {
    ($($t:ty),*) => {$(
        lazy_scalar_ops!(@one $t, Add add AddOp);
        lazy_scalar_ops!(@one $t, Sub sub SubOp);
        lazy_scalar_ops!(@one $t, Mul mul MulOp);
        lazy_scalar_ops!(@one $t, Div div DivOp);
    )*};
    (@one $t:ty, $Op:ident $op:ident $Marker:ident) => {
        impl<E: Expr<Elem = $t>> $Op<$t> for Lazy<E> {
            type Output = Lazy<Binary<E, Scalar<$t>, $Marker>>;
            fn $op(self, rhs: $t) -> Self::Output {
                Lazy(Binary { l: self.0, r: Scalar(rhs), _op: $Marker })
            }
        }
    };
}
lazy_scalar_ops!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);
