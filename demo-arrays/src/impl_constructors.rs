//! Constructors of owned arrays (NumPy's `np.zeros`, `np.full`, `np.arange`, `np.array`). Each has a
//! `try_` twin returning [`ArrayError::OutOfMemory`] instead of panicking with the same message.

use std::mem::MaybeUninit;
use std::sync::Arc;

use crate::array_base::{ArrayBase, NdArray, OwnedRepr, SharedArray, SharedRepr};
use crate::buffer::{AlignedBuf, UninitBuf};
use crate::dim::{Counter, Geom, checked_len};
use crate::element::{Element, Float, Scalar};
use crate::error::ArrayError;

impl<T: Element> NdArray<T> {
    /// Wraps a buffer holding exactly the elements of `geom` (contiguous, starting at offset 0).
    pub(crate) fn from_buf(buf: AlignedBuf<T>, geom: Geom) -> Self {
        let a = ArrayBase {
            ptr: buf.as_ptr(),
            data: OwnedRepr(buf),
            geom,
        };
        debug_assert!({
            a.check_invariants();
            true
        });
        a
    }

    fn len_of(shape: &[usize]) -> Result<(usize, Geom), ArrayError> {
        let geom = Geom::c_order(shape)?;
        let len = checked_len(shape).ok_or_else(|| ArrayError::out_of_memory(shape, T::DTYPE))?;
        Ok((len, geom))
    }

    /// Builds a C-order array of `shape` by letting `fill` write every element of a fresh buffer.
    /// `fill` must initialise all of them: it is given the buffer as `MaybeUninit` and the function
    /// checks nothing afterwards, so it is private to the crate.
    pub(crate) fn try_build(
        shape: &[usize],
        fill: impl FnOnce(&mut [MaybeUninit<T>]),
    ) -> Result<Self, ArrayError> {
        let (len, geom) = Self::len_of(shape)?;
        let mut buf: UninitBuf<T> = AlignedBuf::try_uninit(len, shape)?;
        fill(buf.as_uninit_mut());
        // SAFETY: every caller's `fill` writes all `len` elements (see each call site).
        Ok(Self::from_buf(unsafe { buf.assume_init() }, geom))
    }

    /// Builds a C-order array of `shape` whose `fill` writes a prefix of the fresh buffer and returns
    /// its length. The array is returned only if that is every element; otherwise an error (the
    /// buffer is freed unread). For fills whose count comes from an earlier pass over the data.
    pub(crate) fn try_build_exact(
        shape: &[usize],
        fill: impl FnOnce(&mut [MaybeUninit<T>]) -> usize,
    ) -> Result<Self, ArrayError> {
        let (len, geom) = Self::len_of(shape)?;
        let mut buf: UninitBuf<T> = AlignedBuf::try_uninit(len, shape)?;
        let written = fill(buf.as_uninit_mut());
        if written != len {
            return Err(ArrayError::Invalid(format!(
                "{written} elements produced for an array of {len}: the input changed while being read"
            )));
        }
        // SAFETY: `fill` reports writing the first `written == len` elements, i.e. all of them.
        Ok(Self::from_buf(unsafe { buf.assume_init() }, geom))
    }

    /// An array of zeros (NumPy's `np.zeros(shape)`). Panics with NumPy's out-of-memory message if it
    /// cannot be allocated; see [`try_zeros`](Self::try_zeros).
    pub fn zeros(shape: &[usize]) -> Self {
        Self::try_zeros(shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An array of zeros, or [`ArrayError::OutOfMemory`]: `unable to allocate 74.5 GiB for an array
    /// with shape (100000, 100000) and data type float64`.
    pub fn try_zeros(shape: &[usize]) -> Result<Self, ArrayError> {
        let (len, geom) = Self::len_of(shape)?;
        Ok(Self::from_buf(AlignedBuf::try_zeroed(len, shape)?, geom))
    }

    /// An array with every element `value` (NumPy's `np.full`). Panics on out-of-memory.
    pub fn from_elem(shape: &[usize], value: T) -> Self {
        Self::try_from_elem(shape, value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An array with every element `value`, or [`ArrayError::OutOfMemory`].
    pub fn try_from_elem(shape: &[usize], value: T) -> Result<Self, ArrayError> {
        Self::try_build(shape, |out| {
            for o in out {
                o.write(value);
            }
        })
    }

    /// An array of ones (NumPy's `np.ones(shape)`; `true` for `bool`). Panics with NumPy's
    /// out-of-memory message if it cannot be allocated; see [`try_ones`](Self::try_ones). Allocates
    /// `len × itemsize`.
    pub fn ones(shape: &[usize]) -> Self {
        Self::try_ones(shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An array of ones, or [`ArrayError::OutOfMemory`].
    pub fn try_ones(shape: &[usize]) -> Result<Self, ArrayError> {
        Self::try_from_elem(shape, T::from_scalar(Scalar::UInt(1)))
    }

    /// The `n × n` identity matrix (NumPy's `np.eye(n)`): ones on the diagonal, zeros elsewhere.
    /// Allocates `n² × itemsize`; panics with NumPy's out-of-memory message if it cannot.
    pub fn eye(n: usize) -> Self {
        let one = T::from_scalar(Scalar::UInt(1));
        let mut a = Self::try_zeros(&[n, n]).unwrap_or_else(|e| panic!("{e}"));
        let flat = a.as_slice_mut().expect("a new array is C-contiguous");
        for d in flat.iter_mut().step_by(n + 1) {
            *d = one;
        }
        a
    }

    /// An array of `shape` holding `data` in C order (NumPy's `np.array(data).reshape(shape)`).
    /// The elements are copied into a 64-byte-aligned buffer and `data`'s buffer is freed.
    pub fn from_vec(shape: &[usize], data: Vec<T>) -> Result<Self, ArrayError> {
        Self::from_slice(shape, &data)
    }

    /// An array of `shape` holding a copy of `data` in C order.
    pub fn from_slice(shape: &[usize], data: &[T]) -> Result<Self, ArrayError> {
        let (len, geom) = Self::len_of(shape)?;
        if len != data.len() {
            return Err(ArrayError::mismatch(
                "cannot build an array from data",
                shape,
                &[data.len()],
            ));
        }
        Ok(Self::from_buf(
            AlignedBuf::try_from_slice(data, shape)?,
            geom,
        ))
    }

    /// An array whose element at each index is `f(index)`, in C order.
    pub fn from_shape_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> T) -> Self {
        let nd = shape.len();
        Self::try_build(shape, |out| {
            let mut c = Counter::<0>::new();
            for o in out {
                o.write(f(c.index(nd)));
                c.advance(shape, []);
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `[0, 1, …, n-1]` converted to `T` (NumPy's `np.arange(n, dtype=…)`).
    pub fn arange(n: usize) -> Self {
        Self::try_build(&[n], |out| {
            for (i, o) in out.iter_mut().enumerate() {
                o.write(T::from_scalar(Scalar::UInt(i as u64)));
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Turns this array into a [`SharedArray`]: a reference-counted base that views made from it
    /// keep alive (NumPy's view/`base` relationship). Moves the buffer; allocates only the count.
    pub fn into_shared(self) -> SharedArray<T> {
        ArrayBase {
            ptr: self.ptr,
            geom: self.geom,
            data: SharedRepr(Arc::new(self.data.0)),
        }
    }
}

impl<T: Float> NdArray<T> {
    /// `num` evenly spaced values from `start` to `stop`, both included (NumPy's
    /// `np.linspace(start, stop, num)`), computed as NumPy computes them, in `f64` and then
    /// rounded to `T`: `start + i·step` with `step = (stop - start) / (num - 1)`, and the last
    /// value exactly `stop`. `num = 1` gives `[start]`, `num = 0` an empty array. Allocates
    /// `num × itemsize`; panics with NumPy's out-of-memory message if it cannot.
    pub fn linspace(start: T, stop: T, num: usize) -> Self {
        let (a, b) = (start.to_f64(), stop.to_f64());
        let div = num.saturating_sub(1);
        let delta = b - a;
        let step = delta / div as f64;
        Self::try_build(&[num], |out| {
            for (i, o) in out.iter_mut().enumerate() {
                let y = if div == 0 {
                    i as f64 * delta // NumPy's `step = nan` branch: `y * delta`
                } else if step == 0.0 {
                    i as f64 / div as f64 * delta
                } else {
                    i as f64 * step
                };
                o.write(T::from_f64(y + a));
            }
            if num > 1 {
                out[num - 1].write(stop);
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_falls_short_is_an_error_not_uninitialised_memory() {
        let short = NdArray::<f64>::try_build_exact(&[3], |out| {
            out[0].write(1.0);
            1
        });
        assert!(
            short
                .unwrap_err()
                .to_string()
                .contains("1 elements produced for an array of 3")
        );
        let long = NdArray::<f64>::try_build_exact(&[1], |out| {
            out[0].write(1.0);
            2
        });
        assert!(long.is_err());
        let ok = NdArray::<f64>::try_build_exact(&[2], |out| {
            out[0].write(1.0);
            out[1].write(2.0);
            2
        });
        assert_eq!(ok.unwrap().to_vec(), vec![1.0, 2.0]);
    }
}
