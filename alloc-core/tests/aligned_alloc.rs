//! `AlignedAlloc` against the real jemalloc, installed as this test binary's global allocator.

use std::alloc::{GlobalAlloc, Layout};

use alloc_core::{AlignedAlloc, policy, usable_size};
use proptest::prelude::*;

#[global_allocator]
static GLOBAL: AlignedAlloc = AlignedAlloc::new();

/// One step of a random allocator program (bumpalo's `AllocatorProgram` style).
#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        lg_align: u32,
        zeroed: bool,
    },
    Realloc {
        slot: usize,
        size: usize,
    },
    Dealloc {
        slot: usize,
    },
}

/// Sizes that straddle the 256-byte, `small::SMALL_MAX` (32 KiB: blocks up to it come from
/// thread-owned pages), 14-16 KiB (jemalloc's small classes end, large begin),
/// `COPY_REALLOC_MAX` (32 KiB: `realloc` copies itself up to it), 4 MiB and `MAP_THRESHOLD`
/// (32 MiB: blocks in mappings of their own) thresholds as well as spreading widely.
fn size() -> impl Strategy<Value = usize> {
    const MAP: usize = policy::MAP_THRESHOLD;
    const COPY: usize = policy::COPY_REALLOC_MAX;
    const SMALL: usize = alloc_core::small::SMALL_MAX;
    prop_oneof![
        4 => 1usize..=512,
        4 => 200usize..=300,
        4 => SMALL - 512..=SMALL + 512,
        4 => (14usize << 10) - 2048..=(16 << 10) + 2048,
        4 => COPY - 4096..=COPY + 4096,
        4 => 512usize..=70_000,
        4 => (4usize << 20) - 4096..=(4 << 20) + 4096,
        2 => Just(8 << 20),
        2 => MAP - 4096..=MAP + 4096,
        1 => (2 * MAP - (2 << 20))..=(3 * MAP),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Alignments up to a page, and now and then 2-8 MiB (above what a mapping of its own
        // gives, so such blocks must stay jemalloc's).
        (
            size(),
            prop_oneof![12 => 0u32..=12, 1 => 21u32..=23],
            any::<bool>()
        )
            .prop_map(|(size, lg_align, zeroed)| Op::Alloc {
                size,
                lg_align,
                zeroed
            }),
        (any::<usize>(), size()).prop_map(|(slot, size)| Op::Realloc { slot, size }),
        any::<usize>().prop_map(|slot| Op::Dealloc { slot }),
    ]
}

/// A live block of the program and the byte pattern it was filled with.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    fill: u8,
}

fn check_block(b: &Block) {
    let want = policy::guaranteed_align(b.layout.size(), b.layout.align());
    assert_eq!(
        b.ptr as usize % want,
        0,
        "block of {} bytes (align {}) at {:p} is not {want}-aligned",
        b.layout.size(),
        b.layout.align(),
        b.ptr
    );
    // SAFETY: `b.ptr` is a live block of this allocator.
    let usable = unsafe { usable_size(b.ptr) };
    assert!(
        usable >= b.layout.size(),
        "usable {usable} < size {}",
        b.layout.size()
    );
    // Such a block made without flags sits in exactly its size class (`realloc` resizes such
    // blocks itself, and jemalloc's sized free would be handed the wrong class otherwise).
    if natural_small(b.layout) {
        assert_eq!(
            usable,
            policy::size_class(b.layout.size()),
            "{:?}",
            b.layout
        );
    }
}

/// A block of at most `COPY_REALLOC_MAX` bytes that the policy gives no jemalloc flags.
fn natural_small(layout: Layout) -> bool {
    layout.size() <= policy::COPY_REALLOC_MAX && policy::flags(layout.size(), layout.align()) == 0
}

/// The bytes of a block that carry its pattern: a stride and the last byte (large blocks stay cheap).
fn marked(size: usize) -> impl Iterator<Item = usize> {
    let stride = if size <= 64 << 10 { 61 } else { 4093 };
    (0..size).step_by(stride).chain([size - 1])
}

fn fill(b: &Block) {
    for i in marked(b.layout.size()) {
        // SAFETY: `i < size`, inside the live block.
        unsafe { b.ptr.add(i).write(b.fill) }
    }
}

/// Checks that the pattern written into a block of `old_size` bytes survives in `b`.
fn check_fill(b: &Block, old_size: usize) {
    for i in marked(old_size).filter(|&i| i < b.layout.size()) {
        // SAFETY: `i < size`, inside the live block.
        let got = unsafe { b.ptr.add(i).read() };
        assert_eq!(
            got,
            b.fill,
            "byte {i} of {old_size} lost (block now {} bytes)",
            b.layout.size()
        );
    }
}

fn run(ops: Vec<Op>) {
    let a = AlignedAlloc::new();
    let mut live: Vec<Block> = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Alloc {
                size,
                lg_align,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << lg_align).unwrap();
                // SAFETY: non-zero size.
                let ptr = unsafe {
                    if zeroed {
                        a.alloc_zeroed(layout)
                    } else {
                        a.alloc(layout)
                    }
                };
                assert!(!ptr.is_null());
                if zeroed {
                    // SAFETY: `ptr` is a fresh block of `size` bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(ptr, size) };
                    assert!(bytes.iter().all(|&b| b == 0), "alloc_zeroed block not zero");
                }
                let b = Block {
                    ptr,
                    layout,
                    fill: n as u8 | 1,
                };
                check_block(&b);
                fill(&b);
                live.push(b);
            }
            Op::Realloc { slot, size } if !live.is_empty() => {
                let i = slot % live.len();
                let old = &live[i];
                // SAFETY: `old.ptr` is live with `old.layout`; `size` is non-zero.
                let ptr = unsafe { a.realloc(old.ptr, old.layout, size) };
                assert!(!ptr.is_null());
                let new_layout = Layout::from_size_align(size, old.layout.align()).unwrap();
                if natural_small(old.layout)
                    && natural_small(new_layout)
                    && policy::size_class(size) == policy::size_class(old.layout.size())
                {
                    assert_eq!(
                        ptr, old.ptr,
                        "{:?} -> {size}: moved within its class",
                        old.layout
                    );
                }
                let b = Block {
                    ptr,
                    layout: Layout::from_size_align(size, old.layout.align()).unwrap(),
                    fill: old.fill,
                };
                check_fill(&b, old.layout.size());
                check_block(&b);
                fill(&b);
                live[i] = b;
            }
            Op::Dealloc { slot } if !live.is_empty() => {
                let b = live.swap_remove(slot % live.len());
                check_fill(&b, b.layout.size());
                // SAFETY: `b.ptr` is live with `b.layout`.
                unsafe { a.dealloc(b.ptr, b.layout) };
            }
            _ => {}
        }
    }
    for b in live {
        check_fill(&b, b.layout.size());
        // SAFETY: `b.ptr` is live with `b.layout`.
        unsafe { a.dealloc(b.ptr, b.layout) };
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn random_programs_keep_the_policy(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

#[test]
fn small_blocks_keep_their_natural_class() {
    // A Box<u64> must not be blown up to 64 bytes.
    let b = Box::new(7u64);
    // SAFETY: the box's pointer is a live block of the global allocator (AlignedAlloc).
    assert_eq!(unsafe { usable_size((&*b as *const u64).cast()) }, 8);
}

#[test]
fn vectors_of_simd_size_are_aligned() {
    for n in [32usize, 33, 100, 1000, 12_345, 1 << 20] {
        let v = vec![1.0f64; n];
        assert_eq!(v.as_ptr() as usize % 64, 0, "Vec<f64> of {n}");
        let v = vec![1u8; n * 8];
        assert_eq!(v.as_ptr() as usize % 64, 0, "Vec<u8> of {}", n * 8);
    }
}

#[test]
fn impossible_request_returns_null_and_try_reserve_errs() {
    let a = AlignedAlloc::new();
    let layout = Layout::from_size_align(isize::MAX as usize - 4096, 64).unwrap();
    // SAFETY: non-zero size; a null result is the expected outcome.
    assert!(unsafe { a.alloc(layout) }.is_null());
    // SAFETY: as above.
    assert!(unsafe { a.alloc_zeroed(layout) }.is_null());
    let small = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: non-zero size.
    let p = unsafe { a.alloc(small) };
    assert!(!p.is_null());
    // SAFETY: `p` is live with `small`; on failure the old block stays valid and is freed below.
    let q = unsafe { a.realloc(p, small, isize::MAX as usize - 4096) };
    assert!(q.is_null());
    // SAFETY: the failed realloc left `p` live with `small`.
    unsafe { a.dealloc(p, small) };

    let mut v: Vec<u8> = Vec::new();
    let err = v
        .try_reserve(1 << 62)
        .expect_err("4 EiB cannot be reserved");
    assert!(
        err.to_string()
            .contains("memory allocator returned an error"),
        "{err}"
    );
}

#[test]
fn malloc_conf_is_linked_and_read() {
    // The options of alloc_core::config reached jemalloc: no eager-purging oversize arena
    // (jemalloc stores 0 for "off"), and background purging on.
    // SAFETY: `opt.oversize_threshold` is a size_t mallctl; the name is NUL-terminated.
    let oversize: usize =
        unsafe { tikv_jemalloc_ctl::raw::read(b"opt.oversize_threshold\0") }.unwrap();
    assert_eq!(
        oversize, 0,
        "jemalloc's oversize arena is still on: malloc_conf was not linked"
    );
    // SAFETY: `opt.background_thread` is a bool mallctl; the name is NUL-terminated.
    let bg: bool = unsafe { tikv_jemalloc_ctl::raw::read(b"opt.background_thread\0") }.unwrap();
    assert!(bg, "background_thread not enabled");
    // SAFETY: `opt.cache_oblivious` is a bool mallctl; the name is NUL-terminated.
    let oblivious: bool =
        unsafe { tikv_jemalloc_ctl::raw::read(b"opt.cache_oblivious\0") }.unwrap();
    assert!(!oblivious, "large blocks still start at random offsets");
    assert!(alloc_core::config::is_applied());
}

#[test]
fn large_blocks_start_on_a_page() {
    // With jemalloc's default `cache_oblivious:true` a block of 16 KiB or more starts at a random
    // multiple of 64 bytes into its first page (1 in 64 on a page boundary); alloc-core turns
    // that off (config.rs), so every one starts on a page, and still on 64 bytes. The 16 and
    // 20 KiB blocks come from `small`'s pages, whose classes from 16 KiB are whole 4 KiB pages.
    for size in [
        16 << 10,
        20 << 10,
        40 << 10,
        64 << 10,
        1 << 20,
        (3 << 20) + 4096,
    ] {
        let blocks: Vec<Vec<u8>> = (0..16).map(|_| Vec::with_capacity(size)).collect();
        for b in &blocks {
            let at = b.as_ptr() as usize;
            assert_eq!(at % 4096, 0, "a {size}-byte block at {at:#x}");
        }
    }
}

/// Why transparent huge pages cannot be checked here, if they cannot.
fn thp_unavailable() -> Option<String> {
    match std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") {
        Err(e) => Some(format!("no THP support in this kernel ({e})")),
        Ok(mode) if mode.contains("[never]") => Some(format!("THP disabled: {}", mode.trim())),
        Ok(_) => None,
    }
}

/// Sum of `AnonHugePages` (bytes) over the mappings of `/proc/self/smaps` that overlap `[lo, hi)`.
fn anon_huge_bytes(lo: usize, hi: usize) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut total = 0;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            inside = a < hi && b > lo;
        } else if inside && let Some(kb) = line.strip_prefix("AnonHugePages:") {
            total += kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .unwrap()
                * 1024;
        }
    }
    total
}

#[test]
fn big_blocks_get_transparent_huge_pages() {
    use std::io::Write;
    if let Some(why) = thp_unavailable() {
        // Written past the test harness's capture so the skip is visible in `cargo test` output.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED big_blocks_get_transparent_huge_pages: {why}"
        );
        return;
    }
    const SIZE: usize = 64 << 20;
    let v = vec![1u8; SIZE]; // touches every page
    let lo = v.as_ptr() as usize;
    let huge = anon_huge_bytes(lo, lo + SIZE);
    // The block is 2 MiB-aligned, so every 2 MiB of it can be a huge page; allow one the kernel
    // could not find (fragmented physical memory).
    assert_eq!(v.as_ptr() as usize % policy::HUGE_PAGE_SIZE, 0);
    assert!(
        huge >= SIZE - policy::HUGE_PAGE_SIZE,
        "only {} MiB of the 64 MiB block are on huge pages",
        huge >> 20
    );
    std::hint::black_box(&v);
}
