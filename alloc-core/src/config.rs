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
//! - no `cache_oblivious` (a build option, not in the string: alloc-core turns on
//!   `tikv-jemalloc-sys`'s `disable_cache_oblivious` feature, jemalloc's
//!   `--disable-cache-oblivious`). jemalloc 5.3.0, which `tikv-jemalloc-sys` 0.5 and 0.6 build, has
//!   no run-time option for it: with `cache_oblivious:false` in the string, every program linked
//!   with either printed `<jemalloc>: Invalid conf pair: cache_oblivious:false` at start-up and kept
//!   the padding. By default jemalloc starts every block of 16 KiB or more at a random
//!   multiple of 64 bytes into its first page, and so gives each such block one page more than its
//!   size class (`sz_large_pad`), to spread many blocks' first cache lines over the cache sets.
//!   Without it a large block starts on a page boundary and takes exactly its class's pages.
//!   Measured (`benches/RESULTS.md` section 15, this 2-vCPU EPYC): `vecgrow`, whose 1000 live
//!   vectors are mostly 16–32 KiB, peaks at 27.4 MiB instead of 32.4 MiB and takes 6 500 page
//!   faults instead of 7 840 (its time moved less than this machine's noise); no other workload's
//!   peak moved. Page-aligned starts would cost where loads and stores of different
//!   arrays at the same offset in a page falsely depend on each other (4 KiB aliasing), but the
//!   NumPy-style loop `t = a*2; c = t + b` on 16 KiB to 2 MiB vectors ran as fast with its four
//!   vectors all page-aligned as staggered by 1 KiB or at random 64-byte offsets (within 1.2%;
//!   `cargo run --release -p benches --bin page_offsets`). Blocks of 4 MiB or more were
//!   page-aligned before too (they are 2 MiB-aligned for huge pages).
//!
//! Left out on purpose: `thp:always` (jemalloc advises huge pages for all the memory it maps, not
//! only for the blocks of 4 MiB or more that [`crate::AlignedAlloc`] advises itself). Measured
//! (`perf stat -r 3` and the `workload` binary's own peak RSS, this 2-vCPU EPYC, THP in `madvise`
//! mode): `btree` 2.19 s → 1.55 s and `vecgrow` 1.47 s → 1.30 s, but peak RSS of `mt-churn`
//! 9.9 MB → 14.3 MB (each thread's arena on huge pages), past the 1.1× budget this crate keeps
//! against raw jemalloc. A program whose heap is large and long-lived can still ask for it with
//! `_RJEM_MALLOC_CONF=thp:always`. `metadata_thp:always` nearly doubled `churn`'s peak RSS.
//!
//! Left out too: larger slabs for small blocks (`slab_sizes:1-4096:16`). They cut `churn`'s
//! instructions by 13% and `btree`'s by 3%, but a slab returns to the page allocator only when every
//! block in it is free: after freeing 90% of 3 M random 8–1024-byte blocks, jemalloc kept all
//! 1 647 MiB active against 1 285 MiB with its own slab sizes (`benches/src/bin/slab_fragment.rs`,
//! `benches/RESULTS.md` section 15).
//!
//! The environment variable `_RJEM_MALLOC_CONF` is read after this string, so a user can still
//! override any option at run time (e.g. `_RJEM_MALLOC_CONF=oversize_threshold:8388608`).
//!
//! jemalloc reads its `malloc_conf` symbol once, at its first allocation. jemalloc defines the symbol
//! weakly; the strong definition here wins, but only if the linker pulls in this object, so
//! [`crate::AlignedAlloc`] holds a reference to it: any program that names `AlignedAlloc::new()`
//! links the configuration. The symbol is `_rjem_malloc_conf` in `tikv-jemalloc-sys`'s default
//! (prefixed) build and `malloc_conf` when some crate of the program turns on its
//! `unprefixed_malloc_on_supported_platforms` feature; both are defined here, so the options apply
//! either way.
//!
//! **A program that sets jemalloc's options itself** (`#[export_name = "_rjem_malloc_conf"]`, as
//! `tikv-jemallocator`'s docs show) holds a second definition of `_rjem_malloc_conf`, and the
//! link fails (checked with `tikv-jemallocator` 0.6, `tests/jemalloc_versions.rs`):
//!
//! ```text
//! rust-lld: error: duplicate symbol: _rjem_malloc_conf
//! >>> defined at main.rs:… (src/main.rs:…)
//! >>> defined at config.rs:… (src/config.rs:…)
//! ```
//!
//! (GNU ld says `multiple definition of '_rjem_malloc_conf'`.) jemalloc reads one string, and
//! alloc-core needs its options in it, so there is no silent way to have both: remove the program's
//! definition and pass its options at run time in `_RJEM_MALLOC_CONF`, which jemalloc reads after
//! this string. With one definition of each symbol here the failure is certain: `AlignedAlloc`
//! refers to both, and both live in this module's object, so the linker always sees this crate's
//! `_rjem_malloc_conf` beside the program's. (With only the prefixed symbol defined here, the link
//! succeeded and the program's string silently replaced this crate's: `opt.oversize_threshold`
//! was jemalloc's 8 MiB again.) [`is_applied`] says whether the options are in force, e.g. after a
//! `_RJEM_MALLOC_CONF` override.

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

/// The same options under the unprefixed name, read when a crate of the program turns on
/// `tikv-jemalloc-sys`'s `unprefixed_malloc_on_supported_platforms` (jemalloc then also replaces
/// the C library's `malloc`). In the default prefixed build nothing reads it.
#[unsafe(export_name = "malloc_conf")]
pub static JEMALLOC_MALLOC_CONF_UNPREFIXED: ConfPtr = ConfPtr(CONF_BYTES.as_ptr().cast());

/// Reads the jemalloc option `name` (a `T`-sized mallctl), or `None` if jemalloc refuses.
fn read_opt<T: Copy + Default>(name: &core::ffi::CStr) -> Option<T> {
    crate::introspect::mallctl_read(name).ok()
}

/// Whether jemalloc runs with this crate's options ([`MALLOC_CONF`], and large blocks without the
/// cache-oblivious padding page).
///
/// `false` when `_RJEM_MALLOC_CONF` overrode one of them at run time: large temporaries are then
/// purged eagerly again, for instance, or (with jemalloc 5.3.1, `tikv-jemalloc-sys` 0.7, which
/// has the run-time option) large blocks take a page more.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();
///
/// assert!(alloc_core::config::is_applied());
/// ```
pub fn is_applied() -> bool {
    read_opt::<usize>(c"opt.oversize_threshold") == Some(0)
        && read_opt::<bool>(c"opt.background_thread") == Some(true)
        && read_opt::<bool>(c"opt.cache_oblivious") == Some(false)
}

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
