//! [`ArrayBase`], the one array type, and its aliases by storage: owned ([`NdArray`]), borrowed
//! ([`ArrayView`], [`ArrayViewMut`]), reference-counted ([`SharedArray`]) and memory-mapped
//! ([`MmapArray`](crate::MmapArray)). Methods are written once over the storage traits
//! [`RawData`], [`Data`] and [`DataMut`], as in `ndarray`; the traits and every storage type live
//! in `storage/` and are re-exported here, next to the type they parameterise.

use std::ptr::NonNull;

use crate::buffer::ALIGN;
use crate::dim::Geom;
use crate::element::{DType, Element};
pub use crate::storage::{Data, DataMut, OwnedRepr, RawData, SharedRepr, ViewRepr};

/// An n-dimensional array: a pointer to its first element, a shape and strides (in elements, may be
/// negative or zero), and a storage `S` that keeps the elements alive (or borrows them).
///
/// Invariants (checked by [`check_invariants`](ArrayBase::check_invariants)):
///
/// 1. `ndim <= MAX_NDIM`.
/// 2. For every in-bounds index `i`, `ptr + Σ iₖ·strideₖ` is an initialised, aligned element inside
///    the memory `S` keeps alive (the owned or shared buffer, the mapping, or the borrow).
/// 3. If the array has no elements, `ptr` is non-null and aligned but may dangle.
/// 4. If `S: DataMut`, distinct indices reach distinct elements (no zero or overlapping strides), so
///    writing through one index never aliases another; broadcasting is only offered read-only.
/// 5. Owned storage ([`NdArray`]) is contiguous: its strides are a permutation of C-order strides
///    over its whole buffer (C order unless built Fortran-ordered or transposed).
pub struct ArrayBase<S: RawData> {
    pub(crate) data: S,
    pub(crate) ptr: NonNull<S::Elem>,
    pub(crate) geom: Geom,
}

/// An owned array with a 64-byte-aligned buffer (NumPy's `ndarray` that owns its data).
pub type NdArray<T> = ArrayBase<OwnedRepr<T>>;
/// A read-only view borrowing another array's elements; making one allocates nothing.
pub type ArrayView<'a, T> = ArrayBase<ViewRepr<&'a T>>;
/// A mutable view borrowing another array's elements; making one allocates nothing.
pub type ArrayViewMut<'a, T> = ArrayBase<ViewRepr<&'a mut T>>;
/// A NumPy-style view that keeps its whole base buffer alive through a reference count.
pub type SharedArray<T> = ArrayBase<SharedRepr<T>>;

// SAFETY: an `ArrayBase` is a handle to its storage plus plain geometry; it is `Send` exactly when
// the storage is (owned buffers, `Arc`s and `&T`/`&mut T` of `Send + Sync` elements all are).
unsafe impl<S: RawData + Send> Send for ArrayBase<S> {}
// SAFETY: shared access only reads elements (`T: Sync`) and the storage is `Sync`.
unsafe impl<S: RawData + Sync> Sync for ArrayBase<S> {}

impl<T: Element> Clone for SharedArray<T> {
    /// Another handle to the same elements (no element is copied).
    fn clone(&self) -> Self {
        ArrayBase {
            data: self.data.clone(),
            ptr: self.ptr,
            geom: self.geom,
        }
    }
}

impl<T: Element> Clone for ArrayView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Element> Copy for ArrayView<'_, T> {}

impl<T: Element> Clone for NdArray<T> {
    /// A deep copy (NumPy's `a.copy()`), in C order.
    fn clone(&self) -> Self {
        self.to_owned()
    }
}

/// NumPy's `a.flags`, the ones that matter for memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    /// Elements in C (row-major) order with no gaps.
    pub c_contiguous: bool,
    /// Elements in Fortran (column-major) order with no gaps.
    pub f_contiguous: bool,
    /// The first element is aligned to 64 bytes (a SIMD vector) — stricter than NumPy's `ALIGNED`,
    /// which only asks for the element's own alignment.
    pub aligned: bool,
    /// The array owns its buffer (false for views, shared views and mappings).
    pub owns_data: bool,
    /// Elements may be written through this array.
    pub writeable: bool,
}

impl<S: RawData> ArrayBase<S> {
    /// The length of each axis.
    pub fn shape(&self) -> &[usize] {
        self.geom.shape()
    }
    /// The step between consecutive elements along each axis, in elements (NumPy's strides are in
    /// bytes: multiply by `size_of::<T>()`).
    pub fn strides(&self) -> &[isize] {
        self.geom.strides()
    }
    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.geom.ndim()
    }
    /// Number of elements (NumPy's `size`).
    pub fn len(&self) -> usize {
        self.geom.len()
    }
    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes the elements take (`len × itemsize`, NumPy's `nbytes`), not counting a base buffer.
    pub fn nbytes(&self) -> usize {
        self.len() * size_of::<S::Elem>()
    }
    /// Bytes of the buffer this array keeps alive (owned or shared); `None` for borrowed views.
    pub fn base_nbytes(&self) -> Option<usize> {
        self.data.base_nbytes()
    }
    /// The runtime element type.
    pub fn dtype(&self) -> DType {
        S::Elem::DTYPE
    }
    /// Pointer to the first element (the one at index `[0, 0, …]`).
    pub fn as_ptr(&self) -> *const S::Elem {
        self.ptr.as_ptr()
    }
    /// Whether the elements are in C order with no gaps.
    pub fn is_c_contiguous(&self) -> bool {
        self.geom.is_c_contiguous()
    }
    /// Memory flags, as NumPy's `a.flags`.
    pub fn flags(&self) -> Flags {
        Flags {
            c_contiguous: self.geom.is_c_contiguous(),
            f_contiguous: self.geom.is_f_contiguous(),
            aligned: (self.ptr.as_ptr() as usize).is_multiple_of(ALIGN),
            owns_data: self.data.owns_data(),
            writeable: self.data.writeable(),
        }
    }

    /// The address range `[lo, hi)` in bytes this array's elements occupy (empty for no elements).
    pub(crate) fn byte_range(&self) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let (lo, hi) = self.geom.offset_range();
        let size = size_of::<S::Elem>() as isize;
        let base = self.ptr.as_ptr() as isize;
        (
            (base + lo * size) as usize,
            (base + (hi + 1) * size) as usize,
        )
    }

    /// Panics with a message naming the broken invariant (see the type's docs) if one does not hold
    /// in a way that can be checked from here. For tests and `debug_assert!`s.
    pub fn check_invariants(&self) {
        assert!(
            self.ndim() <= crate::MAX_NDIM,
            "invariant 1: {} dimensions",
            self.ndim()
        );
        assert!(
            (self.ptr.as_ptr() as usize).is_multiple_of(align_of::<S::Elem>()),
            "invariant 2: first element misaligned at {:p}",
            self.ptr
        );
        if self.data.writeable() && !self.is_empty() {
            assert!(
                !self.geom.may_overlap(),
                "invariant 4: writable array with overlapping strides {:?}",
                self.geom
            );
        }
        if self.data.owns_data() {
            let base = self.data.base_nbytes().unwrap_or(0);
            assert_eq!(
                base,
                self.nbytes(),
                "invariant 5: owned buffer of {base} bytes for {:?}",
                self.geom
            );
            let (lo, hi) = self.geom.offset_range();
            assert!(
                self.is_empty()
                    || !self.geom.may_overlap() && lo == 0 && hi as usize + 1 == self.len(),
                "invariant 5: owned array not contiguous from its buffer start: {:?}",
                self.geom
            );
        }
    }
}
