//! Broadcasting (NumPy's `np.broadcast_to`): a read-only view in which length-1 and missing leading
//! axes take stride 0, so one element stands for a whole axis. Zero bytes allocated. The shape rule
//! itself is `dim::broadcast_shapes`.

use crate::array_base::{ArrayBase, ArrayView, Data};
use crate::dim::{Geom, broadcast_shapes};
use crate::error::ArrayError;

impl<S: Data> ArrayBase<S> {
    /// A view of this array broadcast to `shape` by NumPy's rules (length-1 and missing leading axes
    /// get stride 0): zero bytes allocated. Read-only, since many indices reach one element.
    pub fn broadcast(&self, shape: &[usize]) -> Result<ArrayView<'_, S::Elem>, ArrayError> {
        if crate::dim::checked_len(shape).is_none() {
            return Err(ArrayError::Invalid(format!(
                "cannot broadcast to shape {}: its element count overflows usize",
                crate::error::ShapeDisplay::of(shape)
            )));
        }
        let target = broadcast_shapes(self.shape(), shape)?;
        if target.shape() != shape {
            return Err(ArrayError::mismatch(
                "input operand cannot be broadcast to",
                self.shape(),
                shape,
            ));
        }
        let mut geom = Geom::empty(shape.len())?;
        let lead = shape.len() - self.ndim();
        for (ax, &n) in shape.iter().enumerate() {
            let stride = if ax < lead || self.shape()[ax - lead] != n {
                0
            } else {
                self.strides()[ax - lead]
            };
            geom.set(ax, n, stride);
        }
        Ok(ArrayBase {
            data: crate::array_base::ViewRepr::new(),
            ptr: self.ptr,
            geom,
        })
    }
}
