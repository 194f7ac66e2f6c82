//! The lane kernel of fused expressions: a [`Cursor`] walks a broadcast shape block by block (up to
//! [`BLOCK`] elements of one lane, the last axis), and each [`Block`] is plain pointers to
//! contiguous elements that the evaluation loop reads with a unit stride, so it vectorizes whatever
//! the operands' layouts: in place for stride 1, a stack buffer for stride 0 (filled once per lane)
//! and for other strides (gathered per block).

use std::mem::MaybeUninit;

use crate::array_base::{ArrayBase, ArrayView, Data};
use crate::dim::Counter;
use crate::element::Element;
use crate::error::ArrayError;

/// Elements per block of a lane in a broadcast or strided evaluation: the length of a [`Cursor`]'s
/// stack buffer (2 KiB of `f64` per array operand).
pub const BLOCK: usize = 256;

/// An expression walking a broadcast shape block by block, a block being up to [`BLOCK`] elements
/// of one lane (the last axis) ([`Expr::cursor`](super::Expr::cursor)). Each operand's block is contiguous: in place or
/// in the cursor's stack buffer.
pub trait Cursor {
    /// The element type of the result.
    type Elem: Copy;
    /// The expression over one block: plain pointers, copied into registers for the loop, so the
    /// compiler can see that writing the result does not move them and vectorizes the loop.
    type Block<'b>: Block<Elem = Self::Elem>
    where
        Self: 'b;
    /// Elements `j0..j0 + m` of the lane whose other axes' index is `outer`.
    ///
    /// # Safety
    ///
    /// `outer` is an in-bounds index of every axis but the last of the cursor's shape (empty for
    /// zero dimensions, with `j0 == 0`, `m == 1`), `j0 + m` is at most the last axis's length, and
    /// `m <= BLOCK`.
    unsafe fn seek(&mut self, outer: &[usize], j0: usize, m: usize) -> Self::Block<'_>;
}

/// One block of an expression ([`Cursor::seek`]).
pub trait Block: Copy {
    /// The element type of the result.
    type Elem: Copy;
    /// Element `i` of the block.
    ///
    /// # Safety
    ///
    /// `i` is below the `m` the block was sought with.
    unsafe fn at(self, i: usize) -> Self::Elem;
}

/// The [`Cursor`] of an array operand: its view broadcast to the walked shape, whose blocks are read
/// in place (stride 1 along the lane) or from a stack buffer (splatted for stride 0, gathered for
/// any other stride).
pub struct LeafCursor<'e, T: Element> {
    view: ArrayView<'e, T>,
    /// `view`'s stride along the lane (0 for zero dimensions).
    inner: isize,
    /// For stride 0: the element `buf` holds the first `splat_len` copies of (null before any).
    splat: *const T,
    splat_len: usize,
    buf: [MaybeUninit<T>; BLOCK],
}

/// The [`Block`] of an array operand: `m` contiguous elements, borrowed from the array or from its
/// cursor's buffer.
#[derive(Clone, Copy)]
pub struct LeafBlock<'b, T>(*const T, std::marker::PhantomData<&'b T>);

impl<T: Copy> Block for LeafBlock<'_, T> {
    type Elem = T;
    #[inline(always)]
    unsafe fn at(self, i: usize) -> T {
        // SAFETY: `i < m`, and `seek` pointed the block at `m` initialised elements.
        unsafe { *self.0.add(i) }
    }
}

impl<'e, T: Element> LeafCursor<'e, T> {
    pub(super) fn new<S: Data<Elem = T>>(
        a: &'e ArrayBase<S>,
        shape: &[usize],
    ) -> Result<Self, ArrayError> {
        let view = a.broadcast(shape)?;
        Ok(LeafCursor {
            inner: crate::iter::inner_stride(&view.geom),
            view,
            splat: std::ptr::null(),
            splat_len: 0,
            buf: [const { MaybeUninit::uninit() }; BLOCK],
        })
    }
}

impl<T: Element> Cursor for LeafCursor<'_, T> {
    type Elem = T;
    type Block<'b>
        = LeafBlock<'b, T>
    where
        Self: 'b;
    #[inline(always)]
    unsafe fn seek(&mut self, outer: &[usize], j0: usize, m: usize) -> LeafBlock<'_, T> {
        // `offset` zips `outer` with the leading strides: the lane's first element, then `j0` on.
        let off = self.view.geom.offset(outer) + j0 as isize * self.inner;
        // SAFETY: `outer` and `j0` are in bounds of the view's shape (the caller's guarantee), so
        // `off` and the `m` lane elements from it are elements of the view (invariant 2).
        let p = unsafe { self.view.ptr.as_ptr().offset(off) };
        let inner = self.inner;
        if inner == 0 {
            // Broadcast along the lane: one element, copied once per lane (its later blocks find
            // it already there: measured, a copy per block cost a third of a broadcast `eval`).
            if self.splat != p.cast_const() || self.splat_len < m {
                // SAFETY: `p` is an element of the view (above).
                let x = unsafe { *p };
                self.buf[..m].iter_mut().for_each(|b| _ = b.write(x));
                (self.splat, self.splat_len) = (p, m);
            }
        } else if inner != 1 {
            for (q, b) in self.buf[..m].iter_mut().enumerate() {
                // SAFETY: `q < m`: element `j0 + q` of the lane.
                b.write(unsafe { *p.offset(q as isize * inner) });
            }
            self.splat = std::ptr::null();
        }
        // The block, in place or in `buf` (its first `m` slots written just above), borrowed from
        // `self` so the buffer outlives it.
        let first = if self.inner == 1 {
            p.cast_const()
        } else {
            self.buf.as_ptr().cast::<T>()
        };
        LeafBlock(first, std::marker::PhantomData)
    }
}

/// Calls `f(outer, j0, m)` for every block of at most [`BLOCK`] elements `j0..j0 + m` of every lane
/// of `shape`, in C order; `outer` is the lane's index on the other axes (empty, with one block of
/// one element, for zero dimensions). Nothing for an empty shape.
pub(super) fn for_each_block(shape: &[usize], mut f: impl FnMut(&[usize], usize, usize)) {
    let Some((&inner, outer)) = shape.split_last() else {
        f(&[], 0, 1);
        return;
    };
    if shape.contains(&0) {
        return;
    }
    let mut c = Counter::<0>::new();
    loop {
        for j0 in (0..inner).step_by(BLOCK) {
            f(c.index(outer.len()), j0, (inner - j0).min(BLOCK));
        }
        if !c.advance(outer, []) {
            return;
        }
    }
}
