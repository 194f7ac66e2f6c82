//! # alloc-core: a SIMD-aligned global allocator on jemalloc
//!
//! [`AlignedAlloc`] is jemalloc (called through `tikv-jemalloc-sys`, as `tikv-jemallocator` does)
//! with these changes for array code:
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
//! 4. **Huge blocks grow without copying.** Blocks of [`policy::MAP_THRESHOLD`] (32 MiB) or more
//!    live in mappings of their own, and `realloc` moves their pages with `mremap` instead of
//!    copying them, as glibc does (a bounded cache keeps freed ones warm for reuse): see [`mapped`].
//! 5. **Cheap growth of small blocks.** `realloc` of a block up to [`policy::COPY_REALLOC_MAX`]
//!    (32 KiB, jemalloc's thread-cache limit) stays in place within its size class and otherwise
//!    takes `malloc`, copy and sized free from the thread's cache, instead of jemalloc's general
//!    `realloc`: a `Vec` or `String` growing by `push` costs 11-15% fewer instructions on the
//!    `vecgrow` and `btree` workloads (`benches/RESULTS.md` section 14). Between two sizes of up
//!    to 32 KiB a block of [`small`] (item 7) stays in that layer.
//! 6. **No padding page on large blocks.** A block of 16 KiB or more starts on a page boundary. One
//!    from jemalloc (over [`small::SMALL_MAX`]) takes exactly its size class's pages, where
//!    jemalloc's default gives each one a page more to start it at a random cache line
//!    (`cache_oblivious`, see [`config`]): 1024 blocks of 40 KiB take 40 MiB of pages, not 44 MiB
//!    (`tests/stats.rs`), and a heap of 1000 growing vectors peaks 15% lower (`vecgrow`,
//!    `benches/RESULTS.md` section 15).
//! 7. **Small blocks in thread-owned pages.** Blocks of up to 32 KiB that need no more alignment
//!    than their size class gives are served by [`small`], in front of jemalloc: per-thread 64 KiB
//!    pages of one size class each, with jemalloc's size classes, where allocating and freeing are
//!    a pop and a push on the page's free list and frees from other threads go onto an atomic list
//!    the owner takes back. jemalloc's thread cache instead refills from and flushes to its slabs
//!    under a lock: 14% fewer instructions on `churn` and `mt-churn`, 6% on `btree` (callgrind,
//!    `benches/RESULTS.md` section 16), and 3% fewer again on `btree` once a `realloc` between
//!    two small sizes stayed in the layer and an emptied current page skipped the slow path
//!    (section 17). The cost: a page with one live block stays, so a heap
//!    freed but for scattered survivors keeps more pages than jemalloc (see [`small::PAGE_SIZE`]).
//!    `ALLOC_CORE_SMALL=off` turns it off.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: alloc_core::AlignedAlloc = alloc_core::AlignedAlloc::new();
//!
//! let v = vec![0.0f64; 1024];
//! assert_eq!(v.as_ptr() as usize % alloc_core::SIMD_ALIGN, 0);
//! ```
//!
//! ## Next to other jemalloc users
//!
//! alloc-core calls jemalloc through `tikv-jemalloc-sys` and accepts any of its versions 0.5 (from
//! 0.5.4, the first with the `disable_cache_oblivious` build feature alloc-core turns on), 0.6 and
//! 0.7 (`>=0.5.4, <0.8`; all three carry jemalloc 5.3 and the same functions; a lockfile that holds
//! 0.5.0–0.5.3 moves to 0.5.4 with `cargo update -p tikv-jemalloc-sys`). That matters because
//! `tikv-jemalloc-sys` declares `links = "jemalloc"`, and Cargo allows exactly one package with a
//! given `links` value in a dependency graph: there is never a second jemalloc in the process.
//! A program that already depends on `tikv-jemallocator` 0.5, 0.6 (ripgrep 15.1, many services) or
//! 0.7 gets the one `tikv-jemalloc-sys` of that version, shared by both: a block from
//! `tikv_jemallocator::Jemalloc` is a block of the same jemalloc that [`AlignedAlloc`] uses, and
//! [`usable_size`] knows it. (The reverse does not hold for small blocks: one of up to 32 KiB from
//! [`AlignedAlloc`] may be one of [`small`]'s, so it goes back through [`AlignedAlloc`], as any
//! `GlobalAlloc`'s block must.)
//! The test `tests/jemalloc_versions.rs` resolves a program beside each version, and builds and runs
//! one beside 0.6.
//!
//! Two different jemalloc crates cannot coexist. With a version outside the range (e.g.
//! `tikv-jemallocator = "0.4"`, or the older `jemallocator` crate, whose `jemalloc-sys` declares the
//! same `links`), Cargo stops before compiling anything:
//!
//! ```text
//! error: failed to select a version for `tikv-jemalloc-sys`.
//!     ... required by package `tikv-jemallocator v0.4.0`
//!     ... which satisfies dependency `tikv-jemallocator = "^0.4"` of package `… (…)`
//! versions that meet the requirements `^0.4.0` are: 0.4.3+5.2.1-patched.2, 0.4.2+5.2.1-patched.2, 0.4.1+5.2.1-patched, 0.4.0+5.2.1
//!
//! package `tikv-jemalloc-sys` links to the native library `jemalloc`, but it conflicts with a previous package which links to `jemalloc` as well:
//! package `tikv-jemalloc-sys v0.6.1+5.3.0-1-ge13ca993e8ccb9ba9847cc330696e02839f328f7`
//!     ... which satisfies dependency `tikv-jemalloc-sys = ">=0.5.4, <0.8"` of package `alloc-core v0.1.0 (…/alloc-core)`
//! ```
//!
//! The way out is to move the other dependency to 0.5–0.7 (`tikv-jemalloc-sys` 0.5.4 or later).
//!
//! jemalloc reads one option string, and alloc-core defines it. A program that already defines its
//! own (`#[export_name = "_rjem_malloc_conf"]`) fails to link with `duplicate symbol:
//! _rjem_malloc_conf`; it can pass its options in `_RJEM_MALLOC_CONF` instead (see [`config`]).
//!
//! Statistics: alloc-core turns on `tikv-jemalloc-sys`'s `stats` feature, so [`stats`] works
//! whatever the other crates ask for (jemalloc's counters are then on for the whole process, since
//! there is one jemalloc).
//!
//! Layers, in file order: [`policy`] (pure: which flags a block gets) → `jemalloc.rs` (the
//! `GlobalAlloc` impl, the only unsafe calls into jemalloc) → [`small`] (blocks of up to 32 KiB in
//! thread-owned pages) → [`mapped`] (blocks in mappings of their own) → [`config`] (jemalloc's
//! options) → `introspect.rs` ([`usable_size`], [`stats`]).

pub mod config;
mod introspect;
mod jemalloc;
pub mod mapped;
pub mod policy;
pub mod small;

pub use introspect::{AllocatorStats, StatsError, stats, usable_size};
pub use jemalloc::AlignedAlloc;
pub use policy::SIMD_ALIGN;
