//! `alloc_core::small`, the thread-owned pages for blocks of up to 32 KiB, against the real kernel
//! and real threads: frees from other threads, thread exit and adoption, fork, the statistics,
//! and the fallbacks to jemalloc (range refused, range used up, turned off).
//!
//! Tests whose figures are process-wide, or which need to know every thread that exits, run in a
//! child process of their own (this binary run again on one test, [`in_child`]).

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashSet;
use std::sync::mpsc;

use alloc_core::small::{self, PAGE_SIZE, SEGMENT_SIZE, SMALL_MAX};
use alloc_core::{AlignedAlloc, policy, usable_size};

#[global_allocator]
static GLOBAL: AlignedAlloc = AlignedAlloc::new();

mod common;

const CHILD: &str = "ALLOC_CORE_SMALL_TEST_CHILD";

/// Runs test `name` of this binary in a child process with `env` set (and `limit_as`, if given,
/// as its address-space limit); true in the child, which then runs the test's body, which prints
/// `child ok` at its end ([`common::run_self`] asserts it did).
fn in_child(name: &str, env: &[(&str, &str)], limit_as: Option<u64>) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let mut env = env.to_vec();
    env.push((CHILD, "1"));
    common::run_self(name, &env, limit_as, "child ok");
    false
}

/// The byte a block at `addr` of `size` bytes holds at offset `i`.
fn byte(addr: usize, i: usize) -> u8 {
    (addr >> 4).wrapping_add(i * 7) as u8
}

fn alloc_filled(size: usize) -> usize {
    let layout = Layout::from_size_align(size, 1).unwrap();
    // SAFETY: a non-zero size.
    let p = unsafe { GLOBAL.alloc(layout) };
    assert!(!p.is_null());
    for i in 0..size {
        // SAFETY: inside the block just made.
        unsafe { *p.add(i) = byte(p as usize, i) };
    }
    p as usize
}

/// `n` blocks from [`alloc_filled`] of sizes `base + i % spread`, with their sizes.
fn filled_blocks(n: usize, base: usize, spread: usize) -> Vec<(usize, usize)> {
    (0..n)
        .map(|i| (alloc_filled(base + i % spread), base + i % spread))
        .collect()
}

/// Checks the contents [`alloc_filled`] wrote, then frees the block.
fn check_and_free(addr: usize, size: usize) {
    let p = addr as *mut u8;
    for i in 0..size {
        // SAFETY: a live block of `size` bytes.
        let got = unsafe { *p.add(i) };
        assert_eq!(got, byte(addr, i), "byte {i} of {size} at {addr:#x}");
    }
    // SAFETY: made by `alloc_filled` with this size and alignment 1.
    unsafe { GLOBAL.dealloc(p, Layout::from_size_align(size, 1).unwrap()) };
}

fn segment(addr: usize) -> usize {
    addr & !(SEGMENT_SIZE - 1)
}

fn page(addr: usize) -> usize {
    addr & !(PAGE_SIZE - 1)
}

#[test]
fn small_blocks_come_from_the_range_with_jemallocs_classes() {
    let (base, len) = {
        let _warm = Box::new(1u8);
        small::region().expect("the range is reserved on this machine")
    };
    assert!(len >= small::MIN_REGION_SIZE && base % SEGMENT_SIZE == 0);
    for size in 1..=SMALL_MAX {
        let a = alloc_filled(size);
        assert!(small::owns(a as *const u8), "size {size} at {a:#x}");
        // SAFETY: a live block.
        let usable = unsafe { usable_size(a as *const u8) };
        assert_eq!(usable, policy::size_class(size));
        if size >= policy::SIMD_THRESHOLD {
            assert_eq!(a % policy::SIMD_ALIGN, 0, "size {size}");
        }
        assert_eq!(a % policy::size_class(size).min(16), 0, "size {size}");
        check_and_free(a, size);
    }
    // Larger blocks, and small ones asking for more alignment than their class gives, are
    // jemalloc's.
    let big = alloc_filled(SMALL_MAX + 1);
    assert!(!small::owns(big as *const u8));
    check_and_free(big, SMALL_MAX + 1);
    let layout = Layout::from_size_align(48, 64).unwrap();
    // SAFETY: a non-zero size.
    let p = unsafe { GLOBAL.alloc(layout) };
    assert!(!small::owns(p) && (p as usize).is_multiple_of(64));
    // SAFETY: made just above with `layout`.
    unsafe { GLOBAL.dealloc(p, layout) };
}

#[test]
fn recycled_blocks_are_zeroed_by_alloc_zeroed() {
    let layout = Layout::from_size_align(200, 8).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..64 {
        // SAFETY: a non-zero size; the block is filled, then freed with its layout.
        let p = unsafe { GLOBAL.alloc(layout) };
        seen.insert(p as usize);
        // SAFETY: 200 bytes of the live block, then the block with its layout.
        unsafe {
            p.write_bytes(0xff, 200);
            GLOBAL.dealloc(p, layout);
        }
    }
    // SAFETY: a non-zero size.
    let z = unsafe { GLOBAL.alloc_zeroed(layout) };
    assert!(seen.contains(&(z as usize)), "not a recycled block");
    // SAFETY: 200 live bytes.
    let bytes = unsafe { std::slice::from_raw_parts(z, 200) };
    assert!(bytes.iter().all(|&b| b == 0));
    // SAFETY: made just above with `layout`.
    unsafe { GLOBAL.dealloc(z, layout) };
}

#[test]
fn realloc_moves_blocks_into_and_out_of_the_range() {
    // SAFETY: each call gets the live block and layout of the previous one.
    unsafe {
        let mut layout = Layout::from_size_align(24, 8).unwrap();
        let mut p = GLOBAL.alloc(layout);
        for i in 0..24 {
            *p.add(i) = i as u8;
        }
        for new_size in [40, 1000, 1025, 5000, 700, 100 << 10, 30, 64, 5 << 20, 16] {
            let old_size = layout.size();
            p = GLOBAL.realloc(p, layout, new_size);
            assert!(!p.is_null());
            for i in 0..16 {
                assert_eq!(*p.add(i), i as u8, "after realloc to {new_size}");
            }
            // Into the range from blocks `realloc` resizes itself (up to 32 KiB); a larger
            // block shrinks inside jemalloc, as before.
            let small = new_size <= SMALL_MAX && old_size <= policy::COPY_REALLOC_MAX;
            let in_class = policy::size_class(new_size) == policy::size_class(old_size);
            if !in_class {
                assert_eq!(small::owns(p), small, "{old_size} -> {new_size}");
            }
            layout = Layout::from_size_align(new_size, 8).unwrap();
        }
        GLOBAL.dealloc(p, layout);
    }
}

/// `realloc` between small sizes (the layer's own path): the contents move, a size of the same
/// class stays in place, and the copy, which moves whole 8, 16 or 32 bytes for short blocks,
/// stays inside the new block: its neighbours in the page are intact.
#[test]
fn small_reallocs_keep_contents_and_neighbours() {
    let sizes: Vec<usize> = (1..=40)
        .chain([47, 48, 49, 63, 64, 65, 100, 255, 256, 257, 1000, 4095, 4096])
        // Larger classes with three or more blocks to a page (a block with two neighbours).
        .chain([4097, 8192, 16385, 20480])
        .collect();
    for &old in &sizes {
        for &new in &sizes {
            // The bookkeeping first, at its full size (4096 blocks are jemalloc's 64 KiB): no
            // allocation of the test's own may land in the new class between the run's blocks and
            // the realloc, and move the class to another page.
            let mut run: Vec<(usize, usize)> = Vec::with_capacity(4096);
            let mut addrs: HashSet<usize> = HashSet::with_capacity(4096);
            let p = alloc_filled(old);
            assert!(small::owns(p as *mut u8));
            let class = policy::size_class(new);
            // A run of filled blocks of the new class, grown until a block with both neighbours
            // in the run lies in the page of its last one, the class's current page: that block
            // is freed, so the realloc's new block is that one (the page's free list is LIFO).
            // Seven at a time: with a batch a multiple of a page's blocks (16, 12, 8, 4 or 3 for
            // the classes over 4000 bytes), the run's last block could be first in a page every
            // time.
            let hole = loop {
                for _ in 0..7 {
                    let a = alloc_filled(new);
                    run.push((a, new));
                    addrs.insert(a);
                }
                assert!(
                    run.len() <= 4096,
                    "{new}: no block with both neighbours in a page"
                );
                let last = run.last().unwrap().0;
                let found = run.iter().rev().map(|&(a, _)| a).find(|&a| {
                    page(a) == page(last)
                        && addrs.contains(&(a - class))
                        && addrs.contains(&(a + class))
                });
                if let Some(a) = found {
                    break a;
                }
            };
            // SAFETY: made by `alloc_filled` with size `new` and alignment 1.
            unsafe { GLOBAL.dealloc(hole as *mut u8, Layout::from_size_align(new, 1).unwrap()) };
            // SAFETY: `p` is live with this layout; `new` is non-zero.
            let q = unsafe {
                GLOBAL.realloc(p as *mut u8, Layout::from_size_align(old, 1).unwrap(), new)
            };
            let same_class = policy::size_class(old) == class;
            assert_eq!(q as usize == p, same_class, "{old} -> {new}");
            if !same_class {
                assert_eq!(
                    q as usize, hole,
                    "{old} -> {new}: the freed block is reused"
                );
            }
            // SAFETY: a live block of this allocator.
            assert_eq!(unsafe { usable_size(q) }, class, "{old} -> {new}");
            for i in 0..old.min(new) {
                // SAFETY: a live block of at least `new` bytes.
                assert_eq!(unsafe { *q.add(i) }, byte(p, i), "{old} -> {new}: byte {i}");
            }
            for &(a, size) in run.iter().filter(|&&(a, _)| a != hole) {
                check_and_free(a, size);
            }
            // SAFETY: `q` is live with size `new`, alignment 1.
            unsafe { GLOBAL.dealloc(q, Layout::from_size_align(new, 1).unwrap()) };
        }
    }
}

/// 8 threads, each allocating blocks of every small size and handing them to the next thread,
/// which checks and frees them: every free is from a thread that does not own the page.
#[test]
fn eight_threads_free_each_others_blocks() {
    const THREADS: usize = 8;
    const BLOCKS: usize = 20_000;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<Vec<(usize, usize)>>())
        .unzip();
    let mut rxs: Vec<_> = rxs.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = txs[(t + 1) % THREADS].clone();
            let rx = rxs[t].take().unwrap();
            std::thread::spawn(move || {
                let mut batch = Vec::new();
                for i in 0..BLOCKS {
                    // Up to 4 KiB, and one block in 16 up to `SMALL_MAX` (448 MiB over the 8 threads).
                    let spread = if i % 16 == 0 { SMALL_MAX } else { 4096 };
                    let size = 1 + (i * 37 + t * 101) % spread;
                    batch.push((alloc_filled(size), size));
                    if batch.len() == 500 {
                        tx.send(std::mem::take(&mut batch)).unwrap();
                    }
                }
                tx.send(batch).unwrap();
                drop(tx);
                let mut freed = 0;
                while let Ok(batch) = rx.recv() {
                    for (a, size) in batch {
                        check_and_free(a, size);
                        freed += 1;
                    }
                    if freed == BLOCKS {
                        break;
                    }
                }
                freed
            })
        })
        .collect();
    drop(txs);
    for h in handles {
        assert_eq!(h.join().unwrap(), BLOCKS);
    }
}

/// A thread fills whole pages, another thread frees every block, and the first allocates as many
/// again: it gets them from its own pages, so the frees into its full pages reached it.
#[test]
fn frees_into_full_pages_reach_their_owner() {
    const N: usize = 40 * (PAGE_SIZE / 64);
    let (to_freer, freer_rx) = mpsc::channel::<Vec<usize>>();
    let (done_tx, done) = mpsc::channel::<()>();
    let freer = std::thread::spawn(move || {
        for batch in freer_rx {
            for a in batch {
                check_and_free(a, 64);
            }
            done_tx.send(()).unwrap();
        }
    });
    let owner = std::thread::spawn(move || {
        let first: Vec<usize> = (0..N).map(|_| alloc_filled(64)).collect();
        let pages: HashSet<usize> = first.iter().map(|&a| page(a)).collect();
        to_freer.send(first).unwrap();
        done.recv().unwrap();
        let second: Vec<usize> = (0..N).map(|_| alloc_filled(64)).collect();
        let outside = second
            .iter()
            .filter(|&&a| !pages.contains(&page(a)))
            .count();
        for &a in &second {
            check_and_free(a, 64);
        }
        (pages.len(), outside)
    });
    let (pages, outside) = owner.join().unwrap();
    freer.join().unwrap();
    assert!(pages >= 40, "{pages} pages");
    assert_eq!(
        outside, 0,
        "blocks of the second round outside the first round's {pages} pages"
    );
}

/// A thread exits with blocks live; they stay valid, other threads free them, and the next thread
/// that needs a segment adopts the exited thread's (a child process, so no other test's threads
/// exit meanwhile).
#[test]
fn an_exited_threads_segments_are_adopted() {
    if !in_child("an_exited_threads_segments_are_adopted", &[], None) {
        return;
    }
    let blocks = std::thread::spawn(|| filled_blocks(30_000, 16, 200))
        .join()
        .unwrap();
    let segments: HashSet<usize> = blocks.iter().map(|&(a, _)| segment(a)).collect();
    // Half freed from this thread (into an abandoned segment), half kept.
    let (freed, kept): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    for (_, (a, size)) in freed {
        check_and_free(a, size);
    }
    // Fewer blocks than were freed: they fit in the exited thread's segment.
    let adopted = std::thread::spawn(move || {
        let mine: Vec<_> = filled_blocks(12_000, 16, 200);
        let inside = mine
            .iter()
            .filter(|&&(a, _)| segments.contains(&segment(a)))
            .count();
        for (a, size) in mine {
            check_and_free(a, size);
        }
        inside
    })
    .join()
    .unwrap();
    assert_eq!(
        adopted, 12_000,
        "blocks of the new thread in the exited thread's segments"
    );
    for (_, (a, size)) in kept {
        check_and_free(a, size);
    }
    println!("child ok");
}

/// `resident` counts what the kernel holds in the layer's segments, not only the bytes handed
/// out: a transparent huge page (`thp=always`, or khugepaged collapsing a range) makes a whole
/// 2 MiB resident around a few touched blocks. Here the kernel is made to hold the untouched
/// second half of a segment (each page's byte written back as it was), and `resident` grows by
/// those 2 MiB. A child process, whose fresh thread maps a segment of
/// its own.
#[test]
fn resident_counts_what_the_kernel_holds() {
    if !in_child("resident_counts_what_the_kernel_holds", &[], None) {
        return;
    }
    std::thread::spawn(|| {
        let first = alloc_filled(1024);
        let half = segment(first) + SEGMENT_SIZE / 2;
        assert!(
            first < half,
            "a fresh segment's pages are taken from its start"
        );
        let before = alloc_core::stats().unwrap();
        // Each 4 KiB page of the second half made resident by writing back the byte it holds.
        for page in (half..segment(first) + SEGMENT_SIZE).step_by(4096) {
            let b = page as *mut u8;
            // SAFETY: the segment is mapped read-write and is this thread's alone (a fresh one:
            // no other thread allocates from it); a byte is written back as it was read, so no
            // contents change, whether a block lies there or not.
            unsafe { b.write_volatile(b.read_volatile()) };
        }
        let after = alloc_core::stats().unwrap();
        println!(
            "resident {} KiB -> {} KiB",
            before.resident >> 10,
            after.resident >> 10
        );
        assert!(
            after.resident >= before.resident + (2 << 20) - (256 << 10),
            "resident {} -> {} bytes with 2 MiB more held",
            before.resident,
            after.resident
        );
        check_and_free(first, 1024);
    })
    .join()
    .unwrap();
    println!("child ok");
}

/// The statistics count small blocks exactly, whichever thread frees them and whether their
/// owner has exited (a child process: the figures are process-wide).
#[test]
fn statistics_count_small_blocks_across_threads_and_exits() {
    if !in_child(
        "statistics_count_small_blocks_across_threads_and_exits",
        &[],
        None,
    ) {
        return;
    }
    const N: usize = 100_000;
    let before = alloc_core::stats().unwrap();
    let blocks = std::thread::spawn(|| {
        (0..N)
            .map(|i| alloc_filled(1 + i % 512))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let expected: usize = (0..N).map(|i| policy::size_class(1 + i % 512)).sum();
    let during = alloc_core::stats().unwrap();
    let grown = during.allocated as isize - before.allocated as isize - (N * 8) as isize;
    assert!(
        (grown - expected as isize).abs() < 256 << 10,
        "allocated grew by {grown} for {expected} bytes of blocks"
    );
    assert!(during.active >= during.allocated && during.resident >= during.active);
    assert!(during.mapped >= during.resident);
    for (i, a) in blocks.iter().enumerate() {
        check_and_free(*a, 1 + i % 512);
    }
    drop(blocks);
    let after = alloc_core::stats().unwrap();
    let left = after.allocated as isize - before.allocated as isize;
    assert!(
        left.abs() < 256 << 10,
        "{left} bytes still counted after every block was freed"
    );
    println!("child ok");
}

/// A child forked while another thread's blocks are live frees them, allocates, and exits.
#[test]
fn a_forked_child_frees_blocks_of_threads_it_does_not_have() {
    let blocks = std::thread::spawn(|| filled_blocks(5000, 8, 900))
        .join()
        .unwrap();
    let mine: Vec<_> = filled_blocks(5000, 8, 900);
    // SAFETY: the child uses only its copies of the blocks and the allocator, then leaves with
    // `_exit` (no destructors, nothing of the parent's harness runs).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(|| {
            for &(a, size) in blocks.iter().chain(&mine) {
                check_and_free(a, size);
            }
            let again: Vec<_> = filled_blocks(20_000, 8, 900);
            for (a, size) in again {
                check_and_free(a, size);
            }
        });
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(if ok.is_ok() { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
    for (a, size) in blocks.into_iter().chain(mine) {
        check_and_free(a, size);
    }
}

#[test]
fn turned_off_small_blocks_are_jemallocs() {
    if !in_child(
        "turned_off_small_blocks_are_jemallocs",
        &[("ALLOC_CORE_SMALL", "off")],
        None,
    ) {
        return;
    }
    let a = alloc_filled(100);
    assert!(small::region().is_none() && !small::owns(a as *const u8));
    // SAFETY: a live block.
    assert_eq!(unsafe { usable_size(a as *const u8) }, 112);
    check_and_free(a, 100);
    println!("child ok");
}

/// Under an address-space limit too small for the range, every small block is jemalloc's.
#[test]
fn a_refused_range_leaves_small_blocks_to_jemalloc() {
    if !in_child(
        "a_refused_range_leaves_small_blocks_to_jemalloc",
        &[],
        Some(200 << 20),
    ) {
        return;
    }
    assert!(small::region().is_none());
    // Every size up to 512, then every 29th up to `SMALL_MAX`: 18 MiB, well under the limit.
    let blocks: Vec<_> = (1..=512)
        .chain((512..=SMALL_MAX).step_by(29))
        .map(|size| (alloc_filled(size), size))
        .collect();
    assert!(blocks.iter().all(|&(a, _)| !small::owns(a as *const u8)));
    for (a, size) in blocks {
        check_and_free(a, size);
    }
    println!("child ok");
}

/// Under a limit of 1 GiB the range is halved until it fits; once it is used up, small blocks
/// come from jemalloc, and every block stays valid.
#[test]
fn a_smaller_range_and_a_used_up_one() {
    if !in_child("a_smaller_range_and_a_used_up_one", &[], Some(1 << 30)) {
        return;
    }
    let _warm = Box::new(1u8);
    let (_, len) = small::region().expect("a smaller range");
    assert!(
        (small::MIN_REGION_SIZE..small::REGION_SIZE).contains(&len),
        "{len}"
    );
    // 1 KiB blocks until one is jemalloc's: the range holds at most `len` bytes of them.
    // Each block is marked in its first and last word only: the range is hundreds of MiB.
    let layout = Layout::from_size_align(1024, 8).unwrap();
    let mut blocks = Vec::with_capacity(len / 1024 + 1);
    loop {
        // SAFETY: a non-zero size.
        let a = unsafe { GLOBAL.alloc(layout) };
        assert!(!a.is_null());
        // SAFETY: the two marks lie inside the 1024-byte block, 8-aligned.
        unsafe {
            a.cast::<usize>().write(a as usize);
            a.add(1016).cast::<usize>().write(!(a as usize));
        }
        blocks.push(a);
        if !small::owns(a) {
            break;
        }
        assert!(
            blocks.len() * 1024 <= len,
            "more small blocks than the range holds"
        );
    }
    assert!(
        blocks.len() * 1024 > len / 2,
        "the range ran out after {} blocks",
        blocks.len()
    );
    for a in blocks {
        // SAFETY: live blocks of `layout`, marked above.
        unsafe {
            assert_eq!(a.cast::<usize>().read(), a as usize);
            assert_eq!(a.add(1016).cast::<usize>().read(), !(a as usize));
            GLOBAL.dealloc(a, layout);
        }
    }
    println!("child ok");
}

/// A heap whose blocks are nearly all freed gives the emptied pages back to the kernel, though
/// no segment empties (one block is kept in each): a child process, as resident memory is the
/// process's.
#[test]
fn emptied_pages_go_back_to_the_kernel() {
    if !in_child("emptied_pages_go_back_to_the_kernel", &[], None) {
        return;
    }
    const BLOCKS: usize = 32 << 10; // 64 MiB of 2 KiB blocks
    std::thread::spawn(move || {
        let mut addrs = Vec::with_capacity(BLOCKS);
        let before = common::rss();
        for _ in 0..BLOCKS {
            addrs.push(alloc_filled(2048));
        }
        let peak = common::rss();
        assert!(
            peak - before >= 60 << 20,
            "{} bytes for 64 MiB",
            peak - before
        );
        let mut kept = HashSet::new();
        for &a in &addrs {
            if !kept.insert(segment(a)) {
                check_and_free(a, 2048);
            }
        }
        let after = common::rss();
        println!(
            "resident {} KiB before, {} KiB at the peak, {} KiB after",
            before >> 10,
            peak >> 10,
            after >> 10
        );
        assert!(
            after - before < (peak - before) / 8,
            "resident {} MiB before, {} at the peak, {} after freeing all but {} blocks",
            before >> 20,
            peak >> 20,
            after >> 20,
            kept.len()
        );
        for &a in &addrs {
            if kept.remove(&segment(a)) {
                check_and_free(a, 2048);
            }
        }
    })
    .join()
    .unwrap();
    println!("child ok");
}

/// A heap with many pages in use keeps more free pages than [`small::PURGE_LIMIT`]: one for every
/// [`small::PURGE_SHARE`] in use. 512 pages of 16 KiB blocks, then the last 48 pages' blocks
/// freed (three times `PURGE_LIMIT`, fewer than 464 / 8) and as many allocated again: no page
/// fault. With the fixed limit alone 32 of those pages went back to the kernel (496 faults
/// measured, with `keep = PURGE_LIMIT` in `retire_page`). Then
/// everything but one block freed: the bound follows the pages in use down, and the heap keeps
/// no more than `PURGE_LIMIT` of resident free pages beyond the one page in use.
#[test]
fn a_large_heap_keeps_a_share_of_its_pages_for_reuse() {
    if !in_child(
        "a_large_heap_keeps_a_share_of_its_pages_for_reuse",
        &[],
        None,
    ) {
        return;
    }
    const SIZE: usize = 16 << 10;
    const IN_USE: usize = 32 * small::PURGE_LIMIT;
    const FREED: usize = 3 * small::PURGE_LIMIT;
    const _: () = assert!(FREED <= (IN_USE - FREED) / small::PURGE_SHARE);
    std::thread::spawn(move || {
        let per_page = PAGE_SIZE / SIZE;
        let before = common::rss();
        // Room for 8 192 addresses: 64 KiB, above SMALL_MAX, so the vector itself is not in a
        // 16 KiB block of the layer.
        let mut blocks: Vec<usize> = Vec::with_capacity(SMALL_MAX / 4);
        blocks.extend((0..IN_USE * per_page).map(|_| alloc_filled(SIZE)));
        let pages: HashSet<usize> = blocks.iter().map(|&a| page(a)).collect();
        assert_eq!(pages.len(), IN_USE, "16 KiB blocks fill whole pages");
        let freed = blocks.split_off(blocks.len() - FREED * per_page);
        let freed_pages: HashSet<usize> = freed.iter().map(|&a| page(a)).collect();
        assert_eq!(freed_pages.len(), FREED);
        for &a in freed.iter().rev() {
            check_and_free(a, SIZE);
        }
        let faults = common::thread_faults();
        let again: Vec<usize> = (0..FREED * per_page).map(|_| alloc_filled(SIZE)).collect();
        let faults = common::thread_faults() - faults;
        let reused = again
            .iter()
            .filter(|&&a| freed_pages.contains(&page(a)))
            .count();
        println!(
            "{faults} faults, {reused} of {} blocks in emptied pages",
            again.len()
        );
        assert_eq!(reused, again.len(), "every block in a page emptied before");
        // 32 pages given back would be 512 faults of 4 KiB.
        assert!(faults < 16, "{faults} page faults writing {FREED} pages");
        blocks.extend(again);
        let last = blocks.pop().unwrap();
        for a in blocks {
            check_and_free(a, SIZE);
        }
        let after = common::rss();
        println!(
            "resident {} KiB before, {} KiB after freeing all but one block",
            before >> 10,
            after >> 10
        );
        // The kept pages, the page in use, and 768 KiB for the segments' header pages and the
        // test's own memory (1 340 KiB in all, measured). A bound that stayed near the peak's
        // 512 / 8 pages would keep 3-4 MiB, far past it.
        let bound = (small::PURGE_LIMIT + 1) * PAGE_SIZE + (768 << 10);
        assert!(
            after.saturating_sub(before) <= bound,
            "{} KiB more resident than before with one block live (bound {} KiB)",
            after.saturating_sub(before) >> 10,
            bound >> 10
        );
        check_and_free(last, SIZE);
    })
    .join()
    .unwrap();
    println!("child ok");
}

/// The pages a heap reuses first are the ones it emptied last, still resident: blocks freed from
/// the highest address down, past [`small::PURGE_LIMIT`] pages, then as many allocated again of
/// another class, take no page fault. (Taking the lowest free page instead, as before, found the
/// pages given back to the kernel first: 16 faults a page.) A child process, so that the thread's
/// heap starts with a segment of its own.
#[test]
fn the_pages_emptied_last_are_reused_first() {
    if !in_child("the_pages_emptied_last_are_reused_first", &[], None) {
        return;
    }
    const PAGES: usize = 3 * small::PURGE_LIMIT;
    std::thread::spawn(move || {
        let per_page = PAGE_SIZE / 1024;
        let first: Vec<usize> = (0..PAGES * per_page).map(|_| alloc_filled(1024)).collect();
        let keep = alloc_filled(8);
        let pages: HashSet<usize> = first.iter().map(|&a| page(a)).collect();
        assert_eq!(pages.len(), PAGES, "1 KiB blocks fill whole pages");
        let mut again = Vec::with_capacity(small::PURGE_LIMIT * (PAGE_SIZE / 2048));
        for &a in first.iter().rev() {
            check_and_free(a, 1024);
        }
        let faults = common::thread_faults();
        for _ in 0..again.capacity() {
            again.push(alloc_filled(2048));
        }
        let faults = common::thread_faults() - faults;
        let reused = again.iter().filter(|&&a| pages.contains(&page(a))).count();
        println!(
            "{faults} faults, {reused} of {} blocks in emptied pages",
            again.len()
        );
        assert_eq!(reused, again.len(), "every block in a page emptied before");
        // 16 pages of 64 KiB are 256 faults of 4 KiB if they were given back.
        assert!(
            faults < 16,
            "{faults} page faults writing {} pages",
            small::PURGE_LIMIT
        );
        for a in again {
            check_and_free(a, 2048);
        }
        check_and_free(keep, 8);
    })
    .join()
    .unwrap();
    println!("child ok");
}
