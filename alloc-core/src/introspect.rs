//! Introspection: the usable size of a block and jemalloc's global statistics.

use core::ffi::c_void;
use std::fmt;

use tikv_jemalloc_ctl::{epoch, stats as jstats};

/// The number of bytes usable in the block at `ptr` (jemalloc's size class, `>=` the requested size).
///
/// # Safety
///
/// - `ptr` must be a live block allocated by [`crate::AlignedAlloc`] (or any jemalloc entry point
///   of this process) and not yet freed.
#[inline]
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    // SAFETY: the caller guarantees `ptr` is a live jemalloc block.
    unsafe { tikv_jemalloc_sys::malloc_usable_size(ptr.cast::<c_void>()) }
}

/// jemalloc's global statistics in bytes, refreshed (`epoch` advanced) at each [`stats`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Bytes in blocks the application holds.
    pub allocated: usize,
    /// Bytes in active pages (allocated plus the slack of partly used pages).
    pub active: usize,
    /// Bytes physically resident in pages jemalloc maps (data and metadata).
    pub resident: usize,
    /// Bytes in active extents mapped by jemalloc.
    pub mapped: usize,
    /// Bytes of virtual memory jemalloc kept (retained) rather than unmapped.
    pub retained: usize,
}

/// Why [`stats`] could not read jemalloc's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsError {
    what: &'static str,
    cause: tikv_jemalloc_ctl::Error,
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read jemalloc statistic `{}`: {}",
            self.what, self.cause
        )
    }
}

impl std::error::Error for StatsError {}

fn read(what: &'static str, r: tikv_jemalloc_ctl::Result<usize>) -> Result<usize, StatsError> {
    r.map_err(|cause| StatsError { what, cause })
}

/// jemalloc's current global statistics.
///
/// ```
/// let before = alloc_core::stats().unwrap();
/// assert!(before.active >= before.allocated && before.mapped >= before.active);
/// ```
pub fn stats() -> Result<AllocatorStats, StatsError> {
    read("epoch", epoch::advance().map(|e| e as usize))?;
    Ok(AllocatorStats {
        allocated: read("stats.allocated", jstats::allocated::read())?,
        active: read("stats.active", jstats::active::read())?,
        resident: read("stats.resident", jstats::resident::read())?,
        mapped: read("stats.mapped", jstats::mapped::read())?,
        retained: read("stats.retained", jstats::retained::read())?,
    })
}
