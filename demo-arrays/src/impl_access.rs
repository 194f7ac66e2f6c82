//! Element access: `a[[i, j]]` (NumPy's `a[i, j]`), [`get`](crate::ArrayBase::get) /
//! [`get_mut`](crate::ArrayBase::get_mut), and the elements as one slice when they are contiguous
//! ([`as_slice`](crate::ArrayBase::as_slice) in C order, `memory_slice` in memory order for
//! order-independent reductions). Nothing here allocates.

use crate::array_base::{ArrayBase, Data, DataMut};
use crate::dim::Geom;

impl<S: Data> ArrayBase<S> {
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

    /// The elements as one slice in memory order if they fill a gap-free block (any axis order, any
    /// stride signs, no broadcasting): order-independent reductions then run on it directly.
    pub(crate) fn memory_slice(&self) -> Option<&[S::Elem]> {
        if self.is_empty() {
            return Some(&[]);
        }
        let (lo, hi) = self.geom.offset_range();
        if (hi - lo) as usize + 1 != self.len() || self.geom.may_overlap() {
            return None;
        }
        // SAFETY: the offsets `lo..=hi` are exactly the array's `len` distinct elements (no overlap,
        // no gap), all live and initialised (invariant 2), and not written while `&self` is borrowed.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().offset(lo), self.len()) })
    }
}

/// The element offset of `index` under `geom`, or `None` if it has the wrong number of axes or is
/// out of bounds.
fn checked_offset(geom: &Geom, index: &[usize]) -> Option<isize> {
    if index.len() != geom.ndim() || index.iter().zip(geom.shape()).any(|(&i, &n)| i >= n) {
        return None;
    }
    Some(geom.offset(index))
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
impl<S: DataMut, const N: usize> std::ops::IndexMut<[usize; N]> for ArrayBase<S> {
    fn index_mut(&mut self, index: [usize; N]) -> &mut S::Elem {
        let shape = self.geom;
        match self.get_mut(&index) {
            Some(x) => x,
            None => bad_index(shape.shape(), &index),
        }
    }
}

impl<S: DataMut> ArrayBase<S> {
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
}
