//! Array geometry without heap allocation: [`Geom`] holds up to [`MAX_NDIM`] lengths and strides inline,
//! so making a view never allocates. Also the pure shape rules: element counts, contiguity, NumPy
//! broadcasting.

use crate::error::ArrayError;

/// The most dimensions an array may have (NumPy allows 64; eight keeps a view at 144 bytes).
pub const MAX_NDIM: usize = 8;

/// Shape and strides (in elements; negative and zero allowed) of an array, stored inline. Opaque
/// outside the crate except for reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Geom {
    ndim: u8,
    shape: [usize; MAX_NDIM],
    strides: [isize; MAX_NDIM],
}

impl Geom {
    /// C-order (row-major) geometry for `shape`.
    pub(crate) fn c_order(shape: &[usize]) -> Result<Geom, ArrayError> {
        let mut g = Geom::empty(shape.len())?;
        g.shape[..shape.len()].copy_from_slice(shape);
        let mut s: isize = 1;
        for ax in (0..shape.len()).rev() {
            g.strides[ax] = s;
            s = s.wrapping_mul(shape[ax].max(1) as isize);
        }
        Ok(g)
    }

    /// Fortran-order (column-major) geometry for `shape`.
    pub(crate) fn f_order(shape: &[usize]) -> Result<Geom, ArrayError> {
        let mut g = Geom::empty(shape.len())?;
        g.shape[..shape.len()].copy_from_slice(shape);
        let mut s: isize = 1;
        for (ax, &n) in shape.iter().enumerate() {
            g.strides[ax] = s;
            s = s.wrapping_mul(n.max(1) as isize);
        }
        Ok(g)
    }

    /// A geometry of `ndim` zero-length axes, to be filled in.
    pub(crate) fn empty(ndim: usize) -> Result<Geom, ArrayError> {
        if ndim > MAX_NDIM {
            return Err(ArrayError::Invalid(format!(
                "{ndim} dimensions requested, but demo-arrays supports at most {MAX_NDIM}"
            )));
        }
        Ok(Geom {
            ndim: ndim as u8,
            shape: [0; MAX_NDIM],
            strides: [0; MAX_NDIM],
        })
    }

    pub(crate) fn ndim(&self) -> usize {
        self.ndim as usize
    }
    /// The length of each axis.
    #[inline]
    pub fn shape(&self) -> &[usize] {
        &self.shape[..self.ndim as usize]
    }
    /// The stride of each axis, in elements.
    #[inline]
    pub fn strides(&self) -> &[isize] {
        &self.strides[..self.ndim as usize]
    }
    pub(crate) fn set(&mut self, axis: usize, len: usize, stride: isize) {
        self.shape[axis] = len;
        self.strides[axis] = stride;
    }
    /// Appends an axis; the caller has checked `ndim < MAX_NDIM`.
    pub(crate) fn push(&mut self, len: usize, stride: isize) {
        let ax = self.ndim as usize;
        self.ndim += 1;
        self.set(ax, len, stride);
    }

    /// Number of elements (product of the shape; 1 for zero dimensions). The product cannot
    /// overflow for the geometry of an array (its elements exist); see [`checked_len`] otherwise.
    pub(crate) fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// The element offset of `index` (`Σ iₖ·strideₖ`); the caller has checked it is in bounds.
    #[inline(always)]
    pub(crate) fn offset(&self, index: &[usize]) -> isize {
        index
            .iter()
            .zip(self.strides())
            .map(|(&i, &s)| i as isize * s)
            .sum()
    }

    /// Whether the elements are laid out in C order with no gaps (length-1 axes' strides ignored).
    pub(crate) fn is_c_contiguous(&self) -> bool {
        if self.len() == 0 {
            return true;
        }
        let mut expect: isize = 1;
        for ax in (0..self.ndim()).rev() {
            let n = self.shape[ax];
            if n != 1 {
                if self.strides[ax] != expect {
                    return false;
                }
                expect *= n as isize;
            }
        }
        true
    }

    /// Whether the elements are laid out in Fortran order with no gaps.
    pub(crate) fn is_f_contiguous(&self) -> bool {
        let mut rev = *self;
        rev.shape[..self.ndim()].reverse();
        rev.strides[..self.ndim()].reverse();
        rev.is_c_contiguous()
    }

    /// The smallest and largest element offsets reachable (both 0 for an empty array).
    pub(crate) fn offset_range(&self) -> (isize, isize) {
        if self.len() == 0 {
            return (0, 0);
        }
        let (mut lo, mut hi) = (0isize, 0isize);
        for (&n, &s) in self.shape().iter().zip(self.strides()) {
            let far = (n as isize - 1) * s;
            if far < 0 {
                lo += far;
            } else {
                hi += far;
            }
        }
        (lo, hi)
    }

    /// Whether two distinct indices can reach the same element (a zero stride on a long axis, or
    /// overlapping strides). Conservative: may say `true` for some layouts that do not overlap.
    pub(crate) fn may_overlap(&self) -> bool {
        let mut order = [0usize; MAX_NDIM];
        let n = self.ndim();
        for (i, o) in order.iter_mut().enumerate().take(n) {
            *o = i;
        }
        let ord = &mut order[..n];
        ord.sort_unstable_by_key(|&ax| self.strides[ax].unsigned_abs());
        let mut span: usize = 1; // elements covered by the faster axes so far
        for &ax in ord.iter() {
            let len = self.shape[ax];
            if len <= 1 {
                continue;
            }
            if self.strides[ax].unsigned_abs() < span {
                return true;
            }
            span += self.strides[ax].unsigned_abs() * (len - 1);
        }
        false
    }
}

impl Geom {
    /// The same elements, as a geometry for an order-independent reduction: length-1 axes dropped,
    /// axes ordered by decreasing `|stride|` (the smallest innermost, for memory access), and
    /// neighbours that step evenly merged into one axis. Reaches exactly the offsets `self` reaches
    /// (each as often), from the same first element, so it is valid wherever `self` is.
    pub(crate) fn for_reduction(&self) -> Geom {
        if self.len() == 0 {
            return *self;
        }
        let mut axes = [0usize; MAX_NDIM];
        let mut n = 0;
        for ax in 0..self.ndim() {
            if self.shape[ax] != 1 {
                axes[n] = ax;
                n += 1;
            }
        }
        axes[..n].sort_by_key(|&ax| std::cmp::Reverse(self.strides[ax].unsigned_abs()));
        let mut g = Geom {
            ndim: 0,
            shape: [0; MAX_NDIM],
            strides: [0; MAX_NDIM],
        };
        for &ax in &axes[..n] {
            let (len, st) = (self.shape[ax], self.strides[ax]);
            let last = g.ndim as usize;
            // Outer axis `last - 1` steps over exactly one run of this axis: merge the two.
            if last > 0
                && g.strides[last - 1] == st.wrapping_mul(len as isize)
                && g.shape[last - 1].checked_mul(len).is_some()
            {
                g.shape[last - 1] *= len;
                g.strides[last - 1] = st;
            } else {
                g.push(len, st);
            }
        }
        g
    }
}

/// A multi-index walked in C order, like an odometer (the last axis turns fastest), with the element
/// offsets of `K` arrays kept in step: the one place the crate advances an index (element iterators,
/// lane walks, index-building constructors, fused evaluation, printing).
#[derive(Clone, Copy)]
pub(crate) struct Counter<const K: usize> {
    idx: [usize; MAX_NDIM],
    /// The element offset of the current index in each of the `K` arrays.
    pub(crate) off: [isize; K],
}

impl<const K: usize> Counter<K> {
    /// Index zero, offsets zero.
    pub(crate) const fn new() -> Self {
        Counter {
            idx: [0; MAX_NDIM],
            off: [0; K],
        }
    }

    /// The current index, for an `nd`-dimensional shape.
    #[inline(always)]
    pub(crate) fn index(&self, nd: usize) -> &[usize] {
        &self.idx[..nd]
    }

    /// Steps to the next index of `shape`, moving offset `k` by `strides[k]` of each axis that
    /// turns; returns `false`, back at index zero, after the last index.
    #[inline(always)]
    pub(crate) fn advance(&mut self, shape: &[usize], strides: [&[isize]; K]) -> bool {
        for ax in (0..shape.len()).rev() {
            self.idx[ax] += 1;
            for (o, s) in self.off.iter_mut().zip(&strides) {
                *o += s[ax];
            }
            if self.idx[ax] < shape[ax] {
                return true;
            }
            for (o, s) in self.off.iter_mut().zip(&strides) {
                *o -= s[ax] * shape[ax] as isize;
            }
            self.idx[ax] = 0;
        }
        false
    }
}

impl std::fmt::Debug for Geom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shape={:?} strides={:?}", self.shape(), self.strides())
    }
}

/// NumPy's `-1` in a shape given to [`reshape`](crate::ArrayBase::reshape),
/// [`to_shape`](crate::ArrayBase::to_shape), [`into_shape`](crate::ArrayBase::into_shape) or
/// [`reshape_move`](crate::ArrayBase::reshape_move): the one axis whose length is inferred from
/// the element count (`a.reshape(&[INFER, 4])` is NumPy's `a.reshape(-1, 4)`). It is `usize::MAX`
/// (`-1isize as usize`), a length no real axis can have.
pub const INFER: usize = usize::MAX;

/// `shape` with an [`INFER`] axis replaced by the length that makes `len` elements, as C-order
/// geometry. NumPy's errors: `can only specify one unknown dimension`, and `cannot reshape array of
/// size 12 into shape (5, -1)` when the other lengths do not divide `len` (NumPy prints the `-1`
/// as `newaxis`). A shape without `INFER` is returned as it is.
pub(crate) fn resolve_shape(len: usize, shape: &[usize]) -> Result<Geom, ArrayError> {
    let mut g = Geom::c_order(shape)?;
    let mut unknown = shape.iter().enumerate().filter(|&(_, &n)| n == INFER);
    let Some((ax, _)) = unknown.next() else {
        return Ok(g);
    };
    if unknown.next().is_some() {
        return Err(ArrayError::Invalid(
            "can only specify one unknown dimension".into(),
        ));
    }
    let mut resolved = [0usize; MAX_NDIM];
    resolved[..shape.len()].copy_from_slice(shape);
    resolved[ax] = 1;
    match checked_len(&resolved[..shape.len()]) {
        Some(k) if k != 0 && len.is_multiple_of(k) => {
            resolved[ax] = len / k;
            g = Geom::c_order(&resolved[..shape.len()])?;
            Ok(g)
        }
        _ => {
            let text: Vec<String> = shape
                .iter()
                .map(|&n| {
                    if n == INFER {
                        "-1".into()
                    } else {
                        n.to_string()
                    }
                })
                .collect();
            Err(ArrayError::Invalid(format!(
                "cannot reshape array of size {len} into shape ({})",
                text.join(", ")
            )))
        }
    }
}

/// Checked element count of `shape`: `None` if it overflows `usize`.
pub(crate) fn checked_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n))
}

/// Checked byte count of `shape` with `itemsize`-byte elements, as a file length: `None` if it
/// overflows `u64`.
pub(crate) fn checked_file_bytes(shape: &[usize], itemsize: usize) -> Option<u64> {
    shape
        .iter()
        .try_fold(itemsize as u64, |acc, &n| acc.checked_mul(n as u64))
}

/// NumPy broadcasting: align shapes at the right; each pair of lengths must be equal or one of them 1.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Geom, ArrayError> {
    let n = a.len().max(b.len());
    let mut out = Geom::empty(n)?;
    for i in 0..n {
        let x = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let y = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        let len = match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => {
                return Err(ArrayError::mismatch(
                    "operands could not be broadcast together",
                    a,
                    b,
                ));
            }
        };
        out.set(i, len, 0);
    }
    Ok(out)
}

/// NumPy's `_attempt_nocopy_reshape` (C order): strides that show the elements of `old` in C order
/// under `new_shape`, if some exist — `None` means a copy is needed. `new_shape` must have the same
/// element count as `old`.
pub(crate) fn nocopy_reshape(old: &Geom, new_shape: &[usize]) -> Result<Option<Geom>, ArrayError> {
    let mut new = Geom::c_order(new_shape)?;
    if old.len() == 0 {
        return Ok(Some(new)); // no element is ever reached: C-order strides are as good as any
    }
    // Old axes of length 1 do not constrain anything.
    let (mut od, mut os) = ([0usize; MAX_NDIM], [0isize; MAX_NDIM]);
    let mut on = 0;
    for (&n, &s) in old.shape().iter().zip(old.strides()) {
        if n != 1 {
            od[on] = n;
            os[on] = s;
            on += 1;
        }
    }
    let nd = new_shape;
    let nn = nd.len();
    let (mut oi, mut oj, mut ni, mut nj) = (0, 1, 0, 1);
    while ni < nn && oi < on {
        let (mut np, mut op) = (nd[ni], od[oi]);
        while np != op {
            // Grow whichever side is behind until both cover the same elements.
            if np < op {
                if nj >= nn {
                    return Ok(None);
                }
                np *= nd[nj];
                nj += 1;
            } else {
                if oj >= on {
                    return Ok(None);
                }
                op *= od[oj];
                oj += 1;
            }
        }
        // The old axes oi..oj must be contiguous with respect to each other.
        for ok in oi..oj - 1 {
            if os[ok] != od[ok + 1] as isize * os[ok + 1] {
                return Ok(None);
            }
        }
        new.strides[nj - 1] = os[oj - 1];
        for nk in (ni + 1..nj).rev() {
            new.strides[nk - 1] = new.strides[nk] * nd[nk] as isize;
        }
        ni = nj;
        nj += 1;
        oi = oj;
        oj += 1;
    }
    // Trailing new axes of length 1.
    let last = if ni > 0 { new.strides[ni - 1] } else { 1 };
    for nk in ni..nn {
        new.strides[nk] = last;
    }
    Ok(Some(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_walks_c_order_with_offsets_in_step() {
        let g = Geom::c_order(&[2, 3, 4]).unwrap();
        let t = Geom::f_order(&[2, 3, 4]).unwrap();
        let mut c = Counter::<2>::new();
        let mut seen = Vec::new();
        loop {
            let idx = c.index(3).to_vec();
            assert_eq!(c.off, [g.offset(&idx), t.offset(&idx)], "{idx:?}");
            seen.push(idx);
            if !c.advance(g.shape(), [g.strides(), t.strides()]) {
                break;
            }
        }
        assert_eq!(seen.len(), 24);
        assert_eq!(seen[1], vec![0, 0, 1]);
        assert_eq!(seen[23], vec![1, 2, 3]);
        assert_eq!((c.index(3), c.off), (&[0, 0, 0][..], [0, 0]));
        // Zero dimensions: one index, then done.
        let mut z = Counter::<0>::new();
        assert!(!z.advance(&[], []));
    }
}
