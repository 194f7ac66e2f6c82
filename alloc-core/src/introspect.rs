//! Introspection: the usable size of a block and jemalloc's global statistics.
//!
//! Statistics are read with `mallctl` through `tikv-jemalloc-sys` itself, not `tikv-jemalloc-ctl`:
//! `-ctl` 0.5 has no `stats` feature and 0.6/0.7 hide their `stats` module without it, so no single
//! `-ctl` requirement spans 0.5 to 0.7. Calling `mallctl` directly keeps this crate to one
//! jemalloc crate, `tikv-jemalloc-sys` `>=0.5, <0.8`, which Cargo unifies with whatever version the
//! rest of a program's dependency graph uses (see the crate docs, "Next to other jemalloc users").

use core::ffi::{CStr, c_int, c_void};
use std::fmt;

/// The number of bytes usable in the block at `ptr` (jemalloc's size class, `>=` the requested size).
///
/// # Safety
///
/// - `ptr` must be a live block allocated by [`crate::AlignedAlloc`] (or any jemalloc entry point
///   of this process) and not yet freed.
#[inline]
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    // SAFETY: the caller guarantees a live block of this process's allocator.
    if let Some(len) = unsafe { crate::small::usable_size(ptr) } {
        return len; // a block of `crate::small`
    }
    if let Some(len) = crate::mapped::usable_size(ptr) {
        return len; // a block in a mapping of its own (`crate::mapped`)
    }
    // SAFETY: the caller guarantees `ptr` is a live block of this process's jemalloc (it is not
    // one of `crate::mapped`'s, just checked).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsError {
    what: &'static str,
    /// The `errno`-style code `mallctl` returned.
    code: c_int,
}

impl StatsError {
    /// What the code means for this call, in the words of jemalloc's manual (`mallctl`, RETURN VALUES).
    fn meaning(&self) -> &'static str {
        match self.code {
            libc::ENOENT => "no such statistic (is jemalloc built without `--enable-stats`?)",
            libc::EINVAL => "invalid argument (size mismatch)",
            libc::EPERM => "not permitted",
            libc::EAGAIN => "a memory allocation failure occurred",
            libc::EFAULT => "an interface with side effects failed",
            _ => "unexpected error",
        }
    }
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read jemalloc statistic `{}`: mallctl returned {} ({})",
            self.what,
            self.code,
            self.meaning()
        )
    }
}

impl std::error::Error for StatsError {}

/// Reads the jemalloc value `name` (a `T`-sized mallctl) without writing one: the value, or
/// `mallctl`'s error code.
pub(crate) fn mallctl_read<T: Copy + Default>(name: &CStr) -> Result<T, c_int> {
    let mut value = T::default();
    let mut len = core::mem::size_of::<T>();
    // SAFETY: callers pass names whose mallctl type is `T` (jemalloc's manual), so jemalloc writes at
    // most `len` = `size_of::<T>()` bytes to `value`; no new value is written (null, 0).
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            (&raw mut value).cast::<c_void>(),
            &mut len,
            core::ptr::null_mut(),
            0,
        )
    };
    if code == 0 { Ok(value) } else { Err(code) }
}

/// Reads the `size_t` statistic `name` (NUL-terminated) with `mallctl`.
fn read(name: &'static CStr) -> Result<usize, StatsError> {
    mallctl_read(name).map_err(|code| StatsError {
        what: name.to_str().unwrap_or("?"),
        code,
    })
}

/// Advances jemalloc's `epoch`, which refreshes the figures the `stats.*` names report.
fn advance_epoch() -> Result<(), StatsError> {
    let mut epoch: u64 = 1;
    // SAFETY: `epoch` is a `uint64_t` read-write mallctl; jemalloc reads 8 bytes from `&epoch`.
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"epoch".as_ptr(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            (&raw mut epoch).cast::<c_void>(),
            core::mem::size_of::<u64>(),
        )
    };
    match code {
        0 => Ok(()),
        code => Err(StatsError {
            what: "epoch",
            code,
        }),
    }
}

/// The allocator's current global statistics: jemalloc's, plus the blocks of [`crate::mapped`]
/// and [`crate::small`], which jemalloc does not see.
///
/// ```
/// let before = alloc_core::stats().unwrap();
/// assert!(before.active >= before.allocated && before.mapped >= before.active);
/// ```
pub fn stats() -> Result<AllocatorStats, StatsError> {
    advance_epoch()?;
    // Blocks in mappings of their own (`crate::mapped`) are not jemalloc's: added here.
    let crate::mapped::Totals {
        bytes: live,
        cached_bytes: cached,
        ..
    } = crate::mapped::totals();
    // Nor are `crate::small`'s.
    let small = crate::small::stats();
    Ok(AllocatorStats {
        allocated: read(c"stats.allocated")? + live + small.allocated,
        active: read(c"stats.active")? + live + small.active,
        resident: read(c"stats.resident")? + live + cached + small.resident,
        mapped: read(c"stats.mapped")? + live + small.mapped,
        retained: read(c"stats.retained")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unknown_statistic_is_an_error_a_user_can_read() {
        let err = super::read(c"stats.no_such_counter").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read jemalloc statistic `stats.no_such_counter`: mallctl returned 2 \
             (no such statistic (is jemalloc built without `--enable-stats`?))"
        );
    }

    #[test]
    fn the_statistics_are_consistent() {
        let s = super::stats().unwrap();
        assert!(s.allocated > 0 && s.active >= s.allocated && s.mapped >= s.active);
        assert!(s.resident >= s.active, "{s:?}");
    }
}
