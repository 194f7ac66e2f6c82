//! jemalloc's run-time options, set through its `malloc_conf` symbol.
//!
//! The string is [`MALLOC_CONF`]:
//!
//! - `oversize_threshold:0` — by default jemalloc serves every block of 8 MiB or more from a
//!   dedicated arena that purges eagerly, so a NumPy-style loop that allocates and frees an 8 MB
//!   temporary per operation gets fresh pages from the kernel, and page-faults on them, every time.
//!   `0` turns that arena off: large blocks live in the normal arenas and are reused while warm.
//! - `background_thread:true` — the memory that is kept is still returned: dirty pages are purged
//!   on jemalloc's decay timer (`dirty_decay_ms`, 10 s by default) by a background thread, even when
//!   the program makes no further allocator calls. Without it, purging happens only inside later
//!   allocator calls, and an idle program would keep its peak.
//!
//! Left out on purpose: `thp:always` (jemalloc advises huge pages for all the memory it maps, not
//! only for the blocks of 4 MiB or more that [`crate::AlignedAlloc`] advises itself). Measured
//! (`perf stat -r 3` and the `workload` binary's own peak RSS, this 2-vCPU EPYC, THP in `madvise`
//! mode): `btree` 2.19 s → 1.55 s and `vecgrow` 1.47 s → 1.30 s, but peak RSS of `mt-churn`
//! 9.9 MB → 14.3 MB (each thread's arena on huge pages), past the 1.1× budget this crate keeps
//! against raw jemalloc. A program whose heap is large and long-lived can still ask for it with
//! `_RJEM_MALLOC_CONF=thp:always`. `metadata_thp:always` nearly doubled `churn`'s peak RSS.
//!
//! The environment variable `_RJEM_MALLOC_CONF` is read after this string, so a user can still
//! override any option at run time (e.g. `_RJEM_MALLOC_CONF=oversize_threshold:8388608`).
//!
//! jemalloc reads its `malloc_conf` symbol once, at its first allocation. jemalloc defines the symbol
//! weakly; the strong definition here wins, but only if the linker pulls in this object, so
//! [`crate::AlignedAlloc`] holds a reference to it: any program that names `AlignedAlloc::new()`
//! links the configuration.

use core::ffi::c_char;

/// The options this crate gives jemalloc (see the module docs for each one's reason).
pub const MALLOC_CONF: &str = "oversize_threshold:0,background_thread:true";

/// jemalloc's `malloc_conf`: a pointer to a NUL-terminated option string, read before `main`.
#[repr(transparent)]
pub struct ConfPtr(*const c_char);

// SAFETY: the pointer is to a `'static` immutable byte string; sharing it between threads is sound.
unsafe impl Sync for ConfPtr {}

const CONF_BYTES: &[u8] = b"oversize_threshold:0,background_thread:true\0";

/// The exported symbol jemalloc (prefixed build, `_rjem_`) reads its options from.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static JEMALLOC_MALLOC_CONF: ConfPtr = ConfPtr(CONF_BYTES.as_ptr().cast());

#[cfg(test)]
mod tests {
    #[test]
    fn conf_bytes_match_the_documented_string() {
        assert_eq!(
            super::CONF_BYTES,
            format!("{}\0", super::MALLOC_CONF).as_bytes()
        );
    }
}
