//! [`MmapRepr`]: the storage of a memory-mapped array, which owns the mapping and this process's
//! claim on the file. The functions that open and create mappings are in `npy/mmap.rs`, where the
//! file format is checked; the soundness argument (what the registry excludes, what the caller of
//! `open_mmap` promises) is there and in `registry.rs`.

use std::marker::PhantomData;

use memmap2::{Mmap, MmapMut};

use super::registry::ClaimGuard;
use crate::array_base::ArrayBase;
use crate::element::Element;
use crate::storage::{Data, RawData};

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

/// The mapping: read-only, or writable (read-write or copy-on-write).
pub(crate) enum Map {
    Ro(Mmap),
    Rw(MmapMut),
}

/// Storage of a memory-mapped array: the mapping, unmapped when the array drops, and this process's
/// claim on the file (shared for read-only and copy-on-write, exclusive for read-write), released
/// after the unmap.
pub struct MmapRepr<T: Element> {
    pub(crate) map: Map,
    pub(crate) mode: MmapMode,
    // Declared after `map`: fields drop in order, so the claim outlives the mapping.
    pub(crate) _claim: ClaimGuard,
    pub(crate) _elem: PhantomData<T>,
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
// SAFETY: the mapping is owned by the array and lives until it drops. Through demo-arrays the file
// is written only via `try_view_mut(&mut self)` of the one read-write mapping (the registry refuses
// a second mapping of a read-write-mapped file and overwriting a mapped one); everything else that
// could write it is excluded by the caller of `open_mmap`/`create_mmap` (their `# Safety`).
unsafe impl<T: Element> Data for MmapRepr<T> {}

/// An array whose elements live in a memory-mapped `.npy` file.
pub type MmapArray<T> = ArrayBase<MmapRepr<T>>;
