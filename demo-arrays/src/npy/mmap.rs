//! Memory-mapped `.npy` arrays (NumPy's `np.load(path, mmap_mode=...)`): the file's pages back the
//! array, so an array larger than the heap budget can be read — only the pages touched are resident,
//! and none of it is heap memory.
//!
//! Like every memory map (and NumPy's), the contents can change if another process writes the file
//! while it is mapped, and truncating the file under the mapping makes reads fault (SIGBUS). Do not
//! modify or truncate a file while it is mapped.

use std::marker::PhantomData;
use std::path::Path;
use std::ptr::NonNull;

use memmap2::{Mmap, MmapMut, MmapOptions};

use super::{check_dtype, geom_of, io_err, npy_err, open_checked};
use crate::array_base::{ArrayBase, ArrayViewMut, Data, RawData, ViewRepr};
use crate::element::Element;
use crate::error::ArrayError;

/// How to map the file, NumPy's `mmap_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmapMode {
    /// `'r'`: read-only.
    ReadOnly,
    /// `'r+'`: read-write; writes go to the file ([`MmapArray::flush`] forces them out).
    ReadWrite,
    /// `'c'`: copy-on-write; writes stay in this process's private pages, the file is unchanged.
    CopyOnWrite,
}

enum Map {
    Ro(Mmap),
    Rw(MmapMut),
}

/// Storage of a memory-mapped array: the mapping, unmapped when the array drops.
pub struct MmapRepr<T: Element> {
    map: Map,
    mode: MmapMode,
    _elem: PhantomData<T>,
}

impl<T: Element> RawData for MmapRepr<T> {
    type Elem = T;
    fn base_nbytes(&self) -> Option<usize> {
        None
    }
    fn writeable(&self) -> bool {
        self.mode != MmapMode::ReadOnly
    }
}
// SAFETY: the mapping is owned by the array and lives until it drops; this process writes it only
// through `try_view_mut(&mut self)`. (Other processes writing the file is the caveat in the module
// docs, shared by every memory map.)
unsafe impl<T: Element> Data for MmapRepr<T> {}

/// An array whose elements live in a memory-mapped `.npy` file.
pub type MmapArray<T> = ArrayBase<MmapRepr<T>>;

/// Maps a `.npy` file as an array of `T` (NumPy's `np.load(path, mmap_mode='r' | 'r+' | 'c')`).
/// Checks the header, that the data length matches the shape exactly, that the data offset is
/// aligned for `T`, and for `bool` that every byte is 0 or 1. Zero heap bytes for the data.
pub fn open_mmap<T: Element>(
    path: impl AsRef<Path>,
    mode: MmapMode,
) -> Result<MmapArray<T>, ArrayError> {
    let path = path.as_ref();
    let (file, h) = open_checked(path, mode == MmapMode::ReadWrite)?;
    check_dtype::<T>(path, &h)?;
    let geom = geom_of(&h)?;
    // SAFETY: mapping a file is sound as long as nobody truncates or modifies it while mapped; that
    // is the documented contract of this function (module docs), as for NumPy's memmap.
    let mut map = unsafe {
        match mode {
            MmapMode::ReadOnly => Mmap::map(&file).map(Map::Ro),
            MmapMode::ReadWrite => MmapMut::map_mut(&file).map(Map::Rw),
            MmapMode::CopyOnWrite => MmapOptions::new().map_copy(&file).map(Map::Rw),
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
    // SAFETY: `offset..total` lies inside the mapping (checked above), which is initialised bytes.
    let data = unsafe { std::slice::from_raw_parts(base.add(offset), total - offset) };
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
        NonNull::new(data.as_ptr().cast_mut().cast::<T>()).expect("mapped memory is non-null")
    };
    // Invariant 2: `data` holds exactly `len` elements of `T` (length checked), aligned (checked),
    // valid (checked for bool; any bytes are valid otherwise), in the mapping the array now owns.
    Ok(ArrayBase {
        data: MmapRepr {
            map,
            mode,
            _elem: PhantomData,
        },
        ptr,
        geom,
    })
}

/// Creates (or truncates) `path` as a zero-filled `.npy` file of `shape` and maps it read-write
/// (NumPy's `np.lib.format.open_memmap(path, mode='w+', ...)`). Fill it through
/// [`MmapArray::try_view_mut`]: arrays larger than the heap budget can be written this way.
pub fn create_mmap<T: Element>(
    path: impl AsRef<Path>,
    shape: &[usize],
) -> Result<MmapArray<T>, ArrayError> {
    let path = path.as_ref();
    let header = super::header::write_header(T::DTYPE, false, shape);
    let data = shape
        .iter()
        .try_fold(size_of::<T>() as u64, |acc, &n| acc.checked_mul(n as u64))
        .ok_or_else(|| ArrayError::out_of_memory(shape, T::DTYPE))?;
    let mut file = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    std::io::Write::write_all(&mut file, &header).map_err(|e| io_err(path, e))?;
    file.set_len(header.len() as u64 + data)
        .map_err(|e| io_err(path, e))?;
    drop(file);
    open_mmap(path, MmapMode::ReadWrite)
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
