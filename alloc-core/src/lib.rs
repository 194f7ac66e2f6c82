//! # alloc-core: a SIMD-aligned global allocator on jemalloc
//!
//! [`AlignedAlloc`] is jemalloc (through `tikv-jemallocator`) with three changes for array code:
//!
//! 1. **SIMD alignment.** Every block of 256 bytes or more is 64-byte aligned (an AVX-512 vector, a
//!    cache line), at no cost in bytes or time: see [`policy`] for the rule and the size-class table
//!    that justifies it. Small blocks keep jemalloc's natural size classes.
//! 2. **Huge pages for big arrays.** Blocks of 4 MiB or more are 2 MiB-aligned and advised to use
//!    transparent huge pages (`madvise(MADV_HUGEPAGE)`), as NumPy does, so servers running THP in
//!    `madvise` mode fault them in 2 MiB at a time.
//! 3. **No page-fault storm on large temporaries.** jemalloc's defaults hand every block of 8 MiB or
//!    more straight back to the kernel; [`AlignedAlloc`] configures jemalloc to keep them for reuse
//!    and to return idle memory on a decay timer instead (see [`config`]).
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();
//!
//! let v = vec![0.0f64; 1024];
//! assert_eq!(v.as_ptr() as usize % alloc_core::SIMD_ALIGN, 0);
//! ```
//!
//! Layers, in file order: [`policy`] (pure: which flags a block gets) → `jemalloc.rs` (the
//! `GlobalAlloc` impl, the only unsafe calls into jemalloc) → [`config`] (jemalloc's options) →
//! `introspect.rs` ([`usable_size`], [`stats`]).

pub mod config;
mod introspect;
mod jemalloc;
pub mod policy;

pub use introspect::{AllocatorStats, StatsError, stats, usable_size};
pub use jemalloc::AlignedAlloc;
pub use policy::SIMD_ALIGN;
