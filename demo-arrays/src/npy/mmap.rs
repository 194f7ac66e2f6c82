//! Memory-mapped `.npy` arrays (NumPy's `np.load(path, mmap_mode=...)`): the file's pages back the
//! array, so an array larger than the heap budget can be read — only the pages touched are resident,
//! and none of it is heap memory.
//!
//! Mapping is `unsafe`, as in `memmap2`: the array hands out `&[T]` (and, read-write, `&mut [T]`)
//! over the file's pages, so the file must not change under it. Within this process demo-arrays
//! enforces that for its own functions (see `storage/registry.rs`): [`save`](super::save) and
//! [`create_mmap`] refuse to overwrite a mapped file, and a file mapped
//! [`ReadWrite`](MmapMode::ReadWrite) cannot be mapped again in any mode (nor can a file mapped
//! read-only or copy-on-write be mapped read-write). What no library can enforce is the caller's
//! part: another process, or other code of this one (`std::fs::write`, `File::set_len`, another
//! mapping library), must not write or truncate the file while it is mapped. Truncation makes reads
//! die with SIGBUS; a write changes elements already handed out (and can put a byte other than 0 or
//! 1 into a validated `bool` array).

use std::marker::PhantomData;
use std::path::Path;
use std::ptr::NonNull;

use memmap2::{Mmap, MmapMut, MmapOptions};

use super::{check_dtype, checked_header, create_unmapped, geom_of, io_err, npy_err, open_checked};
use crate::array_base::{ArrayBase, ArrayViewMut, ViewRepr};
use crate::element::Element;
use crate::error::ArrayError;
use crate::storage::mmap::Map;
use crate::storage::registry::{Claim, ClaimGuard, claim};
use crate::storage::{MmapArray, MmapMode, MmapRepr};

/// Maps a `.npy` file as an array of `T` (NumPy's `np.load(path, mmap_mode='r' | 'r+' | 'c')`).
/// Checks the header, that the data length matches the shape exactly, that the data offset is
/// aligned for `T`, and for `bool` that every byte is 0 or 1. Zero heap bytes for the data.
///
/// Errors (besides a bad file) if this process already maps the file in a conflicting way: a
/// `ReadWrite` mapping excludes every other mapping of the file; `ReadOnly` and `CopyOnWrite`
/// mappings coexist.
///
/// # Safety
///
/// For as long as the returned array (or anything borrowed from it) lives, the file must not be
/// truncated or written by anything but this array: not by another process, and not by code of this
/// process that bypasses demo-arrays (`std::fs::write`, `File::set_len`, a mapping made with another
/// library). demo-arrays' own [`save`](super::save), [`create_mmap`] and `open_mmap` check this
/// within the process and return an error instead. A truncated file makes reads fault (SIGBUS); a
/// modified one changes elements already read as `&T`, which is undefined behaviour, and can
/// invalidate a `bool` array. (NumPy's memmap has the same hazard, without the `unsafe`.)
pub unsafe fn open_mmap<T: Element>(
    path: impl AsRef<Path>,
    mode: MmapMode,
) -> Result<MmapArray<T>, ArrayError> {
    let path = path.as_ref();
    let (file, h) = open_checked(path, mode == MmapMode::ReadWrite)?;
    let how = match mode {
        MmapMode::ReadWrite => Claim::Exclusive,
        MmapMode::ReadOnly | MmapMode::CopyOnWrite => Claim::Shared,
    };
    let guard = claim(&file, how).map_err(|p| npy_err(path, format!("cannot map it: {p}")))?;
    // SAFETY: forwarded to our caller (this function's `# Safety`).
    unsafe { map_checked(path, &file, &h, mode, guard) }
}

/// Maps `file` (whose header `h` was checked) with `mode`, holding `guard`.
///
/// # Safety
///
/// As [`open_mmap`].
unsafe fn map_checked<T: Element>(
    path: &Path,
    file: &std::fs::File,
    h: &super::Header,
    mode: MmapMode,
    guard: ClaimGuard,
) -> Result<MmapArray<T>, ArrayError> {
    check_dtype::<T>(path, h)?;
    if h.big_endian {
        return Err(npy_err(
            path,
            format!(
                "big-endian {} data cannot be mapped as native elements; use npy::load, which swaps bytes",
                T::DTYPE
            ),
        ));
    }
    let geom = geom_of(h)?;
    // SAFETY: the file is not truncated or modified while mapped except through this array: the
    // registry claim `guard` (held by the array) excludes demo-arrays' own writers in this process,
    // and our caller promises the rest.
    let mut map = unsafe {
        match mode {
            MmapMode::ReadOnly => Mmap::map(file).map(Map::Ro),
            MmapMode::ReadWrite => MmapMut::map_mut(file).map(Map::Rw),
            MmapMode::CopyOnWrite => MmapOptions::new().map_copy(file).map(Map::Rw),
        }
    }
    .map_err(|e| io_err(path, e))?;
    // Pointers come from the mapping's own accessors (mutable ones for writable maps), so writes
    // through `try_view_mut` use a pointer with write provenance.
    let (base, total) = match &mut map {
        Map::Ro(m) => (m.as_ptr().cast_mut(), m.len()),
        Map::Rw(m) => (m.as_mut_ptr(), m.len()),
    };
    let offset = h.data_offset as usize;
    if offset > total || Some((total - offset) as u64) != h.data_len() {
        return Err(npy_err(path, "file changed size while being mapped"));
    }
    // SAFETY: `offset <= total` (checked above): in bounds of the mapping or one past its end.
    let first = unsafe { base.add(offset) };
    // SAFETY: `offset..total` lies inside the mapping, which is initialised bytes. This shared slice
    // is only read, for validation; the array's pointer is `first`, which keeps `base`'s provenance
    // (write permission for writable maps).
    let data = unsafe { std::slice::from_raw_parts(first, total - offset) };
    let ptr = if data.is_empty() {
        NonNull::new(std::ptr::without_provenance_mut(crate::ALIGN)).expect("non-zero")
    } else {
        if !(data.as_ptr() as usize).is_multiple_of(align_of::<T>()) {
            return Err(npy_err(
                path,
                format!(
                    "data offset {offset} is not aligned for {}; use npy::load instead",
                    T::DTYPE
                ),
            ));
        }
        if !T::valid_bytes(data) {
            return Err(npy_err(
                path,
                format!("data holds bytes that are not valid {}", T::DTYPE),
            ));
        }
        NonNull::new(first.cast::<T>()).expect("mapped memory is non-null")
    };
    // Invariant 2: `data` holds exactly `len` elements of `T` (length checked), aligned (checked),
    // valid (checked for bool; any bytes are valid otherwise), in the mapping the array now owns.
    Ok(ArrayBase {
        data: MmapRepr {
            map,
            mode,
            _claim: guard,
            _elem: PhantomData,
        },
        ptr,
        geom,
    })
}

/// Creates (or truncates) `path` as a zero-filled `.npy` file of `shape` and maps it read-write
/// (NumPy's `np.lib.format.open_memmap(path, mode='w+', ...)`). Fill it through
/// [`MmapArray::try_view_mut`]: arrays larger than the heap budget can be written this way.
///
/// An existing file that this process has mapped is not truncated: that is an error instead (the
/// live mapping would fault).
///
/// # Safety
///
/// As [`open_mmap`]: until the array drops, nothing outside it may write or truncate the file.
pub unsafe fn create_mmap<T: Element>(
    path: impl AsRef<Path>,
    shape: &[usize],
) -> Result<MmapArray<T>, ArrayError> {
    let path = path.as_ref();
    let header = super::header::write_header(T::DTYPE, false, shape);
    let data = crate::dim::checked_file_bytes(shape, size_of::<T>())
        .ok_or_else(|| ArrayError::out_of_memory(shape, T::DTYPE))?;
    // The exclusive claim taken before truncating becomes the read-write mapping's claim: no other
    // mapping of the file can start in between.
    let (mut file, guard) = create_unmapped(path)?;
    let io = |e| io_err(path, e);
    std::io::Write::write_all(&mut file, &header).map_err(io)?;
    file.set_len(header.len() as u64 + data).map_err(io)?;
    std::io::Seek::rewind(&mut file).map_err(io)?;
    let h = checked_header(&mut file, path)?;
    // SAFETY: forwarded to our caller (this function's `# Safety`).
    unsafe { map_checked(path, &file, &h, MmapMode::ReadWrite, guard) }
}

impl<T: Element> MmapArray<T> {
    /// The mode the file was mapped with.
    pub fn mode(&self) -> MmapMode {
        self.data.mode
    }

    /// A mutable view of the mapped elements (`ReadWrite` and `CopyOnWrite` only).
    pub fn try_view_mut(&mut self) -> Result<ArrayViewMut<'_, T>, ArrayError> {
        if self.data.mode == MmapMode::ReadOnly {
            return Err(ArrayError::Invalid(
                "assignment destination is read-only (mapped with MmapMode::ReadOnly)".into(),
            ));
        }
        Ok(ArrayBase {
            data: ViewRepr::new(),
            ptr: self.ptr,
            geom: self.geom,
        })
    }

    /// Writes modified pages back to the file (`ReadWrite`; a no-op otherwise).
    pub fn flush(&self) -> Result<(), ArrayError> {
        match (&self.data.map, self.data.mode) {
            (Map::Rw(m), MmapMode::ReadWrite) => m.flush().map_err(|e| ArrayError::Io {
                path: "<mmap>".into(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}
