//! Axis permutation (NumPy's `a.T`, `np.transpose(a, axes)`): the same elements with shape and
//! strides reordered. Zero bytes allocated; an owned array stays owned (and becomes F-ordered).

use crate::array_base::{ArrayBase, ArrayView, Data, RawData};
use crate::dim::{Geom, MAX_NDIM};
use crate::error::ArrayError;

impl<S: RawData> ArrayBase<S> {
    /// Reverses the axes, keeping the storage (an owned `C`-ordered array becomes `F`-ordered).
    pub fn reversed_axes(mut self) -> Self {
        let nd = self.ndim();
        let old = self.geom;
        for ax in 0..nd {
            self.geom
                .set(ax, old.shape()[nd - 1 - ax], old.strides()[nd - 1 - ax]);
        }
        self
    }

    /// Reorders the axes: axis `i` of the result is axis `axes[i]` of `self`. `axes` must be a
    /// permutation of `0..ndim`.
    pub fn permuted_axes(self, axes: &[usize]) -> Result<Self, ArrayError> {
        let nd = self.ndim();
        let mut seen = [false; MAX_NDIM];
        if axes.len() != nd
            || axes
                .iter()
                .any(|&a| a >= nd || std::mem::replace(&mut seen[a], true))
        {
            return Err(ArrayError::Invalid(format!(
                "axes {axes:?} don't match array of {nd} dimensions"
            )));
        }
        let mut geom = Geom::empty(nd)?;
        for (i, &a) in axes.iter().enumerate() {
            geom.set(i, self.geom.shape()[a], self.geom.strides()[a]);
        }
        Ok(ArrayBase { geom, ..self })
    }
}

impl<S: Data> ArrayBase<S> {
    /// The transpose as a view (NumPy's `a.T`): zero bytes allocated.
    pub fn t(&self) -> ArrayView<'_, S::Elem> {
        self.view().reversed_axes()
    }
}
