//! Views: new geometry over the same elements, zero bytes allocated. Borrowing ([`view`],
//! [`view_mut`]), slicing ([`slicing`]), axis permutation ([`transpose`]), adding and removing
//! length-1 axes ([`axes`]), broadcasting ([`broadcast`]) and reshaping ([`reshape`]). The copying
//! counterparts live in `impl_copies.rs`.
//!
//! [`view`]: crate::ArrayBase::view
//! [`view_mut`]: crate::ArrayBase::view_mut

pub mod axes;
pub mod broadcast;
pub mod reshape;
pub mod slicing;
pub mod transpose;

use crate::array_base::{
    ArrayBase, ArrayView, ArrayViewMut, Data, DataMut, RawData, SharedRepr, ViewRepr,
};
use crate::element::Element;

/// Storages whose arrays may take any in-bounds geometry over their elements: borrowed views and
/// shared views (not owned arrays, which stay contiguous, invariant 5). Sealed.
pub trait Reslice: RawData + private::Sealed {}

mod private {
    pub trait Sealed {}
}
impl<A> private::Sealed for ViewRepr<A> {}
impl<T: Element> private::Sealed for SharedRepr<T> {}
impl<T: Element> Reslice for ViewRepr<&T> {}
impl<T: Element> Reslice for ViewRepr<&mut T> {}
impl<T: Element> Reslice for SharedRepr<T> {}

impl<S: Data> ArrayBase<S> {
    /// A read-only view of the whole array (NumPy's `b = a` or `a[...]`): zero bytes allocated.
    pub fn view(&self) -> ArrayView<'_, S::Elem> {
        ArrayBase {
            data: ViewRepr::new(),
            ptr: self.ptr,
            geom: self.geom,
        }
    }
}

impl<S: DataMut> ArrayBase<S> {
    /// A mutable view of the whole array: zero bytes allocated.
    pub fn view_mut(&mut self) -> ArrayViewMut<'_, S::Elem> {
        ArrayBase {
            data: ViewRepr::new(),
            ptr: self.ptr,
            geom: self.geom,
        }
    }
}

/// Whether two arrays may share memory: NumPy's `np.may_share_memory(a, b)`, which compares the
/// address ranges the elements span. `false` is certain (no common byte); `true` may be a false
/// alarm for strided arrays that interleave without touching a common element (`a[::2]` and
/// `a[1::2]`), where NumPy's exact `np.shares_memory` says `false`. Allocates nothing.
pub fn may_share_memory<A: RawData, B: RawData>(a: &ArrayBase<A>, b: &ArrayBase<B>) -> bool {
    let (a0, a1) = a.byte_range();
    let (b0, b1) = b.byte_range();
    a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1
}
