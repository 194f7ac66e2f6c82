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
    ptr: *mut T,
    geom: Geom,
    idx: [usize; MAX_NDIM],
    offset: isize,
    remaining: usize,
    _life: PhantomData<&'a T>,
}

impl<T: Element> Iter<'_, T> {
    /// Advances, returning the raw pointer to the element at the current index (no reference is
    /// made, so `IterMut` keeps the pointer's write permission).
    #[inline]
    fn next_ptr(&mut self) -> Option<*mut T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // `offset` is the offset of an in-bounds index (`remaining > 0` before the decrement), so
        // by invariant 2 of the array this iterator borrows it is a live, aligned element.
        let item = self.ptr.wrapping_offset(self.offset);
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
}

impl<'a, T: Element> Iterator for Iter<'a, T> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        let p = self.next_ptr()?;
        // SAFETY: `p` is a live, aligned element of the array borrowed for `'a` (see `next_ptr`),
        // not written while that borrow lasts (`Data`).
        Some(unsafe { &*p })
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
            // Only ever read through (as `&T`) by `Iter`.
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
        let off = checked_offset(&self.geom, index)?;
        // SAFETY: the index is in bounds (checked), so by invariant 2 the offset is a live,
        // aligned element, not written while `&self` is borrowed.
        Some(unsafe { &*self.ptr.as_ptr().offset(off) })
    }
}

/// Panics like NumPy's `a[i, j]` on a bad index.
#[cold]
#[inline(never)]
fn bad_index(shape: &[usize], index: &[usize]) -> ! {
    if index.len() != shape.len() {
        panic!(
            "{} indices for an array of {} dimensions (a[[i, j, …]] needs one per axis)",
            index.len(),
            shape.len()
        );
    }
    let (axis, (&i, &n)) = index
        .iter()
        .zip(shape)
        .enumerate()
        .find(|(_, (i, n))| i >= n)
        .expect("some index is out of bounds");
    panic!("index {i} is out of bounds for axis {axis} with size {n}")
}

/// `a[[i, j]]`: the element at that index (NumPy's `a[i, j]`). Panics with NumPy's message if an
/// index is out of bounds or `N` is not the number of axes; [`get`](ArrayBase::get) returns `None`
/// instead.
impl<S: Data, const N: usize> std::ops::Index<[usize; N]> for ArrayBase<S> {
    type Output = S::Elem;
    fn index(&self, index: [usize; N]) -> &S::Elem {
        match self.get(&index) {
            Some(x) => x,
            None => bad_index(self.shape(), &index),
        }
    }
}

/// `a[[i, j]] = x` (NumPy's `a[i, j] = x`). Panics as [`Index`](std::ops::Index) does.
impl<S: crate::array_base::DataMut, const N: usize> std::ops::IndexMut<[usize; N]>
    for ArrayBase<S>
{
    fn index_mut(&mut self, index: [usize; N]) -> &mut S::Elem {
        let shape = self.geom;
        match self.get_mut(&index) {
            Some(x) => x,
            None => bad_index(shape.shape(), &index),
        }
    }
}

/// An iterator over mutable references to an array's elements in logical (C) order. Allocates
/// nothing.
pub struct IterMut<'a, T: Element> {
    inner: Iter<'a, T>,
}

impl<'a, T: Element> Iterator for IterMut<'a, T> {
    type Item = &'a mut T;
    fn next(&mut self) -> Option<&'a mut T> {
        let p = self.inner.next_ptr()?;
        // SAFETY: `p` is a live, aligned element (see `next_ptr`). `IterMut` is made only from
        // `&'a mut` of an array with `DataMut` storage, whose distinct indices reach distinct
        // elements (invariant 4); each index is yielded once, so no two returned references alias,
        // and the unique borrow excludes all other access for `'a`. `p` derives from the array's
        // `ptr` with no reference in between, so it keeps that pointer's write permission.
        Some(unsafe { &mut *p })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T: Element> ExactSizeIterator for IterMut<'_, T> {}

/// The element offset of `index` under `geom`, or `None` if it has the wrong number of axes or is
/// out of bounds.
pub(crate) fn checked_offset(geom: &Geom, index: &[usize]) -> Option<isize> {
    if index.len() != geom.ndim() || index.iter().zip(geom.shape()).any(|(&i, &n)| i >= n) {
        return None;
    }
    Some(
        index
            .iter()
            .zip(geom.strides())
            .map(|(&i, &s)| i as isize * s)
            .sum(),
    )
}

impl<S: crate::array_base::DataMut> ArrayBase<S> {
    /// The elements in logical (C) order, mutably (NumPy's `for x in np.nditer(a, op_flags=
    /// ['readwrite'])`). Allocates nothing.
    pub fn iter_mut(&mut self) -> IterMut<'_, S::Elem> {
        IterMut {
            inner: Iter {
                ptr: self.ptr.as_ptr(),
                geom: self.geom,
                idx: [0; MAX_NDIM],
                offset: 0,
                remaining: self.len(),
                _life: PhantomData,
            },
        }
    }

    /// The element at `index` mutably, or `None` if it is out of bounds or has the wrong number of
    /// axes.
    pub fn get_mut(&mut self, index: &[usize]) -> Option<&mut S::Elem> {
        let off = checked_offset(&self.geom, index)?;
        // SAFETY: the index is in bounds (checked), so by invariant 2 the offset is a live, aligned
        // element; `DataMut` and `&mut self` make this the only access to it.
        Some(unsafe { &mut *self.ptr.as_ptr().offset(off) })
    }

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
