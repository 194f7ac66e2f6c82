//! Reshaping (NumPy's `a.reshape`). Reshaping is a view whenever
//! NumPy's rule finds strides for it (always for C-contiguous data; for strided data when the axes
//! being merged are contiguous with each other) and a copy otherwise;
//! [`to_shape`](crate::ArrayBase::to_shape) says which happened through [`CowArray`], like
//! `ndarray`'s `to_shape`.

use crate::array_base::{ArrayBase, ArrayView, Data, NdArray};
use crate::element::Element;
use crate::error::ArrayError;

/// Either a view of the original elements or a fresh copy (the result of
/// [`to_shape`](crate::ArrayBase::to_shape)).
pub enum CowArray<'a, T: Element> {
    /// No copy was needed.
    View(ArrayView<'a, T>),
    /// The data was copied into a new C-ordered array.
    Owned(NdArray<T>),
}

impl<'a, T: Element> CowArray<'a, T> {
    /// Whether a copy was made.
    pub fn is_copy(&self) -> bool {
        matches!(self, CowArray::Owned(_))
    }
    /// A view of the result.
    pub fn view(&self) -> ArrayView<'_, T> {
        match self {
            CowArray::View(v) => v.view(),
            CowArray::Owned(a) => a.view(),
        }
    }
    /// The result as an owned array (copying only if it is a view).
    pub fn into_owned(self) -> NdArray<T> {
        match self {
            CowArray::View(v) => v.to_owned(),
            CowArray::Owned(a) => a,
        }
    }
}

impl<S: crate::array_base::RawData> ArrayBase<S> {
    /// Reinterprets the elements with a new shape of the same length in C order, keeping the storage
    /// (zero bytes allocated). One length may be [`INFER`](crate::INFER) (NumPy's `-1`). Errors if
    /// the array is not C-contiguous or the lengths differ.
    pub fn into_shape(self, shape: &[usize]) -> Result<Self, ArrayError> {
        let geom = crate::dim::resolve_shape(self.len(), shape)?;
        let shape = geom.shape();
        if crate::dim::checked_len(shape) != Some(self.len()) || !self.is_c_contiguous() {
            return Err(ArrayError::mismatch(
                "cannot reshape array in place",
                self.shape(),
                shape,
            ));
        }
        Ok(ArrayBase { geom, ..self })
    }
}

impl<S: crate::impl_views::Reslice> ArrayBase<S> {
    /// [`reshape`](Self::reshape) keeping this view's storage (one length may be
    /// [`INFER`](crate::INFER)): for a
    /// [`SharedArray`](crate::SharedArray), the result still shares (and pins) the base.
    pub fn reshape_move(self, shape: &[usize]) -> Result<Self, ArrayError> {
        let resolved = crate::dim::resolve_shape(self.len(), shape)?;
        let shape = resolved.shape();
        if crate::dim::checked_len(shape) != Some(self.len()) {
            return Err(ArrayError::mismatch(
                "cannot reshape array",
                self.shape(),
                shape,
            ));
        }
        match crate::dim::nocopy_reshape(&self.geom, shape)? {
            Some(geom) => Ok(ArrayBase { geom, ..self }),
            None => Err(ArrayError::Invalid(format!(
                "cannot reshape an array of shape {} and strides {:?} without copying",
                crate::error::ShapeDisplay::of(self.shape()),
                self.strides()
            ))),
        }
    }
}

impl<S: Data> ArrayBase<S> {
    /// The same elements with a new shape, as a view (zero bytes allocated), whenever strides exist
    /// that show them in C order under the new shape — always for C-contiguous data, and for many
    /// strided views (NumPy's rule: the axes being merged must be contiguous with each other).
    /// Otherwise an error: use [`to_shape`](Self::to_shape) to copy then. One length may be
    /// [`INFER`](crate::INFER), NumPy's `-1`: `a.reshape(&[INFER, 4])` is `a.reshape(-1, 4)`.
    pub fn reshape(&self, shape: &[usize]) -> Result<ArrayView<'_, S::Elem>, ArrayError> {
        let resolved = crate::dim::resolve_shape(self.len(), shape)?;
        let shape = resolved.shape();
        if crate::dim::checked_len(shape) != Some(self.len()) {
            return Err(ArrayError::mismatch(
                "cannot reshape array",
                self.shape(),
                shape,
            ));
        }
        match crate::dim::nocopy_reshape(&self.geom, shape)? {
            Some(geom) => Ok(ArrayBase {
                data: crate::array_base::ViewRepr::new(),
                ptr: self.ptr,
                geom,
            }),
            None => Err(ArrayError::Invalid(format!(
                "cannot reshape an array of shape {} and strides {:?} to {} without copying; use to_shape",
                crate::error::ShapeDisplay::of(self.shape()),
                self.strides(),
                crate::error::ShapeDisplay::of(shape)
            ))),
        }
    }

    /// NumPy's `a.reshape(shape)` (one length may be [`INFER`](crate::INFER), NumPy's `-1`): a view when [`reshape`](Self::reshape) finds one, otherwise a
    /// C-ordered copy.
    /// [`CowArray::is_copy`] tells which (NumPy does not tell you).
    pub fn to_shape(&self, shape: &[usize]) -> Result<CowArray<'_, S::Elem>, ArrayError> {
        let resolved = crate::dim::resolve_shape(self.len(), shape)?;
        let shape = resolved.shape();
        if crate::dim::checked_len(shape) != Some(self.len()) {
            return Err(ArrayError::mismatch(
                "cannot reshape array",
                self.shape(),
                shape,
            ));
        }
        match crate::dim::nocopy_reshape(&self.geom, shape)? {
            Some(geom) => Ok(CowArray::View(ArrayBase {
                data: crate::array_base::ViewRepr::new(),
                ptr: self.ptr,
                geom,
            })),
            None => self.to_owned().into_shape(shape).map(CowArray::Owned),
        }
    }
}
