//! Operations that copy (NumPy's "fancy indexing returns a copy"): [`to_owned`], [`take`], boolean
//! masks, [`astype`]. Each allocates exactly its result — `n × itemsize` bytes for `n` elements — and
//! nothing else; `tests/byte_claims.rs` measures that.
//!
//! [`to_owned`]: crate::ArrayBase::to_owned
//! [`take`]: crate::ArrayBase::take
//! [`astype`]: crate::ArrayBase::astype

use std::mem::MaybeUninit;

use crate::array_base::{ArrayBase, Data, NdArray};
use crate::dim::{Counter, MAX_NDIM};
use crate::element::Element;
use crate::error::ArrayError;
use crate::iter::{for_each_lane, inner_stride};

impl<S: Data> ArrayBase<S> {
    /// Writes `f(element)` for every element, in logical C order, into `out` (of length `len`).
    pub(crate) fn write_mapped<U: Element>(
        &self,
        out: &mut [MaybeUninit<U>],
        f: impl Fn(S::Elem) -> U,
    ) {
        debug_assert_eq!(out.len(), self.len());
        if let Some(src) = self.as_slice() {
            for (o, &x) in out.iter_mut().zip(src) {
                o.write(f(x));
            }
            return;
        }
        let ptr = self.ptr.as_ptr();
        let is = inner_stride(&self.geom);
        let mut k = 0;
        for_each_lane(self.shape(), [self.strides()], |[o], n| {
            for (j, dst) in out[k..k + n].iter_mut().enumerate() {
                // SAFETY: `o + j·is` is the offset of an in-bounds index (invariant 2).
                dst.write(f(unsafe { *ptr.offset(o + j as isize * is) }));
            }
            k += n;
        });
    }

    /// A C-ordered copy in a new 64-byte-aligned buffer (NumPy's `a.copy()`): allocates exactly
    /// `nbytes()` — for a view, its own elements only, so the base it came from can be freed.
    pub fn to_owned(&self) -> NdArray<S::Elem> {
        self.try_to_owned().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`to_owned`](Self::to_owned), or [`ArrayError::OutOfMemory`].
    pub fn try_to_owned(&self) -> Result<NdArray<S::Elem>, ArrayError> {
        NdArray::try_build(self.shape(), |out| self.write_mapped(out, |x| x))
    }

    /// A copy converted element by element to `U` (NumPy's `a.astype(U)`): float→int truncates,
    /// anything→bool is `!= 0`. Allocates `len × size_of::<U>()`.
    pub fn astype<U: Element>(&self) -> NdArray<U> {
        NdArray::try_build(self.shape(), |out| {
            self.write_mapped(out, |x| U::from_scalar(x.to_scalar()))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// NumPy's `np.take(a, indices, axis)` / `a[..., indices, ...]`: a new array whose `axis` has
    /// length `indices.len()`, holding the selected sub-arrays (negative indices count from the end).
    /// Always a copy: allocates exactly its result, `indices.len() × (other axes) × itemsize` bytes.
    pub fn take(&self, axis: usize, indices: &[isize]) -> Result<NdArray<S::Elem>, ArrayError> {
        if axis >= self.ndim() {
            return Err(ArrayError::AxisOutOfBounds {
                axis,
                ndim: self.ndim(),
            });
        }
        let len = self.shape()[axis];
        for &i in indices {
            if i >= len as isize || i < -(len as isize) {
                return Err(ArrayError::IndexOutOfBounds {
                    what: "index",
                    index: i,
                    axis,
                    len,
                });
            }
        }
        let mut shape = [0usize; MAX_NDIM];
        shape[..self.ndim()].copy_from_slice(self.shape());
        shape[axis] = indices.len();
        let shape = &shape[..self.ndim()];
        // The result is `self` with `axis` replaced by the picks: for every outer position and every
        // pick, copy the sub-array of the axes after `axis` lane by lane.
        let (outer_shape, outer_strides) = (&self.shape()[..axis], &self.strides()[..axis]);
        let inner_shape = &self.shape()[axis + 1..];
        let inner_strides = &self.strides()[axis + 1..];
        let is = inner_strides.last().copied().unwrap_or(0);
        NdArray::try_build(shape, |out| {
            if outer_shape.contains(&0) {
                return; // no outer position: the result is empty
            }
            let mut k = 0;
            let mut outer = Counter::<1>::new();
            loop {
                let base_outer = outer.off[0];
                for &i in indices {
                    let i = if i < 0 { i + len as isize } else { i };
                    let base = base_outer + i * self.strides()[axis];
                    for_each_lane(inner_shape, [inner_strides], |[off], n| {
                        for (j, dst) in out[k..k + n].iter_mut().enumerate() {
                            // SAFETY: every index component is in bounds (indices checked above,
                            // the others walk their axes), so this is an element (invariant 2).
                            dst.write(unsafe {
                                *self.ptr.as_ptr().offset(base + off + j as isize * is)
                            });
                        }
                        k += n;
                    });
                }
                if !outer.advance(outer_shape, [outer_strides]) {
                    break;
                }
            }
        })
    }

    /// NumPy's `a[mask]` for a boolean mask of the same shape: the selected elements, in C order, as
    /// a new 1-d array. Allocates exactly `count × itemsize` bytes: the mask is counted first, then
    /// counted again while the elements are copied, and the copy is used only if both counts agree.
    pub fn mask<M: Data<Elem = bool>>(
        &self,
        mask: &ArrayBase<M>,
    ) -> Result<NdArray<S::Elem>, ArrayError> {
        if mask.shape() != self.shape() {
            return Err(ArrayError::mismatch(
                "boolean index did not match indexed array",
                self.shape(),
                mask.shape(),
            ));
        }
        let count = mask.iter().filter(|&&b| b).count();
        NdArray::try_build_exact(&[count], |out| {
            let mut k = 0;
            for (x, _) in self.iter().zip(mask.iter()).filter(|(_, m)| **m) {
                if let Some(o) = out.get_mut(k) {
                    o.write(*x);
                }
                k += 1;
            }
            k
        })
    }
}
