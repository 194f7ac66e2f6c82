//! Adding and removing axes of length 1 (NumPy's `np.expand_dims`, `a.squeeze()`): the same
//! elements under one more or one fewer axis. Zero bytes allocated; the storage is kept, so an owned
//! array stays owned.

use crate::array_base::{ArrayBase, RawData};
use crate::dim::{Geom, MAX_NDIM};
use crate::error::ArrayError;

impl<S: RawData> ArrayBase<S> {
    /// NumPy's `a.squeeze()`: every axis of length 1 removed, keeping the storage (a view stays a
    /// view: `a.view().squeeze()`). Zero bytes allocated.
    pub fn squeeze(self) -> Self {
        let mut geom = Geom::empty(0).expect("0 dimensions are supported");
        for (&n, &s) in self.shape().iter().zip(self.strides()) {
            if n != 1 {
                geom.push(n, s);
            }
        }
        ArrayBase { geom, ..self }
    }

    /// NumPy's `a.squeeze(axis=axis)`: that one axis removed. Errors as NumPy's if it does not
    /// exist, or if its length is not 1 (`cannot select an axis to squeeze out which has size not
    /// equal to one`). Zero bytes allocated.
    pub fn squeeze_axis(self, axis: usize) -> Result<Self, ArrayError> {
        match self.shape().get(axis) {
            None => Err(ArrayError::AxisOutOfBounds {
                axis,
                ndim: self.ndim(),
            }),
            Some(1) => {
                let mut geom = Geom::empty(0)?;
                for (ax, (&n, &s)) in self.shape().iter().zip(self.strides()).enumerate() {
                    if ax != axis {
                        geom.push(n, s);
                    }
                }
                Ok(ArrayBase { geom, ..self })
            }
            Some(_) => Err(ArrayError::Invalid(
                "cannot select an axis to squeeze out which has size not equal to one".into(),
            )),
        }
    }

    /// NumPy's `np.expand_dims(a, axis)` (`a[:, None]` for `axis = 1`): a new axis of length 1
    /// at position `axis` (`0..=ndim`), keeping the storage. Errors as NumPy's for an axis past
    /// `ndim`, or when the array already has [`MAX_NDIM`] axes. Zero bytes allocated.
    pub fn expand_dims(self, axis: usize) -> Result<Self, ArrayError> {
        let nd = self.ndim();
        if axis > nd {
            return Err(ArrayError::AxisOutOfBounds { axis, ndim: nd + 1 });
        }
        let mut geom = Geom::empty(nd + 1)?;
        debug_assert!(nd < MAX_NDIM);
        for ax in 0..nd {
            let to = if ax < axis { ax } else { ax + 1 };
            geom.set(to, self.shape()[ax], self.strides()[ax]);
        }
        // Any stride is valid for a length-1 axis; this one keeps C-ordered arrays C-ordered.
        let stride = if axis < nd {
            self.strides()[axis].wrapping_mul(self.shape()[axis].max(1) as isize)
        } else {
            1
        };
        geom.set(axis, 1, stride);
        Ok(ArrayBase { geom, ..self })
    }
}
