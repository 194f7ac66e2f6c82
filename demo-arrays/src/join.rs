//! Joining arrays: NumPy's `np.concatenate` and `np.stack`. Always a copy into a new C-ordered
//! array, which is the only allocation (`tests/byte_claims.rs`). Errors read as NumPy's.

use crate::array_base::{ArrayView, NdArray};
use crate::dim::MAX_NDIM;
use crate::element::Element;
use crate::error::ArrayError;
use crate::impl_views::slicing::SliceArg;

/// NumPy's `np.concatenate(arrays, axis)`: the arrays joined along an existing `axis`; every other
/// axis must have the same length in all of them. Pass views (`&[a.view(), b.view()]`, or
/// slices of other arrays: no copy is made before the result). Allocates exactly the result,
/// `total × itemsize` bytes. Errors, as NumPy's: an empty list, 0-d arrays, a missing axis,
/// different numbers of axes, or another axis whose lengths differ (naming the axis and both
/// lengths).
pub fn concatenate<T: Element>(
    arrays: &[ArrayView<'_, T>],
    axis: usize,
) -> Result<NdArray<T>, ArrayError> {
    if arrays.is_empty() {
        return Err(ArrayError::Invalid(
            "need at least one array to concatenate".into(),
        ));
    }
    join(arrays.len(), |i| Ok(arrays[i]), axis)
}

/// NumPy's `np.stack(arrays, axis)`: arrays of one shape joined along a new `axis` (`0..=ndim`),
/// so `stack(&[a, b], 0)` has shape `(2, …a's shape)`. Allocates exactly the result. Errors, as
/// NumPy's: an empty list, different shapes (`all input arrays must have the same shape`), or an
/// axis past `ndim`.
pub fn stack<T: Element>(
    arrays: &[ArrayView<'_, T>],
    axis: usize,
) -> Result<NdArray<T>, ArrayError> {
    let Some(first) = arrays.first() else {
        return Err(ArrayError::Invalid(
            "need at least one array to stack".into(),
        ));
    };
    if arrays.iter().any(|a| a.shape() != first.shape()) {
        return Err(ArrayError::Invalid(
            "all input arrays must have the same shape".into(),
        ));
    }
    join(arrays.len(), |i| arrays[i].expand_dims(axis), axis)
}

/// Concatenates `get(0) … get(n - 1)` along `axis`.
fn join<'a, T: Element>(
    n: usize,
    get: impl Fn(usize) -> Result<ArrayView<'a, T>, ArrayError>,
    axis: usize,
) -> Result<NdArray<T>, ArrayError> {
    let first = get(0)?;
    let nd = first.ndim();
    if nd == 0 {
        return Err(ArrayError::Invalid(
            "zero-dimensional arrays cannot be concatenated".into(),
        ));
    }
    if axis >= nd {
        return Err(ArrayError::AxisOutOfBounds { axis, ndim: nd });
    }
    let mut shape = [0usize; MAX_NDIM];
    shape[..nd].copy_from_slice(first.shape());
    shape[axis] = 0;
    for i in 0..n {
        let a = get(i)?;
        if a.ndim() != nd {
            return Err(ArrayError::Invalid(format!(
                "all the input arrays must have same number of dimensions, but the array at index \
                 0 has {nd} dimension(s) and the array at index {i} has {} dimension(s)",
                a.ndim()
            )));
        }
        if let Some(ax) = (0..nd).find(|&ax| ax != axis && a.shape()[ax] != first.shape()[ax]) {
            return Err(ArrayError::Invalid(format!(
                "all the input array dimensions except for the concatenation axis must match \
                 exactly, but along dimension {ax}, the array at index 0 has size {} and the \
                 array at index {i} has size {}",
                first.shape()[ax],
                a.shape()[ax]
            )));
        }
        shape[axis] = shape[axis]
            .checked_add(a.shape()[axis])
            .ok_or_else(|| ArrayError::out_of_memory(&shape[..nd], T::DTYPE))?;
    }
    let mut out = NdArray::try_zeros(&shape[..nd])?;
    let mut args = [SliceArg::ALL; MAX_NDIM];
    let mut start = 0usize;
    for i in 0..n {
        let a = get(i)?;
        let stop = start + a.shape()[axis];
        // Both bounds fit in `isize`: they are lengths of an allocated array.
        args[axis] = SliceArg::Range {
            start: Some(start as isize),
            stop: Some(stop as isize),
            step: 1,
        };
        out.slice_mut(&args[..nd]).assign(&a)?;
        start = stop;
    }
    Ok(out)
}
