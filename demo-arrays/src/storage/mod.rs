//! What keeps an array's elements alive: the storage traits [`RawData`], [`Data`] and [`DataMut`]
//! (what an [`ArrayBase`](crate::ArrayBase) may do with its elements) and every storage type, one per way of holding
//! elements: an owned buffer ([`OwnedRepr`]), a borrow ([`ViewRepr`]), a shared buffer
//! ([`SharedRepr`]) and a file mapping ([`MmapRepr`], in `mmap.rs`, with the registry of mapped
//! files that keeps the crate's own writers off them).

pub(crate) mod mmap;
pub(crate) mod registry;

use std::marker::PhantomData;
use std::sync::Arc;

use crate::buffer::AlignedBuf;
use crate::element::Element;

pub use mmap::{MmapArray, MmapMode, MmapRepr};

/// Storage of an [`ArrayBase`](crate::ArrayBase): what keeps its elements alive.
pub trait RawData: Sized {
    /// The element type.
    type Elem: Element;
    /// Bytes of the allocation this storage keeps alive, if it owns or shares one (NumPy's
    /// `a.base.nbytes`); `None` for borrowed views.
    fn base_nbytes(&self) -> Option<usize>;
    /// Whether the array owns its buffer outright (NumPy's `OWNDATA` flag).
    fn owns_data(&self) -> bool {
        false
    }
    /// Whether elements may be written through this storage (NumPy's `WRITEABLE`).
    fn writeable(&self) -> bool {
        false
    }
}

/// Storage whose elements may be read for as long as the array lives.
///
/// # Safety
///
/// Implementors keep every element reachable from the array's `ptr` and geometry initialised and
/// unchanged by others for the array's lifetime (invariant 2).
pub unsafe trait Data: RawData {}

/// Storage whose elements may be written through a unique borrow of the array.
///
/// # Safety
///
/// As [`Data`], and no other live reference reads or writes those elements while the array is
/// borrowed mutably.
pub unsafe trait DataMut: Data {}

/// Owned storage: a 64-byte-aligned buffer freed with the array.
pub struct OwnedRepr<T: Element>(pub(crate) AlignedBuf<T>);

/// Borrowed storage: `A` is `&'a T` (read-only view) or `&'a mut T` (mutable view).
pub struct ViewRepr<A>(PhantomData<A>);

impl<A> Clone for ViewRepr<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for ViewRepr<A> {}

impl<A> ViewRepr<A> {
    pub(crate) fn new() -> Self {
        ViewRepr(PhantomData)
    }
}

/// Reference-counted storage: every [`SharedArray`](crate::SharedArray) sliced from the same base keeps the whole base
/// buffer alive, as a NumPy view keeps its `base`.
pub struct SharedRepr<T: Element>(pub(crate) Arc<AlignedBuf<T>>);

impl<T: Element> Clone for SharedRepr<T> {
    fn clone(&self) -> Self {
        SharedRepr(Arc::clone(&self.0))
    }
}

impl<T: Element> RawData for OwnedRepr<T> {
    type Elem = T;
    fn base_nbytes(&self) -> Option<usize> {
        Some(self.0.nbytes())
    }
    fn owns_data(&self) -> bool {
        true
    }
    fn writeable(&self) -> bool {
        true
    }
}
// SAFETY: the buffer is owned by the array and freed only when it drops.
unsafe impl<T: Element> Data for OwnedRepr<T> {}
// SAFETY: the buffer is owned uniquely; `&mut ArrayBase` is the only way to write it.
unsafe impl<T: Element> DataMut for OwnedRepr<T> {}

impl<T: Element> RawData for ViewRepr<&T> {
    type Elem = T;
    fn base_nbytes(&self) -> Option<usize> {
        None
    }
}
// SAFETY: the `'a` borrow keeps the elements alive and unchanged.
unsafe impl<T: Element> Data for ViewRepr<&T> {}

impl<T: Element> RawData for ViewRepr<&mut T> {
    type Elem = T;
    fn base_nbytes(&self) -> Option<usize> {
        None
    }
    fn writeable(&self) -> bool {
        true
    }
}
// SAFETY: the unique `'a` borrow keeps the elements alive and excludes other access.
unsafe impl<T: Element> Data for ViewRepr<&mut T> {}
// SAFETY: as above; the borrow is unique.
unsafe impl<T: Element> DataMut for ViewRepr<&mut T> {}

impl<T: Element> RawData for SharedRepr<T> {
    type Elem = T;
    fn base_nbytes(&self) -> Option<usize> {
        Some(self.0.nbytes())
    }
}
// SAFETY: the `Arc` keeps the buffer alive; shared arrays never write to it.
unsafe impl<T: Element> Data for SharedRepr<T> {}
