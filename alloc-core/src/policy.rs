//! The alignment policy: a pure function of `(size, align)` deciding which jemalloc flags a block gets.
//!
//! Every block of [`SIMD_THRESHOLD`] (256) bytes or more is [`SIMD_ALIGN`] (64-byte) aligned, whatever
//! its layout asked; a larger requested alignment is honoured. The same function is used by `alloc`,
//! `alloc_zeroed`, `realloc` (with the new size) and `dealloc`, because jemalloc's sized free
//! (`sdallocx`) is undefined behaviour when its flags disagree with the ones the block was made with.
//!
//! The guarantee costs nothing at and above 256 bytes: jemalloc's size classes from 256 bytes up are
//! all multiples of 64, its slabs are page-aligned and its large blocks are page-aligned (or offset by
//! whole cache lines, jemalloc's "cache oblivious" randomisation), so the natural class of such a block
//! is already 64-byte aligned and [`flags`] passes no alignment flag at all: plain `malloc`, the
//! fastest path. Asking jemalloc for `MALLOCX_ALIGN(64)` on every block instead made the churn
//! workload 1.75× slower. Below 256 bytes the bump would cost real memory, as the table shows: it is
//! `nallocx(size, 0)` ("natural") against `nallocx(size, MALLOCX_ALIGN(64))` ("64-aligned") for every
//! jemalloc size class up to 16 KiB, read from the linked jemalloc by the test
//! `policy::tests::doc_table_is_jemallocs`, which fails if this table and jemalloc ever disagree.
//! The property test `tests/aligned_alloc.rs` checks the alignment of real blocks.
//!
//! Blocks of [`HUGE_PAGE_THRESHOLD`] (4 MiB) or more are aligned to [`HUGE_PAGE_SIZE`] (2 MiB) and
//! advised to use transparent huge pages: with the alignment every 2 MiB of the block can be a huge
//! page. Measured on the `arrays` workload (`perf stat -r 5`, 2-core EPYC): 2 250 minor faults and
//! 0.64 s with the advice alone, 200 faults and 0.55 s with advice and alignment. The alignment
//! costs address space only: `nallocx` reports the same size with and without it.
//!
//! | size class | natural | 64-aligned | extra bytes |
//! |-----------:|--------:|-----------:|------------:|
//! | 8 | 8 | 64 | 56 |
//! | 16 | 16 | 64 | 48 |
//! | 32 | 32 | 64 | 32 |
//! | 48 | 48 | 64 | 16 |
//! | 64 | 64 | 64 | 0 |
//! | 80 | 80 | 128 | 48 |
//! | 96 | 96 | 128 | 32 |
//! | 112 | 112 | 128 | 16 |
//! | 128 | 128 | 128 | 0 |
//! | 160 | 160 | 192 | 32 |
//! | 192 | 192 | 192 | 0 |
//! | 224 | 224 | 256 | 32 |
//! | 256 | 256 | 256 | 0 |
//! | 320 | 320 | 320 | 0 |
//! | 384 | 384 | 384 | 0 |
//! | 448 | 448 | 448 | 0 |
//! | 512 | 512 | 512 | 0 |
//! | 640 | 640 | 640 | 0 |
//! | 768 | 768 | 768 | 0 |
//! | 896 | 896 | 896 | 0 |
//! | 1024 | 1024 | 1024 | 0 |
//! | 1280 | 1280 | 1280 | 0 |
//! | 1536 | 1536 | 1536 | 0 |
//! | 1792 | 1792 | 1792 | 0 |
//! | 2048 | 2048 | 2048 | 0 |
//! | 2560 | 2560 | 2560 | 0 |
//! | 3072 | 3072 | 3072 | 0 |
//! | 3584 | 3584 | 3584 | 0 |
//! | 4096 | 4096 | 4096 | 0 |
//! | 5120 | 5120 | 5120 | 0 |
//! | 6144 | 6144 | 6144 | 0 |
//! | 7168 | 7168 | 7168 | 0 |
//! | 8192 | 8192 | 8192 | 0 |
//! | 10240 | 10240 | 10240 | 0 |
//! | 12288 | 12288 | 12288 | 0 |
//! | 14336 | 14336 | 14336 | 0 |
//! | 16384 | 16384 | 16384 | 0 |

use core::ffi::c_int;

/// The alignment every block of [`SIMD_THRESHOLD`] bytes or more gets: an AVX-512 vector and a cache line.
pub const SIMD_ALIGN: usize = 64;

/// Blocks this large or larger are [`SIMD_ALIGN`]-aligned. The first size class at which the
/// 64-byte guarantee costs no bytes (see the table above).
pub const SIMD_THRESHOLD: usize = 256;

/// Blocks this large or larger are advised to use transparent huge pages (NumPy uses the same 4 MiB).
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// A transparent huge page on x86-64: blocks of [`HUGE_PAGE_THRESHOLD`] or more are aligned to it so
/// that every 2 MiB of the block can be a huge page (an unaligned 8 MiB block spans five 2 MiB
/// frames and only three of them can be huge).
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// Blocks this large or larger live in mappings of their own, grown and shrunk by moving pages
/// (`mremap`) instead of copying them ([`crate::mapped`] has the rules and the measurements).
pub const MAP_THRESHOLD: usize = 32 << 20;

/// The alignment jemalloc gives a block with no flags when `align <= size` (its quantum on x86-64).
pub(crate) const NATURAL_ALIGN: usize = 16;

/// Blocks up to this size are resized by `realloc` itself: within their size class in place,
/// otherwise `malloc`, copy and sized free, each on jemalloc's thread-cache path. 32 KiB is
/// jemalloc's thread-cache limit (`opt.tcache_max`), so every block this size or smaller comes from
/// and goes back to the thread's cache; jemalloc's own `realloc` costs about 60 instructions more
/// for a small block, and for a large one tries to grow the extent in place under the arena's
/// mutex first. Measured on `vecgrow` and `btree` in `benches/RESULTS.md` section 14. Larger
/// blocks keep jemalloc's `realloc`, whose in-place growth saves copies worth more than the attempt.
pub const COPY_REALLOC_MAX: usize = 32 << 10;

/// The size class (`nallocx(size, 0)`) of a block of `size` bytes up to [`COPY_REALLOC_MAX`]: 8,
/// then multiples of 16 up to 64, then four classes per doubling (80, 96, 112, 128, 160, ...;
/// 16 KiB, 20 KiB, 24 KiB, 28 KiB, 32 KiB). The test `size_classes_are_jemallocs` checks every size
/// against the linked jemalloc.
#[inline]
pub const fn size_class(size: usize) -> usize {
    if size <= 8 {
        return 8;
    }
    if size <= 64 {
        return size.next_multiple_of(16);
    }
    // Four classes between 2^lg and 2^(lg+1): steps of 2^(lg-2).
    let lg = usize::BITS - 1 - (size - 1).leading_zeros();
    let step = 1 << (lg - 2);
    (size + step - 1) & !(step - 1)
}

/// The alignment a block of `(size, align)` is guaranteed to have under this policy.
#[inline]
pub const fn guaranteed_align(size: usize, align: usize) -> usize {
    if size >= HUGE_PAGE_THRESHOLD && align < HUGE_PAGE_SIZE {
        HUGE_PAGE_SIZE
    } else if size >= SIMD_THRESHOLD && align < SIMD_ALIGN {
        SIMD_ALIGN
    } else {
        align
    }
}

/// The jemalloc flags for a block of `(size, align)`: `0` where the natural size class already
/// provides [`guaranteed_align`], `MALLOCX_ALIGN(guaranteed_align)` otherwise (always for blocks of
/// [`HUGE_PAGE_THRESHOLD`] or more, which are aligned to [`HUGE_PAGE_SIZE`]).
///
/// `align` must be a power of two (every `Layout`'s is).
#[inline]
pub const fn flags(size: usize, align: usize) -> c_int {
    // The common case first, three compares combined into one branch: callers that cannot fold
    // the alignment to a constant (the global allocator's shims, behind a wrapper such as
    // alloc-tracker's) pay only this. (`&`, not `&&`: no branch per compare.)
    if (align <= NATURAL_ALIGN) & (align <= size) & (size < HUGE_PAGE_THRESHOLD) {
        return 0;
    }
    flags_other(size, align)
}

/// [`flags`] for everything but a small natural alignment.
#[inline]
const fn flags_other(size: usize, align: usize) -> c_int {
    if size >= HUGE_PAGE_THRESHOLD {
        tikv_jemalloc_sys::MALLOCX_ALIGN(guaranteed_align(size, align))
    } else if size >= SIMD_THRESHOLD && align <= SIMD_ALIGN {
        0
    } else {
        tikv_jemalloc_sys::MALLOCX_ALIGN(align)
    }
}

/// Whether a block of `size` bytes is advised to use transparent huge pages.
#[inline]
pub const fn wants_huge_pages(size: usize) -> bool {
    size >= HUGE_PAGE_THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;
    use tikv_jemalloc_sys as ffi;

    /// jemalloc's size classes up to `limit`, found by walking `nallocx`.
    fn size_classes(limit: usize) -> Vec<usize> {
        let mut classes = Vec::new();
        let mut size = 1;
        while size <= limit {
            // SAFETY: nallocx only computes a size; any size and flags 0 are valid inputs.
            let class = unsafe { ffi::nallocx(size, 0) };
            classes.push(class);
            size = class + 1;
        }
        classes
    }

    fn nallocx(size: usize, flags: c_int) -> usize {
        // SAFETY: nallocx only computes a size; it allocates nothing.
        unsafe { ffi::nallocx(size, flags) }
    }

    fn table() -> String {
        let mut out = String::new();
        for class in size_classes(16 << 10) {
            let natural = nallocx(class, 0);
            let bumped = nallocx(class, ffi::MALLOCX_ALIGN(SIMD_ALIGN));
            out.push_str(&format!(
                "//! | {class} | {natural} | {bumped} | {} |\n",
                bumped - natural
            ));
        }
        out
    }

    #[test]
    fn flags_only_where_the_natural_class_falls_short() {
        assert_eq!(flags(4096, 4096), ffi::MALLOCX_ALIGN(4096));
        assert_eq!(flags(8, 64), ffi::MALLOCX_ALIGN(64));
        assert_eq!(flags(200, 32), ffi::MALLOCX_ALIGN(32));
        assert_eq!(flags(256, 64), 0);
        assert_eq!(flags(256, 8), 0);
        assert_eq!(flags(8, 8), 0);
        assert_eq!(flags(4 << 20, 8), ffi::MALLOCX_ALIGN(HUGE_PAGE_SIZE));
        assert_eq!(flags(8 << 20, 8 << 20), ffi::MALLOCX_ALIGN(8 << 20));
    }

    #[test]
    fn bump_costs_no_bytes_from_the_threshold_up() {
        // Every class from 256 B to 8 MiB (and a few huge ones): same real size with or without 64.
        let mut classes = size_classes(8 << 20);
        classes.extend([nallocx(64 << 20, 0), nallocx((256 << 20) + 1, 0)]);
        for class in classes.into_iter().filter(|&c| c >= SIMD_THRESHOLD) {
            assert_eq!(
                nallocx(class, 0),
                nallocx(class, ffi::MALLOCX_ALIGN(SIMD_ALIGN)),
                "64-byte alignment costs bytes at size class {class}"
            );
            assert_eq!(
                class % SIMD_ALIGN,
                0,
                "size class {class} is not a multiple of 64"
            );
        }
        // Nor does the 2 MiB alignment of huge-page blocks: it costs address space, not bytes.
        for size in [4 << 20, (4 << 20) + 1, 8 << 20, 100 << 20] {
            assert_eq!(nallocx(size, 0), nallocx(size, flags(size, 8)), "{size}");
        }
        // And just below the threshold it does cost: that is why the threshold is not lower.
        assert!(nallocx(160, ffi::MALLOCX_ALIGN(SIMD_ALIGN)) > nallocx(160, 0));
    }

    #[test]
    fn size_classes_are_jemallocs() {
        for size in 1..=COPY_REALLOC_MAX {
            assert_eq!(size_class(size), nallocx(size, 0), "size {size}");
        }
        // The bound is jemalloc's thread-cache limit (what the constant's docs argue from).
        // SAFETY: a NUL-terminated name of a `size_t` option.
        let tcache_max: usize =
            unsafe { tikv_jemalloc_ctl::raw::read(b"opt.tcache_max\0") }.unwrap();
        assert_eq!(tcache_max, COPY_REALLOC_MAX);
    }

    #[test]
    fn doc_table_is_jemallocs() {
        let source = include_str!("policy.rs");
        let start =
            source.find("|------------:|").expect("table header") + "|------------:|".len() + 1;
        let end = start + source[start..].find("\n\n").expect("table end") + 1;
        let doc = &source[start..end];
        let expected = table();
        assert_eq!(
            doc, expected,
            "update the table in policy.rs with:\n{expected}"
        );
    }
}
