//! [`ArrayError`]: every way an array operation or a `.npy` file can fail, with messages a user can act
//! on, modelled on NumPy's (`unable to allocate 74.5 GiB for an array with shape (100000, 100000) and
//! data type float64`).

use std::fmt;

use crate::element::DType;

/// A shape printed the way NumPy prints a tuple: `(3, 4)`, `(5,)`, `()`.
#[derive(Clone, PartialEq, Eq)]
pub struct ShapeDisplay(pub Vec<usize>);

impl ShapeDisplay {
    /// Copies `shape` for display.
    pub fn of(shape: &[usize]) -> Self {
        ShapeDisplay(shape.to_vec())
    }
}

impl fmt::Display for ShapeDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}")?;
        }
        if self.0.len() == 1 {
            f.write_str(",")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for ShapeDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Everything that can go wrong. `Display` gives the message; match on the variant to react.
#[derive(Debug)]
#[non_exhaustive]
pub enum ArrayError {
    /// The allocator returned null, or the byte count does not fit in memory at all.
    OutOfMemory {
        /// Bytes requested (saturating: a shape whose size overflows `u128` shows as `u128::MAX`).
        bytes: u128,
        /// The requested shape.
        shape: ShapeDisplay,
        /// The requested element type.
        dtype: DType,
    },
    /// Two shapes that had to agree do not (broadcasting, reshape, assignment, masks).
    ShapeMismatch {
        /// What was being attempted, e.g. `operands could not be broadcast together`.
        what: &'static str,
        /// The first shape.
        left: ShapeDisplay,
        /// The second shape.
        right: ShapeDisplay,
    },
    /// An index or axis outside the array.
    IndexOutOfBounds {
        /// `index` or `axis`.
        what: &'static str,
        /// The offending value.
        index: isize,
        /// The axis it applied to.
        axis: usize,
        /// The length it had to be below.
        len: usize,
    },
    /// An axis number the array does not have (NumPy's `AxisError`).
    AxisOutOfBounds {
        /// The requested axis.
        axis: usize,
        /// The array's number of dimensions.
        ndim: usize,
    },
    /// Anything else about the arguments (zero step, too many dimensions, non-contiguous reshape).
    Invalid(String),
    /// A reduction with no identity over an empty array (`min`/`max`).
    EmptyReduction(&'static str),
    /// An array of one dtype was requested from data of another.
    DTypeMismatch {
        /// The dtype the caller asked for.
        requested: DType,
        /// The dtype the data has.
        found: String,
    },
    /// A malformed or unsupported `.npy` file.
    Npy {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An I/O error, with the file it happened on.
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ArrayError {
    /// The out-of-memory error for `shape` of `dtype`, computing the bytes without overflow.
    pub fn out_of_memory(shape: &[usize], dtype: DType) -> Self {
        let bytes = shape.iter().fold(dtype.itemsize() as u128, |acc, &n| {
            acc.saturating_mul(n as u128)
        });
        ArrayError::OutOfMemory {
            bytes,
            shape: ShapeDisplay::of(shape),
            dtype,
        }
    }

    pub(crate) fn mismatch(what: &'static str, left: &[usize], right: &[usize]) -> Self {
        ArrayError::ShapeMismatch {
            what,
            left: ShapeDisplay::of(left),
            right: ShapeDisplay::of(right),
        }
    }
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArrayError::OutOfMemory {
                bytes,
                shape,
                dtype,
            } => write!(
                f,
                "unable to allocate {} for an array with shape {shape} and data type {dtype}",
                size_to_string(*bytes)
            ),
            ArrayError::ShapeMismatch { what, left, right } => {
                write!(f, "{what} with shapes {left} {right}")
            }
            ArrayError::IndexOutOfBounds {
                what,
                index,
                axis,
                len,
            } => {
                write!(
                    f,
                    "{what} {index} is out of bounds for axis {axis} with size {len}"
                )
            }
            ArrayError::AxisOutOfBounds { axis, ndim } => write!(
                f,
                "axis {axis} is out of bounds for array of dimension {ndim}"
            ),
            ArrayError::Invalid(msg) => f.write_str(msg),
            ArrayError::EmptyReduction(op) => {
                write!(
                    f,
                    "zero-size array to reduction operation {op} which has no identity"
                )
            }
            ArrayError::DTypeMismatch { requested, found } => {
                write!(f, "requested data type {requested} but the data is {found}")
            }
            ArrayError::Npy { path, problem } => {
                write!(f, "{path}: not a readable .npy file: {problem}")
            }
            ArrayError::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for ArrayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArrayError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Formats a byte count the way NumPy's `_ArrayMemoryError` does: binary units, three significant
/// figures (`74.5 GiB`, `8.00 MiB`, `100. MiB`), plain bytes below 1 KiB.
pub fn size_to_string(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let bits = 128 - bytes.leading_zeros() as usize;
    let mut unit = (bits.saturating_sub(1)).max(1) / 10;
    let mut n = bytes as f64 / 2f64.powi(10 * unit as i32);
    if n.round() == 1024.0 {
        unit += 1;
        n /= 1024.0;
    }
    if unit >= UNITS.len() {
        n *= 2f64.powi(10 * (unit - (UNITS.len() - 1)) as i32);
        unit = UNITS.len() - 1;
    }
    let name = UNITS[unit];
    if unit == 0 {
        format!("{n:.0} {name}")
    } else if n < 9.995 {
        format!("{n:.2} {name}")
    } else if n < 99.95 {
        format!("{n:.1} {name}")
    } else {
        format!("{n:.0}. {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_message() {
        let e = ArrayError::out_of_memory(&[100_000, 100_000], DType::F64);
        assert_eq!(
            e.to_string(),
            "unable to allocate 74.5 GiB for an array with shape (100000, 100000) and data type float64"
        );
    }

    #[test]
    fn sizes_like_numpy() {
        // Expected strings computed with NumPy 2.4's numpy._core._exceptions._size_to_string.
        assert_eq!(size_to_string(0), "0 bytes");
        assert_eq!(size_to_string(1000), "1000 bytes");
        assert_eq!(size_to_string(1024), "1.00 KiB");
        assert_eq!(size_to_string(8 << 20), "8.00 MiB");
        assert_eq!(size_to_string(100 << 20), "100. MiB");
        assert_eq!(size_to_string((1 << 30) - 1), "1.00 GiB");
        assert_eq!(size_to_string(1 << 70), "1024. EiB");
        assert_eq!(size_to_string(104_815_656), "100. MiB");
        assert_eq!(ShapeDisplay::of(&[5]).to_string(), "(5,)");
        assert_eq!(ShapeDisplay::of(&[]).to_string(), "()");
    }
}
