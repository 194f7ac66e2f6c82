//! Basic slicing, NumPy's `a[start:stop:step, i, None]`: per-axis ranges with any non-zero step
//! (negative too), integer indices that drop an axis, and new length-1 axes. Always a view.

use crate::array_base::{ArrayBase, ArrayView, ArrayViewMut, Data, DataMut};
use crate::dim::{Geom, MAX_NDIM};
use crate::error::ArrayError;
use crate::impl_views::Reslice;

/// One axis of a slice: a range with a step, a single index, or a new axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceArg {
    /// `start:stop:step` with Python semantics: negative `start`/`stop` count from the end,
    /// out-of-range bounds are clipped, `None` means "from the beginning/to the end" in the direction
    /// of `step`, and `step` may be negative but not zero.
    Range {
        /// First index (default: the start in the direction of `step`).
        start: Option<isize>,
        /// One past the last index (default: the end in the direction of `step`).
        stop: Option<isize>,
        /// Distance between taken indices.
        step: isize,
    },
    /// A single index (negative counts from the end); the axis is removed.
    Index(isize),
    /// NumPy's `None`/`np.newaxis`: inserts an axis of length 1.
    NewAxis,
}

impl SliceArg {
    /// The whole axis (`:`).
    pub const ALL: SliceArg = SliceArg::Range {
        start: None,
        stop: None,
        step: 1,
    };

    /// This range with `step` (used by [`s!`](crate::s)'s `range;step` form).
    pub fn step(self, step: isize) -> SliceArg {
        match self {
            SliceArg::Range { start, stop, .. } => SliceArg::Range { start, stop, step },
            other => other,
        }
    }
}

impl From<isize> for SliceArg {
    fn from(i: isize) -> Self {
        SliceArg::Index(i)
    }
}
impl From<std::ops::Range<isize>> for SliceArg {
    fn from(r: std::ops::Range<isize>) -> Self {
        SliceArg::Range {
            start: Some(r.start),
            stop: Some(r.end),
            step: 1,
        }
    }
}
impl From<std::ops::RangeFrom<isize>> for SliceArg {
    fn from(r: std::ops::RangeFrom<isize>) -> Self {
        SliceArg::Range {
            start: Some(r.start),
            stop: None,
            step: 1,
        }
    }
}
impl From<std::ops::RangeTo<isize>> for SliceArg {
    fn from(r: std::ops::RangeTo<isize>) -> Self {
        SliceArg::Range {
            start: None,
            stop: Some(r.end),
            step: 1,
        }
    }
}
impl From<std::ops::RangeFull> for SliceArg {
    fn from(_: std::ops::RangeFull) -> Self {
        SliceArg::ALL
    }
}

/// Builds a `[SliceArg; N]` NumPy-style: `s![1..-1, ..;-1, 3, NewAxis]` is `a[1:-1, ::-1, 3, None]`.
/// Each item is a range, an `isize` index or `SliceArg::NewAxis`, optionally followed by `;step`.
#[macro_export]
macro_rules! s {
    ($($e:expr $(; $step:expr)?),* $(,)?) => {{
        // `1..-1` is an empty Rust range but a fine NumPy slice.
        #[allow(clippy::reversed_empty_ranges)]
        let args = [$( $crate::SliceArg::from($e) $(.step($step))? ),*];
        args
    }};
}

/// Python's `slice.indices(len)` plus the resulting count: `(start, step, count)`.
pub(crate) fn resolve_range(
    start: Option<isize>,
    stop: Option<isize>,
    step: isize,
    len: usize,
) -> Result<(isize, usize), ArrayError> {
    if step == 0 {
        return Err(ArrayError::Invalid("slice step cannot be zero".into()));
    }
    // As CPython's `PySlice_Unpack`: a step of `isize::MIN` acts as `-isize::MAX`, so `-step` below
    // cannot overflow (the result is the same: at most one element is taken).
    let step = step.max(-isize::MAX);
    let n = len as isize;
    let (lower, upper) = if step < 0 { (-1, n - 1) } else { (0, n) };
    let clip = |v: isize| {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lower, upper)
    };
    let start = start.map_or(if step < 0 { upper } else { lower }, clip);
    let stop = stop.map_or(if step < 0 { lower } else { upper }, clip);
    let count = if step < 0 {
        if stop < start {
            (start - stop - 1) / (-step) + 1
        } else {
            0
        }
    } else if start < stop {
        (stop - start - 1) / step + 1
    } else {
        0
    };
    Ok((start, count as usize))
}

/// The geometry of `geom[args]` and the element offset of its first element.
pub(crate) fn slice_geom(geom: &Geom, args: &[SliceArg]) -> Result<(isize, Geom), ArrayError> {
    let consumed = args
        .iter()
        .filter(|a| !matches!(a, SliceArg::NewAxis))
        .count();
    if consumed > geom.ndim() {
        return Err(ArrayError::Invalid(format!(
            "too many indices for array: array is {}-dimensional, but {consumed} were indexed",
            geom.ndim()
        )));
    }
    let mut out = Geom::empty(0)?;
    let mut offset = 0isize;
    let mut ax = 0usize;
    let push = |out: &mut Geom, len: usize, stride: isize| -> Result<(), ArrayError> {
        if out.ndim() == MAX_NDIM {
            return Err(ArrayError::Invalid(format!(
                "slicing would give more than {MAX_NDIM} dimensions"
            )));
        }
        out.push(len, stride);
        Ok(())
    };
    let full = args
        .iter()
        .copied()
        .chain(std::iter::repeat_n(SliceArg::ALL, geom.ndim() - consumed));
    for arg in full {
        match arg {
            SliceArg::NewAxis => push(&mut out, 1, 0)?,
            SliceArg::Index(i) => {
                let len = geom.shape()[ax];
                let j = if i < 0 { i + len as isize } else { i };
                if j < 0 || j >= len as isize {
                    return Err(ArrayError::IndexOutOfBounds {
                        what: "index",
                        index: i,
                        axis: ax,
                        len,
                    });
                }
                offset += j * geom.strides()[ax];
                ax += 1;
            }
            SliceArg::Range { start, stop, step } => {
                let (len, stride) = (geom.shape()[ax], geom.strides()[ax]);
                let (first, count) = resolve_range(start, stop, step, len)?;
                if count > 0 {
                    offset += first * stride;
                }
                // With two or more elements taken, `stride·step` is the distance between two
                // elements of one allocation, so it fits; with one or none it may overflow and does
                // not matter (the axis is never stepped along): use 0.
                let new_stride = match stride.checked_mul(step) {
                    Some(st) => st,
                    None if count <= 1 => 0,
                    None => {
                        return Err(ArrayError::Invalid(format!(
                            "slice step {step} overflows the stride of axis {ax}"
                        )));
                    }
                };
                push(&mut out, count, new_stride)?;
                ax += 1;
            }
        }
    }
    if out.len() == 0 {
        offset = 0; // an empty result keeps the original (valid) pointer
    }
    Ok((offset, out))
}

impl<S: Data> ArrayBase<S> {
    /// `a[args]` as a view: zero bytes allocated. Missing trailing axes are taken whole. Panics on an
    /// out-of-bounds index or zero step (see [`try_slice`](Self::try_slice)).
    pub fn slice(&self, args: &[SliceArg]) -> ArrayView<'_, S::Elem> {
        self.try_slice(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `a[args]` as a view, or an error naming the bad index or step. Never panics: any `isize`
    /// bounds and non-zero steps are accepted, as Python's slices accept any integers
    /// (`a[::isize::MIN]` is the last element alone, as NumPy's `a[::-2**63]`).
    pub fn try_slice(&self, args: &[SliceArg]) -> Result<ArrayView<'_, S::Elem>, ArrayError> {
        self.view().try_slice_move(args)
    }
}

impl<S: DataMut> ArrayBase<S> {
    /// `a[args]` as a mutable view: zero bytes allocated. Panics like [`slice`](Self::slice).
    pub fn slice_mut(&mut self, args: &[SliceArg]) -> ArrayViewMut<'_, S::Elem> {
        self.view_mut()
            .try_slice_move(args)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<S: Reslice> ArrayBase<S> {
    /// Slices this view or shared array in place of itself, keeping its storage: for a
    /// [`SharedArray`](crate::SharedArray) the result still keeps the whole base alive.
    pub fn slice_move(self, args: &[SliceArg]) -> Self {
        self.try_slice_move(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`slice_move`](Self::slice_move), or an error naming the bad index or step.
    pub fn try_slice_move(self, args: &[SliceArg]) -> Result<Self, ArrayError> {
        let (offset, geom) = slice_geom(&self.geom, args)?;
        // `offset` is the offset of an in-bounds index of the old geometry (or 0), so the new pointer
        // stays inside the same allocation; every index of `geom` maps to an old in-bounds index.
        let ptr = self.ptr.as_ptr().wrapping_offset(offset);
        let ptr = std::ptr::NonNull::new(ptr).expect("in-bounds element pointers are non-null");
        Ok(ArrayBase {
            data: self.data,
            ptr,
            geom,
        })
    }
}
