//! `.npy` files, NumPy's own format (versions 1.0, 2.0 and 3.0; C or Fortran order; big-endian
//! data is swapped on load):
//! [`save`], [`load`] (reads the whole array onto the heap) and [`open_mmap`] (maps the file: the
//! data never touches the heap, NumPy's `np.load(path, mmap_mode=...)`).
//!
//! A truncated, malformed or mismatched file is an [`ArrayError`] naming the problem — never a panic
//! and never undefined behaviour: header lengths are checked against the file size before reading,
//! the data length must match the shape exactly, `bool` bytes must be 0 or 1, and mapped data must be
//! aligned for its type before it is viewed as elements.

mod header;
mod mmap;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

pub use crate::storage::{MmapArray, MmapMode, MmapRepr};
pub use header::Header;
pub use mmap::{create_mmap, open_mmap};

use crate::array_base::{ArrayBase, Data, NdArray};
use crate::buffer::AlignedBuf;
use crate::dim::Geom;
use crate::element::Element;
use crate::error::ArrayError;
use crate::storage::registry::{Claim, ClaimGuard, claim};

pub(crate) fn npy_err(path: &Path, problem: impl Into<String>) -> ArrayError {
    ArrayError::Npy {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> ArrayError {
    ArrayError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Opens `path` and parses its header, checking the data length against the shape.
pub(crate) fn open_checked(path: &Path, write: bool) -> Result<(File, Header), ArrayError> {
    let mut file = File::options()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let header = checked_header(&mut file, path)?;
    Ok((file, header))
}

/// Parses the header of `file` (positioned at its start), checking the data length against the shape.
pub(crate) fn checked_header(file: &mut File, path: &Path) -> Result<Header, ArrayError> {
    let file_len = file.metadata().map_err(|e| io_err(path, e))?.len();
    let header = header::read_header(file, file_len).map_err(|p| npy_err(path, p))?;
    let want = header
        .data_len()
        .ok_or_else(|| npy_err(path, "shape's byte size overflows"))?;
    let have = file_len - header.data_offset;
    if have != want {
        return Err(npy_err(
            path,
            format!(
                "data is {have} bytes but shape {} of {} needs {want}",
                crate::ShapeDisplay::of(&header.shape),
                header.dtype
            ),
        ));
    }
    Ok(header)
}

/// Opens `path` for writing the whole file, creating it if needed, and truncates it — unless this
/// process has it memory-mapped (truncating would make the mapping's pages fault, writing would
/// change data handed out as `&[T]`): then an error, and the file is untouched. The returned claim
/// keeps others from mapping the file until it is dropped.
pub(crate) fn create_unmapped(path: &Path) -> Result<(File, ClaimGuard), ArrayError> {
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false) // not yet: first check nobody in this process maps it
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let guard = claim(&file, Claim::Exclusive)
        .map_err(|p| npy_err(path, format!("refusing to overwrite: {p}")))?;
    file.set_len(0).map_err(|e| io_err(path, e))?;
    Ok((file, guard))
}

/// Reads just the header of a `.npy` file (dtype, shape, order), checking it matches the file size.
pub fn read_header(path: impl AsRef<Path>) -> Result<Header, ArrayError> {
    open_checked(path.as_ref(), false).map(|(_, h)| h)
}

pub(crate) fn check_dtype<T: Element>(path: &Path, h: &Header) -> Result<(), ArrayError> {
    if h.dtype != T::DTYPE {
        return Err(ArrayError::DTypeMismatch {
            requested: T::DTYPE,
            found: format!("{} in {}", h.dtype, path.display()),
        });
    }
    Ok(())
}

pub(crate) fn geom_of(h: &Header) -> Result<Geom, ArrayError> {
    if h.fortran_order {
        Geom::f_order(&h.shape)
    } else {
        Geom::c_order(&h.shape)
    }
}

/// Reads a whole `.npy` file into a new array (NumPy's `np.load`). The array is allocated once, with
/// [`try_zeros`](NdArray::try_zeros)' out-of-memory error if it does not fit (e.g. under
/// `alloc_tracker::set_limit`). A Fortran-ordered file gives an F-ordered array (no extra copy).
/// Big-endian files (`>f8`, `>i4`, …) are byte-swapped into native order as they load.
pub fn load<T: Element>(path: impl AsRef<Path>) -> Result<NdArray<T>, ArrayError> {
    let path = path.as_ref();
    let (mut file, h) = open_checked(path, false)?;
    check_dtype::<T>(path, &h)?;
    let geom = geom_of(&h)?;
    let mut buf = AlignedBuf::<T>::try_zeroed(geom.len(), &h.shape)?;
    // SAFETY: the bytes are validated with `T::valid_bytes` below before the buffer is used as `T`s;
    // on any error the buffer is only dropped.
    let bytes = unsafe { buf.as_bytes_mut() };
    file.read_exact(bytes).map_err(|e| io_err(path, e))?;
    if h.big_endian {
        // NumPy byte-swaps on use; we swap once, into native order.
        for item in bytes.chunks_exact_mut(size_of::<T>()) {
            item.reverse();
        }
    }
    if !T::valid_bytes(bytes) {
        return Err(npy_err(
            path,
            format!("data holds bytes that are not valid {}", T::DTYPE),
        ));
    }
    Ok(NdArray::from_buf(buf, geom))
}

/// Writes `a` as a `.npy` file NumPy can read (format 1.0, or 2.0 for very large headers). C- or
/// F-contiguous arrays are written straight from memory; others are written in C order through a
/// small buffer (no copy of the array).
///
/// A file this process has memory-mapped (an [`MmapArray`] still alive) is not overwritten: that
/// would truncate the pages under the mapping (reads would die with SIGBUS) or change elements it
/// hands out as `&[T]`. The result is an [`ArrayError::Npy`] and the file is left as it was.
pub fn save<S: Data>(path: impl AsRef<Path>, a: &ArrayBase<S>) -> Result<(), ArrayError> {
    let path = path.as_ref();
    let (file, _claim) = create_unmapped(path)?;
    let mut w = BufWriter::new(file);
    let (fortran, slice) = if let Some(s) = a.as_slice() {
        (false, Some(s))
    } else if a.flags().f_contiguous && a.ndim() > 1 {
        (true, a.memory_slice())
    } else {
        (false, None)
    };
    let io = |e| io_err(path, e);
    w.write_all(&header::write_header(S::Elem::DTYPE, fortran, a.shape()))
        .map_err(io)?;
    match slice {
        Some(s) => w.write_all(as_bytes(s)).map_err(io)?,
        None => {
            for x in a.iter() {
                w.write_all(as_bytes(std::slice::from_ref(x))).map_err(io)?;
            }
        }
    }
    w.flush().map_err(io)
}

fn as_bytes<T: Element>(s: &[T]) -> &[u8] {
    // SAFETY: `Element` types have no padding (trait contract), so every byte of `s` is initialised;
    // `u8` has alignment 1 and the length is the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), size_of_val(s)) }
}
