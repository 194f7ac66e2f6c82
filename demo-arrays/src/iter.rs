//! Traversal in logical (C) order without allocation: the outer axes are walked with an inline index
//! counter and the innermost axis is handed to the caller as a "lane" (offset, length, stride), so hot
//! loops run over a plain strided or contiguous lane. [`Iter`] is the element-by-element version.

use std::marker::PhantomData;

use crate::array_base::{ArrayBase, Data};
use crate::dim::{Geom, MAX_NDIM};
use crate::element::Element;

/// Calls `f(offsets, inner_len)` once per lane of `shape` (every position of all axes but the last),
/// where `offsets[k]` is array `k`'s element offset of the lane's first element under `strides[k]`.
/// Arrays of zero dimensions have one lane of length 1; empty arrays have none.
pub(crate) fn for_each_lane<const K: usize>(
    shape: &[usize],
    strides: [&[isize]; K],
    mut f: impl FnMut([isize; K], usize),
) {
    let nd = shape.len();
    if shape.contains(&0) {
        return;
    }
    if nd == 0 {
        f([0; K], 1);
        return;
    }
    let inner = shape[nd - 1];
    let outer = nd - 1;
    let mut idx = [0usize; MAX_NDIM];
    let mut off = [0isize; K];
    loop {
        f(off, inner);
        // Increment the outer index like an odometer, updating offsets incrementally.
        let mut ax = outer;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            for k in 0..K {
                off[k] += strides[k][ax];
            }
            if idx[ax] < shape[ax] {
                break;
            }
            for k in 0..K {
                off[k] -= strides[k][ax] * shape[ax] as isize;
            }
            idx[ax] = 0;
        }
    }
}

/// The innermost stride of `geom` (0 for zero dimensions).
pub(crate) fn inner_stride(geom: &Geom) -> isize {
    geom.strides().last().copied().unwrap_or(0)
}

/// An iterator over an array's elements in logical (C) order. Allocates nothing.
pub struct Iter<'a, T: Element> {
    ptr: *const T,
    geom: Geom,
    idx: [usize; MAX_NDIM],
    offset: isize,
    remaining: usize,
    _life: PhantomData<&'a T>,
}

impl<'a, T: Element> Iterator for Iter<'a, T> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // SAFETY: `offset` is the offset of an in-bounds index (`remaining > 0` before the decrement),
        // so by invariant 2 of the array this iterator borrows, it is a live, aligned element.
        let item = unsafe { &*self.ptr.offset(self.offset) };
        let shape = self.geom.shape();
        let strides = self.geom.strides();
        for ax in (0..shape.len()).rev() {
            self.idx[ax] += 1;
            self.offset += strides[ax];
            if self.idx[ax] < shape[ax] {
                break;
            }
            self.offset -= strides[ax] * shape[ax] as isize;
            self.idx[ax] = 0;
        }
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T: Element> ExactSizeIterator for Iter<'_, T> {}

impl<S: Data> ArrayBase<S> {
    /// The elements in logical (C) order, whatever the memory layout.
    pub fn iter(&self) -> Iter<'_, S::Elem> {
        Iter {
            ptr: self.ptr.as_ptr(),
            geom: self.geom,
            idx: [0; MAX_NDIM],
            offset: 0,
            remaining: self.len(),
            _life: PhantomData,
        }
    }

    /// The elements in logical order, as a `Vec` (for tests and small arrays).
    pub fn to_vec(&self) -> Vec<S::Elem> {
        self.iter().copied().collect()
    }

    /// The elements as a slice if they are C-contiguous (no gaps, no broadcasting).
    pub fn as_slice(&self) -> Option<&[S::Elem]> {
        if !self.geom.is_c_contiguous() {
            return None;
        }
        // SAFETY: C-contiguous means the `len` elements from `ptr` are exactly the array's elements,
        // all live and initialised (invariant 2) and not written while `&self` is borrowed (`Data`).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) })
    }

    /// The element at `index`, or `None` if it is out of bounds or has the wrong number of axes.
    pub fn get(&self, index: &[usize]) -> Option<&S::Elem> {
        if index.len() != self.ndim() || index.iter().zip(self.shape()).any(|(&i, &n)| i >= n) {
            return None;
        }
        let off: isize = index
            .iter()
            .zip(self.strides())
            .map(|(&i, &s)| i as isize * s)
            .sum();
        // SAFETY: the index is in bounds (checked above), so by invariant 2 the offset is a live,
        // aligned element, not written while `&self` is borrowed.
        Some(unsafe { &*self.ptr.as_ptr().offset(off) })
    }
}

impl<S: crate::array_base::DataMut> ArrayBase<S> {
    /// The elements as a mutable slice if they are C-contiguous.
    pub fn as_slice_mut(&mut self) -> Option<&mut [S::Elem]> {
        if !self.geom.is_c_contiguous() {
            return None;
        }
        // SAFETY: as `as_slice`, and `DataMut` + `&mut self` make this the only access (invariant 4:
        // no aliasing within the array).
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len()) })
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
}
